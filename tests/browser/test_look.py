"""How the pages look and who can use them: dark mode that survives a reload, the phone
drawer, axe-core's accessibility checks on the main pages, and the screenshots in
docs/screenshots/ (taken from `manage.py seed_demo`'s conversations)."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

DEMO_PASSWORD = "demo-password-1"  # seed_demo's default


@pytest.fixture(scope="module")
def demo(database) -> dict[str, str]:
    """seed_demo's user `demo` and conversations: {subject key: conversation id}."""
    database.manage("seed_demo", env={**database.env, "DEMO_PASSWORD": DEMO_PASSWORD})
    return json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Conversation\n"
            "print(json.dumps({c.subject_id: str(c.pk) for c in "
            "Conversation.objects.filter(subject_type='seed_demo')}))"
        )
    )


def demo_page(open_page, **options):
    page = open_page(**options)
    sign_in(page, "demo", DEMO_PASSWORD)
    return page


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_dark_toggle_survives_a_reload(open_page, demo):
    page = demo_page(open_page, color_scheme="light")
    page.goto(f"/c/{demo['welcome']}/")
    html = page.locator("html")
    expect(html).not_to_have_attribute("data-theme", re.compile("."))
    light = background(page)
    toggle = page.get_by_role("button", name="Switch to dark mode")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Switch to light mode")).to_be_visible()
    dark = background(page)
    assert dark != light
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("theme") == "dark"

    page.reload()
    # The server renders the theme from the cookie: dark before any script runs.
    expect(html).to_have_attribute("data-theme", "dark")
    assert background(page) == dark
    page.goto("/")
    expect(html).to_have_attribute("data-theme", "dark")

    # And back.
    page.get_by_role("button", name="Switch to light mode").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    assert background(page) == light


def test_the_dark_theme_follows_the_system_until_chosen(open_page, demo):
    page = demo_page(open_page, color_scheme="dark")
    page.goto("/")
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
    system_dark = background(page)
    # The toggle offers the theme not shown, whatever made it dark.
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-label", "Switch to light mode")
    page.emulate_media(color_scheme="light")
    assert background(page) != system_dark
    expect(toggle).to_have_attribute("aria-label", "Switch to dark mode")
    page.emulate_media(color_scheme="dark")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) != system_dark


def test_the_phone_layout_opens_the_sidebar_as_a_drawer(open_page, demo):
    page = demo_page(
        open_page, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page.goto(f"/c/{demo['welcome']}/")
    sidebar = page.locator("#sidebar")
    menu = page.get_by_role("link", name="Conversations")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(sidebar).not_to_be_in_viewport()
    # The thread fills the screen, composer included.
    expect(page.locator("#composer-text")).to_be_in_viewport()
    box = page.locator(".thread").bounding_box()
    assert box["x"] >= 0 and box["width"] >= 380

    menu.click()
    expect(sidebar).to_be_in_viewport()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(sidebar.get_by_role("link", name=re.compile("Fix the off-by-one"))).to_be_visible()
    # Focus moved into the drawer.
    assert page.evaluate("document.getElementById('sidebar').contains(document.activeElement)")

    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    expect(menu).to_have_attribute("aria-expanded", "false")

    # Open again, and follow a conversation from the drawer.
    menu.click()
    sidebar.get_by_role("link", name=re.compile("Fix the off-by-one")).click()
    expect(page).to_have_url(re.compile(demo["tool-use"]))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fix the off-by-one in paginate()")
    expect(sidebar).not_to_be_in_viewport()


def test_the_phone_drawer_works_without_javascript(open_page, demo):
    page = demo_page(open_page, viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page.goto(f"/c/{demo['welcome']}/")
    sidebar = page.locator("#sidebar")
    expect(sidebar).not_to_be_in_viewport()
    page.get_by_role("link", name="Conversations").click()  # href="#sidebar": :target
    expect(sidebar).to_be_in_viewport()


# axe-core on every page and the screenshots of every state: tests/browser/test_review.py.
