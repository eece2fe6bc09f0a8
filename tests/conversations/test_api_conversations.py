"""Workspaces, conversations, participants, read markers, message edit/delete/report over the
API, with bearer tokens."""

import json
import uuid

import pytest

from conversations import services
from conversations.models import Agent, Conversation, Participant, Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(bearer_client, tokens_for):
    """api(user) -> a client signed in as user with a bearer token."""

    def make(user):
        return bearer_client(tokens_for(user).access.raw)

    return make


def send(client, method, path, body=None):
    return getattr(client, method)(
        path, data=json.dumps(body) if body is not None else None, content_type="application/json"
    )


def error_of(response, status):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


# --- workspaces ----------------------------------------------------------------------------------


def test_workspaces_lists_personal_first(alice, team, api):
    body = api(alice).get("/api/v1/workspaces").json()
    assert [item["slug"] for item in body["items"]] == [
        alice.default_workspace.slug,
        "chatapp",  # the shared workspace, which alice (the first user) owns
        "team",
    ]
    assert body["items"][0]["is_personal"] and body["items"][1]["is_shared"]
    assert body["items"][2]["role"] == "owner"
    assert body["has_more"] is False and body["next_cursor"] is None


# --- create ----------------------------------------------------------------------------------


def test_create_assistant_conversation(alice, api):
    agent = Agent.objects.create(workspace=alice.default_workspace, name="Helper", slug="helper")
    response = send(
        api(alice),
        "post",
        "/api/v1/conversations",
        {
            "kind": "assistant",
            "agent_id": str(agent.pk),
            "subject": {"type": "task", "id": "T-1"},
            "metadata": {"source": "test"},
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["agent"]["slug"] == "helper" and body["role"] == "owner"
    assert body["subject"] == {"type": "task", "id": "T-1"}
    assert body["metadata"] == {"source": "test"}
    assert [p["user"]["username"] for p in body["participants"]] == ["alice"]
    assert body["usage"]["input_tokens"] == 0


def test_create_group_and_direct(alice, bob, charlie, team, api):
    client = api(alice)
    group = send(
        client,
        "post",
        "/api/v1/conversations",
        {"kind": "group", "title": "Crew", "workspace": "team", "participants": ["bob", "charlie"]},
    )
    assert group.status_code == 201
    assert {p["user"]["username"] for p in group.json()["participants"]} == {
        "alice",
        "bob",
        "charlie",
    }
    direct = {"kind": "direct", "workspace": "team", "participants": ["bob"]}
    first = send(client, "post", "/api/v1/conversations", direct)
    again = send(api(bob), "post", "/api/v1/conversations", {**direct, "participants": ["alice"]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "group", "workspace": "team", "participants": ["bob"]}, 422, "title"),
        ({"kind": "chat"}, 422, "kind"),
        ({"kind": "direct", "workspace": "team", "participants": []}, 422, "participants"),
        (
            {"kind": "group", "title": "x", "workspace": "team", "participants": ["nobody"]},
            422,
            "participants",
        ),
        ({"kind": "assistant", "title": "t" * 201}, 422, "title"),
        ({"kind": "assistant", "agent_id": str(uuid.uuid4())}, 422, "agent_id"),
        ({"kind": "assistant", "agent_id": "nope"}, 422, "agent_id"),
        ({"kind": "assistant", "metadata": [1]}, 422, "metadata"),
        ({"kind": "assistant", "workspace": "elsewhere"}, 404, "workspace"),
        ({"kind": "assistant", "extra": 1}, 422, "extra"),
        ({}, 422, "kind"),
    ],
)
def test_create_rejects_bad_input(alice, bob, team, api, body, status, field):
    before = Conversation.objects.count()
    error = error_of(send(api(alice), "post", "/api/v1/conversations", body), status)
    assert error["details"]["field"] == field
    assert Conversation.objects.count() == before


def test_cannot_add_people_from_outside_the_workspace(alice, make_user, api, settings):
    settings.SHARED_WORKSPACE = False  # the stranger joins no workspace of alice's
    make_user("stranger")
    body = {"kind": "group", "title": "x", "participants": ["stranger"]}
    error = error_of(send(api(alice), "post", "/api/v1/conversations", body), 422)
    assert error["details"]["field"] == "participants"


# --- list ------------------------------------------------------------------------------------


def test_list_with_unread_last_message_and_filters(alice, bob, group, post, api):
    post(group, "hello bob")
    post(group, "hi alice", sender=bob)
    services.conversation_create(creator=alice, kind="assistant", title="Solo")
    body = api(alice).get("/api/v1/conversations").json()
    assert [item["title"] for item in body["items"]] == ["Solo", "Plans"]
    plans = body["items"][1]
    assert plans["unread_count"] == 1
    assert plans["last_message"]["excerpt"] == "hi alice"
    assert plans["last_message"]["sender"]["username"] == "bob"
    only_groups = api(alice).get("/api/v1/conversations", {"kind": "group"}).json()
    assert [item["title"] for item in only_groups["items"]] == ["Plans"]
    titled = api(alice).get("/api/v1/conversations", {"q": "sol"}).json()
    assert [item["title"] for item in titled["items"]] == ["Solo"]


def test_list_pages_with_cursors_and_rejects_tampered_ones(alice, api):
    for number in range(5):
        services.conversation_create(creator=alice, kind="assistant", title=f"c{number}")
    client = api(alice)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/conversations", params).json()
        seen += [item["title"] for item in body["items"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert seen == ["c4", "c3", "c2", "c1", "c0"]
    assert error_of(client.get("/api/v1/conversations", {"cursor": cursor + "x"}), 400)["code"] == (
        "invalid_cursor"
    )


def test_cursor_of_another_list_is_refused(alice, api):
    from django.utils import timezone

    from conversations.pagination import encode_time_id_cursor

    foreign = encode_time_id_cursor("participants", timezone.now(), uuid.uuid4())
    error_of(api(alice).get("/api/v1/conversations", {"cursor": foreign}), 400)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"kind": "nope"}, {"archived": "maybe"}]
)
def test_list_rejects_bad_params(alice, api, params):
    error_of(api(alice).get("/api/v1/conversations", params), 422)


def test_list_query_count_is_the_same_for_5_and_50(
    alice, bob, charlie, team, api, django_assert_num_queries
):
    client = api(alice)

    def make(count):
        for number in range(count):
            conversation, _ = services.conversation_create(
                creator=alice,
                kind="group",
                title=f"g{number}",
                workspace=team,
                participants=[bob, charlie],
            )
            services.message_post(conversation=conversation, sender=bob, content="x")

    make(5)
    # The token lookup (its last-used update happens on first use only, in /me below), then
    # one query for the page: participations, conversations, agents, last messages, senders.
    client.get("/api/v1/me")
    with django_assert_num_queries(2):
        assert len(client.get("/api/v1/conversations").json()["items"]) == 5
    make(45)
    with django_assert_num_queries(2):
        assert len(client.get("/api/v1/conversations").json()["items"]) == 50


# --- detail, update, delete, restore ----------------------------------------------------------


def test_get_shows_participants_usage_and_my_marker(alice, bob, group, post, api):
    post(group, "one", sender=bob)
    body = api(alice).get(f"/api/v1/conversations/{group.pk}").json()
    assert body["message_count"] == 1 and body["unread_count"] == 1 and body["role"] == "owner"
    assert body["workspace"] == "team"


def test_patch_title_pin_archive_status(alice, group, api):
    client = api(alice)
    url = f"/api/v1/conversations/{group.pk}"
    body = send(client, "patch", url, {"title": "Renamed", "pinned": True, "archived": True}).json()
    assert body["title"] == "Renamed" and body["pinned_at"] and body["archived_at"]
    body = send(client, "patch", url, {"pinned": False, "status": "completed"}).json()
    assert body["pinned_at"] is None and body["status"] == "completed"


def test_member_cannot_rename_group_but_can_pin(bob, group, api):
    client = api(bob)
    url = f"/api/v1/conversations/{group.pk}"
    assert error_of(send(client, "patch", url, {"title": "Mine"}), 403)["code"] == "forbidden"
    assert send(client, "patch", url, {"pinned": True}).json()["pinned_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "paused"}, "status"),
        ({"title": ""}, "title"),
        ({"agent_id": "x"}, "agent_id"),
        ({"pinned": "yes please"}, "pinned"),
    ],
)
def test_patch_rejects_bad_input(alice, group, api, body, field):
    url = f"/api/v1/conversations/{group.pk}"
    assert error_of(send(api(alice), "patch", url, body), 422)["details"]["field"] == field


def test_delete_and_restore(alice, bob, group, api):
    url = f"/api/v1/conversations/{group.pk}"
    error_of(api(bob).delete(url), 403)
    assert api(alice).delete(url).status_code == 204
    error_of(api(alice).get(url), 404)
    trash = api(alice).get("/api/v1/conversations", {"deleted": "true"}).json()
    assert [item["id"] for item in trash["items"]] == [str(group.pk)]
    error_of(send(api(bob), "post", url + "/restore"), 403)
    restored = send(api(alice), "post", url + "/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    error_of(send(api(alice), "post", url + "/restore"), 404)


def test_read_marker(alice, bob, group, post, api):
    for text in "abc":
        post(group, text, sender=bob)
    url = f"/api/v1/conversations/{group.pk}/read"
    assert send(api(alice), "post", url, {"seq": 2}).json() == {
        "last_read_seq": 2,
        "unread_count": 1,
    }
    assert send(api(alice), "post", url, {}).json() == {"last_read_seq": 3, "unread_count": 0}
    error_of(send(api(alice), "post", url, {"seq": -1}), 422)


# --- participants ------------------------------------------------------------------------------


def test_participants_add_list_remove_and_leave(alice, bob, charlie, group, api):
    url = f"/api/v1/conversations/{group.pk}/participants"
    added = send(api(alice), "post", url, {"username": "charlie"})
    assert added.status_code == 201 and added.json()["role"] == "member"
    listed = api(bob).get(url).json()
    assert [p["user"]["username"] for p in listed["items"]] == ["alice", "bob", "charlie"]
    error_of(api(bob).delete(f"{url}/{charlie.pk}"), 403)
    assert api(alice).delete(f"{url}/{charlie.pk}").status_code == 204
    assert api(bob).delete(f"{url}/{bob.pk}").status_code == 204  # leaving
    error_of(api(bob).get(url), 404)
    assert Participant.objects.filter(conversation=group, left_at__isnull=True).count() == 1


def test_participants_rules(alice, bob, charlie, group, make_user, api):
    url = f"/api/v1/conversations/{group.pk}/participants"
    error_of(send(api(bob), "post", url, {"username": "charlie"}), 403)
    make_user("stranger")
    assert (
        error_of(send(api(alice), "post", url, {"username": "stranger"}), 422)["details"]["field"]
        == "username"
    )
    error_of(send(api(alice), "post", url, {"username": "ghost"}), 422)
    error_of(send(api(alice), "post", url, {"username": "charlie", "role": "owner"}), 422)
    error_of(api(alice).delete(f"{url}/{uuid.uuid4()}"), 404)


def test_participants_page_with_cursor(alice, bob, charlie, group, api):
    services.participant_add(conversation=group, actor=alice, user=charlie)
    url = f"/api/v1/conversations/{group.pk}/participants"
    first = api(alice).get(url, {"limit": 2}).json()
    assert first["has_more"]
    second = api(alice).get(url, {"limit": 2, "cursor": first["next_cursor"]}).json()
    names = [p["user"]["username"] for p in first["items"] + second["items"]]
    assert names == ["alice", "bob", "charlie"] and not second["has_more"]


# --- message edit, delete, report --------------------------------------------------------------


def test_edit_delete_and_report_messages(alice, bob, group, post, api):
    message = post(group, "tyop")
    url = f"/api/v1/messages/{message.pk}"
    edited = send(api(alice), "patch", url, {"content": "typo"})
    assert edited.json()["content"] == "typo" and edited.json()["edited_at"]
    error_of(send(api(bob), "patch", url, {"content": "hijack"}), 403)
    error_of(send(api(alice), "patch", url, {"content": ""}), 422)

    report = send(api(bob), "post", url + "/report", {"reason": "spam", "note": "ads"})
    assert report.status_code == 201 and report.json()["status"] == "open"
    again = send(api(bob), "post", url + "/report", {"reason": "spam"})
    assert again.status_code == 200 and again.json()["id"] == report.json()["id"]
    error_of(send(api(bob), "post", url + "/report", {"reason": "boring"}), 422)
    assert Report.objects.count() == 1

    error_of(api(bob).delete(url), 403)
    assert api(alice).delete(url).status_code == 204
    error_of(send(api(alice), "patch", url, {"content": "back"}), 404)


def test_outsider_cannot_touch_messages(charlie, group, post, api):
    message = post(group, "private")
    url = f"/api/v1/messages/{message.pk}"
    error_of(send(api(charlie), "patch", url, {"content": "x"}), 404)
    error_of(api(charlie).delete(url), 404)
    error_of(send(api(charlie), "post", url + "/report", {"reason": "spam"}), 404)
