"""Token usage of the assistant turns in a user's conversations, totalled by day, model or
agent, in one aggregate query."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.exceptions import InvalidInput
from conversations.models import Message, MessageRole

USAGE_GROUPINGS = ("day", "model", "agent")
USAGE_DEFAULT_DAYS = 30


def _average(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


@dataclass
class UsageTotals:
    message_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    # Sums and counts of the turns that have a latency, for exact averages over groups.
    latency_ms_sum: int = 0
    latency_ms_count: int = 0
    ttft_ms_sum: int = 0
    ttft_ms_count: int = 0

    @property
    def avg_latency_ms(self) -> float | None:
        return _average(self.latency_ms_sum, self.latency_ms_count)

    @property
    def avg_ttft_ms(self) -> float | None:
        return _average(self.ttft_ms_sum, self.ttft_ms_count)

    def add(self, other: "UsageTotals") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class UsageGroup(UsageTotals):
    # Only the key of the chosen grouping is set; a model or agent of None means "none".
    day: date | None = None
    model: str | None = None
    agent_id: uuid.UUID | None = None
    agent_name: str | None = None

    @property
    def agent(self) -> dict | None:
        if self.agent_id is None:
            return None
        return {"id": self.agent_id, "name": self.agent_name}


@dataclass
class UsageReport:
    date_from: date
    date_to: date  # exclusive
    group_by: str
    items: list[UsageGroup]
    totals: UsageTotals = field(default_factory=UsageTotals)


def _parse_date(name: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise InvalidInput(name, f"{name} must be a date (YYYY-MM-DD), not a time.")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(name, f"{name} must be a date (YYYY-MM-DD).")


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def usage_report(
    *,
    user: AbstractBaseUser,
    date_from: Any = None,
    date_to: Any = None,
    group_by: Any = "day",
) -> UsageReport:
    """Usage of the assistant turns created in [date_from, date_to) (UTC dates) in the
    conversations `user` takes part in now, trashed ones included (their tokens were spent).
    Default: the last 30 days, today included. One query: the turns joined to the user's
    participation, grouped, summed."""
    if group_by is None or group_by == "":
        group_by = "day"
    if group_by not in USAGE_GROUPINGS:
        raise InvalidInput("group_by", f"group_by must be one of {', '.join(USAGE_GROUPINGS)}.")
    start = _parse_date("from", date_from)
    end = _parse_date("to", date_to)
    if end is None:
        end = _shift(start, USAGE_DEFAULT_DAYS) if start else _shift(timezone.now().date(), 1)
    if start is None:
        start = _shift(end, -USAGE_DEFAULT_DAYS)
    if start > end:
        raise InvalidInput("from", "from must not be after to.")
    if not user.is_authenticated:
        return UsageReport(date_from=start, date_to=end, group_by=group_by, items=[])

    turns = Message.objects.filter(
        role=MessageRole.ASSISTANT,
        created_at__gte=_utc_midnight(start),
        created_at__lt=_utc_midnight(end),
        conversation__participants__user=user,
        conversation__participants__left_at__isnull=True,
    )
    if group_by == "day":
        grouped = (
            turns.annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day").order_by("day")
        )
    elif group_by == "model":
        grouped = turns.values("model").order_by("model")
    else:
        grouped = turns.values("agent_id", agent_name=F("agent__name")).order_by(
            F("agent_name").asc(nulls_last=True), "agent_id"
        )
    rows = grouped.annotate(
        message_count=Count("id"),
        input_tokens=Sum("prompt_tokens", default=0),
        output_tokens=Sum("completion_tokens", default=0),
        cached_tokens=Sum("cached_input_tokens", default=0),
        reasoning_tokens=Sum("reasoning_tokens", default=0),
        latency_ms_sum=Sum("latency_ms", default=0),
        latency_ms_count=Count("latency_ms"),
        ttft_ms_sum=Sum("ttft_ms", default=0),
        ttft_ms_count=Count("ttft_ms"),
    )

    items = []
    totals = UsageTotals()
    for row in rows:
        if "model" in row:
            row["model"] = row["model"] or None
        group = UsageGroup(**row)
        totals.add(group)
        items.append(group)
    return UsageReport(date_from=start, date_to=end, group_by=group_by, items=items, totals=totals)
