"""Versions of a turn in the browser: edit a prompt inline and send it again, regenerate a
reply (twice, and not only the last), flip between the versions with the arrows by mouse and
keyboard, and find the same choice after a reload on another device; other tabs of the same
person follow the switch, another participant's view does not change. Real server, fake
OpenAI, Chromium; axe-core on a thread with versions."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, make_users, run_axe
from tests.browser.test_chat import open_thread, send, start_assistant_conversation
from tests.fake_openai import text_reply

LIVE_TIMEOUT = 5_000


@pytest.fixture(scope="module")
def people(database):
    make_users(database, "vera")


def version_label(row):
    return row.locator(".version-count [aria-hidden=true]")


def wait_idle(page):
    """The reply is over and its rows have settled: the saved rows replace the streamed one
    (the reply's own read, then the live event's), and a row replaced under the keyboard
    loses its focus. Settled: the rows stay the same elements for 400 ms."""
    expect(page.get_by_role("button", name="Stop")).to_be_hidden(timeout=15_000)
    rows = page.locator("#messages .message[data-position]")
    for _ in range(25):
        handles = rows.element_handles()
        page.wait_for_timeout(400)
        if all(handle.evaluate("row => row.isConnected") for handle in handles):
            return
    raise AssertionError("the thread's rows kept being replaced")


def shown_line(database, conversation_id: str, username: str) -> int:
    return json.loads(
        database.shell(
            "from conversations.models import Participant\n"
            f"print(Participant.objects.get(conversation_id='{conversation_id}', "
            f"user__username='{username}').line)"
        )
    )


def test_edit_resend_regenerate_and_flip_between_versions(open_page, people, fake, database):
    fake.script(
        text_reply("Paris is the capital."),
        text_reply("Berlin is the capital."),
        text_reply("Berlin, on the Spree."),
        text_reply("Berlin, since 1990."),
    )
    page = open_page("vera")
    conversation_id = start_assistant_conversation(page)
    open_thread(page, conversation_id)
    send(page, "What is the capital of France?")
    wait_idle(page)
    rows = page.locator("#messages .message[data-position]")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("Paris is the capital.")

    # Edit the prompt in place and send it again: a new version, and a new reply to it.
    prompt = rows.nth(0)
    prompt.hover()
    prompt.get_by_role("link", name="Edit message").click()
    editor = prompt.get_by_label("Edit your message")
    editor.fill("What is the capital of Germany?")
    prompt.get_by_role("button", name="Send").click()
    expect(rows.nth(1)).to_contain_text("Berlin is the capital.", timeout=LIVE_TIMEOUT)
    wait_idle(page)
    expect(version_label(rows.nth(0))).to_have_text("2 / 2")
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "user",
        "content": "What is the capital of Germany?",
    }
    # The assistant was sent the shown path only: not the French question or its answer.
    sent = json.dumps(fake.requests[-1].body["messages"])
    assert "France" not in sent and "Paris" not in sent

    # Regenerate the reply twice: three versions of it.
    for expected in ("Berlin, on the Spree.", "Berlin, since 1990."):
        reply = rows.nth(1)
        reply.hover()
        reply.get_by_role("button", name="Regenerate").click()
        expect(rows.nth(1)).to_contain_text(expected, timeout=LIVE_TIMEOUT)
        wait_idle(page)
    expect(version_label(rows.nth(1))).to_have_text("3 / 3")
    expect(rows).to_have_count(2)

    # Flip back with the keyboard: focus stays on the arrow, the text changes in place.
    previous = rows.nth(1).get_by_role("button", name="Previous version")
    previous.focus()
    page.keyboard.press("Enter")
    expect(version_label(rows.nth(1))).to_have_text("2 / 3")
    expect(rows.nth(1)).to_contain_text("Berlin, on the Spree.")
    expect(rows.nth(1).get_by_role("button", name="Previous version")).to_be_focused()
    page.keyboard.press("Enter")
    expect(version_label(rows.nth(1))).to_have_text("1 / 3")
    expect(rows.nth(1)).to_contain_text("Berlin is the capital.")
    # The first version has no previous: its arrow is disabled and focus moved to Next.
    expect(rows.nth(1).get_by_role("button", name="Previous version")).to_be_disabled()
    expect(rows.nth(1).get_by_role("button", name="Next version")).to_be_focused()

    # The prompt's first version brings back its own reply.
    rows.nth(0).get_by_role("button", name="Previous version").click()
    expect(version_label(rows.nth(0))).to_have_text("1 / 2")
    expect(rows.nth(1)).to_contain_text("Paris is the capital.")
    expect(rows.nth(1).locator(".version-count")).to_have_count(0)
    # And back to the second: below it, the reply version picked there (1 of 3).
    rows.nth(0).get_by_role("button", name="Next version").click()
    expect(version_label(rows.nth(0))).to_have_text("2 / 2")
    expect(version_label(rows.nth(1))).to_have_text("1 / 3")
    expect(rows.nth(1)).to_contain_text("Berlin is the capital.")

    # Another device (a fresh browser context) opens the same choice: kept on the server.
    phone = open_page("vera", viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(f"/c/{conversation_id}/")
    phone_rows = phone.locator("#messages .message[data-position]")
    expect(version_label(phone_rows.nth(0))).to_have_text("2 / 2")
    expect(version_label(phone_rows.nth(1))).to_have_text("1 / 3")
    expect(phone_rows.nth(1)).to_contain_text("Berlin is the capital.")
    SCREENSHOTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "versions-phone-light.png"))
    page.screenshot(path=str(SCREENSHOTS / "versions-laptop-light.png"))


def test_other_tabs_follow_a_switch_and_it_works_without_javascript(
    open_page, people, fake, database
):
    fake.script(text_reply("One."), text_reply("Two."))
    page = open_page("vera")
    conversation_id = start_assistant_conversation(page)
    open_thread(page, conversation_id)
    send(page, "Count.")
    wait_idle(page)
    reply = page.locator("#messages .message[data-position]").nth(1)
    reply.hover()
    reply.get_by_role("button", name="Regenerate").click()
    expect(reply).to_contain_text("Two.", timeout=LIVE_TIMEOUT)
    wait_idle(page)

    other = open_page("vera", color_scheme="dark")
    open_thread(other, conversation_id)
    other_reply = other.locator("#messages .message[data-position]").nth(1)
    expect(other_reply).to_contain_text("Two.")
    # A switch in the first tab reaches the second through the live events.
    page.locator("#messages .message[data-position]").nth(1).get_by_role(
        "button", name="Previous version"
    ).click()
    expect(other_reply).to_contain_text("One.", timeout=LIVE_TIMEOUT)
    expect(version_label(other.locator("#messages .message[data-position]").nth(1))).to_have_text(
        "1 / 2"
    )
    other.screenshot(path=str(SCREENSHOTS / "versions-laptop-dark.png"))
    violations = run_axe_on(open_page, conversation_id)
    assert violations == [], violations

    # Without JavaScript the arrows are forms: the pick is made on the server all the same.
    plain = open_page("vera", java_script_enabled=False)
    plain.goto(f"/c/{conversation_id}/")
    plain.locator("#messages .message[data-position]").nth(1).get_by_role(
        "button", name="Next version"
    ).click()
    expect(plain.locator("#messages .message[data-position]").nth(1)).to_contain_text("Two.")
    assert shown_line(database, conversation_id, "vera") != 0


def run_axe_on(open_page, conversation_id):
    page = open_page("vera", bypass_csp=True)
    page.goto(f"/c/{conversation_id}/")
    expect(page.locator(".versions").first).to_be_visible()
    return run_axe(page)
