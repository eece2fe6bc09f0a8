"""What every benchmark script shares: writing its own marked section of docs/benchmarks.md."""

from pathlib import Path

HEADER = (
    "# Benchmarks\n\n"
    "Measured on PostgreSQL, each against a baseline in the same run. Every "
    "section is written by the script it names under `bench/`; see bench/README.md.\n"
)


def write_section(path: Path, text: str, *, start: str, end: str) -> None:
    """Replace the section between `start` and `end` markers, or add it; others stay."""
    current = path.read_text() if path.exists() else HEADER
    if start in current and end in current:
        before = current[: current.index(start)]
        after = current[current.index(end) + len(end) :].lstrip("\n")
        updated = before + text + ("\n" + after if after else "")
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)
