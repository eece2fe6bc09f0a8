"""The workspace pages without JavaScript: the list of one's workspaces, a workspace's
members and invitations, and an invitation link's page (signed in, or after signing in or
registering with `next`). Outsiders get the 404 page; a member's try at an admin's act,
the 403 page."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from conversations.models import AuditEvent, Invitation, Membership

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-9"


@pytest.fixture
def browser_for():
    def make(user=None, **options):
        client = Client(**options)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def dave(make_user, settings):
    settings.SHARED_WORKSPACE = False
    user = make_user("dave")
    settings.SHARED_WORKSPACE = True
    return user


def page_of(slug: str) -> str:
    return reverse("conversations:workspace", args=[slug])


def test_the_sidebar_and_settings_link_to_the_workspaces(browser_for, alice, team):
    client = browser_for(alice)
    link = reverse("conversations:workspaces")
    assert f'href="{link}"' in client.get("/").content.decode()
    assert f'href="{link}"' in client.get(reverse("settings")).content.decode()
    listing = client.get(link).content.decode()
    assert page_of("team") in listing and page_of(alice.default_workspace.slug) in listing
    assert "everyone on this server" in listing


def test_an_outsider_gets_the_404_page_for_a_workspace(browser_for, alice, team, dave):
    client = browser_for(dave)
    there = client.get(page_of("team"))
    nowhere = client.get(page_of("nowhere"))
    assert there.status_code == nowhere.status_code == 404

    def words(response, slug):  # the page, less its CSRF tokens and its own address
        page = re.sub(r'value="[A-Za-z0-9]{64}"', "", response.content.decode())
        return page.replace(page_of(slug), "")

    assert words(there, "team") == words(nowhere, "nowhere")
    invitation = services.invitation_create(workspace=team, actor=alice).invitation
    for data in [
        {"action": "revoke", "id": str(invitation.pk)},
        {"action": "add", "username": "dave", "role": "member"},
        {"action": "remove", "id": str(alice.pk)},
    ]:
        assert client.post(page_of("team"), data).status_code == 404
    assert Invitation.objects.get().revoked_at is None
    assert not Membership.objects.filter(workspace=team, user=dave).exists()
    assert browser_for().get(page_of("team")).status_code == 302  # to sign in


def test_a_member_sees_the_members_but_no_admin_tools(browser_for, alice, bob, team):
    page = browser_for(bob).get(page_of("team")).content.decode()
    assert "@alice" in page and "@charlie" in page and "Owner" in page
    assert 'value="invite"' not in page and 'value="revoke"' not in page
    assert 'name="role"' not in page
    assert "Leave this workspace" in page


def test_a_member_gets_403_for_an_admins_act(browser_for, alice, bob, charlie, team):
    invitation = services.invitation_create(workspace=team, actor=alice).invitation
    client = browser_for(bob)
    for data in [
        {"action": "add", "username": "alice", "role": "member"},
        {"action": "invite", "email": "", "role": "member", "expires_in_days": "7"},
        {"action": "revoke", "id": str(invitation.pk)},
        {"action": "role", "user": str(charlie.pk), "role": "admin"},
        {"action": "remove", "id": str(charlie.pk)},
    ]:
        assert client.post(page_of("team"), data).status_code == 403, data
    assert Membership.objects.get(workspace=team, user=charlie).role == "member"


def test_the_owner_manages_members_through_the_page(browser_for, alice, bob, charlie, team, dave):
    client = browser_for(alice, enforce_csrf_checks=True)
    page = client.get(page_of("team"))
    token = client.cookies["csrftoken"].value
    assert 'name="role"' in page.content.decode()

    def act(**data):
        return client.post(page_of("team"), {"csrfmiddlewaretoken": token, **data})

    assert act(action="add", username="dave", role="member").status_code == 302
    assert Membership.objects.get(workspace=team, user=dave).role == "member"
    assert act(action="role", user=str(bob.pk), role="admin").status_code == 302
    assert Membership.objects.get(workspace=team, user=bob).role == "admin"
    assert act(action="remove", id=str(charlie.pk)).status_code == 302
    assert not Membership.objects.filter(workspace=team, user=charlie).exists()
    # The last owner cannot step down: said on the page, 409.
    refused = act(action="role", user=str(alice.pk), role="member")
    assert refused.status_code == 409
    assert "keeps at least one owner" in refused.content.decode()
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert {"membership.added", "membership.role_changed", "membership.removed"} <= set(actions)


def test_bad_input_on_the_page_is_a_4xx(browser_for, alice, team):
    client = browser_for(alice)
    for data, status in [
        ({"action": "role", "user": "not-a-uuid", "role": "admin"}, 422),
        ({"action": "role", "user": str(alice.pk), "role": "king"}, 422),
        ({"action": "add", "username": "x" * 151, "role": "member"}, 422),
        ({"action": "add", "username": "ghost", "role": "member"}, 422),
        ({"action": "invite", "email": "nope", "role": "member", "expires_in_days": "7"}, 422),
        ({"action": "invite", "email": "", "role": "member", "expires_in_days": "0"}, 422),
        ({"action": "explode"}, 400),
        ({"action": "add", "username": "a\x00", "role": "member"}, 400),
    ]:
        assert client.post(page_of("team"), data).status_code == status, data


def test_an_invitation_link_made_on_the_page_is_shown_once(browser_for, alice, team):
    client = browser_for(alice)
    response = client.post(
        page_of("team"),
        {"action": "invite", "email": "", "role": "member", "expires_in_days": "3"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', response.content.decode())[1]
    assert "/invite/inv_" in link
    again = client.get(page_of("team")).content.decode()
    assert link not in again and "Anyone with the link" in again
    invitation = Invitation.objects.get()
    response = client.post(page_of("team"), {"action": "revoke", "id": str(invitation.pk)})
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_someone_signed_in_joins_through_the_link(browser_for, alice, team, dave):
    issued = services.invitation_create(workspace=team, actor=alice)
    url = reverse("conversations:invitation", args=[issued.token])
    client = browser_for(dave)
    page = client.get(url)
    assert page.status_code == 200 and "Join Team" in page.content.decode()
    assert page["Cache-Control"] == "no-store"
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == page_of("team")
    assert Membership.objects.filter(workspace=team, user=dave).exists()
    assert "You are a member already" in client.get(url).content.decode()


def test_a_newcomer_registers_then_joins(browser_for, alice, team, settings):
    settings.ALLOW_REGISTRATION = True
    settings.SHARED_WORKSPACE = False  # a closed team: the link is the only way in
    issued = services.invitation_create(workspace=team, actor=alice)
    url = reverse("conversations:invitation", args=[issued.token])
    client = browser_for()
    page = client.get(url).content.decode()
    register = f"{reverse('register')}?next={url}"
    assert register in page and f"{reverse('login')}?next=" in page
    form = client.get(register).content.decode()
    assert f'name="next" value="{url}"' in form
    response = client.post(
        reverse("register"),
        {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD, "next": url},
    )
    assert response.status_code == 302 and response["Location"] == url
    assert client.post(url).status_code == 302
    assert Membership.objects.filter(workspace=team, user__username="newbie").exists()


def test_register_ignores_a_next_to_another_site(browser_for, settings):
    settings.ALLOW_REGISTRATION = True
    response = browser_for().post(
        reverse("register"),
        {
            "username": "wary",
            "email": "wary@example.com",
            "password": PASSWORD,
            "next": "https://evil.example.com/",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("conversations:home")


def test_someone_signed_out_is_sent_to_sign_in_to_join(browser_for, alice, team):
    issued = services.invitation_create(workspace=team, actor=alice)
    url = reverse("conversations:invitation", args=[issued.token])
    response = browser_for().post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_dead_link_says_why(browser_for, alice, team, dave):
    revoked = services.invitation_create(workspace=team, actor=alice)
    services.invitation_revoke(invitation=revoked.invitation, actor=alice)
    client = browser_for(dave)
    url = reverse("conversations:invitation", args=[revoked.token])
    page = client.get(url)
    assert page.status_code == 409 and "was revoked" in page.content.decode()
    assert client.post(url).status_code == 409
    assert not Membership.objects.filter(workspace=team, user=dave).exists()
    for token in ["inv_nothing", "x" * 300]:
        assert client.get(reverse("conversations:invitation", args=[token])).status_code == 404


def test_the_members_page_is_paged_and_searched(browser_for, alice, team, make_user):
    for number in range(55):
        services.member_add(workspace=team, actor=alice, user=make_user(f"p{number:02d}"))
    client = browser_for(alice)
    page = client.get(page_of("team")).content.decode()
    more = re.search(r'href="\?([^"]*cursor=[^"]+)"', page)
    assert more and page.count("@p") == 47  # alice, bob, charlie, then 47 of the p's
    rest = client.get(page_of("team") + "?" + more[1].replace("&amp;", "&")).content.decode()
    assert "@p54" in rest and "@p00" not in rest
    found = client.get(page_of("team") + "?q=p5").content.decode()
    assert found.count("@p5") == 5
    assert client.get(page_of("team") + "?cursor=forged").status_code == 200
