"""Writes to messages: posting (seq, idempotency, counters), editing, deleting, the parts
and artifacts of an assistant turn, and its usage."""

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt
from pydantic import ValidationError as PydanticValidationError

from conversations.exceptions import (
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from conversations.models import (
    CLIENT_MESSAGE_ID_MAX_LENGTH,
    CONTENT_MAX_LENGTH,
    FINISH_REASON_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Agent,
    Artifact,
    ArtifactKind,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Message,
    MessageErrorType,
    MessagePart,
    MessageRevision,
    MessageRole,
    MessageStatus,
    Participant,
    PartType,
)

from . import quotas
from .conversations import (
    active_participant,
    conversation_create,
    lock_conversation,
    lock_participation,
    lock_row,
)
from .events import event_ctes_sql, event_params, event_record, event_signal, message_summary

# --- text from elsewhere ---------------------------------------------------------------------

# What no database here stores: NUL (PostgreSQL refuses it in text and in JSON) and lone
# UTF-16 surrogates (which a JSON "\ud800" escape decodes to, and no driver can encode).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """Text that came from elsewhere (a model server), as the database can store it: NUL
    dropped, a surrogate pair joined, a lone surrogate made U+FFFD. Upstream text is not ours
    to refuse, and one bad character must not cost the turn."""
    if not _UNSTORABLE.search(text):
        return text
    text = text.replace("\x00", "")
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def storable_json(value: Any) -> Any:
    """storable_text for every string of a JSON value, keys included."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


# --- meta ------------------------------------------------------------------------------------


class Extraction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: str = Field(min_length=1, max_length=100)
    value: Any


class MessageMeta(BaseModel):
    """The known keys of Message.meta; any other key is kept as it came."""

    model_config = ConfigDict(extra="allow", strict=True)
    tokens: NonNegativeInt | dict[str, NonNegativeInt] | None = None
    model: str | None = Field(default=None, max_length=200)
    latency_ms: NonNegativeInt | float | None = Field(default=None, ge=0)
    extractions: list[Extraction] | None = None


META_MAX_BYTES = 64 * 1024


def _is_union_tag(location_part: str | int) -> bool:
    """Pydantic puts the union branch tried ("int", "dict[str,int]") in an error's path."""
    return isinstance(location_part, str) and location_part in _UNION_TAGS


_UNION_TAGS = {
    "int",
    "float",
    "constrained-int",
    "constrained-float",
    "str",
    "dict[str,constrained-int]",
    "dict[str,int]",
}


def validate_message_meta(meta: Any) -> dict:
    """Check meta against MessageMeta; the error names the field, e.g. meta.extractions.0.type."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidInput("meta", "meta must be a JSON object.")
    try:
        MessageMeta.model_validate(meta)
    except PydanticValidationError as error:
        first = error.errors()[0]
        location = ".".join(
            str(part) for part in ("meta", *first["loc"]) if not _is_union_tag(part)
        )
        raise InvalidInput(location, f"{location}: {first['msg']}") from None
    try:
        size = len(json.dumps(meta))
    except (TypeError, ValueError):
        raise InvalidInput("meta", "meta must be plain JSON.") from None
    if size > META_MAX_BYTES:
        raise InvalidInput("meta", f"meta is at most {META_MAX_BYTES} bytes of JSON.")
    return meta


# --- posting ---------------------------------------------------------------------------------


def check_count(field: str, value: Any, *, optional: bool = True) -> None:
    """A non-negative integer (not a bool), or None when optional."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(field, f"{field} must be a non-negative integer.")


def clean_content(content: Any, *, field: str = "content") -> str:
    if not isinstance(content, str):
        raise InvalidInput(field, "content must be text.")
    if not content.strip():
        raise InvalidInput(field, gettext("A message cannot be empty."))
    if len(content) > CONTENT_MAX_LENGTH:
        raise InvalidInput(
            field,
            gettext("A message is at most %(count)s characters.")
            % {"count": number_format(CONTENT_MAX_LENGTH, force_grouping=True)},
        )
    if "\x00" in content:
        raise InvalidInput(field, gettext("A message cannot contain NUL characters."))
    return content


def clean_client_message_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.isprintable() or not value.strip():
        raise InvalidInput("client_message_id", "client_message_id must be printable text.")
    if len(value) > CLIENT_MESSAGE_ID_MAX_LENGTH:
        raise InvalidInput(
            "client_message_id",
            f"client_message_id is at most {CLIENT_MESSAGE_ID_MAX_LENGTH} characters.",
        )
    return value


def titled_by_first_message(conversation: Conversation) -> bool:
    """An untitled group or assistant conversation takes its first message's first line as
    its title. A direct conversation does not: untitled, it shows each of the two people
    the other's name (Conversation.display_title), where the first message's text had
    named it for both (and the one-statement post on PostgreSQL says the same in SQL)."""
    return conversation.kind != ConversationKind.DIRECT


def derive_title(content: str) -> str:
    """A title from the first message: its first line, whitespace folded, cut at a word."""
    first_line = next((line for line in content.splitlines() if line.strip()), "")
    text = " ".join(first_line.split())
    if len(text) <= TITLE_MAX_LENGTH:
        return text
    cut = text[: TITLE_MAX_LENGTH - 1].rsplit(" ", 1)[0] or text[: TITLE_MAX_LENGTH - 1]
    return cut + "…"


def line_tail(conversation_id: Any, line: int) -> tuple[Any, int]:
    """The newest message of a line, as (id, position); (None, 0) before the first."""
    newest = (
        Message.objects.filter(conversation_id=conversation_id, line=line)
        .order_by("-position")
        .values_list("pk", "position")
        .first()
    )
    return newest or (None, 0)


def append_message(
    conversation: Conversation,
    message: Message,
    *,
    line: int = 0,
    version_of: Message | None = None,
    version: int = 1,
) -> Message:
    """Give `message` the next seq of the locked `conversation`, the next position of
    `line` (after that line's newest message, its parent), and move the counters; or, as
    version number `version` of the turn of `version_of`, that message's position and
    parent on `line` (a line just made for it: services.versions).

    The caller holds the row lock (select_for_update), so neither seq = message_count + 1
    nor the line's next position can be taken twice, and the UPDATE below commits with the
    INSERT or not at all.
    """
    message.conversation = conversation
    message.seq = conversation.message_count + 1
    message.line = line
    if version_of is None:
        message.parent_id, newest = line_tail(conversation.pk, line)
        message.position = newest + 1
    else:
        message.parent_id, message.position = version_of.parent_id, version_of.position
        message.version = version
    message.save(force_insert=True)
    updates: dict[str, Any] = {
        "message_count": F("message_count") + 1,
        # The conversation's activity is exactly its newest message's time.
        "last_activity_at": message.created_at,
        "updated_at": message.created_at,
    }
    if (
        message.seq == 1
        and not conversation.title
        and message.content.strip()
        and titled_by_first_message(conversation)
    ):
        updates["title"] = derive_title(message.content)
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    conversation.message_count = message.seq
    conversation.last_activity_at = message.created_at
    conversation.title = updates.get("title", conversation.title)
    return message


# The columns the one-statement post computes itself, from the locked conversation row.
_POST_COMPUTED = {
    "seq": "writable.seq",
    "line": "writable.line",
    "position": "writable.position",
    "parent": "writable.parent_id",
    "created_at": "writable.at",
    "updated_at": "writable.at",
    "completed_at": "writable.at",
}

_POST_SQL = """
WITH locked AS (
    SELECT c.id, c.status, c.deleted_at, c.message_count, c.updated_at, p.id AS participant_id,
        p.line
    FROM conversations_conversation c
    JOIN conversations_participant p
        ON p.conversation_id = c.id AND p.user_id = %s AND p.left_at IS NULL
    WHERE c.id = %s
    FOR UPDATE OF c
), writable AS (
    -- Never earlier than the row's last change: a join that committed while this post
    -- waited for the lock is before the message (the replay's joined_at rule). It goes
    -- after the newest message of the line the poster is shown (its parent).
    SELECT participant_id, message_count + 1 AS seq, GREATEST(%s::timestamptz, updated_at) AS at,
        locked.line, COALESCE(tail.position, 0) + 1 AS position, tail.id AS parent_id
    FROM locked
    -- A function with a snapshot of its own, taken once the lock is granted (migration
    -- 0016): this statement's snapshot, taken before, misses a post that committed
    -- meanwhile.
    CROSS JOIN LATERAL conversations_line_tail(locked.id, locked.line) tail
    WHERE deleted_at IS NULL AND status <> 'completed'
), posted AS (
    INSERT INTO conversations_message ({columns}) SELECT {values} FROM writable
    ON CONFLICT (conversation_id, sender_id, client_message_id)
        WHERE client_message_id IS NOT NULL DO NOTHING
    RETURNING id, seq, position, line, parent_id, created_at
), counted AS (
    UPDATE conversations_conversation c
    SET message_count = posted.seq, last_activity_at = posted.created_at,
        updated_at = posted.created_at,
        title = CASE WHEN posted.seq = 1 AND c.title = '' AND c.kind <> 'direct' THEN %s
                ELSE c.title END
    FROM posted WHERE c.id = %s
    RETURNING c.title
), marked AS (
    UPDATE conversations_participant p SET last_read_seq = posted.seq
    FROM posted, writable WHERE p.id = writable.participant_id
), {event}
SELECT
    (SELECT count(*) FROM locked),
    (SELECT status FROM locked),
    (SELECT deleted_at IS NOT NULL FROM locked),
    (SELECT seq FROM posted),
    (SELECT position FROM posted),
    (SELECT line FROM posted),
    (SELECT parent_id FROM posted),
    (SELECT created_at FROM posted),
    (SELECT title FROM counted),
    (SELECT id FROM notified)
"""


@dataclass(frozen=True)
class _PostOutcome:
    found: bool  # the sender takes part in the conversation
    status: str
    deleted: bool
    seq: int | None  # None: nothing written
    position: int | None
    line: int | None
    parent_id: Any
    created_at: datetime | None


@functools.cache
def _post_statement() -> tuple[str, list]:
    """_POST_SQL for this schema, and the Message fields whose values it takes (the same
    for every post: built once)."""
    columns, values, bound = [], [], []
    for field in Message._meta.concrete_fields:
        if getattr(field, "generated", False):
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in _POST_COMPUTED:
            values.append(_POST_COMPUTED[field.name])
        else:
            # Typed: an untyped parameter in a SELECT list would be taken as text.
            values.append(f"%s::{field.cast_db_type(connection)}")
            bound.append(field)
    event = event_ctes_sql(
        source="FROM posted",
        data_more=(
            " || jsonb_build_object('seq', posted.seq, 'position', posted.position,"
            " 'line', posted.line)"
        ),
        time="posted.created_at",
    )
    # The parts are Django's column names and types, and constants; values are parameters.
    sql = _POST_SQL.format(columns=", ".join(columns), values=", ".join(values), event=event)
    return sql, bound


def _post_on_postgres(message: Message, *, conversation_id, title: str) -> _PostOutcome:
    """Lock the conversation, append a human message, move the counters and the poster's
    read marker, and record and announce its event, in one statement (one round trip; the
    ORM takes six). It writes nothing when the sender is not a participant, the
    conversation is deleted or completed, or the sender's client_message_id is taken (ON
    CONFLICT: a retry that committed first); the outcome says which."""
    sql, bound = _post_statement()
    summary = {
        key: value
        for key, value in message_summary(message).items()
        if key not in ("seq", "position", "line")
    }
    params = [
        message.sender_id,
        conversation_id,
        message.created_at,
        *(field.get_db_prep_save(field.pre_save(message, True), connection) for field in bound),
        title,
        conversation_id,
        *event_params(conversation_id=conversation_id, type="message.created", data=summary),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found, status, deleted, seq, position, line, parent, created_at, _, _ = cursor.fetchone()
    return _PostOutcome(found > 0, status, bool(deleted), seq, position, line, parent, created_at)


def same_client_message(
    conversation: Conversation, sender, client_message_id: str, content: str, reply_to
) -> Message | None:
    """The sender's message with this client_message_id, if any; IdempotencyConflict if it
    says something else."""
    existing = Message.objects.filter(
        conversation=conversation, sender=sender, client_message_id=client_message_id
    ).first()
    if existing is not None and (
        existing.content != content or (reply_to and existing.reply_to_id != reply_to.pk)
    ):
        raise IdempotencyConflict(
            "This client_message_id was used for a different message.",
            details={"field": "client_message_id", "message_id": str(existing.pk)},
        )
    return existing


def check_open(conversation: Conversation) -> None:
    if conversation.is_deleted:
        raise NotFound(gettext("No such conversation."))
    if conversation.status == ConversationStatus.COMPLETED:
        raise Conflict(gettext("This conversation is completed; reopen it to post."))


def message_post(
    *,
    conversation: Conversation,
    sender: AbstractBaseUser,
    content: str,
    client_message_id: str | None = None,
    reply_to: Message | None = None,
    meta: dict | None = None,
) -> tuple[Message, bool]:
    """Post a user's message. Returns (message, created).

    The same client_message_id from the same sender returns the first message (created is
    False); with other content it raises IdempotencyConflict.
    """
    content = clean_content(content)
    client_message_id = clean_client_message_id(client_message_id)
    meta = validate_message_meta(meta)
    if reply_to is not None and reply_to.conversation_id != conversation.pk:
        raise InvalidInput(
            "reply_to_id", gettext("A reply must be to a message of the same conversation.")
        )
    now = timezone.now()
    message = Message(
        conversation_id=conversation.pk,
        role=MessageRole.USER,
        status=MessageStatus.COMPLETE,
        sender=sender,
        content=content,
        client_message_id=client_message_id,
        reply_to=reply_to,
        meta=meta,
        created_at=now,
        completed_at=now,
    )
    if connection.vendor != "postgresql":
        return _post_with_the_orm(message, conversation, sender)
    outcome = _post_on_postgres(
        message, conversation_id=conversation.pk, title=derive_title(content)
    )
    if outcome.seq is not None:
        message.seq = outcome.seq
        message.position, message.line = outcome.position, outcome.line
        message.parent_id = outcome.parent_id
        message.created_at = message.updated_at = message.completed_at = outcome.created_at
        message._state.adding = False
        message.parts_list = []  # a person's message has none: nothing to read for them
        return message, True
    # Nothing written: say why (these reads happen only then).
    if not outcome.found or outcome.deleted:
        raise NotFound(gettext("No such conversation."))
    if client_message_id is not None:
        existing = same_client_message(conversation, sender, client_message_id, content, reply_to)
        if existing is not None:
            return existing, False
    raise Conflict(gettext("This conversation is completed; reopen it to post."))


@transaction.atomic
def _post_with_the_orm(
    message: Message, conversation: Conversation, sender: AbstractBaseUser
) -> tuple[Message, bool]:
    """message_post where statements cannot hold CTEs that write (SQLite): the same steps,
    one query each, under the conversation's lock."""
    participant = lock_participation(conversation, sender)
    conversation = participant.conversation
    if message.client_message_id is not None:
        # Under the lock, a concurrent retry has either committed its message or not begun.
        existing = same_client_message(
            conversation, sender, message.client_message_id, message.content, message.reply_to
        )
        if existing is not None:
            return existing, False
    check_open(conversation)
    append_message(conversation, message, line=participant.line)
    # One's own message is read.
    Participant.objects.filter(pk=participant.pk).update(last_read_seq=message.seq)
    announce_message(message, "message.created")
    message.parts_list = []
    return message, True


def _started_with(creator: AbstractBaseUser, client_message_id: str) -> Conversation | None:
    return Conversation.objects.filter(
        created_by=creator, first_client_message_id=client_message_id
    ).first()


@transaction.atomic
def conversation_create_with_message(
    *,
    creator: AbstractBaseUser,
    content: str,
    client_message_id: str | None = None,
    **conversation: Any,
) -> tuple[Conversation, Message, bool]:
    """Start a conversation with its first message, in one transaction: a New chat's first
    send (docs/ui.md), or POST /conversations with `message`. `conversation` is
    conversation_create's other arguments (kind, title, workspace, agent, participants…).
    Returns (conversation, message, created), `created` saying that the conversation is new.

    Nothing is made when the content or any of the conversation's fields is refused. The
    client_message_id makes it idempotent: the conversation the creator started with that
    key (Conversation.first_client_message_id, unique per creator) is found instead of
    making a second one, and its message returned (IdempotencyConflict for other content):
    a double submit, or the outbox sending again after a lost answer. A direct
    conversation that already exists with that person gets the message.
    """
    content = clean_content(content)
    client_message_id = clean_client_message_id(client_message_id)
    started = _started_with(creator, client_message_id) if client_message_id else None
    created = False
    if started is None:
        try:
            with transaction.atomic():
                started, created = conversation_create(
                    creator=creator, first_client_message_id=client_message_id, **conversation
                )
        except IntegrityError:
            # The same start sent twice at once: the other one committed first.
            started = _started_with(creator, client_message_id) if client_message_id else None
            if started is None:
                raise
    message, _ = message_post(
        conversation=started, sender=creator, content=content, client_message_id=client_message_id
    )
    return started, message, created


@transaction.atomic
def assistant_message_start(
    *,
    conversation: Conversation,
    agent: Agent | None,
    model: str = "",
    reply_to: Message | None = None,
    status: str = MessageStatus.STREAMING,
    line: int = 0,
    version_of: Message | None = None,
    version: int = 1,
    locked: bool = False,
    client_message_id: str | None = None,
    meta: dict | None = None,
) -> Message:
    """The assistant's turn, appended empty (pending or streaming) before the first token,
    so that its place in the thread is fixed and a crash leaves a visible record: at the
    end of `line`, or as a new version of `version_of`'s turn (see append_message)."""
    if status not in (MessageStatus.PENDING, MessageStatus.STREAMING):
        raise InvalidInput("status", "An assistant turn starts pending or streaming.")
    if not locked:
        conversation = lock_conversation(conversation)
    check_open(conversation)
    if reply_to is not None and reply_to.conversation_id != conversation.pk:
        raise InvalidInput(
            "reply_to_id", gettext("A reply must be to a message of the same conversation.")
        )
    message = append_message(
        conversation,
        Message(
            role=MessageRole.ASSISTANT,
            status=status,
            agent=agent,
            provider=agent.provider if agent else "",
            model=model or (agent.model if agent else ""),
            reply_to=reply_to,
            client_message_id=client_message_id,
            meta=meta or {},
        ),
        line=line,
        version_of=version_of,
        version=version,
    )
    announce_message(message, "message.created")
    return message


def announce_message(message: Message, type: str) -> None:
    event_record(conversation_id=message.conversation_id, type=type, data=message_summary(message))


@dataclass(frozen=True)
class Usage:
    """What an upstream reported for one assistant turn."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        for name in (
            "prompt_tokens",
            "completion_tokens",
            "cached_input_tokens",
            "reasoning_tokens",
        ):
            check_count(name, getattr(self, name), optional=False)


def _lock_message(message: Message) -> Message:
    return lock_row(message, missing=gettext("No such message."))


@transaction.atomic
def message_record_usage(*, message: Message, usage: Usage) -> Message:
    """Set an assistant message's token usage and move the conversation totals by the
    difference, so that recording the same turn twice does not count it twice."""
    message = _lock_message(message)
    if message.role != MessageRole.ASSISTANT:
        raise InvalidInput("message", "Only assistant turns have token usage.")

    def delta(new: int, old: int | None) -> int:
        return new - (old or 0)

    Conversation.objects.filter(pk=message.conversation_id).update(
        total_input_tokens=F("total_input_tokens")
        + delta(usage.prompt_tokens, message.prompt_tokens),
        total_output_tokens=F("total_output_tokens")
        + delta(usage.completion_tokens, message.completion_tokens),
        total_cached_tokens=F("total_cached_tokens")
        + delta(usage.cached_input_tokens, message.cached_input_tokens),
        total_reasoning_tokens=F("total_reasoning_tokens")
        + delta(usage.reasoning_tokens, message.reasoning_tokens),
    )
    message.prompt_tokens = usage.prompt_tokens
    message.completion_tokens = usage.completion_tokens
    message.total_tokens = usage.prompt_tokens + usage.completion_tokens
    message.cached_input_tokens = usage.cached_input_tokens
    message.reasoning_tokens = usage.reasoning_tokens
    message.save(
        update_fields=[
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cached_input_tokens",
            "reasoning_tokens",
            "updated_at",
        ]
    )
    return message


@transaction.atomic
def assistant_message_finish(
    *,
    message: Message,
    content: str,
    status: str = MessageStatus.COMPLETE,
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    error: str = "",
    error_type: str = "",
    error_details: dict | None = None,
    is_aborted: bool = False,
    finish_reason: str = "",
) -> Message:
    """Close an assistant turn: its final text and timing, or the error that ended it, and
    why the model server said it stopped (`finish_reason`: stop, length, tool_calls …).
    A turn ends once: finishing it again (say, after an abort) raises Conflict."""
    if status not in (MessageStatus.COMPLETE, MessageStatus.ERROR):
        raise InvalidInput("status", "An assistant turn ends complete or in error.")
    if status == MessageStatus.ERROR and not error_type:
        raise InvalidInput("error_type", "An errored turn needs an error_type.")
    if error_type and error_type not in MessageErrorType.values:
        raise InvalidInput(
            "error_type", f"error_type must be one of {', '.join(MessageErrorType.values)}."
        )
    if not isinstance(content, str):
        raise InvalidInput("content", "content must be text.")
    check_count("latency_ms", latency_ms)
    check_count("ttft_ms", ttft_ms)
    message = _lock_message(message)
    if message.role != MessageRole.ASSISTANT:
        raise InvalidInput("message", "Only assistant turns are finished this way.")
    if message.status not in (MessageStatus.PENDING, MessageStatus.STREAMING):
        raise Conflict("This assistant turn has already ended.")
    # Upstream text (an answer, an error body) is not ours to refuse: made storable.
    message.content = storable_text(content)
    message.status = status
    message.completed_at = timezone.now()
    message.latency_ms = latency_ms
    message.ttft_ms = ttft_ms
    message.error = storable_text(error)
    message.error_type = error_type
    message.error_details = storable_json(error_details or {})
    message.is_aborted = is_aborted
    message.finish_reason = storable_text(finish_reason)[:FINISH_REASON_MAX_LENGTH]
    message.save(
        update_fields=[
            "content",
            "status",
            "completed_at",
            "latency_ms",
            "ttft_ms",
            "error",
            "error_type",
            "error_details",
            "is_aborted",
            "finish_reason",
            "updated_at",
        ]
    )
    announce_message(message, "message.completed")
    return message


@transaction.atomic
def message_part_add(
    *,
    message: Message,
    type: str,
    content: dict | None = None,
    step_index: int = 0,
    tool_name: str = "",
    tool_call_id: str = "",
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    tool_duration_ms: int | None = None,
) -> MessagePart:
    """Append a part to a message. A tool call counts toward the conversation's
    tool_counts; a tool result's duration toward its total_tool_time_ms."""
    if type not in PartType.values:
        raise InvalidInput("type", f"Part type must be one of {', '.join(PartType.values)}.")
    content = content if content is not None else {}
    if not isinstance(content, dict):
        raise InvalidInput("content", "A part's content must be a JSON object.")
    if type in (PartType.TOOL_CALL, PartType.TOOL_RESULT) and not tool_name:
        raise InvalidInput("tool_name", "A tool call or result names its tool.")
    check_count("tool_duration_ms", tool_duration_ms)
    check_count("step_index", step_index, optional=False)
    if tool_duration_ms is not None and type != PartType.TOOL_RESULT:
        raise InvalidInput("tool_duration_ms", "Only a tool result has a tool duration.")
    tool_name, tool_call_id = storable_text(tool_name), storable_text(tool_call_id)
    message = _lock_message(message)
    index = message.parts.count()
    part = MessagePart.objects.create(
        message=message,
        index=index,
        step_index=step_index,
        type=type,
        # Parts carry upstream text (an answer, its reasoning, a tool call's arguments).
        content=storable_json(content),
        tool_name=tool_name,
        tool_call_id=tool_call_id,
        started_at=started_at,
        completed_at=completed_at,
        tool_duration_ms=tool_duration_ms,
    )
    if type == PartType.TOOL_CALL or tool_duration_ms:
        conversation = lock_conversation(message.conversation)
        if type == PartType.TOOL_CALL:
            counts = dict(conversation.tool_counts)
            counts[tool_name] = counts.get(tool_name, 0) + 1
            conversation.tool_counts = counts
        conversation.total_tool_time_ms += tool_duration_ms or 0
        conversation.save(update_fields=["tool_counts", "total_tool_time_ms", "updated_at"])
    return part


ARTIFACT_MAX_BYTES = 50 * 1024 * 1024


@transaction.atomic
def artifact_create(
    *,
    part: MessagePart,
    kind: str,
    data: bytes,
    path: str = "",
    mime: str = "",
    owner: AbstractBaseUser | None = None,
) -> Artifact:
    """Store a file an assistant turn produced, with its size and SHA-256, counted against
    `owner`'s storage quota (by default the conversation's creator): TooLarge over it."""
    if kind not in ArtifactKind.values:
        raise InvalidInput(
            "kind", f"Artifact kind must be one of {', '.join(ArtifactKind.values)}."
        )
    if not isinstance(data, bytes):
        raise InvalidInput("data", "An artifact's data must be bytes.")
    if len(data) > ARTIFACT_MAX_BYTES:
        raise InvalidInput("data", f"An artifact is at most {ARTIFACT_MAX_BYTES} bytes.")
    if len(path) > 500:
        raise InvalidInput("path", "An artifact path is at most 500 characters.")
    if len(mime) > 100:
        raise InvalidInput("mime", "A MIME type is at most 100 characters.")
    # Lock the part so that two artifacts for it cannot both pass the check below.
    MessagePart.objects.select_for_update().filter(pk=part.pk).first()
    if Artifact.objects.filter(part=part).exists():
        raise Conflict("This part already has an artifact.")
    if owner is None:
        owner = part.message.conversation.created_by
    if owner is not None:
        quotas.storage_check(owner, len(data))
    artifact = Artifact(
        part=part,
        kind=kind,
        path=path,
        mime=mime,
        owner=owner,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    filename = path.rsplit("/", 1)[-1] or "artifact"
    artifact.file.save(filename, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            artifact.save(force_insert=True)
    except Exception:
        # No row, no file. (If an outer transaction rolls back later, the file is left
        # behind for the storage sweep; the database never points at a missing file.)
        artifact.file.storage.delete(artifact.file.name)
        raise
    return artifact


# --- editing and deleting --------------------------------------------------------------------


def _own_message(message: Message, actor: AbstractBaseUser) -> Message:
    message = _lock_message(message)
    conversation = message.conversation
    if conversation.is_deleted:
        raise NotFound(gettext("No such message."))
    try:
        active_participant(conversation, actor)
    except NotFound:
        raise NotFound(gettext("No such message.")) from None
    if message.sender_id != actor.pk:
        raise PermissionDenied(gettext("Only its author can change a message."))
    if message.deleted_at is not None or message.hidden_at is not None:
        raise NotFound(gettext("No such message."))
    return message


@transaction.atomic
def message_edit(*, message: Message, actor: AbstractBaseUser, content: str) -> Message:
    """The author rewrites their message; edited_at tells others it changed. The text it
    replaces is kept as the message's next revision (MessageRevision 1, 2, 3 …), in the
    same transaction; sending the same text again changes nothing and keeps nothing.

    The message's row is locked (_own_message) before its revisions are counted, so two
    edits at once queue: each keeps the text the other left, and no number is taken twice."""
    content = clean_content(content)
    message = _own_message(message, actor)
    if message.content != content:
        now = timezone.now()
        MessageRevision.objects.create(
            message=message,
            number=(message.revisions.aggregate(last=Max("number"))["last"] or 0) + 1,
            content=message.content,
            created_at=now,
        )
        message.content = content
        message.edited_at = now
        message.save(update_fields=["content", "edited_at", "updated_at"])
        announce_message(message, "message.updated")
    return message


@transaction.atomic
def message_delete(*, message: Message, actor: AbstractBaseUser) -> Message:
    """The author deletes their message: it keeps its place in the thread, without content
    for readers; the text stays stored until the conversation is purged."""
    message = _own_message(message, actor)
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at", "updated_at"])
    announce_message(message, "message.updated")
    return message


# --- a generation's life ---------------------------------------------------------------------

GENERATING = (MessageStatus.PENDING, MessageStatus.STREAMING)


def assistant_message_progress(*, message_id: Any, content: str) -> bool:
    """Save the text streamed so far (one UPDATE, also the generation's heartbeat). False
    when the turn was stopped meanwhile (aborted, or marked interrupted): stop generating."""
    saved = Message.objects.filter(pk=message_id, status__in=GENERATING, is_aborted=False).update(
        content=storable_text(content),
        status=MessageStatus.STREAMING,
        updated_at=timezone.now(),
    )
    return saved == 1


@transaction.atomic
def assistant_message_abort(*, message: Message, actor: AbstractBaseUser) -> Message:
    """Ask the generation of this turn to stop, from any process: the flag is seen at its
    next save, and a signal reaches the generating process at once. The caller checked that
    the actor takes part in the conversation."""
    message = _lock_message(message)
    if message.role != MessageRole.ASSISTANT or message.status not in GENERATING:
        raise Conflict(gettext("This assistant turn is not being generated."))
    if not message.is_aborted:
        message.is_aborted = True
        message.save(update_fields=["is_aborted", "updated_at"])
        event_signal({"type": "_abort", "message_id": str(message.pk)})
    return message


def assistant_messages_interrupt_stale(*, older_than_seconds: int) -> int:
    """Turns left pending or streaming by a process that died: no save for longer than a
    live generation ever waits between saves. Each is closed as error/interrupted with the
    text it had. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Message.objects.filter(status__in=GENERATING, updated_at__lt=cutoff).values_list(
        "pk", flat=True
    )
    closed = 0
    for message_id in list(stale[:1000]):
        try:
            assistant_message_finish(
                message=Message(pk=message_id),
                content=Message.objects.values_list("content", flat=True).get(pk=message_id),
                status=MessageStatus.ERROR,
                error="The server stopped while this reply was being written.",
                error_type=MessageErrorType.INTERRUPTED,
            )
            closed += 1
        except (Conflict, Message.DoesNotExist):
            continue  # finished or gone meanwhile
    return closed
