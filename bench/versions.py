"""Versions of a turn (issue 16): appending, reading pages and switching version cost the
same with 1,000 versions as with none.

    .venv/bin/python bench/versions.py [--database-url URL] [--rounds 200]

The database (default: env BENCH_VERSIONS_DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/chatapp_bench_versions) is seeded afresh at every run
(the runs append to it, and the switch near the end must be near the end): it is dropped
only when it holds this script's marker table (`bench_versions_seed`) or nothing, unless
--reseed says so. Three assistant conversations of the user `bench_versions`, each with a
path of about 100,100 messages:

- **flat**: no version at all, the reader on line 0;
- **pair**: two versioned turns only (the two that the switch is timed at: one deep, one
  near the end), the reader on line 2;
- **versions**: 1,000 versions, made the way people make them (see `simulate`): the last
  reply regenerated and kept (sometimes twice), the last prompt edited and resent, an
  earlier reply regenerated and read and left (some of those regenerated again: a fork of a
  fork), an earlier prompt edited and followed for a while and left (with forks of their
  own); the reader on the line they ended on, whose path runs through hundreds of lines.

Messages (with position, line, parent, version, next_turn_forks), the Line rows (parent
line, fork position, ancestry) and the counters (message_count, line_count,
first_turn_forks, next_turn_forks) are computed here and sent with COPY, then checked in
Python against the rules of docs/data-model.md ("Versions of a turn") before anything is
timed. Then, alternating the operations round by round (harness.alternate):

1. posting (services.message_post and POST /api/v1/conversations/{id}/messages), the newest
   page and the page 100,000 messages deep (selectors.message_page_rows and GET
   …/messages), in flat and in versions;
2. switching version (POST /api/v1/messages/{id}/show: services.version_show and the page
   of the path from that turn on), at a turn 4 rows from the end and at one 50,000 deep,
   in pair and in versions, beside reading the same rows without switching;
3. EXPLAIN (ANALYZE, BUFFERS) of the page queries on the forked path.

The API calls go through Django's test client in this process (URL routing, middleware,
the bearer-token auth, the view and the JSON), not over a socket.
"""

import argparse
import itertools
import json
import os
import random
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness  # bench/harness.py (the script's own folder is on sys.path)
import psycopg
import seed as seeding  # bench/seed.py: the text, the COPY columns, the index drop
from psycopg import sql

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/chatapp_bench_versions"
DEFAULT_OUTPUT = harness.DOCS_PATH
SCRIPT = "bench/versions.py"
MARKER_TABLE = "bench_versions_seed"
USERNAME = "bench_versions"
PASSWORD = "bench-versions-1"  # noqa: S105 (a benchmark database's own account)
PAGE = 50
DEPTH = 100_000  # the deep page ends this many positions before the newest
SAME = 1.2  # a ratio read as "the same cost"
CONTENT = "Benchmark message: a line about the length of a short chat message, once more."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_VERSIONS_DATABASE_URL") or DEFAULT_DATABASE_URL,
    )
    parser.add_argument("--path-length", type=int, default=100_100, help="messages on a path")
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds of each part")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds first")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--reseed", action="store_true", help="drop a database not ours too")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.path_length < DEPTH + 2 * PAGE or args.versions < 10:
        parser.error(f"--path-length must be at least {DEPTH + 2 * PAGE}, --versions 10")
    return args


# --- the conversations, simulated ------------------------------------------------------------


@dataclass
class Msg:
    id: uuid.UUID
    seq: int
    position: int
    line: int
    parent: "Msg | None"
    version: int
    next_turn_forks: int = 0

    @property
    def role(self) -> str:
        # Every path alternates from a prompt at position 1: a version keeps its turn's role.
        return "user" if self.position % 2 else "assistant"


@dataclass
class LineRow:
    number: int
    parent_line: int
    fork_position: int
    ancestry: list[list[int]]


@dataclass
class Thread:
    """One conversation as the services would have left it, built in memory."""

    rng: random.Random
    messages: list[Msg] = field(default_factory=list)
    lines: dict[int, LineRow] = field(default_factory=dict)
    # Each line's own messages, in position order (contiguous from its first).
    on_line: dict[int, list[Msg]] = field(default_factory=lambda: defaultdict(list))
    first_turn_forks: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def ancestry(self, line: int) -> list[list[int]]:
        return [[0, 1]] if line == 0 else self.lines[line].ancestry

    def tail(self, line: int) -> Msg | None:
        own = self.on_line[line]
        if own:
            return own[-1]
        return None

    def at(self, line: int, position: int) -> Msg:
        """The message at `position` of `line`'s path."""
        owner = 0
        for number, start in self.ancestry(line):
            if start > position:
                break
            owner = number
        own = self.on_line[owner]
        return own[position - own[0].position]

    def _add(self, line: int, position: int, parent: Msg | None, version: int) -> Msg:
        message = Msg(uuid.UUID(int=self.rng.getrandbits(128), version=4), len(self.messages) + 1,
                      position, line, parent, version)  # fmt: skip
        self.messages.append(message)
        self.on_line[line].append(message)
        return message

    def append(self, line: int, count: int = 1) -> Msg | None:
        """`count` new turns at the end of `line`; the last of them (its tail)."""
        for _ in range(count):
            parent = self.tail(line)
            self._add(line, parent.position + 1 if parent else 1, parent, 1)
        return self.tail(line)

    def fork(self, at: Msg, kind: str) -> int:
        """A new version of `at`'s turn on a new line, as services.versions._fork makes it."""
        number = len(self.lines) + 1
        kept = [pair for pair in self.ancestry(at.line) if pair[1] < at.position]
        self.lines[number] = LineRow(number, at.line, at.position, [*kept, [number, at.position]])
        if at.parent is None:
            self.first_turn_forks += 1
            version = self.first_turn_forks + 1
        else:
            at.parent.next_turn_forks += 1
            version = at.parent.next_turn_forks + 1
        self._add(number, at.position, at.parent, version)
        self.kinds[kind] += 1
        return number


def _linear(thread: Thread, length: int) -> int:
    thread.append(0, length)
    return 0


def _switch_turns(thread: Thread, line: int, length: int) -> tuple[int, dict]:
    """The two turns the switch is timed at, made on `line` (whose path is `length` - 4
    long, ending on a reply): a prompt about 50,000 deep edited and resent and followed for
    150 messages, then left (the reader goes back); and the prompt 4 rows from the end,
    edited and resent and followed to the end (the reader stays on it). Returns the line the
    reader ends on and the two pairs of versions."""
    tail = thread.tail(line)
    deep_at = thread.at(line, (tail.position // 2) | 1)  # a prompt: odd position
    side = thread.fork(deep_at, "switch: deep prompt resent, followed 150 messages, left")
    thread.append(side, 149)
    thread.append(line, 1)  # the reader goes back and the path goes on: a prompt...
    end = thread.append(line, 3)  # ...then reply, prompt, reply
    near_at = thread.at(line, end.position - 3)  # the prompt 4 rows from the end
    kept = thread.fork(near_at, "switch: last prompt but one resent, followed to the end")
    thread.append(kept, 3)
    pairs = {
        "deep": (thread.at(kept, deep_at.position), thread.on_line[side][0]),
        "near": (thread.at(kept, near_at.position), near_at),
    }
    return kept, pairs


def simulate(thread: Thread, length: int, versions: int) -> int:
    """A conversation of `length` messages on the path its reader ends on, with `versions`
    versions made along it. Returns the reader's line."""
    rng = thread.rng
    switch_forks = 2
    # What people do, in shares of the versions (besides the two switch turns).
    budget = versions - switch_forks
    # Shares of the versions; "regenerate last, twice" makes two (versions 2 and 3).
    shares = {"regenerate last, twice": 0.08, "resend last": 0.24, "regenerate earlier": 0.23,
              "resend earlier": 0.10, "nested": 0.10}  # fmt: skip
    events = []
    for kind, share in shares.items():
        made = round(budget * share)
        events += [kind] * (made // 2 if kind.endswith("twice") else made)
    used = sum(2 if kind.endswith("twice") else 1 for kind in events)
    events += ["regenerate last"] * (budget - used)
    first = events.index("regenerate last")
    events.insert(0, events.pop(first))
    rest = events[1:]
    rng.shuffle(rest)
    events = [events[0], *rest]
    # The versions made along the path, at evenly spread random lengths; one regeneration
    # at position 76 so that the deep page (positions ~51-100) straddles two lines.
    main_events = [kind for kind in events if kind != "nested"]
    nested = len(events) - len(main_events)
    at_lengths = sorted(rng.randint(200, length - 400) for _ in range(len(main_events) - 1))
    schedule = [(76, "regenerate last"), *zip(at_lengths, main_events[1:], strict=True)]
    side_lines: list[int] = []
    line = 0
    for at_length, kind in schedule:
        current = thread.tail(line)
        grow = at_length - (current.position if current else 0)
        if grow > 0:
            thread.append(line, grow)
        tail = thread.tail(line)
        if tail.role == "user":
            tail = thread.append(line)  # versions are made once the reply is in
        if kind == "regenerate last":
            line = thread.fork(tail, "regenerate the last reply, keep it")
        elif kind == "regenerate last, twice":
            line = thread.fork(tail, "regenerate the last reply twice, keep the third")
            line = thread.fork(
                thread.at(line, tail.position), "regenerate the last reply twice, keep the third"
            )
        elif kind == "resend last":
            line = thread.fork(thread.at(line, tail.position - 1), "resend the last prompt")
            thread.append(line)  # its reply
        elif kind == "regenerate earlier":
            back = thread.at(line, max(2, tail.position - rng.randint(2, 2_000)) & ~1 or 2)
            side = thread.fork(back, "regenerate an earlier reply, read it, go back")
            thread.append(side, rng.choice([0, 0, 2, 4, 6]))
            side_lines.append(side)
        elif kind == "resend earlier":
            back = thread.at(line, max(1, tail.position - rng.randint(3, 5_000)) | 1)
            side = thread.fork(back, "resend an earlier prompt, follow it, go back")
            thread.append(side, rng.randint(10, 200) | 1)
            side_lines.append(side)
    for _ in range(nested):
        # A fork of a fork: a version of a turn on a line that is itself a version.
        own = thread.on_line[rng.choice(side_lines)]
        candidates = [m for m in own if m.role == "assistant"] or own
        at = rng.choice(candidates)
        fork = thread.fork(at, "a version on a line that is a version itself (nested)")
        thread.append(fork, rng.choice([0, 2, 4]))
        side_lines.append(fork)
    thread.append(line, length - 4 - thread.tail(line).position)
    assert len(thread.lines) == budget, (len(thread.lines), budget)
    return line


def build(kind: str, length: int, versions: int, rng: random.Random) -> dict:
    thread = Thread(rng)
    if kind == "flat":
        line = _linear(thread, length)
        pairs = {}
    elif kind == "pair":
        line, pairs = _switch_turns(thread, _linear(thread, length - 4), length)
    else:
        line, pairs = _switch_turns(thread, simulate(thread, length, versions), length)
    path_tail = thread.tail(line).position
    assert path_tail == length, (kind, path_tail, length)
    # The lines the reader was shown last, newest first (Participant.recent_lines): the
    # lines their path moved through.
    recent = [number for number, _ in reversed(thread.ancestry(line)[:-1])][:9]
    return {"thread": thread, "line": line, "pairs": pairs, "recent": recent}


# --- loading ---------------------------------------------------------------------------------


def check(thread: Thread, line_count: int) -> None:
    """The rules of the versions, on what is about to be loaded."""
    messages = thread.messages
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert sorted(thread.lines) == list(range(1, line_count + 1))
    for number in [0, *thread.lines]:
        own = thread.on_line[number]
        first = 1 if number == 0 else thread.lines[number].fork_position
        # A line's own messages: from its fork on, one per position, no gap.
        assert [m.position for m in own] == list(range(first, first + len(own))), number
        ancestry = thread.ancestry(number)
        tail = own[-1].position
        for index, (owner, start) in enumerate(ancestry):
            end = ancestry[index + 1][1] - 1 if index + 1 < len(ancestry) else tail
            held = thread.on_line[owner]
            # The path has no gap: each segment's line holds every position of it.
            assert held[0].position <= start and held[-1].position >= end, (number, owner)
        if number:
            row = thread.lines[number]
            parent = [p for p in thread.ancestry(row.parent_line) if p[1] < row.fork_position]
            assert row.ancestry == [*parent, [number, row.fork_position]], number
        # Each parent is the message before on the path: the line's own previous message,
        # or for its first (the version) the message before the fork on its parent's path.
        first_parent = thread.at(number, first - 1) if first > 1 else None
        assert own[0].parent is first_parent, number
        assert all(m.parent is own[i] for i, m in enumerate(own[1:])), number
    turns = defaultdict(list)
    for m in messages:
        turns[(m.parent.id if m.parent else None, m.position)].append(m)
    for (parent_id, _), versions in turns.items():
        assert sorted(m.version for m in versions) == list(range(1, len(versions) + 1))
        forks = len(versions) - 1
        if parent_id is None:
            assert forks == thread.first_turn_forks
        else:
            assert versions[0].parent.next_turn_forks == forks


def _database_state(url: str) -> str:
    if not harness.database_exists(url):
        return "missing"
    with psycopg.connect(url, autocommit=True) as connection:
        if connection.execute("SELECT to_regclass(%s) IS NOT NULL", [MARKER_TABLE]).fetchone()[0]:
            return "ours"
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    return "empty" if tables == 0 else "foreign"


def prepare_database(url: str, *, reseed: bool) -> None:
    state = _database_state(url)
    if state == "foreign" and not reseed:
        raise SystemExit(
            f"{url} holds tables but no {MARKER_TABLE} marker: not this script's to drop. "
            "Pass --reseed to drop it, or name another database."
        )
    harness.create_database(url, drop=state != "missing", quiet=True)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE TABLE {} (details jsonb, seeded_at timestamptz)").format(
                sql.Identifier(MARKER_TABLE)
            )
        )


def load(args: argparse.Namespace) -> dict:
    """Seed the three conversations; returns what the measurements need."""
    from django.db import connection, transaction

    from chatapp.accounts.services import user_create

    rng = random.Random(args.seed)
    text = seeding.TextMaker(rng)
    clock = time.perf_counter
    started = clock()
    built = {
        kind: build(kind, args.path_length, args.versions, rng)
        for kind in ("flat", "pair", "versions")
    }
    for plan in built.values():
        check(plan["thread"], len(plan["thread"].lines))
    simulated = clock() - started
    epoch = (datetime.now(UTC) - timedelta(days=200)).replace(microsecond=0)
    with transaction.atomic(), connection.cursor() as cursor:
        user = user_create(username=USERNAME, password=PASSWORD, display_name="Bench Versions")
        # A second reader of the conversations with versions, shown the same path: the deep
        # switch is theirs, so that it alternates with the near one (the first reader's)
        # without either changing what the other goes back to.
        second = user_create(username=f"{USERNAME}_2", password=None, display_name="Reader 2")
        raw = cursor.cursor
        raw.execute("SET LOCAL maintenance_work_mem = '512MB'")
        raw.execute("SET CONSTRAINTS ALL IMMEDIATE")
        restore = seeding.drop_message_indexes(raw)
        ids = {kind: uuid.UUID(int=rng.getrandbits(128), version=4) for kind in built}
        with raw.copy(
            seeding._copy_statement("conversations_conversation", seeding.CONVERSATION_COLUMNS)
        ) as copy:
            for kind, plan in built.items():
                thread = plan["thread"]
                newest = (epoch + timedelta(seconds=len(thread.messages))).isoformat()
                copy.write_row((
                    ids[kind], epoch.isoformat(), newest, user.default_workspace_id,
                    "assistant", f"{kind}: {len(thread.lines):,} versions", user.pk, "active",
                    "", newest, len(thread.messages), 0, 0, 0, 0, 0, "{}", "", "", "{}",
                    len(thread.lines), thread.first_turn_forks,
                ))  # fmt: skip
        with raw.copy(
            seeding._copy_statement("conversations_participant", seeding.PARTICIPANT_COLUMNS)
        ) as copy:
            for kind, plan in built.items():
                thread = plan["thread"]
                newest = (epoch + timedelta(seconds=len(thread.messages))).isoformat()
                people = [(user, "owner")] + ([(second, "member")] if plan["pairs"] else [])
                for person, role in people:
                    copy.write_row((
                        uuid.UUID(int=rng.getrandbits(128), version=4), epoch.isoformat(),
                        newest, ids[kind], person.pk, role, None, None, False,
                        len(thread.messages), epoch.isoformat(), plan["line"],
                        json.dumps(plan["recent"]),
                    ))  # fmt: skip
        rows = 0
        with raw.copy(
            seeding._copy_statement("conversations_message", seeding.MESSAGE_COLUMNS)
        ) as copy:
            # In seq order across the three, as a server would have written them.
            streams = [[(kind, m) for m in plan["thread"].messages] for kind, plan in built.items()]
            for pair in itertools.zip_longest(*streams):
                for kind, m in filter(None, pair):
                    stamp = (epoch + timedelta(seconds=m.seq)).isoformat()
                    assistant = m.role == "assistant"
                    content = text.message(assistant=assistant)
                    if assistant:
                        sender, provider, model = None, "openai", "bench-model"
                    else:
                        sender, provider, model = user.pk, "", ""
                    copy.write_row((
                        m.id, stamp, stamp, ids[kind], m.seq, m.role, "complete", sender,
                        provider, model, content, stamp, "", "", "{}", False, "{}", "", "",
                        m.position, m.line, m.parent.id if m.parent else None, m.version,
                        m.next_turn_forks,
                    ))  # fmt: skip
                    rows += 1
        with raw.copy(
            "COPY conversations_line (id, created_at, updated_at, conversation_id, number, "
            "parent_line, fork_position, ancestry) FROM STDIN"
        ) as copy:
            for kind, plan in built.items():
                for row in plan["thread"].lines.values():
                    stamp = epoch.isoformat()
                    copy.write_row((uuid.UUID(int=rng.getrandbits(128), version=4), stamp,
                                    stamp, ids[kind], row.number, row.parent_line,
                                    row.fork_position, json.dumps(row.ancestry)))  # fmt: skip
        for statement in restore:
            raw.execute(statement)
        # The same rules, in SQL on what was loaded: one message per (line, position) is
        # the unique index just made again; the counters match.
        broken = raw.execute(
            """
            SELECT count(*) FROM conversations_conversation c
            WHERE c.message_count <> (SELECT count(*) FROM conversations_message m
                                      WHERE m.conversation_id = c.id)
               OR c.line_count <> (SELECT count(*) FROM conversations_line l
                                   WHERE l.conversation_id = c.id)
               OR c.line_count <> coalesce((SELECT max(line) FROM conversations_message m
                                            WHERE m.conversation_id = c.id), 0)
            """
        ).fetchone()[0]
        assert broken == 0, "counters do not match the rows"
        details = {
            kind: {
                "messages": len(plan["thread"].messages),
                "lines": len(plan["thread"].lines),
                "reader_line": plan["line"],
                "segments": len(plan["thread"].ancestry(plan["line"])),
            }
            for kind, plan in built.items()
        }
        raw.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, now())").format(sql.Identifier(MARKER_TABLE)),
            [json.dumps(details)],
        )
    started_vacuum = clock()
    with psycopg.connect(args.database_url, autocommit=True) as vacuum:
        vacuum.execute("VACUUM (ANALYZE)")
    return {
        "user": user,
        "second": second,
        "ids": ids,
        "built": built,
        "rows": rows,
        "simulated": simulated,
        "seconds": clock() - started,
        "vacuum": clock() - started_vacuum,
    }


# --- measuring -------------------------------------------------------------------------------


def api_client(user):
    from django.test import Client

    from chatapp.accounts.services import personal_token_create

    issued = personal_token_create(user=user, name="bench versions")
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")


def expect(response, status: int = 200) -> dict:
    if response.status_code != status:
        raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
    return response.json()


def tail_position(conversation_id, line: int) -> int:
    from conversations.models import Message

    return (
        Message.objects.filter(conversation_id=conversation_id, line=line)
        .order_by("-position")
        .values_list("position", flat=True)
        .first()
    )


def measure_reads_and_posts(seeded: dict, client, args) -> tuple[dict, dict]:
    from conversations import selectors, services
    from conversations.models import Conversation

    user, ids, built = seeded["user"], seeded["ids"], seeded["built"]
    deep_before = {kind: args.path_length - DEPTH + 1 for kind in ids}
    operations = {}
    for kind in ("flat", "versions"):
        pk = ids[kind]
        conversation = Conversation(pk=pk)
        url = f"/api/v1/conversations/{pk}/messages"
        before = deep_before[kind]

        def post_service(conversation=conversation):
            services.message_post(conversation=conversation, sender=user, content=CONTENT)

        def post_api(url=url):
            expect(client.post(url, {"content": CONTENT}, content_type="application/json"), 201)

        def newest_selector(pk=pk):
            page = selectors.message_page_rows(user=user, conversation_id=pk, limit=PAGE)
            assert len(page.items) == PAGE

        def deep_selector(pk=pk, before=before):
            page = selectors.message_page_rows(
                user=user, conversation_id=pk, before=before, limit=PAGE
            )
            assert len(page.items) == PAGE and page.items[-1].position == before - 1

        def newest_api(url=url):
            assert len(expect(client.get(url, {"limit": PAGE}))["items"]) == PAGE

        def deep_api(url=url, before=before):
            assert len(expect(client.get(url, {"limit": PAGE, "before": before}))["items"]) == PAGE

        operations |= {
            (kind, "post", "service"): post_service,
            (kind, "post", "API"): post_api,
            (kind, "newest page", "service"): newest_selector,
            (kind, "newest page", "API"): newest_api,
            (kind, "deep page", "service"): deep_selector,
            (kind, "deep page", "API"): deep_api,
        }
    samples = harness.alternate(operations, rounds=args.rounds, warmup=args.warmup)
    # Every post went to the end of the line its reader is shown, on their path.
    posted = 2 * (args.rounds + args.warmup)
    for kind in ("flat", "versions"):
        line = built[kind]["line"]
        assert tail_position(ids[kind], line) == args.path_length + posted, kind
    return samples, deep_before


def measure_switches(seeded: dict, clients: dict, args) -> tuple[dict, dict]:
    from conversations import selectors
    from conversations.models import Participant

    ids, built = seeded["ids"], seeded["built"]
    operations, rows_changed = {}, {}
    # Near by the first reader, deep by the second: a switch at one turn would change what
    # a switch at the other goes back to, were they the same person's.
    readers = {"near": seeded["user"], "deep": seeded["second"]}
    for where, user in readers.items():
        client = clients[where]
        for kind in ("pair", "versions"):
            pk = ids[kind]
            shown, other = built[kind]["pairs"][where]
            state = {"next": other}

            def switch(state=state, shown=shown, other=other, key=(kind, where), client=client):
                target = state["next"]
                body = expect(client.post(f"/api/v1/messages/{target.id}/show?limit={PAGE}"))
                rows_changed.setdefault(key, set()).add(len(body["items"]))
                state["next"] = shown if target is other else other

            def same_rows(pk=pk, position=shown.position, user=user):
                selectors.shown_path_from(
                    user=user, conversation_id=pk, position=position, limit=PAGE
                )

            def same_rows_api(pk=pk, position=shown.position, client=client):
                expect(
                    client.get(
                        f"/api/v1/conversations/{pk}/messages",
                        {"after": position - 1, "limit": PAGE},
                    )
                )

            operations |= {
                (kind, where, "switch (API)"): switch,
                (kind, where, "the same rows read, no switch (API)"): same_rows_api,
                (kind, where, "the same rows read, no switch (selector)"): same_rows,
            }
    # An even number of calls of each switch: every reader ends where they began.
    rounds = args.rounds + args.rounds % 2
    warmup = args.warmup + args.warmup % 2
    samples = harness.alternate(operations, rounds=rounds, warmup=warmup)
    for kind in ("pair", "versions"):
        for user in readers.values():
            line = Participant.objects.get(conversation_id=ids[kind], user=user).line
            assert line == built[kind]["line"], (kind, user, line)
    return samples, {key: sorted(value) for key, value in rows_changed.items()}


def explain(seeded: dict, deep_before: dict) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of each SQL statement of the page reads, captured from
    the selector, run again on a psycopg connection (warm, as the timed runs were)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations import selectors

    user, ids = seeded["user"], seeded["ids"]
    found = {}
    raw = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    for kind in ("flat", "versions"):
        for page, before in (("newest", None), ("deep", deep_before[kind])):
            with CaptureQueriesContext(connection) as queries:
                selectors.message_page_rows(
                    user=user, conversation_id=ids[kind], before=before, limit=PAGE
                )
            statements = []
            for query in queries.captured_queries:
                text = query["sql"]
                lines = [
                    row[0]
                    for row in raw.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + text
                    )
                ]
                statements.append(
                    {
                        "sql": text,
                        "plan": "\n".join(lines),
                        "execution": next(
                            (row for row in lines if row.startswith("Execution Time")), ""
                        ),
                    }
                )
            found[(kind, page)] = statements
    found["server"] = raw.execute("SHOW server_version").fetchone()[0]
    raw.close()
    return found


def path_cost(seeded: dict) -> dict:
    """What a page and a switch spend in Python on the reader's path: decoding a Line's
    ancestry (jsonb, as Django's JSONField does) and building the Path and its filter."""
    from conversations.models import Line
    from conversations.selectors.paths import Path

    plan = seeded["built"]["versions"]
    text = Line.objects.filter(conversation_id=seeded["ids"]["versions"], number=plan["line"])
    ancestry = text.values_list("ancestry", flat=True).get()
    encoded = json.dumps(ancestry)
    clock, runs = time.perf_counter, 1_000
    started = clock()
    for _ in range(runs):
        json.loads(encoded)
    decode = (clock() - started) / runs
    started = clock()
    for _ in range(runs):
        Path.of(plan["line"], ancestry, 100_100).q(100_051, 100_100)
    build = (clock() - started) / runs
    return {"pairs": len(ancestry), "bytes": len(encoded), "decode": decode, "build": build}


# --- reporting -------------------------------------------------------------------------------


def median_ms(samples: list[float]) -> float:
    return harness.Summary.of(samples).median * 1000


def p90_ms(samples: list[float]) -> float:
    return harness.Summary.of(samples).p90 * 1000


def _buffers(statement: dict) -> str:
    match = re.search(r"Buffers: (.*)", statement["plan"])
    return match[1] if match else "none"


def section(seeded, reads, switches, rows_changed, plans, cost, args, load, cpu) -> str:
    import django

    details = {kind: plan for kind, plan in seeded["built"].items()}
    thread = details["versions"]["thread"]
    segments = len(thread.ancestry(details["versions"]["line"]))
    kinds = "; ".join(
        f"{count:,} by “{kind}”"
        for kind, count in sorted(thread.kinds.items(), key=lambda item: -item[1])
    )
    out = [
        "## Versions of a turn: appending, pages and switching with 1,000 versions",
        "",
        harness.written_by(SCRIPT),
        "",
        "Issue 16's targets: appending a message and reading the newest page and a page "
        f"{DEPTH:,} messages deep cost the same in a conversation with 1,000 versions, its "
        "reader shown a path through them, as in one with none; switching version costs in "
        "proportion to the rows that change on the screen, not to the versions or the depth.",
        "",
        "### Appending and reading",
        "",
        "| operation | 0 versions: median (p90) | 1,000 versions: median (p90) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    ratios = []
    for what in ("post", "newest page", "deep page"):
        for level in ("service", "API"):
            flat = reads[("flat", what, level)]
            many = reads[("versions", what, level)]
            ratio = median_ms(many) / median_ms(flat)
            ratios.append(ratio)
            label = {
                ("post", "service"): "post: `services.message_post`",
                ("post", "API"): "post: `POST …/conversations/{id}/messages`",
                ("newest page", "service"): "newest page: `selectors.message_page_rows`",
                ("newest page", "API"): "newest page: `GET …/messages?limit=50`",
                ("deep page", "service"): f"page {DEPTH:,} deep: `message_page_rows`",
                ("deep page", "API"): f"page {DEPTH:,} deep: `GET …/messages?before=…`",
            }[(what, level)]
            out.append(
                f"| {label} | {harness.ms(median_ms(flat))} ({harness.ms(p90_ms(flat))}) "
                f"| {harness.ms(median_ms(many))} ({harness.ms(p90_ms(many))}) | {ratio:.2f}x |"
            )
    worst = max(ratios)
    out += [
        "",
        f"Worst ratio at the median: {worst:.2f}x. Read as “the same cost” when within "
        f"{SAME:.1f}x (this script's bar for one run on a shared 2-core machine, not a figure "
        f"of the issue): {harness.verdict(worst <= SAME)}.",
        "",
        "### Switching version",
        "",
        "`POST /api/v1/messages/{id}/show?limit=50` (what the thread's version arrows call: "
        "`services.version_show`, which moves the reader's line and records a `path.changed` "
        "event, then `selectors.shown_path_from`, the page of the path from that turn on), "
        "each call switching to the other of the turn's two versions and back on the next; "
        "the near turn is switched by the conversation's owner, the deep one by a second "
        "reader shown the same path, all in one alternation. "
        "Beside it, the same rows read without switching (`GET …/messages?after=…` and the "
        "selector): the difference is the price of the switch itself.",
        "",
        "| conversation | turn | rows that change | switch (API) | the same rows read (API) "
        "| the same rows read (selector) | switch less read |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, label in (("pair", "2 versions"), ("versions", "1,000 versions")):
        for where in ("near", "deep"):
            shown = details[kind]["pairs"][where][0]
            depth = args.path_length - shown.position
            switch = median_ms(switches[(kind, where, "switch (API)")])
            api = median_ms(switches[(kind, where, "the same rows read, no switch (API)")])
            selector = median_ms(
                switches[(kind, where, "the same rows read, no switch (selector)")]
            )
            changed = " or ".join(str(n) for n in rows_changed[(kind, where)])
            out.append(
                f"| {label} | {where}: position {shown.position:,} ({depth:,} from the end) "
                f"| {changed} | {harness.ms(switch)} | {harness.ms(api)} "
                f"| {harness.ms(selector)} | {harness.ms(switch - api)} |"
            )
    near = median_ms(switches[("versions", "near", "switch (API)")])
    deep = median_ms(switches[("versions", "deep", "switch (API)")])
    pair_deep = median_ms(switches[("pair", "deep", "switch (API)")])
    out += [
        "",
        f"With 1,000 versions, switching deep (a page of rows) costs {deep / near:.2f}x "
        f"switching near the end (a few rows); switching deep with 1,000 versions costs "
        f"{deep / pair_deep:.2f}x switching deep with 2.",
        "",
        "What grows with the versions is Python's work on the path, not the database's: "
        f"the reader's line's ancestry holds {cost['pairs']} pairs ({cost['bytes']:,} bytes "
        f"of JSON); decoding it takes {cost['decode'] * 1e6:,.0f} µs and building the Path "
        f"and the page's filter from it {cost['build'] * 1e6:,.0f} µs, on every page read "
        "(once) and every switch (`shown_line_for` reads and decodes the ancestries of the "
        "up to 10 lines the reader was shown last, each as long: about ten times that). "
        "Both grow with the lines on the reader's path, not with the rows shown.",
        "",
        "### The page query's plan on the forked path",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of each statement `selectors.message_page_rows` "
        "sends (captured from a call, run again on a psycopg connection after the timed "
        "rounds, so on a warm cache like them):",
        "",
        "| conversation | page | statement | buffers | execution |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = ["the reader's participation and path", "the page's messages"]
    for (kind, page), statements in ((k, v) for k, v in plans.items() if k != "server"):
        for index, statement in enumerate(statements):
            name = names[index] if index < len(names) else "parts"
            took = statement["execution"].replace("Execution Time: ", "")
            out.append(
                f"| {'0 versions' if kind == 'flat' else '1,000 versions'} | {page} | {name} "
                f"| {_buffers(statement)} | {took} |"
            )
    deep_messages = plans[("versions", "deep")][1]
    newest_path = plans[("versions", "newest")][0]
    out += [
        "",
        "The deep page's messages on the forked path (two lines: the window straddles the "
        "fork at position 76):",
        "",
        "```sql",
        _short_sql(deep_messages["sql"]),
        "```",
        "",
        "```",
        deep_messages["plan"],
        "```",
        "",
        "The reader's participation with its line's ancestry and tail (1,000 versions):",
        "",
        "```",
        newest_path["plan"],
        "```",
        "",
        "### Method",
        "",
        f"- **Data** (database `{harness.admin_conninfo(args.database_url)[0]}`, seeded "
        f"afresh by the run in {seeded['seconds']:.0f} s, {seeded['rows']:,} messages): three "
        "assistant conversations of one user, each a path of "
        f"{args.path_length:,} messages, alternating prompt and reply. *0 versions*: "
        "one line. *2 versions*: one line, and the two turns that the switch is timed at. "
        f"*1,000 versions*: {len(thread.lines):,} lines made by {kinds}. "
        f"The reader is shown line {details['versions']['line']}, whose path runs through "
        f"{segments} lines ({len(thread.messages):,} messages in the conversation); "
        f"the deep page ends {DEPTH:,} positions before the newest and straddles two of "
        "those lines. Rows, Line ancestries and counters are computed by the script as "
        "`services.versions` would have left them and sent with COPY; before any timing the "
        "script checks that each line's own messages are one per position from its fork "
        "with no gap, each path's segments are held by their lines, each ancestry is its "
        "parent line's cut at the fork plus itself, each parent is the message before on "
        "the path, the versions of each turn are numbered 1..n and n - 1 is the parent's "
        "next_turn_forks (first_turn_forks for the first turn), and message_count and "
        f"line_count match the rows; then `VACUUM ANALYZE` ({seeded['vacuum']:.0f} s).",
        f"- **Timing:** {args.rounds} timed rounds after {args.warmup} untimed, every "
        "operation once a round, the order rotating (`harness.alternate`); wall-clock time "
        "per call in this process; the API through Django's test client (routing, "
        "middleware, bearer-token auth, view, JSON) without a socket. Posting and reading "
        "run in one alternation (each post lengthens its path, so the newest page moves "
        "with it), switching in a second one before it. The conversation and participant "
        "tables hold only these three conversations (the planner reads them with sequential "
        "scans of one page); the message table holds only their messages.",
        f"- **Machine:** {harness.machine()}; Django {django.get_version()}, psycopg "
        f"{psycopg.__version__}, PostgreSQL {plans['server']} over TCP on loopback "
        "(autovacuum as the server has it: off on this machine, hence the VACUUM). "
        f"Load average (1 min) {load[0]:.2f} before the timed rounds, {load[1]:.2f} after"
        + (f"; {cpu.describe()}" if cpu else "")
        + ". Another engineer's test run may share the machine: compare within a row.",
    ]
    return "\n".join(out)


def _short_sql(text: str) -> str:
    """The statement without its long column list (what it reads is the point)."""
    marker = ' FROM "conversations_message" '
    if marker not in text:
        return text
    return "SELECT … (the page's columns, and has_parts: EXISTS on the parts) FROM " + (
        text.rsplit(marker, 1)[1].join(['"conversations_message" ', ""])
    )


def main() -> None:
    args = parse_args()
    os.environ.setdefault("POST_RATE_LIMIT", "1000000000")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    prepare_database(args.database_url, reseed=args.reseed)
    harness.setup_django(args.database_url, migrate=True)
    print("Seeding…", flush=True)
    seeded = load(args)
    print(
        f"Seeded {seeded['rows']:,} messages in {seeded['seconds']:.1f} s "
        f"(simulated and checked in {seeded['simulated']:.1f} s)."
    )
    client = api_client(seeded["user"])
    clients = {"near": client, "deep": api_client(seeded["second"])}
    load_before = harness.load_average()
    cpu_before = harness.cpu_counters()
    started = time.perf_counter()
    switches, rows_changed = measure_switches(seeded, clients, args)
    print(f"Switches timed in {time.perf_counter() - started:.1f} s.", flush=True)
    started = time.perf_counter()
    reads, deep_before = measure_reads_and_posts(seeded, client, args)
    print(f"Posts and pages timed in {time.perf_counter() - started:.1f} s.", flush=True)
    load_after = harness.load_average()
    cpu = harness.CpuShare.between(cpu_before, harness.cpu_counters())
    plans = explain(seeded, deep_before)
    cost = path_cost(seeded)
    body = section(
        seeded,
        reads,
        switches,
        rows_changed,
        plans,
        cost,
        args,
        (load_before, load_after),
        cpu,
    )
    print(body)
    harness.write_script_section(args.output, SCRIPT, body)
    print(f"Wrote {args.output}.")


if __name__ == "__main__":
    main()
