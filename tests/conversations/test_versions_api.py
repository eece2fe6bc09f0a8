"""The versions API (issue 16): GET /messages/{id}/versions, POST /messages/{id}/show and
POST /messages/{id}/resend, full stack through Django's test client, with the error
envelope; and the reply endpoint's regenerate of a reply in the middle."""

import json
import uuid

import pytest

from conversations import services
from conversations.models import Conversation, Line, Message, MessageStatus, Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice, bob, team):
    """alice's assistant conversation in the team workspace, with bob: q1 a1 q2 a2."""
    conversation, _ = services.conversation_create(
        creator=alice, kind="assistant", workspace=team, participants=[bob]
    )
    for number in (1, 2):
        services.message_post(conversation=conversation, sender=alice, content=f"q{number}")
        started = services.assistant_message_start(
            conversation=conversation, agent=None, status=MessageStatus.STREAMING
        )
        services.assistant_message_finish(message=started, content=f"a{number}")
    return conversation


def at(conversation, position, line=0) -> Message:
    return Message.objects.get(conversation=conversation, line=line, position=position)


def post_json(client, path, body=None, **extra):
    return client.post(
        path, data=json.dumps(body if body is not None else {}), content_type="application/json"
    )


def versions_url(message) -> str:
    return f"/api/v1/messages/{getattr(message, 'pk', message)}/versions"


def show_url(message) -> str:
    return f"/api/v1/messages/{getattr(message, 'pk', message)}/show"


def resend_url(message) -> str:
    return f"/api/v1/messages/{getattr(message, 'pk', message)}/resend"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def page_of(client, conversation, **query):
    response = client.get(f"/api/v1/conversations/{conversation.pk}/messages", query)
    assert response.status_code == 200, response.content
    return response.json()


# --- resend -------------------------------------------------------------------------------------


def test_resend_answers_201_then_200_for_the_same_client_message_id(alice, chat, client_for):
    client = client_for(alice)
    body = {"content": "q2, better", "client_message_id": "resend-1"}
    first = post_json(client, resend_url(at(chat, 3)), body)
    assert first.status_code == 201, first.content
    made = first.json()
    assert (made["position"], made["line"], made["version"]) == (3, 1, 2)
    assert made["parent_id"] == str(at(chat, 2).pk) and made["content"] == "q2, better"
    assert made["client_message_id"] == "resend-1" and made["seq"] == 5

    again = post_json(client, resend_url(at(chat, 3)), body)
    assert again.status_code == 200, again.content
    assert again.json()["id"] == made["id"]
    conflict = assert_error(
        post_json(client, resend_url(at(chat, 3)), {**body, "content": "something else"}),
        409,
        "idempotency_conflict",
    )
    assert conflict["error"]["details"]["message_id"] == made["id"]
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count) == (1, 5)

    # alice's page is the new path; bob's the old one.
    mine = page_of(client, chat)
    assert [(i["content"], i["version"], i["versions"]) for i in mine["items"]] == [
        ("q1", 1, 1),
        ("a1", 1, 1),
        ("q2, better", 2, 2),
    ]
    bobs = page_of(client_for(chat.participants.exclude(user=alice).get().user), chat)
    assert [(i["content"], i["versions"]) for i in bobs["items"]] == [
        ("q1", 1),
        ("a1", 1),
        ("q2", 2),
        ("a2", 1),
    ]


def test_resend_of_someone_else_s_message_is_403(alice, bob, chat, client_for):
    assert_error(
        post_json(client_for(bob), resend_url(at(chat, 3)), {"content": "x"}), 403, "forbidden"
    )
    assert not Line.objects.filter(conversation=chat).exists()


def test_resend_in_a_group_or_direct_conversation_is_409(alice, bob, group, team, client_for):
    direct, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    for conversation in (group, direct):
        message, _ = services.message_post(conversation=conversation, sender=alice, content="hi")
        assert_error(
            post_json(client_for(alice), resend_url(message), {"content": "hi again"}),
            409,
            "conflict",
        )
        conversation.refresh_from_db()
        assert (conversation.line_count, conversation.message_count) == (0, 1)


@pytest.mark.parametrize("content", ["", "   ", "nul \x00 inside"])
def test_resend_of_empty_content_or_nul_is_422(alice, chat, client_for, content):
    response = post_json(client_for(alice), resend_url(at(chat, 3)), {"content": content})
    assert response.status_code == 422, response.content
    assert set(response.json()) == {"error"}
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count) == (0, 4)


def test_resend_refuses_unknown_fields(alice, chat, client_for):
    response = post_json(client_for(alice), resend_url(at(chat, 3)), {"content": "x", "line": 7})
    assert response.status_code == 422, response.content


# --- list and show ------------------------------------------------------------------------------


def test_list_versions_says_which_is_shown(alice, bob, chat, client_for):
    client = client_for(alice)
    second = post_json(client, resend_url(at(chat, 3)), {"content": "second"}).json()
    third = post_json(client, resend_url(at(chat, 3)), {"content": "third"}).json()

    listed = client.get(versions_url(at(chat, 3)))
    assert listed.status_code == 200, listed.content
    items = listed.json()["items"]
    assert [(i["content"], i["version"], i["versions"], i["shown"]) for i in items] == [
        ("q2", 1, 3, False),
        ("second", 2, 3, False),
        ("third", 3, 3, True),
    ]
    assert [i["id"] for i in items] == [str(at(chat, 3).pk), second["id"], third["id"]]
    for_bob = client_for(bob).get(versions_url(third["id"])).json()["items"]
    assert [i["shown"] for i in for_bob] == [True, False, False]
    # A turn with one version lists it alone.
    single = client.get(versions_url(at(chat, 1))).json()["items"]
    assert [(i["content"], i["versions"], i["shown"]) for i in single] == [("q1", 1, True)]


def test_show_answers_the_path_from_that_turn(alice, bob, chat, client_for):
    client = client_for(alice)
    post_json(client, resend_url(at(chat, 3)), {"content": "second"})

    shown = post_json(client, show_url(at(chat, 3)))
    assert shown.status_code == 200, shown.content
    body = shown.json()
    assert (body["line"], body["position"], body["has_more_after"]) == (0, 3, False)
    assert [(i["content"], i["position"], i["versions"]) for i in body["items"]] == [
        ("q2", 3, 2),
        ("a2", 4, 1),
    ]
    assert Participant.objects.get(conversation=chat, user=alice).line == 0
    assert [i["content"] for i in page_of(client, chat)["items"]] == ["q1", "a1", "q2", "a2"]

    new = Message.objects.get(conversation=chat, line=1)
    back = post_json(client, show_url(new) + "?limit=1").json()
    assert (back["line"], back["position"], back["has_more_after"]) == (1, 3, False)
    assert [i["content"] for i in back["items"]] == ["second"]
    # Persisted, for alice only: bob's path is as it was.
    assert [i["content"] for i in page_of(client_for(alice), chat)["items"]] == [
        "q1",
        "a1",
        "second",
    ]
    assert [i["content"] for i in page_of(client_for(bob), chat)["items"]] == [
        "q1",
        "a1",
        "q2",
        "a2",
    ]


def test_show_pages_with_limit(alice, chat, client_for):
    client = client_for(alice)
    answer = post_json(client, show_url(at(chat, 1)) + "?limit=2").json()
    assert [i["position"] for i in answer["items"]] == [1, 2]
    assert answer["has_more_after"] is True


# --- who may -----------------------------------------------------------------------------------


def test_outsiders_and_unknown_ids_get_the_same_404_on_every_endpoint(
    alice, charlie, chat, client_for
):
    message = at(chat, 3)
    unknown = uuid.uuid4()
    for user, target in ((charlie, message), (alice, unknown)):
        client = client_for(user)
        answers = [
            client.get(versions_url(target)),
            post_json(client, show_url(target)),
            post_json(client, resend_url(target), {"content": "x"}),
        ]
        bodies = [assert_error(answer, 404, "not_found") for answer in answers]
        assert all(body == bodies[0] for body in bodies), bodies
    # charlie's and alice's 404 are the same answer, whatever the id.
    assert (
        client_for(charlie).get(versions_url(message)).json()
        == client_for(alice).get(versions_url(unknown)).json()
    )
    assert Participant.objects.get(conversation=chat, user=alice).line == 0
    assert not Line.objects.exists()


def test_anonymous_gets_401_on_every_endpoint(chat, client_for):
    client = client_for()
    message = at(chat, 3)
    assert_error(client.get(versions_url(message)), 401, "not_authenticated")
    assert_error(post_json(client, show_url(message)), 401, "not_authenticated")
    assert_error(post_json(client, resend_url(message), {"content": "x"}), 401, "not_authenticated")


def test_a_message_of_a_deleted_conversation_is_404(alice, chat, client_for):
    services.conversation_delete(conversation=chat, actor=alice)
    client = client_for(alice)
    assert_error(client.get(versions_url(at(chat, 3))), 404, "not_found")
    assert_error(post_json(client, show_url(at(chat, 3))), 404, "not_found")
    assert_error(post_json(client, resend_url(at(chat, 3)), {"content": "x"}), 404, "not_found")


# --- regenerate through the reply endpoint -----------------------------------------------------


def frames_of(body: str) -> list[tuple[str, dict]]:
    import re

    return [
        (name, json.loads(data))
        for name, data in re.findall(r"^event: (.*)\ndata: (.*)$", body, flags=re.MULTILINE)
    ]


def test_regenerating_a_middle_reply_through_the_api(alice, bob, chat, client_for, settings):
    # No endpoint: the new version is kept as an error at once (nothing goes upstream).
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = ""
    client = client_for(alice)
    middle = at(chat, 2)
    response = post_json(
        client,
        f"/api/v1/conversations/{chat.pk}/reply",
        {"regenerate": True, "message_id": str(middle.pk)},
    )
    assert response.status_code == 200, response.content
    frames = frames_of(response.content.decode())
    assert [name for name, _ in frames] == ["message.created", "error"]
    made = Message.objects.get(conversation=chat, line=1)
    assert (made.position, made.version, made.parent_id) == (2, 2, at(chat, 1).pk)
    assert Participant.objects.get(conversation=chat, user=alice).line == 1
    assert [(i["content"], i["versions"]) for i in page_of(client, chat)["items"]] == [
        ("q1", 1),
        ("", 2),
    ]
    assert [i["content"] for i in page_of(client_for(bob), chat)["items"]] == [
        "q1",
        "a1",
        "q2",
        "a2",
    ]
    # A prompt is resent, not regenerated; someone else's conversation is not there.
    assert (
        post_json(
            client,
            f"/api/v1/conversations/{chat.pk}/reply",
            {"regenerate": True, "message_id": str(at(chat, 3).pk)},
        ).status_code
        == 409
    )
    assert_error(
        post_json(
            client,
            f"/api/v1/conversations/{chat.pk}/reply",
            {"regenerate": True, "message_id": str(uuid.uuid4())},
        ),
        404,
        "not_found",
    )
    assert Conversation.objects.get(pk=chat.pk).line_count == 1
