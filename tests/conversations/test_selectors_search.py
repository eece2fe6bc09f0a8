"""The search and usage selectors below the API: the query PostgreSQL runs (and that it can
use the full-text index), input cleaning, keyset ties, and the usage date range."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import selectors
from conversations.exceptions import InvalidInput
from conversations.models import Message

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


@pytest.mark.postgres_only
def test_search_query_can_use_the_full_text_index(alice, bob, group, post):
    for number in range(60):
        post(group, f"ordinary message {number}", sender=bob if number % 2 else alice)
    post(group, "a trip to zanzibar")
    post(group, "zanzibar again")

    first_page = search_sql(user=alice, text="zanzibar", limit=1)
    cursor = selectors.message_search(user=alice, text="zanzibar", limit=1).next_cursor
    second_page = search_sql(user=alice, text="zanzibar", limit=1, cursor=cursor)

    for sql in (first_page, second_page):
        # The index expression, spelled as migration 0002 spells it (no COALESCE).
        assert 'to_tsvector(\'english\'::regconfig, "conversations_message"."content") @@' in sql
        plan = explain(sql)
        assert "Bitmap Index Scan on message_content_fts" in plan, plan


@pytest.mark.postgres_only
def test_headline_is_computed_after_the_sort_for_the_page_only(alice, group, post):
    """ts_headline is the costly part: PostgreSQL evaluates it above Sort and Limit, for the
    rows of the page, not for every match."""
    post(group, "zanzibar")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (VERBOSE) " + search_sql(user=alice, text="zanzibar"))
        plan = [row[0] for row in cursor.fetchall()]
    sort_line = next(number for number, line in enumerate(plan) if "->  Sort" in line)
    assert any("ts_headline" in line for line in plan[:sort_line])
    assert not any("ts_headline" in line for line in plan[sort_line:])


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
