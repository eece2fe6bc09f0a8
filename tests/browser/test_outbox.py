"""Nothing typed is lost: the thread's outbox and the composer's draft (static/js/app.js).

A message shown in the thread is kept in the browser (localStorage, per person and
conversation) until the server confirms it, and sent again with the same
client_message_id after a reload, a closed tab or a dropped network; the draft in the
composer survives a reload. The page's message POSTs are intercepted (`Posts`) to hold
them, lose their answer, refuse them or rate-limit them. Real server, Chromium."""

import json
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import make_users, run_axe, sign_in
from tests.browser.test_chat import (
    group,
    open_thread,
    saved_messages,
    send,
    start_assistant_conversation,
)
from tests.fake_openai import text_reply

MESSAGES = re.compile(r"/api/v1/conversations/[0-9a-f-]{36}/messages$")


@pytest.fixture(scope="module")
def people(database):
    """alice and bob, in a shared workspace `team`."""
    make_users(database, "alice", "bob", team="team")


class Posts:
    """The page's message POSTs, intercepted. `mode`:

    - "through": they reach the server (the default);
    - "hold": they never leave the browser and are never answered;
    - "lose-answer": they reach the server, but the page never gets the answer;
    - "refuse": answered 403 with the error envelope, without reaching the server;
    - "limit-once": the next one is answered 429 with `Retry-After: 2`, then "through".

    `sent` holds the content of each POST that reached the server, `times` when each POST
    left the page (monotonic seconds)."""

    def __init__(self, page, mode: str = "through"):
        self.mode = mode
        self.held = []
        self.sent: list[str] = []
        self.times: list[float] = []
        page.route(MESSAGES, self.handle)

    def handle(self, route) -> None:
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        self.times.append(time.monotonic())
        content = json.loads(request.post_data or "{}").get("content", "")
        if self.mode == "hold":
            self.held.append(route)
        elif self.mode == "lose-answer":
            route.fetch()
            self.sent.append(content)
            self.held.append(route)
        elif self.mode == "refuse":
            route.fulfill(
                status=403,
                json={
                    "error": {
                        "code": "forbidden",
                        "message": "You may not post here.",
                        "details": {},
                    }
                },
            )
        elif self.mode == "limit-once":
            self.mode = "through"
            route.fulfill(
                status=429,
                headers={"Retry-After": "2"},
                json={"error": {"code": "rate_limited", "message": "Slow down.", "details": {}}},
            )
        else:
            self.sent.append(content)
            route.continue_()


def wait_for(page, condition, timeout: float = 5.0) -> None:
    """Let the page run until `condition()` (route handlers run while Playwright waits)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def stored(page) -> dict:
    """What app.js keeps in localStorage: {key: value}."""
    return page.evaluate(
        "() => Object.fromEntries(Object.keys(localStorage)"
        ".filter(k => k.startsWith('chatapp:')).map(k => [k, localStorage.getItem(k)]))"
    )


def outbox(page) -> list[dict]:
    entries = []
    for key, value in stored(page).items():
        if ":outbox:" in key:
            entries += json.loads(value)
    return entries


def contents(database, conversation_id: str) -> list[str]:
    return [m["content"] for m in saved_messages(database, conversation_id)]


def shown(page, text: str):
    """The thread's rows holding `text`, confirmed or not."""
    return page.locator("#messages .message", has_text=text)


# --- a reload -------------------------------------------------------------------------------


def test_a_message_not_yet_sent_at_a_reload_is_sent_after_it_once(open_page, people, database):
    conversation_id = group(database, "Reload before the answer")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="hold")

    send(page, "Sent right before a reload.")
    expect(shown(page, "Sent right before a reload.")).to_have_class(re.compile(r"\bpending\b"))
    wait_for(page, lambda: posts.held)  # the POST is out, unanswered
    assert contents(database, conversation_id) == []
    posts.mode = "through"
    page.reload()

    row = page.locator("#messages .message[data-seq]", has_text="Sent right before a reload.")
    expect(row).to_have_count(1)
    expect(shown(page, "Sent right before a reload.")).to_have_count(1)
    expect(page.locator("#messages .message.pending")).to_have_count(0)
    assert contents(database, conversation_id) == ["Sent right before a reload."]
    assert outbox(page) == []
    # And once more, with nothing left to send.
    page.reload()
    expect(shown(page, "Sent right before a reload.")).to_have_count(1)
    assert contents(database, conversation_id) == ["Sent right before a reload."]


def test_a_message_saved_but_unanswered_at_a_reload_shows_once(open_page, people, database):
    conversation_id = group(database, "Reload after the save")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="lose-answer")
    held_rows = []
    rows = re.compile(r"/rows\?")
    # The live stream's rows are held too: nothing confirms it before the reload.
    page.route(rows, lambda route: held_rows.append(route))

    send(page, "Saved, but the answer was lost.")
    wait_for(page, lambda: posts.sent)  # the server has it; the page does not know
    expect(page.locator("#messages .message.pending")).to_have_count(1)
    assert len(outbox(page)) == 1
    posts.mode = "through"
    page.unroute(rows)
    page.reload()

    # The thread came with it: out of the outbox, shown once, not sent again.
    expect(shown(page, "Saved, but the answer was lost.")).to_have_count(1)
    expect(page.locator("#messages .message[data-seq]")).to_have_count(1)
    expect(page.locator("#messages .message.pending")).to_have_count(0)
    assert outbox(page) == []
    page.wait_for_timeout(500)
    assert len(posts.times) == 1
    assert contents(database, conversation_id) == ["Saved, but the answer was lost."]


def test_the_live_stream_confirms_a_message_whose_answer_was_lost(open_page, people, database):
    conversation_id = group(database, "Confirmed live")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="lose-answer")

    send(page, "Confirmed by the live stream.")
    # The POST is never answered; the message.created event brings the server's row.
    row = page.locator("#messages .message[data-seq]", has_text="Confirmed by the live stream.")
    expect(row).to_have_count(1)
    expect(page.locator("#messages .message.pending")).to_have_count(0)
    expect(shown(page, "Confirmed by the live stream.")).to_have_count(1)
    assert outbox(page) == []
    page.reload()
    expect(shown(page, "Confirmed by the live stream.")).to_have_count(1)
    page.wait_for_timeout(500)
    assert posts.sent == ["Confirmed by the live stream."]
    assert contents(database, conversation_id) == ["Confirmed by the live stream."]


def test_an_assistant_question_resent_after_a_reload_gets_one_reply(
    open_page, people, fake, database
):
    fake.script(text_reply("The answer, after the reload."))
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)
    posts = Posts(page, mode="hold")
    send(page, "A question before a reload?")
    wait_for(page, lambda: posts.held)
    posts.mode = "through"
    page.reload()

    reply = page.locator(".message.role-assistant .md.body")
    expect(reply).to_have_text("The answer, after the reload.", timeout=10_000)
    expect(shown(page, "A question before a reload?")).to_have_count(1)
    saved = saved_messages(database, conversation_id)
    assert [(m["role"], m["content"]) for m in saved] == [
        ("user", "A question before a reload?"),
        ("assistant", "The answer, after the reload."),
    ]


# --- the draft ------------------------------------------------------------------------------


def test_the_draft_survives_a_reload_and_is_gone_once_sent(open_page, people, database):
    conversation_id = group(database, "Drafts")
    other_id = group(database, "Another conversation")
    page = open_page("alice")
    page.goto(f"/c/{conversation_id}/")
    composer = page.locator("#composer-text")
    composer.fill("Half a thought,\nand a second line")
    page.reload()
    expect(composer).to_have_value("Half a thought,\nand a second line")

    # Per conversation: another thread's composer starts empty.
    page.goto(f"/c/{other_id}/")
    expect(composer).to_have_value("")
    page.goto(f"/c/{conversation_id}/")
    expect(composer).to_have_value("Half a thought,\nand a second line")

    composer.press("End")
    composer.type(", finished.")
    composer.press("Enter")
    expect(page.locator(".message[data-seq]", has_text="finished.")).to_have_count(1)
    expect(composer).to_have_value("")
    page.reload()
    expect(composer).to_have_value("")
    assert contents(database, conversation_id) == ["Half a thought,\nand a second line, finished."]
    assert stored(page) == {}


# --- the network ----------------------------------------------------------------------------


def test_offline_a_message_stays_pending_and_goes_once_back_online(open_page, people, database):
    conversation_id = group(database, "Offline")
    open_page.allow("ERR_INTERNET_DISCONNECTED")  # the live stream, while offline
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page)

    page.context.set_offline(True)
    send(page, "Written in a tunnel.")
    row = shown(page, "Written in a tunnel.")
    expect(row).to_have_class(re.compile(r"\bpending\b"))
    expect(row).to_have_attribute("data-state", "waiting")
    expect(row.locator(".status")).to_contain_text("offline")
    page.wait_for_timeout(2_500)  # retries come and go while offline
    expect(row).to_have_class(re.compile(r"\bpending\b"))
    assert contents(database, conversation_id) == []
    assert [entry["text"] for entry in outbox(page)] == ["Written in a tunnel."]

    page.context.set_offline(False)  # the `online` event: sent at once
    expect(page.locator(".message[data-seq]", has_text="Written in a tunnel.")).to_have_count(
        1, timeout=3_000
    )
    expect(shown(page, "Written in a tunnel.")).to_have_count(1)
    page.wait_for_timeout(500)
    assert contents(database, conversation_id) == ["Written in a tunnel."]
    assert posts.sent == ["Written in a tunnel."]
    assert outbox(page) == []


def test_a_dropped_request_is_retried_with_the_same_client_message_id(open_page, people, database):
    conversation_id = group(database, "Dropped")
    open_page.allow("ERR_CONNECTION_RESET")
    page = open_page("alice")
    open_thread(page, conversation_id)
    keys = []

    def drop_first(route):
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(json.loads(route.request.post_data)["client_message_id"])
        if len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(MESSAGES, drop_first)
    send(page, "Through a flaky network.")
    expect(page.locator(".message[data-seq]", has_text="Through a flaky network.")).to_have_count(
        1, timeout=5_000
    )
    assert len(keys) == 2 and keys[0] == keys[1]
    assert contents(database, conversation_id) == ["Through a flaky network."]


def test_a_rate_limited_message_waits_for_retry_after(open_page, people, database):
    conversation_id = group(database, "Rate limited")
    open_page.allow(r"status of 429")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="limit-once")

    send(page, "Not so fast.")
    row = shown(page, "Not so fast.")
    expect(row.locator(".status")).to_contain_text("2 s")
    expect(page.locator(".message[data-seq]", has_text="Not so fast.")).to_have_count(
        1, timeout=5_000
    )
    assert len(posts.times) == 2 and posts.times[1] - posts.times[0] >= 1.8
    assert contents(database, conversation_id) == ["Not so fast."]


# --- refused ----------------------------------------------------------------------------------


def test_a_refused_message_is_marked_failed_kept_and_offered_back(open_page, people, database):
    conversation_id = group(database, "Refused")
    open_page.allow(r"status of 403")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="refuse")
    composer = page.locator("#composer-text")

    send(page, "Refused at first.")
    row = shown(page, "Refused at first.")
    expect(row).to_have_class(re.compile(r"\bfailed\b"))
    expect(row.get_by_role("alert")).to_contain_text("You may not post here.")
    # Final: not retried on its own, and kept across a reload, still failed.
    page.wait_for_timeout(1_500)
    assert len(posts.times) == 1
    page.reload()
    row = shown(page, "Refused at first.")
    expect(row).to_have_class(re.compile(r"\bfailed\b"))
    expect(row).to_contain_text("You may not post here.")
    page.wait_for_timeout(500)
    assert len(posts.times) == 1

    # Edit: the text goes back to the composer (and its draft), the row goes.
    row.get_by_role("button", name="Edit").click()
    expect(composer).to_have_value("Refused at first.")
    expect(composer).to_be_focused()
    expect(shown(page, "Refused at first.")).to_have_count(0)
    assert outbox(page) == []
    page.reload()
    expect(composer).to_have_value("Refused at first.")

    # Retry: sent again once allowed.
    send(page, "Refused, then retried.")
    row = shown(page, "Refused, then retried.")
    expect(row).to_have_class(re.compile(r"\bfailed\b"))
    posts.mode = "through"
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".message[data-seq]", has_text="Refused, then retried.")).to_have_count(1)
    expect(page.locator("#messages .message.failed")).to_have_count(0)
    assert contents(database, conversation_id) == ["Refused, then retried."]

    # Discard: asked for, so gone.
    posts.mode = "refuse"
    send(page, "Refused and discarded.")
    row = shown(page, "Refused and discarded.")
    row.get_by_role("button", name="Discard").click()
    expect(shown(page, "Refused and discarded.")).to_have_count(0)
    assert outbox(page) == []


# --- people -----------------------------------------------------------------------------------


def test_two_accounts_in_one_browser_never_see_or_send_each_others(open_page, people, database):
    conversation_id = group(database, "Shared computer")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="hold")
    send(page, "Alice's unsent message.")
    wait_for(page, lambda: posts.held)
    page.locator("#composer-text").fill("Alice's draft.")

    # Alice's session ends without signing out (it expired); Bob signs in, same browser.
    posts.mode = "through"
    page.context.clear_cookies()
    sign_in(page, "bob")
    open_thread(page, conversation_id)
    expect(page.locator("#composer-text")).to_have_value("")
    expect(page.locator("#messages .message")).to_have_count(0)
    page.wait_for_timeout(1_000)
    assert posts.sent == [] and contents(database, conversation_id) == []

    # Alice again: hers are back, and sent as hers.
    page.context.clear_cookies()
    sign_in(page, "alice")
    open_thread(page, conversation_id)
    expect(page.locator("#composer-text")).to_have_value("Alice's draft.")
    expect(
        page.locator(".message[data-seq].mine", has_text="Alice's unsent message.")
    ).to_have_count(1)
    saved = json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Message\n"
            "print(json.dumps([m.sender.username for m in "
            f"Message.objects.filter(conversation_id='{conversation_id}')]))"
        )
    )
    assert saved == ["alice"]


def test_signing_out_asks_before_forgetting_unsent_messages(open_page, people, database):
    conversation_id = group(database, "Signing out")
    page = open_page("alice")
    open_thread(page, conversation_id)
    posts = Posts(page, mode="hold")
    send(page, "Unsent at sign-out.")
    wait_for(page, lambda: posts.held)
    page.locator("#composer-text").fill("A draft at sign-out.")
    dialogs = []

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Sign out").click()
    wait_for(page, lambda: dialogs)
    assert "1 message is not sent yet" in dialogs[0]
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))  # still signed in
    assert len(outbox(page)) == 1

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert stored(page) == {}  # nothing of alice's left in this browser


# --- the look ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "size", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}], ids=["laptop", "phone"]
)
def test_pending_and_failed_messages_look_deliberate(
    open_page, people, database, scheme, size, tmp_path
):
    """A failed message (the reason, Retry, Edit, Discard) and one on its way (dashed, a
    quiet status), with no serious axe finding: screenshots in $OUTBOX_SHOTS (else a
    temporary folder)."""
    conversation_id = group(
        database, "How it looks", messages=["Shall we meet at ten?", "Ten works for me."]
    )
    open_page.allow(r"status of 403")
    # bypass_csp for axe's script only (see run_axe).
    page = open_page("alice", viewport=size, color_scheme=scheme, bypass_csp=True)
    open_thread(page, conversation_id)
    posts = Posts(page, mode="refuse")
    send(page, "This one was refused by the server.")
    expect(page.locator(".message.failed")).to_be_visible()
    posts.mode = "hold"
    send(page, "This one is still on its way.")
    wait_for(page, lambda: posts.held)
    pending = shown(page, "This one is still on its way.")
    expect(pending).to_have_attribute("data-state", "sending")

    # The edge is the bubble's (partials/message_row.html: our own messages are bubbles).
    style = pending.locator(".bubble").evaluate("bubble => getComputedStyle(bubble).borderTopStyle")
    assert style == "dashed"
    failed = page.locator(".message.failed")
    edge = failed.locator(".bubble").evaluate("bubble => getComputedStyle(bubble).borderTopStyle")
    assert edge == "solid"
    # Readable: no opacity trick that would take the text below contrast.
    assert pending.evaluate("row => getComputedStyle(row).opacity") == "1"
    assert run_axe(page) == []

    shots = Path(os.environ.get("OUTBOX_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    name = f"outbox-{'laptop' if size['width'] > 760 else 'phone'}-{scheme}"
    page.screenshot(path=shots / f"{name}.png")
    # Offline: the same row, waiting (its ring stops turning).
    open_page.allow("ERR_INTERNET_DISCONNECTED")
    page.context.set_offline(True)
    expect(pending).to_have_attribute("data-state", "waiting")
    expect(pending.locator(".status")).to_contain_text("offline")
    page.screenshot(path=shots / f"{name}-offline.png")
    for shot in (f"{name}.png", f"{name}-offline.png"):
        assert (shots / shot).stat().st_size > 10_000
