"""The moderation lists cost the same number of queries for 10 rows and for 100: no N+1,
with messages that have parts, artifacts, senders, several participants and reports."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.admin.base import LargeTablePaginator
from conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_group(group, charlie, alice):
    services.participant_add(conversation=group, actor=alice, user=charlie)
    return group


@pytest.fixture
def grow(busy_group, alice, bob, charlie, mod):
    """grow(n): n more rounds of a user message, an assistant turn with parts and a stored
    artifact, and an open report (every third one hidden)."""
    people = [alice, bob, charlie]

    def add(rounds):
        for number in range(rounds):
            sender = people[number % 3]
            message, _ = services.message_post(
                conversation=busy_group, sender=sender, content=f"message {number} " * 30
            )
            reporter = people[(number + 1) % 3]
            services.report_create(message=message, reporter=reporter, reason="spam")
            if number % 3 == 0:
                services.message_hide(message=message, moderator=mod, reason="spam")
                services.report_create(message=message, reporter=reporter, reason="other")
            turn = services.assistant_message_start(conversation=busy_group, agent=None)
            services.message_part_add(message=turn, type="text", content={"text": "hi"})
            part = services.message_part_add(message=turn, type="file", content={})
            services.artifact_create(part=part, kind="file", data=b"x", path="x.txt")
            services.assistant_message_finish(message=turn, content="answer")

    return add


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    rows = len(response.context["cl"].result_list)
    return rows, len(queries), [query["sql"] for query in queries.captured_queries]


# Both lists, after the session, the user and their permissions (user's, groups'):
#   (PostgreSQL only) EXPLAIN for the row estimate  · COUNT of the filtered rows ·
#   the page of rows with their related rows (one JOINed query) · per list, its filters.
PREAMBLE = 4  # session, user, user permissions, group permissions


@pytest.mark.parametrize(
    ("url", "filters"),
    [
        # the conversation filter names its conversation
        ("/admin/conversations/message/?conversation={group}", 1),
        ("/admin/conversations/message/", 0),
        ("/admin/conversations/report/", 0),
    ],
)
def test_moderation_lists_cost_the_same_for_10_and_100_rows(
    grow, busy_group, mod, client_for, url, filters
):
    client = client_for(mod)
    url = url.format(group=busy_group.pk)

    grow(5)  # 10 messages, 7 reports
    few_rows, few, few_sql = count_queries(client, url)
    grow(70)  # 150 messages, 100 reports: a full page of 100 of each
    many_rows, many, many_sql = count_queries(client, url)

    assert few_rows < 11 and many_rows == 100
    assert many == few, "\n\n".join(many_sql)
    explain = 1 if connection.vendor == "postgresql" else 0
    # The report list's date hierarchy reads the years present (MIN/MAX, then DISTINCT).
    hierarchy = 2 if "report" in url else 0
    assert few == PREAMBLE + explain + 1 + 1 + filters + hierarchy, "\n\n".join(few_sql)


@pytest.mark.postgres_only
def test_big_lists_take_the_planner_estimate_instead_of_counting(grow, mod, client_for):
    grow(3)
    paginator = LargeTablePaginator(Message.objects.all(), 100)
    paginator.ESTIMATE_ABOVE = -1  # as if the table were huge
    with CaptureQueriesContext(connection) as queries:
        estimate = paginator.count
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["EXPLAIN"]
    assert estimate >= 0

    exact = LargeTablePaginator(Message.objects.all(), 100)
    assert exact.count == 6  # small: counted
