"""Schemas of message search and of usage reports.

The query parameters are typed loosely on purpose: the selectors check them (as they do for
every caller, the HTML pages included) and raise errors naming the parameter exactly as the
client sent it ("q", "from", "group_by"), where ninja would say "query.q". Their limits are
documented in the OpenAPI schema through json_schema_extra."""

import uuid
from datetime import date, datetime

from ninja import Schema
from pydantic import Field

from conversations.selectors.search import QUERY_MAX_LENGTH
from conversations.selectors.threads import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from conversations.selectors.usage import USAGE_DEFAULT_DAYS, USAGE_GROUPINGS

from .common import OutModel, UserRefOut

# --- search ----------------------------------------------------------------------------------


class SearchQueryIn(Schema):
    q: str = Field(
        default="",
        description=f"Required. What to search for, 1 to {QUERY_MAX_LENGTH} characters after "
        'trimming. On PostgreSQL: web-search syntax (words, "a phrase", or, -word), English '
        "stemming; on SQLite: one case-insensitive substring.",
        json_schema_extra={"minLength": 1, "maxLength": QUERY_MAX_LENGTH},
    )
    conversation_id: str | None = Field(
        default=None,
        description="Search this conversation only.",
        json_schema_extra={"format": "uuid"},
    )
    cursor: str | None = Field(default=None, description="next_cursor of the previous page.")
    limit: int = Field(
        default=DEFAULT_PAGE_SIZE, json_schema_extra={"minimum": 1, "maximum": MAX_PAGE_SIZE}
    )


class ConversationRefOut(OutModel):
    id: uuid.UUID
    title: str
    display_title: str = Field(
        description="What to call it: its title, or for an untitled direct conversation the "
        "other person's name (each of the two sees the other's). Empty when neither."
    )


class SearchHitOut(OutModel):
    id: uuid.UUID = Field(description="The message.")
    conversation: ConversationRefOut
    seq: int
    role: str
    sender: UserRefOut | None
    created_at: datetime
    rank: float | None = Field(description="Higher is better, in [0, 1); null on SQLite.")
    excerpt_html: str = Field(
        description="HTML: the text around the matches as plain text (the Markdown's words "
        "without its markup), escaped, each match in <mark>…</mark>."
    )


class SearchPageOut(OutModel):
    items: list[SearchHitOut]
    next_cursor: str | None
    has_more: bool


# --- usage -----------------------------------------------------------------------------------


class UsageQueryIn(Schema):
    date_from: str | None = Field(
        default=None,
        alias="from",
        description=f"First UTC date included (YYYY-MM-DD); default: {USAGE_DEFAULT_DAYS} days "
        "before `to`.",
        json_schema_extra={"format": "date"},
    )
    date_to: str | None = Field(
        default=None,
        alias="to",
        description="First UTC date excluded (YYYY-MM-DD); default: tomorrow, so today counts.",
        json_schema_extra={"format": "date"},
    )
    group_by: str = Field(default="day", json_schema_extra={"enum": list(USAGE_GROUPINGS)})


class UsageAgentOut(Schema):
    id: uuid.UUID
    name: str


class UsageCountsOut(Schema):
    message_count: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    avg_latency_ms: float | None
    avg_ttft_ms: float | None


class UsageGroupOut(UsageCountsOut):
    day: date | None = Field(description="With group_by=day: the UTC date.")
    model: str | None = Field(description="With group_by=model: the model; null for none.")
    agent: UsageAgentOut | None = Field(description="With group_by=agent; null for none.")


class UsageReportOut(Schema):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to", description="Excluded.")
    group_by: str
    items: list[UsageGroupOut]
    totals: UsageCountsOut
