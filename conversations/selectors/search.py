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

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import DEFERRED, F, Model, Q, QuerySet, Value
from django.db.models.functions import Greatest, Length, Lower, StrIndex, Substr
from django.utils.translation import gettext

from conversations.exceptions import BadCursor, InvalidInput
from conversations.markdown import markdown_fragment_to_text
from conversations.models import Conversation, Message, Participant
from conversations.pagination import decode_cursor, encode_cursor

from .threads import (
    DEFAULT_PAGE_SIZE,
    EXCERPT_LENGTH,
    _check_limit,
    as_uuid,
    conversation_get_for_user,
    peer_name,
)

User = get_user_model()

QUERY_MAX_LENGTH = 500
# The text search configuration of the stored tsvector (migration 0006): English stemming.
SEARCH_CONFIG = "english"
# PostgreSQL ranks only the newest matches: at most this many of the messages the user may
# read that match, newest first. Their best come first and the pages go through them; an
# older match is not found (docs/search.md). It bounds the work of a common word.
SEARCH_CANDIDATES = 300
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
_PAIRED_MARKS = re.compile(f"{_START_MARK}([^{_START_MARK}{_STOP_MARK}]*){_STOP_MARK}")


def _unmarked(text: str) -> str:
    """Text without our highlight marks (a message may hold the characters itself)."""
    return text.replace(_START_MARK, "").replace(_STOP_MARK, "")


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
        raise InvalidInput("q", gettext("q is required: what to search for."))
    if len(text) > QUERY_MAX_LENGTH:
        raise InvalidInput(
            "q", gettext("q is at most %(count)s characters.") % {"count": QUERY_MAX_LENGTH}
        )
    if "\x00" in text:
        raise InvalidInput("q", gettext("q cannot contain NUL characters."))
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


# The PostgreSQL search, one statement (docs/search.md, "The query, and its plans"). Written
# out rather than built with the ORM: building and compiling the same query through the ORM
# (a UNION of two forms, one-time filters, raw wrappers around it) took about as long as
# PostgreSQL took to run it. Every value is a parameter; only the shape below varies.
#
# The candidates: the newest SEARCH_CANDIDATES matches the user may read (neither deleted
# nor hidden: the GIN index's own WHERE clause), as (id, created_at, stored vector).
_MATCH = """
    SELECT message.id, message.created_at, message.search_vector
    FROM conversations_message AS message
    WHERE message.deleted_at IS NULL AND message.hidden_at IS NULL
      AND message.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, %(text)s)
      AND {condition}
    ORDER BY message.created_at DESC, message.id DESC
    LIMIT %(candidates)s
"""
# The live conversations the user takes part in now.
_CONVERSATIONS = """
    SELECT participant.conversation_id
    FROM conversations_participant AS participant
    JOIN conversations_conversation AS conversation
      ON conversation.id = participant.conversation_id
    WHERE participant.user_id = %(user_id)s AND participant.left_at IS NULL
      AND conversation.deleted_at IS NULL
"""
# Is there a WALK_MIN_CONVERSATIONS-th participation? It reads at most that many index
# entries, once (an InitPlan: a one-time filter on each form below).
_MANY = """
    EXISTS (SELECT 1 FROM conversations_participant
            WHERE user_id = %(user_id)s AND left_at IS NULL
            OFFSET %(walk_offset)s LIMIT 1)
"""
# Over all the user's conversations: the semi-join form (walk newest first, or the GIN
# index for a rare word) for a user in many, the intersection for a user in few. The array
# of `= ANY(ARRAY(…))` is built once, before the scan, so the planner ANDs one GIN scan with
# the (conversation, seq) index; written as IN (…) a few conversations drive a nested loop
# that repeats the GIN scan for each.
_CANDIDATES_EVERYWHERE = (
    "("
    + _MATCH.format(condition=f"{_MANY} AND message.conversation_id IN ({_CONVERSATIONS})")
    + ") UNION ALL ("
    + _MATCH.format(
        condition=f"NOT {_MANY} AND message.conversation_id = ANY(ARRAY({_CONVERSATIONS}))"
    )
    + ")"
)
# In one conversation (already checked to be the user's; checked again here all the same).
_CANDIDATES_IN_ONE = _MATCH.format(
    condition=(
        f"message.conversation_id = %(scope)s AND message.conversation_id IN ({_CONVERSATIONS})"
    )
)
# Ranked after the bound (a GIN scan would otherwise rank every match before the newest
# are kept), on the vector the scan read; the keyset; the page's limit + 1 ids; then only
# those messages read again, with their conversation and sender, and the headline for them.
# The rank is float8, not ts_rank_cd's float4: it goes into the cursor and must come back
# exactly equal for the keyset comparison.
_FULL_TEXT = """
SELECT message.id, message.conversation_id, message.seq, message.role, message.created_at,
       message.sender_id, conversation.title, sender.username, sender.display_name,
       best.rank,
       CASE WHEN conversation.kind = 'direct' THEN (
           SELECT COALESCE(NULLIF(peer.display_name, ''), peer.username)
           FROM conversations_participant AS other
           JOIN accounts_user AS peer ON peer.id = other.user_id
           WHERE other.conversation_id = message.conversation_id
             AND other.user_id <> %(user_id)s
           ORDER BY other.joined_at LIMIT 1
       ) ELSE '' END,
       ts_headline(
           %(config)s::regconfig,
           replace(replace(message.content, %(start_mark)s, ''), %(stop_mark)s, ''),
           websearch_to_tsquery(%(config)s::regconfig, %(text)s),
           %(headline_options)s
       )
FROM (
    SELECT ranked.id, ranked.created_at, ranked.rank
    FROM (
        SELECT candidate.id, candidate.created_at,
               ts_rank_cd(candidate.search_vector,
                          websearch_to_tsquery(%(config)s::regconfig, %(text)s),
                          %(normalization)s)::float8 AS rank
        FROM ({candidates}) AS candidate
    ) AS ranked
    {after}
    ORDER BY ranked.rank DESC, ranked.created_at DESC, ranked.id DESC
    LIMIT %(count)s
) AS best
JOIN conversations_message AS message ON message.id = best.id
JOIN conversations_conversation AS conversation ON conversation.id = message.conversation_id
LEFT JOIN accounts_user AS sender ON sender.id = message.sender_id
ORDER BY best.rank DESC, best.created_at DESC, best.id DESC
"""
# A row comparison is the keyset condition of three descending columns.
_AFTER = "WHERE (ranked.rank, ranked.created_at, ranked.id) < (%(rank)s, %(created_at)s, %(id)s)"
_HEADLINE_OPTIONS = (
    f"StartSel={_START_MARK}, StopSel={_STOP_MARK}, MaxWords=30, MinWords=10, "
    f'MaxFragments=2, FragmentDelimiter=" {ELLIPSIS} "'
)


def _loaded(model: type[Model], **values: Any) -> Model:
    """An instance as the ORM loads one under .only(…): the fields not given are deferred,
    read from the database if anything asks for them."""
    row = [values.pop(field.attname, DEFERRED) for field in model._meta.concrete_fields]
    if values:
        raise TypeError(f"{model.__name__} has no fields {sorted(values)}")
    return model.from_db(connection.alias, None, row)


def _full_text_rows(
    user: AbstractBaseUser,
    text: str,
    scope: uuid.UUID | None,
    keyset: tuple | None,
    count: int,
) -> list[tuple[Message, float, str]]:
    """The best `count` of the newest matches after `keyset`: (message with its conversation
    and sender, rank, headline) in page order (PostgreSQL)."""
    sql = _FULL_TEXT.format(
        candidates=_CANDIDATES_EVERYWHERE if scope is None else _CANDIDATES_IN_ONE,
        after=_AFTER if keyset is not None else "",
    )
    params = {
        "config": SEARCH_CONFIG,
        "text": text,
        "user_id": user.pk,
        "scope": scope,
        "candidates": SEARCH_CANDIDATES,
        "walk_offset": WALK_MIN_CONVERSATIONS - 1,
        "normalization": RANK_NORMALIZATION,
        "start_mark": _START_MARK,
        "stop_mark": _STOP_MARK,
        "headline_options": _HEADLINE_OPTIONS,
        "count": count,
    }
    if keyset is not None:
        params.update(zip(("rank", "created_at", "id"), keyset, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for (
        pk,
        conversation_id,
        seq,
        role,
        created_at,
        sender_id,
        title,
        username,
        display_name,
        rank,
        peer,
        headline,
    ) in rows:
        message = _loaded(
            Message,
            id=pk,
            conversation_id=conversation_id,
            seq=seq,
            role=role,
            created_at=created_at,
            sender_id=sender_id,
        )
        message.conversation = _loaded(Conversation, id=conversation_id, title=title)
        # What an untitled direct conversation shows (threads.peer_name, written out).
        message.conversation.peer_name = peer or ""
        message.sender = (
            None
            if sender_id is None
            else _loaded(User, id=sender_id, username=username, display_name=display_name)
        )
        found.append((message, rank, headline))
    return found


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


def _marks_to_html(text: str) -> str:
    """Marked text (the matches between _START_MARK and _STOP_MARK) as HTML: the text
    escaped, each marked match in <mark>…</mark>, a mark left without its pair dropped."""
    html = _PAIRED_MARKS.sub(
        lambda match: HIGHLIGHT_START + match.group(1) + HIGHLIGHT_STOP, escape(text)
    )
    return html.replace(_START_MARK, "").replace(_STOP_MARK, "")


def _highlight_headline(headline: str) -> str:
    """ts_headline's fragments of the Markdown, as plain text (the marks are text to
    markdown_to_text, and kept) with the matches marked."""
    return _marks_to_html(markdown_fragment_to_text(headline))


def _highlight_substring(message: Message, length: int) -> str:
    """The SQLite excerpt: the window around the first match, the match marked in it, then
    as plain text (so a match inside `code` or **bold** is still marked, its markup gone)."""
    excerpt = message.excerpt
    offset = message.match_at - message.excerpt_start
    prefix = ELLIPSIS if message.excerpt_start > 1 else ""
    suffix = ELLIPSIS if message.excerpt_start - 1 + len(excerpt) < message.content_length else ""
    if message.match_at >= 1 and offset >= 0:
        before, match, after = (
            _unmarked(piece)
            for piece in (
                excerpt[:offset],
                excerpt[offset : offset + length],
                excerpt[offset + length :],
            )
        )
        excerpt = f"{before}{_START_MARK}{match}{_STOP_MARK}{after}"
    else:
        excerpt = _unmarked(excerpt)
    text = markdown_fragment_to_text(excerpt)
    return _marks_to_html(prefix + text + suffix if text else "")


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
    them, ranked), ordered by the keyset and cut to limit + 1 rows; on PostgreSQL
    ts_headline runs on those rows only."""
    limit = _check_limit(limit)
    text = clean_search_text(text)
    if not user.is_authenticated:
        return SearchPage(items=[], has_more=False, next_cursor=None)
    ranked = _uses_full_text()
    scope = None
    if conversation_id is not None and conversation_id != "":
        if as_uuid(conversation_id) is None:
            raise InvalidInput("conversation_id", "conversation_id must be a UUID.")
        scope = conversation_get_for_user(user=user, conversation_id=conversation_id).pk

    kind = _cursor_kind(text, scope)
    keyset = _decode_keyset(kind, cursor, ranked=ranked) if cursor else None
    if ranked:
        found = _full_text_rows(user, text, scope, keyset, limit + 1)
        has_more = len(found) > limit
        items = [
            SearchHit(message=message, rank=rank, excerpt_html=_highlight_headline(headline))
            for message, rank, headline in found[:limit]
        ]
    else:
        order = ("created_at", "id")
        messages = _readable_messages(user)
        if scope is not None:
            messages = messages.filter(conversation_id=scope)
        messages = _substring(messages, text).annotate(peer_name=peer_name(user))
        if keyset is not None:
            messages = messages.filter(_after(order, keyset))
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
        found = list(messages[: limit + 1])
        for row in found:
            row.conversation.peer_name = row.peer_name or ""
        has_more = len(found) > limit
        items = [
            SearchHit(message=row, rank=None, excerpt_html=_highlight_substring(row, len(text)))
            for row in found[:limit]
        ]
    next_cursor = None
    if has_more and items:
        last = items[-1]
        key = [last.created_at.isoformat(), str(last.id)]
        next_cursor = encode_cursor(kind, [last.rank, *key] if ranked else key)
    return SearchPage(items=items, has_more=has_more, next_cursor=next_cursor)
