"""The thread's header and the tab's title follow the conversation's title without a
reload: the title derived from the first message (the header said "Untitled" until a
reload while the sidebar already showed it), and a rename made in another tab."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import make_users
from tests.browser.test_chat import start_assistant_conversation

LIVE_TIMEOUT = 5_000  # ms


@pytest.fixture(scope="module")
def people(database):
    make_users(database, "alice")


def test_the_header_shows_the_title_derived_from_the_first_message(open_page, people):
    page = open_page("alice")
    with page.expect_response(lambda response: "/api/v1/events" in response.url):
        start_assistant_conversation(page)
    heading = page.locator("#thread-title")
    expect(heading).to_have_text("Untitled")
    expect(page).to_have_title("Untitled · chatapp")
    page.evaluate("window.notReloaded = true")

    composer = page.locator("#composer-text")
    composer.fill("Plan the garden party\nwith a list of what to bring")
    composer.press("Enter")
    expect(page.locator("#sidebar .conversation-item.current")).to_contain_text(
        "Plan the garden party", timeout=LIVE_TIMEOUT
    )
    expect(heading).to_have_text("Plan the garden party", timeout=LIVE_TIMEOUT)
    expect(page).to_have_title("Plan the garden party · chatapp")
    expect(page.locator("#rename-title")).to_have_value("Plan the garden party")
    assert page.evaluate("window.notReloaded")  # in place

    page.reload()  # what the server renders says the same
    expect(heading).to_have_text("Plan the garden party")


def test_a_rename_in_another_tab_reaches_the_header(open_page, people):
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)
    other = open_page("alice")
    with other.expect_response(lambda response: "/api/v1/events" in response.url):
        other.goto(f"/c/{conversation_id}/")

    page.locator("details.actions summary").click()
    page.locator("#rename-title").fill("Renamed elsewhere")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#thread-title")).to_have_text("Renamed elsewhere")

    expect(other.locator("#thread-title")).to_have_text("Renamed elsewhere", timeout=LIVE_TIMEOUT)
    expect(other).to_have_title("Renamed elsewhere · chatapp")
