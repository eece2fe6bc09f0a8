"""Seed a PostgreSQL database for bench/api.py: 1,000,000 messages in 10,000 conversations.

    .venv/bin/python bench/seed.py [--database-url URL] [--reseed]

The database (default: env BENCH_API_DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/chatapp_bench_api; not bench/post_message.py's
chatapp_bench) is created when missing and migrated. A marker table, `bench_seed`, records
the spec it was seeded to: a database already seeded to the same spec is reused as it is
(migrated, and vacuumed and analysed when a migration ran); one seeded to another spec, or
whose seeding never finished, is dropped and seeded again. A database without the marker
that holds tables is never dropped unless --reseed says so.

What it holds, all owned by the user `bench` (password below; a benchmark database only):

- 10,000 conversations, 1,000,000 messages. One conversation, a group with the second
  user `bench_peer`, has exactly 100,000 messages; the other 900,000 are spread over the
  rest with a long-tailed (log-normal) size, every conversation at least one message.
  Every fifth conversation is a group with `bench_peer` in a shared workspace; the others are
  assistant conversations in bench's personal workspace (user and assistant turns alternate).
- Text: English-like sentences drawn from a word list with Zipf-distributed frequencies and
  a seeded RNG, so that full-text search has common and rare words to match and rank.
  The same seed gives the same conversations, messages and text (the timestamps are laid
  out over the year before the seeding).
- The invariants of docs/data-model.md: seq 1..n per conversation with no gap,
  message_count = n = the highest seq, last_activity_at = the newest message's created_at,
  created_at rising with seq, each participant's last_read_seq between their own newest
  message and message_count, usage totals zero (no message has token counts). They are
  checked in SQL before the marker is written.

How: the users, the shared workspace and its membership go through the services (as every
write should). The 10,000 conversations, their participants and the 1,000,000 messages are
bulk rows sent with PostgreSQL COPY (psycopg's cursor.copy): acceptable for a benchmark seed
only, because the services append one message per transaction and would take hours. The
counters are computed here, for all of it at once, and checked afterwards. Messages are
sent in time order across conversations, as a live server would have written them, so a
page of one conversation is spread over the table as it would be in production. The
message table's secondary indexes and foreign keys are dropped for the load and created
again after it (one sort per index instead of a million index insertions, one join per
foreign key instead of a million lookups: at 100,000 messages, 10 s in all against 18 s with
them in place); it all happens in one transaction, so a failed
run leaves no half-loaded table. VACUUM ANALYZE at the end (autovacuum may be off).
"""

import argparse
import itertools
import json
import math
import os
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import harness  # bench/harness.py (the script's own folder is on sys.path)
import psycopg
from psycopg import sql

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/chatapp_bench_api"

# Bump when the generated data changes, so that older seeds are not reused.
SEED_FORMAT = 2  # 2: the versions of issue 16 (position, line, parent)
MARKER_TABLE = "bench_seed"

BENCH_USERNAME = "bench"
PEER_USERNAME = "bench_peer"
# The benchmark database's own account; bench/api.py signs in with it.
BENCH_PASSWORD = "bench-password-1"  # noqa: S105
SHARED_WORKSPACE_SLUG = "bench-team"
# bench/api.py searches for these: a word in many messages (the target) and a rare one.
SEARCH_WORD = "project"
RARE_SEARCH_WORD = "lighthouse"

# Every fifth conversation is a group with the peer; the first (the big one) is one of them.
GROUP_EVERY = 5
TIME_WINDOW = timedelta(days=365)

# Roughly in order of frequency: the first words of the list are drawn most often (Zipf).
# Function words first (the English configuration drops them from the index), then everyday
# and workplace vocabulary.
WORD_LIST = """
the of and to a in is it you that he was for on are with as I his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
project
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us again
animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye
never last let thought city tree cross farm hard start might story saw far sea draw left late
run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river
car feet care second book carry took science eat room friend began idea fish mountain stop
once base hear horse cut sure watch color face wood main enough plain girl usual young ready
above ever red list though feel talk bird soon body dog family direct pose leave song measure
door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour
better true during hundred five remember step early hold west ground interest reach fast
verb sing listen six table travel less morning ten simple several vowel toward war lay
against pattern slow center love person money serve appear road map rain rule govern pull
cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan
figure star box noun field rest correct able pound done beauty drive stood contain front
teach week final gave green quick develop ocean warm free minute strong special mind behind
clear tail produce fact street inch multiply nothing course stay wheel full force blue object
decide surface deep moon island foot system busy test record boat common gold possible plane
stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire
bring distant fill east paint language among deadline meeting review release
customer budget report schedule feature design server database query index deploy version
branch merge ticket sprint estimate invoice contract proposal draft feedback launch
roadmap priority milestone stakeholder quarter revenue forecast pipeline dashboard metric
incident outage latency cache cluster backup migration schema endpoint request response
token session login password account profile settings notification email calendar
agenda summary decision action owner team manager engineer designer analyst support
office remote travel hotel flight lunch coffee weekend holiday birthday party gift
weather garden kitchen recipe dinner breakfast movie concert ticket museum library
novel poem chapter lesson homework exam teacher student campus lecture seminar thesis
research experiment result sample theory evidence analysis chart survey interview
market price cost profit loss tax bank loan payment receipt refund order shipment
delivery warehouse supplier vendor partner client lawyer doctor nurse patient hospital
medicine symptom appointment insurance vacation beach forest valley lake bridge tunnel
station train bus bicycle engine battery charger laptop phone screen keyboard printer
camera photo video podcast episode channel stream playlist album guitar piano violin
painter gallery sculpture festival parade election policy debate vote council mayor
"""
# Rare words, each drawn about 1/50 as often as the last word of the list above: a search
# for one of them matches about one message in ten thousand.
RARE_WORD_LIST = """
lighthouse harbor anchor compass glacier volcano canyon meadow orchard vineyard
"""
RARE_WORD_FACTOR = 50
# Each word once (a few appear twice above), in the order of the list.
COMMON_WORDS = list(dict.fromkeys(WORD_LIST.split()))
WORDS = COMMON_WORDS + RARE_WORD_LIST.split()

# Zipf-Mandelbrot weights: the k-th common word is drawn in proportion to 1 / (k + 2.7); each
# rare word RARE_WORD_FACTOR times less often than the last common one.
WORD_WEIGHTS = list(
    itertools.accumulate(
        [1 / (rank + 2.7) for rank in range(1, len(COMMON_WORDS) + 1)]
        + [1 / (len(COMMON_WORDS) + 2.7) / RARE_WORD_FACTOR] * (len(WORDS) - len(COMMON_WORDS))
    )
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_API_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="PostgreSQL URL of the benchmark database (created when missing).",
    )
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--big-conversation",
        type=int,
        default=100_000,
        help="messages in the one big conversation (counted in --messages)",
    )
    parser.add_argument("--seed", type=int, default=20_261_122, help="the RNG seed")
    parser.add_argument(
        "--reseed",
        action="store_true",
        help="drop and seed the database again, whatever it holds",
    )
    args = parser.parse_args()
    rest = args.messages - args.big_conversation
    if args.conversations < 2 or args.big_conversation < 1 or rest < args.conversations - 1:
        parser.error(
            "need at least 2 conversations, and enough messages for one in each besides "
            "the big conversation"
        )
    return args


@dataclass(frozen=True)
class Spec:
    """What a seeded database holds; equal specs give the same data (timestamps aside)."""

    conversations: int
    messages: int
    big_conversation: int
    rng_seed: int
    seed_format: int = SEED_FORMAT

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# --- the database --------------------------------------------------------------------------


def database_state(url: str, spec: Spec) -> str:
    """'missing', 'seeded' (to this spec), 'ours' (our marker: another spec, or unfinished),
    'empty' (no tables) or 'foreign' (tables, no marker: not ours to drop)."""
    if not harness.database_exists(url):
        return "missing"
    with psycopg.connect(url, autocommit=True) as connection:
        has_marker = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [MARKER_TABLE]
        ).fetchone()[0]
        if has_marker:
            row = connection.execute(
                sql.SQL("SELECT spec, complete FROM {}").format(sql.Identifier(MARKER_TABLE))
            ).fetchone()
            if row and row[1] and row[0] == json.loads(spec.as_json()):
                return "seeded"
            return "ours"
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    return "empty" if tables == 0 else "foreign"


def migrate() -> int:
    """Apply the migrations; returns how many there were to apply."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if pending:
        print(f"Applied {len(pending)} migrations in {time.perf_counter() - started:.1f} s.")
    return len(pending)


# --- text ------------------------------------------------------------------------------------


class TextMaker:
    """Sentences of words drawn by frequency: enough like English for stemming and ranking."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def message(self, *, assistant: bool) -> str:
        rng = self.rng
        count = rng.randint(2, 6) if assistant else rng.randint(1, 3)
        lengths = [rng.randint(4, 16) for _ in range(count)]
        words = rng.choices(WORDS, cum_weights=WORD_WEIGHTS, k=sum(lengths))
        sentences, position = [], 0
        for length in lengths:
            chunk = words[position : position + length]
            position += length
            end = "?" if rng.random() < 0.15 else "."
            sentences.append(chunk[0].capitalize() + " " + " ".join(chunk[1:]) + end)
        if assistant and count > 3:
            # A paragraph break in longer answers (COPY text format escapes the newline).
            return " ".join(sentences[:2]) + "\n\n" + " ".join(sentences[2:])
        return " ".join(sentences)

    def title(self) -> str:
        words = self.rng.choices(COMMON_WORDS[300:], k=3)
        return " ".join(words).capitalize()


def _copy_text(value: str) -> str:
    """A value in COPY's text format (the generated text has no tabs or backslashes)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# --- the plan: sizes, times, senders and read markers, all before any text -----------------


@dataclass
class PlannedConversation:
    index: int
    id: uuid.UUID
    kind: str  # "assistant" or "group"
    size: int
    # Microseconds since the start of the time window, one per message, rising.
    times: list[int]
    # Groups only: for each seq (index seq - 1), whether the peer (else bench) sent it.
    peer_sent: bytearray | None
    title: str = ""
    bench_read: int = 0
    peer_read: int = 0
    archived: bool = False
    pinned: bool = False
    muted: bool = False
    created_at: int = 0

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

    def sent_by_peer(self, seq: int) -> bool:
        return self.peer_sent is not None and self.peer_sent[seq - 1] == 1

    def sent_by_bench(self, seq: int) -> bool:
        if self.is_group:
            return not self.sent_by_peer(seq)
        return seq % 2 == 1  # assistant conversations: bench asks, the assistant answers


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _sizes(spec: Spec, rng: random.Random) -> list[int]:
    """The big conversation first, then the rest: log-normal, at least 1, summing exactly."""
    others = spec.conversations - 1
    rest = spec.messages - spec.big_conversation
    weights = [rng.lognormvariate(0, 1) for _ in range(others)]
    total = sum(weights)
    spare = rest - others  # each gets 1, the rest in proportion to its weight
    sizes = [1 + math.floor(spare * weight / total) for weight in weights]
    # Hand out what flooring left over, one each, in a seeded order.
    shortfall = rest - sum(sizes)
    for position in rng.sample(range(others), shortfall):
        sizes[position] += 1
    return [spec.big_conversation, *sizes]


def _times(rng: random.Random, size: int, start: int, span: int) -> list[int]:
    """`size` rising instants in [start, start + span]: exponential gaps, scaled to fit."""
    gaps = [rng.expovariate(1.0) for _ in range(size)]
    scale = span / sum(gaps)
    times, now = [], start
    for gap in gaps:
        now += max(1, int(gap * scale))
        times.append(now)
    return times


def _read_marker(rng: random.Random, size: int, own_newest: int) -> int:
    """Mostly everything read; sometimes a few unread, never below one's own newest message
    (posting marks it read) nor above the last message."""
    if rng.random() < 0.85:
        return size
    return rng.randint(max(own_newest, size - 20, 0), size)


def plan(spec: Spec, rng: random.Random) -> list[PlannedConversation]:
    window = int(TIME_WINDOW.total_seconds() * 1_000_000)
    hour, day = 3_600_000_000, 86_400_000_000
    text = TextMaker(rng)
    planned = []
    for index, size in enumerate(_sizes(spec, rng)):
        kind = "group" if index % GROUP_EVERY == 0 else "assistant"
        if index == 0:
            start, span = 0, window - hour
        else:
            span = min(int(rng.uniform(hour, 60 * day) * min(1, size / 20)) + size, window // 2)
            start = rng.randint(0, window - span - hour)
        conversation = PlannedConversation(
            index=index,
            id=_uuid(rng),
            kind=kind,
            size=size,
            times=_times(rng, size, start, span),
            peer_sent=bytearray(rng.random() < 0.4 for _ in range(size))
            if kind == "group"
            else None,
        )
        conversation.created_at = conversation.times[0] - 1_000_000
        own_bench = next((seq for seq in range(size, 0, -1) if conversation.sent_by_bench(seq)), 0)
        conversation.bench_read = _read_marker(rng, size, own_bench)
        if conversation.is_group:
            own_peer = next(
                (seq for seq in range(size, 0, -1) if conversation.sent_by_peer(seq)), 0
            )
            conversation.peer_read = _read_marker(rng, size, own_peer)
        if index > 0:
            conversation.archived = rng.random() < 0.01
            conversation.pinned = rng.random() < 0.005
            conversation.muted = rng.random() < 0.01
        if conversation.is_group:
            conversation.title = (
                f"The big thread ({size:,} messages)" if index == 0 else text.title()
            )
        planned.append(conversation)
    return planned


# --- loading ---------------------------------------------------------------------------------

MESSAGE_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "conversation_id",
    "seq",
    "role",
    "status",
    "sender_id",
    "provider",
    "model",
    "content",
    "completed_at",
    "error",
    "error_type",
    "error_details",
    "is_aborted",
    "meta",
    "hidden_reason",
    "finish_reason",
    # Versions of a turn (issue 16): a linear seed is line 0, each message at position seq
    # with the message before it as its parent, version 1 of its turn, no forks.
    "position",
    "line",
    "parent_id",
    "version",
    "next_turn_forks",
)
CONVERSATION_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "workspace_id",
    "kind",
    "title",
    "created_by_id",
    "status",
    "direct_key",
    "last_activity_at",
    "message_count",
    "total_input_tokens",
    "total_output_tokens",
    "total_cached_tokens",
    "total_reasoning_tokens",
    "total_tool_time_ms",
    "tool_counts",
    "subject_type",
    "subject_id",
    "metadata",
    "line_count",
    "first_turn_forks",
)
PARTICIPANT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "conversation_id",
    "user_id",
    "role",
    "pinned_at",
    "archived_at",
    "muted",
    "last_read_seq",
    "joined_at",
    "line",
    "recent_lines",
)


def _copy_statement(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def drop_message_indexes(cursor) -> list[str]:
    """Drop the message table's foreign keys, unique (conversation, seq) constraint and
    secondary indexes; return the statements that make them again. The primary key stays:
    other tables' foreign keys hang on it."""
    restore = []
    constraints = cursor.execute(
        """
        SELECT conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE conrelid = 'conversations_message'::regclass AND contype IN ('f', 'u')
        ORDER BY contype DESC, conname
        """
    ).fetchall()
    for name, _kind, definition in constraints:
        cursor.execute(
            sql.SQL("ALTER TABLE conversations_message DROP CONSTRAINT {}").format(
                sql.Identifier(name)
            )
        )
        # Unique constraints ('u') first, so the foreign keys re-check against built indexes.
        restore.append(
            sql.SQL("ALTER TABLE conversations_message ADD CONSTRAINT {} {}")
            .format(sql.Identifier(name), sql.SQL(definition))
            .as_string(cursor)
        )
    indexes = cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = 'conversations_message'::regclass
          AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """
    ).fetchall()
    for name, definition in indexes:
        cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        restore.insert(0, definition)
    return restore


def _timestamp(epoch: datetime, microseconds: int) -> str:
    return (epoch + timedelta(microseconds=microseconds)).isoformat()


def copy_messages(
    cursor, planned: list[PlannedConversation], users: dict, epoch: datetime, rng: random.Random
) -> int:
    """Every message, in time order across conversations; fills in the assistant
    conversations' titles from their first message as the services would."""
    from conversations.services.messages import derive_title

    order = sorted(
        (time_, conversation.index, seq)
        for conversation in planned
        for seq, time_ in enumerate(conversation.times, start=1)
    )
    text = TextMaker(rng)
    bench, peer = str(users["bench"]), str(users["peer"])
    ids = {conversation.index: str(conversation.id) for conversation in planned}
    rows = 0
    batch: list[str] = []
    # Each conversation's newest message so far: the parent of its next one.
    previous: dict[int, str] = {}
    with cursor.copy(_copy_statement("conversations_message", MESSAGE_COLUMNS)) as copy:
        for time_, index, seq in order:
            conversation = planned[index]
            by_bench = conversation.sent_by_bench(seq)
            assistant = not conversation.is_group and not by_bench
            content = text.message(assistant=assistant)
            if seq == 1 and not conversation.is_group:
                conversation.title = derive_title(content)
            stamp = _timestamp(epoch, time_)
            if assistant:
                role, sender, provider, model = "assistant", "\\N", "openai", "bench-model"
            else:
                role, provider, model = "user", "", ""
                sender = bench if by_bench else peer
            message_id = str(_uuid(rng))
            parent = previous.get(index, "\\N")
            previous[index] = message_id
            batch.append(
                f"{message_id}\t{stamp}\t{stamp}\t{ids[index]}\t{seq}\t{role}\tcomplete\t"
                f"{sender}\t{provider}\t{model}\t{_copy_text(content)}\t{stamp}\t\t\t{{}}\tf\t"
                f"{{}}\t\t\t{seq}\t0\t{parent}\t1\t0\n"
            )
            if len(batch) == 5_000:
                copy.write("".join(batch))
                rows += len(batch)
                batch = []
        copy.write("".join(batch))
        rows += len(batch)
    return rows


def copy_conversations(
    cursor, planned: list[PlannedConversation], users: dict, workspaces: dict, epoch: datetime
) -> None:
    with cursor.copy(_copy_statement("conversations_conversation", CONVERSATION_COLUMNS)) as copy:
        for conversation in planned:
            created = _timestamp(epoch, conversation.created_at)
            newest = _timestamp(epoch, conversation.times[-1])
            workspace = workspaces["shared" if conversation.is_group else "personal"]
            copy.write_row(
                (
                    conversation.id,
                    created,
                    newest,
                    workspace,
                    conversation.kind,
                    conversation.title,
                    users["bench"],
                    "active",
                    "",
                    newest,
                    conversation.size,
                    0,
                    0,
                    0,
                    0,
                    0,
                    "{}",
                    "",
                    "",
                    "{}",
                    0,
                    0,
                )
            )


def copy_participants(
    cursor, planned: list[PlannedConversation], users: dict, epoch: datetime, rng: random.Random
) -> int:
    rows = 0
    with cursor.copy(_copy_statement("conversations_participant", PARTICIPANT_COLUMNS)) as copy:
        for conversation in planned:
            created = _timestamp(epoch, conversation.created_at)
            people = [("bench", "owner", conversation.bench_read)]
            if conversation.is_group:
                people.append(("peer", "member", conversation.peer_read))
            for who, role, read in people:
                mine = who == "bench"
                copy.write_row(
                    (
                        _uuid(rng),
                        created,
                        _timestamp(epoch, conversation.times[-1]),
                        conversation.id,
                        users[who],
                        role,
                        _timestamp(epoch, conversation.times[-1])
                        if mine and conversation.pinned
                        else None,
                        _timestamp(epoch, conversation.times[-1])
                        if mine and conversation.archived
                        else None,
                        mine and conversation.muted,
                        read,
                        created,
                        0,
                        "[]",
                    )
                )
                rows += 1
    return rows


INVARIANT_CHECKS = {
    "message_count is the number of messages and the highest seq, seq starts at 1": """
        SELECT count(*) FROM conversations_conversation c
        LEFT JOIN (
            SELECT conversation_id, count(*) AS n, min(seq) AS low, max(seq) AS high
            FROM conversations_message GROUP BY conversation_id
        ) m ON m.conversation_id = c.id
        WHERE coalesce(m.n, 0) <> c.message_count
           OR coalesce(m.high, 0) <> c.message_count
           OR (m.n > 0 AND m.low <> 1)
    """,
    "last_activity_at is the newest message's created_at (seq = message_count)": """
        SELECT count(*) FROM conversations_conversation c
        JOIN conversations_message m ON m.conversation_id = c.id AND m.seq = c.message_count
        WHERE m.created_at <> c.last_activity_at
    """,
    "created_at rises with seq": """
        SELECT count(*) FROM (
            SELECT created_at < lag(created_at) OVER (
                PARTITION BY conversation_id ORDER BY seq) AS backwards
            FROM conversations_message
        ) ordered WHERE backwards
    """,
    "last_read_seq is between one's own newest message and message_count": """
        SELECT count(*) FROM conversations_participant p
        JOIN conversations_conversation c ON c.id = p.conversation_id
        LEFT JOIN (
            SELECT conversation_id, sender_id, max(seq) AS newest
            FROM conversations_message WHERE sender_id IS NOT NULL GROUP BY 1, 2
        ) own ON own.conversation_id = p.conversation_id AND own.sender_id = p.user_id
        WHERE p.last_read_seq > c.message_count OR p.last_read_seq < coalesce(own.newest, 0)
    """,
    "one line (0): position is seq, the parent is the message before, version 1": """
        SELECT count(*) FROM conversations_message m
        LEFT JOIN conversations_message p ON p.id = m.parent_id
        WHERE m.position <> m.seq OR m.line <> 0 OR m.version <> 1 OR m.next_turn_forks <> 0
           OR (m.parent_id IS NULL) <> (m.seq = 1)
           OR (m.parent_id IS NOT NULL AND (p.id IS NULL
               OR p.conversation_id <> m.conversation_id OR p.seq <> m.seq - 1))
    """,
    "usage totals match the messages (none has token counts)": """
        SELECT (SELECT count(*) FROM conversations_conversation
                WHERE total_input_tokens + total_output_tokens + total_cached_tokens
                      + total_reasoning_tokens <> 0)
             + (SELECT count(*) FROM conversations_message
                WHERE prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)
    """,
}


def check_invariants(cursor) -> None:
    for description, query in INVARIANT_CHECKS.items():
        started = time.perf_counter()
        broken = cursor.execute(query).fetchone()[0]
        if broken:
            raise SystemExit(f"Seeding broke an invariant ({broken} rows): {description}")
        print(f"  {time.perf_counter() - started:6.1f} s  holds: {description}")


def seed(url: str, spec: Spec) -> dict:
    """Load the whole spec in one transaction; returns the marker's details and timings."""
    from django.db import connection, transaction

    from chatapp.accounts.services import user_create
    from conversations.services.workspaces import membership_add, workspace_create

    timings: dict[str, float] = {}
    clock = time.perf_counter
    rng = random.Random(spec.rng_seed)
    epoch = (datetime.now(UTC) - TIME_WINDOW).replace(microsecond=0)

    started = clock()
    planned = plan(spec, rng)
    timings["plan"] = clock() - started
    print(f"Planned {len(planned):,} conversations in {timings['plan']:.1f} s.")

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")

        started = clock()
        bench = user_create(
            username=BENCH_USERNAME, password=BENCH_PASSWORD, display_name="Bench User"
        )
        peer = user_create(username=PEER_USERNAME, password=None, display_name="Bench Peer")
        shared = workspace_create(name="Bench team", slug=SHARED_WORKSPACE_SLUG, owner=bench)
        membership_add(workspace=shared, user=peer)
        users = {"bench": bench.pk, "peer": peer.pk}
        workspaces = {"personal": bench.default_workspace_id, "shared": shared.pk}
        timings["users"] = clock() - started

        raw = cursor.cursor  # psycopg's own cursor, for COPY
        # Run the foreign-key checks the services' inserts left pending (Django's are
        # deferred), or PostgreSQL refuses to alter the tables they touch.
        raw.execute("SET CONSTRAINTS ALL IMMEDIATE")
        started = clock()
        restore = drop_message_indexes(raw)
        timings["drop indexes"] = clock() - started

        started = clock()
        messages = copy_messages(raw, planned, users, epoch, rng)
        timings["copy messages"] = clock() - started
        print(f"Copied {messages:,} messages in {timings['copy messages']:.1f} s.")

        started = clock()
        copy_conversations(raw, planned, users, workspaces, epoch)
        participants = copy_participants(raw, planned, users, epoch, rng)
        timings["copy conversations"] = clock() - started
        print(
            f"Copied {len(planned):,} conversations and {participants:,} participants in "
            f"{timings['copy conversations']:.1f} s."
        )

        for statement in restore:
            started = clock()
            raw.execute(statement)
            elapsed = clock() - started
            timings["indexes and keys"] = timings.get("indexes and keys", 0) + elapsed
            print(f"  {elapsed:6.1f} s  {statement[:110]}")

        started = clock()
        check_invariants(raw)
        timings["check invariants"] = clock() - started
        print(f"Checked the invariants in {timings['check invariants']:.1f} s.")

        details = {
            "bench_user_id": str(bench.pk),
            "peer_user_id": str(peer.pk),
            "bench_username": BENCH_USERNAME,
            "big_conversation_id": str(planned[0].id),
            "big_conversation_size": planned[0].size,
            "shared_workspace": SHARED_WORKSPACE_SLUG,
            "search_word": SEARCH_WORD,
            "rare_search_word": RARE_SEARCH_WORD,
            "timings_seconds": {name: round(value, 1) for name, value in timings.items()},
        }
        raw.execute(
            sql.SQL("UPDATE {} SET complete = true, details = %s, seeded_at = now()").format(
                sql.Identifier(MARKER_TABLE)
            ),
            [json.dumps(details)],
        )
    return details


def create_marker(url: str, spec: Spec) -> None:
    """Committed before the load: should the load fail, the marker (not complete) still
    says the database is this script's to drop and seed again."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (spec jsonb NOT NULL, complete boolean NOT NULL, "
                "details jsonb NOT NULL, seeded_at timestamptz NOT NULL)"
            ).format(sql.Identifier(MARKER_TABLE))
        )
        connection.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, false, '{{}}', now())").format(
                sql.Identifier(MARKER_TABLE)
            ),
            [spec.as_json()],
        )


def vacuum_analyze(url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def ensure_seeded(url: str, spec: Spec, *, reseed: bool = False) -> None:
    state = database_state(url, spec)
    if state == "seeded" and not reseed:
        print(f"Already seeded to this spec ({spec.messages:,} messages); reusing it.")
        harness.setup_django(url)
        if migrate():
            # A migration may have rewritten a table or built an index: fresh statistics
            # and visibility map, since autovacuum may be off (or not have run yet).
            print(f"Vacuumed and analysed in {vacuum_analyze(url):.1f} s.")
        return
    if state == "foreign" and not reseed:
        raise SystemExit(
            "The database holds tables but no bench_seed marker: it is not a seed of this "
            "script, so it is left alone. Pass --reseed to drop it, or name another database."
        )
    if state != "empty":
        harness.create_database(url, drop=state != "missing")
    total = time.perf_counter()
    create_marker(url, spec)
    harness.setup_django(url)
    migrate()
    seed(url, spec)
    print(f"Vacuumed and analysed in {vacuum_analyze(url):.1f} s.")
    print(f"Seeded in {time.perf_counter() - total:.1f} s in all.")


def main() -> None:
    args = parse_args()
    spec = Spec(
        conversations=args.conversations,
        messages=args.messages,
        big_conversation=args.big_conversation,
        rng_seed=args.seed,
    )
    ensure_seeded(args.database_url, spec, reseed=args.reseed)


if __name__ == "__main__":
    main()
