"""Migrations 0016-0018 (versions of a turn): every message gets its place on line 0 and its
parent; an answer regenerated before versions existed kept its earlier texts in
meta["previous_versions"], and each becomes a real version of that turn, on a line of its
own, numbered before the answer that replaced it, the later seqs, the count and the read
markers moved up to make room.

On PostgreSQL the data step once failed here ("pending trigger events": its writes left
deferred checks that refused the ALTER TABLE after them in the same transaction), which
led to the split into 0016-0018."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations import selectors
from conversations.models import Conversation, Line, Message, Participant

BEFORE = [("conversations", "0015_message_revisions")]
AFTER = [("conversations", "0018_versions_constraints")]

WRITTEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def executor_leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def old(content, model="old-model", status="complete", error_type="", completed_at=WRITTEN):
    """One entry of meta["previous_versions"], as assistant_message_restart stored it."""
    return {
        "content": content,
        "model": model,
        "status": status,
        "error_type": error_type,
        "completed_at": completed_at.isoformat() if completed_at else None,
    }


@pytest.fixture
def before_0016(transactional_db):
    """Conversations as they were at 0015, through the models of that state:

    `chat`: q1 a2 q3 a4 q5 a6, a2 regenerated twice (two previous versions, the second an
    error), a4 once (with a stray entry that is not a version, and another meta key), a6
    with an empty list; alice has read all of it, bob up to q3.
    `greeting`: an assistant's first turn regenerated once, then alice's question.
    Migrated to the latest after the test."""
    apps = migrate(BEFORE)
    User = apps.get_model("accounts", "User")
    Workspace = apps.get_model("conversations", "Workspace")
    OldConversation = apps.get_model("conversations", "Conversation")
    OldMessage = apps.get_model("conversations", "Message")
    OldParticipant = apps.get_model("conversations", "Participant")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    workspace = Workspace.objects.create(name="Team", slug="team", created_by=alice)

    def conversation_with(rows, read):
        conversation = OldConversation.objects.create(
            workspace=workspace, kind="assistant", created_by=alice, message_count=len(rows)
        )
        ids = {}
        for seq, (name, role, content, meta) in enumerate(rows, start=1):
            ids[name] = OldMessage.objects.create(
                conversation=conversation,
                seq=seq,
                role=role,
                sender=alice if role == "user" else None,
                content=content,
                model="" if role == "user" else "new-model",
                meta=meta,
            ).pk
        for user, last_read_seq in read.items():
            OldParticipant.objects.create(
                conversation=conversation,
                user={"alice": alice, "bob": bob}[user],
                last_read_seq=last_read_seq,
            )
        return conversation.pk, ids

    chat = conversation_with(
        [
            ("q1", "user", "q1", {}),
            (
                "a2",
                "assistant",
                "a2 third",
                {
                    "previous_versions": [
                        old("a2 first", model="m1"),
                        old("a2 second", model="m2", status="error", error_type="timeout"),
                    ]
                },
            ),
            ("q3", "user", "q3", {}),
            (
                "a4",
                "assistant",
                "a4 second",
                {
                    "kept": "yes",
                    "previous_versions": [
                        old("a4 first", status="streaming", completed_at=None),
                        "not a version",
                    ],
                },
            ),
            ("q5", "user", "q5", {}),
            ("a6", "assistant", "a6", {"previous_versions": []}),
        ],
        {"alice": 6, "bob": 3},
    )
    greeting = conversation_with(
        [
            ("hello", "assistant", "hello again", {"previous_versions": [old("hello")]}),
            ("q", "user", "a question", {}),
        ],
        {"alice": 2},
    )
    yield {"chat": chat, "greeting": greeting, "alice": alice.pk, "bob": bob.pk}
    migrate(executor_leaves())


def test_previous_versions_become_versions(before_0016):
    apps = migrate(AFTER)
    Message_ = apps.get_model("conversations", "Message")
    Conversation_ = apps.get_model("conversations", "Conversation")
    Participant_ = apps.get_model("conversations", "Participant")
    Line_ = apps.get_model("conversations", "Line")
    chat_pk, ids = before_0016["chat"]

    rows = list(
        Message_.objects.filter(conversation_id=chat_pk)
        .order_by("seq")
        .values_list("seq", "position", "line", "version", "content")
    )
    # The earlier versions take the seqs before the answer that replaced them; everything
    # from there on moves up (by 2 after a2, by 3 after a4).
    assert rows == [
        (1, 1, 0, 1, "q1"),
        (2, 2, 2, 1, "a2 first"),
        (3, 2, 3, 2, "a2 second"),
        (4, 2, 0, 3, "a2 third"),
        (5, 3, 0, 1, "q3"),
        (6, 4, 1, 1, "a4 first"),
        (7, 4, 0, 2, "a4 second"),
        (8, 5, 0, 1, "q5"),
        (9, 6, 0, 1, "a6"),
    ]
    by_content = {m.content: m for m in Message_.objects.filter(conversation_id=chat_pk)}
    # The parent of each: the message before it on line 0; the versions share it.
    assert by_content["q1"].parent_id is None
    for child, parent in [
        ("a2 first", "q1"),
        ("a2 second", "q1"),
        ("a2 third", "q1"),
        ("q3", "a2 third"),
        ("a4 first", "q3"),
        ("a4 second", "q3"),
        ("q5", "a4 second"),
        ("a6", "q5"),
    ]:
        assert by_content[child].parent_id == by_content[parent].pk, child
    assert {m.content: m.next_turn_forks for m in by_content.values()} == {
        "q1": 2,
        "a2 first": 0,
        "a2 second": 0,
        "a2 third": 0,
        "q3": 1,
        "a4 first": 0,
        "a4 second": 0,
        "q5": 0,
        "a6": 0,
    }
    # The answers that replaced them are the messages they were (same id).
    assert by_content["a2 third"].pk == ids["a2"] and by_content["a4 second"].pk == ids["a4"]

    # What each earlier version was: its text, model, status, error, time.
    first, second = by_content["a2 first"], by_content["a2 second"]
    assert (first.role, first.status, first.model, first.error_type) == (
        "assistant",
        "complete",
        "m1",
        "",
    )
    assert (second.status, second.model, second.error_type) == ("error", "m2", "timeout")
    assert first.created_at == first.completed_at == WRITTEN
    a4_first = by_content["a4 first"]
    assert a4_first.status == "complete"  # "streaming" was no way to end
    assert a4_first.created_at == by_content["a4 second"].created_at  # no time: the answer's

    # Lines: one per earlier version, forking at its turn from line 0.
    lines = {
        line.number: (line.parent_line, line.fork_position, line.ancestry)
        for line in Line_.objects.filter(conversation_id=chat_pk)
    }
    assert lines == {
        1: (0, 4, [[0, 1], [1, 4]]),
        2: (0, 2, [[0, 1], [2, 2]]),
        3: (0, 2, [[0, 1], [3, 2]]),
    }
    chat = Conversation_.objects.get(pk=chat_pk)
    assert (chat.message_count, chat.line_count, chat.first_turn_forks) == (9, 3, 0)
    read = dict(
        Participant_.objects.filter(conversation_id=chat_pk).values_list("user_id", "last_read_seq")
    )
    # alice had read everything: still everything; bob up to q3: still up to q3.
    assert read == {before_0016["alice"]: 9, before_0016["bob"]: 5}
    assert set(
        Participant_.objects.filter(conversation_id=chat_pk).values_list("line", flat=True)
    ) == {0}
    # meta loses previous_versions, and keeps the rest.
    assert by_content["a4 second"].meta == {"kept": "yes"}
    assert by_content["a2 third"].meta == {} and by_content["a6"].meta == {}
    assert not Message_.objects.filter(meta__has_key="previous_versions").exists()


def test_a_regenerated_first_turn_counts_on_the_conversation(before_0016):
    apps = migrate(AFTER)
    Message_ = apps.get_model("conversations", "Message")
    Conversation_ = apps.get_model("conversations", "Conversation")
    Participant_ = apps.get_model("conversations", "Participant")
    Line_ = apps.get_model("conversations", "Line")
    pk, ids = before_0016["greeting"]
    rows = list(
        Message_.objects.filter(conversation_id=pk)
        .order_by("seq")
        .values_list("seq", "position", "line", "version", "parent_id", "content")
    )
    assert rows == [
        (1, 1, 1, 1, None, "hello"),
        (2, 1, 0, 2, None, "hello again"),
        (3, 2, 0, 1, ids["hello"], "a question"),
    ]
    conversation = Conversation_.objects.get(pk=pk)
    assert (conversation.message_count, conversation.line_count) == (3, 1)
    assert conversation.first_turn_forks == 1
    assert Participant_.objects.get(conversation_id=pk).last_read_seq == 3
    (line,) = Line_.objects.filter(conversation_id=pk)
    assert (line.number, line.fork_position) == (1, 1)


def test_the_migrated_thread_reads_as_versions(before_0016):
    """Once migrated to the latest, the selectors read the old threads as versions."""
    migrate(executor_leaves())
    chat_pk, ids = before_0016["chat"]
    from chatapp.accounts.models import User

    alice = User.objects.get(pk=before_0016["alice"])
    page = selectors.message_page(user=alice, conversation_id=chat_pk)
    assert [(m.position, m.content, m.version, m.versions) for m in page.items] == [
        (1, "q1", 1, 1),
        (2, "a2 third", 3, 3),
        (3, "q3", 1, 1),
        (4, "a4 second", 2, 2),
        (5, "q5", 1, 1),
        (6, "a6", 1, 1),
    ]
    versions = selectors.message_versions(user=alice, message_id=ids["a2"])
    assert [(v.content, v.version, v.shown) for v in versions] == [
        ("a2 first", 1, False),
        ("a2 second", 2, False),
        ("a2 third", 3, True),
    ]
    greeting_pk, greeting_ids = before_0016["greeting"]
    first = selectors.message_versions(user=alice, message_id=greeting_ids["hello"])
    assert [(v.content, v.versions, v.shown) for v in first] == [
        ("hello", 2, False),
        ("hello again", 2, True),
    ]
    rows = selectors.message_page_rows(user=alice, conversation_id=greeting_pk).items
    assert [(r.content, r.versions) for r in rows] == [("hello again", 2), ("a question", 1)]
    # Every line's path has positions 1..tail, and unread counts are what they were.
    assert Message.objects.filter(conversation_id=chat_pk).count() == 9
    assert Line.objects.filter(conversation_id=chat_pk).count() == 3
    item = next(
        i
        for i in selectors.conversation_list_for_user(user=alice).items
        if i.id == Conversation.objects.get(pk=chat_pk).pk
    )
    assert item.unread_count == 0
    assert Participant.objects.get(conversation_id=chat_pk, user=alice).line == 0
