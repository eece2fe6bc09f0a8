# Sourced by scripts/serve and scripts/test: make ./.venv and install a lock file into it.
# Usage: bootstrap_venv requirements/app.lock
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bootstrap_venv() {
    local lock="$1"
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "chatapp needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
        echo "Point PYTHON at a newer interpreter, e.g. PYTHON=python3.12 $0" >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "Creating .venv with $("$python" --version)" >&2
        "$python" -m venv .venv
    fi
    # A stamp per lock-file content: reinstall only when the lock changed.
    local stamp
    stamp=".venv/.installed-$(basename "$lock")-$(cksum <"$lock" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ]; then
        echo "Installing $lock into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            --require-hashes --no-deps -r "$lock"
        rm -f .venv/.installed-"$(basename "$lock")"-*
        touch "$stamp"
    fi
}
