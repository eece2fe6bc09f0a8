"""A workspace's members and invitations over the API, tried from the outside: who may
see and do what (404 for outsiders on every route with a slug or an invitation id, 403 for
a member's try at an admin's act), roles (a workspace keeps an owner), removal, invitation
links (expiring, revocable, for one email), the people search, the audit trail."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chatapp.api import api as ninja_api
from conversations import services
from conversations.models import (
    AuditEvent,
    Conversation,
    Invitation,
    Membership,
    Participant,
    Workspace,
)
from tests.conversations.test_api_conversations import error_of, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(bearer_client, tokens_for):
    def make(user):
        return bearer_client(tokens_for(user).access.raw)

    return make


@pytest.fixture
def dave(make_user, settings):
    """Someone on the server but in no team: made with SHARED_WORKSPACE off, he is in his
    personal workspace only."""
    settings.SHARED_WORKSPACE = False
    user = make_user("dave")
    settings.SHARED_WORKSPACE = True
    return user


@pytest.fixture
def invitation(alice, team):
    return services.invitation_create(workspace=team, actor=alice)


def slug_routes():
    """Every route of the OpenAPI schema that takes a workspace slug or an invitation id."""
    for path, methods in ninja_api.get_openapi_schema()["paths"].items():
        if "{slug}" in path or "{invitation_id}" in path:
            for method in methods:
                yield method, path


BODIES = {
    ("post", "/api/v1/workspaces/{slug}/members"): {"username": "charlie"},
    ("patch", "/api/v1/workspaces/{slug}/members/{user_id}"): {"role": "admin"},
    ("post", "/api/v1/workspaces/{slug}/invitations"): {"email": ""},
}


def fill(path, **ids):
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path


# --- who may see a workspace ----------------------------------------------------------------


def test_an_outsider_gets_404_on_every_route_with_a_slug_or_invitation_id(
    alice, bob, team, dave, invitation, api
):
    routes = list(slug_routes())
    assert len(routes) >= 7
    outsider = api(dave)
    for method, path in routes:
        for slug in ["team", "no-such-workspace"]:
            url = fill(path, slug=slug, user_id=bob.pk, invitation_id=invitation.invitation.pk)
            response = send(outsider, method, url, BODIES.get((method, path)))
            error = error_of(response, 404)
            assert error["code"] == "not_found", (method, url)
    # And the same answer, word for word, for a workspace that exists and one that does not.
    there = send(outsider, "get", "/api/v1/workspaces/team/members").json()
    nowhere = send(outsider, "get", "/api/v1/workspaces/nowhere/members").json()
    assert there == nowhere
    assert Membership.objects.filter(workspace=team).count() == 3  # nothing changed
    assert not Invitation.objects.filter(revoked_at__isnull=False).exists()


def test_a_member_gets_403_for_every_admins_act(alice, bob, charlie, team, invitation, api):
    member = api(bob)
    acts = [
        ("post", "/api/v1/workspaces/team/members", {"username": "alice"}),
        ("patch", f"/api/v1/workspaces/team/members/{charlie.pk}", {"role": "admin"}),
        ("delete", f"/api/v1/workspaces/team/members/{charlie.pk}", None),
        ("get", "/api/v1/workspaces/team/invitations", None),
        ("post", "/api/v1/workspaces/team/invitations", {}),
        ("delete", f"/api/v1/workspaces/team/invitations/{invitation.invitation.pk}", None),
    ]
    for method, url, body in acts:
        assert error_of(send(member, method, url, body), 403)["code"] == "forbidden", url
    # A member does see who is in it.
    assert send(member, "get", "/api/v1/workspaces/team/members").status_code == 200
    assert Invitation.objects.get().revoked_at is None


def test_an_id_of_another_workspace_is_404(alice, team, api):
    other = services.workspace_create(name="Other", owner=alice)
    elsewhere = services.invitation_create(workspace=other, actor=alice).invitation
    url = f"/api/v1/workspaces/team/invitations/{elsewhere.pk}"
    assert error_of(send(api(alice), "delete", url), 404)["code"] == "not_found"
    url = f"/api/v1/workspaces/team/invitations/{uuid.uuid4()}"
    error_of(send(api(alice), "delete", url), 404)


# --- members --------------------------------------------------------------------------------


def test_members_list_with_roles_by_username(alice, bob, charlie, team, api):
    body = send(api(bob), "get", "/api/v1/workspaces/team/members").json()
    assert [(m["user"]["username"], m["role"]) for m in body["items"]] == [
        ("alice", "owner"),
        ("bob", "member"),
        ("charlie", "member"),
    ]
    assert body["has_more"] is False and body["next_cursor"] is None
    assert body["items"][0]["active"] is True and body["items"][0]["joined_at"]


def test_members_search_finds_people_as_you_type(alice, bob, charlie, team, api, make_user):
    zoe = make_user("zoe")
    zoe.display_name = "Zoë Bobbington"
    zoe.save()
    services.member_add(workspace=team, actor=alice, user=zoe)
    found = lambda q: [  # noqa: E731
        m["user"]["username"]
        for m in send(api(alice), "get", f"/api/v1/workspaces/team/members?q={q}").json()["items"]
    ]
    assert found("bo") == ["bob", "zoe"]  # a username's start, a display name's part
    assert found("CHA") == ["charlie"]
    assert found("oe") == []  # not inside a username (zoe's display name has "Zoë")
    assert found("nobody") == []


def test_members_page_by_cursor(alice, team, api, make_user, django_assert_max_num_queries):
    for number in range(5):
        services.member_add(workspace=team, actor=alice, user=make_user(f"peer{number}"))
    client = api(alice)
    seen, url = [], "/api/v1/workspaces/team/members?limit=3"
    while url:
        body = send(client, "get", url).json()
        seen += [m["user"]["username"] for m in body["items"]]
        url = (
            f"/api/v1/workspaces/team/members?limit=3&cursor={body['next_cursor']}"
            if body["has_more"]
            else None
        )
    assert seen == sorted(seen) and len(seen) == 8
    error = error_of(send(client, "get", "/api/v1/workspaces/team/members?cursor=forged"), 400)
    assert error["code"] == "invalid_cursor"
    # The same few queries for 8 members as for 3: the token, the membership, the page.
    with django_assert_max_num_queries(4):
        assert send(client, "get", "/api/v1/workspaces/team/members").status_code == 200


def test_a_member_page_costs_the_same_for_many_members(alice, team, api, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(alice)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert send(client, "get", "/api/v1/workspaces/team/members").status_code == 200
        return len(captured.captured_queries)

    queries()  # the token's last_used_at is written on its first use
    few = queries()
    for number in range(10):
        services.member_add(workspace=team, actor=alice, user=make_user(f"many{number}"))
    assert queries() == few


def test_owner_adds_by_username_and_it_is_audited(alice, team, dave, api):
    response = send(api(alice), "post", "/api/v1/workspaces/team/members", {"username": "dave"})
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "member"
    again = send(api(alice), "post", "/api/v1/workspaces/team/members", {"username": "dave"})
    assert again.status_code == 200
    event = AuditEvent.objects.get(action="membership.added")
    assert event.actor == alice and event.data["username"] == "dave"
    assert event.data["workspace"] == "team"


def test_adding_someone_unknown_or_with_a_bad_role_is_422(alice, team, dave, api):
    client = api(alice)
    url = "/api/v1/workspaces/team/members"
    assert error_of(send(client, "post", url, {"username": "ghost"}), 422)["details"] == {
        "field": "username"
    }
    error = error_of(send(client, "post", url, {"username": "dave", "role": "king"}), 422)
    assert error["details"]["field"] == "role"
    error = error_of(send(client, "post", url, {"username": "d" * 151}), 422)
    assert error["details"]["field"] == "username"
    error = error_of(send(client, "post", url, {"username": "dave\x00"}), 422)
    assert not Membership.objects.filter(user=dave, workspace__slug="team").exists()


def test_admins_bring_in_members_but_only_owners_make_admins(alice, bob, charlie, team, dave, api):
    services.member_set_role(workspace=team, actor=alice, user=bob, role="admin")
    admin = api(bob)
    url = "/api/v1/workspaces/team/members"
    error_of(send(admin, "post", url, {"username": "dave", "role": "admin"}), 403)
    assert send(admin, "post", url, {"username": "dave"}).status_code == 201
    error_of(send(admin, "patch", f"{url}/{charlie.pk}", {"role": "admin"}), 403)
    # An admin removes a member, not an owner.
    assert send(admin, "delete", f"{url}/{dave.pk}").status_code == 204
    error_of(send(admin, "delete", f"{url}/{alice.pk}"), 403)


def test_roles_change_and_a_workspace_keeps_an_owner(alice, bob, team, api):
    client = api(alice)
    url = f"/api/v1/workspaces/team/members/{bob.pk}"
    response = send(client, "patch", url, {"role": "owner"})
    assert response.status_code == 200 and response.json()["role"] == "owner"
    # Two owners: alice can step down; then bob, the last, cannot.
    mine = f"/api/v1/workspaces/team/members/{alice.pk}"
    assert send(client, "patch", mine, {"role": "member"}).status_code == 200
    error = error_of(send(api(bob), "patch", url, {"role": "admin"}), 409)
    assert error["details"]["field"] == "role"
    error_of(send(api(bob), "delete", url), 409)  # nor leave
    assert error_of(send(api(bob), "patch", url, {"role": "boss"}), 422)["details"]["field"] == (
        "role"
    )
    changes = AuditEvent.objects.filter(action="membership.role_changed").order_by("created_at")
    assert [(e.data["from"], e.data["to"]) for e in changes] == [
        ("member", "owner"),
        ("owner", "member"),
    ]


def test_removing_a_member_takes_them_out_of_its_groups_only(
    alice, bob, charlie, team, group, post, api
):
    direct, _ = services.conversation_create(
        creator=bob, kind="direct", workspace=team, participants=[charlie]
    )
    assistant, _ = services.conversation_create(creator=bob, kind="assistant", workspace=team)
    post(group, "before", sender=bob)
    response = send(api(alice), "delete", f"/api/v1/workspaces/team/members/{bob.pk}")
    assert response.status_code == 204
    assert not Membership.objects.filter(workspace=team, user=bob).exists()
    # The group: he is out (404, as for any conversation one is not in); his words stay.
    error_of(send(api(bob), "get", f"/api/v1/conversations/{group.pk}"), 404)
    assert (
        send(api(alice), "get", f"/api/v1/conversations/{group.pk}/messages").json()["items"][-1][
            "content"
        ]
        == "before"
    )
    # His direct and assistant conversations of the workspace stay his to read.
    for kept in [direct, assistant]:
        assert send(api(bob), "get", f"/api/v1/conversations/{kept.pk}").status_code == 200
    # Nobody in the workspace is to be found by him any more, nor can he start one there.
    error_of(send(api(bob), "get", "/api/v1/workspaces/team/members"), 404)
    start = {"kind": "group", "title": "x", "workspace": "team", "participants": ["alice"]}
    error_of(send(api(bob), "post", "/api/v1/conversations", start), 404)
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.actor == alice and event.data["groups_left"] == 1


def test_leaving_a_workspace(alice, bob, team, group, api):
    response = send(api(bob), "delete", f"/api/v1/workspaces/team/members/{bob.pk}")
    assert response.status_code == 204
    assert AuditEvent.objects.filter(action="membership.left", actor=bob).exists()
    assert not Participant.objects.filter(conversation=group, user=bob, left_at=None).exists()


def test_an_owner_leaving_a_group_hands_it_over(alice, bob, charlie, team, api):
    group, _ = services.conversation_create(
        creator=bob, kind="group", title="Bob's", workspace=team, participants=[charlie]
    )
    send(api(alice), "delete", f"/api/v1/workspaces/team/members/{bob.pk}")
    assert Participant.objects.get(conversation=group, user=charlie).role == "owner"


def test_the_personal_workspace_takes_nobody_else(alice, bob, api):
    slug = alice.default_workspace.slug
    error = error_of(
        send(api(alice), "post", f"/api/v1/workspaces/{slug}/members", {"username": "bob"}), 422
    )
    assert error["details"]["field"] == "workspace"
    error_of(send(api(alice), "post", f"/api/v1/workspaces/{slug}/invitations", {}), 422)
    error_of(send(api(alice), "delete", f"/api/v1/workspaces/{slug}/members/{alice.pk}"), 422)


# --- invitations ----------------------------------------------------------------------------


def test_an_invitation_link_lets_someone_join(alice, team, dave, api):
    response = send(api(alice), "post", "/api/v1/workspaces/team/invitations", {})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["url"].endswith(f"/invite/{created['token']}")
    assert created["status"] == "active" and created["email"] == "" and created["role"] == "member"
    # Only the hash is kept.
    stored = Invitation.objects.get(pk=created["id"])
    assert created["token"] not in stored.token_hash and len(stored.token_hash) == 64
    joined = send(api(dave), "post", "/api/v1/invitations/accept", {"token": created["token"]})
    assert joined.status_code == 200, joined.content
    assert joined.json()["slug"] == "team" and joined.json()["role"] == "member"
    assert Membership.objects.filter(workspace=team, user=dave).exists()
    listed = send(api(alice), "get", "/api/v1/workspaces/team/invitations").json()
    assert listed["items"][0]["use_count"] == 1 and "token" not in listed["items"][0]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"invitation.created", "invitation.accepted"} <= actions


def test_a_revoked_or_expired_link_is_refused(alice, team, dave, invitation, api):
    token = invitation.token
    response = send(
        api(alice), "delete", f"/api/v1/workspaces/team/invitations/{invitation.invitation.pk}"
    )
    assert response.status_code == 204
    error = error_of(send(api(dave), "post", "/api/v1/invitations/accept", {"token": token}), 409)
    assert error["details"]["reason"] == "revoked"
    later = services.invitation_create(workspace=team, actor=alice, expires_in_days=1)
    Invitation.objects.filter(pk=later.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    body = {"token": later.token}
    error = error_of(send(api(dave), "post", "/api/v1/invitations/accept", body), 409)
    assert error["details"]["reason"] == "expired"
    assert not Membership.objects.filter(workspace=team, user=dave).exists()
    assert AuditEvent.objects.filter(action="invitation.revoked", actor=alice).exists()


def test_an_unknown_or_malformed_token_is_404_or_422(dave, api):
    client = api(dave)
    for token in ["inv_nothing", "nothing", "inv_" + "x" * 150]:
        response = send(client, "post", "/api/v1/invitations/accept", {"token": token})
        assert error_of(response, 404)["code"] == "not_found"
    for token in ["", "x" * 201, "inv_\x00"]:
        response = send(client, "post", "/api/v1/invitations/accept", {"token": token})
        assert error_of(response, 422)["details"]["field"] == "token"


def test_an_invitation_for_an_email_is_for_that_person_once(alice, bob, team, dave, make_user, api):
    issued = services.invitation_create(workspace=team, actor=alice, email="Dave@Example.com")
    assert issued.invitation.email == "dave@example.com"
    erin = make_user("erin")
    error = error_of(
        send(api(erin), "post", "/api/v1/invitations/accept", {"token": issued.token}), 403
    )
    assert error["details"]["reason"] == "email"
    accepted = send(api(dave), "post", "/api/v1/invitations/accept", {"token": issued.token})
    assert accepted.status_code == 200
    Membership.objects.filter(workspace=team, user=dave).delete()
    error = error_of(
        send(api(dave), "post", "/api/v1/invitations/accept", {"token": issued.token}), 409
    )
    assert error["details"]["reason"] == "used"


def test_invitation_input_is_checked(alice, team, api):
    client = api(alice)
    url = "/api/v1/workspaces/team/invitations"
    for body, field in [
        ({"email": "not an email"}, "email"),
        ({"role": "owner"}, "role"),
        ({"role": "wizard"}, "role"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 91}, "expires_in_days"),
        ({"email": "a" * 255}, "email"),
        ({"email": "a\x00@example.com"}, "email"),
        ({"surprise": 1}, "surprise"),
    ]:
        assert error_of(send(client, "post", url, body), 422)["details"]["field"] == field, body
    assert not Invitation.objects.exists()


def test_only_owners_invite_admins(alice, bob, team, api):
    services.member_set_role(workspace=team, actor=alice, user=bob, role="admin")
    url = "/api/v1/workspaces/team/invitations"
    error_of(send(api(bob), "post", url, {"role": "admin"}), 403)
    assert send(api(bob), "post", url, {}).status_code == 201
    assert send(api(alice), "post", url, {"role": "admin"}).status_code == 201


def test_accepting_when_in_already_changes_nothing(alice, bob, team, invitation, api):
    response = send(api(bob), "post", "/api/v1/invitations/accept", {"token": invitation.token})
    assert response.status_code == 200 and response.json()["role"] == "member"
    assert Invitation.objects.get().use_count == 0


def test_invitations_list_pages_newest_first(alice, team, api):
    for _ in range(3):
        services.invitation_create(workspace=team, actor=alice)
    client = api(alice)
    first = send(client, "get", "/api/v1/workspaces/team/invitations?limit=2").json()
    assert len(first["items"]) == 2 and first["has_more"]
    rest = send(
        client, "get", f"/api/v1/workspaces/team/invitations?limit=2&cursor={first['next_cursor']}"
    ).json()
    assert len(rest["items"]) == 1 and not rest["has_more"]
    ids = [item["id"] for item in first["items"] + rest["items"]]
    newest_first = Invitation.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    assert ids == [str(pk) for pk in newest_first]


def test_workspaces_list_says_which_is_shared(alice, team, api):
    items = send(api(alice), "get", "/api/v1/workspaces").json()["items"]
    assert [(item["is_personal"], item["is_shared"]) for item in items] == [
        (True, False),
        (False, True),
        (False, False),
    ]
    shared = Workspace.objects.get(is_shared=True)
    assert items[1]["slug"] == shared.slug and items[1]["role"] == "owner"


def test_a_removed_member_no_longer_sees_the_conversations_of_the_workspace(
    alice, bob, charlie, team, api
):
    """The rule in docs/data-model.md: groups go, direct and assistant ones stay."""
    groups = [
        services.conversation_create(
            creator=alice, kind="group", title=f"G{n}", workspace=team, participants=[bob]
        )[0]
        for n in range(2)
    ]
    services.member_remove(workspace=team, actor=alice, user=bob)
    listed = send(api(bob), "get", "/api/v1/conversations").json()["items"]
    assert not {item["id"] for item in listed} & {str(g.pk) for g in groups}
    assert Conversation.objects.filter(pk__in=[g.pk for g in groups]).count() == 2
