"""GET /api/v1/usage, full stack through Django's test client: exact totals grouped by day,
model and agent; only the caller's conversations; the date range; bad parameters; cost."""

from datetime import UTC, date, datetime, timedelta

import pytest

from conversations import services
from conversations.models import Agent, Message

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage"
DAY_1 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # the first instant of 1 March
DAY_2 = datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)  # the last second of 2 March
COUNTERS = (
    "message_count",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "avg_latency_ms",
    "avg_ttft_ms",
)
IN_MARCH = {"from": "2025-03-01", "to": "2025-04-01"}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def counters(row) -> tuple:
    return tuple(row[name] for name in COUNTERS)


def turn(conversation, *, agent=None, model="", at, usage, latency_ms=None, ttft_ms=None):
    """An assistant turn with its usage, created at `at` (the services stamp the present)."""
    message = services.assistant_message_start(conversation=conversation, agent=agent, model=model)
    services.message_record_usage(message=message, usage=usage)
    if latency_ms is not None:
        services.assistant_message_finish(
            message=message, content="answer", latency_ms=latency_ms, ttft_ms=ttft_ms
        )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


@pytest.fixture
def agents(alice):
    workspace = alice.default_workspace
    return (
        Agent.objects.create(workspace=workspace, name="Helper", slug="helper", model="m-small"),
        Agent.objects.create(workspace=workspace, name="Coder", slug="coder", model="m-large"),
    )


@pytest.fixture
def usage_history(alice, bob, charlie, team, group, agents, post):
    """Alice's assistant chats with two agents and a group with bob, over two days in March;
    charlie's own chat on the same days must never count for alice or bob."""
    helper, coder = agents
    with_helper, _ = services.conversation_create(creator=alice, kind="assistant", agent=helper)
    with_coder, _ = services.conversation_create(creator=alice, kind="assistant", agent=coder)
    post(with_helper, "question")
    turn(
        with_helper,
        agent=helper,
        at=DAY_1,
        usage=services.Usage(prompt_tokens=100, completion_tokens=10, cached_input_tokens=40),
        latency_ms=1000,
        ttft_ms=100,
    )
    turn(
        with_helper,
        agent=helper,
        at=DAY_2,
        usage=services.Usage(prompt_tokens=200, completion_tokens=20, reasoning_tokens=5),
        latency_ms=3000,
        ttft_ms=300,
    )
    turn(
        with_coder,
        agent=coder,
        at=DAY_2,
        usage=services.Usage(prompt_tokens=1000, completion_tokens=100, reasoning_tokens=50),
    )
    # A turn with no agent and another model, in the group bob shares.
    turn(
        group, model="m-other", at=DAY_1, usage=services.Usage(prompt_tokens=7, completion_tokens=3)
    )
    # Outside March: never in the March report.
    turn(
        with_coder,
        agent=coder,
        at=DAY_1 - timedelta(seconds=1),
        usage=services.Usage(prompt_tokens=99_999),
    )
    turn(
        with_coder,
        agent=coder,
        at=datetime(2025, 4, 1, tzinfo=UTC),
        usage=services.Usage(prompt_tokens=99_999),
    )
    charlies, _ = services.conversation_create(creator=charlie, kind="assistant", workspace=team)
    turn(charlies, model="m-small", at=DAY_1, usage=services.Usage(prompt_tokens=5_000))
    return with_helper, with_coder


def test_usage_by_day(alice, client_for, usage_history):
    body = report(client_for(alice), group_by="day", **IN_MARCH)

    assert (body["from"], body["to"], body["group_by"]) == ("2025-03-01", "2025-04-01", "day")
    assert [(row["day"], counters(row)) for row in body["items"]] == [
        ("2025-03-01", (2, 107, 13, 40, 0, 1000.0, 100.0)),
        ("2025-03-02", (2, 1200, 120, 0, 55, 3000.0, 300.0)),
    ]
    assert counters(body["totals"]) == (4, 1307, 133, 40, 55, 2000.0, 200.0)
    assert all(row["model"] is None and row["agent"] is None for row in body["items"])


def test_usage_by_model(alice, client_for, usage_history):
    body = report(client_for(alice), group_by="model", **IN_MARCH)

    assert [(row["model"], counters(row)) for row in body["items"]] == [
        ("m-large", (1, 1000, 100, 0, 50, None, None)),
        ("m-other", (1, 7, 3, 0, 0, None, None)),
        ("m-small", (2, 300, 30, 40, 5, 2000.0, 200.0)),
    ]
    assert counters(body["totals"]) == (4, 1307, 133, 40, 55, 2000.0, 200.0)


def test_usage_by_agent_with_none_last(alice, client_for, usage_history, agents):
    helper, coder = agents
    body = report(client_for(alice), group_by="agent", **IN_MARCH)

    assert [(row["agent"], counters(row)) for row in body["items"]] == [
        ({"id": str(coder.pk), "name": "Coder"}, (1, 1000, 100, 0, 50, None, None)),
        ({"id": str(helper.pk), "name": "Helper"}, (2, 300, 30, 40, 5, 2000.0, 200.0)),
        (None, (1, 7, 3, 0, 0, None, None)),
    ]


def test_usage_counts_only_conversations_the_caller_is_in(
    alice, bob, charlie, group, client_for, usage_history
):
    # bob is only in the group: its one turn.
    assert counters(report(client_for(bob), **IN_MARCH)["totals"]) == (
        1,
        7,
        3,
        0,
        0,
        None,
        None,
    )
    # charlie sees only his own chat, never alice's.
    body = report(client_for(charlie), group_by="model", **IN_MARCH)
    assert [(row["model"], row["input_tokens"]) for row in body["items"]] == [("m-small", 5000)]
    # Having left the group, bob counts nothing.
    services.participant_remove(conversation=group, actor=bob, user=bob)
    assert report(client_for(bob), **IN_MARCH)["items"] == []


def test_usage_keeps_conversations_in_the_trash(alice, client_for, usage_history):
    with_helper, _ = usage_history
    services.conversation_delete(conversation=with_helper, actor=alice)
    assert report(client_for(alice), **IN_MARCH)["totals"]["input_tokens"] == 1307


def test_usage_range_is_from_inclusive_to_exclusive(alice, client_for, usage_history):
    client = client_for(alice)
    only_day_1 = report(client, **{"from": "2025-03-01", "to": "2025-03-02"})
    assert [row["day"] for row in only_day_1["items"]] == ["2025-03-01"]
    only_day_2 = report(client, **{"from": "2025-03-02", "to": "2025-03-03"})
    assert [row["day"] for row in only_day_2["items"]] == ["2025-03-02"]
    assert report(client, **{"from": "2025-03-02", "to": "2025-03-02"})["items"] == []


def test_usage_default_range_is_the_last_30_days(alice, client_for, agents):
    helper, _ = agents
    chat, _ = services.conversation_create(creator=alice, kind="assistant", agent=helper)
    now = datetime.now(UTC)
    turn(chat, agent=helper, at=now, usage=services.Usage(prompt_tokens=1))
    turn(chat, agent=helper, at=now - timedelta(days=28), usage=services.Usage(prompt_tokens=10))
    turn(chat, agent=helper, at=now - timedelta(days=31), usage=services.Usage(prompt_tokens=100))

    body = report(client_for(alice))

    date_from, date_to = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    assert date_to - date_from == timedelta(days=30)
    # Tomorrow, so that today counts (or the day after, if midnight passed in between).
    assert date_to - now.date() in (timedelta(days=1), timedelta(days=2))
    assert body["group_by"] == "day"
    assert body["totals"]["input_tokens"] == 11


def test_usage_ignores_messages_people_wrote(alice, group, client_for, post):
    post(group, "a person's message has no usage")
    assert report(client_for(alice))["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-02-30"}, "from"),
        ({"to": "2025-13-01"}, "to"),
        ({"to": "2025-03-01T10:00:00"}, "to"),
        ({"group_by": "week"}, "group_by"),
        ({"group_by": "DAY"}, "group_by"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"from": "\x00"}, "from"),
    ],
)
def test_bad_parameters_get_422_naming_the_field(alice, client_for, params, field):
    error = assert_error(client_for(alice).get(URL, params), 422, "invalid")
    assert error["details"]["field"] == field


def test_anonymous_gets_401(client_for):
    assert_error(client_for().get(URL), 401, "not_authenticated")


def test_usage_is_one_query_whatever_the_grouping(
    alice, client_for, usage_history, django_assert_num_queries
):
    client = client_for(alice)
    for group_by in ("day", "model", "agent"):
        # The session, the user, the one aggregate query.
        with django_assert_num_queries(3):
            assert report(client, group_by=group_by, **IN_MARCH)["items"]
