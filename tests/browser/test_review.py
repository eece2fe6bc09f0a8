"""A review you can see: every page and state, at a laptop's and a phone's size, light and
dark, screenshotted into docs/screenshots/ (`<state>-<laptop|phone>-<light|dark>.png`), and
axe-core run on each with no violation of any impact allowed (minor ones included).

The states: signing in and registering, a newcomer's empty home, the demo's home, New chat,
the shared workspace's members, threads
with every kind of content (Markdown and code, tool calls and reasoning, a group, a failed
reply, a reply streaming), the confirmation dialog, the Undo toast, the drawer on a phone,
search, settings, the trash, the 404 page, and the moderators' report queue."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, SCREENSHOTS, make_users, run_axe, sign_in

DEMO_PASSWORD = "demo-password-1"  # seed_demo's default
SIZES = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def demo(database) -> dict[str, str]:
    """seed_demo's conversations ({key: id}), a newcomer with nothing yet, a moderator, a
    report for the queue and a reply left streaming."""
    database.manage("seed_demo", env={**database.env, "DEMO_PASSWORD": DEMO_PASSWORD})
    make_users(database, "newcomer", "moderator")
    return json.loads(
        database.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from conversations import services\n"
            "from conversations.models import Conversation, Message\n"
            "User = get_user_model()\n"
            "User.objects.filter(username='moderator').update(is_staff=True, is_superuser=True)\n"
            "keys = {c.subject_id: str(c.pk) for c in "
            "Conversation.objects.filter(subject_type='seed_demo')}\n"
            "demo, ada = User.objects.get(username='demo'), User.objects.get(username='ada')\n"
            "group = Conversation.objects.get(pk=keys['team-release'])\n"
            "reported = Message.objects.filter(conversation=group, sender=ada).first()\n"
            "services.report_create(message=reported, reporter=demo, reason='spam', note='')\n"
            "welcome = Conversation.objects.get(pk=keys['welcome'])\n"
            "chat, _ = services.conversation_create(creator=demo, kind='assistant', "
            "title='Streaming a reply', workspace=welcome.workspace, agent=welcome.agent)\n"
            "question, _ = services.message_post(conversation=chat, sender=demo, "
            "content='Explain keyset pagination in three sentences.')\n"
            "reply = services.assistant_message_start(conversation=chat, agent=welcome.agent, "
            "reply_to=question)\n"
            "services.assistant_message_progress(message_id=reply.pk, content='Keyset "
            "pagination reads the next page by the last key it showed, so a page deep in a "
            "long list costs')\n"
            "keys['streaming'] = str(chat.pk)\n"
            "old, _ = services.conversation_create(creator=demo, kind='assistant', "
            "title='Draft of the March newsletter', workspace=welcome.workspace)\n"
            "services.message_post(conversation=old, sender=demo, content='An outline first.')\n"
            "services.conversation_delete(conversation=old, actor=demo)\n"
            "from conversations.models import Workspace\n"
            "keys['shared-workspace'] = Workspace.objects.get(is_shared=True).slug\n"
            "print(json.dumps(keys))"
        )
    )


def open_details(page, *selectors: str) -> None:
    for selector in selectors:
        page.evaluate(
            "selector => document.querySelectorAll(selector).forEach(d => { d.open = true; })",
            selector,
        )


def states(demo) -> list[tuple[str, str, str | None, object]]:
    """(name, path, who signs in (None: nobody), what to do on the page before the shot)."""

    def nothing(page, size):
        pass

    def thread_tools(page, size):
        open_details(page, ".part.tool", ".part.reasoning")

    def the_drawer(page, size):
        if size == "phone":
            page.get_by_role("link", name="Conversations").click()
            expect(page.locator("#sidebar")).to_be_in_viewport()
            page.wait_for_timeout(300)  # the slide

    def the_new_conversation_form(page, size):
        open_details(page, ".new-conversation")

    def the_actions_menu(page, size):
        page.locator("details.actions summary").click()
        expect(page.locator("#rename-title")).to_be_visible()

    def the_confirmation(page, size):
        page.locator("details.actions summary").click()
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_role("dialog")).to_be_visible()

    return [
        ("sign-in", "/accounts/login/", None, nothing),
        ("register", "/accounts/register/", None, nothing),
        ("home-empty", "/", "newcomer", nothing),
        ("home", "/", "demo", the_new_conversation_form),
        ("thread-markdown", f"/c/{demo['welcome']}/", "demo", the_drawer),
        ("thread-tools", f"/c/{demo['tool-use']}/", "demo", thread_tools),
        ("thread-group", f"/c/{demo['team-release']}/", "demo", nothing),
        ("thread-error", f"/c/{demo['upstream-error']}/", "demo", nothing),
        ("thread-streaming", f"/c/{demo['streaming']}/", "demo", nothing),
        ("thread-actions", f"/c/{demo['team-release']}/", "demo", the_actions_menu),
        ("confirm-delete", f"/c/{demo['team-release']}/", "demo", the_confirmation),
        ("new-chat", "/new", "demo", nothing),
        ("workspace-members", f"/w/{demo['shared-workspace']}/", "demo", nothing),
        ("search", "/search?q=paginate", "demo", nothing),
        ("settings", "/settings/", "demo", nothing),
        ("trash", "/?section=trash", "demo", nothing),
        ("not-found", "/c/00000000-0000-0000-0000-000000000000/", "demo", nothing),
        ("admin-queue", "/admin/conversations/report/", "moderator", nothing),
    ]


def signed_in(open_page, who, **options):
    # bypass_csp for axe's script only: the app's CSP (script-src 'self') rightly refuses a
    # script the test adds.
    page = open_page(bypass_csp=True, **options)
    if who is not None:
        sign_in(page, who, DEMO_PASSWORD if who == "demo" else PASSWORD)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_state_screenshotted_and_without_axe_violations(open_page, demo, size, scheme):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_page.allow(r"00000000-0000-0000-0000-000000000000.*404")  # the not-found state
    failures = {}
    pages = {}
    for name, path, who, prepare in states(demo):
        if who not in pages:
            pages[who] = signed_in(
                open_page, who, color_scheme=scheme, viewport=SIZES[size], is_mobile=size == "phone"
            )
        page = pages[who]
        page.goto(path)
        prepare(page, size)
        page.screenshot(path=SCREENSHOTS / f"{name}-{size}-{scheme}.png")
        if found := run_axe(page):
            failures[name] = found
        if name == "confirm-delete":
            page.keyboard.press("Escape")  # nothing is deleted
    assert not failures, json.dumps(failures, indent=1)


def test_the_undo_toast_after_deleting_brings_the_conversation_back(open_page, demo):
    page = signed_in(open_page, "demo", viewport=SIZES["laptop"])
    page.goto(f"/c/{demo['upstream-error']}/")
    page.locator("details.actions summary").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("to the trash?")
    dialog.get_by_role("button", name="Move to trash").click()
    page.wait_for_url("**/")
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("to the trash")
    page.screenshot(path=SCREENSHOTS / "toast-undo-laptop-light.png")
    toast.hover()  # a toast under the pointer stays
    toast.get_by_role("button", name="Undo").click()
    expect(page.locator("#toasts")).to_contain_text("Restored")
    expect(page.locator("#thread-title")).to_have_text("A reply that failed upstream")


def test_the_admin_lists_fit_a_laptop(open_page, demo):
    """The conversation changelist overflowed at 1366 px (long dates, two columns too many)."""
    page = signed_in(open_page, "moderator", viewport=SIZES["laptop"])
    for path in (
        "conversations/conversation/",
        "conversations/message/",
        "conversations/report/",
        "accounts/user/",
    ):
        page.goto(f"/admin/{path}")
        widths = page.evaluate(
            "(() => { const r = document.querySelector('#changelist .results');"
            " return r ? [r.scrollWidth, r.clientWidth] : [0, 0]; })()"
        )
        assert widths[0] <= widths[1], f"{path}: {widths[0]} px of list in {widths[1]} px"


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on the screen"
    return found


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_layout_defects_a_newcomer_hit_are_gone(open_page, demo, size):
    """Each of these was on screen before the design pass: the message menu over the text
    and the ⋯ over the time, Actions pushing the header onto two rows with its title field
    cut off, the phone's composer squeezed to 40 % beside its buttons, the settings link
    gone on a phone, and the drawer closed by a bare text link."""
    page = signed_in(open_page, "demo", viewport=SIZES[size], is_mobile=size == "phone")
    page.goto(f"/c/{demo['team-release']}/")
    rows = page.locator(".message[data-seq]")
    for index in range(rows.count()):
        row = rows.nth(index)
        row.hover()
        tools = box(row.locator(".message-tools"))
        assert not overlap(tools, box(row.locator(".bubble"))), (
            f"tools over the text of row {index}"
        )
        assert not overlap(tools, box(row.locator(".time"))), f"tools over the time of row {index}"

    header = page.locator(".thread-header")
    height = box(header)["height"]
    page.locator("details.actions summary").click()
    title_field = page.locator("#rename-title")
    expect(title_field).to_be_visible()
    assert box(header)["height"] == height  # the menu opens over the page
    field, viewport = box(title_field), page.viewport_size
    assert field["x"] >= 0 and field["x"] + field["width"] <= viewport["width"]
    assert field["width"] >= 150
    page.keyboard.press("Escape")  # closes the menu (ui.js), focus back on its button
    expect(title_field).to_be_hidden()
    expect(page.locator("details.actions summary")).to_be_focused()

    composer, text = box(page.locator("#composer")), box(page.locator("#composer-text"))
    assert text["width"] >= 0.85 * composer["width"]
    expect(page.get_by_role("link", name="Demo User (settings)")).to_be_visible()

    if size == "phone":
        page.get_by_role("link", name="Conversations").click()
        close = page.get_by_role("link", name="Close the conversation list")
        expect(close).to_be_visible()
        assert box(close)["width"] >= 32 and box(close)["height"] >= 32  # a real target
        close.click()
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
