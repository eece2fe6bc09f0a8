"""What the benchmark scripts share: databases made for a run, the real server started the way
scripts/serve starts it, signing in, timing with alternation, and writing a script's own
section of docs/benchmarks.md with what it says about the machine.

Each script under bench/ imports it as `harness` (a script's own folder is on sys.path).
"""

import json
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = REPO_ROOT / "docs" / "benchmarks.md"

HEADER = (
    "# Benchmarks\n\n"
    "Measured on PostgreSQL, each against a baseline in the same run. Every "
    "section is written by the script it names under `bench/`; see bench/README.md.\n"
)


# --- databases -------------------------------------------------------------------------------


def admin_conninfo(url: str) -> tuple[str, str]:
    """The database a PostgreSQL URL names, and a conninfo for the server's `postgres` db."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    if not params.get("dbname"):
        raise SystemExit(f"The database URL names no database: {url}")
    return params["dbname"], make_conninfo(**{**params, "dbname": "postgres"})


def database_exists(url: str) -> bool:
    import psycopg

    name, admin = admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def create_database(url: str, *, drop: bool = False, quiet: bool = False) -> None:
    """CREATE DATABASE for the URL's database (dropping it first when `drop`)."""
    import psycopg
    from psycopg import sql

    name, admin = admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        if drop:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            if not quiet:
                print(f"Dropped the database {name}.")
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if not quiet:
        print(f"Created the database {name}.")


def ensure_database(url: str) -> None:
    """CREATE DATABASE for the URL's database unless it exists."""
    if not database_exists(url):
        create_database(url)


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name, admin = admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    from urllib.parse import urlsplit

    return urlsplit(url)._replace(path="/" + name).geturl()


def run_database(url: str, prefix: str) -> str:
    """A new, empty database on the URL's server, named `<prefix>_<random>`: for one run."""
    made = with_database(url, f"{prefix}_{uuid.uuid4().hex[:8]}")
    create_database(made, quiet=True)
    return made


def setup_django(url: str, *, migrate: bool = False, quiet_httpx: bool = True) -> None:
    """Django in this process on the benchmark database (DEBUG off, or Django keeps every
    query); `migrate` applies the migrations."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatapp.settings"
    # A throwaway key: nothing signed here outlives the run.
    os.environ.setdefault("SECRET_KEY", f"bench-only-{uuid.uuid4().hex}")
    os.environ["DEBUG"] = "false"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    if quiet_httpx:
        # The project's logging config logs every httpx request at INFO: not here.
        import logging

        logging.getLogger("httpx").setLevel(logging.WARNING)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# --- the real server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(
    database_url: str, data_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a chatapp server for a benchmark: the project's settings with
    DEBUG off, plain HTTP on loopback, a throwaway secret key; `extra` on top."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": f"bench-only-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    if data_dir is not None:
        env["DATA_DIR"] = str(data_dir)
        env["STATIC_ROOT"] = str(data_dir / "static")
    env.update(extra)
    return env


def manage(env: Mapping[str, str], *args: str, timeout: float = 600) -> str:
    """`manage.py <args>` in a subprocess with the server's environment; its stdout."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def prepare_server_database(env: Mapping[str, str], *, static: bool = True) -> None:
    """Migrate the server's database and collect its static files (the pages need the
    manifest with DEBUG off), as scripts/serve does before it serves."""
    manage(env, "migrate", "--noinput", "-v0")
    if static:
        manage(env, "collectstatic", "--noinput", "-v0")


@dataclass
class Server:
    """A server process this script started, in a process group of its own."""

    process: subprocess.Popen
    port: int
    log_path: Path
    command: list[str]
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def shown_command(self) -> str:
        """The command as the docs show it: the program's name, the port a placeholder."""
        return " ".join([Path(self.command[0]).name, *self.command[1:]]).replace(
            f"--port {self.port}", "--port <free port>"
        )

    def stop(self) -> None:
        """SIGTERM to the server's own process group, by its id (the lifespan's shutdown
        runs), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_process(
    command: list[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    port: int,
    cwd: Path = REPO_ROOT,
    health: str = "/health",
    timeout: float = 60,
) -> Server:
    """Start a server and wait until `health` answers 200 on its port."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, port=port, log_path=log_path, command=command, env=dict(env))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The server exited at start:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base + health, timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(
        f"The server did not answer {health} within {timeout:g} s:\n{server.log_tail()}"
    )


def uvicorn_program() -> str:
    """The uvicorn beside this Python (the project's .venv when run from it)."""
    venv = REPO_ROOT / ".venv" / "bin" / "uvicorn"
    return str(venv if venv.exists() else Path(sys.executable).with_name("uvicorn"))


def start_chatapp(
    env: Mapping[str, str],
    log_path: Path,
    *,
    workers: int | None = None,
    app: str = "chatapp.asgi:application",
    module: bool = False,
    timeout: float = 60,
) -> Server:
    """The real server: `uvicorn chatapp.asgi:application --lifespan on` as scripts/serve
    runs it (less the access log), on a free loopback port. `workers` None runs one process
    with no --workers flag, as tests/live_server.py does; `module` runs `python -m uvicorn`."""
    port = free_port()
    program = [sys.executable, "-m", "uvicorn"] if module else [uvicorn_program()]
    command = [*program, app, "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += ["--lifespan", "on", "--no-server-header", "--no-access-log"]
    return start_process(command, env, log_path, port=port, timeout=timeout)


def http(
    base: str, method: str, path: str, *, token: str | None = None, body: str | None = None
) -> tuple[int, dict | None]:
    """One JSON request with the standard library: (status, parsed body)."""
    request = urllib.request.Request(  # noqa: S310 (our own loopback server)
        base + path, method=method, data=body.encode() if body is not None else None
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, {"raw": raw[:200].decode(errors="replace")}


def personal_token(base: str, username: str, password: str, *, name: str) -> tuple[str, str]:
    """A personal token (it never expires, so a run cannot outlive it) made through the API,
    and its id; the access token that made it is signed out at once."""
    status, body = http(
        base,
        "POST",
        "/api/v1/auth/token",
        body=json.dumps({"username": username, "password": password}),
    )
    if status != 200:
        raise SystemExit(f"Signing in as {username} answered {status}: {body}")
    access = body["access_token"]
    status, body = http(
        base, "POST", "/api/v1/me/tokens", token=access, body=json.dumps({"name": name})
    )
    if status != 201:
        raise SystemExit(f"Making a personal token answered {status}: {body}")
    http(base, "POST", "/api/v1/auth/logout", token=access)
    return body["token"], body["id"]


def sign_in_page(base: str, username: str, password: str, *, timeout: float = 60):
    """An httpx client signed in through the login form, as a browser would be."""
    import httpx

    client = httpx.Client(base_url=base, timeout=timeout)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
    )
    assert answer.status_code == 302, f"sign-in failed: {answer.status_code}"
    return client


# --- timing ----------------------------------------------------------------------------------


def nearest_rank(ordered: list, percent: float):
    """The smallest sample at or above `percent` % of them (`ordered` sorted)."""
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


@dataclass
class Summary:
    """Median, p90, p99, mean and min of a list of samples, in the samples' unit."""

    count: int
    median: float
    p90: float
    p99: float
    mean: float
    min: float

    @classmethod
    def of(cls, samples: list[float]) -> "Summary":
        ordered = sorted(samples)
        return cls(
            count=len(ordered),
            median=statistics.median(ordered),
            p90=nearest_rank(ordered, 90),
            p99=nearest_rank(ordered, 99),
            mean=statistics.fmean(ordered),
            min=ordered[0],
        )


def alternate(
    operations: Mapping[str, Callable[[], object]], *, rounds: int, warmup: int = 0
) -> dict[str, list[float]]:
    """Call every operation once per round, the order rotating from round to round so that
    none always follows another and drift in the machine's load touches all alike; the
    wall-clock seconds of each call of the timed rounds, by key."""
    keys = list(operations)
    samples: dict[str, list[float]] = {key: [] for key in keys}
    clock = time.perf_counter
    for number in range(warmup + rounds):
        shift = number % len(keys) if keys else 0
        for key in keys[shift:] + keys[:shift]:
            started = clock()
            operations[key]()
            elapsed = clock() - started
            if number >= warmup:
                samples[key].append(elapsed)
    return samples


def load_average() -> float:
    return os.getloadavg()[0]


# --- the report ------------------------------------------------------------------------------


def markers(script: str) -> tuple[str, str]:
    """The markers around the section a script (`bench/<name>.py`) owns."""
    return f"<!-- {script}: start -->", f"<!-- {script}: end -->"


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


def write_script_section(path: Path, script: str, body: str) -> None:
    """Write `body` (without markers) as the section of `script` in `path`."""
    start, end = markers(script)
    write_section(path, f"{start}\n{body.strip()}\n{end}\n", start=start, end=end)


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def written_by(script: str, measured: str | None = None) -> str:
    """The line under a section's title: the script that wrote it, when, and what it ran."""
    return (
        f"Written by `{script}` on {measured or now_utc()}, measuring commit {git_commit()}; "
        "run it again to refresh this section."
    )


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def ms(value: float) -> str:
    """Milliseconds with three significant figures."""
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def git_commit() -> str:
    """The checkout's commit (short), and the code files outside bench/ and docs/ that
    differ from it: what the server ran is the work tree, not only the commit."""

    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = [
            line[3:]
            for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
            if line[3:].endswith((".py", ".html", ".js", ".css"))
            and not line[3:].startswith(("bench/", "docs/"))
        ]
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not changed:
        return f"`{commit}`"
    return f"`{commit}` plus uncommitted changes to {', '.join(f'`{c}`' for c in changed)}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Cores, processor, kernel and Python, as the sections say it."""
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


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
