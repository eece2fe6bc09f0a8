"""New chat in a browser: one click opens an empty thread with the composer focused and no
conversation made; the first message makes it (POST /api/v1/conversations with `message`),
the reply streams and the URL becomes the conversation's without a reload; reloading or
leaving the empty page makes nothing, and a first message whose answer was lost is sent
again after a reload into the one conversation it made. Real server, fake OpenAI, Chromium."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import make_users, run_axe
from tests.browser.test_chat import saved_messages
from tests.browser.test_outbox import wait_for
from tests.fake_openai import text_reply

THREAD_URL = re.compile(r"/c/([0-9a-f-]{36})/$")
START = re.compile(r"/api/v1/conversations$")


@pytest.fixture(scope="module")
def people(database):
    make_users(database, "alice")


def conversation_count(database) -> int:
    return int(
        database.shell(
            "from conversations.models import Conversation\nprint(Conversation.objects.count())"
        )
    )


def conversation_id_of(page) -> str:
    return THREAD_URL.search(page.url).group(1)


def test_new_chat_is_made_by_its_first_message_and_streams_the_reply(
    open_page, people, fake, database
):
    answer = "Day one: Alfama and the castle. " + " ".join(f"step{n}" for n in range(30))
    fake.script(text_reply(answer, tokens_per_second=20))  # a second and a half
    page = open_page("alice")
    before = conversation_count(database)
    page.goto("/")
    page.locator("#sidebar").get_by_role("link", name="New chat", exact=True).click()
    expect(page).to_have_url(re.compile(r"/new$"))
    composer = page.locator("#composer-text")
    expect(composer).to_be_focused()
    expect(composer).to_have_attribute("placeholder", "Ask Assistant…")
    expect(page.locator("#thread-title")).to_have_text("New chat")
    assert conversation_count(database) == before  # opened: nothing made
    page.evaluate("window.notReloaded = true")

    page.keyboard.type("Plan three days in Lisbon")
    page.keyboard.press("Enter")
    expect(page).to_have_url(THREAD_URL)
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    reply = page.locator(".message.role-assistant").last
    expect(reply).to_contain_text("Alfama")
    expect(stop).to_be_hidden(timeout=15_000)
    expect(reply.locator(".md.body")).to_have_text(answer)
    assert page.evaluate("window.notReloaded")  # in place, no reload

    # The page is the conversation's thread now: its header, title, sidebar entry, count.
    conversation_id = conversation_id_of(page)
    expect(page.locator("#thread-title")).to_have_text("Plan three days in Lisbon")
    expect(page).to_have_title("Plan three days in Lisbon · chatapp")
    expect(page.locator("details.thread-actions")).to_have_count(1)
    expect(page.locator("#message-count")).to_have_text("2 messages")
    current = page.locator("#sidebar .conversation-item.current")
    expect(current).to_contain_text("Plan three days in Lisbon")
    assert conversation_count(database) == before + 1
    saved = saved_messages(database, conversation_id)
    assert [(m["role"], m["status"], m["content"]) for m in saved] == [
        ("user", "complete", "Plan three days in Lisbon"),
        ("assistant", "complete", answer),
    ]
    assert fake.requests[-1].body["messages"][-1] == {
        "role": "user",
        "content": "Plan three days in Lisbon",
    }
    # The next message goes to the same conversation, as in any thread.
    fake.script(text_reply("Day two: Belém."))
    page.keyboard.type("And day two?")
    page.keyboard.press("Enter")
    expect(page.locator(".message.role-assistant .md.body").last).to_have_text("Day two: Belém.")
    assert conversation_count(database) == before + 1
    assert len(saved_messages(database, conversation_id)) == 4
    assert (
        page.evaluate("() => Object.keys(localStorage).filter((key) => key.endsWith(':new'))") == []
    )

    page.reload()
    expect(page.locator(".message.role-user .md.body").first).to_have_text(
        "Plan three days in Lisbon"
    )


def test_reloading_or_leaving_an_empty_new_chat_makes_nothing(open_page, people, database):
    before = conversation_count(database)
    page = open_page("alice", bypass_csp=True)
    page.goto("/")
    page.get_by_role("link", name="New chat with the assistant").click()
    expect(page.locator("#composer-text")).to_be_focused()
    assert run_axe(page) == []
    page.reload()
    expect(page.locator("#composer-text")).to_be_focused()
    # A draft is kept (under "new") for the next New chat, and still nothing is made.
    page.locator("#composer-text").fill("Half a question")
    page.goto("/")
    page.locator("#sidebar").get_by_role("link", name="New chat", exact=True).click()
    expect(page.locator("#composer-text")).to_have_value("Half a question")
    page.go_back()
    page.go_forward()
    page.goto("/search?q=x")
    assert conversation_count(database) == before


def test_a_first_message_whose_answer_was_lost_is_one_conversation(
    open_page, people, fake, database
):
    fake.script(text_reply("Answered once."))
    before = conversation_count(database)
    page = open_page("alice")
    page.goto("/new")
    answered = []

    def lose_the_answer(route) -> None:
        if route.request.method != "POST" or answered:
            route.continue_()
            return
        route.fetch()  # the server makes the conversation; the page never hears of it
        answered.append(route)  # never answered: the reload cancels it

    page.route(START, lose_the_answer)
    page.locator("#composer-text").fill("Made once, asked twice?")
    page.locator("#composer-text").press("Enter")
    expect(page.locator("#messages .message.pending")).to_have_count(1)
    wait_for(page, lambda: answered)
    assert conversation_count(database) == before + 1
    expect(page).to_have_url(re.compile(r"/new$"))
    answered.append("let the next ones through")
    page.reload()  # the outbox (under "new") sends it again: the same key finds it

    expect(page).to_have_url(THREAD_URL)
    reply = page.locator(".message.role-assistant .md.body")
    expect(reply).to_have_text("Answered once.", timeout=10_000)
    expect(page.locator("#messages .message.role-user")).to_have_count(1)
    assert conversation_count(database) == before + 1
    saved = saved_messages(database, conversation_id_of(page))
    assert [(m["role"], m["content"]) for m in saved] == [
        ("user", "Made once, asked twice?"),
        ("assistant", "Answered once."),
    ]
