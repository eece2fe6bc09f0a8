"""The shared workspace: every way of making a user puts them in it (unless SHARED_WORKSPACE
is off), so two people who register can talk at once; migration 0014 gives an existing
install the workspace and its members."""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from chatapp.accounts.models import User
from chatapp.accounts.services import user_create, user_register
from conversations import services
from conversations.models import Conversation, Membership, Workspace, WorkspaceRole

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-9"


def shared_roles() -> dict[str, str]:
    workspace = Workspace.objects.get(is_shared=True)
    return dict(
        Membership.objects.filter(workspace=workspace).values_list("user__username", "role")
    )


def test_the_first_user_owns_the_shared_workspace_and_the_others_are_members(alice, bob):
    workspace = Workspace.objects.get(is_shared=True)
    assert workspace.name == "chatapp" and not workspace.is_personal
    assert shared_roles() == {"alice": "owner", "bob": "member"}
    # The personal workspace stays each one's default, for private assistant chats.
    assert alice.default_workspace.is_personal and bob.default_workspace.is_personal


def test_the_shared_workspace_is_named_by_site_name(settings):
    settings.SITE_NAME = "Acme   chat"
    user_create(username="first", password=PASSWORD)
    workspace = Workspace.objects.get(is_shared=True)
    assert (workspace.name, workspace.slug) == ("Acme chat", "acme-chat")


def test_every_way_of_making_a_user_joins_it(settings, admin_client):
    settings.ALLOW_REGISTRATION = True
    # Registration: the page, the API, the service.
    Client().post(
        reverse("register"),
        {"username": "paged", "email": "paged@example.com", "password": PASSWORD},
    )
    Client().post(
        "/api/v1/auth/register",
        data=json.dumps({"username": "apied", "email": "apied@example.com", "password": PASSWORD}),
        content_type="application/json",
    )
    user_register(email="served@example.com", username="served", password=PASSWORD)
    # The admin's add form, createsuperuser, Django's create_user.
    admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "admined",
            "email": "admined@example.com",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    call_command(
        "createsuperuser",
        interactive=False,
        username="boss2",
        email="boss2@example.com",
        verbosity=0,
    )
    User.objects.create_user(username="made", password=PASSWORD)
    roles = shared_roles()
    for username in ["paged", "apied", "served", "admined", "boss2", "made"]:
        assert roles.get(username) == "member", (username, roles)
    # admin_client's superuser was made first: the owner.
    assert "owner" in roles.values()


def test_with_shared_workspace_off_nobody_joins_one(settings):
    settings.SHARED_WORKSPACE = False
    user_create(username="closed", password=PASSWORD)
    assert not Workspace.objects.filter(is_shared=True).exists()
    assert Membership.objects.filter(user__username="closed").count() == 1  # personal only


def test_two_people_who_register_can_talk_at_once(settings):
    """The issue's first complaint: two new accounts could not start a conversation."""
    settings.ALLOW_REGISTRATION = True
    ada, grace = Client(), Client()
    for client, name in [(ada, "ada"), (grace, "grace")]:
        response = client.post(
            reverse("register"),
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert response.status_code == 302
    # The API (with the session), naming no workspace: a direct conversation goes in the
    # shared one.
    response = ada.post(
        "/api/v1/conversations",
        data=json.dumps({"kind": "direct", "participants": ["grace"]}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["workspace"] == Workspace.objects.get(is_shared=True).slug
    # The page's form, with its first workspace choice (the shared one): a group.
    page = grace.get(reverse("conversations:home")).content.decode()
    shared = Workspace.objects.get(is_shared=True)
    first_option = page.split('name="workspace"', 1)[1].split("<option", 2)[1]
    assert f'value="{shared.slug}"' in first_option
    response = grace.post(
        reverse("conversations:create"),
        {"kind": "group", "title": "Us", "workspace": shared.slug, "participants": "ada"},
    )
    assert response.status_code == 302
    group = Conversation.objects.get(kind="group")
    assert group.workspace == shared
    assert set(group.participants.values_list("user__username", flat=True)) == {"ada", "grace"}


def test_a_direct_or_group_start_naming_no_workspace_goes_in_the_shared_one(alice, bob):
    direct, _ = services.conversation_create(creator=alice, kind="direct", participants=[bob])
    assistant, _ = services.conversation_create(creator=alice, kind="assistant")
    assert direct.workspace.is_shared
    assert assistant.workspace == alice.default_workspace  # private, in the personal one


def test_someone_removed_from_the_shared_workspace_starts_in_their_own(alice, bob):
    shared = Workspace.objects.get(is_shared=True)
    services.member_remove(workspace=shared, actor=alice, user=bob)
    bob.refresh_from_db()
    assert services.workspace_default_for(user=bob, kind="direct") == bob.default_workspace


# --- migration 0014 -------------------------------------------------------------------------

BEFORE = [("conversations", "0013_workspace_shared_invitation")]
AFTER = [("conversations", "0014_shared_workspace")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_0014(transactional_db):
    """The database as it was before migration 0014, with two users and their personal
    workspaces made through the models of that state; migrated to the latest after."""
    apps = migrate(BEFORE)
    OldUser = apps.get_model("accounts", "User")
    OldWorkspace = apps.get_model("conversations", "Workspace")
    OldMembership = apps.get_model("conversations", "Membership")
    people = {}
    for username, superuser in [("early", False), ("boss", True), ("late", False)]:
        user = OldUser.objects.create(username=username, is_superuser=superuser)
        workspace = OldWorkspace.objects.create(
            name=f"{username}'s workspace", slug=username, is_personal=True, created_by=user
        )
        OldMembership.objects.create(user=user, workspace=workspace, role="owner")
        people[username] = user.pk
    yield people
    migrate(executor_leaves())


def executor_leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_migration_gives_an_existing_install_the_shared_workspace(before_0014, settings):
    settings.SITE_NAME = "Old install"
    apps = migrate(AFTER)
    Workspace_ = apps.get_model("conversations", "Workspace")
    Membership_ = apps.get_model("conversations", "Membership")
    shared = Workspace_.objects.get(is_shared=True)
    assert shared.name == "Old install"
    roles = dict(Membership_.objects.filter(workspace=shared).values_list("user__username", "role"))
    # The earliest superuser owns it; everyone else is a member.
    assert roles == {"early": "member", "boss": "owner", "late": "member"}
    # Run again (back to 0013 and forward): nothing new, nothing changed.
    migrate(BEFORE)
    apps = migrate(AFTER)
    Membership_ = apps.get_model("conversations", "Membership")
    assert Membership_.objects.filter(workspace_id=shared.pk).count() == 3
    assert apps.get_model("conversations", "Workspace").objects.filter(is_shared=True).count() == 1


def test_migration_adds_only_who_is_missing_and_keeps_roles(before_0014, settings):
    apps = migrate(BEFORE)
    OldWorkspace = apps.get_model("conversations", "Workspace")
    OldMembership = apps.get_model("conversations", "Membership")
    shared = OldWorkspace.objects.create(name="chatapp", slug="chatapp", is_shared=True)
    OldMembership.objects.create(user_id=before_0014["late"], workspace=shared, role="owner")
    apps = migrate(AFTER)
    Membership_ = apps.get_model("conversations", "Membership")
    roles = dict(
        Membership_.objects.filter(workspace_id=shared.pk).values_list("user__username", "role")
    )
    assert roles == {"early": "member", "boss": "member", "late": "owner"}


def test_migration_does_nothing_with_shared_workspace_off(before_0014, settings):
    settings.SHARED_WORKSPACE = False
    apps = migrate(AFTER)
    assert not apps.get_model("conversations", "Workspace").objects.filter(is_shared=True).exists()


def test_the_roles_are_the_workspace_roles():
    assert WorkspaceRole.values == ["owner", "admin", "member"]
