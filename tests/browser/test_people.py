"""People on one server find each other, in Chromium on the real pages: an owner invites by
link in one browser, a newcomer registers through the link and joins in another; the link
revoked, the newcomer's page says so; the People field's combobox driven by the keyboard
alone; the same field without JavaScript. axe-core on the workspace and invitation pages."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, make_users, run_axe


@pytest.fixture(scope="module")
def people(database):
    """owen, pia and quinn, all in the shared workspace (owen made first: its owner); a
    closed team `crew` that only owen is in."""
    make_users(database, "owen", "pia", "quinn")
    database.shell(
        "from chatapp.accounts.models import User\n"
        "from conversations.services import workspace_create\n"
        "workspace_create(name='Crew', slug='crew', owner=User.objects.get(username='owen'))\n"
        "print('ok')"
    )


def members_of(database, slug: str) -> dict[str, str]:
    return json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Membership\n"
            "print(json.dumps(dict(Membership.objects.filter(workspace__slug="
            f"{slug!r}).values_list('user__username', 'role'))))"
        )
    )


def people_form(page, kind: str):
    """The sidebar's "Chat with people" form, opened, with `kind` chosen."""
    page.get_by_text("Chat with people").click()
    form = page.locator("details.new-conversation form")
    form.get_by_label("Kind").select_option(kind)
    return form


def test_an_invited_newcomer_joins_a_closed_workspace_by_the_link(open_page, people, database):
    owner = open_page("owen", bypass_csp=True)
    owner.goto("/")
    owner.get_by_role("link", name="Members and invitations").click()
    expect(owner).to_have_url(re.compile(r"/w/$"))
    owner.get_by_role("link", name="Crew").click()
    expect(owner.get_by_role("heading", name="Crew", level=1)).to_be_visible()
    assert run_axe(owner) == []
    owner.get_by_label("Expires after (days)").fill("3")
    owner.get_by_role("button", name="Create an invitation link").click()
    link = owner.locator("#invitation-link").inner_text().strip()
    assert re.search(r"/invite/inv_[\w-]{43}$", link), link
    expect(owner.get_by_role("button", name="Copy the link")).to_be_visible()  # people.js
    assert run_axe(owner) == []

    # Someone with no account yet, in another browser: the link, then register, then join.
    newcomer = open_page(bypass_csp=True)
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Join Crew")).to_be_visible()
    expect(newcomer.get_by_text("Owen invites you")).to_be_visible()
    assert run_axe(newcomer) == []
    newcomer.get_by_role("link", name="Create an account").click()
    newcomer.get_by_label("Username").fill("nina")
    newcomer.get_by_label("Email").fill("nina@example.com")
    newcomer.get_by_label("Password").fill(PASSWORD)
    newcomer.get_by_role("button", name="Register").click()
    expect(newcomer).to_have_url(link)  # back at the link, signed in
    newcomer.get_by_role("button", name="Join Crew").click()
    expect(newcomer).to_have_url(re.compile(r"/w/crew/$"))
    expect(newcomer.get_by_text("Welcome to Crew.")).to_be_visible()
    expect(newcomer.get_by_text("@nina")).to_be_visible()
    assert members_of(database, "crew") == {"owen": "owner", "nina": "member"}

    # The owner sees her and revokes the link (after the confirmation dialog).
    owner.goto("/w/crew/")
    expect(owner.get_by_text("@nina")).to_be_visible()
    owner.locator("form:has(input[value=revoke])").get_by_role("button", name="Revoke").click()
    owner.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(owner.get_by_text("No open invitations.")).to_be_visible()

    # The link is dead now: quinn, signed in, is told so and cannot join.
    open_page.allow(r"status of 409")  # the dead link's page, on purpose
    late = open_page("quinn")
    response = late.goto(link)
    assert response.status == 409
    expect(late.get_by_text("This invitation was revoked.")).to_be_visible()
    expect(late.get_by_role("button", name=re.compile("Join"))).to_have_count(0)
    assert "quinn" not in members_of(database, "crew")


def test_the_people_field_is_a_combobox_for_the_keyboard(open_page, people, database):
    page = open_page("pia", bypass_csp=True)
    page.goto("/")
    form = people_form(page, "group")
    form.get_by_label("Title").fill("Trip")
    field = form.get_by_role("combobox", name="People")
    expect(field).to_have_attribute("aria-expanded", "false")
    listbox_id = field.get_attribute("aria-controls")
    listbox = page.locator(f"#{listbox_id}")
    expect(listbox).to_have_attribute("role", "listbox")

    field.focus()
    page.keyboard.type("qu")
    expect(field).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox.get_by_role("option").first).to_contain_text("Quinn")
    page.keyboard.press("ArrowDown")
    active = field.get_attribute("aria-activedescendant")
    expect(page.locator(f"#{active}")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")  # picks; does not send the form
    chips = form.locator(".chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("Quinn (quinn)")
    expect(field).to_have_value("")
    expect(field).to_have_attribute("aria-expanded", "false")
    expect(page).to_have_url(re.compile(r"/$"))
    assert run_axe(page) == []

    # Escape closes the list; the one who types is never offered.
    page.keyboard.type("o")
    expect(listbox.get_by_role("option", name=re.compile("Owen"))).to_be_visible()
    expect(listbox.get_by_role("option", name=re.compile("Pia"))).to_have_count(0)
    page.keyboard.press("Escape")
    expect(field).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()
    # Up opens it at the last option; Enter picks owen; Backspace on the empty field takes
    # the last chip away, and a chip's own button too.
    page.keyboard.press("ArrowUp")
    expect(field).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Enter")
    expect(chips).to_have_count(2)
    page.keyboard.press("Backspace")
    expect(chips).to_have_count(1)
    page.keyboard.type("owe")
    expect(listbox.get_by_role("option")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(chips).to_have_count(2)
    expect(form.get_by_role("button", name="Remove Owen")).to_be_visible()

    # Start: the group is made with both, in the shared workspace.
    form.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    found = json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Conversation\n"
            f"c = Conversation.objects.get(pk='{conversation_id}')\n"
            "print(json.dumps({'title': c.title, 'shared': c.workspace.is_shared, 'people': "
            "sorted(c.participants.values_list('user__username', flat=True))}))"
        )
    )
    assert found == {"title": "Trip", "shared": True, "people": ["owen", "pia", "quinn"]}


def test_without_javascript_the_people_field_is_plain_text(open_page, people, database):
    page = open_page("quinn", java_script_enabled=False)
    page.goto("/#sidebar")
    form = people_form(page, "direct")
    field = form.get_by_label("People")
    assert field.get_attribute("role") is None and field.get_attribute("name") == "participants"
    field.fill("owen")
    form.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator("#thread-title")).to_have_text("Owen")
