"""Search over the messages a user may read: PostgreSQL full text, ranked among the newest
matches, with a highlighted excerpt; on SQLite a case-insensitive substring match, newest
first. See docs/search.md.

Only messages neither deleted nor hidden, in live conversations the user takes part in now,
are ever found. Pages are keyset cursors, never OFFSET."""

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
)
from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    Expression,
    F,
    FloatField,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import Col
from django.db.models.functions import Cast, Greatest, Length, Lower, Replace, StrIndex, Substr

from conversations.exceptions import BadCursor, InvalidInput
from conversations.models import Message, Participant
from conversations.pagination import decode_cursor, encode_cursor

from .threads import (
    DEFAULT_PAGE_SIZE,
    EXCERPT_LENGTH,
    _as_uuid,
    _check_limit,
    conversation_get_for_user,
)

QUERY_MAX_LENGTH = 500
# The text search configuration of the stored tsvector (migration 0006): English stemming.
SEARCH_CONFIG = "english"
# PostgreSQL ranks only the newest matches: at most this many of the messages the user may
# read that match, newest first. Their best come first and the pages go through them; an
# older match is not found (docs/search.md). It bounds the work of a common word.
SEARCH_CANDIDATES = 1000
# How the newest matches are found depends on how many conversations the user is in (a
# plan choice only: the same messages either way, docs/search.md). From this many on (at
# least 1), by walking all messages newest first and stopping at SEARCH_CANDIDATES (for a
# rare word the planner takes the full-text index instead); below, by one full-text index
# scan intersected with the user's conversations, then the newest of those.
WALK_MIN_CONVERSATIONS = 2000
# ts_rank_cd options: 1 divides by 1 + log(length), so a long paste does not outrank a short
# answer by repeating the words; 32 scales the rank into [0, 1).
RANK_NORMALIZATION = 1 | 32
# What ts_headline marks matches with: private-use characters, stripped from the text
# first, so that after HTML-escaping the excerpt they alone turn into <mark> tags.
_START_MARK = "\ue000"
_STOP_MARK = "\ue001"
HIGHLIGHT_START = "<mark>"
HIGHLIGHT_STOP = "</mark>"
# The SQLite excerpt: this many characters before the first match, EXCERPT_LENGTH in all.
EXCERPT_LEAD = 60
ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")


_SEARCH_VECTOR = SearchVectorField()
_SEARCH_VECTOR.set_attributes_from_name("search_vector")


class StoredDocument(Expression):
    """The message's stored tsvector, the column `search_vector` (PostgreSQL only, migration
    0006: to_tsvector('english', content), generated). The GIN index is on it, and neither
    the match nor the rank re-parses the text. It is not a model field (SQLite has no such
    column), so it resolves to the column of the query's message table by name."""

    output_field = _SEARCH_VECTOR

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        return Col(query.get_initial_alias(), _SEARCH_VECTOR)


class EqualsAnyOf(Expression):
    """`column = ANY(ARRAY(subquery))` (PostgreSQL). The subquery runs once, before the scan
    (an InitPlan), so the planner intersects one full-text index scan with the (conversation,
    seq) index for all the ids at once. Written as a join or as IN (subquery), a user's few
    conversations drive a nested loop that repeats the full-text index scan for each of them:
    several times slower for a common word (docs/search.md). The planner does not know how
    many ids the array holds (it assumes 10), which suits a user in few conversations only."""

    output_field = BooleanField()

    def __init__(self, column, subquery):
        super().__init__()
        self.column = column
        self.subquery = subquery

    def get_source_expressions(self):
        return [self.column, self.subquery]

    def set_source_expressions(self, expressions):
        self.column, self.subquery = expressions

    def as_sql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        subquery_sql, subquery_params = compiler.compile(self.subquery)
        return f"{column_sql} = ANY(ARRAY{subquery_sql})", (*column_params, *subquery_params)


@dataclass
class SearchHit:
    # With `conversation` (id, title) and `sender` loaded.
    message: Message
    # ts_rank_cd on PostgreSQL, higher is better; None on SQLite, which does not rank.
    rank: float | None
    # HTML: the text escaped, the matches wrapped in <mark>…</mark>.
    excerpt_html: str

    # The message's own fields, as the API's SearchHitOut reads them.
    @property
    def id(self) -> uuid.UUID:
        return self.message.pk

    @property
    def conversation(self):
        return self.message.conversation

    @property
    def seq(self) -> int:
        return self.message.seq

    @property
    def role(self) -> str:
        return self.message.role

    @property
    def sender(self):
        return self.message.sender

    @property
    def created_at(self) -> datetime:
        return self.message.created_at


@dataclass
class SearchPage:
    items: list[SearchHit]
    has_more: bool
    next_cursor: str | None


def clean_search_text(text: Any) -> str:
    """The query as searched: trimmed, 1 to 500 characters, no NUL (PostgreSQL text cannot
    hold one)."""
    if not isinstance(text, str):
        raise InvalidInput("q", "q must be text.")
    text = text.strip()
    if not text:
        raise InvalidInput("q", "q is required: what to search for.")
    if len(text) > QUERY_MAX_LENGTH:
        raise InvalidInput("q", f"q is at most {QUERY_MAX_LENGTH} characters.")
    if "\x00" in text:
        raise InvalidInput("q", "q cannot contain NUL characters.")
    return text


def _uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def _cursor_kind(text: str, conversation_id: uuid.UUID | None) -> str:
    """A cursor belongs to one search: the same words in the same scope on the same kind of
    database. Any other search refuses it."""
    scope = f"{connection.vendor}\x00{conversation_id or ''}\x00{text}"
    return "search:" + hashlib.sha256(scope.encode()).hexdigest()[:24]


def _decode_keyset(kind: str, cursor: str, *, ranked: bool) -> tuple:
    values = decode_cursor(kind, cursor, length=3 if ranked else 2)
    try:
        *rank, created_at, pk = values
        key = (datetime.fromisoformat(created_at), uuid.UUID(pk))
        if ranked:
            if isinstance(rank[0], bool) or not isinstance(rank[0], int | float):
                raise TypeError(rank[0])
            key = (float(rank[0]), *key)
    except (TypeError, ValueError, AttributeError):
        raise BadCursor("The cursor is not valid; start again from the first page.") from None
    return key


def _after(fields: tuple[str, ...], values: tuple) -> Q:
    """Rows after `values` in the descending order of `fields`: the keyset condition
    (a < x) OR (a = x AND b < y) OR (a = x AND b = y AND c < z)."""
    condition = Q()
    for position, field in enumerate(fields):
        equal = {name: value for name, value in zip(fields[:position], values, strict=False)}
        condition |= Q(**equal, **{f"{field}__lt": values[position]})
    return condition


def _live_conversation_ids(user: AbstractBaseUser) -> QuerySet[Participant]:
    """The ids of the live conversations `user` takes part in now."""
    return (
        Participant.objects.filter(
            user=user, left_at__isnull=True, conversation__deleted_at__isnull=True
        )
        .order_by()
        .values("conversation_id")
    )


def _readable_messages(user: AbstractBaseUser) -> QuerySet[Message]:
    """Messages neither deleted nor hidden, in live conversations `user` takes part in now
    (the SQLite search)."""
    return Message.objects.filter(
        deleted_at__isnull=True,
        hidden_at__isnull=True,
        conversation_id__in=_live_conversation_ids(user),
    )


def _newest_matches(
    user: AbstractBaseUser, query: SearchQuery, scope: uuid.UUID | None
) -> QuerySet[Message]:
    """The ids of the newest SEARCH_CANDIDATES messages `user` may read that match `query`
    (PostgreSQL): neither deleted nor hidden (the GIN index's own WHERE clause), in the
    user's live conversations, or in `scope` only. Ordered by (created_at, id), so the same
    messages whichever plan finds them.

    Over all the user's conversations, two forms of one query under UNION ALL; a one-time
    filter on the user's number of conversations runs exactly one of them (docs/search.md):

    - many conversations: `conversation_id IN (…)`, a semi-join whose estimate knows the
      user's share of the messages, so the planner walks the messages newest first
      (message_created_at), checks `@@` on the stored vector and stops at the bound, or for
      a rare word scans the GIN index;
    - few: `conversation_id = ANY(ARRAY(…))`, one GIN scan ANDed with the (conversation,
      seq) index, then the newest of the matches.

    In one conversation (already checked to be the user's): the semi-join form alone, priced
    with that conversation's own statistics (the walk newest first, or the GIN index ANDed
    with the (conversation, seq) index)."""
    matches = (
        Message.objects.filter(deleted_at__isnull=True, hidden_at__isnull=True)
        .alias(document=StoredDocument())
        .filter(document=query)
    )
    conversation_ids = _live_conversation_ids(user)
    newest = ("-created_at", "-id")
    if scope is not None:
        return (
            matches.filter(conversation_id=scope, conversation_id__in=conversation_ids)
            .order_by(*newest)
            .values("pk")[:SEARCH_CANDIDATES]
        )
    # In many conversations: is there a WALK_MIN_CONVERSATIONS-th participation (EXISTS …
    # OFFSET n - 1)? It reads at most that many index entries, once (an InitPlan).
    many = Exists(
        Participant.objects.filter(user=user, left_at__isnull=True)[
            WALK_MIN_CONVERSATIONS - 1 : WALK_MIN_CONVERSATIONS
        ]
    )
    walk = (
        matches.filter(many, conversation_id__in=conversation_ids)
        .order_by(*newest)
        .values("pk")[:SEARCH_CANDIDATES]
    )
    intersect = (
        matches.filter(~many, EqualsAnyOf(F("conversation_id"), Subquery(conversation_ids)))
        .order_by(*newest)
        .values("pk")[:SEARCH_CANDIDATES]
    )
    return walk.union(intersect, all=True)


def _full_text(user: AbstractBaseUser, text: str, scope: uuid.UUID | None) -> QuerySet[Message]:
    """The newest matches (_newest_matches), each with its rank and headline: ranked on the
    stored vector, ts_rank_cd for at most SEARCH_CANDIDATES rows; the headline is computed
    for the rows of the page only (the plan evaluates it above the Sort and Limit)."""
    query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    # float8, not ts_rank_cd's float4: the rank goes into the cursor and must come back
    # exactly equal for the keyset comparison.
    rank = Cast(
        SearchRank(StoredDocument(), query, cover_density=True, normalization=RANK_NORMALIZATION),
        FloatField(),
    )
    headline = SearchHeadline(
        Replace(Replace("content", Value(_START_MARK)), Value(_STOP_MARK)),
        query,
        config=SEARCH_CONFIG,
        start_sel=_START_MARK,
        stop_sel=_STOP_MARK,
        max_words=30,
        min_words=10,
        max_fragments=2,
        fragment_delimiter=f" {ELLIPSIS} ",
    )
    return Message.objects.filter(pk__in=_newest_matches(user, query, scope)).annotate(
        rank=rank, headline=headline
    )


def _substring(messages: QuerySet[Message], text: str) -> QuerySet[Message]:
    # SQLite's LIKE and lower() both fold ASCII letters only, so the position found here
    # is the match LIKE found.
    match_at = StrIndex(Lower("content"), Lower(Value(text)))
    return (
        messages.filter(content__icontains=text)
        .annotate(match_at=match_at, excerpt_start=Greatest(match_at - EXCERPT_LEAD, Value(1)))
        .annotate(
            excerpt=Substr(
                "content", F("excerpt_start"), max(EXCERPT_LENGTH, len(text) + 2 * EXCERPT_LEAD)
            ),
            content_length=Length("content"),
        )
    )


def _one_line(text: str) -> str:
    """An excerpt is one line: runs of whitespace (newlines, and the spaces ts_headline
    leaves where it drops HTML-like tags) become one space."""
    return _WHITESPACE.sub(" ", text)


def _highlight_headline(headline: str) -> str:
    return (
        escape(_one_line(headline).strip())
        .replace(_START_MARK, HIGHLIGHT_START)
        .replace(_STOP_MARK, HIGHLIGHT_STOP)
    )


def _highlight_substring(message: Message, length: int) -> str:
    excerpt = message.excerpt
    offset = message.match_at - message.excerpt_start
    prefix = ELLIPSIS if message.excerpt_start > 1 else ""
    suffix = ELLIPSIS if message.excerpt_start - 1 + len(excerpt) < message.content_length else ""
    if message.match_at < 1 or offset < 0:
        return prefix + escape(_one_line(excerpt)) + suffix
    before = _one_line(excerpt[:offset])
    after = _one_line(excerpt[offset + length :])
    return (
        (prefix + escape(before)).lstrip()
        + HIGHLIGHT_START
        + escape(_one_line(excerpt[offset : offset + length]))
        + HIGHLIGHT_STOP
        + (escape(after) + suffix).rstrip()
    )


def message_search(
    *,
    user: AbstractBaseUser,
    text: Any,
    conversation_id: Any = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> SearchPage:
    """Messages `user` may read that match `text`, best first among the newest
    SEARCH_CANDIDATES matches (PostgreSQL) or newest first (SQLite), optionally in one
    conversation (NotFound if the user cannot see it).

    One query (two with `conversation_id`, which is checked first): the readable messages
    of the user's conversations, matched (on PostgreSQL: the newest SEARCH_CANDIDATES of
    them, ranked), ordered by the keyset and cut to limit + 1 rows; ts_headline runs on
    those rows only."""
    limit = _check_limit(limit)
    text = clean_search_text(text)
    if not user.is_authenticated:
        return SearchPage(items=[], has_more=False, next_cursor=None)
    ranked = _uses_full_text()
    scope = None
    if conversation_id is not None and conversation_id != "":
        if _as_uuid(conversation_id) is None:
            raise InvalidInput("conversation_id", "conversation_id must be a UUID.")
        scope = conversation_get_for_user(user=user, conversation_id=conversation_id).pk

    if ranked:
        messages = _full_text(user, text, scope)
        order = ("rank", "created_at", "id")
    else:
        messages = _readable_messages(user)
        if scope is not None:
            messages = messages.filter(conversation_id=scope)
        messages = _substring(messages, text)
        order = ("created_at", "id")
    kind = _cursor_kind(text, scope)
    if cursor:
        messages = messages.filter(_after(order, _decode_keyset(kind, cursor, ranked=ranked)))

    messages = (
        messages.select_related("conversation", "sender")
        .only(
            "id",
            "seq",
            "role",
            "created_at",
            "conversation__id",
            "conversation__title",
            "sender__id",
            "sender__username",
            "sender__display_name",
        )
        .order_by(*(f"-{field}" for field in order))
    )
    rows = list(messages[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]

    if ranked:
        items = [
            SearchHit(message=row, rank=row.rank, excerpt_html=_highlight_headline(row.headline))
            for row in rows
        ]
    else:
        items = [
            SearchHit(message=row, rank=None, excerpt_html=_highlight_substring(row, len(text)))
            for row in rows
        ]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        key = [last.created_at.isoformat(), str(last.pk)]
        next_cursor = encode_cursor(kind, [last.rank, *key] if ranked else key)
    return SearchPage(items=items, has_more=has_more, next_cursor=next_cursor)
