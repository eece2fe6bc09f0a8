"""Streaming: the latency chatapp adds to each streamed token, and 500 open /events streams.

Two measurements against the real server (uvicorn running `chatapp.asgi:application` as
scripts/serve does, one process, DEBUG off, on a database of its own):

1. Added latency. The fake OpenAI-compatible server (tests/fake_openai.py, in a child
   process) streams a reply of `--chunks` text pieces at `--tokens-per-second`; each piece
   carries the wall-clock time at which the fake wrote it. The same client code reads it
   in each run, the order rotating: straight from the fake (the baseline), through chatapp
   (POST /api/v1/conversations/{id}/reply, its `delta` events), and through a control
   server that does not save the text while it streams. For every piece, receive time
   minus send time; pooled over `--runs` runs. Added latency is the chatapp path minus
   the direct one.
2. Open streams. `--users` users x `--streams-per-user` concurrent GET /api/v1/events
   streams on one server process; its RSS and thread count (/proc/<pid>/status) before,
   with all of them open, after a message posted into a conversation of all those users
   has reached every stream, and after they are closed. On PostgreSQL, the server's
   database connections too; and when 10 streams show that all of them would not fit in
   the database server's free connections, they are not opened.

    .venv/bin/python bench/streaming.py [--runs 5] [--sqlite]

The section "bench/streaming.py" of docs/benchmarks.md is replaced with the results.
"""

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import harness  # bench/harness.py (the script's own folder is on sys.path)
import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fake_openai import MODEL, FakeOpenAI, Scenario, chunk, usage  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_OUTPUT = harness.DOCS_PATH
SECTION_START, SECTION_END = harness.markers("bench/streaming.py")

API_KEY = "sk-bench-streaming-0123456789abcdef"
# Every text piece is this placeholder with a space; the fake replaces it with the time it
# writes the chunk (time.time_ns(), the same clock the client reads: one machine).
PLACEHOLDER = "[ts:" + "0" * 19 + "]"
STAMP = re.compile(r"\[ts:(\d{19})\]")
EVENT_SEQ = re.compile(rb'"seq":\s*(\d+)')

# Target of issue 4.
ADDED_P99_TARGET_MS = 10.0
STREAMS_RSS_TARGET_MB = 200.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_STREAMING_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="the PostgreSQL server (URL of any database on it; the role must be allowed to "
        "create databases): the run creates a database of its own there and drops it after",
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each path")
    parser.add_argument("--chunks", type=int, default=2000, help="text pieces per reply")
    parser.add_argument("--tokens-per-second", type=float, default=1000.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--streams-per-user", type=int, default=10)
    parser.add_argument(
        "--only", choices=["latency", "streams"], help="run one of the two measurements"
    )
    parser.add_argument(
        "--asgi-app",
        default="chatapp.asgi:application",
        help="what uvicorn serves (default the project's); to measure a change",
    )
    parser.add_argument(
        "--no-control",
        action="store_true",
        help="skip the control path (chatapp with no progress save during the reply)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server (repeatable), to measure a setting",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the run's database"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the markdown file whose bench/streaming.py section is replaced",
    )
    args = parser.parse_args()
    try:
        args.server_env = dict(item.split("=", 1) for item in args.server_env)
    except ValueError:
        parser.error("--server-env takes NAME=VALUE")
    if args.runs < 1 or args.chunks < 1 or args.users < 1 or args.streams_per_user < 1:
        parser.error("--runs, --chunks, --users and --streams-per-user must be at least 1")
    return args


# --- the database and the server -------------------------------------------------------------


class BenchDatabase:
    """A fresh, migrated database for the server: on PostgreSQL `chatapp_bench_streaming_…`
    (dropped by `drop()`), or a SQLite file in `data_dir`."""

    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.name: str | None = None
        self.admin_dsn: str | None = None
        self._admin_connection: psycopg.Connection | None = None
        if args.sqlite:
            url = f"sqlite:///{data_dir / 'chatapp.sqlite3'}"
        else:
            url = harness.run_database(args.database_url, "chatapp_bench_streaming")
            self.name, self.admin_dsn = harness.admin_conninfo(url)
        # The latency runs post one message each; the limit is not what is measured.
        self.env = harness.server_environment(
            url, data_dir, POST_RATE_LIMIT="1000000", **args.server_env
        )
        harness.prepare_server_database(self.env)

    @property
    def vendor(self) -> str:
        return "postgresql" if self.name else "sqlite"

    def manage(self, *args: str, env: dict | None = None) -> str:
        return harness.manage(env or self.env, *args)

    def shell(self, code: str) -> str:
        """Run Python in the server's settings and database; its last printed line."""
        return self.manage("shell", "-v0", "-c", code).strip().splitlines()[-1]

    def drop(self) -> None:
        if self._admin_connection is not None:
            self._admin_connection.close()
        if self.name:
            harness.drop_database(self.env["DATABASE_URL"])

    # -- PostgreSQL facts --

    def _admin(self, query: str, params=None):
        # One connection kept for the run: a server whose slots the app has used up still
        # answers it.
        if self._admin_connection is None or self._admin_connection.closed:
            self._admin_connection = psycopg.connect(self.admin_dsn, autocommit=True)
        return self._admin_connection.execute(query, params).fetchall()

    def connection_pids(self) -> list[int]:
        """The backends connected to this run's database (the server's connections)."""
        if not self.name:
            return []
        return [
            row[0]
            for row in self._admin(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.name]
            )
        ]

    def free_connections(self) -> int:
        """Connection slots left on the whole server for ordinary roles."""
        rows = self._admin(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
        limit, reserved, used = rows[0]
        return limit - reserved - used

    def server_facts(self) -> dict:
        if not self.name:
            return {}
        rows = self._admin(
            "SELECT current_setting('server_version'), current_setting('max_connections')"
        )
        params = conninfo_to_dict(self.admin_dsn)
        host = params.get("host") or "local socket"
        if params.get("port"):
            host += f":{params['port']}"
        return {"version": rows[0][0], "max_connections": int(rows[0][1]), "host": host}


def start_server(
    args: argparse.Namespace, database: BenchDatabase, log_path: Path, **extra_env: str
) -> harness.Server:
    """uvicorn as scripts/serve runs it, one process (no --workers), the ASGI application
    a parameter."""
    return harness.start_chatapp(
        {**database.env, **extra_env}, log_path, app=args.asgi_app, module=True
    )


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (kB) and Threads of a process, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            values[key] = int(value.split()[0])
    return values


def private_kb(pids: list[int]) -> int | None:
    """The private memory (USS: Private_Clean + Private_Dirty) of processes, in kB; None
    when /proc shows none of them (PostgreSQL on another machine). A backend that ended
    between the listing and the reading counts for nothing."""
    total, seen = 0, 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        seen += 1
        for line in text.splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total if seen else None


# --- 1. added latency -------------------------------------------------------------------------


def stamped_reply(chunks: int, tokens_per_second: float) -> Scenario:
    """A text reply of `chunks` pieces at `tokens_per_second`, each stamped with its send
    time as it is written.

    The pacing is done in the stamp hook against a schedule (piece n is due one interval
    after piece n - 1 was due, never earlier than that and never in a burst to catch up),
    rather than with the scenario's `delay`, a sleep after each write, which would add the
    write's and the wake-up's own time to every interval and send fewer pieces a second.
    Every request is answered in a thread of its own, so the schedule is per thread."""
    interval = 1 / tokens_per_second
    events: list[dict | str] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": PLACEHOLDER + " "}) for _ in range(chunks)]
    events.append(chunk({}, finish_reason="stop"))
    events.append(chunk(usage=usage(10, chunks), choices=False))
    schedule = threading.local()

    def stamp(event: str) -> str:
        if PLACEHOLDER not in event:
            schedule.due = None  # the role chunk: a new reply
            return event
        now = time.monotonic()
        due = getattr(schedule, "due", None)
        due = now if due is None else due + interval
        if due > now:
            time.sleep(due - now)
        schedule.due = max(due, now)  # late: no burst to catch up
        return event.replace(PLACEHOLDER, f"[ts:{time.time_ns():019d}]")

    return Scenario(events=events, stamp=stamp)


def _serve_fake(pipe, chunks: int, tokens_per_second: float) -> None:
    """The child process: FakeOpenAI answering every request with the stamped reply."""
    with FakeOpenAI(default=stamped_reply(chunks, tokens_per_second)) as fake:
        pipe.send(fake.base_url)
        pipe.recv()  # until told to stop


class FakeProcess:
    """FakeOpenAI in a process of its own, so that it shares no interpreter lock with the
    client that times it."""

    def __init__(self, chunks: int, tokens_per_second: float) -> None:
        context = multiprocessing.get_context("fork")
        self._pipe, child = context.Pipe()
        self.process = context.Process(
            target=_serve_fake, args=(child, chunks, tokens_per_second), daemon=True
        )
        self.process.start()
        if not self._pipe.poll(30):
            raise SystemExit("the fake OpenAI server did not start")
        self.base_url: str = self._pipe.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


@dataclass
class Pass:
    """One reading of one reply: the latency of every stamped piece, in ns."""

    latencies: list[int]
    sent: list[int]  # the send stamps, in order
    first_ns: int  # the first piece's latency
    rate: float  # pieces per second, from the send stamps
    ended_with: str


def read_stamped(response: httpx.Response, want_event: str | None, extract) -> Pass:
    """The client, the same for both paths: read SSE lines as they arrive, take the time at
    once, then find the stamps in the text of the chosen events."""
    latencies: list[int] = []
    sent: list[int] = []
    name: str | None = None
    last_event = ""
    for line in response.iter_lines():
        received = time.time_ns()
        if line.startswith("event:"):
            name = line[6:].strip()
            last_event = name
            continue
        if not line.startswith("data:"):
            if line == "":
                name = None
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            last_event = "[DONE]"
            continue
        if want_event is not None and name != want_event:
            continue
        for match in STAMP.finditer(extract(json.loads(payload)) or ""):
            stamp = int(match.group(1))
            sent.append(stamp)
            latencies.append(received - stamp)
    span = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else 0
    return Pass(
        latencies=latencies,
        sent=sent,
        first_ns=latencies[0] if latencies else 0,
        rate=(len(sent) - 1) / span if span else 0.0,
        ended_with=last_event,
    )


def _chunk_text(body: dict) -> str | None:
    choices = body.get("choices") or []
    return (choices[0].get("delta") or {}).get("content") if choices else None


def read_direct(fake_url: str) -> Pass:
    """The baseline: the fake's raw SSE, no chatapp in between."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST",
            fake_url + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}", "Accept": "text/event-stream"},
        ) as response,
    ):
        response.raise_for_status()
        return read_stamped(response, None, _chunk_text)


def new_assistant_conversation(api: httpx.Client) -> str:
    created = api.post("/api/v1/conversations", json={"kind": "assistant"})
    assert created.status_code == 201, created.text
    conversation_id = created.json()["id"]
    posted = api.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"content": "Hello?"}
    )
    assert posted.status_code == 201, posted.text
    return conversation_id


def read_chatapp(api: httpx.Client) -> Pass:
    """Through chatapp: a reply's `delta` events."""
    conversation_id = new_assistant_conversation(api)  # not timed
    with api.stream("POST", f"/api/v1/conversations/{conversation_id}/reply") as response:
        assert response.status_code == 200, response.read()
        return read_stamped(response, "delta", lambda data: data.get("text"))


@dataclass
class Percentiles:
    p50_ms: float
    p99_ms: float
    max_ms: float
    count: int

    @classmethod
    def of(cls, samples_ns: list[int]) -> "Percentiles":
        ordered = sorted(samples_ns)
        return cls(
            p50_ms=harness.nearest_rank(ordered, 50) / 1e6,
            p99_ms=harness.nearest_rank(ordered, 99) / 1e6,
            max_ms=ordered[-1] / 1e6,
            count=len(ordered),
        )


# The control path: chatapp with its periodic progress save (an UPDATE and a NOTIFY, every
# STREAM_SAVE_INTERVAL_MS) pushed past the end of the reply.
CONTROL_ENV = {"STREAM_SAVE_INTERVAL_MS": "600000"}
PATH_LABELS = {
    "direct": "fake → client, direct (baseline)",
    "chatapp": "fake → chatapp → client",
    "control": "control: chatapp with no progress save during the reply",
}


@dataclass
class PathResult:
    pooled: Percentiles
    per_run: list[Percentiles]
    first_ms: float  # median over runs of the first piece's latency
    rate: float  # median achieved pieces per second

    @classmethod
    def of(cls, passes: list[Pass]) -> "PathResult":
        return cls(
            pooled=Percentiles.of([ns for one in passes for ns in one.latencies]),
            per_run=[Percentiles.of(one.latencies) for one in passes],
            first_ms=statistics.median(one.first_ns for one in passes) / 1e6,
            rate=statistics.median(one.rate for one in passes),
        )


@dataclass
class LatencyResult:
    runs: int
    chunks: int
    tokens_per_second: float
    paths: dict[str, PathResult]
    load_before: float
    load_after: float

    def added(self, path: str = "chatapp") -> tuple[float, float, float]:
        """(p50, p99, max) of `path` minus the direct path's, in ms."""
        mine, base = self.paths[path].pooled, self.paths["direct"].pooled
        return (mine.p50_ms - base.p50_ms, mine.p99_ms - base.p99_ms, mine.max_ms - base.max_ms)


def measure_latency(args: argparse.Namespace, database: BenchDatabase, work: Path, token: str):
    fake = FakeProcess(args.chunks, args.tokens_per_second)
    servers: dict[str, harness.Server] = {}
    clients: dict[str, httpx.Client] = {}
    upstream = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_MODEL": MODEL, "OPENAI_API_KEY": API_KEY}
    names = ["direct", "chatapp"] + ([] if args.no_control else ["control"])
    try:
        servers["chatapp"] = start_server(args, database, work / "server-latency.log", **upstream)
        if "control" in names:
            servers["control"] = start_server(
                args, database, work / "server-control.log", **upstream, **CONTROL_ENV
            )
        for name, server in servers.items():
            clients[name] = httpx.Client(
                base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )

        def read(path: str) -> Pass:
            return read_direct(fake.base_url) if path == "direct" else read_chatapp(clients[path])

        for name in names:  # one untimed reply each way: imports, connections, the agent row
            read(name)
        passes: dict[str, list[Pass]] = {name: [] for name in names}
        load_before = os.getloadavg()[0]
        for run in range(args.runs):
            # Each run in another order, so that no path always follows the same one.
            for name in names[run % len(names) :] + names[: run % len(names)]:
                passes[name].append(read(name))
            print(
                f"  run {run + 1}/{args.runs}: p99 "
                + ", ".join(
                    f"{name} {Percentiles.of(passes[name][-1].latencies).p99_ms:.2f} ms"
                    for name in names
                ),
                flush=True,
            )
        load_after = os.getloadavg()[0]
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
        fake.stop()
    for name, runs in passes.items():
        for one in runs:
            if len(one.latencies) != args.chunks:
                raise SystemExit(
                    f"{name}: {len(one.latencies)} of {args.chunks} pieces arrived"
                    f" (the stream ended with {one.ended_with!r})"
                )
            if name != "direct" and one.ended_with != "message.completed":
                raise SystemExit(f"{name}: the reply ended with {one.ended_with!r}")
    return LatencyResult(
        runs=args.runs,
        chunks=args.chunks,
        tokens_per_second=args.tokens_per_second,
        paths={name: PathResult.of(runs) for name, runs in passes.items()},
        load_before=load_before,
        load_after=load_after,
    )


# --- 2. open /events streams -----------------------------------------------------------------


@dataclass
class EventStream:
    """One GET /api/v1/events over a raw socket: HTTP/1.1, chunked, parsed by hand, so that
    the client costs little next to the server it measures."""

    token: str
    first_bytes_at: float | None = None
    received_at: float | None = None
    error: str | None = None
    writer: asyncio.StreamWriter | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def hold(self, port: int, marker: dict[str, int]) -> None:
        try:
            await self._hold(port, marker)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            self.error = self.error or f"{type(error).__name__}: {error}"
        finally:
            self.opened.set()

    async def _hold(self, port: int, marker: dict[str, int]) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        self.writer.write(
            (
                "GET /api/v1/events HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            self.error = f"HTTP {status.decode()}"
            return
        if b"transfer-encoding: chunked" not in head.lower():
            self.error = "not a chunked response"
            return
        buffer = b""
        while True:
            size = int(((await reader.readline()).split(b";")[0].strip() or b"0"), 16)
            if size == 0:
                self.error = self.error or "the server ended the stream"
                return
            data = (await reader.readexactly(size + 2))[:-2]
            now = time.monotonic()
            if self.first_bytes_at is None:
                self.first_bytes_at = now
                self.opened.set()
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                # Events carry no message text: the broadcast is known by its seq.
                wanted = marker.get("seq")
                if (
                    wanted is not None
                    and self.received_at is None
                    and b"event: message.created" in event
                    and (found := EVENT_SEQ.search(event))
                    and int(found[1]) == wanted
                ):
                    self.received_at = now

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Snapshot:
    rss_kb: int
    threads: int
    db_connections: int | None
    db_private_kb: int | None


@dataclass
class StreamsResult:
    users: int
    per_user: int
    total: int
    opened: int = 0
    open_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    received: int = 0
    last_ms: float | None = None
    median_ms: float | None = None
    refused: str | None = None  # why the streams were not opened
    post_failed: str | None = None  # the broadcast's post did not succeed
    probe_streams: int = 0
    load_before: float = 0.0
    load_after: float = 0.0


def snapshot(pid: int, database: BenchDatabase) -> Snapshot:
    status = proc_status(pid)
    pids = database.connection_pids() if database.vendor == "postgresql" else []
    return Snapshot(
        rss_kb=status["VmRSS"],
        threads=status["Threads"],
        db_connections=len(pids) if database.vendor == "postgresql" else None,
        db_private_kb=private_kb(pids) if pids else None,
    )


async def open_streams(port: int, tokens: list[str], marker: dict, timeout: float = 60.0):
    streams = [EventStream(token) for token in tokens]
    tasks = [asyncio.ensure_future(stream.hold(port, marker)) for stream in streams]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(stream.opened.wait() for stream in streams))
    return streams, tasks


async def close_streams(streams: list[EventStream], tasks: list[asyncio.Task]) -> None:
    for stream in streams:
        stream.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def broadcast(
    server: harness.Server,
    token: str,
    conversation_id: str,
    streams: list[EventStream],
    marker: dict,
) -> tuple[float, int, str | None]:
    """Post a message into the conversation; wait until every open stream has its
    message.created event (or 30 s). (post time, streams that got it, the post's failure)."""
    value = f"broadcast-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:
        # Nothing else posts into the group: the broadcast takes the next seq.
        shown = await api.get(f"/api/v1/conversations/{conversation_id}")
        marker["seq"] = shown.json()["message_count"] + 1
        posted_at = time.monotonic()
        response = await api.post(
            f"/api/v1/conversations/{conversation_id}/messages", json={"content": value}
        )
        if response.status_code != 201:
            return posted_at, 0, f"HTTP {response.status_code}"
    live = [stream for stream in streams if stream.error is None]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(stream.received_at is not None for stream in live):
            break
        await asyncio.sleep(0.01)
    return posted_at, sum(1 for stream in live if stream.received_at is not None), None


async def _measure_streams(
    args: argparse.Namespace, database: BenchDatabase, server: harness.Server, setup: dict
) -> StreamsResult:
    pid = server.pid
    tokens = setup["tokens"]
    group = setup["group"]
    result = StreamsResult(
        users=args.users, per_user=args.streams_per_user, total=args.users * args.streams_per_user
    )

    # Warm-up: a few streams open and closed, and one broadcast, so that what is imported or
    # pooled once per process is in the "before" figure. They also show how many database
    # connections a stream holds, checked before opening all of them.
    probe = min(10, result.total)
    settle = 2.0
    before_probe = snapshot(pid, database)
    marker: dict[str, int] = {}
    streams, tasks = await open_streams(
        server.port, [tokens[i % len(tokens)] for i in range(probe)], marker
    )
    await asyncio.sleep(settle)
    during_probe = snapshot(pid, database)
    await broadcast(server, tokens[0], group, streams, marker)
    await close_streams(streams, tasks)
    result.probe_streams = probe
    result.snapshots["probe_before"], result.snapshots["probe_open"] = before_probe, during_probe
    if database.vendor == "postgresql":
        added = during_probe.db_connections - before_probe.db_connections
        needed = math.ceil(added / probe * result.total)
        free = database.free_connections()
        if needed > free:
            result.refused = (
                f"Opening {probe} streams took the server from {before_probe.threads} to "
                f"{during_probe.threads} threads and from {before_probe.db_connections} to "
                f"{during_probe.db_connections} PostgreSQL connections: {result.total} streams "
                f"would need about {needed} connections, and the database server has {free} "
                "free (its max_connections less its other clients' connections). Opening them "
                "would starve every other client of that server; run with `--database-url` "
                "pointing at a server with enough max_connections."
            )
            return result
    await asyncio.sleep(settle)

    result.load_before = os.getloadavg()[0]
    result.snapshots["before"] = snapshot(pid, database)
    marker = {}
    order = [tokens[user] for user in range(args.users) for _ in range(args.streams_per_user)]
    started = time.monotonic()
    streams, tasks = await open_streams(server.port, order, marker)
    opened = [stream for stream in streams if stream.first_bytes_at is not None]
    result.opened = len(opened)
    if opened:
        result.open_seconds = max(stream.first_bytes_at for stream in opened) - started
    for stream in streams:
        if stream.first_bytes_at is None:
            reason = stream.error or "no first bytes within 60 s"
            result.errors[reason] = result.errors.get(reason, 0) + 1
    await asyncio.sleep(settle)
    result.snapshots["open"] = snapshot(pid, database)

    posted_at, result.received, result.post_failed = await broadcast(
        server, tokens[0], group, opened, marker
    )
    times = sorted(
        (stream.received_at - posted_at) * 1000 for stream in opened if stream.received_at
    )
    if times:
        result.last_ms = times[-1]
        result.median_ms = statistics.median(times)
    await asyncio.sleep(0.5)
    result.snapshots["broadcast"] = snapshot(pid, database)
    result.load_after = os.getloadavg()[0]

    await close_streams(streams, tasks)
    await asyncio.sleep(settle + 1)
    result.snapshots["closed"] = snapshot(pid, database)
    return result


def measure_streams(args: argparse.Namespace, database: BenchDatabase, work: Path, setup: dict):
    server = start_server(args, database, work / "server-streams.log")
    try:
        return asyncio.run(_measure_streams(args, database, server, setup))
    finally:
        server.stop()


def raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            print(f"warning: open files limited to {target}; {needed} wanted", flush=True)


# --- setup ------------------------------------------------------------------------------------


SETUP = """
import json
from chatapp.accounts.services import personal_token_create, user_create
from conversations.services import conversation_create, membership_add, workspace_create
users = [user_create(username=f"stream{i:04d}", password=None) for i in range(USERS)]
team = workspace_create(name="Streams", slug="streams", owner=users[0])
for user in users[1:]:
    membership_add(workspace=team, user=user)
group, _ = conversation_create(
    creator=users[0], kind="group", title="Broadcast", workspace=team, participants=users[1:]
)
tokens = [personal_token_create(user=user, name="bench").raw for user in users]
print(json.dumps({"group": str(group.pk), "tokens": tokens}))
"""


# --- reporting --------------------------------------------------------------------------------


def _mb(kb: float) -> str:
    return f"{kb / 1024:,.1f} MB"


def _verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def latency_table(result: LatencyResult) -> str:
    rows = [
        "| path | p50 | p99 | max | pieces |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def added_row(label: str, path: str) -> str:
        # No difference of the maxima: one stall of the machine makes either.
        p50, p99, _ = result.added(path)
        return f"| {label} | {p50:.2f} ms | {p99:.2f} ms | | |"

    for name, path in result.paths.items():
        pooled = path.pooled
        rows.append(
            f"| {PATH_LABELS[name]} | {pooled.p50_ms:.2f} ms | {pooled.p99_ms:.2f} ms "
            f"| {pooled.max_ms:.2f} ms | {pooled.count:,} |"
        )
        if name == "chatapp":
            rows.append(added_row("**added by chatapp** (chatapp minus direct)", "chatapp"))
        if name == "control":
            rows.append(added_row("added in the control (control minus direct)", "control"))
    return "\n".join(rows)


def per_run_table(result: LatencyResult) -> str:
    names = list(result.paths)
    rows = [
        "| run | " + " | ".join(f"{name} p50 | {name} p99" for name in names) + " |",
        "| ---: |" + " ---: | ---: |" * len(names),
    ]
    for run in range(result.runs):
        cells = []
        for name in names:
            one = result.paths[name].per_run[run]
            cells.append(f"{one.p50_ms:.2f} ms | {one.p99_ms:.2f} ms")
        rows.append(f"| {run + 1} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


SNAPSHOT_LABELS = {
    "before": "before (after a warm-up of a few streams)",
    "open": "all streams open, first bytes received",
    "broadcast": "after the broadcast reached them",
    "closed": "after closing them all",
}


def streams_table(result: StreamsResult) -> str:
    postgres = any(shot.db_connections is not None for shot in result.snapshots.values())
    head = "| server process | RSS | threads |"
    rule = "| --- | ---: | ---: |"
    if postgres:
        head += " its PostgreSQL connections | their private memory |"
        rule += " ---: | ---: |"
    rows = [head, rule]
    for key, label in SNAPSHOT_LABELS.items():
        shot = result.snapshots.get(key)
        if shot is None:
            continue
        row = f"| {label} | {_mb(shot.rss_kb)} | {shot.threads} |"
        if postgres:
            private = _mb(shot.db_private_kb) if shot.db_private_kb is not None else "-"
            row += f" {shot.db_connections} | {private} |"
        rows.append(row)
    return "\n".join(rows)


def per_stream(result: StreamsResult) -> tuple[float, float] | None:
    """(kB of server RSS, threads) per open stream."""
    before, after = result.snapshots.get("before"), result.snapshots.get("open")
    if not before or not after or not result.opened:
        return None
    return (
        (after.rss_kb - before.rss_kb) / result.opened,
        (after.threads - before.threads) / result.opened,
    )


def streams_targets(result: StreamsResult | None) -> tuple[bool | None, bool | None, str, str]:
    if result is not None and result.refused:
        before, during = result.snapshots["probe_before"], result.snapshots["probe_open"]
        threads_text = (
            f"{result.probe_streams} streams (the {result.total:,} were not opened): "
            f"{before.threads} → {during.threads} threads; PostgreSQL connections "
            f"{before.db_connections} → {during.db_connections}"
        )
        met = during.threads - before.threads < result.probe_streams / 2
        return None, met, "not opened: see below", threads_text
    if result is None or "broadcast" not in result.snapshots:
        return None, None, "not measured", "not measured"
    complete = result.opened == result.total and result.received == result.total
    peak = max(result.snapshots["open"].rss_kb, result.snapshots["broadcast"].rss_kb)
    rss_met = complete and peak / 1024 < STREAMS_RSS_TARGET_MB
    before, after = result.snapshots["before"].threads, result.snapshots["open"].threads
    threads_met = complete and after - before < 10
    rss_text = f"{_mb(peak)} with {result.opened:,} open, {result.received:,} got the broadcast"
    threads_text = f"{before} → {after} threads"
    connections = (
        result.snapshots["before"].db_connections,
        result.snapshots["open"].db_connections,
    )
    if None not in connections:
        threads_text += f"; PostgreSQL connections {connections[0]} → {connections[1]}"
    return rss_met, threads_met, rss_text, threads_text


def targets_table(latency: LatencyResult | None, streams: StreamsResult | None) -> str:
    rows = ["| target (issue 4) | measured | |", "| --- | --- | --- |"]
    if latency is not None:
        added = latency.added()[1]
        rows.append(
            f"| p99 latency added by chatapp under {ADDED_P99_TARGET_MS:g} ms, at "
            f"{latency.tokens_per_second:,.0f} tokens/s | {added:.2f} ms (p99 through chatapp "
            f"{latency.paths['chatapp'].pooled.p99_ms:.2f} ms, direct "
            f"{latency.paths['direct'].pooled.p99_ms:.2f} ms) "
            f"| {_verdict(added < ADDED_P99_TARGET_MS)} |"
        )
    else:
        rows.append("| p99 added latency under 10 ms | not measured in this run | |")
    rss_met, threads_met, rss_text, threads_text = streams_targets(streams)
    total = streams.total if streams else 500
    rows.append(
        f"| {total:,} concurrent /events streams on one process in under "
        f"{STREAMS_RSS_TARGET_MB:g} MB (its RSS) | {rss_text} | {_verdict(rss_met)} |"
    )
    rows.append(
        "| an open stream does not hold a thread (SPEC §7) "
        f"| {threads_text} | {_verdict(threads_met)} |"
    )
    return "\n".join(rows)


def latency_section(result: LatencyResult | None) -> str:
    if result is None:
        return "Not measured in this run (`--only streams`).\n"
    paths = result.paths
    rates = ", ".join(f"{paths[name].rate:,.0f}/s {name}" for name in paths)
    firsts = ", ".join(f"{paths[name].first_ms:.2f} ms {name}" for name in paths)
    run_p99 = ", ".join(
        f"{statistics.median(one.p99_ms for one in paths[name].per_run):.2f} ms {name}"
        for name in paths
    )
    control = ""
    if "control" in paths:
        control = """
- The control is a second server process, identical but for
  `STREAM_SAVE_INTERVAL_MS=600000`: the generation does not stop to save the text (an
  UPDATE, then a NOTIFY of the new text for `/events`, each awaited in a worker thread)
  every 250 ms while it streams. What the control does not add, the save does."""
    return f"""{latency_table(result)}

- {result.runs} timed runs of each path, one reply each, the order rotating from run to
  run; pooled: {paths["direct"].pooled.count:,} stamped pieces per path, after one untimed
  reply per path. A reply is {result.chunks:,} text pieces due every
  {1000 / result.tokens_per_second:g} ms ({result.tokens_per_second:,.0f} a second); they
  went out at a median {rates}. The first piece of a reply took a median {firsts}.{control}
- Per run (the median of the runs' p99: {run_p99}; a run that a burst of other work on
  the machine lands on shows here):

{per_run_table(result)}

- Load average (1 min) {result.load_before:.2f} before the timed runs,
  {result.load_after:.2f} after.{_busy_note(result.load_before, result.load_after)}
"""


def _busy_note(*loads: float) -> str:
    cores = os.cpu_count() or 1
    if max(loads) <= cores:
        return ""
    return (
        f" **The machine was busy** (more runnable work than its {cores} cores): the tails "
        "here are the scheduler's as much as the code's; compare the control, and run again "
        "on an idle machine."
    )


def streams_section(result: StreamsResult | None) -> str:
    if result is None:
        return "Not measured in this run (`--only latency`).\n"
    shape = (
        f"{result.users:,} users x {result.per_user:,} streams each = {result.total:,} "
        "concurrent `GET /api/v1/events` streams, every user a participant of one group "
        "conversation"
    )
    if result.refused:
        return f"""{shape}: **not opened.** {result.refused}
"""
    per = per_stream(result)
    per_text = (
        f"**{per[0]:,.1f} kB of server RSS and {per[1]:.2f} threads per stream** (all open "
        "minus before, over the streams opened)"
        if per
        else "not measured"
    )
    before, after = result.snapshots["before"], result.snapshots["open"]
    if per and after.db_connections is not None:
        per_text += (
            f", and {(after.db_connections - before.db_connections) / result.opened:.2f} "
            "PostgreSQL connections per stream"
        )
        if after.db_private_kb is not None and before.db_private_kb is not None:
            per_text += (
                f" ({_mb(after.db_private_kb - before.db_private_kb)} more private memory "
                "in PostgreSQL's backends, outside the server's RSS)"
            )
    if per and per[1] >= 0.5:
        per_text += (
            ". Django's ASGI handler runs the synchronous parts of each request (the request "
            "signals, the bearer-token check) in a thread of that request's own "
            "(asgiref's `ThreadSensitiveContext`) and keeps it until the response ends; "
            "the database connection that check opened stays with it"
        )
    errors = (
        "; failures: " + ", ".join(f"{count} x {reason}" for reason, count in result.errors.items())
        if result.errors
        else ""
    )
    leftover = ""
    closed = result.snapshots.get("closed")
    if closed and closed.db_connections is not None:
        kept = closed.db_connections - before.db_connections
        if kept > result.opened / 2:
            leftover = (
                f"\n- After the streams closed, their threads ended, but {kept} of the "
                "PostgreSQL connections opened for them were still open."
            )
    timing = (
        f"the last {result.last_ms:,.0f} ms after the post was sent (median {result.median_ms:,.0f}"
        " ms)"
        if result.last_ms is not None
        else "none"
    )
    if result.post_failed:
        timing = f"none: posting the message failed with {result.post_failed}"
    return f"""{shape}.

{streams_table(result)}

- {result.opened:,} of {result.total:,} opened (headers and the first event received) within
  {result.open_seconds:.2f} s of starting them all at once{errors}.
- {per_text}.
- Broadcast: one message posted into the group; {result.received:,} of {result.opened:,}
  open streams received its `message.created` event, {timing}.{leftover}
- Load average (1 min) {result.load_before:.2f} before opening, {result.load_after:.2f}
  after the broadcast.
"""


def section(
    args: argparse.Namespace,
    database: BenchDatabase,
    latency: LatencyResult | None,
    streams: StreamsResult | None,
    facts: dict,
) -> str:
    import django
    import uvicorn

    measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    pg = facts.get("postgres") or {}
    db_text = (
        f"PostgreSQL {pg['version']} on {pg['host']} (max_connections {pg['max_connections']}), "
        "a database made for the run"
        if pg
        else "SQLite (`--sqlite`), a file made for the run"
    )
    return f"""{SECTION_START}
## Streaming: latency added to each token, and 500 open `/events` streams

{harness.written_by("bench/streaming.py", measured)}

### Targets

{targets_table(latency, streams)}

### Latency added between the model server and the client

Each text piece of a reply carries the time the fake OpenAI-compatible server
(`tests/fake_openai.py`, in a process of its own) wrote it; the client takes the time each
SSE line arrives and subtracts. The same client code reads the fake's raw SSE directly (the
baseline: the fake, loopback TCP, httpx, the line parsing) and chatapp's reply stream
(`POST /api/v1/conversations/{{id}}/reply`, its `delta` events): what chatapp adds is the
difference. chatapp's path is the provider's httpx client reading the fake, the generation
task handing each delta to the reply stream's queue, Django's ASGI handler and uvicorn
writing it out, while the turn is saved every `STREAM_SAVE_INTERVAL_MS` (250 ms) beside it.

{latency_section(latency)}
### Open `/events` streams on one server process

{streams_section(streams)}
RSS and threads are `VmRSS` and `Threads` of `/proc/<pid>/status` of the uvicorn process.
The client holds the streams over raw sockets (asyncio) and reads every event.
{
        "PostgreSQL connections are the rows of `pg_stat_activity` for the run's database (the "
        + "server's only client); their private memory is Private_Clean + Private_Dirty of each "
        + "backend's `/proc/<pid>/smaps_rollup`, which the server's RSS does not include."
        if pg
        else ""
    }

### Settings and machine

- **Server:** `uvicorn chatapp.asgi:application --lifespan on` as `scripts/serve` runs it,
  one process (no `--workers`), uvicorn {uvicorn.__version__} with its default loop and
  HTTP parser ({facts["loop"]}); `DEBUG=false`, the project's settings otherwise
  (`DATABASE_CONN_MAX_AGE` 600, `STREAM_SAVE_INTERVAL_MS` 250,
  `EVENTS_HEARTBEAT_SECONDS` 15); {db_text}; a fresh server process for each of the two
  measurements.{_changes_note(args)}
- **Machine:** {os.cpu_count()} cores ({harness.cpu_model()}), {platform.system()}
  {platform.release()}; Python {platform.python_version()}, Django {django.get_version()},
  httpx {httpx.__version__}. The fake server, the server, PostgreSQL and the client share
  the cores.
- **Run:** `.venv/bin/python bench/streaming.py{facts["argv"]}`.
{SECTION_END}
"""


def _changes_note(args: argparse.Namespace) -> str:
    """Say so when the server did not run the project as it is."""
    changes = [f"`{name}={value}`" for name, value in args.server_env.items()]
    if args.asgi_app != "chatapp.asgi:application":
        changes.append(f"the ASGI application `{args.asgi_app}`")
    if not changes:
        return ""
    return "\n- **Not the project as it is:** this run gave the server " + ", ".join(changes) + "."


def server_loop() -> str:
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio, h11"
    return "uvloop, httptools"


def main() -> None:
    args = parse_args()
    raise_open_files_limit(args.users * args.streams_per_user * 2 + 256)
    work = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    database = BenchDatabase(args, work)
    latency: LatencyResult | None = None
    streams: StreamsResult | None = None
    try:
        print(f"Database: {database.vendor} {database.name or ''}; logs in {work}", flush=True)
        setup = json.loads(database.shell(SETUP.replace("USERS", str(args.users))))
        if args.only in (None, "latency"):
            print("Added latency…", flush=True)
            latency = measure_latency(args, database, work, setup["tokens"][0])
            print(latency_table(latency), flush=True)
        if args.only in (None, "streams"):
            print(f"{args.users * args.streams_per_user} open /events streams…", flush=True)
            streams = measure_streams(args, database, work, setup)
            print(streams_section(streams), flush=True)
        facts = {
            "postgres": database.server_facts(),
            "loop": server_loop(),
            "argv": "".join(" " + part for part in sys.argv[1:]),
        }
    finally:
        if not args.keep_database:
            database.drop()
    print(targets_table(latency, streams))
    harness.write_section(
        args.output,
        section(args, database, latency, streams, facts),
        start=SECTION_START,
        end=SECTION_END,
    )
    print(f"Wrote {args.output}.")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
