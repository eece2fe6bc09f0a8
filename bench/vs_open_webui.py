"""chatapp beside Open WebUI: appending one message and opening a chat, at 10, 1,000 and 10,000
messages, each app driven the way its own client drives it.

    .venv/bin/python bench/vs_open_webui.py [--rounds 21] [--sizes 10,1000,10000]

What it does, in order:

1. Installs Open WebUI from PyPI (`open-webui==OPEN_WEBUI_VERSION`) into a virtual
   environment of its own under bench/.cache/ (ignored by git; never in requirements/),
   torch first as `torch==2.13.0` (on this machine a local CPU wheel; left to itself, pip
   would take a CUDA build of several GB). Reused when that version is there.
2. Starts Open WebUI on its embedded default database (SQLite in a temporary DATA_DIR) with
   `uvicorn open_webui.main:app`, as `open-webui serve` runs it, offline (OPEN_WEBUI_ENV:
   no model downloads, no Ollama or OpenAI connection, no update check or telemetry), and
   signs up its first user (the admin) through `/api/v1/auths/signup`: a bearer token.
3. Starts chatapp's real server twice (uvicorn as scripts/serve runs it, one process each,
   DEBUG off): on a SQLite file and on a PostgreSQL database made for the run (dropped
   after it). Registers a user through the API, makes a personal token, signs in through
   the login form for the thread page.
4. Seeds one chat per size in each app with the same messages (user and assistant turns
   alternating): Open WebUI by creating the chat with its whole JSON once
   (`POST /api/v1/chats/new`), chatapp by importing its JSON export format once
   (`POST /api/v1/imports`).
5. Times, all calls alternating (every app, size and operation once per round, the order
   rotating from round to round), `--rounds` timed rounds after `--warmup` untimed ones:
   - append, Open WebUI: its client adds the message to the chat it holds and posts the whole
     chat back (`POST /api/v1/chats/{id}` with `models`, the full `history` and the full
     `messages` list, as the web client's updateChatById does); chatapp: one message
     (`POST /api/v1/conversations/{id}/messages`);
   - open, Open WebUI: the whole chat (`GET /api/v1/chats/{id}`); chatapp: the newest page
     (`GET /api/v1/conversations/{id}/messages`) and, apart, the thread page the browser
     opens (`GET /c/{id}/`, the newest page rendered).
   Each time is the HTTP request alone on a kept-alive connection (httpx), from sending the
   body to the last byte of the answer; building and parsing the JSON on the client's side
   is not counted (it would only add to Open WebUI's side).
6. Writes both apps' medians, the ratios and the targets into this benchmark's section of
   docs/benchmarks.md, with the commit measured.
"""

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness  # bench/harness.py (the script's own folder is on sys.path)
import httpx

SCRIPT = "bench/vs_open_webui.py"
OPEN_WEBUI_VERSION = "0.12.4"
TORCH_VERSION = "2.13.0"
DEFAULT_VENV = harness.REPO_ROOT / "bench" / ".cache" / f"open-webui-{OPEN_WEBUI_VERSION}"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_SIZES = (10, 1_000, 10_000)

# Open WebUI offline: no model is downloaded at start (the embedding engine is set to a
# remote one that is never called, retrieval bypassed, Hugging Face offline), no model
# server is asked for its list, no update check, no telemetry. None of it touches the chat
# endpoints measured here.
OPEN_WEBUI_ENV = {
    "FROM_INIT_PY": "true",  # as `open-webui serve` sets it: the packaged frontend
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAG_EMBEDDING_ENGINE": "openai",
    "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
    "ENABLE_OLLAMA_API": "false",
    "ENABLE_OPENAI_API": "false",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    "DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
    "SCARF_NO_ANALYTICS": "true",
    "GLOBAL_LOG_LEVEL": "WARNING",
}
USERNAME = "bench_vs"
PASSWORD = "Bench-vs-password-1"  # noqa: S105 (a database made for the run)
EMAIL = "bench_vs@example.com"
MODEL = "bench-model"

# chatapp's targets (issue 13).
FLAT_LIMIT = 1.2  # cost at 10,000 messages over cost at 10
PAGE_ROWS = 50  # the newest page: conversations.selectors.DEFAULT_PAGE_SIZE

WORDS = " ".join(
    [
        "the a of to and in that is for it with as on be this was are by at or from not have",
        "message thread reply page database server client request answer chat history model",
        "write read open post time size test code run list table index query result value",
        "project team plan review change commit branch merge build deploy issue note",
    ]
).split()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed rounds (each call once)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="chat sizes in messages, comma-separated (the first and last are the flat target's)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_VS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="a PostgreSQL server on which the role may create databases; the run's own "
        "database chatapp_bench_vs_<random> is made there and dropped after",
    )
    parser.add_argument(
        "--venv", type=Path, default=DEFAULT_VENV, help="Open WebUI's virtual environment"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="use --venv as it is; never run pip"
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="leave the PostgreSQL database unanalysed after seeding (what a server with "
        "autovacuum off would have)",
    )
    parser.add_argument("--output", type=Path, default=harness.DOCS_PATH)
    args = parser.parse_args()
    args.sizes = sorted({int(size) for size in args.sizes.split(",")})
    if args.rounds < 1 or args.warmup < 0 or min(args.sizes) < 2:
        parser.error("--rounds at least 1, --warmup not negative, sizes at least 2")
    return args


# --- Open WebUI's install ---------------------------------------------------------------------


def installed_version(venv: Path, package: str) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    shown = subprocess.run(  # noqa: S603
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
    )
    return shown.stdout.strip() if shown.returncode == 0 else None


def ensure_open_webui(venv: Path, *, install: bool) -> dict[str, str]:
    """Open WebUI's venv, made and filled with pip when that version is missing."""
    if installed_version(venv, "open-webui") != OPEN_WEBUI_VERSION:
        if not install:
            raise SystemExit(f"open-webui {OPEN_WEBUI_VERSION} is not in {venv} (--no-install).")
        print(f"Installing open-webui {OPEN_WEBUI_VERSION} into {venv} (some minutes, ~3 GB)…")
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)  # noqa: S603
        # torch before open-webui (its sentence-transformers needs one): this release is a
        # CPU build on this machine's disk; any torch satisfies open-webui after it.
        subprocess.run([*pip, f"torch=={TORCH_VERSION}"], check=True)  # noqa: S603
        subprocess.run([*pip, f"open-webui=={OPEN_WEBUI_VERSION}"], check=True)  # noqa: S603
        print(f"Installed in {time.monotonic() - started:.0f} s.")
    return {
        package: installed_version(venv, package) or "?"
        for package in ("open-webui", "torch", "fastapi", "uvicorn", "sqlalchemy")
    }


def start_open_webui(venv: Path, work: Path) -> harness.Server:
    data = work / "open-webui"
    data.mkdir()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("DJANGO")},
        **OPEN_WEBUI_ENV,
        "DATA_DIR": str(data),
        "STATIC_DIR": str(data / "static"),
        "WEBUI_SECRET_KEY": uuid.uuid4().hex,
    }
    env.pop("DATABASE_URL", None)  # its embedded default: SQLite in DATA_DIR
    port = harness.free_port()
    command = [
        str(venv / "bin" / "python"),
        "-m",
        "uvicorn",
        "open_webui.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    print("Starting Open WebUI…")
    return harness.start_process(
        command, env, work / "open-webui.log", port=port, cwd=data, timeout=300
    )


# --- the chats: the same messages in both apps -------------------------------------------------


@dataclass
class Turn:
    role: str
    content: str
    created_at: datetime


def conversation_turns(size: int, rng: random.Random) -> list[Turn]:
    """`size` messages, user and assistant alternating: short questions, longer answers."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    turns = []
    for index in range(size):
        role = "user" if index % 2 == 0 else "assistant"
        length = rng.randint(8, 30) if role == "user" else rng.randint(40, 120)
        text = " ".join(rng.choices(WORDS, k=length)).capitalize() + "."
        turns.append(Turn(role, text, start + timedelta(seconds=30 * index)))
    return turns


def chatapp_document(size: int, turns: list[Turn]) -> bytes:
    """chatapp's JSON export format (version 1), which POST /api/v1/imports reads."""
    document = {
        "format": "chatapp",
        "version": 1,
        "exported_at": datetime.now(UTC).isoformat(),
        "conversation": {
            "id": str(uuid.uuid4()),
            "kind": "assistant",
            "title": f"vs Open WebUI: {size:,} messages",
            "created_at": turns[0].created_at.isoformat(),
        },
        "messages": [
            {
                "seq": seq,
                "role": turn.role,
                "content": turn.content,
                "created_at": turn.created_at.isoformat(),
                **({"model": MODEL} if turn.role == "assistant" else {}),
            }
            for seq, turn in enumerate(turns, start=1)
        ],
    }
    return json.dumps(document).encode()


def open_webui_chat(size: int, turns: list[Turn]) -> dict:
    """The chat JSON Open WebUI's client keeps: a history tree (every message by id, with its
    parent and children) and the current branch as a list."""
    messages: dict[str, dict] = {}
    parent = None
    for turn in turns:
        message_id = str(uuid.uuid4())
        message = {
            "id": message_id,
            "parentId": parent,
            "childrenIds": [],
            "role": turn.role,
            "content": turn.content,
            "timestamp": int(turn.created_at.timestamp()),
        }
        if turn.role == "assistant":
            message.update(model=MODEL, modelName=MODEL, modelIdx=0, done=True)
        else:
            message["models"] = [MODEL]
        if parent:
            messages[parent]["childrenIds"].append(message_id)
        messages[message_id] = message
        parent = message_id
    history = {"messages": messages, "currentId": parent}
    return {
        "title": f"vs chatapp: {size:,} messages",
        "models": [MODEL],
        "params": {},
        "history": history,
        "messages": branch(history),
        "tags": [],
        "timestamp": int(time.time() * 1000),
    }


def branch(history: dict) -> list[dict]:
    """The messages from the root to the current one (the client's createMessagesList)."""
    path = []
    message_id = history["currentId"]
    while message_id is not None:
        message = history["messages"][message_id]
        path.append(message)
        message_id = message["parentId"]
    return path[::-1]


# --- the apps as their clients drive them ------------------------------------------------------


@dataclass
class Sizes:
    request: int = 0
    response: int = 0


class OpenWebUIClient:
    def __init__(self, server: harness.Server):
        self.http = httpx.Client(base_url=server.base, timeout=600)
        answer = self.http.post(
            "/api/v1/auths/signup",
            json={"name": "bench", "email": EMAIL, "password": PASSWORD},
        )
        answer.raise_for_status()
        signed_up = answer.json()
        assert signed_up["role"] == "admin", signed_up
        self.http.headers["Authorization"] = f"Bearer {signed_up['token']}"
        self.chats: dict[int, str] = {}
        self.state: dict[int, dict] = {}
        self.sizes: dict[tuple[str, int], Sizes] = {}
        self.counts: dict[int, int] = {}

    def seed(self, size: int, turns: list[Turn]) -> None:
        answer = self.http.post("/api/v1/chats/new", json={"chat": open_webui_chat(size, turns)})
        answer.raise_for_status()
        body = answer.json()
        self.chats[size] = body["id"]
        self.state[size] = body["chat"]
        self.counts[size] = size
        assert len(body["chat"]["messages"]) == size

    def append(self, size: int, text: str):
        """What the web client does when a message is sent: the message goes into the
        history it holds, and the whole chat is posted back (updateChatById)."""
        chat = self.state[size]
        history = chat["history"]
        parent = history["currentId"]
        message_id = str(uuid.uuid4())
        history["messages"][message_id] = {
            "id": message_id,
            "parentId": parent,
            "childrenIds": [],
            "role": "user",
            "content": text,
            "timestamp": int(time.time()),
            "models": [MODEL],
        }
        history["messages"][parent]["childrenIds"].append(message_id)
        history["currentId"] = message_id
        payload = {
            "chat": {
                "models": chat.get("models", [MODEL]),
                "history": history,
                "messages": branch(history),
                "files": [],
            }
        }
        body = json.dumps(payload).encode()
        path = f"/api/v1/chats/{self.chats[size]}"
        headers = {"Content-Type": "application/json"}

        def call() -> httpx.Response:
            return self.http.post(path, content=body, headers=headers)

        def after(answer: httpx.Response) -> None:
            answer.raise_for_status()
            self.state[size] = answer.json()["chat"]
            self.counts[size] += 1
            assert len(self.state[size]["messages"]) == self.counts[size]
            self.sizes[("append", size)] = Sizes(len(body), len(answer.content))

        return call, after

    def open(self, size: int):
        path = f"/api/v1/chats/{self.chats[size]}"

        def call() -> httpx.Response:
            return self.http.get(path)

        def after(answer: httpx.Response) -> None:
            answer.raise_for_status()
            # The round's append may have come before or after this call.
            shown = len(answer.json()["chat"]["messages"])
            assert self.counts[size] - 1 <= shown <= self.counts[size], (shown, self.counts[size])
            self.sizes[("open", size)] = Sizes(0, len(answer.content))

        return call, after


class ChatappClient:
    def __init__(self, server: harness.Server):
        self.base = server.base
        self.http = httpx.Client(base_url=server.base, timeout=600)
        answer = self.http.post(
            "/api/v1/auth/register",
            json={"email": EMAIL, "username": USERNAME, "password": PASSWORD},
        )
        assert answer.status_code == 201, answer.text
        token, _ = harness.personal_token(server.base, USERNAME, PASSWORD, name=SCRIPT)
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.page = harness.sign_in_page(server.base, USERNAME, PASSWORD, timeout=600)
        self.conversations: dict[int, str] = {}
        self.counts: dict[int, int] = {}
        self.sizes: dict[tuple[str, int], Sizes] = {}

    def seed(self, size: int, turns: list[Turn]) -> None:
        document = chatapp_document(size, turns)
        answer = self.http.post(
            "/api/v1/imports", files={"file": ("bench.json", document, "application/json")}
        )
        assert answer.status_code == 201, answer.text
        self.conversations[size] = answer.json()["imported"][0]
        self.counts[size] = size

    def append(self, size: int, text: str):
        path = f"/api/v1/conversations/{self.conversations[size]}/messages"
        body = json.dumps({"content": text}).encode()
        headers = {"Content-Type": "application/json"}

        def call() -> httpx.Response:
            return self.http.post(path, content=body, headers=headers)

        def after(answer: httpx.Response) -> None:
            assert answer.status_code == 201, answer.text
            self.counts[size] += 1
            assert answer.json()["seq"] == self.counts[size]
            self.sizes[("append", size)] = Sizes(len(body), len(answer.content))

        return call, after

    def open(self, size: int):
        path = f"/api/v1/conversations/{self.conversations[size]}/messages"

        def call() -> httpx.Response:
            return self.http.get(path)

        def after(answer: httpx.Response) -> None:
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            newest = items[-1]["seq"]
            assert self.counts[size] - 1 <= newest <= self.counts[size], (newest, self.counts[size])
            self.sizes[("open", size)] = Sizes(0, len(answer.content))

        return call, after

    def open_page(self, size: int):
        path = f"/c/{self.conversations[size]}/"

        def call() -> httpx.Response:
            return self.page.get(path)

        def after(answer: httpx.Response) -> None:
            assert answer.status_code == 200, answer.status_code
            self.sizes[("page", size)] = Sizes(0, len(answer.content))

        return call, after


# --- the run -----------------------------------------------------------------------------------

APPS = {
    "owui": "Open WebUI (SQLite)",
    "sqlite": "chatapp on SQLite",
    "postgres": "chatapp on PostgreSQL",
}
OPERATIONS = {
    "append": "append one message",
    "open": "open the chat",
    "page": "open the thread page",
}


@dataclass
class Run:
    args: argparse.Namespace
    samples: dict[tuple[str, str, int], list[float]]
    sizes: dict[tuple[str, str, int], Sizes]
    facts: dict = field(default_factory=dict)

    def median_ms(self, app: str, operation: str, size: int) -> float | None:
        values = self.samples.get((app, operation, size))
        return harness.Summary.of(values).median * 1000 if values else None


def timed(call, after):
    """An operation for harness.alternate: the request alone is timed; `after` checks the
    answer and moves the client's state, outside the clock."""
    answers = []

    def operation():
        answers.append(call())

    def finish():
        after(answers.pop())

    return operation, finish


def measure(args, clients: dict, turns_by_size: dict[int, list[Turn]]) -> Run:
    rng = random.Random(13)
    samples: dict[tuple[str, str, int], list[float]] = {}
    keys = [
        (app, operation, size)
        for size in args.sizes
        for app in clients
        for operation in (("append", "open") if app == "owui" else ("append", "open", "page"))
    ]
    finishes = {}
    rounds = args.warmup + args.rounds
    print(f"Timing {len(keys)} calls a round, {rounds} rounds ({args.warmup} untimed)…")
    for number in range(rounds):
        text = " ".join(rng.choices(WORDS, k=rng.randint(8, 30))).capitalize() + "?"
        operations = {}
        for key in keys:
            app, operation, size = key
            client = clients[app]
            if operation == "append":
                call, after = client.append(size, text)
            elif operation == "open":
                call, after = client.open(size)
            else:
                call, after = client.open_page(size)
            operations[key], finishes[key] = timed(call, after)
        # One round of harness.alternate at a time, the rotation carried by the round's
        # number, so that each call's answer is checked before the next round.
        shift = number % len(keys)
        rotated = dict(list(operations.items())[shift:] + list(operations.items())[:shift])
        one = harness.alternate(rotated, rounds=1)
        for key in keys:
            finishes[key]()
            if number >= args.warmup:
                samples.setdefault(key, []).extend(one[key])
        print(f"  round {number + 1}/{rounds}", end="\r", flush=True)
    print()
    sizes = {}
    for app, client in clients.items():
        for (operation, size), measured in client.sizes.items():
            sizes[(app, operation, size)] = measured
    return Run(args=args, samples=samples, sizes=sizes)


# --- the report --------------------------------------------------------------------------------


def _kb(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    if count >= 1_000:
        return f"{count / 1_000:.0f} kB"
    return f"{count} B"


def _cell(value: float | None) -> str:
    return harness.ms(value) if value is not None else "—"


def medians_table(run: Run) -> str:
    rows = [
        "| operation | messages | Open WebUI | chatapp, SQLite | chatapp, PostgreSQL "
        "| Open WebUI / chatapp SQLite | Open WebUI / chatapp PostgreSQL |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for operation in ("append", "open", "page"):
        for size in run.args.sizes:
            # The thread page is set against Open WebUI's open: both are what opening costs.
            theirs = run.median_ms("owui", "open" if operation == "page" else operation, size)
            ours = [run.median_ms(app, operation, size) for app in ("sqlite", "postgres")]
            ratios = [f"{theirs / value:.1f}x" if theirs and value else "—" for value in ours]
            label = OPERATIONS[operation]
            if operation == "page":
                label += " (against Open WebUI's open)"
            rows.append(
                f"| {label} | {size:,} | {_cell(theirs)} | {_cell(ours[0])} | {_cell(ours[1])} "
                f"| {ratios[0]} | {ratios[1]} |"
            )
    return "\n".join(rows)


def spread_table(run: Run) -> str:
    rows = [
        "| app | operation | messages | median | p90 | min | request body | answer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for app in APPS:
        for operation in ("append", "open", "page"):
            for size in run.args.sizes:
                values = run.samples.get((app, operation, size))
                if not values:
                    continue
                summary = harness.Summary.of([value * 1000 for value in values])
                measured = run.sizes.get((app, operation, size), Sizes())
                rows.append(
                    f"| {APPS[app]} | {OPERATIONS[operation]} | {size:,} "
                    f"| {harness.ms(summary.median)} | {harness.ms(summary.p90)} "
                    f"| {harness.ms(summary.min)} "
                    f"| {_kb(measured.request) if measured.request else '—'} "
                    f"| {_kb(measured.response)} |"
                )
    return "\n".join(rows)


@dataclass
class Target:
    description: str
    measured: str
    met: bool
    app: str
    operation: str
    kind: str  # "faster" or "flat"


THEIRS = {"append": "append", "open": "open", "page": "open"}
TARGET_LABELS = {
    "append": "append one message",
    "open": "open the chat (chatapp's newest page from the API)",
    "page": "open the chat (chatapp's thread page, HTML)",
}


def targets(run: Run) -> list[Target]:
    found = []
    smallest, largest = run.args.sizes[0], run.args.sizes[-1]
    for app in ("sqlite", "postgres"):
        database = "SQLite" if app == "sqlite" else "PostgreSQL"
        for operation in ("append", "open", "page"):
            # The thread page is set against Open WebUI's open: both are what opening costs.
            theirs = [run.median_ms("owui", THEIRS[operation], size) for size in run.args.sizes]
            ours = [run.median_ms(app, operation, size) for size in run.args.sizes]
            slower = [
                size
                for size, mine, other in zip(run.args.sizes, ours, theirs, strict=True)
                if mine >= other
            ]
            ratios = ", ".join(
                f"{other / mine:.1f}x" for mine, other in zip(ours, theirs, strict=True)
            )
            found.append(
                Target(
                    f"chatapp on {database} faster than Open WebUI at every size: "
                    f"{TARGET_LABELS[operation]}",
                    f"Open WebUI / chatapp {ratios}"
                    + (f"; slower at {', '.join(f'{s:,}' for s in slower)}" if slower else ""),
                    not slower,
                    app,
                    operation,
                    "faster",
                )
            )
        for operation in ("append", "open", "page"):
            at_small = run.median_ms(app, operation, smallest)
            at_large = run.median_ms(app, operation, largest)
            flat = at_large / at_small
            found.append(
                Target(
                    f"chatapp on {database}: {OPERATIONS[operation]} at {largest:,} messages "
                    f"within {FLAT_LIMIT:g}x of at {smallest:,}",
                    f"{harness.ms(at_large)} / {harness.ms(at_small)} = {flat:.2f}x",
                    flat <= FLAT_LIMIT,
                    app,
                    operation,
                    "flat",
                )
            )
    return found


def targets_table(run: Run) -> str:
    rows = ["| target (issue 13) | measured | |", "| --- | --- | --- |"]
    rows += [f"| {t.description} | {t.measured} | {harness.verdict(t.met)} |" for t in targets(run)]
    return "\n".join(rows)


def section(run: Run) -> str:
    args, facts = run.args, run.facts
    measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = facts["versions"]
    load_before, load_after, cpu = facts["load"]
    missed = [t for t in targets(run) if not t.met]
    sizes = ", ".join(f"{size:,}" for size in args.sizes)
    return f"""## chatapp beside Open WebUI: appending a message and opening a chat

Written by `{SCRIPT}` on {measured}, measuring commit {facts["commit"]}; run it again
to refresh this section:

```sh
{command(args)}
```

Open WebUI {versions["open-webui"]} (from PyPI, in a virtual environment of its own under
`bench/.cache/`, on its embedded default database, SQLite) and chatapp (on a SQLite file and
on PostgreSQL), each driven the way its own client drives it, at {sizes} messages (user and
assistant turns alternating, the same texts in both apps). Medians of {args.rounds} calls
each after {args.warmup} untimed rounds, every app, size and operation called once per
round in an order rotating from round to round.

{targets_table(run)}
{why_missed(run, missed)}
Medians (the ratio is Open WebUI's median over chatapp's: above 1x, chatapp is faster):

{medians_table(run)}

What each call is:

- **append one message.** Open WebUI: its web client adds the message to the chat it holds
  and posts the whole chat back, `POST /api/v1/chats/{{id}}` with `models`, the full
  `history` (every message by id, with its parent and children) and the full `messages`
  list (its `updateChatById` after a send); the server merges the history into the stored
  JSON, saves the chat row and upserts each changed message into its `chat_message` table,
  and answers the whole chat. chatapp: `POST /api/v1/conversations/{{id}}/messages` with the
  one message; it answers the message.
- **open the chat.** Open WebUI: `GET /api/v1/chats/{{id}}`, the whole chat, every message
  in it twice (the history and the list). chatapp: the newest page, `GET
  /api/v1/conversations/{{id}}/messages` (50 messages and the link to older ones), as the API
  client and the browser's live view read it.
- **open the thread page.** chatapp's browser opens `GET /c/{{id}}/`, the HTML page with the
  newest 50 messages rendered (the session cookie of a sign-in through the login form);
  it is set against Open WebUI's open above, which is what its browser fetches on opening.
- Each time is one HTTP request over a kept-alive loopback connection (httpx), from sending
  the body to the last byte of the answer. Building the body and parsing the answer on the
  client's side are outside the clock (for Open WebUI they are megabytes of JSON at 10,000
  messages, so its figures leave out client work that chatapp's client does not have).

Each call's spread, and the bytes on the wire:

{spread_table(run)}

- **Seeding:** one call per chat: Open WebUI's `POST /api/v1/chats/new` with the whole chat
  JSON; chatapp's `POST /api/v1/imports` with its JSON export format. Each run seeds fresh
  chats in fresh databases (Open WebUI's DATA_DIR and chatapp's SQLite file in a temporary
  folder, a PostgreSQL database `chatapp_bench_vs_<random>`), dropped after the run.
  {analyze_note(args)}
- **Servers:** each app in one uvicorn process (Open WebUI's default `UVICORN_WORKERS` is 1;
  chatapp as scripts/serve runs it with `WEB_CONCURRENCY` unset): Open WebUI
  `{facts["owui_command"]}` in its DATA_DIR, offline ({offline_env()});
  chatapp `{facts["chatapp_command"]}`, DEBUG=false, the app's own psycopg pool on
  PostgreSQL, `POST_RATE_LIMIT` raised so that the run never meets the posting limit.
  All three run at once; calls are one at a time.
- **Machine:** {harness.machine()}; {facts["postgres"]} on 127.0.0.1 over TCP; chatapp:
  Django {facts["django"]}, django-ninja {facts["ninja"]}, uvicorn {facts["uvicorn"]};
  Open WebUI {versions["open-webui"]}: FastAPI {versions["fastapi"]}, SQLAlchemy
  {versions["sqlalchemy"]}, uvicorn {versions["uvicorn"]}, torch {versions["torch"]} (installed,
  unused here).
  Load average (1 min) {load_before:.2f} before the timed rounds, {load_after:.2f} after{
        f"; {cpu.describe()}" if cpu else ""
    }.
"""


def command(args: argparse.Namespace) -> str:
    sizes = ",".join(map(str, args.sizes))
    return (
        f".venv/bin/python {SCRIPT} --rounds {args.rounds} --warmup {args.warmup} --sizes {sizes}"
    )


def analyze_note(args: argparse.Namespace) -> str:
    if args.analyze:
        return (
            "The PostgreSQL database is analysed (`ANALYZE`) after the seeding, as autovacuum "
            "would do after imports of this size (this machine's server runs with autovacuum "
            "off); `--no-analyze` measures the planner without statistics."
        )
    return (
        "**Not analysed** (`--no-analyze`): the planner has no statistics on the seeded "
        "conversations, as on a server with autovacuum off."
    )


def offline_env() -> str:
    return ", ".join(f"`{name}={value}`" for name, value in OPEN_WEBUI_ENV.items())


def compare_at(run: Run, app: str, operation: str, size: int) -> str:
    theirs = ("owui", THEIRS[operation], size)
    ours = (app, operation, size)
    return (
        f"at {size:,} messages Open WebUI {harness.ms(run.median_ms(*theirs))} "
        f"({_kb(run.sizes[theirs].response)} answered), chatapp "
        f"{harness.ms(run.median_ms(*ours))} ({_kb(run.sizes[ours].response)} answered)"
    )


def why_missed(run: Run, missed: list[Target]) -> str:
    """For each missed target, what the figures themselves say about where the time goes."""
    if not missed:
        return ""
    lines = ["", "Not met, and why:", ""]
    sizes = run.args.sizes
    smallest, largest = sizes[0], sizes[-1]
    for target in missed:
        app, operation = target.app, target.operation
        if target.kind == "flat":
            small = harness.Summary.of(run.samples[(app, operation, smallest)])
            middle = [
                f"{harness.ms(run.median_ms(app, operation, size))} at {size:,}"
                for size in sizes[1:-1]
            ]
            reason = (
                f"the call reads or writes the same amount at any length (the newest "
                f"{PAGE_ROWS} messages, or one message), and the figures are "
                f"{', '.join(middle)}"
                + (", " if middle else "")
                + f"{harness.ms(run.median_ms(app, operation, largest))} at {largest:,}"
            )
            if operation == "page" and smallest < PAGE_ROWS:
                reason = (
                    f"at {smallest:,} messages the page renders {smallest:,} rows, at "
                    f"{largest:,} the full {PAGE_ROWS}: the growth is the rows rendered, not "
                    f"the conversation's length ({', '.join(middle) or 'no size between'}, "
                    f"where the page is full too)"
                )
            spread = (
                f"; the {smallest:,}-message call's own p90 is {harness.ms(small.p90 * 1000)}"
                if small.p90 * 1000 >= run.median_ms(app, operation, largest)
                else ""
            )
            lines.append(f"- {target.description}: {target.measured}. Why: {reason}{spread}.")
            continue
        slower = [
            size
            for size in sizes
            if run.median_ms(app, operation, size) >= run.median_ms("owui", THEIRS[operation], size)
        ]
        detail = "; ".join(compare_at(run, app, operation, size) for size in slower)
        if operation == "page":
            reason = (
                "Open WebUI answers a small chat as JSON that its browser code renders; "
                "chatapp answers the whole HTML page, rendered on the server by "
                "Django's templates (sidebar, rows, composer). Against chatapp's own JSON "
                "read, the row above, the same chat opens faster than in Open WebUI"
            )
        else:
            reason = (
                "with a chat this small Open WebUI's whole-chat JSON is small too, and what is "
                "left is each framework's cost per request, where chatapp's Django stack "
                "(middleware, the token check, the participation check and, for a post, the "
                "transaction that keeps seq, counters and read markers) costs more than Open "
                "WebUI's FastAPI path"
            )
        lines.append(f"- {target.description}: {detail}. Why: {reason}.")
    return "\n".join(lines) + "\n"


def analyze(url: str) -> None:
    """ANALYZE the PostgreSQL database after the seeding, as autovacuum would after an import
    of this size; a server with autovacuum off (this machine's) never would, and the planner
    would read the new conversations with no statistics."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def facts_of(chatapp_server: harness.Server, postgres_url: str) -> dict:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]
    versions = {}
    for package in ("Django", "django-ninja", "uvicorn"):
        import importlib.metadata

        versions[package] = importlib.metadata.version(package)
    return {
        "postgres": f"PostgreSQL {postgres.split()[0]}",
        "django": versions["Django"],
        "ninja": versions["django-ninja"],
        "uvicorn": versions["uvicorn"],
        "chatapp_command": chatapp_server.shown_command(),
    }


def main() -> None:
    args = parse_args()
    versions = ensure_open_webui(args.venv, install=not args.no_install)
    rng = random.Random(20261213)
    turns_by_size = {size: conversation_turns(size, rng) for size in args.sizes}
    postgres_url = harness.run_database(args.database_url, "chatapp_bench_vs")
    servers: list[harness.Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-vs-") as directory:
        work = Path(directory)
        try:
            owui_server = start_open_webui(args.venv, work)
            servers.append(owui_server)
            chatapp_servers = {}
            for app, url in (
                ("sqlite", f"sqlite:///{work / 'chatapp.sqlite3'}"),
                ("postgres", postgres_url),
            ):
                data = work / app
                data.mkdir()
                env = harness.server_environment(
                    url, data, POST_RATE_LIMIT="1000000000", LOG_LEVEL="WARNING"
                )
                harness.prepare_server_database(env)
                print(f"Starting chatapp on {app}…")
                chatapp_servers[app] = harness.start_chatapp(env, work / f"{app}.log")
                servers.append(chatapp_servers[app])
            clients = {
                "owui": OpenWebUIClient(owui_server),
                **{app: ChatappClient(server) for app, server in chatapp_servers.items()},
            }
            for size, turns in turns_by_size.items():
                for app, client in clients.items():
                    started = time.monotonic()
                    client.seed(size, turns)
                    took = time.monotonic() - started
                    print(f"Seeded {APPS[app]}: {size:,} messages in {took:.1f} s")
            if args.analyze:
                analyze(postgres_url)
            load_before, counters_before = harness.load_average(), harness.cpu_counters()
            run = measure(args, clients, turns_by_size)
            load_after = harness.load_average()
            cpu = harness.CpuShare.between(counters_before, harness.cpu_counters())
            for server in servers:
                if server.process.poll() is not None:
                    raise SystemExit(f"A server died during the run:\n{server.log_tail()}")
            run.facts = {
                **facts_of(chatapp_servers["postgres"], postgres_url),
                "versions": versions,
                "owui_command": " ".join(["python -m", *owui_server.command[2:]]).replace(
                    f"--port {owui_server.port}", "--port <free port>"
                ),
                "load": (load_before, load_after, cpu),
                "commit": harness.git_commit(),
            }
        finally:
            for server in servers:
                server.stop()
            harness.drop_database(postgres_url)
    print()
    print(medians_table(run))
    print()
    print(targets_table(run))
    harness.write_script_section(args.output, SCRIPT, section(run))
    print(f"\nWrote {args.output} ({platform.node()}).")


if __name__ == "__main__":
    main()
