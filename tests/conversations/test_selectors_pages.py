"""Reading a page of the thread as bounded position ranges: a fixed number of queries at any
depth, and, on PostgreSQL, an index range of the page's rows whatever the planner's
statistics say. (Pages across versions: tests/conversations/test_versions.py.)"""

import json
import re

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
    # The query of the page's messages, not the participation's (which reads a line's
    # newest position in a subquery, the table aliased there).
    [sql] = [
        query["sql"]
        for query in queries.captured_queries
        if re.search(re.escape(table) + " (WHERE|LEFT|INNER)", query["sql"])
    ]
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
    # The newest page, pages deep in the thread, and at the edges of its positions.
    anchors = [{}, {"before": 5000}, {"after": 5000}, {"before": 52}, {"after": 9_980}]
    for statistics in ("stale", "fresh"):
        if statistics == "fresh":
            _analyze()
        for read in PAGE_READERS:
            for anchor in anchors:
                nodes = _explain_message_read(read, alice, big, anchor)
                where = f"{read.__name__}({anchor}) with {statistics} statistics: {nodes}"
                # The messages are read once, by a range of an index that holds the page
                # (and the row before it): its 51 rows, not the conversation's 10,000. The
                # (conversation, line, position) index, or, in a conversation without
                # versions where positions are seqs, the (conversation, seq) one: the page
                # bounds both. (An Index Scan of the range, or a bitmap of it where the
                # planner expects a few dozen rows: the same 51 rows either way.)
                index_reads = [node for node in nodes if "Index Cond" in node]
                assert len(index_reads) == 1, where
                name, condition = index_reads[0]["Index Name"], index_reads[0]["Index Cond"]
                column = {"message_line_position_unique": '"position"', "message_seq_unique": "seq"}
                assert name in column, where
                # Bounded on both sides, the newest page too (its end is the path's).
                assert f"{column[name]} >=" in condition and f"{column[name]} <=" in condition, (
                    where
                )
                for node in nodes:
                    assert node["Actual Loops"] == 1 and node["Actual Rows"] <= 51, where


@pytest.mark.postgres_only
def test_a_forked_path_is_read_as_index_ranges_whatever_the_statistics(alice, bob, team, group):
    """As above, on a path through versions: the ranges of two lines. One case is known to
    read more with statistics from before the import: a page at the very start of the
    path, inside the positions the statistics saw (1 to 20 here), in a conversation with
    versions (where seq is no longer a second bound): the planner takes the conversation
    for one of 20 rows and reads its rows by conversation alone (10,006 here, 1.3 ms),
    until ANALYZE runs (docs/data-model.md). It is left out of the stale round."""
    for number in range(150):
        small, _ = services.conversation_create(
            creator=alice, kind="group", title=f"small {number}", workspace=team, participants=[bob]
        )
        import_messages(small, 20, alice)
    _analyze()
    big, _ = services.conversation_create(creator=alice, kind="assistant", title="Big")
    import_messages(big, 10_000, alice)
    # A version of a prompt near the end, and a few turns after it on its line.
    prompt = Message.objects.get(conversation=big, seq=9_990)
    resent, _ = services.message_resend(message=prompt, actor=alice, content="Again.")
    for number in range(5):
        services.message_post(conversation=big, sender=alice, content=f"after {number}")
    anchors = [{}, {"before": 5000}, {"after": 5000}, {"before": 52}, {"after": 9_980}]
    for statistics in ("stale", "fresh"):
        if statistics == "fresh":
            _analyze()
        for read in PAGE_READERS:
            for anchor in anchors:
                if statistics == "stale" and anchor == {"before": 52}:
                    continue
                nodes = _explain_message_read(read, alice, big, anchor)
                where = f"{read.__name__}({anchor}) with {statistics} statistics: {nodes}"
                for node in nodes:
                    assert node["Actual Loops"] == 1 and node["Actual Rows"] <= 51, where
    assert resent.line == 1
