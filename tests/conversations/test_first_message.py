"""Starting a conversation with its first message (services.conversation_create_with_message,
POST /api/v1/conversations with `message`): what a New chat does. One transaction, nothing
made on a refusal, idempotent by client_message_id per creator."""

import json
import threading

import pytest
from django.db import close_old_connections, connection

from conversations import services
from conversations.exceptions import IdempotencyConflict, InvalidInput, NotFound
from conversations.models import Agent, Conversation, Event, Message

pytestmark = pytest.mark.django_db


def start(client, body):
    return client.post("/api/v1/conversations", json.dumps(body), content_type="application/json")


# --- the service -----------------------------------------------------------------------------


def test_the_conversation_and_its_first_message_come_together(alice):
    conversation, message, created = services.conversation_create_with_message(
        creator=alice, kind="assistant", content="What is a monad?", client_message_id="k-1"
    )
    assert created and (message.conversation_id, message.seq) == (conversation.pk, 1)
    conversation.refresh_from_db()
    assert conversation.message_count == 1 and conversation.title == "What is a monad?"
    assert conversation.first_client_message_id == "k-1"
    types = list(
        Event.objects.filter(conversation_id=conversation.pk).values_list("type", flat=True)
    )
    assert types == ["conversation.created", "message.created"]


def test_the_same_key_again_finds_what_it_made(alice):
    first = services.conversation_create_with_message(
        creator=alice, kind="assistant", content="Once", client_message_id="k-1"
    )
    again = services.conversation_create_with_message(
        creator=alice, kind="assistant", content="Once", client_message_id="k-1"
    )
    assert (again[0], again[1], again[2]) == (first[0], first[1], False)
    with pytest.raises(IdempotencyConflict):
        services.conversation_create_with_message(
            creator=alice, kind="assistant", content="Twice?", client_message_id="k-1"
        )
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


def test_a_key_is_the_creators_own(alice, bob):
    mine, _, _ = services.conversation_create_with_message(
        creator=alice, kind="assistant", content="Mine", client_message_id="same"
    )
    theirs, _, created = services.conversation_create_with_message(
        creator=bob, kind="assistant", content="Theirs", client_message_id="same"
    )
    assert created and theirs != mine


def test_without_a_key_each_start_is_new(alice):
    for _ in range(2):
        services.conversation_create_with_message(creator=alice, kind="assistant", content="Hi")
    assert Conversation.objects.count() == 2


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": " \n"}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"content": "a\x00b"}, "content"),
        ({"client_message_id": "x" * 101}, "client_message_id"),
        ({"client_message_id": "line\nbreak"}, "client_message_id"),
        ({"kind": "group"}, "title"),
        ({"title": "t" * 201}, "title"),
    ],
)
def test_a_refusal_makes_nothing(alice, arguments, field):
    with pytest.raises(InvalidInput) as refused:
        services.conversation_create_with_message(
            **{"creator": alice, "kind": "assistant", "content": "Fine", **arguments}
        )
    assert refused.value.details["field"] == field
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert not Event.objects.exists()


def test_a_started_conversation_deleted_since_is_not_found(alice):
    conversation, _, _ = services.conversation_create_with_message(
        creator=alice, kind="assistant", content="Gone soon", client_message_id="k-1"
    )
    services.conversation_delete(conversation=conversation, actor=alice)
    with pytest.raises(NotFound):
        services.conversation_create_with_message(
            creator=alice, kind="assistant", content="Gone soon", client_message_id="k-1"
        )
    assert Conversation.objects.count() == 1


def test_a_direct_conversation_that_exists_gets_the_message(alice, bob, team):
    direct, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    conversation, message, created = services.conversation_create_with_message(
        creator=bob, kind="direct", workspace=team, participants=[alice], content="Hi alice"
    )
    assert (conversation, created, message.seq) == (direct, False, 1)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_double_start_at_the_same_instant_makes_one_conversation(alice):
    barrier = threading.Barrier(4)
    results: list = [None] * 4

    def run(number: int) -> None:
        try:
            barrier.wait()
            results[number] = services.conversation_create_with_message(
                creator=alice, kind="assistant", content="At once", client_message_id="k-1"
            )
        except Exception as error:  # re-raised below
            results[number] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({conversation.pk for conversation, _, _ in results}) == 1
    assert sorted(created for _, _, created in results) == [False, False, False, True]
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


# --- the API ---------------------------------------------------------------------------------


def test_the_api_starts_a_conversation_with_its_message(alice, api):
    agent = Agent.objects.create(workspace=alice.default_workspace, name="Helper", slug="helper")
    body = {
        "kind": "assistant",
        "agent_id": str(agent.pk),
        "message": {"content": "Hello there", "client_message_id": "k-1"},
    }
    client = api(alice)
    response = start(client, body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["agent"]["slug"] == "helper" and created["message_count"] == 1
    assert created["title"] == "Hello there"
    message = created["message"]
    assert (message["seq"], message["content"], message["client_message_id"]) == (
        1,
        "Hello there",
        "k-1",
    )
    assert message["conversation_id"] == created["id"] and message["sender"]["username"] == "alice"
    # Sent again (an answer lost): the same conversation and message, 200, nothing new.
    again = start(client, body)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["message"]["id"]) == (created["id"], message["id"])
    conflict = start(client, {**body, "message": {"content": "Other", "client_message_id": "k-1"}})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


def test_the_api_without_a_message_is_as_before(alice, api):
    response = start(api(alice), {"kind": "assistant"})
    assert response.status_code == 201 and response.json()["message"] is None
    assert response.json()["message_count"] == 0


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"content": ""}, "message.content"),
        ({"content": "   "}, "content"),
        ({"content": "x" * 100_001}, "message.content"),
        ({"content": "ok", "client_message_id": "x" * 101}, "message.client_message_id"),
        ({"content": "ok", "extra": 1}, "message.extra"),
        ({}, "message.content"),
    ],
)
def test_the_api_refuses_a_bad_first_message_and_makes_nothing(alice, api, message, field):
    response = start(api(alice), {"kind": "assistant", "message": message})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["details"]["field"] == field
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_an_outsider_cannot_post_into_a_started_conversation(alice, charlie, team, api):
    created = start(
        api(alice), {"kind": "assistant", "workspace": "team", "message": {"content": "Mine"}}
    ).json()
    intruder = api(charlie)
    assert intruder.get(f"/api/v1/conversations/{created['id']}").status_code == 404
    posted = intruder.post(
        f"/api/v1/conversations/{created['id']}/messages",
        json.dumps({"content": "let me in"}),
        content_type="application/json",
    )
    assert posted.status_code == 404
    assert Message.objects.count() == 1


def test_a_start_counts_as_a_post(alice, api, settings):
    settings.POST_RATE_LIMIT = 1
    client = api(alice)
    assert start(client, {"kind": "assistant", "message": {"content": "One"}}).status_code == 201
    limited = start(client, {"kind": "assistant", "message": {"content": "Two"}})
    assert limited.status_code == 429 and limited["Retry-After"]
    assert Conversation.objects.count() == 1
    # An empty start is no post: not limited.
    assert start(client, {"kind": "assistant"}).status_code == 201


def test_the_schema_documents_the_first_message(alice, api):
    schema = api(alice).get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/conversations"]["post"]
    assert {"200", "201", "429"} <= set(operation["responses"])
    components = schema["components"]["schemas"]
    assert "message" in components["ConversationIn"]["properties"]
    assert set(components["FirstMessageIn"]["properties"]) == {"content", "client_message_id"}
    assert "message" in components["ConversationCreatedOut"]["properties"]
