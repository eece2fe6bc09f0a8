"""Users in the admin: moderators suspend and unsuspend; superusers add users (through the
service, so they get a workspace) and change roles (recorded in the audit log)."""

import pytest
from django.contrib.auth.models import Group

from chatapp.accounts.models import ApiToken, User
from conversations.models import AuditEvent

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


def test_moderator_suspends_from_the_list_and_unsuspends_from_the_page(
    bob, mod, tokens_for, client_for, run_action
):
    tokens_for(bob)
    bob_browser = client_for(bob)
    client = client_for(mod)

    run_action(client, USERS, "suspend_selected", [bob], "threats")

    bob.refresh_from_db()
    assert not bob.is_active
    assert not ApiToken.objects.filter(user=bob, revoked_at__isnull=True).exists()
    assert bob_browser.get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.get(action="user.suspended").reason == "threats"

    page = client.get(f"{USERS}{bob.pk}/change/").content.decode()
    assert f"{USERS}{bob.pk}/unsuspend/" in page
    client.post(f"{USERS}{bob.pk}/unsuspend/", {"confirm": "yes", "reason": "appeal"})
    bob.refresh_from_db()
    assert bob.is_active


def test_moderator_cannot_suspend_staff(boss, mod, client_for):
    response = client_for(mod).post(
        f"{USERS}{boss.pk}/suspend/", {"confirm": "yes", "reason": "coup"}, follow=True
    )
    assert "Only a superuser can suspend staff" in response.content.decode()
    boss.refresh_from_db()
    assert boss.is_active


def test_superuser_adds_a_user_with_a_personal_workspace(boss, client_for):
    response = client_for(boss).post(
        f"{USERS}add/",
        {
            "username": "dana",
            "email": "dana@example.com",
            "display_name": "Dana",
            "usable_password": "true",
            "password1": "Another-horse-7",
            "password2": "Another-horse-7",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    dana = User.objects.get(username="dana")
    assert dana.default_workspace is not None and dana.default_workspace.is_personal
    assert dana.check_password("Another-horse-7")
    assert response["Location"] == f"{USERS}{dana.pk}/change/"


def test_making_someone_a_moderator_is_in_the_audit_log(boss, bob, client_for):
    moderators = Group.objects.get(name="Moderators")
    response = client_for(boss).post(
        f"{USERS}{bob.pk}/change/",
        {
            "username": "bob",
            "display_name": "Bob",
            "email": "bob@example.com",
            "first_name": "",
            "last_name": "",
            "default_workspace": bob.default_workspace_id,
            "is_staff": "on",
            "groups": [moderators.pk],
        },
    )
    assert response.status_code == 302, response.content[:3000]
    bob.refresh_from_db()
    assert bob.is_staff and list(bob.groups.all()) == [moderators]
    event = AuditEvent.objects.get(action="user.roles_changed")
    assert event.actor == boss and event.target_id == str(bob.pk)
    assert event.data == {
        "is_staff": {"from": False, "to": True},
        "groups": {"from": [], "to": ["Moderators"]},
    }
