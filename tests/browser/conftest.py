"""Browser tests: Playwright for Python driving Debian's Chromium against the real server.

Per test module: a fake OpenAI server, a database of the server's own (`ServerDatabase`:
a SQLite file, or a fresh PostgreSQL database when the suite runs on PostgreSQL), the real
server (uvicorn, DEBUG off) on it, and one Chromium. Every test opens its own browser
contexts (`open_page`), so cookies and storage never leak from one test to the next.

Playwright's sync API keeps an asyncio loop running in this thread while it is started, and
Django refuses ORM calls then (SynchronousOnlyOperation): so Playwright is started and
stopped per module, never held across the rest of the suite, and these tests touch the
server's database only through `ServerDatabase.shell()` (a subprocess).

Without /usr/bin/chromium the whole folder is skipped (`.ci/run` installs it). Never run
`playwright install`: the tests use the system's Chromium.
"""

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI
from tests.live_server import Server, ServerDatabase

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = HERE.parent.parent / "docs" / "screenshots"
PASSWORD = "Browser-test-9"
API_KEY = "sk-browser-test-0123456789abcdef"


def pytest_collection_modifyitems(config, items):
    """Skip this folder, saying why, when Chromium is not there."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"the browser tests need Chromium at {CHROMIUM} "
        "(apt-get install chromium; .ci/run installs it)"
    )
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


# --- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def database(tmp_path_factory, fake):
    database = ServerDatabase(
        tmp_path_factory.mktemp("browser-server"),
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_MODEL="fake-model",
        OPENAI_API_KEY=API_KEY,
        STREAM_SAVE_INTERVAL_MS="50",
    )
    yield database
    database.drop()


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    log = tmp_path_factory.mktemp("browser-logs") / "server.log"
    server = Server(database.env, log_path=log).start()
    server.log = log
    yield server
    server.kill()


def make_users(database: ServerDatabase, *usernames: str, team: str | None = None) -> None:
    """Users with PASSWORD (display name: the username, titled); with `team`, all of them
    members of a shared workspace of that slug, owned by the first."""
    lines = [
        "from chatapp.accounts.services import user_create",
        "from conversations.services import workspace_create, membership_add",
        "people = [user_create(username=name, email=name + '@example.com', "
        f"password={PASSWORD!r}, display_name=name.title()) for name in {list(usernames)!r}]",
    ]
    if team:
        lines += [
            f"team = workspace_create(name={team.title()!r}, slug={team!r}, owner=people[0])",
            "for person in people[1:]: membership_add(workspace=team, user=person)",
        ]
    database.shell("\n".join([*lines, "print('ok')"]))


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


class PageErrors:
    """Uncaught exceptions and console errors of every page a test opened."""

    def __init__(self):
        self.errors: list[str] = []

    def watch(self, page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"{page.url}: console: {message.text}")
                if message.type == "error"
                else None
            ),
        )


@pytest.fixture
def open_page(browser, server) -> Callable:
    """open_page(username=None, **context_options) -> a page in a fresh browser context,
    signed in as `username` when given. Fails the test if any page it opened logged a
    JavaScript error or a console error (a CSP refusal, a failed request), but for those
    the test expects: `open_page.allow(regex, …)` (the browser logs every failed request,
    also the ones a test makes fail on purpose)."""
    contexts = []
    watcher = PageErrors()
    allowed: list[re.Pattern] = []

    def open_(username: str | None = None, **options):
        options.setdefault("viewport", {"width": 1280, "height": 800})
        options.setdefault("color_scheme", "light")
        context = browser.new_context(base_url=server.base, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        watcher.watch(page)
        if username:
            sign_in(page, username)
        return page

    open_.allow = lambda *patterns: allowed.extend(re.compile(p) for p in patterns)
    yield open_
    for context in contexts:
        context.close()
    errors = [e for e in watcher.errors if not any(p.search(e) for p in allowed)]
    assert not errors, "\n".join(errors)


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def run_axe(page) -> list[dict]:
    """axe-core on the page as it is: every violation, of any impact (minor included).

    The page's context must have been opened with bypass_csp=True: the app's
    Content-Security-Policy (script-src 'self') rightly refuses a script added by the test."""
    page.add_script_tag(path=str(AXE))
    # A colour caught mid-transition (a button's 0.12s hover or focus fade) is not a colour
    # anyone reads: settle every transition and animation before axe measures contrast.
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
    page.evaluate(
        """() => document.getAnimations().forEach((animation) => {
            try { animation.finish(); } catch (infinite) { animation.cancel(); }
        })"""
    )
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [
                {"target": node["target"], "summary": node.get("failureSummary", "")}
                for node in violation["nodes"][:5]
            ],
        }
        for violation in result["violations"]
    ]
