"""The settings page as a person uses it: the theme chooser's real form, in Chromium."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import make_users


@pytest.fixture(scope="module")
def people(database):
    make_users(database, "tess")


def test_the_theme_chooser_shows_each_choice_once_and_saves_it(open_page, people):
    page = open_page("tess")
    page.goto("/settings/")
    radios = page.locator("fieldset input[type=radio][name=theme]")
    expect(radios).to_have_count(3)
    labels = [text.strip() for text in page.locator("fieldset label.choice").all_inner_texts()]
    assert labels == ["Like the system", "Light", "Dark"]
    assert page.locator("fieldset option").count() == 0
    page.get_by_role("radio", name="Dark").check()
    page.get_by_role("button", name="Save theme").click()
    page.wait_for_url("**/settings/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    # Remembered: the next page is dark too, and the chooser says so.
    page.goto("/settings/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("radio", name="Dark")).to_be_checked()
    page.get_by_role("radio", name="Light").check()
    page.get_by_role("button", name="Save theme").click()
    page.wait_for_url("**/settings/")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
