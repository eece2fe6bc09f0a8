"""The search and usage selectors below the API: the query PostgreSQL runs (that it can use
the full-text index on the stored vector, and ranks only the newest matches), input
cleaning, keyset ties, and the usage date range."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import selectors, services
from conversations.exceptions import InvalidInput
from conversations.models import Message
from conversations.selectors import search as search_module

pytestmark = pytest.mark.django_db


def search_sql(**kwargs) -> str:
    with CaptureQueriesContext(connection) as queries:
        selectors.message_search(**kwargs)
    return queries.captured_queries[-1]["sql"]


def explain(sql: str) -> str:
    """The plan with sequential scans priced out: a test database is a few pages, which
    PostgreSQL reads whole whatever the indexes. What is left asks whether an index can
    serve the query at all, and it can only if the query repeats the index's expression
    and implies its WHERE clause."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


# The two forms of the candidate query (conversations/selectors/search.py): the walk newest
# first for a user in many conversations, the index intersection for one in few.
BOTH_FORMS = pytest.mark.parametrize(
    "walk_min_conversations", [1, 10**9], ids=["walk newest first", "intersect"]
)


def add_filler(conversation, sender, count):
    """`count` older messages of everyday words in `conversation`, in one INSERT: enough
    rows for the planner to choose between the indexes as it would on a real table."""
    older = timezone.now() - timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            seq=100_000 + number,
            position=100_000 + number,
            role="user",
            sender=sender,
            content=f"ordinary message {number}",
            created_at=older + timedelta(seconds=number),
        )
        for number in range(count)
    )


@pytest.mark.postgres_only
@BOTH_FORMS
def test_search_query_can_use_the_full_text_index(
    alice, bob, group, post, monkeypatch, walk_min_conversations
):
    """A rare word is found through the GIN index on the stored vector, in both forms: the
    query matches the column (not to_tsvector(content)) and implies the index's WHERE."""
    monkeypatch.setattr(search_module, "WALK_MIN_CONVERSATIONS", walk_min_conversations)
    add_filler(group, bob, 2000)
    post(group, "a trip to zanzibar")
    post(group, "zanzibar again")

    first_page = search_sql(user=alice, text="zanzibar", limit=1)
    page = selectors.message_search(user=alice, text="zanzibar", limit=1)
    second_page = search_sql(user=alice, text="zanzibar", limit=1, cursor=page.next_cursor)

    for sql in (first_page, second_page):
        # The stored vector (migration 0006), matched and ranked: no text is parsed again.
        assert "message.search_vector @@" in sql
        assert "ts_rank_cd(candidate.search_vector" in sql
        assert "to_tsvector" not in sql
        plan = explain(sql)
        assert "Bitmap Index Scan on message_search_vector" in plan, plan
    assert [hit.message.content for hit in page.items] == ["zanzibar again"]


@pytest.mark.postgres_only
def test_common_word_walks_the_newest_messages_first(alice, bob, group, post, monkeypatch):
    """For a user in many conversations and a word in most messages, the candidates come
    from walking the messages newest first, which stops after SEARCH_CANDIDATES matches."""
    monkeypatch.setattr(search_module, "WALK_MIN_CONVERSATIONS", 1)
    monkeypatch.setattr(search_module, "SEARCH_CANDIDATES", 100)
    add_filler(group, bob, 2000)

    plan = explain(search_sql(user=alice, text="ordinary", limit=5))

    assert "Index Scan Backward using message_created_at" in plan, plan


def forms_run(sql: str) -> int:
    """How many of the query's forms ran: each sits under a one-time filter, and the scan
    below the filter of a form not taken is never executed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    below_filters = [
        plan[number + 1] for number, line in enumerate(plan) if "One-Time Filter" in line
    ]
    assert len(below_filters) == 2, "\n".join(plan)
    return sum("never executed" not in line for line in below_filters)


@pytest.mark.postgres_only
@BOTH_FORMS
def test_only_the_newest_matches_are_ranked(
    alice, bob, charlie, team, group, post, monkeypatch, walk_min_conversations
):
    """SEARCH_CANDIDATES bounds the ranking: the newest matches the user may read, then the
    best of those first. Older matches are not found, even when they would rank higher, and
    matches the user may not read take no place among the candidates."""
    monkeypatch.setattr(search_module, "SEARCH_CANDIDATES", 3)
    monkeypatch.setattr(search_module, "WALK_MIN_CONVERSATIONS", walk_min_conversations)
    best_but_old = [post(group, "alpha alpha alpha"), post(group, "alpha alpha")]
    newest = [
        post(group, "alpha " + " ".join(["beta"] * words), sender=bob) for words in (30, 3, 10)
    ]
    # Newer still, but not readable by alice: hidden, deleted, or in charlie's conversation.
    hidden = post(group, "alpha hidden")
    Message.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    services.message_delete(message=post(group, "alpha deleted"), actor=alice)
    own, _ = services.conversation_create(creator=charlie, kind="assistant", workspace=team)
    post(own, "alpha alpha alpha alpha", sender=charlie)

    page = selectors.message_search(user=alice, text="alpha", limit=10)
    assert forms_run(search_sql(user=alice, text="alpha", limit=10)) == 1

    short, middle, long = newest[1], newest[2], newest[0]
    assert [hit.message.pk for hit in page.items] == [short.pk, middle.pk, long.pk]
    assert page.items[0].rank > page.items[1].rank > page.items[2].rank
    assert not {message.pk for message in best_but_old} & {hit.message.pk for hit in page.items}
    assert (page.has_more, page.next_cursor) == (False, None)

    # The pages go through the same candidates, each once.
    seen, cursor = [], None
    for _ in range(3):
        page = selectors.message_search(user=alice, text="alpha", limit=2, cursor=cursor)
        seen += [hit.message.pk for hit in page.items]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == [short.pk, middle.pk, long.pk]

    # Within one conversation the bound holds the same way; a rare word finds all its
    # matches (fewer than the bound).
    in_group = selectors.message_search(user=alice, text="alpha", conversation_id=group.pk)
    assert [hit.message.pk for hit in in_group.items] == [short.pk, middle.pk, long.pk]
    charlies = selectors.message_search(user=charlie, text="alpha")
    assert len(charlies.items) == 1


def analysed_plan(sql: str) -> list[str]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres_only
@BOTH_FORMS
def test_only_the_page_is_read_again_after_ranking(
    alice, bob, group, post, monkeypatch, walk_min_conversations
):
    """The candidates are ranked on the vectors their scan read; only the page's messages
    (limit + 1) are fetched again by primary key, with their conversation and sender."""
    monkeypatch.setattr(search_module, "WALK_MIN_CONVERSATIONS", walk_min_conversations)
    monkeypatch.setattr(search_module, "SEARCH_CANDIDATES", 40)
    add_filler(group, bob, 60)

    page = selectors.message_search(user=alice, text="ordinary", limit=5)
    plan = analysed_plan(search_sql(user=alice, text="ordinary", limit=5))

    assert len(page.items) == 5 and page.has_more
    by_primary_key = [line for line in plan if "using conversations_message_pkey" in line]
    assert len(by_primary_key) == 1, "\n".join(plan)
    assert by_primary_key[0].endswith("loops=6)"), "\n".join(plan)


@pytest.mark.postgres_only
def test_the_stored_vector_keeps_ten_thousand_common_words():
    """Migration 0007: statistics target 1,000 (10,000 most common lexemes), so that the
    planner prices a rare word as rare (docs/search.md)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute "
            "WHERE attrelid = 'conversations_message'::regclass AND attname = 'search_vector'"
        )
        assert cursor.fetchone() == (1000,)


@pytest.mark.postgres_only
def test_headline_is_computed_for_the_page_only(alice, bob, group, post, monkeypatch):
    """ts_headline is the costly part: PostgreSQL computes it for the rows of the page
    (limit + 1), not for every match."""
    monkeypatch.setattr(search_module, "SEARCH_CANDIDATES", 40)
    add_filler(group, bob, 60)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) "
            + search_sql(user=alice, text="ordinary", limit=5)
        )
        plan = [row[0] for row in cursor.fetchall()]
    # In VERBOSE output each node's "Output:" line follows it: the headline is in the output
    # of the top nodes only, and they see the page's 6 rows.
    computing = [plan[number - 1] for number, line in enumerate(plan) if "ts_headline" in line]
    assert computing, "\n".join(plan)
    for node in computing:
        assert "rows=6 " in node, "\n".join(plan)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [("  words  ", "words"), ("x" * 500, "x" * 500), ("\tüñí\n", "üñí")],
)
def test_clean_search_text_trims(text, cleaned):
    assert selectors.clean_search_text(text) == cleaned


@pytest.mark.parametrize("text", ["", "   ", "x" * 501, "a\x00b", None, 5, ["a"]])
def test_clean_search_text_refuses_naming_q(text):
    with pytest.raises(InvalidInput) as error:
        selectors.clean_search_text(text)
    assert error.value.field == "q"


def test_anonymous_user_finds_nothing(group, post):
    post(group, "public?")
    page = selectors.message_search(user=AnonymousUser(), text="public")
    assert (page.items, page.has_more, page.next_cursor) == ([], False, None)


def test_keyset_pages_through_exact_ties_by_id(alice, group, post):
    """Same text (same rank) and the same created_at: only the id orders them, and the
    pages still show each once."""
    messages = [post(group, "tie breaker") for _ in range(5)]
    instant = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    Message.objects.filter(pk__in=[message.pk for message in messages]).update(created_at=instant)

    seen, cursor = [], None
    for _ in range(5):
        page = selectors.message_search(user=alice, text="tie", limit=2, cursor=cursor)
        seen += [hit.message.pk for hit in page.items]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == sorted((message.pk for message in messages), reverse=True)


def test_sqlite_excerpt_cuts_long_text_around_the_first_match(alice, group, post):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite fallback")
    post(group, "a" * 300 + " <needle> " + "b" * 300)
    [hit] = selectors.message_search(user=alice, text="<NEEDLE>").items
    assert hit.excerpt_html.startswith("…" + "a" * 59)
    assert "&lt;<mark>needle</mark>&gt;" not in hit.excerpt_html
    assert "<mark>&lt;needle&gt;</mark>" in hit.excerpt_html
    assert hit.excerpt_html.endswith("b…")
    assert len(hit.excerpt_html) < 260


# --- usage ---------------------------------------------------------------------------------------


def test_usage_defaults_to_the_last_30_days_including_today(alice):
    today = datetime.now(UTC).date()
    report = selectors.usage_report(user=alice)
    # Tomorrow, so that today counts (or the day after, if midnight passed in between).
    assert report.date_to - today in (timedelta(days=1), timedelta(days=2))
    assert report.date_to - report.date_from == timedelta(days=30)
    assert (report.group_by, report.items) == ("day", [])


def test_usage_range_from_one_end(alice):
    report = selectors.usage_report(user=alice, date_from="2025-01-01")
    assert (report.date_from, report.date_to) == (date(2025, 1, 1), date(2025, 1, 31))
    report = selectors.usage_report(user=alice, date_to=date(2025, 1, 31))
    assert (report.date_from, report.date_to) == (date(2025, 1, 1), date(2025, 1, 31))


def test_usage_range_at_the_ends_of_the_calendar(alice):
    report = selectors.usage_report(user=alice, date_to="0001-01-05")
    assert report.date_from == date.min
    report = selectors.usage_report(user=alice, date_from="9999-12-30", date_to="9999-12-31")
    assert report.items == []
