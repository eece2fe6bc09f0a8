"""What every benchmark script shares: writing its own marked section of docs/benchmarks.md,
and what it says about the machine it ran on."""

import platform
from dataclasses import dataclass
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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_counters() -> list[int] | None:
    """The machine's CPU time counters (the first line of /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            return [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None


@dataclass
class CpuShare:
    """How the machine's CPU time went between two readings of cpu_counters()."""

    busy: float  # share of all cores' time spent working (ours and anyone's on this machine)
    stolen: float  # share the hypervisor gave to other virtual machines: time we waited for

    @classmethod
    def between(cls, before: list[int] | None, after: list[int] | None) -> "CpuShare | None":
        # user nice system idle iowait irq softirq steal; guest time is already in user.
        if not before or not after or len(before) < 8 or len(after) < 8:
            return None
        spent = [later - earlier for earlier, later in zip(before[:8], after[:8], strict=True)]
        total = sum(spent)
        if total <= 0:
            return None
        idle = spent[3] + spent[4]
        return cls(busy=(total - idle - spent[7]) / total, stolen=spent[7] / total)

    @property
    def noisy(self) -> bool:
        """More than 5% of the time stolen: timings wait on other machines' work."""
        return self.stolen > 0.05

    def describe(self) -> str:
        return (
            f"the cores were {self.busy:.0%} busy during the runs, and {self.stolen:.1%} of "
            "their time was stolen by the hypervisor for other machines"
        )
