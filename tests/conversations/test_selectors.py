"""The read selectors: who sees what, the sidebar's cost, and paging around a seq anchor."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import selectors, services
from conversations.exceptions import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


# --- who may see ------------------------------------------------------------------------------


def test_participant_sees_conversation_outsider_does_not(alice, bob, charlie, group):
    assert selectors.conversation_get_for_user(user=bob, conversation_id=group.pk) == group
    assert selectors.user_can_see_conversation(user=bob, conversation_id=group.pk)
    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=charlie, conversation_id=group.pk)
    assert not selectors.user_can_see_conversation(user=charlie, conversation_id=group.pk)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", None, 42, str(uuid.uuid4())])
def test_unknown_or_malformed_ids_are_not_found(alice, bad_id):
    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=alice, conversation_id=bad_id)
    assert not selectors.user_can_see_conversation(user=alice, conversation_id=bad_id)


def test_anonymous_user_sees_nothing(group):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=AnonymousUser(), conversation_id=group.pk)


def test_participant_who_left_sees_it_no_more(alice, bob, group):
    services.participant_remove(conversation=group, actor=bob, user=bob)
    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=bob, conversation_id=group.pk)


def test_soft_deleted_conversation_appears_only_in_the_trash(alice, bob, group, post):
    post(group, "soon gone")
    services.conversation_delete(conversation=group, actor=alice)
    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=alice, conversation_id=group.pk)
    with pytest.raises(NotFound):
        selectors.message_page(user=alice, conversation_id=group.pk)
    assert not selectors.user_can_see_conversation(user=alice, conversation_id=group.pk)
    assert selectors.conversation_list_for_user(user=alice).items == []
    assert selectors.conversation_list_for_user(user=alice, archived=None).items == []
    trash = selectors.conversation_list_for_user(user=alice, deleted=True)
    assert [item.id for item in trash.items] == [group.pk]
    assert (
        selectors.conversation_get_for_user(user=alice, conversation_id=group.pk, deleted=True)
        == group
    )
    message = group.messages.get()
    with pytest.raises(NotFound):
        selectors.message_get_for_user(user=alice, message_id=message.pk)


def test_message_get_for_user_hides_other_conversations(alice, charlie, group, post):
    message = post(group, "private")
    assert selectors.message_get_for_user(user=alice, message_id=message.pk) == message
    with pytest.raises(NotFound):
        selectors.message_get_for_user(user=charlie, message_id=message.pk)
    with pytest.raises(NotFound):
        selectors.message_get_for_user(user=alice, message_id="nope")


# --- the sidebar ------------------------------------------------------------------------------


def make_conversations(owner, others, count):
    conversations = []
    for number in range(count):
        conversation, _ = services.conversation_create(
            creator=owner,
            kind="group",
            title=f"Topic {number}",
            workspace=others[0].memberships.get(workspace__slug="team").workspace,
            participants=others,
        )
        services.message_post(conversation=conversation, sender=owner, content=f"first {number}")
        services.message_post(
            conversation=conversation, sender=others[0], content=f"reply {number}"
        )
        conversations.append(conversation)
    return conversations


def count_sidebar_queries(user, limit):
    with CaptureQueriesContext(connection) as queries:
        page = selectors.conversation_list_for_user(user=user, limit=limit)
        for item in page.items:
            # Touch everything the sidebar shows.
            _ = (
                item.title,
                item.agent,
                item.unread_count,
                item.pinned_at,
                item.last_message and item.last_message.excerpt,
                item.last_message and item.last_message.sender and item.last_message.sender.name,
            )
    return len(queries), page


def test_sidebar_costs_the_same_queries_for_5_and_50_conversations(alice, bob, charlie, team):
    make_conversations(alice, [bob, charlie], 5)
    five_queries, five = count_sidebar_queries(alice, 50)
    make_conversations(alice, [bob, charlie], 45)
    fifty_queries, fifty = count_sidebar_queries(alice, 50)
    assert len(five.items) == 5 and len(fifty.items) == 50
    # One: participations joined to conversations, agents, last messages and their senders.
    assert five_queries == fifty_queries == 1


def test_sidebar_order_unread_and_last_message(alice, bob, team, post):
    older, newer = make_conversations(alice, [bob], 2)
    post(older, "bump", sender=bob)
    page = selectors.conversation_list_for_user(user=alice)
    assert [item.id for item in page.items] == [older.pk, newer.pk]
    top = page.items[0]
    # alice wrote seq 1, bob seq 2 and 3: two unread.
    assert top.unread_count == 2
    assert top.last_message.excerpt == "bump"
    assert top.last_message.sender.id == bob.pk
    assert top.last_message.sender.name == bob.name
    services.conversation_mark_read(conversation=older, user=alice)
    assert selectors.conversation_list_for_user(user=alice).items[0].unread_count == 0


def test_sidebar_excerpt_is_short_and_hides_deleted(alice, bob, team, post):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    post(conversation, "y" * 5000)
    item = selectors.conversation_list_for_user(user=alice).items[0]
    assert len(item.last_message.excerpt) == 200
    services.message_delete(message=conversation.messages.get(), actor=alice)
    item = selectors.conversation_list_for_user(user=alice).items[0]
    assert not item.last_message.is_visible
    assert item.last_message.excerpt == ""


def test_sidebar_filters(alice, bob, team, group, post):
    assistant, _ = services.conversation_create(creator=alice, kind="assistant", title="Helper")
    services.participant_set_flags(conversation=group, user=alice, pinned=True)
    services.participant_set_flags(conversation=assistant, user=alice, archived=True)

    def ids(**filters):
        return [
            item.id for item in selectors.conversation_list_for_user(user=alice, **filters).items
        ]

    assert ids() == [group.pk]
    assert ids(archived=True) == [assistant.pk]
    assert set(ids(archived=None)) == {group.pk, assistant.pk}
    assert ids(pinned=True) == [group.pk]
    assert ids(archived=None, kind="assistant") == [assistant.pk]
    assert ids(archived=None, workspace_slug="team") == [group.pk]
    assert ids(archived=None, title_query="help") == [assistant.pk]
    # bob's pins are his own.
    assert [
        item.id for item in selectors.conversation_list_for_user(user=bob, pinned=True).items
    ] == []


def test_sidebar_pages_by_keyset(alice, bob, team):
    made = make_conversations(alice, [bob], 7)
    newest_first = [conversation.pk for conversation in reversed(made)]
    seen, after = [], None
    while True:
        page = selectors.conversation_list_for_user(user=alice, limit=3, after=after)
        seen += [item.id for item in page.items]
        if not page.has_more:
            break
        after = page.next_key
    assert seen == newest_first


@pytest.mark.parametrize("limit", [0, 101, -1, "5", True])
def test_sidebar_rejects_bad_limits(alice, limit):
    with pytest.raises(InvalidInput) as error:
        selectors.conversation_list_for_user(user=alice, limit=limit)
    assert error.value.field == "limit"


# --- the thread -----------------------------------------------------------------------------


@pytest.fixture
def thread(alice, group, post):
    for number in range(1, 121):
        post(group, f"message {number}")
    return group


def seqs(page):
    return [message.seq for message in page.items]


def test_newest_page(alice, thread):
    page = selectors.message_page(user=alice, conversation_id=thread.pk, limit=50)
    assert seqs(page) == list(range(71, 121))
    assert page.has_more_before and not page.has_more_after


def test_page_before_an_anchor(alice, thread):
    page = selectors.message_page(user=alice, conversation_id=thread.pk, before=71, limit=50)
    assert seqs(page) == list(range(21, 71))
    assert page.has_more_before and page.has_more_after
    first = selectors.message_page(user=alice, conversation_id=thread.pk, before=21, limit=50)
    assert seqs(first) == list(range(1, 21))
    assert not first.has_more_before and first.has_more_after


def test_page_after_an_anchor(alice, thread):
    page = selectors.message_page(user=alice, conversation_id=thread.pk, after=0, limit=50)
    assert seqs(page) == list(range(1, 51))
    assert not page.has_more_before and page.has_more_after
    last = selectors.message_page(user=alice, conversation_id=thread.pk, after=100, limit=50)
    assert seqs(last) == list(range(101, 121))
    assert last.has_more_before and not last.has_more_after
    beyond = selectors.message_page(user=alice, conversation_id=thread.pk, after=500)
    assert seqs(beyond) == [] and beyond.has_more_before and not beyond.has_more_after


def test_empty_thread(alice, group):
    page = selectors.message_page(user=alice, conversation_id=group.pk)
    assert page.items == [] and not page.has_more_before and not page.has_more_after


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"before": 5, "after": 2}, "before"),
        ({"before": -1}, "before"),
        ({"after": "3"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
    ],
)
def test_message_page_rejects_bad_anchors(alice, thread, kwargs, field):
    with pytest.raises(InvalidInput) as error:
        selectors.message_page(user=alice, conversation_id=thread.pk, **kwargs)
    assert error.value.field == field


def test_message_page_for_outsider_is_not_found(charlie, thread):
    with pytest.raises(NotFound):
        selectors.message_page(user=charlie, conversation_id=thread.pk)


def test_message_page_costs_three_queries_whatever_the_parts(alice, group, post):
    post(group, "plain")
    turn = services.assistant_message_start(conversation=group, agent=None)
    for index in range(5):
        part = services.message_part_add(message=turn, type="file", content={"n": index})
        services.artifact_create(part=part, kind="file", data=b"x" * index, path=f"f{index}.txt")
    services.message_part_add(message=turn, type="tool_call", tool_name="search")
    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_page(user=alice, conversation_id=group.pk)
        for message in page.items:
            # Everything the thread page shows (message_row.html).
            _ = (message.sender and message.sender.name, message.agent and message.agent.name)
            _ = (message.content, message.error, message.total_tokens, message.latency_ms)
            for part in message.visible_parts:
                _ = getattr(part, "artifact", None)
    # The participation with its conversation; the messages with senders; their parts
    # with artifacts.
    assert len(queries) == 3
    assert [len(message.visible_parts) for message in page.items] == [0, 6]


def test_message_page_rows_match_the_page_in_three_queries(alice, group, post):
    post(group, "plain")
    turn = services.assistant_message_start(conversation=group, agent=None)
    services.message_part_add(message=turn, type="text", content={"text": "hi"})
    services.message_part_add(message=turn, type="tool_call", tool_name="search")
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.message_page_rows(user=alice, conversation_id=group.pk)
    # The participation with its path; the messages of the page's positions; the parts of
    # the one that has any.
    assert len(queries) == 3
    page = selectors.message_page(user=alice, conversation_id=group.pk)
    assert (rows.has_more_before, rows.has_more_after) == (
        page.has_more_before,
        page.has_more_after,
    )
    for row, message in zip(rows.items, page.items, strict=True):
        assert (row.id, row.seq, row.role, row.visible_content) == (
            message.id,
            message.seq,
            message.role,
            message.visible_content,
        )
        assert [part["type"] for part in row.visible_parts] == [
            part.type for part in message.visible_parts
        ]
        assert (row.sender and row.sender.id) == message.sender_id
