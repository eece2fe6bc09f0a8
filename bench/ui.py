"""Time to the first contentful paint of the main view and of a 5,000-message thread, in
Chromium, against the real server; the server's own time for the same pages shown apart.

    .venv/bin/python bench/ui.py [--runs 20] [--sqlite] [--reseed]

What it does, in order:

1. Seeds a database of its own (default postgres://postgres@127.0.0.1:5432/chatapp_bench_ui,
   or env BENCH_UI_DATABASE_URL, or --database-url; with --sqlite a SQLite file in the
   temporary directory): the user `bench_ui` with 1,000 conversations (800 with the
   assistant, 200 groups where the second user `bench_ui_peer` spoke last, so unread;
   5 pinned, 20 archived) and one assistant conversation of exactly 5,000 messages, user
   and assistant turns alternating, markdown with lists and highlighted code in the
   answers, token usage on each answer. Everything goes through the services (the same
   writes as the app; about a minute on PostgreSQL); only the conversations' last activity
   is spread afterwards with one UPDATE each, so that the sidebar's "5 min ago" vary. A
   database already seeded to the same spec is reused (the spec is recorded on the long
   thread); one seeded to another spec is dropped and seeded again; a database holding
   something else is never dropped unless --reseed says so.
2. Collects the static files into a temporary folder and starts the real server as
   scripts/serve does (uvicorn, one worker, DEBUG=false, access log off) on a free
   loopback port.
3. Signs in through the login form with httpx and hands the session cookie to Chromium
   (Debian's /usr/bin/chromium, headless, through Playwright; never `playwright install`).
4. For each page, the main view `/` and the thread `/c/<id>/`, interleaved run by run so
   that the machine's load touches all alike, after untimed warm-up runs:
   - server: the HTML request alone, timed with httpx over a kept-alive connection, from
     sending the request to the last byte of the body;
   - cold: first contentful paint (`performance.getEntriesByName('first-contentful-paint')`)
     in a new browser context, so that the CSS and JavaScript are fetched too;
   - warm: the same in one long-lived context, the static files cached as whitenoise
     allows (a returning user).
   The very first request of each page after the server started is reported apart (the
   templates compiled, markdown rendered for the first time).
5. Checks the thread page rendered one page only: 50 message rows (seqs 4951..5000) in the
   HTML and in the DOM after load.
6. Writes median and p90 of each into this benchmark's section of docs/benchmarks.md
   (other sections are left as they are).
"""

import argparse
import os
import platform
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness  # bench/harness.py (the script's own folder is on sys.path)
import httpx
from seed import WORD_WEIGHTS, WORDS

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/chatapp_bench_ui"
DEFAULT_SQLITE = Path(tempfile.gettempdir()) / "chatapp_bench_ui.sqlite3"
DEFAULT_OUTPUT = harness.DOCS_PATH
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SECTION_START, SECTION_END = harness.markers("bench/ui.py")

USERNAME = "bench_ui"
PEER_USERNAME = "bench_ui_peer"
PASSWORD = "Bench-ui-password-1"  # noqa: S105 (a benchmark database only)
TEAM_SLUG = "bench-ui-team"
SUBJECT_TYPE = "bench_ui"
THREAD_KEY = "thread"
SEED_FORMAT = 1
THREAD_PAGE = 50  # conversations.views.THREAD_PAGE
TARGET_MS = 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_UI_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="PostgreSQL URL of the benchmark database (created when missing)",
    )
    parser.add_argument(
        "--sqlite",
        nargs="?",
        const=DEFAULT_SQLITE,
        type=Path,
        default=None,
        metavar="PATH",
        help=f"use a SQLite file instead of PostgreSQL (default {DEFAULT_SQLITE})",
    )
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each measure")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--thread", type=int, default=5000, help="messages in the long thread")
    parser.add_argument("--seed", type=int, default=20261122, help="the text's RNG seed")
    parser.add_argument("--reseed", action="store_true", help="drop and seed again")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup not negative")
    if args.conversations < 2 or args.thread < THREAD_PAGE + 1:
        parser.error(f"--conversations at least 2, --thread more than {THREAD_PAGE}")
    return args


# --- the database ----------------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    return f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url


def spec_of(args: argparse.Namespace) -> dict:
    return {
        "format": SEED_FORMAT,
        "conversations": args.conversations,
        "thread": args.thread,
        "seed": args.seed,
    }


def setup_django(url: str) -> None:
    harness.setup_django(url)


def seed_state(spec: dict) -> str:
    """'seeded' (to this spec), 'ours' (another spec, or unfinished), 'empty', 'foreign'."""
    from django.db import connection

    from conversations.models import Conversation

    tables = connection.introspection.table_names()
    if "conversations_conversation" not in tables:
        return "empty"
    thread = Conversation.objects.filter(subject_type=SUBJECT_TYPE, subject_id=THREAD_KEY).first()
    if thread is not None and thread.metadata.get("bench_ui_spec") == spec:
        return "seeded"
    from django.contrib.auth import get_user_model

    if thread is not None or get_user_model().objects.filter(username=USERNAME).exists():
        return "ours"
    has_rows = get_user_model().objects.exists()
    return "foreign" if has_rows else "empty"


def prepare_database(args: argparse.Namespace) -> bool:
    """Set Django up on the benchmark database; True when it must be seeded."""
    url = database_url(args)
    spec = spec_of(args)
    if args.sqlite:
        args.sqlite.parent.mkdir(parents=True, exist_ok=True)
        if args.reseed and args.sqlite.exists():
            args.sqlite.unlink()
    elif not harness.database_exists(url):
        harness.create_database(url)
    elif args.reseed:
        harness.create_database(url, drop=True)
    setup_django(url)
    state = seed_state(spec)
    if state == "seeded":
        print("The database is seeded to this spec already: reusing it.")
        migrate()
        return False
    if state == "foreign":
        raise SystemExit(
            f"{url} holds data that bench/ui.py did not seed; pass --reseed to drop it, or "
            "--database-url / --sqlite PATH for another database."
        )
    if state == "ours":
        print("The database was seeded to another spec (or not to the end): seeding again.")
        from django.db import connections

        connections.close_all()
        if args.sqlite:
            args.sqlite.unlink()
        else:
            harness.create_database(url, drop=True)
    migrate()
    return True


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- seeding ---------------------------------------------------------------------------------


class Text:
    """English-like text from bench/seed.py's word list (Zipf frequencies), seeded."""

    LANGUAGES = ["python", "javascript", "sql", "bash"]

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def words(self, count: int) -> list[str]:
        return self.rng.choices(WORDS, cum_weights=WORD_WEIGHTS, k=count)

    def sentence(self, low: int = 6, high: int = 18) -> str:
        words = self.words(self.rng.randint(low, high))
        return " ".join(words).capitalize() + self.rng.choice([".", ".", ".", "?", "!"])

    def paragraph(self, sentences: int) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def question(self) -> str:
        return self.paragraph(self.rng.randint(1, 3))

    def code(self) -> str:
        names = self.words(4)
        body = "\n".join(
            f"    {name}_{n} = compute({names[(n + 1) % 4]!r}, limit={self.rng.randint(1, 500)})"
            for n, name in enumerate(names)
        )
        return f"def {names[0]}_{names[1]}(items):\n{body}\n    return items\n"

    def answer(self) -> str:
        """Markdown: paragraphs, sometimes a list, inline code, sometimes a code block."""
        parts = [self.paragraph(self.rng.randint(2, 4))]
        if self.rng.random() < 0.35:
            parts.append("\n".join(f"- **{w}**: {self.sentence(4, 10)}" for w in self.words(3)))
        if self.rng.random() < 0.3:
            language = self.rng.choice(self.LANGUAGES)
            parts.append(f"```{language}\n{self.code()}```")
        parts.append(f"Use `{self.words(1)[0]}()` for that. " + self.paragraph(1))
        return "\n\n".join(parts)


def assistant_turn(conversation, question, text: str) -> None:
    from conversations import services
    from conversations.models import PartType

    turn = services.assistant_message_start(
        conversation=conversation, agent=None, model="bench-model", reply_to=question
    )
    services.message_part_add(message=turn, type=PartType.TEXT, content={"text": text})
    services.assistant_message_finish(message=turn, content=text, latency_ms=900, ttft_ms=200)
    services.message_record_usage(
        message=turn, usage=services.Usage(prompt_tokens=400, completion_tokens=150)
    )


def seed(args: argparse.Namespace) -> None:
    from django.db import transaction
    from django.utils import timezone

    from chatapp.accounts.services import user_create
    from conversations import services
    from conversations.models import Conversation

    text = Text(args.seed)
    started = time.monotonic()
    with transaction.atomic():
        user = user_create(
            username=USERNAME,
            email=f"{USERNAME}@example.com",
            password=PASSWORD,
            display_name="Bench UI",
        )
        peer = user_create(
            username=PEER_USERNAME,
            email=f"{PEER_USERNAME}@example.com",
            password=PASSWORD,
            display_name="Bench Peer",
        )
        team = services.workspace_create(name="Bench UI team", slug=TEAM_SLUG, owner=user)
        services.membership_add(workspace=team, user=peer)

    # The long thread first; its spec is recorded at the very end.
    thread, _ = services.conversation_create(
        creator=user,
        kind="assistant",
        title="The long thread: 5,000 messages",
        subject_type=SUBJECT_TYPE,
        subject_id=THREAD_KEY,
    )
    for start in range(0, args.thread, 500):
        with transaction.atomic():
            for seq in range(start + 1, min(start + 500, args.thread) + 1):
                if seq % 2:
                    question, _ = services.message_post(
                        conversation=thread, sender=user, content=text.question()
                    )
                else:
                    assistant_turn(thread, question, text.answer())
        print(f"  the thread: {min(start + 500, args.thread):,} messages", flush=True)

    others = args.conversations - 1
    groups = others // 5
    with transaction.atomic():
        for n in range(others):
            title = " ".join(text.words(text.rng.randint(2, 6))).capitalize()
            if n < groups:
                conversation, _ = services.conversation_create(
                    creator=user, kind="group", title=title, workspace=team, participants=[peer]
                )
                services.message_post(conversation=conversation, sender=user, content=title)
                services.message_post(
                    conversation=conversation, sender=peer, content=text.question()
                )
            else:
                conversation, _ = services.conversation_create(
                    creator=user, kind="assistant", title=title
                )
                question, _ = services.message_post(
                    conversation=conversation, sender=user, content=text.question()
                )
                assistant_turn(conversation, question, text.answer())
            if n % 200 == 199:
                print(f"  conversations: {n + 1:,} of {others:,}", flush=True)

    with transaction.atomic():
        # The sidebar's order and "5 min ago": the last activity spread over a month, the
        # thread the most recent. Pins and archives as a person would have them.
        now = timezone.now()
        ids = list(
            Conversation.objects.filter(created_by=user)
            .exclude(pk=thread.pk)
            .order_by("created_at")
            .values_list("pk", flat=True)
        )
        for n, pk in enumerate(reversed(ids)):
            Conversation.objects.filter(pk=pk).update(
                last_activity_at=now - timedelta(minutes=3 + n * 43)
            )
        for pk in ids[:5]:
            services.participant_set_flags(
                conversation=Conversation.objects.get(pk=pk), user=user, pinned=True
            )
        for pk in ids[5:25]:
            services.participant_set_flags(
                conversation=Conversation.objects.get(pk=pk), user=user, archived=True
            )
        Conversation.objects.filter(pk=thread.pk).update(
            last_activity_at=now, metadata={"bench_ui_spec": spec_of(args)}
        )
    print(f"Seeded in {time.monotonic() - started:.0f} s.")


def analyze(args: argparse.Namespace) -> None:
    """Fresh planner statistics: right after a seed they are missing, and PostgreSQL then
    sorts the whole 5,000-message thread for its newest page (seen: 19 ms instead of
    0.2 ms). A live database has autovacuum's."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def seed_facts(args: argparse.Namespace) -> dict:
    from conversations.models import Conversation, Message, Participant

    thread = Conversation.objects.get(subject_type=SUBJECT_TYPE, subject_id=THREAD_KEY)
    mine = Participant.objects.filter(user__username=USERNAME, left_at__isnull=True)
    facts = {
        "thread_id": str(thread.pk),
        "thread_messages": thread.message_count,
        "conversations": mine.count(),
        "pinned": mine.filter(pinned_at__isnull=False).count(),
        "archived": mine.filter(archived_at__isnull=False).count(),
        "messages": Message.objects.filter(
            conversation_id__in=mine.values("conversation_id")
        ).count(),
    }
    assert facts["thread_messages"] == args.thread, facts
    assert facts["conversations"] == args.conversations, facts
    return facts


def database_label(args: argparse.Namespace) -> str:
    if args.sqlite:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (`{args.sqlite}`)"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    name, _ = harness.admin_conninfo(args.database_url)
    return f"PostgreSQL {version.split()[0]} (database `{name}`)"


# --- the server ------------------------------------------------------------------------------


def start_server(url: str, workdir: Path) -> harness.Server:
    """The real server, one worker, DEBUG off, its static files collected in `workdir`."""
    env = harness.server_environment(url, workdir, LOG_LEVEL="WARNING")
    harness.manage(env, "collectstatic", "--noinput", "-v0")
    return harness.start_chatapp(env, workdir / "server.log", workers=1, module=True)


def sign_in(server: harness.Server) -> httpx.Client:
    """An httpx client signed in through the login form, as a browser would be."""
    return harness.sign_in_page(server.base, USERNAME, PASSWORD)


# --- measuring -------------------------------------------------------------------------------

PAINT = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {fcp: fcp.startTime, ttfb: nav.responseStart, html: nav.responseEnd,
            dcl: nav.domContentLoadedEventEnd};
}"""


@dataclass
class Measures:
    path: str  # on the server; a data: URL for the browser's floor
    label: str
    signed_in: bool = True
    floor: bool = False
    server_ms: list[float] = field(default_factory=list)
    first_server_ms: float | None = None
    html_bytes: int | None = None
    cold: list[dict] = field(default_factory=list)
    warm: list[dict] = field(default_factory=list)

    @property
    def on_server(self) -> bool:
        return self.path.startswith("/")


# The browser's own floor: a document with one line of text and nothing to fetch.
MINIMAL_PAGE = "data:text/html,<!doctype html><title>floor</title><p>Hello.</p>"


def server_time(client: httpx.Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(path)
    body = response.content
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed, len(body)


def paint(context, url: str) -> dict:
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        # A function, not an expression: Playwright evaluates an expression with eval(),
        # which the app's Content-Security-Policy (rightly) refuses.
        page.wait_for_function(
            "() => performance.getEntriesByName('first-contentful-paint').length > 0"
        )
        return page.evaluate(PAINT)
    finally:
        page.close()


def check_one_page(context, server: harness.Server, thread: Measures, newest: int) -> None:
    """The thread's DOM after load: the newest THREAD_PAGE rows and no more."""
    page = context.new_page()
    page.goto(server.base + thread.path, wait_until="load")
    page.wait_for_timeout(1000)  # older rows load on scroll only: none should come
    seqs = [
        int(seq)
        for seq in page.eval_on_selector_all(
            ".message[data-seq]", "rows => rows.map(row => row.dataset.seq)"
        )
    ]
    page.close()
    assert seqs == list(range(newest - THREAD_PAGE + 1, newest + 1)), (
        f"the thread's DOM holds {len(seqs)} rows ({seqs[:1]}..{seqs[-1:]})"
    )


def measure(server: harness.Server, client: httpx.Client, facts: dict, args: argparse.Namespace):
    from playwright.sync_api import sync_playwright

    newest = facts["thread_messages"]
    pages = [
        Measures("/", f"Main view `/` ({facts['conversations']:,} conversations)"),
        Measures(f"/c/{facts['thread_id']}/", f"Thread `/c/<id>/` ({newest:,} messages)"),
        Measures(
            "/accounts/login/",
            "Floor: the sign-in page (the same CSS and JS, little HTML)",
            signed_in=False,
            floor=True,
        ),
        Measures(MINIMAL_PAGE, "Floor: one line of text (`data:` URL)", floor=True),
    ]
    anonymous = httpx.Client(base_url=server.base, timeout=60)
    clients = {True: client, False: anonymous}
    # The first request of each page after the start, before anything else warms it.
    for page in pages:
        if page.on_server:
            page.first_server_ms, page.html_bytes = server_time(clients[page.signed_in], page.path)

    html = client.get(pages[1].path).text
    seqs = [int(seq) for seq in re.findall(r'data-seq="(\d+)"', html)]
    assert seqs == list(range(newest - THREAD_PAGE + 1, newest + 1)), (
        f"the thread's HTML holds {len(seqs)} rows, not the newest {THREAD_PAGE}"
    )

    cookies = [
        {"name": name, "value": value, "url": server.base} for name, value in client.cookies.items()
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        version = browser.version
        options = {"viewport": {"width": 1280, "height": 800}}
        warm = {True: browser.new_context(**options), False: browser.new_context(**options)}
        warm[True].add_cookies(cookies)

        def cold_paint(page: Measures) -> dict:
            context = browser.new_context(**options)
            if page.signed_in:
                context.add_cookies(cookies)
            try:
                return paint(context, full_url(page))
            finally:
                context.close()

        def full_url(page: Measures) -> str:
            return server.base + page.path if page.on_server else page.path

        check_one_page(warm[True], server, pages[1], newest)

        for run in range(args.warmup + args.runs):
            timed = run >= args.warmup
            for page in pages:
                if page.on_server:
                    elapsed, _ = server_time(clients[page.signed_in], page.path)
                cold = cold_paint(page)
                again = paint(warm[page.signed_in], full_url(page))
                if timed:
                    if page.on_server:
                        page.server_ms.append(elapsed)
                    page.cold.append(cold)
                    page.warm.append(again)
            if timed:
                print(
                    f"  run {run - args.warmup + 1}/{args.runs}: "
                    + "; ".join(
                        f"{p.path[:12]} FCP {p.cold[-1]['fcp']:.0f}/{p.warm[-1]['fcp']:.0f} ms"
                        + (f" (server {p.server_ms[-1]:.0f} ms)" if p.on_server else "")
                        for p in pages
                    ),
                    flush=True,
                )
        for context in warm.values():
            context.close()
        browser.close()
    anonymous.close()
    return pages, version


# --- the report ------------------------------------------------------------------------------


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} / {harness.nearest_rank(sorted(values), 90):.0f}"


@dataclass
class Run:
    pages: list[Measures]
    facts: dict
    database: str
    chromium: str
    runs: int
    warmup: int
    load: tuple[float, float]
    cpu: "harness.CpuShare | None"
    measured: str


TABLE_HEAD = "\n".join(
    [
        "| Page | HTML | Server, first request (ms) | Server (ms) | Chromium: first byte (ms) "
        "| **First contentful paint**, fresh browser (ms) | of which the browser's (ms) "
        "| First contentful paint, CSS/JS cached (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
)


def section(run: Run) -> str:
    def series(page: Measures, kind: str, key: str = "fcp") -> list[float]:
        return [entry[key] for entry in getattr(page, kind)]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    floor = next(page for page in run.pages if page.floor and page.on_server)
    floor_fcp = median(series(floor, "cold"))
    rows, verdicts = [], []
    for page in run.pages:
        cold = series(page, "cold")
        browser_share = [e["fcp"] - e["ttfb"] for e in page.cold]
        if not page.floor:
            met = median(cold) < TARGET_MS
            p90 = harness.nearest_rank(sorted(cold), 90)
            verdicts.append(
                f"- {page.label}: first contentful paint **{median(cold):.0f} ms** at the "
                f"median in a fresh browser (p90 {p90:.0f} ms; server "
                f"{median(page.server_ms):.0f} ms of it; {median(cold) - floor_fcp:+.0f} ms "
                f"against the sign-in page): target {TARGET_MS} ms "
                f"**{'met' if met else 'missed'}**"
                + (", the p90 over it" if met and p90 >= TARGET_MS else "")
                + "."
            )
        rows.append(
            f"| {page.label} "
            f"| {f'{page.html_bytes / 1024:,.1f} kB' if page.html_bytes is not None else '—'} "
            f"| {f'{page.first_server_ms:.0f}' if page.first_server_ms is not None else '—'} "
            f"| {summary(page.server_ms) if page.server_ms else '—'} "
            f"| {summary(series(page, 'cold', 'ttfb')) if page.on_server else '—'} "
            f"| **{summary(cold)}** | {summary(browser_share)} "
            f"| {summary(series(page, 'warm'))} |"
        )
    facts = run.facts
    # The load after the runs is mostly the benchmark's own Chromium; what inflates the
    # figures is work already running before them, or a hypervisor lending our cores out.
    busy_before = run.load[0] > (os.cpu_count() or 1)
    stolen = run.cpu is not None and run.cpu.noisy
    cpu_note = f"; {run.cpu.describe()}" if run.cpu else ""
    load_note = (
        " **The machine was shared ("
        + ("load average above its core count before the runs" if busy_before else "")
        + (" and " if busy_before and stolen else "")
        + ("more than 5% of CPU time stolen" if stolen else "")
        + "): every figure here, the floors included, is inflated; compare the pages with "
        "the floors.**"
        if busy_before or stolen
        else ""
    )
    return f"""{SECTION_START}
## The browser UI: first contentful paint (`bench/ui.py`)

{harness.written_by("bench/ui.py", run.measured)}

{chr(10).join(verdicts)}

{TABLE_HEAD}
{chr(10).join(rows)}

Median / p90 of {run.runs} runs each (after {run.warmup} untimed), the pages interleaved run
by run so that the machine's load touches them alike.

- **Server**: the HTML request alone, timed with httpx over a kept-alive loopback
  connection from sending it to the last byte of the body: middleware, session, the
  view's queries and the template, no browser. "First request": the first one after the
  server started (templates compiled, no markdown rendered yet; the server then keeps up
  to 2,048 rendered message bodies in memory).
- **First contentful paint**: `performance.getEntriesByName('first-contentful-paint')` in
  headless Chromium, from the start of the navigation. "Fresh browser": a new browser
  context per run, so the HTML, `app.css`, `code.css` and `app.js` are all fetched (and
  a new connection made); "CSS/JS cached": one context across runs, the static files
  cached under whitenoise's far-future headers, as for a returning user. "First byte"
  is the navigation's `responseStart` in the fresh browser (the server's time seen from
  Chromium); "of which the browser's" is paint minus first byte: the rest of the
  download, parsing, style, layout and paint.
- **Floors**: the sign-in page is the app's lightest page (the same stylesheets and
  script, a few hundred bytes of content); the `data:` document is Chromium's own cost of
  painting anything on this machine. What a page takes above them is the page's.
- **One page rendered**: the thread's HTML and its DOM after load hold exactly
  {THREAD_PAGE} message rows, seqs {facts["thread_messages"] - THREAD_PAGE + 1:,} to
  {facts["thread_messages"]:,}; older ones load on scroll (the script checks both and
  stops otherwise). The main view lists the 50 most recent conversations and the pinned
  ones; older ones come a page at a time from the "Older conversations" link.

Setup: {facts["conversations"]:,} conversations of the user `bench_ui` ({facts["pinned"]}
pinned, {facts["archived"]} archived, a fifth of them groups whose last message, from
another user, is unread), {facts["messages"]:,} messages in all, one thread of
{facts["thread_messages"]:,}: user and assistant turns alternating, markdown with lists,
inline code and highlighted code blocks in the answers, written through the services,
then `ANALYZE`. {run.database}; the real server (`uvicorn chatapp.asgi:application`, one
worker, DEBUG off) on loopback; Chromium {run.chromium}, headless, viewport 1280x800.
Machine: {os.cpu_count()} cores ({harness.cpu_model()}), {platform.system()} {platform.release()},
Python {platform.python_version()}; load average {run.load[0]:.2f} before the runs,
{run.load[1]:.2f} after (the benchmark's own processes){cpu_note}; the server, the database
and Chromium share the cores.{load_note}

```sh
.venv/bin/python bench/ui.py             # PostgreSQL; --sqlite for a SQLite file
```
{SECTION_END}
"""


def main() -> None:
    args = parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium is required at {CHROMIUM} (apt-get install chromium).")
    if prepare_database(args):
        print("Seeding…", flush=True)
        seed(args)
    analyze(args)
    facts = seed_facts(args)
    database = database_label(args)
    from django.db import connections

    connections.close_all()  # no Django connection held open during the runs

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as workdir:
        server = start_server(database_url(args), Path(workdir))
        try:
            client = sign_in(server)
            load_before, counters_before = harness.load_average(), harness.cpu_counters()
            pages, chromium = measure(server, client, facts, args)
            load_after, counters_after = harness.load_average(), harness.cpu_counters()
            client.close()
        finally:
            server.stop()
    run = Run(
        pages=pages,
        facts=facts,
        database=database,
        chromium=chromium,
        runs=args.runs,
        warmup=args.warmup,
        load=(load_before, load_after),
        cpu=harness.CpuShare.between(counters_before, counters_after),
        measured=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    text = section(run)
    harness.write_section(args.output, text, start=SECTION_START, end=SECTION_END)
    print(text)
    print(f"Wrote the bench/ui.py section of {args.output}.")


if __name__ == "__main__":
    main()
