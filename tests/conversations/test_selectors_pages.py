"""Reading a page of the thread as bounded position ranges: a fixed number of queries at any
depth, and, on PostgreSQL, an index range of the page's rows whatever the planner's
statistics say. (Pages across versions: tests/conversations/test_versions.py.)"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Conversation, Message, MessageRole, MessageStatus

pytestmark = pytest.mark.django_db

PAGE_READERS = [selectors.message_page, selectors.message_page_rows]


def import_messages(conversation, count, sender):
    """Messages 1..count written as an import writes them, in bulk (posting 10,000 through
    message_post would take minutes): seq gapless and the message count moved with them."""
    now = timezone.now()
    start = conversation.message_count
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                seq=seq,
                position=seq,
                role=MessageRole.USER,
                status=MessageStatus.COMPLETE,
                sender=sender,
                content=f"message {seq}",
                created_at=now,
            )
            for seq in range(start + 1, start + count + 1)
        ],
        batch_size=2000,
    )
    Conversation.objects.filter(pk=conversation.pk).update(message_count=start + count)
    conversation.refresh_from_db()
    return conversation


def seqs(page):
    return [message.seq for message in page.items]


# --- the cost -------------------------------------------------------------------------------


@pytest.fixture
def long_thread(alice, group):
    return import_messages(group, 1000, alice)


@pytest.mark.parametrize(
    ("anchor", "shown"),
    [
        ({}, range(951, 1001)),
        ({"before": 501}, range(451, 501)),
        ({"before": 52}, range(2, 52)),
        ({"after": 0}, range(1, 51)),
        ({"after": 500}, range(501, 551)),
        ({"after": 990}, range(991, 1001)),
    ],
)
def test_a_page_costs_the_same_queries_at_any_depth(alice, long_thread, anchor, shown):
    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_page(user=alice, conversation_id=long_thread.pk, **anchor)
    # The participation with its conversation; the messages with senders; their parts.
    assert len(queries) == 3, [query["sql"] for query in queries.captured_queries]
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.message_page_rows(user=alice, conversation_id=long_thread.pk, **anchor)
    # The participation with its path, then the messages (none has parts): a gapless range
    # of positions is read once.
    assert len(queries) == 2, [query["sql"] for query in queries.captured_queries]
    assert seqs(rows) == seqs(page) == list(shown)
    assert (rows.has_more_before, rows.has_more_after) == (
        page.has_more_before,
        page.has_more_after,
    )


# --- the plan, on PostgreSQL ----------------------------------------------------------------


def _message_reads(plan: dict) -> list[dict]:
    """The plan's nodes that read the messages table or its indexes, wherever they sit."""
    reads_messages = plan.get("Relation Name") == Message._meta.db_table or plan.get(
        "Index Name", ""
    ).startswith("message_")
    found = [plan] if reads_messages else []
    for child in plan.get("Plans", []):
        found += _message_reads(child)
    return found


def _explain_message_read(read, user, conversation, anchor) -> list[dict]:
    """The nodes of the message read `read` runs for this page, as EXPLAIN ANALYZE has them."""
    with CaptureQueriesContext(connection) as queries:
        read(user=user, conversation_id=conversation.pk, **anchor)
    table = f'FROM "{Message._meta.db_table}"'
    [sql] = [query["sql"] for query in queries.captured_queries if table in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        result = cursor.fetchone()[0]
    plan = (json.loads(result) if isinstance(result, str) else result)[0]["Plan"]
    return _message_reads(plan)


def _analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Message._meta.db_table}"')


@pytest.mark.postgres_only
def test_page_reads_are_an_index_range_whatever_the_statistics(alice, bob, team, group):
    # Many small conversations, as the statistics see the table: 20 messages each.
    for number in range(150):
        small, _ = services.conversation_create(
            creator=alice, kind="group", title=f"small {number}", workspace=team, participants=[bob]
        )
        import_messages(small, 20, alice)
    _analyze()
    # Then a big one imported after the statistics were taken: the planner believes it
    # holds 20 rows too, and an unbounded read took all 10,000 to sort them.
    big = import_messages(group, 10_000, alice)
    # The newest page, pages deep in the thread, and at the edges of its seqs.
    anchors = [{}, {"before": 5000}, {"after": 5000}, {"before": 52}, {"after": 9_980}]
    for statistics in ("stale", "fresh"):
        if statistics == "fresh":
            _analyze()
        for read in PAGE_READERS:
            for anchor in anchors:
                nodes = _explain_message_read(read, alice, big, anchor)
                where = f"{read.__name__}({anchor}) with {statistics} statistics: {nodes}"
                # The messages are read once, through the (conversation, seq) index, by a
                # seq range that holds the page: its 51 rows, not the conversation's 10,000.
                # (An Index Scan of the range, or a bitmap of it where the planner expects
                # a few dozen rows: the same 51 rows either way.)
                index_reads = [node for node in nodes if "Index Cond" in node]
                assert [node["Index Name"] for node in index_reads] == ["message_seq_unique"], where
                condition = index_reads[0]["Index Cond"]
                # Bounded below; above too beside an anchor (the newest page runs to the end).
                assert "seq >" in condition and ("seq <" in condition or not anchor), where
                for node in nodes:
                    assert node["Actual Loops"] == 1 and node["Actual Rows"] <= 51, where
