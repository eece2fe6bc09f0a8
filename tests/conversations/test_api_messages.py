"""The messages endpoints, full stack through Django's test client (middleware, sessions,
CSRF), with the SPEC's error envelope."""

import json
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from conversations import services
from conversations.models import Artifact, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user=None, **kwargs):
        client = Client(**kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages"


def post_json(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_post_then_read_back(alice, bob, group, client_for):
    response = post_json(client_for(alice), url(group), {"content": "Hello **bob**"})
    assert response.status_code == 201
    created = response.json()
    assert created["seq"] == 1 and created["sender"]["username"] == "alice"

    page = client_for(bob).get(url(group)).json()
    assert [item["content"] for item in page["items"]] == ["Hello **bob**"]
    assert page["has_more_before"] is False and page["has_more_after"] is False


def test_retry_with_same_client_message_id_answers_200_with_the_same_message(
    alice, group, client_for
):
    client = client_for(alice)
    first = post_json(client, url(group), {"content": "hi", "client_message_id": "abc"})
    again = post_json(client, url(group), {"content": "hi", "client_message_id": "abc"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    conflict = post_json(client, url(group), {"content": "other", "client_message_id": "abc"})
    assert_error(conflict, 409, "idempotency_conflict")


def test_paging_with_anchors(alice, group, client_for, post):
    for number in range(1, 8):
        post(group, f"m{number}")
    client = client_for(alice)
    page = client.get(url(group), {"limit": 3}).json()
    assert [item["seq"] for item in page["items"]] == [5, 6, 7]
    older = client.get(url(group), {"limit": 3, "before": 5}).json()
    assert [item["seq"] for item in older["items"]] == [2, 3, 4]
    assert older["has_more_before"] and older["has_more_after"]
    newer = client.get(url(group), {"limit": 3, "after": 5}).json()
    assert [item["seq"] for item in newer["items"]] == [6, 7]


def test_deleted_message_keeps_its_place_without_content(alice, group, client_for, post):
    from conversations import services

    message = post(group, "regret")
    services.message_delete(message=message, actor=alice)
    item = client_for(alice).get(url(group)).json()["items"][0]
    assert item["seq"] == 1 and item["content"] == "" and item["is_deleted"] is True


def test_outsider_gets_404_for_reading_and_posting(charlie, group, client_for, post):
    post(group, "secret")
    client = client_for(charlie)
    assert_error(client.get(url(group)), 404, "not_found")
    assert_error(post_json(client, url(group), {"content": "hi"}), 404, "not_found")
    assert Message.objects.count() == 1


def test_unknown_conversation_is_404(alice, client_for):
    fake = f"/api/v1/conversations/{uuid.uuid4()}/messages"
    assert_error(client_for(alice).get(fake), 404, "not_found")


def test_anonymous_gets_401(group, client_for):
    assert_error(client_for().get(url(group)), 401, "not_authenticated")
    assert_error(post_json(client_for(), url(group), {"content": "x"}), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": 5}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"content": "ok", "surprise": 1}, "surprise"),
        ({"content": "ok", "reply_to_id": "not-a-uuid"}, "reply_to_id"),
        ({"content": "ok", "meta": {"tokens": "many"}}, "meta.tokens"),
        ({"content": "   "}, "content"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(alice, group, client_for, body, field):
    response = post_json(client_for(alice), url(group), body)
    error = assert_error(response, 422, "invalid")
    assert error["details"]["field"] == field
    assert Message.objects.count() == 0


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"before": -1}])
def test_bad_query_gets_422(alice, group, client_for, query):
    assert_error(client_for(alice).get(url(group), query), 422, "invalid")


@pytest.mark.parametrize("query", [{"after": "x"}, {"before": "²"}, {"limit": "1.5"}])
def test_a_query_number_that_is_no_number_gets_400(alice, group, client_for, query):
    assert_error(client_for(alice).get(url(group), query), 400, "bad_request")


def test_malformed_json_gets_400(alice, group, client_for):
    response = client_for(alice).post(url(group), data="{not json", content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_session_post_without_csrf_token_is_refused(alice, group, client_for):
    client = client_for(alice, enforce_csrf_checks=True)
    response = post_json(client, url(group), {"content": "forged"})
    assert_error(response, 403, "forbidden")
    assert Message.objects.count() == 0


def test_session_post_with_csrf_token_passes(alice, group, client_for):
    client = client_for(alice, enforce_csrf_checks=True)
    client.get("/settings/")  # a page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        url(group),
        data=json.dumps({"content": "real"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201


def test_message_page_query_count_does_not_grow_with_the_page(
    alice, group, client_for, post, django_assert_num_queries
):
    client = client_for(alice)
    for number in range(50):
        message = post(group, f"m{number}")
        if number % 2:
            part = services.message_part_add(message=message, type="file")
            services.artifact_create(part=part, kind="file", data=b"x", path=f"f{number}.txt")
    # Session, user, alice's participation with the path she is shown, the messages at
    # the page's positions of it, the parts of those that have any (with their artifacts).
    with django_assert_num_queries(5):
        page = client.get(url(group), {"limit": 5}).json()["items"]
    assert len(page) == 5
    # The newest five: m45 to m49; the odd ones have a part.
    assert [len(item["parts"]) for item in page] == [1, 0, 1, 0, 1]
    with django_assert_num_queries(5):
        assert len(client.get(url(group), {"limit": 50}).json()["items"]) == 50


def test_message_page_without_parts_skips_the_parts_query(
    alice, group, client_for, post, django_assert_num_queries
):
    client = client_for(alice)
    for number in range(10):
        post(group, f"m{number}")
    with django_assert_num_queries(4):
        assert len(client.get(url(group)).json()["items"]) == 10


def test_an_empty_page_is_empty_for_a_participant_and_404_for_anyone_else(
    alice, charlie, group, client_for, post
):
    post(group, "only one")
    answer = client_for(alice).get(url(group), {"before": 1})
    assert answer.status_code == 200
    assert answer.json() == {"items": [], "has_more_before": False, "has_more_after": True}
    answer = client_for(alice).get(url(group), {"after": 1})
    assert answer.json() == {"items": [], "has_more_before": True, "has_more_after": False}
    for params in ({}, {"before": 1}, {"after": 1}):
        answer = client_for(charlie).get(url(group), params)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


# --- artifacts: a part's file ------------------------------------------------------------------


def test_a_parts_artifact_is_listed_with_the_url_of_its_file(alice, group, client_for, post):
    message = post(group, "see the file")
    part = services.message_part_add(message=message, type="file")
    artifact = services.artifact_create(part=part, kind="file", data=b"a,b\n", path="out/t.csv")
    bare = services.message_part_add(message=message, type="image")
    bare_artifact = Artifact.objects.create(part=bare, kind="image", path="lost.png", size=9)
    client = client_for(alice)
    for body in (
        client.get(url(group)).json()["items"][-1],
        # An edit answers with the message read as a model, not as page rows.
        client.patch(
            f"/api/v1/messages/{message.pk}",
            data=json.dumps({"content": "see the file!"}),
            content_type="application/json",
        ).json(),
    ):
        listed = [item["artifact"] for item in body["parts"]]
        assert listed[0] == {
            "id": str(artifact.pk),
            "kind": "file",
            "path": "out/t.csv",
            "mime": "",
            "size": 4,
            "sha256": artifact.sha256,
            "url": f"/api/v1/artifacts/{artifact.pk}",
        }
        assert listed[1]["id"] == str(bare_artifact.pk) and listed[1]["url"] is None

    download = client.get(f"/api/v1/artifacts/{artifact.pk}")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"a,b\n"
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="t.csv"'
    # No file stored: nothing to give.
    assert_error(client.get(f"/api/v1/artifacts/{bare_artifact.pk}"), 404, "not_found")


def test_an_image_artifact_is_answered_inline_with_its_type(alice, group, client_for, post):
    png = b"\x89PNG\r\n\x1a\n" + bytes(16)
    part = services.message_part_add(message=post(group, "a picture"), type="image")
    artifact = services.artifact_create(
        part=part, kind="image", data=png, path="p.png", mime="image/png"
    )
    answer = client_for(alice).get(f"/api/v1/artifacts/{artifact.pk}")
    assert answer["Content-Type"] == "image/png" and answer["X-Content-Type-Options"] == "nosniff"
    assert not answer["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("gone", ["deleted", "hidden"])
def test_the_file_of_a_deleted_or_hidden_message_is_gone(alice, bob, group, client_for, post, gone):
    message = post(group, "oops", sender=bob)
    part = services.message_part_add(message=message, type="file")
    artifact = services.artifact_create(part=part, kind="file", data=b"x", path="x.txt")
    if gone == "deleted":
        services.message_delete(message=message, actor=bob)
    else:
        Message.objects.filter(pk=message.pk).update(hidden_at=timezone.now())
    assert_error(client_for(alice).get(f"/api/v1/artifacts/{artifact.pk}"), 404, "not_found")


@pytest.mark.parametrize("artifact_id", ["nope", "1", "00000000-0000-0000-0000-00000000000Z"])
def test_a_malformed_artifact_id_is_no_such_route(alice, client_for, artifact_id):
    # As for every id in a path (tests/test_api_errors.py): 404, never a 500.
    assert_error(client_for(alice).get(f"/api/v1/artifacts/{artifact_id}"), 404, "not_found")


def test_an_unknown_artifact_gets_404(alice, client_for):
    assert_error(client_for(alice).get(f"/api/v1/artifacts/{uuid.uuid4()}"), 404, "not_found")


# --- how an assistant turn went: what the thread page tells -----------------------------------

TURN_FIELDS = ("usage", "latency_ms", "ttft_ms", "finish_reason", "error_type", "error")


def assistant_turn(conversation, *, reply_to, content, usage=None, **finish):
    turn = services.assistant_message_start(
        conversation=conversation, agent=None, reply_to=reply_to
    )
    if usage is not None:
        services.message_record_usage(message=turn, usage=usage)
    return services.assistant_message_finish(message=turn, content=content, **finish)


def test_a_page_tells_each_assistant_turns_usage_timing_and_ending(
    alice, group, client_for, post, django_assert_num_queries
):
    question = post(group, "How long is a piece of string?")
    assistant_turn(
        group,
        reply_to=question,
        content="Twice half its",
        usage=services.Usage(
            prompt_tokens=120, completion_tokens=40, cached_input_tokens=100, reasoning_tokens=25
        ),
        latency_ms=1800,
        ttft_ms=250,
        finish_reason="length",
    )
    again = post(group, "And now?")
    stopped = services.assistant_message_start(conversation=group, agent=None, reply_to=again)
    services.assistant_message_abort(message=stopped, actor=alice)
    services.assistant_message_finish(
        message=stopped,
        content="Let me",
        status="error",
        error="Stopped.",
        error_type="aborted",
        is_aborted=True,
        latency_ms=300,
    )
    client = client_for(alice)
    # Session, user, alice's path, the messages: the new fields are columns of the same
    # rows, not another query.
    with django_assert_num_queries(4):
        items = client.get(url(group)).json()["items"]
    complete, failed = items[1], items[3]
    assert complete["status"] == "complete"
    assert complete["usage"] == {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "cached_tokens": 100,
        "reasoning_tokens": 25,
    }
    assert (complete["latency_ms"], complete["ttft_ms"]) == (1800, 250)
    assert complete["finish_reason"] == "length"
    assert complete["error_type"] is None and complete["error"] is None
    assert complete["is_aborted"] is False

    assert failed["status"] == "error" and failed["content"] == "Let me"
    assert (failed["error_type"], failed["error"], failed["is_aborted"]) == (
        "aborted",
        "Stopped.",
        True,
    )
    assert failed["usage"] is None and failed["ttft_ms"] is None
    assert failed["latency_ms"] == 300 and failed["finish_reason"] is None


def test_a_human_message_has_none_of_it_in_every_answer(alice, group, client_for):
    client = client_for(alice)
    posted = post_json(client, url(group), {"content": "just me"})
    edited = client.patch(
        f"/api/v1/messages/{posted.json()['id']}",
        data=json.dumps({"content": "just me!"}),
        content_type="application/json",
    )
    listed = client.get(url(group)).json()["items"][0]
    for body in (posted.json(), edited.json(), listed):
        assert {field: body[field] for field in TURN_FIELDS} == dict.fromkeys(TURN_FIELDS)
        assert body["is_aborted"] is False


def test_a_hidden_turn_keeps_its_numbers_but_not_its_error_text(alice, group, client_for, post):
    question = post(group, "hm")
    turn = assistant_turn(
        group,
        reply_to=question,
        content="quoting the secret",
        status="error",
        error="The model server said: quoting the secret",
        error_type="upstream_error",
        latency_ms=50,
    )
    Message.objects.filter(pk=turn.pk).update(hidden_at=timezone.now())
    item = client_for(alice).get(url(group)).json()["items"][1]
    assert item["content"] == "" and item["error"] is None
    assert (item["error_type"], item["latency_ms"]) == ("upstream_error", 50)


def test_the_schema_describes_the_turn_fields(client_for, alice):
    schema = client_for(alice).get("/api/v1/openapi.json").json()["components"]["schemas"]
    properties = schema["MessageOut"]["properties"]
    for field in (*TURN_FIELDS, "is_aborted"):
        assert properties[field].get("description"), field
    assert set(schema["MessageUsageOut"]["properties"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_tokens",
        "reasoning_tokens",
    }
