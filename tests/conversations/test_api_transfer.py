"""GET /conversations/{id}/export and POST /imports, full stack through Django's test client:
ChatGPT exports (JSON and ZIP), our own export's round trip, re-imports, and hostile files."""

import json
import uuid
import zipfile
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient, Client
from django.utils import timezone

from conversations import selectors, services
from conversations.models import (
    Artifact,
    Conversation,
    Event,
    Message,
    MessagePart,
    Participant,
)

from .test_api_messages import assert_error
from .transfer_helpers import (
    chatgpt_zip,
    fixture_bytes,
    fixture_json,
    make_zip,
    patch_zip_member,
    rich_conversation,
    thread_snapshot,
    totals,
    upload,
)

pytestmark = pytest.mark.django_db


def export_url(conversation, fmt: str = "json") -> str:
    return f"/api/v1/conversations/{conversation.pk}/export?format={fmt}"


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def thread(conversation_id) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .prefetch_related("parts")
    )


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def assert_nothing_imported():
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0
    assert MessagePart.objects.count() == 0


# --- ChatGPT -------------------------------------------------------------------------------


def shown_path(user, conversation) -> list[Message]:
    """The messages `user` is shown of the conversation, one per turn."""
    return selectors.message_page(user=user, conversation_id=conversation.pk, limit=100).items


def test_chatgpt_branched_tree_imports_every_branch_as_versions(alice, client_for):
    response = upload(client_for(alice), fixture_bytes("branched.json"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == "chatgpt" and body["skipped"] == []
    conversation = Conversation.objects.get(pk=body["imported"][0])
    assert (conversation.kind, conversation.title) == ("assistant", "Reversing things in Python")
    assert conversation.workspace == alice.default_workspace
    assert conversation.created_by == alice and conversation.created_at == at(1700000000)

    messages = thread(conversation.pk)
    # Every branch is kept, in the order written; only the empty system node is skipped.
    # (seq, position, line, parent's seq, version, role, text)
    assert [
        (m.seq, m.position, m.line, m.parent and m.parent.seq, m.version, m.role, m.content)
        for m in messages
    ] == [
        (1, 1, 0, None, 1, "user", "How do I reverse a list?"),
        (2, 2, 0, 1, 1, "assistant", "An answer that was regenerated away."),
        (3, 3, 0, 2, 1, "user", "A follow-up on the abandoned branch."),
        (
            4,
            2,
            1,
            1,
            2,
            "assistant",
            "Use `items.reverse()` in place, or `items[::-1]` for a copy.",
        ),
        (5, 3, 1, 4, 1, "user", "And a tuple?"),
        (6, 4, 1, 5, 1, "assistant", "Tuples are immutable: tuple(reversed(t))."),
        (7, 3, 2, 4, 2, "user", "And a string?"),
        (8, 4, 2, 7, 1, "assistant", "Slice it too: `text[::-1]`."),
    ]
    assert [m.next_turn_forks for m in messages] == [1, 0, 0, 1, 0, 0, 0, 0]
    assert (conversation.line_count, conversation.first_turn_forks) == (2, 0)
    assert list(
        conversation.lines.values_list("number", "parent_line", "fork_position", "ancestry")
    ) == [(1, 0, 2, [[0, 1], [1, 2]]), (2, 1, 3, [[0, 1], [1, 2], [2, 3]])]
    # The importer is shown the line that ends at current_node: ChatGPT's active thread.
    owner = Participant.objects.get(conversation=conversation)
    assert (owner.user, owner.role, owner.line, owner.last_read_seq) == (alice, "owner", 2, 8)
    assert [m.content for m in shown_path(alice, conversation)] == [
        "How do I reverse a list?",
        "Use `items.reverse()` in place, or `items[::-1]` for a copy.",
        "And a string?",
        "Slice it too: `text[::-1]`.",
    ]
    assert [m.sender for m in messages] == [alice, None, alice, None, alice, None, alice, None]
    assert [m.model for m in messages][:4] == ["", "gpt-4", "", "gpt-4o"]
    assert messages[0].created_at == at(1700000010.5)
    assert [part.type for part in messages[3].parts.all()] == ["text"]
    assert conversation.message_count == 8
    assert conversation.last_activity_at == at(1700000080)
    # The importer's other tabs learn of it once, not once per message.
    events = Event.objects.filter(conversation=conversation)
    assert list(events.values_list("type", flat=True)) == ["conversation.created"]


def test_chatgpt_tool_and_system_nodes(alice, client_for):
    response = upload(client_for(alice), fixture_bytes("tools.json"))
    assert response.status_code == 201, response.content
    conversation = Conversation.objects.get(pk=response.json()["imported"][0])
    messages = thread(conversation.pk)
    # Custom instructions become a system message; the empty and the blank system nodes
    # and the node of an unknown role are skipped.
    assert [m.role for m in messages] == [
        "system",
        "user",
        "assistant",
        "assistant",
        "tool",
        "assistant",
    ]
    assert messages[0].content == "I am a physics teacher.\n\nAnswer briefly."
    assert messages[0].created_at == at(1710000000)  # no time: the conversation's
    reasoning, call, result, final = (list(m.parts.all()) for m in messages[2:])
    assert [p.type for p in final] == ["text"]
    assert [(p.type, p.content) for p in reasoning] == [
        ("reasoning", {"text": "Use numpy and matplotlib."})
    ]
    assert (call[0].type, call[0].tool_name) == ("tool_call", "python")
    assert call[0].content["arguments"]["code"].startswith("import numpy as np")
    assert (result[0].type, result[0].tool_name, result[0].content) == (
        "tool_result",
        "python",
        {"output": "<<ImageDisplayed>>"},
    )
    assert messages[5].content == "Here is the plot of sin(x)." and messages[5].model == "o3"
    assert conversation.tool_counts == {"python": 1}


def test_chatgpt_multimodal_parts(alice, client_for):
    response = upload(client_for(alice), fixture_bytes("multimodal.json"))
    conversation = Conversation.objects.get(pk=response.json()["imported"][0])
    messages = thread(conversation.pk)
    question = messages[0]
    assert question.content == "What is in this picture?" and question.sender == alice
    assert [(p.index, p.type) for p in question.parts.all()] == [(0, "image"), (1, "text")]
    image = question.parts.all()[0].content
    assert image == {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-abc123",
        "size_bytes": 123456,
        "width": 1024,
        "height": 768,
    }
    call, made = messages[3], messages[4]
    assert (call.role, call.parts.all()[0].tool_name) == ("assistant", "dalle.text2im")
    assert made.role == "tool"
    assert made.parts.all()[0].content["prompt"] == "a cat, watercolour"


def test_chatgpt_null_messages_missing_children_metadata_ids_and_titles(alice, client_for):
    response = upload(client_for(alice), fixture_bytes("sparse.json"))
    assert response.status_code == 201, response.content
    conversation = Conversation.objects.get(pk=response.json()["imported"][0])
    # No conversation id: the source is a digest of the conversation, stable across files.
    assert conversation.subject_id.startswith("sha256:")
    assert conversation.title == "A conversation without an id or a title."
    messages = thread(conversation.pk)
    # The empty node between the question and the answer is skipped: the answer is the
    # question's child. Both branches after it are versions of the third turn.
    assert [(m.content, m.position, m.version) for m in messages] == [
        ("A conversation without an id or a title.", 1, 1),
        ("An answer with no time and no metadata.", 2, 1),
        ("An older branch.", 3, 1),
        ("The newest branch, chosen without a current_node.", 3, 2),
    ]
    assert messages[1].parent == messages[0] and messages[3].parent == messages[1]
    # Without a current_node, the newest leaf's line is shown.
    assert [m.content for m in shown_path(alice, conversation)] == [
        "A conversation without an id or a title.",
        "An answer with no time and no metadata.",
        "The newest branch, chosen without a current_node.",
    ]
    # A message without a time takes its predecessor's.
    assert messages[1].created_at == messages[0].created_at == at(1730000000)
    assert conversation.created_at == at(1730000000)
    assert upload(client_for(alice), fixture_bytes("sparse.json")).status_code == 200


def test_chatgpt_zip_with_numbered_conversation_files(alice, client_for):
    client = client_for(alice)
    response = upload(client, chatgpt_zip(), name="chatgpt-export.zip")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == "chatgpt" and len(body["imported"]) == 3
    titles = set(Conversation.objects.values_list("title", flat=True))
    assert titles == {"Reversing things in Python", "Plot a sine wave", "What is in this picture?"}

    again = upload(client, chatgpt_zip(), name="chatgpt-export.zip")
    assert again.status_code == 200
    assert sorted(again.json()["skipped"]) == sorted(body["imported"])
    assert again.json()["imported"] == []
    assert Conversation.objects.count() == 3


def test_reimporting_creates_nothing_new_even_from_another_file(alice, client_for):
    client = client_for(alice)
    first = upload(client, fixture_bytes("branched.json")).json()
    counts = (Conversation.objects.count(), Message.objects.count(), MessagePart.objects.count())
    # The same conversation inside a ZIP is the same conversation.
    response = upload(
        client, make_zip({"conversations.json": fixture_bytes("branched.json")}), "x.zip"
    )
    assert response.status_code == 200
    assert response.json() == {"imported": [], "skipped": first["imported"], "format": "chatgpt"}
    assert (Conversation.objects.count(), Message.objects.count(), MessagePart.objects.count()) == (
        counts
    )


def test_each_user_imports_their_own_copy(alice, bob, client_for):
    data = fixture_bytes("branched.json")
    assert upload(client_for(alice), data).status_code == 201
    assert upload(client_for(bob), data).status_code == 201
    assert Conversation.objects.filter(created_by=bob, workspace=bob.default_workspace).exists()
    assert Conversation.objects.count() == 2


# --- our own format: the round trip ---------------------------------------------------------


def test_json_export_round_trips_through_import(alice, bob, charlie, group, post, client_for):
    source = rich_conversation(alice, bob, group, post)
    response = client_for(alice).get(export_url(source))
    assert response.status_code == 200
    exported = body_of(response)
    document = json.loads(exported)
    assert (document["format"], document["version"]) == ("chatapp", 2)
    assert document["conversation"]["usage"]["total_input_tokens"] == 500

    imported = upload(client_for(charlie), exported, name="plans.json")
    assert imported.status_code == 201, imported.content
    assert imported.json()["format"] == "chatapp"
    copy = Conversation.objects.get(pk=imported.json()["imported"][0])

    assert copy.pk != source.pk
    assert (copy.kind, copy.title, copy.status) == ("group", "Plans", "active")
    assert (copy.workspace, copy.created_by) == (charlie.default_workspace, charlie)
    assert copy.created_at == source.created_at
    # The same roles, parts, artifact metadata, usage and times, message by message…
    assert thread_snapshot(copy) == thread_snapshot(source)
    # …and the same totals, recomputed from them.
    assert totals(copy) == totals(source)
    # Only the importer takes part; who wrote what is kept with each message.
    assert list(copy.participants.values_list("user__username", "role")) == [("charlie", "owner")]
    senders = [m.meta.get("original_sender", {}).get("username") for m in thread(copy.pk)]
    assert senders == ["alice", None, "bob", "alice"]
    assert [p["username"] for p in copy.metadata["import"]["participants"]] == ["alice", "bob"]
    assert Artifact.objects.filter(part__message__conversation=copy).get().file.name == ""

    again = upload(client_for(charlie), exported, name="plans.json")
    assert again.status_code == 200
    assert again.json()["skipped"] == [str(copy.pk)]
    assert Conversation.objects.count() == 2


def test_importing_ones_own_export_keeps_one_as_sender(alice, group, post, client_for):
    post(group, "mine")
    exported = body_of(client_for(alice).get(export_url(group)))
    response = upload(client_for(alice), exported)
    assert response.status_code == 201
    copy = thread(response.json()["imported"][0])
    assert copy[0].sender == alice and "original_sender" not in copy[0].meta


def test_export_of_an_import_imports_again_elsewhere(alice, bob, client_for):
    first = upload(client_for(alice), fixture_bytes("tools.json")).json()["imported"][0]
    conversation = Conversation.objects.get(pk=first)
    exported = body_of(client_for(alice).get(export_url(conversation)))
    response = upload(client_for(bob), exported)
    assert response.status_code == 201
    copy = Conversation.objects.get(pk=response.json()["imported"][0])
    assert thread_snapshot(copy) == thread_snapshot(conversation)
    assert copy.tool_counts == {"python": 1}


# --- export --------------------------------------------------------------------------------


def test_json_export_is_an_attachment_without_deleted_or_hidden_content(
    alice, bob, group, post, client_for
):
    rich_conversation(alice, bob, group, post)
    hidden = post(group, "hide me")
    # No moderation service yet: a moderator's hide, as the admin will do it.
    Message.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    response = client_for(bob).get(export_url(group))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="plans-{str(group.pk)[:8]}.json"'
    )
    body = body_of(response)
    assert b"regret" not in body and b"hide me" not in body
    messages = json.loads(body)["messages"]
    assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5]
    assert (messages[3]["is_deleted"], messages[3]["content"], messages[3]["parts"]) == (
        True,
        "",
        [],
    )
    assert (messages[4]["is_hidden"], messages[4]["content"]) == (True, "")
    assert messages[1]["reply_to_seq"] == 1 and messages[2]["reply_to_seq"] == 2
    artifact = messages[1]["parts"][3]["artifact"]
    assert artifact["path"] == "app/pagination.py" and artifact["size"] == 30


def test_markdown_export(alice, bob, group, post, client_for):
    rich_conversation(alice, bob, group, post)
    response = client_for(alice).get(export_url(group, "markdown"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].endswith(f'plans-{str(group.pk)[:8]}.md"')
    text = body_of(response).decode()
    assert text.startswith("# Plans\n")
    assert "- Participants: Alice (owner), Bob (member)" in text
    assert "### #1 · Alice (user) · " in text
    assert "### #2 · Assistant (test-model) · " in text
    assert (
        '**Tool call** `read_file` (call_1)\n\n```json\n{\n  "path": "app/pagination.py"\n}\n```'
        in (text)
    )
    # The tool output holds ``` itself: its fence is longer, so it cannot close early.
    assert "````text\ndef paginate(): ```fenced``` ...\n````" in text
    assert "*[file: app/pagination.py, text/x-python, 30 bytes]*" in text
    assert "*500 input · 80 output tokens · 0.9 s*" in text
    assert "### #4 · Alice (user)" in text and "*This message was deleted.*" in text
    assert "regret" not in text


def test_export_filename_is_safe_whatever_the_title(alice, client_for):
    conversation, _ = services.conversation_create(
        creator=alice, kind="assistant", title='Q3 "plans" / ../../etc <b>ünïcode</b>'
    )
    response = client_for(alice).get(export_url(conversation, "markdown"))
    assert response["Content-Disposition"] == (
        f'attachment; filename="q3-plans-etc-bunicodeb-{str(conversation.pk)[:8]}.md"'
    )


def test_export_of_an_untitled_empty_conversation(alice, client_for):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    response = client_for(alice).get(export_url(conversation))
    assert (
        f'filename="conversation-{str(conversation.pk)[:8]}.json"'
        in response["Content-Disposition"]
    )
    assert json.loads(body_of(response))["messages"] == []


def test_outsider_and_unknown_get_404_and_anonymous_401(charlie, group, post, client_for):
    post(group, "secret")
    assert_error(client_for(charlie).get(export_url(group)), 404, "not_found")
    assert_error(client_for(charlie).get(export_url(group, "markdown")), 404, "not_found")
    fake = f"/api/v1/conversations/{uuid.uuid4()}/export"
    assert_error(client_for(charlie).get(fake), 404, "not_found")
    assert_error(client_for().get(export_url(group)), 401, "not_authenticated")
    assert_error(upload(client_for(), fixture_bytes("branched.json")), 401, "not_authenticated")
    assert_nothing_imported_but(group)


def assert_nothing_imported_but(conversation):
    assert list(Conversation.objects.values_list("pk", flat=True)) == [conversation.pk]


def test_export_of_a_trashed_conversation_is_404(alice, group, client_for):
    services.conversation_delete(conversation=group, actor=alice)
    assert_error(client_for(alice).get(export_url(group)), 404, "not_found")


def test_unknown_export_format_is_422(alice, group, client_for):
    assert_error(client_for(alice).get(export_url(group, "pdf")), 422, "invalid")


def test_export_query_count_does_not_grow_with_the_thread(
    alice, bob, group, post, client_for, django_assert_num_queries
):
    rich_conversation(alice, bob, group, post)
    client = client_for(alice)
    # Session, user, participation with conversation, participants, lines, messages, their
    # parts, their revisions.
    with django_assert_num_queries(8):
        body_of(client.get(export_url(group)))
    for number in range(30):
        post(group, f"more {number}", sender=bob if number % 2 else alice)
    with django_assert_num_queries(8):
        assert len(json.loads(body_of(client.get(export_url(group))))["messages"]) == 34
    # The Markdown reads no lines and no revisions.
    with django_assert_num_queries(6):
        body_of(client.get(export_url(group, "markdown")))


def test_export_streams_under_asgi(alice, group, post):
    post(group, "over ASGI")

    async def fetch():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get(export_url(group))
        chunks = [chunk async for chunk in response.streaming_content]
        return response, b"".join(chunks)

    response, body = async_to_sync(fetch)()
    assert response.status_code == 200
    assert json.loads(body)["messages"][0]["content"] == "over ASGI"


# --- hostile and broken files --------------------------------------------------------------


def chatgpt_file(**changes) -> bytes:
    conversation = fixture_json("branched.json")[0]
    conversation.update(changes)
    return json.dumps([conversation]).encode()


def node(parent, text="hi", **message):
    return {
        "parent": parent,
        "message": {"author": {"role": "user"}, "content": {"parts": [text]}, **message},
    }


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(b'[{"title": "cut off", "mapping": {', 400, "bad_request", id="truncated"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 400, "bad_request", id="png"),
        pytest.param(b"[1, 2] trailing", 400, "bad_request", id="trailing-garbage"),
        pytest.param(b"", 400, "bad_request", id="empty"),
        pytest.param(b"42", 422, "invalid", id="a-number"),
        pytest.param(b"[]", 422, "invalid", id="no-conversations"),
        pytest.param(b'[{"title": "no mapping"}]', 422, "invalid", id="no-mapping"),
        pytest.param(b'{"format": "other"}', 422, "invalid", id="unknown-object"),
        pytest.param(b"[" * 100 + b"]" * 100, 422, "invalid", id="nested-too-deep"),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": node("b"), "b": node("a")}),
            422,
            "invalid",
            id="cycle",
        ),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": node("a")}), 422, "invalid", id="self-loop"
        ),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": node("gone")}),
            422,
            "invalid",
            id="dangling-parent",
        ),
        pytest.param(chatgpt_file(current_node="nowhere"), 422, "invalid", id="unknown-current"),
        pytest.param(chatgpt_file(mapping=[1, 2]), 422, "invalid", id="mapping-a-list"),
        pytest.param(chatgpt_file(create_time="yesterday"), 422, "invalid", id="time-as-text"),
        pytest.param(chatgpt_file(create_time=1e300), 422, "invalid", id="time-out-of-range"),
        pytest.param(chatgpt_file(title=["x"]), 422, "invalid", id="title-a-list"),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": {"parent": None, "message": "hi"}}),
            422,
            "invalid",
            id="message-a-string",
        ),
        pytest.param(
            chatgpt_file(
                current_node="a",
                mapping={"a": {"message": {"author": "me", "content": {"parts": ["x"]}}}},
            ),
            422,
            "invalid",
            id="author-a-string",
        ),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": node(None)}),
            201,
            None,
            id="control-valid-node",
        ),
        pytest.param(
            chatgpt_file(
                current_node="a",
                mapping={"a": {"message": {"author": {"role": "user"}, "content": {"parts": "x"}}}},
            ),
            422,
            "invalid",
            id="parts-a-string",
        ),
        pytest.param(
            chatgpt_file(current_node="a", mapping={"a": "not a node"}),
            422,
            "invalid",
            id="node-a-string",
        ),
    ],
)
def test_broken_files_get_a_clear_4xx_and_import_nothing(alice, client_for, data, status, code):
    response = upload(client_for(alice), data)
    if status == 201:
        assert response.status_code == 201, response.content
        return
    error = assert_error(response, status, code)
    assert error["details"]["field"] == "file"
    assert_nothing_imported()


def our_export(**changes) -> dict:
    message = {"seq": 1, "role": "user", "content": "hi", "created_at": "2025-01-01T10:00:00Z"}
    document = {
        "format": "chatapp",
        "version": 1,
        "conversation": {
            "id": str(uuid.uuid4()),
            "kind": "assistant",
            "title": "t",
            "created_at": "2025-01-01T10:00:00Z",
        },
        "messages": [message, {**message, "seq": 2}],
    }
    for key, value in changes.items():
        if key.startswith("message_"):
            document["messages"][1][key.removeprefix("message_")] = value
        elif key.startswith("conversation_"):
            document["conversation"][key.removeprefix("conversation_")] = value
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"version": 3}, "version"),
        ({"version": "1"}, "version"),
        ({"conversation": None}, "conversation"),
        ({"conversation_kind": "chat"}, "conversation.kind"),
        ({"conversation_id": "not-a-uuid"}, "conversation.id"),
        ({"message_role": 5}, "messages[1].role"),
        ({"message_seq": 1}, "messages[1].seq"),
        ({"message_created_at": "soon"}, "messages[1].created_at"),
        ({"message_prompt_tokens": 2**40}, "messages[1].prompt_tokens"),
        ({"message_parts": "text"}, "messages[1].parts"),
        ({"message_parts": [{"type": "hologram"}]}, "messages[1].parts.0.type"),
        ({"message_reply_to_seq": 7}, "messages[1].reply_to_seq"),
        ({"message_meta": {"tokens": "many"}}, "messages[1].meta.tokens"),
    ],
)
def test_our_format_with_wrong_types_is_422_naming_where(alice, client_for, changes, where):
    data = json.dumps(our_export(**changes)).encode()
    error = assert_error(upload(client_for(alice), data), 422, "invalid")
    assert error["details"]["location"].endswith(where), error
    assert_nothing_imported()


def test_a_broken_conversation_after_good_ones_imports_nothing(alice, client_for):
    good = fixture_json("branched.json") + fixture_json("tools.json")
    broken = {
        "title": "late trouble",
        "current_node": "a",
        "mapping": {"a": node("b"), "b": node("a")},
    }
    response = upload(client_for(alice), json.dumps([*good, broken]).encode())
    assert_error(response, 422, "invalid")
    assert_nothing_imported()


def test_upload_over_the_configured_size_is_413(alice, client_for, settings):
    settings.IMPORT_MAX_BYTES = 1000
    response = upload(client_for(alice), chatgpt_file())
    error = assert_error(response, 413, "too_large")
    assert error["details"]["limit"] == 1000
    assert_nothing_imported()


def test_zip_bomb_declaring_more_than_the_limit_is_413(alice, client_for, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 1_000_000
    bomb = make_zip({"conversations.json": b"[" + b" " * 5_000_000 + b"]"})
    assert len(bomb) < 10_000
    assert_error(upload(client_for(alice), bomb, "bomb.zip"), 413, "too_large")
    assert_nothing_imported()


def test_zip_member_lying_about_its_size_is_refused(alice, client_for, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 1_000_000
    honest = make_zip({"conversations.json": b"[" + b" " * 5_000_000 + b"]"})
    liar = patch_zip_member(honest, size=100)
    # Python's zipfile stops at the declared size; the checksum then fails.
    assert_error(upload(client_for(alice), liar, "liar.zip"), 400, "bad_request")
    assert_nothing_imported()


def test_zip_with_too_many_members_is_413(alice, client_for, settings):
    settings.IMPORT_MAX_ZIP_MEMBERS = 3
    members = {f"file-{number}.png": b"x" for number in range(5)}
    data = make_zip({"conversations.json": fixture_bytes("branched.json"), **members})
    assert_error(upload(client_for(alice), data, "many.zip"), 413, "too_large")
    assert_nothing_imported()


def test_zip_central_directory_too_big_for_the_members_allowed_is_413(alice, client_for, settings):
    settings.IMPORT_MAX_ZIP_MEMBERS = 2
    # Two members, but names long enough that the directory outgrows 2 x 1 KiB.
    data = make_zip(
        {"conversations.json": fixture_bytes("branched.json"), "x" * 3000 + ".png": b"x"}
    )
    assert_error(upload(client_for(alice), data, "long.zip"), 413, "too_large")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(make_zip({"user.json": b"{}"}), 422, id="no-conversations-json"),
        pytest.param(
            patch_zip_member(make_zip({"conversations.json": b"[]"}), flags=0x1),
            400,
            id="encrypted",
        ),
        pytest.param(b"PK\x03\x04 this is not really a zip", 400, id="not-a-zip"),
        pytest.param(
            make_zip({"conversations.json": b"[{broken"}, compression=zipfile.ZIP_STORED),
            400,
            id="bad-json-inside",
        ),
    ],
)
def test_broken_zips_get_4xx(alice, client_for, data, status):
    response = upload(client_for(alice), data, "export.zip")
    assert response.status_code == status, response.content
    assert_nothing_imported()


def test_import_needs_a_file(alice, client_for):
    response = client_for(alice).post("/api/v1/imports", {"other": "x"})
    error = assert_error(response, 422, "invalid")
    assert error["details"]["field"].endswith("file")


def test_nul_characters_are_dropped(alice, client_for):
    data = chatgpt_file(
        title="nul\u0000title",
        current_node="a",
        mapping={"a": node(None, "te\u0000xt", metadata={"model\u0000": "x\u0000"})},
    )
    response = upload(client_for(alice), data)
    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert message.content == "text" and message.conversation.title == "nultitle"


def test_oversized_upload_with_a_csrf_checked_session_is_413(alice, settings):
    # With CSRF enforced, the body is first parsed while signing in: the limit holds there,
    # from the Content-Length, before the file is read.
    settings.IMPORT_MAX_BYTES = 1000
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/settings/")  # a page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    data = b"[" + b" " * 100_000 + b"]"
    response = client.post(
        "/api/v1/imports",
        {"file": SimpleUploadedFile("big.json", data)},
        headers={"X-CSRFToken": token},
    )
    assert_error(response, 413, "too_large")
    small = client.post(
        "/api/v1/imports",
        {"file": SimpleUploadedFile("ok.json", b"[]")},
        headers={"X-CSRFToken": token},
    )
    assert_error(small, 422, "invalid")
    assert_nothing_imported()


def test_uploads_kept_in_a_temporary_file_import_the_same(alice, client_for, settings):
    # Bigger than this, Django writes the upload to a temporary file instead of memory.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    client = client_for(alice)
    assert upload(client, fixture_bytes("tools.json")).status_code == 201
    response = upload(client, chatgpt_zip(), "export.zip")
    assert response.status_code == 201
    assert (len(response.json()["imported"]), len(response.json()["skipped"])) == (2, 1)


def test_a_body_that_is_not_multipart_is_400(alice, client_for):
    response = client_for(alice).post(
        "/api/v1/imports", data="garbage", content_type="multipart/form-data"
    )
    assert_error(response, 400, "bad_request")
    assert_nothing_imported()
