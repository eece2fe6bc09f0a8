"""What the database itself enforces: constraints, cascades and SET NULL."""

import pytest
from django.db import DataError, IntegrityError, transaction

from conversations import services
from conversations.models import (
    Artifact,
    Conversation,
    Message,
    MessagePart,
    Participant,
    Report,
)

pytestmark = pytest.mark.django_db


def rejected(statement) -> bool:
    try:
        with transaction.atomic():
            statement()
    except (IntegrityError, DataError):  # DataError: PostgreSQL's varchar length
        return True
    return False


def test_seq_is_unique_per_conversation(group, post):
    message = post(group, "one")
    assert rejected(
        lambda: Message.objects.create(conversation=group, seq=message.seq, role="user")
    )
    assert rejected(lambda: Message.objects.create(conversation=group, seq=0, role="user"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "wizard"), ("status", "paused"), ("error_type", "oops")],
)
def test_message_choices_are_checked_by_the_database(group, field, value):
    assert rejected(
        lambda: Message.objects.create(conversation=group, seq=1, **{"role": "user", field: value})
    )


def test_conversation_constraints(alice, group):
    workspace = alice.default_workspace
    assert rejected(lambda: Conversation.objects.create(workspace=workspace, kind="chat"))
    assert rejected(
        lambda: Conversation.objects.create(workspace=workspace, kind="assistant", status="paused")
    )
    # A group needs a title; a title is at most 200 characters, even on SQLite.
    assert rejected(lambda: Conversation.objects.create(workspace=workspace, kind="group"))
    assert rejected(
        lambda: Conversation.objects.create(workspace=workspace, kind="assistant", title="t" * 201)
    )


def test_one_live_direct_conversation_per_pair(alice, bob, team):
    direct, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    assert rejected(
        lambda: Conversation.objects.create(
            workspace=team, kind="direct", direct_key=direct.direct_key
        )
    )


def test_participant_is_unique_and_role_checked(alice, bob, group):
    assert rejected(lambda: Participant.objects.create(conversation=group, user=bob))
    assert rejected(
        lambda: Participant.objects.filter(conversation=group, user=bob).update(role="king")
    )


def test_client_message_id_unique_per_sender(alice, group, post):
    post(group, "hi", client_message_id="same")
    assert rejected(
        lambda: Message.objects.create(
            conversation=group, seq=2, role="user", sender=alice, client_message_id="same"
        )
    )


def test_email_is_unique_ignoring_case(alice, bob):
    from chatapp.accounts.models import User

    assert rejected(lambda: User.objects.filter(username="alice").update(email="BOB@example.com"))
    # Many users may have no email.
    assert not rejected(lambda: User.objects.update(email=""))


def test_one_open_report_per_reporter_and_message(bob, group, post):
    message = post(group, "spammy")
    Report.objects.create(message=message, reporter=bob, reason="spam")
    assert rejected(lambda: Report.objects.create(message=message, reporter=bob, reason="abuse"))
    assert rejected(lambda: Report.objects.create(message=message, reporter=bob, reason="rude"))


def test_deleting_a_conversation_removes_messages_parts_and_artifacts(alice, group, post):
    post(group, "text")
    turn = services.assistant_message_start(conversation=group, agent=None)
    part = services.message_part_add(message=turn, type="file", content={})
    services.artifact_create(part=part, kind="file", data=b"data", path="a.txt")
    other, _ = services.conversation_create(creator=alice, kind="assistant")
    post(other, "survives")

    group.delete()

    assert Message.objects.filter(conversation_id=group.pk).count() == 0
    assert MessagePart.objects.count() == 0
    assert Artifact.objects.count() == 0
    assert Participant.objects.filter(conversation_id=group.pk).count() == 0
    assert Message.objects.filter(conversation=other).count() == 1


def test_deleting_a_user_keeps_their_messages_with_an_empty_sender(alice, bob, group, post):
    message = post(group, "from bob", sender=bob)
    reply = post(group, "to bob", reply_to=message)
    bob.delete()
    message.refresh_from_db()
    reply.refresh_from_db()
    assert message.sender is None and message.content == "from bob"
    assert reply.reply_to == message
    assert Participant.objects.filter(conversation=group).count() == 1
