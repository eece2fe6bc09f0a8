"""Using the app in a browser: register and sign in, streamed assistant replies and Stop,
the conversation actions, search, two people live in one conversation, the keyboard alone,
hostile markdown, older messages on scroll. Real server, fake OpenAI, Chromium."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, make_users, sign_in
from tests.fake_openai import text_reply

LIVE_TIMEOUT = 5_000  # ms: what "live" means here


@pytest.fixture(scope="module")
def people(database):
    """alice and bob, in a shared workspace `team`."""
    make_users(database, "alice", "bob", team="team")


def group(database, title: str, messages=(), count: int = 0) -> str:
    """alice's group conversation with bob in `team`: `messages` posted by alice, then
    `count` numbered ones. Its id."""
    return database.shell(
        "from chatapp.accounts.models import User\n"
        "from conversations import services\n"
        "from conversations.models import Workspace\n"
        "alice, bob = User.objects.get(username='alice'), User.objects.get(username='bob')\n"
        "conversation, _ = services.conversation_create(creator=alice, kind='group', "
        f"title={title!r}, workspace=Workspace.objects.get(slug='team'), participants=[bob])\n"
        f"texts = {list(messages)!r} + [f'Message number {{n}}.' for n in range(1, {count} + 1)]\n"
        "for text in texts:\n"
        "    services.message_post(conversation=conversation, sender=alice, content=text)\n"
        "print(conversation.pk)"
    )


def saved_messages(database, conversation_id: str) -> list[dict]:
    return json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Message\n"
            "print(json.dumps([{'seq': m.seq, 'role': m.role, 'status': m.status, "
            "'error_type': m.error_type, 'content': m.content} for m in "
            f"Message.objects.filter(conversation_id='{conversation_id}').order_by('seq')]))"
        )
    )


def start_assistant_conversation(page) -> str:
    """An empty assistant conversation of the signed-in person, its thread open; its id.
    Made through the API, as a program makes one (New chat makes one with its first
    message instead: test_new_chat.py)."""
    page.goto("/")
    conversation_id = page.evaluate(
        """async () => {
            const token = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
            const response = await fetch("/api/v1/conversations", {
                method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRFToken": token.slice(10)},
                body: JSON.stringify({kind: "assistant"}),
            });
            return (await response.json()).id;
        }"""
    )
    page.goto(f"/c/{conversation_id}/")
    return conversation_id


def send(page, text: str) -> None:
    composer = page.locator("#composer-text")
    composer.fill(text)
    composer.press("Enter")


def open_thread(page, conversation_id: str) -> None:
    """Open the thread and wait until its live-updates stream (/api/v1/events) is open."""
    with page.expect_response(lambda response: "/api/v1/events" in response.url):
        page.goto(f"/c/{conversation_id}/")


def actions(page):
    """The thread's Actions menu, opened."""
    menu = page.locator("details.actions")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
    return menu


def sidebar_titles(page, heading: str) -> list[str]:
    """The titles listed under a sidebar heading (Pinned, Recent, Archived, Trash)."""
    return page.evaluate(
        """heading => {
            const title = [...document.querySelectorAll('#sidebar-lists h2')]
                .find(h => h.textContent.trim() === heading);
            if (!title) return null;
            return [...title.nextElementSibling.querySelectorAll('.title')]
                .map(t => t.textContent.replace('#', '').trim());
        }""",
        heading,
    )


# --- accounts --------------------------------------------------------------------------------


def test_register_sign_out_and_sign_in(open_page, server):
    page = open_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.locator("main").get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Display name").fill("New Comer")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Register").click()
    expect(page).to_have_url(server.base + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, New Comer")
    expect(page.get_by_role("link", name="New Comer")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # A wrong password is refused, and says so.
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill("Wrong-password-1")
    page.locator("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    sign_in(page, "newcomer")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, New Comer")


# --- the assistant ---------------------------------------------------------------------------


def test_a_reply_streams_with_stop_shown_and_is_saved(open_page, people, fake, database):
    answer = "Streaming " + " ".join(f"word{n}" for n in range(40)) + " and done."
    fake.script(text_reply(answer, tokens_per_second=25))  # about two seconds
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)

    send(page, "Tell me something long.")
    # Shown at once, then confirmed by the server (a row with its seq).
    expect(page.locator(".message.role-user[data-seq]")).to_have_text(
        re.compile("Tell me something long.")
    )
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    reply = page.locator(".message.role-assistant").last
    expect(reply).to_contain_text("word3")
    assert "and done." not in reply.inner_text()  # still streaming
    expect(stop).to_be_visible()
    expect(page.locator("#message-count")).to_have_text("2 messages")  # counted at once

    expect(stop).to_be_hidden(timeout=15_000)
    expect(reply.locator(".md.body")).to_have_text(answer)
    # The server's row replaced the streamed one: usage and model shown.
    expect(reply.locator(".usage")).to_contain_text("fake-model")
    expect(page.get_by_role("button", name="Regenerate")).to_be_visible()
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "user",
        "content": "Tell me something long.",
    }

    page.reload()
    expect(page.locator(".message.role-user .md.body")).to_have_text("Tell me something long.")
    expect(page.locator(".message.role-assistant .md.body")).to_have_text(answer)
    saved = saved_messages(database, conversation_id)
    assert [(m["role"], m["status"]) for m in saved] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert saved[1]["content"] == answer


def test_stop_keeps_the_partial_reply(open_page, people, fake, database):
    fake.script(text_reply("word " * 400, tokens_per_second=40))  # ten seconds
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)
    send(page, "Say word many times.")
    reply = page.locator(".message.role-assistant").last
    expect(reply).to_contain_text("word word word word word")
    page.get_by_role("button", name="Stop").click()

    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    expect(reply.locator(".error-note")).to_have_text("Stopped.")
    partial = reply.locator(".md.body").inner_text()
    assert partial.startswith("word word word word word")
    assert len(partial) < len("word " * 400) - 100

    page.reload()
    reply = page.locator(".message.role-assistant").last
    expect(reply.locator(".error-note")).to_have_text("Stopped.")
    expect(reply.locator(".md.body")).to_contain_text("word word word word word")
    saved = saved_messages(database, conversation_id)[-1]
    assert (saved["status"], saved["error_type"]) == ("error", "aborted")
    assert saved["content"].startswith("word word word word word")
    assert len(saved["content"]) < len("word " * 400)


def test_another_tab_sees_the_reply_arrive_live(open_page, people, fake):
    answer = "Seen from the other tab: " + " ".join(f"token{n}" for n in range(40))
    fake.script(text_reply(answer, tokens_per_second=15))  # about three seconds
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)
    other = open_page("alice")
    row_requests = []
    other.on("request", lambda r: row_requests.append(r.url) if "/rows?" in r.url else None)
    open_thread(other, conversation_id)

    send(page, "Answer in both tabs.")
    expect(other.locator(".message.role-user[data-seq]")).to_contain_text(
        "Answer in both tabs.", timeout=LIVE_TIMEOUT
    )
    expect(other.locator(".message.role-assistant[data-seq]")).to_be_attached(timeout=LIVE_TIMEOUT)
    # The text grows while it streams, each piece once (deltas carry their offset).
    streaming = other.locator(".message.role-assistant .streaming-text")
    expect(streaming).to_contain_text("token5", timeout=LIVE_TIMEOUT)
    partial = other.evaluate(
        "() => document.querySelector('.message.role-assistant .streaming-text')?.textContent"
    )
    assert partial is None or answer.startswith(partial), partial
    expect(other.locator(".message.role-assistant .md.body")).to_have_text(answer, timeout=15_000)
    expect(page.locator(".message.role-assistant .md.body")).to_have_text(answer)
    # Streamed text arrives in dozens of deltas; they do not each fetch the rows again.
    assert len(row_requests) < 10, row_requests


# --- the conversation's actions --------------------------------------------------------------


def test_rename_pin_archive_delete_and_restore(open_page, people):
    page = open_page("alice")
    start_assistant_conversation(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Untitled")

    actions(page).locator("#rename-title").fill("Quarterly plans")
    actions(page).get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarterly plans")
    expect(page.locator("#sidebar .conversation-item.current")).to_contain_text("Quarterly plans")
    assert "Quarterly plans" in sidebar_titles(page, "Recent")

    actions(page).get_by_role("button", name="Pin", exact=True).click()
    expect(page.locator("#sidebar-lists h2").first).to_have_text("Pinned")
    assert sidebar_titles(page, "Pinned") == ["Quarterly plans"]
    assert "Quarterly plans" not in sidebar_titles(page, "Recent")
    actions(page).get_by_role("button", name="Unpin").click()
    expect(page.locator("#sidebar-lists h2").first).to_have_text("Recent")
    assert "Quarterly plans" in sidebar_titles(page, "Recent")

    actions(page).get_by_role("button", name="Archive", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("under Archived")
    expect(actions(page).get_by_role("button", name="Unarchive")).to_be_visible()
    assert "Quarterly plans" not in sidebar_titles(page, "Recent")
    page.locator("#sidebar").get_by_role("link", name="Archived").click()
    assert sidebar_titles(page, "Archived") == ["Quarterly plans"]
    page.locator("#sidebar").get_by_role("link", name=re.compile("Quarterly plans")).click()
    actions(page).get_by_role("button", name="Unarchive").click()
    assert "Quarterly plans" in sidebar_titles(page, "Recent")

    # Deleting asks first, in our dialog: "Cancel" (focused first) keeps it where it is.
    actions(page).get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Move “Quarterly plans” to the trash?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarterly plans")
    assert "Quarterly plans" in sidebar_titles(page, "Recent")
    actions(page).get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Move to trash").click()
    expect(page.locator("#toasts")).to_contain_text("Moved “Quarterly plans” to the trash.")
    expect(page.locator("#toasts")).to_contain_text("stays in Trash for 30 days")
    expect(page.locator("#toasts").get_by_role("button", name="Undo")).to_be_visible()
    assert "Quarterly plans" not in sidebar_titles(page, "Recent")
    page.locator("#sidebar").get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trash")
    assert sidebar_titles(page, "Trash") == ["Quarterly plans"]
    item = page.locator("#sidebar .conversation-item", has_text="Quarterly plans")
    item.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("Restored to your recent conversations.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarterly plans")
    assert "Quarterly plans" in sidebar_titles(page, "Recent")
    page.goto("/?section=trash")
    assert sidebar_titles(page, "Trash") == []


# --- search ----------------------------------------------------------------------------------


def test_search_finds_a_message_and_opens_it(open_page, people, database):
    # The match is the 10th of 110 messages: not on the thread's newest page.
    conversation_id = group(
        database,
        "Search party",
        messages=[f"Filler {n}." for n in range(1, 10)] + ["The zeppelin lands at noon."],
        count=100,
    )
    page = open_page("alice")
    page.goto("/")
    search = page.get_by_role("searchbox", name="Search messages")
    search.fill("zeppelin")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=zeppelin"))
    hits = page.locator("ol.hits > li")
    expect(hits).to_have_count(1)
    expect(hits).to_contain_text("Search party")
    expect(hits.locator(".excerpt")).to_contain_text("zeppelin")

    hits.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/.*#m10$"))
    found = page.locator("#m10")
    expect(found).to_contain_text("The zeppelin lands at noon.")
    expect(found).to_be_in_viewport()


# --- live ------------------------------------------------------------------------------------


def test_two_people_see_each_others_messages_live(open_page, people, database):
    conversation_id = group(database, "Live chat")
    alice, bob = open_page("alice"), open_page("bob")
    open_thread(alice, conversation_id)
    open_thread(bob, conversation_id)
    for page in (alice, bob):
        page.evaluate("window.notReloaded = true")

    send(alice, "Hello Bob, are you there?")
    expect(bob.locator(".message[data-seq]", has_text="Hello Bob, are you there?")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    send(bob, "Yes, Alice, live!")
    expect(alice.locator(".message[data-seq]", has_text="Yes, Alice, live!")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    expect(bob.locator(".message[data-seq]")).to_have_count(2)
    expect(alice.locator(".message[data-seq]")).to_have_count(2)
    for page in (alice, bob):  # the header's count follows
        expect(page.locator("#message-count")).to_have_text("2 messages")
    # The sidebar followed too.
    expect(alice.locator("#sidebar .conversation-item.current")).to_contain_text(
        "Yes, Alice, live!", timeout=LIVE_TIMEOUT
    )
    # Without a reload.
    assert alice.evaluate("window.notReloaded") and bob.evaluate("window.notReloaded")

    # Someone on the home page sees the new message in the sidebar, with an unread badge.
    bob.goto("/")
    with bob.expect_response(lambda response: "/api/v1/events" in response.url):
        bob.reload()
    send(alice, "One more.")
    item = bob.locator("#sidebar .conversation-item", has_text="Live chat")
    expect(item).to_contain_text("One more.", timeout=LIVE_TIMEOUT)
    expect(item.locator(".badge")).to_have_text("1")


# --- the keyboard ----------------------------------------------------------------------------


def test_send_with_the_keyboard_alone(open_page, people, database):
    conversation_id = group(database, "Keys", messages=["Write back with the keyboard."])
    page = open_page("alice")
    page.goto(f"/c/{conversation_id}/")

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(60):
        if page.evaluate("document.activeElement.id") == "composer-text":
            break
        page.keyboard.press("Tab")
    composer = page.locator("#composer-text")
    expect(composer).to_be_focused()
    # The focus can be seen: the composer's box takes a ring (the textarea inside has none).
    ring = page.evaluate("getComputedStyle(document.getElementById('composer')).boxShadow")
    assert "0px 0px 0px 1px" in ring

    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(composer).to_have_value("First line\nsecond line")
    page.keyboard.press("Enter")

    sent = page.locator(".message[data-seq]", has_text="First line")
    expect(sent).to_contain_text("second line")
    expect(composer).to_have_value("")
    expect(composer).to_be_focused()
    assert saved_messages(database, conversation_id)[-1]["content"] == "First line\nsecond line"

    # Enter on an empty composer sends nothing.
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(page.locator(".message")).to_have_count(2)

    page.reload()
    expect(page.locator(".message[data-seq]").last).to_contain_text("second line")


# --- hostile content -------------------------------------------------------------------------

HOSTILE = (
    "<script>alert('script')</script>\n\n"
    "<img src=x onerror=\"alert('img')\">\n\n"
    "[click me](javascript:alert('link'))"
)


def assert_inert(body) -> None:
    """The message body shows the hostile text as text: no script, no image with a
    handler, no javascript: link."""
    expect(body).to_contain_text("<script>alert('script')</script>")
    expect(body).to_contain_text("<img src=x onerror=")
    expect(body).to_contain_text("click me")
    assert body.locator("script").count() == 0
    assert body.locator("img").count() == 0
    assert body.locator("[onerror], [onclick], [onload]").count() == 0
    for link in body.locator("a").all():
        href = (link.get_attribute("href") or "").strip().lower()
        assert not href.startswith("javascript:"), href


def test_a_hostile_message_renders_as_inert_text(open_page, people, database):
    conversation_id = group(database, "Hostile")
    alice, bob = open_page("alice"), open_page("bob")
    dialogs = []
    for page in (alice, bob):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_thread(alice, conversation_id)
    open_thread(bob, conversation_id)

    send(alice, HOSTILE)
    mine = alice.locator(".message[data-seq]", has_text="click me")
    expect(mine).to_be_visible()
    assert_inert(mine.locator(".md.body"))
    mine.get_by_text("click me").click()
    # Bob's copy came live, rendered by the server.
    theirs = bob.locator(".message[data-seq]", has_text="click me")
    expect(theirs).to_be_visible(timeout=LIVE_TIMEOUT)
    assert_inert(theirs.locator(".md.body"))
    # The sidebar's excerpt is text too.
    assert bob.locator("#sidebar script, #sidebar img").count() == 0

    alice.reload()
    assert_inert(alice.locator(".message[data-seq]", has_text="click me").locator(".md.body"))
    alice.wait_for_timeout(300)
    assert dialogs == []
    assert saved_messages(database, conversation_id)[-1]["content"] == HOSTILE


# --- long threads ----------------------------------------------------------------------------


def test_a_long_thread_opens_with_one_page_and_loads_older_on_scroll(open_page, people, database):
    conversation_id = group(database, "Long thread", count=120)
    page = open_page("alice")
    page.goto(f"/c/{conversation_id}/")
    rows = page.locator(".message[data-seq]")
    expect(rows).to_have_count(50)
    expect(rows.last).to_contain_text("Message number 120.")
    expect(rows.last).to_be_in_viewport()  # opened at the newest

    page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text("Message number 21.")
    page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
    expect(rows).to_have_count(120)
    expect(rows.first).to_contain_text("Message number 1.")
    expect(page.locator("#older")).to_have_count(0)
    seqs = [int(seq) for seq in rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == list(range(1, 121))


def test_older_conversations_are_appended_to_the_sidebar(open_page, database):
    make_users(database, "paula")
    database.shell(
        "from chatapp.accounts.models import User\n"
        "from conversations import services\n"
        "paula = User.objects.get(username='paula')\n"
        "for n in range(1, 56):\n"
        "    services.conversation_create(creator=paula, kind='assistant', title=f'Topic {n}')\n"
        "print('ok')"
    )
    page = open_page("paula")
    page.goto("/")
    titles = page.locator("#sidebar-lists .conversation-item .title")
    expect(titles).to_have_count(50)
    expect(titles.first).to_have_text("Topic 55")

    page.get_by_role("link", name="Older conversations").click()
    expect(titles).to_have_count(55)
    expect(page).to_have_url(re.compile(r"/$"))  # in place: still the same page
    assert sidebar_titles(page, "Recent") == [f"Topic {n}" for n in range(55, 0, -1)]
    expect(page.get_by_role("link", name="Older conversations")).to_have_count(0)
    # Keyboard users go on from the first conversation that came in.
    expect(page.locator("#sidebar-lists a:focus .title")).to_have_text("Topic 5")

    # A message in an old conversation: the live refresh moves it to the top and keeps
    # the rest of what was loaded.
    oldest = page.locator("#sidebar-lists li", has_text="Topic 1").last
    conversation_id = oldest.get_attribute("data-conversation-id")
    with page.expect_response(lambda response: "/sidebar" in response.url):
        page.evaluate(
            """async (id) => {
                const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken='));
                await fetch(`/api/v1/conversations/${id}/messages`, {
                    method: 'POST', credentials: 'same-origin',
                    headers: {'Content-Type': 'application/json',
                              'X-CSRFToken': decodeURIComponent(csrf.split('=')[1])},
                    body: JSON.stringify({content: 'Back to this one.'}),
                });
            }""",
            conversation_id,
        )
    expect(titles.first).to_have_text("Topic 1")
    assert sidebar_titles(page, "Recent") == ["Topic 1"] + [f"Topic {n}" for n in range(55, 1, -1)]
