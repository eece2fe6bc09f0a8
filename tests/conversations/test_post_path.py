"""The post path on PostgreSQL is one statement (docs/benchmarks.md): what it must still
do that the ORM path did, one step a query, and the round trips it saves."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import services
from conversations.exceptions import Conflict, IdempotencyConflict, NotFound
from conversations.models import Conversation, Event, Participant

pytestmark = pytest.mark.django_db


@pytest.mark.postgres_only
def test_a_post_is_one_round_trip(alice, group, django_assert_num_queries):
    with django_assert_num_queries(1):
        message, created = services.message_post(
            conversation=Conversation(pk=group.pk), sender=alice, content="one trip"
        )
    assert created and message.seq == 1
    group.refresh_from_db()
    assert group.message_count == 1 and group.title == "Plans"
    assert group.last_activity_at == message.created_at
    event = Event.objects.get(conversation=group, type="message.created")
    assert event.data["seq"] == 1 and event.data["message_id"] == str(message.pk)
    assert event.created_at == message.created_at
    reader = Participant.objects.get(conversation=group, user=alice)
    assert reader.last_read_seq == 1


def test_the_first_message_names_an_untitled_conversation(alice, team):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant", workspace=team)
    services.message_post(conversation=conversation, sender=alice, content="Lunch at noon?")
    services.message_post(conversation=conversation, sender=alice, content="And after?")
    conversation.refresh_from_db()
    assert conversation.title == "Lunch at noon?" and conversation.message_count == 2


def test_the_first_message_leaves_a_direct_conversation_untitled(alice, bob, team):
    # Each of the two sees the other's name instead (tests/conversations/test_direct_titles.py).
    conversation, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    services.message_post(conversation=conversation, sender=alice, content="Lunch at noon?")
    services.message_post(conversation=conversation, sender=bob, content="Sure")
    conversation.refresh_from_db()
    assert conversation.title == "" and conversation.message_count == 2


@pytest.mark.postgres_only
def test_a_message_is_never_dated_before_the_rows_last_change(alice, bob, group):
    # As when a join committed while this post waited for the conversation's lock.
    later = timezone.now() + timedelta(minutes=5)
    Conversation.objects.filter(pk=group.pk).update(updated_at=later)
    message, _ = services.message_post(conversation=group, sender=bob, content="after it")
    assert message.created_at == later
    assert Event.objects.get(type="message.created").created_at == later


def test_joining_marks_the_conversation_row(alice, charlie, group):
    participant = services.participant_add(conversation=group, actor=alice, user=charlie)
    group.refresh_from_db()
    assert group.updated_at >= participant.joined_at


def test_what_the_post_refuses_it_writes_nothing_for(alice, bob, charlie, group, post):
    post(group, "first", sender=alice, client_message_id="c-1")
    with pytest.raises(NotFound):
        services.message_post(conversation=group, sender=charlie, content="outsider")
    with pytest.raises(IdempotencyConflict):
        services.message_post(
            conversation=group, sender=alice, content="other", client_message_id="c-1"
        )
    again, created = services.message_post(
        conversation=group, sender=alice, content="first", client_message_id="c-1"
    )
    assert not created
    # Completed: a retry still gets its message; a new message is refused.
    Conversation.objects.filter(pk=group.pk).update(status="completed")
    retry, created = services.message_post(
        conversation=group, sender=alice, content="first", client_message_id="c-1"
    )
    assert retry.pk == again.pk and not created
    with pytest.raises(Conflict):
        services.message_post(conversation=group, sender=alice, content="new")
    Conversation.objects.filter(pk=group.pk).update(status="active", deleted_at=timezone.now())
    with pytest.raises(NotFound):
        services.message_post(conversation=group, sender=alice, content="in the trash")
    group.refresh_from_db()
    assert group.message_count == 1
    assert Event.objects.filter(type="message.created").count() == 1


@pytest.mark.postgres_only
def test_posting_over_the_api_reads_little(alice, group, bearer_client, tokens_for):
    client = bearer_client(tokens_for(alice).access.raw)
    url = f"/api/v1/conversations/{group.pk}/messages"
    client.get("/api/v1/me")  # the token's last_used_at is written at most once a minute
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, data='{"content": "hi"}', content_type="application/json")
    assert response.status_code == 201 and response.json()["parts"] == []
    # The token, then the one statement: no read of the conversation, none of the parts.
    assert len(queries) == 2, [query["sql"][:80] for query in queries]
