"""Export and import keep every version of every turn (issue 16 part 6): our format version 2
round trip with resends, regenerations and edits; version 1 files; ChatGPT's whole tree;
and files whose tree is broken."""

import copy
import json

import pytest
from django.db import transaction

from conversations import selectors, services
from conversations.models import (
    Artifact,
    Conversation,
    Line,
    Message,
    MessagePart,
    MessageRevision,
    PartType,
)
from conversations.services import transfer as transfer_service
from conversations.services.conversations import lock_participation
from conversations.transfer import chatgpt

from .test_api_messages import assert_error
from .transfer_helpers import fixture_bytes, fixture_json, make_zip, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    from django.test import Client

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def export(client, conversation, fmt="json") -> bytes:
    response = client.get(f"/api/v1/conversations/{conversation.pk}/export?format={fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def reply(conversation, prompt, text, *, line, model="test-model"):
    """An assistant's answer at the end of `line`, finished."""
    message = services.assistant_message_start(
        conversation=conversation, agent=None, model=model, reply_to=prompt, line=line
    )
    services.assistant_message_finish(message=message, content=text)
    return message


def regenerate(user, answer, text):
    """A new version of an assistant's answer, finished; `user` is shown its line."""
    with transaction.atomic():
        participant = lock_participation(answer.conversation, user)
        message = services.reply_version_start(
            participant=participant, reply=answer, agent=None, model="other-model"
        )
    services.assistant_message_finish(message=message, content=text)
    message.refresh_from_db()
    return message


def shown_path(user, conversation) -> list[str]:
    page = selectors.message_page(user=user, conversation_id=conversation.pk, limit=100)
    return [message.content for message in page.items]


def resend(message, user, text):
    resent, _ = services.message_resend(message=message, actor=user, content=text)
    return resent


@pytest.fixture
def versions(alice, post):
    """alice's assistant conversation with versions at the first turn and further down, an
        edited message with two earlier texts, a part, and a deleted message on a side line (the
    resent first turn):

            line 0: q1  a1  q2  a2
            line 1:     a1' (regenerated)
            line 2:             q2' (resent)  a2'
            line 3: q1' (resent first turn)   a1''
        and alice is shown line 2 at the end."""
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    q1 = post(conversation, "What is a monad?")
    services.message_edit(message=q1, actor=alice, content="What is a monad, briefly?")
    services.message_edit(message=q1, actor=alice, content="What is a monad, in one line?")
    a1 = reply(conversation, q1, "A monoid in the category of endofunctors.", line=0)
    services.message_part_add(
        message=a1, type=PartType.REASONING, content={"text": "Keep it short."}
    )
    q2 = post(conversation, "Say it simpler.")
    a2 = reply(conversation, q2, "A box with rules for chaining.", line=0)
    regenerate(alice, a1, "A way to chain computations.")  # line 1
    services.version_show(message=q2, actor=alice)  # back to line 0
    resent = resend(q2, alice, "Say it simpler, for a child.")  # line 2
    reply(conversation, resent, "A lunchbox that knows what comes next.", line=resent.line)
    first = resend(q1, alice, "Explain monads with an example.")  # line 3
    reply(conversation, first, "Take Maybe: …", line=first.line)
    services.message_delete(message=first, actor=alice)
    services.version_show(message=resent, actor=alice)
    conversation.refresh_from_db()
    assert a2.line == 0 and conversation.line_count == 3
    return conversation


def tree_snapshot(conversation: Conversation) -> dict:
    """The shape of the tree and what each message says, comparable across conversations."""
    conversation.refresh_from_db()
    messages = list(conversation.messages.order_by("seq"))
    seq_of = {message.pk: message.seq for message in messages}
    return {
        "counts": (
            conversation.message_count,
            conversation.line_count,
            conversation.first_turn_forks,
            conversation.last_activity_at,
        ),
        "lines": list(
            Line.objects.filter(conversation=conversation).values_list(
                "number", "parent_line", "fork_position", "ancestry"
            )
        ),
        "messages": [
            (
                message.seq,
                message.position,
                message.line,
                seq_of.get(message.parent_id),
                message.version,
                message.next_turn_forks,
                message.role,
                message.visible_content,
                message.edited_at,
                message.created_at,
                message.is_deleted,
                list(
                    message.revisions.order_by("number").values_list(
                        "number", "content", "created_at"
                    )
                )
                if message.is_visible
                else [],
            )
            for message in messages
        ],
        "shown_line": conversation.participants.get(user=conversation.created_by).line,
    }


def comparable(document: dict) -> dict:
    """An export without what is necessarily new in a copy: the export's time, the
    conversation's id and import bookkeeping, and when its participants joined."""
    document = copy.deepcopy(document)
    document.pop("exported_at")
    conversation = document["conversation"]
    for key in ("id", "subject_type", "subject_id", "metadata"):
        conversation.pop(key)
    for participant in conversation["participants"]:
        participant.pop("joined_at")
    return document


# --- our format, version 2 -----------------------------------------------------------------


def test_v2_export_carries_every_version_lines_and_revisions(alice, versions, client_for):
    document = json.loads(export(client_for(alice), versions))
    assert document["version"] == 2
    assert list(document)[-3:] == ["shown_line", "lines", "messages"]
    assert document["shown_line"] == 2
    assert document["lines"] == [
        {"number": 1, "parent_line": 0, "fork_position": 2, "ancestry": [[0, 1], [1, 2]]},
        {"number": 2, "parent_line": 0, "fork_position": 3, "ancestry": [[0, 1], [2, 3]]},
        {"number": 3, "parent_line": 0, "fork_position": 1, "ancestry": [[3, 1]]},
    ]
    places = [
        (m["seq"], m["position"], m["line"], m["parent_seq"], m["version"])
        for m in document["messages"]
    ]
    assert places == [
        (1, 1, 0, None, 1),
        (2, 2, 0, 1, 1),
        (3, 3, 0, 2, 1),
        (4, 4, 0, 3, 1),
        (5, 2, 1, 1, 2),
        (6, 3, 2, 2, 2),
        (7, 4, 2, 6, 1),
        (8, 1, 3, None, 2),
        (9, 2, 3, 8, 1),
    ]
    first = document["messages"][0]
    assert first["content"] == "What is a monad, in one line?"
    assert [(r["number"], r["content"]) for r in first["revisions"]] == [
        (1, "What is a monad?"),
        (2, "What is a monad, briefly?"),
    ]
    # A deleted message keeps its place, nothing of what it said.
    deleted = document["messages"][7]
    assert (deleted["is_deleted"], deleted["content"], deleted["revisions"]) == (True, "", [])


def test_v2_round_trip_rebuilds_the_same_tree(alice, versions, client_for):
    client = client_for(alice)
    exported = export(client, versions)
    response = upload(client, exported, name="monads.json")
    assert response.status_code == 201, response.content
    imported = Conversation.objects.get(pk=response.json()["imported"][0])

    assert tree_snapshot(imported) == tree_snapshot(versions)
    # The importer is shown the line the exporter was, and sees the same path.
    assert shown_path(alice, imported) == shown_path(alice, versions)
    assert shown_path(alice, imported)[-1] == "A lunchbox that knows what comes next."
    # Exported again, the copy is the same file but for what must be new.
    again = json.loads(export(client, imported))
    assert comparable(again) == comparable(json.loads(exported))
    # Revisions are copied as they were, with their times (not made by editing).
    assert MessageRevision.objects.filter(message__conversation=imported).count() == 2

    # Idempotent as before: the same file again creates nothing.
    counts = (Message.objects.count(), Line.objects.count(), MessageRevision.objects.count())
    repeat = upload(client, exported, name="monads.json")
    assert repeat.status_code == 200 and repeat.json()["skipped"] == [str(imported.pk)]
    assert (Message.objects.count(), Line.objects.count(), MessageRevision.objects.count()) == (
        counts
    )


def test_v2_import_elsewhere_keeps_the_tree_for_another_person(
    alice, charlie, versions, client_for
):
    exported = export(client_for(alice), versions)
    response = upload(client_for(charlie), exported)
    assert response.status_code == 201, response.content
    imported = Conversation.objects.get(pk=response.json()["imported"][0])
    source, copy_ = tree_snapshot(versions), tree_snapshot(imported)
    assert copy_ == source
    assert shown_path(charlie, imported) == shown_path(alice, versions)


def test_markdown_tells_the_exporters_path_only(alice, versions, client_for):
    text = export(client_for(alice), versions, "markdown").decode()
    assert "- Messages: 4 on the path shown (9 in all)" in text
    assert "A lunchbox that knows what comes next." in text
    assert "A box with rules for chaining." not in text  # line 0's answer
    assert "Take Maybe" not in text and "Explain monads with an example." not in text
    assert "### #1 · Alice (user) · " in text and " · version 1 of 2\n" in text
    assert "### #3 · Alice (user)" in text and "version 2 of 2" in text
    assert text.count("### #") == 4


def test_a_big_linear_import_chains_its_parents_across_batches(alice, monkeypatch):
    monkeypatch.setattr(transfer_service, "BATCH_SIZE", 3)
    messages = [
        {"seq": seq, "role": "user", "content": f"m{seq}", "created_at": "2025-01-01T10:00:00Z"}
        for seq in range(1, 9)
    ]
    document = {
        "format": "chatapp",
        "version": 1,
        "conversation": {
            "id": "7b0c1f1e-0000-4000-8000-000000000001",
            "kind": "assistant",
            "created_at": "2025-01-01T10:00:00Z",
        },
        "messages": messages,
    }
    result = transfer_service.conversation_import(
        user=alice, file=_bytes_file(json.dumps(document).encode())
    )
    conversation = Conversation.objects.get(pk=result.imported[0])
    snapshot = tree_snapshot(conversation)
    assert [row[:6] for row in snapshot["messages"]] == [
        (seq, seq, 0, seq - 1 if seq > 1 else None, 1, 0) for seq in range(1, 9)
    ]
    assert snapshot["counts"][1:3] == (0, 0) and snapshot["lines"] == []


def _bytes_file(data: bytes):
    import io

    return io.BytesIO(data)


def test_a_v1_export_still_imports_as_one_line(alice, versions, client_for, post):
    """A file written before version 2 (no lines, no places): each message follows the one
    before, on line 0."""
    document = json.loads(export(client_for(alice), versions))
    document["version"] = 1
    for key in ("shown_line", "lines"):
        document.pop(key)
    linear = [m for m in document["messages"] if m["line"] == 0]
    for message in linear:
        for key in ("position", "line", "parent_seq", "version", "revisions"):
            message.pop(key)
    document["messages"] = linear
    response = upload(client_for(alice), json.dumps(document).encode())
    assert response.status_code == 201, response.content
    imported = Conversation.objects.get(pk=response.json()["imported"][0])
    assert [row[1:5] for row in tree_snapshot(imported)["messages"]] == [
        (1, 0, None, 1),
        (2, 0, 1, 1),
        (3, 0, 2, 1),
        (4, 0, 3, 1),
    ]
    assert shown_path(alice, imported) == [
        "What is a monad, in one line?",
        "A monoid in the category of endofunctors.",
        "Say it simpler.",
        "A box with rules for chaining.",
    ]


# --- version 2 files whose tree is broken ---------------------------------------------------


ONE_LINE = [{"number": 1, "parent_line": 0, "fork_position": 2, "ancestry": [[0, 1], [1, 2]]}]


def tree_document(**changes) -> dict:
    """A valid version 2 file: q (line 0), its answer a, and a regenerated answer a' on
    line 1; then the changes (`lines`, `shown_line`, or `m<index>_<field>`)."""
    at = "2025-01-01T10:00:00Z"
    document = {
        "format": "chatapp",
        "version": 2,
        "conversation": {
            "id": "7b0c1f1e-0000-4000-8000-000000000002",
            "kind": "assistant",
            "created_at": at,
        },
        "shown_line": 1,
        "lines": ONE_LINE,
        "messages": [
            {"seq": 1, "position": 1, "line": 0, "parent_seq": None, "version": 1, "role": "user",
             "content": "q", "created_at": at,
             "revisions": [{"number": 1, "content": "q?", "created_at": at}]},
            {"seq": 2, "position": 2, "line": 0, "parent_seq": 1, "version": 1,
             "role": "assistant", "content": "a", "created_at": at},
            {"seq": 3, "position": 2, "line": 1, "parent_seq": 1, "version": 2,
             "role": "assistant", "content": "a'", "created_at": at},
        ],
    }  # fmt: skip
    for key, value in changes.items():
        if key.startswith("m") and "_" in key and key[1].isdigit():
            index, field = key[1:].split("_", 1)
            document["messages"][int(index)][field] = value
        else:
            document[key] = value
    return document


def assert_nothing_imported():
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0
    assert Line.objects.count() == 0
    assert MessageRevision.objects.count() == 0


def test_the_valid_tree_document_imports(alice, client_for):
    response = upload(client_for(alice), json.dumps(tree_document()).encode())
    assert response.status_code == 201, response.content
    imported = Conversation.objects.get(pk=response.json()["imported"][0])
    assert shown_path(alice, imported) == ["q", "a'"]
    assert tree_snapshot(imported)["counts"][1:3] == (1, 0)
    assert Message.objects.get(conversation=imported, seq=1).next_turn_forks == 1


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        pytest.param({"lines": [{**ONE_LINE[0], "number": 2}]}, "lines[0].number", id="line-gap"),
        pytest.param(
            {"lines": [*ONE_LINE, ONE_LINE[0] | {"number": 1}]}, "lines[1].number", id="dup-line"
        ),
        pytest.param(
            {"lines": [{**ONE_LINE[0], "parent_line": 1}]}, "lines[0].parent_line", id="own-parent"
        ),
        pytest.param(
            {"lines": [{**ONE_LINE[0], "ancestry": [[0, 1], [1, 3]]}]},
            "lines[0].ancestry",
            id="wrong-ancestry",
        ),
        pytest.param({"lines": "many"}, "lines", id="lines-not-a-list"),
        pytest.param({"lines": [{"number": 1}]}, "lines[0].parent_line", id="line-incomplete"),
        pytest.param({"shown_line": 4}, "shown_line", id="shown-unknown-line"),
        pytest.param({"shown_line": "1"}, "shown_line", id="shown-not-a-number"),
        pytest.param({"m2_line": 5}, "messages[2].line", id="unknown-line"),
        pytest.param({"m2_position": 1, "m2_parent_seq": None}, "messages[2].position",
                     id="before-its-line"),
        pytest.param({"m1_parent_seq": 2}, "messages[1].parent_seq", id="own-parent-seq"),
        pytest.param({"m0_parent_seq": 3}, "messages[0].parent_seq", id="first-turn-with-parent"),
        pytest.param({"m2_parent_seq": 2}, "messages[2].parent_seq", id="parent-not-on-path"),
        pytest.param({"m2_line": 0, "m2_version": 2}, "messages[2].position", id="same-place"),
        pytest.param({"m2_line": 0, "m2_position": 3, "m2_parent_seq": 2, "m2_version": 1},
                     "lines[0]", id="line-without-its-first-message"),
        pytest.param({"m2_position": 4}, "messages[2].position", id="gap-on-the-path"),
        pytest.param({"m2_version": 1}, "messages[2].version", id="version-taken"),
        pytest.param({"m2_version": 3}, "messages[2].version", id="version-skipped"),
        pytest.param({"m2_position": 0}, "messages[2].position", id="position-zero"),
        pytest.param({"m0_revisions": [{"number": 2, "content": "x",
                                        "created_at": "2025-01-01T09:00:00Z"},
                                       {"number": 1, "content": "y",
                                        "created_at": "2025-01-01T09:00:00Z"}]},
                     "messages[0].revisions[1].number", id="revisions-out-of-order"),
        pytest.param({"m0_revisions": [{"number": 1, "created_at": "then"}]},
                     "messages[0].revisions.0.created_at", id="revision-time"),
        pytest.param({"m2_seq": 2}, "messages[2].seq", id="duplicate-seq"),
    ],
)  # fmt: skip
def test_a_v2_file_whose_tree_is_broken_is_422_and_imports_nothing(
    alice, client_for, changes, where
):
    data = json.dumps(tree_document(**changes)).encode()
    error = assert_error(upload(client_for(alice), data), 422, "invalid")
    assert error["details"]["field"] == "file"
    assert error["details"]["location"].endswith(where), error
    assert_nothing_imported()


def test_a_line_forking_where_its_parent_line_has_no_message_is_422(alice, client_for):
    # Line 2 says it versions line 1's turn 1, but line 1 starts at turn 2.
    document = tree_document(
        lines=[*ONE_LINE, {"number": 2, "parent_line": 1, "fork_position": 1, "ancestry": [[2, 1]]}]
    )
    document["messages"].append(
        {"seq": 4, "position": 1, "line": 2, "parent_seq": None, "version": 2, "role": "user",
         "content": "q'", "created_at": "2025-01-01T10:00:00Z"}
    )  # fmt: skip
    error = assert_error(upload(client_for(alice), json.dumps(document).encode()), 422, "invalid")
    assert error["details"]["location"].endswith("lines[1]"), error
    assert_nothing_imported()


# --- ChatGPT: the whole tree -----------------------------------------------------------------


def test_chatgpt_every_branch_becomes_versions_and_current_node_is_shown(alice, client_for):
    data = make_zip(
        {
            "conversations.json": fixture_bytes("versions.json"),
            "file-colour1-red.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        }
    )
    response = upload(client_for(alice), data, name="export.zip")
    assert response.status_code == 201, response.content
    conversation = Conversation.objects.get(pk=response.json()["imported"][0])
    snapshot = tree_snapshot(conversation)
    # The hidden system node is skipped: both first prompts are versions of turn 1. The
    # hidden tool node is skipped: both answers hang under the edited prompt.
    assert [row[:7] for row in snapshot["messages"]] == [
        (1, 1, 0, None, 1, 0, "user"),
        (2, 2, 0, 1, 1, 0, "assistant"),
        (3, 1, 1, None, 2, 1, "user"),
        (4, 2, 1, 3, 1, 0, "assistant"),
        (5, 2, 2, 3, 2, 0, "assistant"),
        (6, 3, 2, 5, 1, 0, "user"),
    ]
    assert snapshot["lines"] == [(1, 0, 1, [[1, 1]]), (2, 1, 2, [[1, 1], [2, 2]])]
    assert snapshot["counts"][:3] == (6, 2, 1)
    # current_node is a2 (not the newest leaf): its line is shown.
    assert snapshot["shown_line"] == 1
    assert shown_path(alice, conversation) == ["Name the colour in this picture.", "Red."]
    # The image of the edited prompt, on a branch of its own, is stored as before.
    artifact = Artifact.objects.get(part__message__conversation=conversation)
    assert (artifact.kind, artifact.mime, artifact.part.message.seq) == ("image", "image/png", 3)
    assert artifact.file.name

    # Exported, it imports again as the same tree.
    exported = export(client_for(alice), conversation)
    again = upload(client_for(alice), exported)
    assert again.status_code == 201, again.content
    copy_ = Conversation.objects.get(pk=again.json()["imported"][0])
    assert tree_snapshot(copy_) == snapshot


def chatgpt_document(mapping: dict, **fields) -> bytes:
    return json.dumps([{"title": "t", "id": "c1", "mapping": mapping, **fields}]).encode()


def user_node(parent, text="hi", **node):
    return {
        "parent": parent,
        "message": {"author": {"role": "user"}, "content": {"parts": [text]}},
        **node,
    }


def test_chatgpt_duplicate_node_keys_are_422(alice, client_for):
    node = json.dumps(user_node(None)).encode()
    data = b'[{"title": "t", "current_node": "a", "mapping": {"a": %s, "a": %s}}]' % (node, node)
    error = assert_error(upload(client_for(alice), data), 422, "invalid")
    assert "given twice" in error["message"]
    assert_nothing_imported()


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param(
            {"a": user_node(None), "b": user_node("c"), "c": user_node("b")}, id="cycle-elsewhere"
        ),
        pytest.param({"a": user_node(None), "b": user_node("gone")}, id="orphan-elsewhere"),
        pytest.param({"a": user_node(None, id="a"), "b": user_node("a", id="a")}, id="same-id"),
        pytest.param(
            {"a": user_node(None), "b": {**user_node("a"), "parent": 5}}, id="parent-a-number"
        ),
    ],
)
def test_chatgpt_trees_broken_off_the_active_thread_are_422(alice, client_for, mapping):
    data = chatgpt_document(mapping, current_node="a")
    assert_error(upload(client_for(alice), data), 422, "invalid")
    assert_nothing_imported()


def test_chatgpt_tree_too_deep_is_422(alice, client_for, monkeypatch):
    monkeypatch.setattr(chatgpt, "MAX_TREE_DEPTH", 5)
    mapping = {"n0": user_node(None)}
    for index in range(1, 6):
        mapping[f"n{index}"] = user_node(f"n{index - 1}")
    error = assert_error(upload(client_for(alice), chatgpt_document(mapping)), 422, "invalid")
    assert "5 turns deep" in error["message"]
    assert_nothing_imported()
    del mapping["n5"]
    assert upload(client_for(alice), chatgpt_document(mapping)).status_code == 201


def test_chatgpt_comb_of_branches_past_the_budget_is_422(alice, client_for, monkeypatch):
    """A fork at every turn makes ancestries quadratic in the tree's size: refused past
    MAX_ANCESTRY_PAIRS."""
    monkeypatch.setattr(chatgpt, "MAX_ANCESTRY_PAIRS", 20)
    mapping = {"s0": user_node(None)}
    for index in range(1, 10):
        # The leaf is the first version; the spine goes on through the second, so each
        # line forks from the one before and its ancestry is one pair longer.
        mapping[f"leaf{index}"] = user_node(f"s{index - 1}")
        mapping[f"s{index}"] = user_node(f"s{index - 1}")
    error = assert_error(upload(client_for(alice), chatgpt_document(mapping)), 422, "invalid")
    assert "too many branches" in error["message"]
    assert_nothing_imported()


def test_chatgpt_without_current_node_shows_the_newest_leaf(alice, client_for):
    conversation = fixture_json("versions.json")[0]
    del conversation["current_node"]
    response = upload(client_for(alice), json.dumps([conversation]).encode())
    imported = Conversation.objects.get(pk=response.json()["imported"][0])
    assert shown_path(alice, imported) == [
        "Name the colour in this picture.",
        "Crimson, I think.",
        "Why crimson?",
    ]
    assert MessagePart.objects.filter(message__conversation=imported, type="image").count() == 1
