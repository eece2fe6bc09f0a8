"""Reads of conversations and threads: one conversation, the sidebar, a page of messages."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf, Substr

from conversations.exceptions import InvalidInput, NotFound
from conversations.markdown import markdown_to_text
from conversations.models import (
    Artifact,
    Conversation,
    ConversationKind,
    Line,
    Message,
    MessagePart,
    Participant,
)
from conversations.models.messages import MessageVisibility

from .paths import Path, path_annotations, tail_of, version_counts

EXCERPT_LENGTH = 200
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _pk_for(user: AbstractBaseUser, value: Any, *, missing: str) -> uuid.UUID:
    """The id asked for, as a UUID; NotFound(`missing`) for one that cannot be an id, or
    for a caller who is not signed in (nothing is anyone's but a user's)."""
    pk = as_uuid(value)
    if pk is None or not user.is_authenticated:
        raise NotFound(missing)
    return pk


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}.")
    return limit


def peer_name(user: AbstractBaseUser):
    """For the rows of a query over a conversation's rows (participations, messages: their
    `conversation_id`), the name of the person on the other side of a direct conversation
    from `user` (their display name, else their username), "" for the other kinds: what
    an untitled direct conversation is called for that viewer. A subquery of the row, so a
    page of rows stays one query."""
    others = (
        Participant.objects.filter(conversation_id=OuterRef("conversation_id"))
        .exclude(user_id=user.pk)
        .order_by("joined_at")
        .values(name=Coalesce(NullIf("user__display_name", Value("")), "user__username"))[:1]
    )
    return Case(
        When(conversation__kind=ConversationKind.DIRECT, then=Subquery(others)),
        default=Value(""),
        output_field=CharField(),
    )


def conversation_get_for_user(
    *, user: AbstractBaseUser, conversation_id: Any, deleted: bool = False
) -> Conversation:
    """The conversation if `user` takes part in it now; from the trash with deleted=True.
    Carries `.participant`: the user's own participation (role, pin, read marker)."""
    pk = _pk_for(user, conversation_id, missing="No such conversation.")
    participant = (
        Participant.objects.filter(
            user=user,
            left_at__isnull=True,
            conversation_id=pk,
            conversation__deleted_at__isnull=not deleted,
        )
        .select_related("conversation", "conversation__agent", "conversation__workspace")
        .annotate(peer_name=peer_name(user), **path_annotations())
        .order_by()
        .first()
    )
    if participant is None:
        raise NotFound("No such conversation.")
    conversation = participant.conversation
    conversation.participant = participant
    conversation.peer_name = participant.peer_name or ""
    # The path through the versions this person is shown (selectors.paths).
    conversation.path = Path.of(
        participant.line,
        participant.path_ancestry,
        participant.path_tail,
        linear=conversation.line_count == 0,
    )
    return conversation


def user_can_see_conversation(*, user: AbstractBaseUser, conversation_id: Any) -> bool:
    pk = as_uuid(conversation_id)
    if pk is None or not user.is_authenticated:
        return False
    return Conversation.objects.alive().visible_to(user).filter(pk=pk).exists()


# --- the sidebar ------------------------------------------------------------------------------


@dataclass(slots=True)
class UserRef:
    id: uuid.UUID
    username: str
    display_name: str

    @property
    def name(self) -> str:
        return self.display_name or self.username


@dataclass(slots=True)
class AgentRef:
    id: uuid.UUID
    name: str
    slug: str


@dataclass(slots=True)
class LastMessage:
    id: uuid.UUID
    seq: int
    role: str
    sender: UserRef | None
    is_visible: bool
    excerpt: str  # empty when the message is deleted or hidden
    created_at: datetime


@dataclass(slots=True)
class ConversationListItem:
    """One sidebar row: the conversation, the caller's own view of it and its last message,
    as plain values (no model instances: a page of them is read in one query)."""

    id: uuid.UUID
    kind: str
    title: str
    agent: AgentRef | None
    status: str
    last_activity_at: datetime
    message_count: int
    pinned_at: datetime | None
    archived_at: datetime | None
    last_read_seq: int
    last_message: LastMessage | None
    peer_name: str = ""  # a direct conversation's other person (selectors.peer_name)

    @property
    def display_title(self) -> str:
        """As Conversation.display_title: the title, else the other person's name."""
        return self.title or self.peer_name

    @property
    def unread_count(self) -> int:
        return max(self.message_count - self.last_read_seq, 0)


@dataclass
class ConversationListPage:
    items: list[ConversationListItem]
    has_more: bool
    # The keyset (last_activity_at, id) to pass as `after` for the next page.
    next_key: tuple[datetime, uuid.UUID] | None


# The columns of a sidebar row, from the participation, its conversation, the conversation's
# agent and its last message ("last": the message whose seq is the message_count).
_LIST_COLUMNS = (
    "conversation_id",
    "conversation__kind",
    "conversation__title",
    "conversation__status",
    "conversation__last_activity_at",
    "conversation__message_count",
    "conversation__agent__id",
    "conversation__agent__name",
    "conversation__agent__slug",
    "pinned_at",
    "archived_at",
    "last_read_seq",
    "last__id",
    "last__seq",
    "last__role",
    "last__created_at",
    "last__deleted_at",
    "last__hidden_at",
    "last__sender__id",
    "last__sender__username",
    "last__sender__display_name",
    "last_excerpt",
    "peer_name",
)


def _list_item(row: dict) -> ConversationListItem:
    last_message = None
    if row["last__id"] is not None:
        visible = row["last__deleted_at"] is None and row["last__hidden_at"] is None
        sender_id = row["last__sender__id"]
        last_message = LastMessage(
            id=row["last__id"],
            seq=row["last__seq"],
            role=row["last__role"],
            sender=UserRef(
                sender_id, row["last__sender__username"], row["last__sender__display_name"]
            )
            if sender_id
            else None,
            is_visible=visible,
            # Its opening as plain text: a preview shows words, not Markdown.
            excerpt=markdown_to_text(row["last_excerpt"]) if visible else "",
            created_at=row["last__created_at"],
        )
    agent_id = row["conversation__agent__id"]
    return ConversationListItem(
        id=row["conversation_id"],
        kind=row["conversation__kind"],
        title=row["conversation__title"],
        agent=AgentRef(agent_id, row["conversation__agent__name"], row["conversation__agent__slug"])
        if agent_id
        else None,
        status=row["conversation__status"],
        last_activity_at=row["conversation__last_activity_at"],
        message_count=row["conversation__message_count"],
        pinned_at=row["pinned_at"],
        archived_at=row["archived_at"],
        last_read_seq=row["last_read_seq"],
        last_message=last_message,
        peer_name=row["peer_name"] or "",
    )


def conversation_list_for_user(
    *,
    user: AbstractBaseUser,
    archived: bool | None = False,
    pinned: bool | None = None,
    kind: str | None = None,
    workspace_slug: str | None = None,
    title_query: str | None = None,
    deleted: bool = False,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> ConversationListPage:
    """The user's conversations by last activity, newest first, with unread counts and the
    last message. One query whatever the page size: the participations joined to their
    conversations, agents and last messages, read as plain values (building model instances
    and serialising them cost several times the query itself: docs/benchmarks.md)."""
    limit = _check_limit(limit)
    participations = Participant.objects.filter(user=user, left_at__isnull=True).annotate(
        peer_name=peer_name(user)
    )
    if deleted:
        participations = participations.filter(conversation__deleted_at__isnull=False)
    else:
        participations = participations.filter(conversation__deleted_at__isnull=True)
    if archived is not None:
        participations = participations.filter(archived_at__isnull=not archived)
    if pinned is not None:
        participations = participations.filter(pinned_at__isnull=not pinned)
    if kind:
        participations = participations.filter(conversation__kind=kind)
    if workspace_slug:
        participations = participations.filter(conversation__workspace__slug=workspace_slug)
    if title_query:
        # An untitled direct conversation is found by the name it shows.
        participations = participations.filter(
            Q(conversation__title__icontains=title_query)
            | Q(conversation__title="", peer_name__icontains=title_query)
        )
    if after is not None:
        activity, pk = after
        participations = participations.filter(
            Q(conversation__last_activity_at__lt=activity)
            | Q(conversation__last_activity_at=activity, conversation_id__lt=pk)
        )
    rows = list(
        participations.annotate(
            # The newest message of the path this person is shown: the newest position of
            # their line (positions have no gap, and a line's newest is on that line).
            last=FilteredRelation(
                "conversation__messages",
                condition=Q(
                    conversation__messages__line=F("line"),
                    conversation__messages__position=tail_of(OuterRef("line")),
                ),
            ),
            last_excerpt=Substr("last__content", 1, EXCERPT_LENGTH),
        )
        .order_by("-conversation__last_activity_at", "-conversation_id")
        .values(*_LIST_COLUMNS)[: limit + 1]
    )
    has_more = len(rows) > limit
    items = [_list_item(row) for row in rows[:limit]]
    next_key = (items[-1].last_activity_at, items[-1].id) if has_more else None
    return ConversationListPage(items=items, has_more=has_more, next_key=next_key)


# --- the thread ----------------------------------------------------------------------------


@dataclass
class MessagePage:
    conversation: Conversation | None
    items: list  # ascending seq: Message instances, or MessageRow from message_page_rows
    has_more_before: bool
    has_more_after: bool


def _check_seq(field: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(field, f"{field} must be a non-negative integer seq.")
    return value


def messages_with_parts():
    """Messages with their sender, parts and artifacts: one query for the messages, one
    for all their parts."""
    return Message.objects.select_related("sender", "agent").prefetch_related(
        Prefetch(
            "parts",
            queryset=MessagePart.objects.select_related("artifact").order_by("index"),
        )
    )


# What a page shows of each message, in the API (MessageOut) and on the thread page
# (message_row.html): reading only these halves the work of building the rows.
_MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "seq",
    "position",
    "line",
    "version",
    "next_turn_forks",
    "parent_id",
    "role",
    "status",
    "content",
    "model",
    "client_message_id",
    "reply_to_id",
    "created_at",
    "completed_at",
    "edited_at",
    "deleted_at",
    "hidden_at",
    "error",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_ms",
    "sender__id",
    "sender__username",
    "sender__display_name",
)
# The thread page's instances (.only()) also name the agent.
_PAGE_COLUMNS = (*_MESSAGE_COLUMNS, "agent__id", "agent__name")


def _attach_parts(messages: list[Message]) -> None:
    """Hands each message of a page its parts (as `parts_list`, which
    Message.visible_parts reads), all read in one query. prefetch_related would do the same
    with a queryset built per message, which on a 50-message page costs more than the query."""
    if not messages:
        return
    by_message: dict[uuid.UUID, list[MessagePart]] = {message.pk: [] for message in messages}
    parts = (
        MessagePart.objects.filter(message_id__in=list(by_message))
        .select_related("artifact")
        .order_by("message_id", "index")
    )
    for part in parts:
        by_message[part.message_id].append(part)
    for message in messages:
        message.parts_list = by_message[message.pk]


def _window(tail: int, *, before: int | None, after: int | None, limit: int) -> tuple[int, int]:
    """The positions first..last a page shows of a path whose newest position is `tail`:
    the newest `limit`, those just before `before`, or those just after `after`. Positions
    run 1..tail without a gap, so the bounds are arithmetic and each side's has_more is
    first > 1 and last < tail."""
    if after is not None:
        return after + 1, min(after + limit, tail)
    last = tail if before is None else min(before - 1, tail)
    return max(last - limit + 1, 1), last


def _read_window(messages, path: Path, first: int, last: int, read) -> tuple[list, Any]:
    """The rows at positions first..last of `path`, ascending, and the row just before
    them (its next_turn_forks counts the first row's versions), in one read of the
    (conversation, line, position) ranges that hold them."""
    if first > last:
        return [], None
    low = max(first - 1, 1)
    rows = read(messages.filter(path.q(low, last)).order_by("position"))
    before = rows[0] if rows and rows[0].position < first else None
    return (rows[1:] if before is not None else rows), before


def _check_anchors(before: Any, after: Any) -> tuple[int | None, int | None]:
    if before is not None and after is not None:
        raise InvalidInput("before", "Give before or after, not both.")
    return (
        None if before is None else _check_seq("before", before),
        None if after is None else _check_seq("after", after),
    )


def message_page(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> MessagePage:
    """A page of the path through the versions that `user` is shown, as model instances
    (the thread page): `before` gives the messages just older than that position, `after`
    those just newer, neither the newest page. The participation (with its path) is read
    first, then the positions of the page as ranges of the (conversation, line, position)
    index, so the cost grows neither with the depth nor with the versions; since positions
    have no gaps, each side's `has_more` follows from the numbers."""
    limit = _check_limit(limit)
    before, after = _check_anchors(before, after)
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    path = conversation.path
    first, last = _window(path.tail, before=before, after=after, limit=limit)
    messages = (
        Message.objects.filter(conversation=conversation)
        .select_related("sender", "agent")
        .only(*_PAGE_COLUMNS)
    )
    items, previous = _read_window(messages, path, first, last, list)
    version_counts(items, before=previous, first_turn_forks=conversation.first_turn_forks)
    _attach_parts(items)
    return MessagePage(
        conversation=conversation,
        items=items,
        has_more_before=min(first - 1, path.tail) >= 1,
        has_more_after=last < path.tail,
    )


@dataclass(slots=True)
class MessageRow(MessageVisibility):
    """A message of an API page as plain values: what MessageOut shows, read without
    building model instances (several times the cost of the query on a 50-message page)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    position: int
    line: int
    version: int
    next_turn_forks: int
    parent_id: uuid.UUID | None
    role: str
    status: str
    sender: UserRef | None
    content: str
    model: str
    client_message_id: str | None
    reply_to_id: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
    edited_at: datetime | None
    deleted_at: datetime | None
    hidden_at: datetime | None
    # How an assistant turn went (MessageOut's usage, timing and ending).
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    latency_ms: int | None
    ttft_ms: int | None
    finish_reason: str
    error: str
    error_type: str
    is_aborted: bool
    has_parts: bool
    parts_list: list[dict] = field(default_factory=list)
    # How many versions its turn has (selectors.paths.version_counts), and, in a list of
    # versions, whether it is on the caller's path.
    versions: int = 1
    shown: bool = False


# The API's rows (MessageRow) also carry the rest of an assistant turn's usage and ending,
# whether the message has parts, and the count the page's has_more is read against.
_ROW_COLUMNS = (
    *_MESSAGE_COLUMNS,
    "cached_input_tokens",
    "reasoning_tokens",
    "ttft_ms",
    "finish_reason",
    "is_aborted",
    "has_parts",
)

_PART_COLUMNS = (
    "message_id",
    "index",
    "step_index",
    "type",
    "content",
    "tool_name",
    "tool_call_id",
    "tool_duration_ms",
)
# A part's artifact, read in the same query (a LEFT JOIN), as ArtifactOut's fields.
_ARTIFACT_COLUMNS = {
    "artifact__id": "id",
    "artifact__kind": "kind",
    "artifact__path": "path",
    "artifact__mime": "mime",
    "artifact__size": "size",
    "artifact__sha256": "sha256",
    "artifact__file": "file",
}


def _take_artifact(part: dict) -> dict | None:
    """Moves the artifact's columns out of a part's values: its fields, or None."""
    fields = {name: part.pop(column) for column, name in _ARTIFACT_COLUMNS.items()}
    return fields if fields["id"] is not None else None


def _message_row(values: dict) -> MessageRow:
    sender_id = values.pop("sender__id")
    sender = UserRef(sender_id, values.pop("sender__username"), values.pop("sender__display_name"))
    return MessageRow(sender=sender if sender_id else None, **values)


def _attach_row_parts(rows: list[MessageRow]) -> None:
    """The parts of those rows that have any (with their artifacts), in one query."""
    with_parts = {row.id: row for row in rows if row.has_parts}
    if with_parts:
        parts = MessagePart.objects.filter(message_id__in=list(with_parts)).order_by(
            "message_id", "index"
        )
        for part in parts.values(*_PART_COLUMNS, *_ARTIFACT_COLUMNS):
            part["artifact"] = _take_artifact(part)
            with_parts[part["message_id"]].parts_list.append(part)


def message_page_rows(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> MessagePage:
    """The page message_page gives, as MessageRow values (the API): the caller's
    participation with the path it is shown (the permission check: NotFound when they
    take no part), the page's positions of that path, then the parts of those messages
    that have any. `conversation` is None on this page."""
    limit = _check_limit(limit)
    before, after = _check_anchors(before, after)
    pk = _pk_for(user, conversation_id, missing="No such conversation.")
    shown = (
        Participant.objects.filter(
            user=user,
            left_at__isnull=True,
            conversation_id=pk,
            conversation__deleted_at__isnull=True,
        )
        .annotate(
            **path_annotations(),
            first_turn_forks=F("conversation__first_turn_forks"),
            line_count=F("conversation__line_count"),
        )
        .values("line", "path_ancestry", "path_tail", "first_turn_forks", "line_count")
        .first()
    )
    if shown is None:
        raise NotFound("No such conversation.")
    path = Path.of(
        shown["line"], shown["path_ancestry"], shown["path_tail"], linear=not shown["line_count"]
    )
    first, last = _window(path.tail, before=before, after=after, limit=limit)
    messages = (
        Message.objects.filter(conversation_id=pk)
        .annotate(has_parts=Exists(MessagePart.objects.filter(message_id=OuterRef("pk"))))
        .values(*_ROW_COLUMNS)
    )
    items, previous = _read_window(
        messages, path, first, last, lambda rows: [_message_row(values) for values in rows]
    )
    version_counts(items, before=previous, first_turn_forks=shown["first_turn_forks"])
    _attach_row_parts(items)
    return MessagePage(
        conversation=None,
        items=items,
        has_more_before=min(first - 1, path.tail) >= 1,
        has_more_after=last < path.tail,
    )


def message_get_for_user(*, user: AbstractBaseUser, message_id: Any) -> Message:
    """One message of a live conversation the user takes part in, else NotFound."""
    pk = _pk_for(user, message_id, missing="No such message.")
    message = (
        Message.objects.filter(
            pk=pk,
            conversation__deleted_at__isnull=True,
            conversation__participants__user=user,
            conversation__participants__left_at__isnull=True,
        )
        .select_related("conversation", "sender")
        .first()
    )
    if message is None:
        raise NotFound("No such message.")
    return message


def artifact_get_for_user(*, user: AbstractBaseUser, artifact_id: Any) -> Artifact:
    """A stored artifact of a visible message in a live conversation the user takes part
    in, else NotFound (as for a file that was never stored)."""
    pk = _pk_for(user, artifact_id, missing="No such file.")
    artifact = (
        Artifact.objects.filter(
            pk=pk,
            part__message__deleted_at__isnull=True,
            part__message__hidden_at__isnull=True,
            part__message__conversation__in=Conversation.objects.alive().visible_to(user),
        )
        .exclude(file="")
        .first()
    )
    if artifact is None:
        raise NotFound("No such file.")
    return artifact


# --- versions of a turn -------------------------------------------------------------------


def _turn_versions(message: Message):
    """The messages that are versions of `message`'s turn: those with its parent at its
    position (the first turn's: position 1 of line 0 and of the lines forking there)."""
    versions = Message.objects.filter(conversation_id=message.conversation_id)
    if message.parent_id is not None:
        return versions.filter(parent_id=message.parent_id, position=message.position)
    first_lines = Line.objects.filter(conversation_id=message.conversation_id, fork_position=1)
    return versions.filter(
        Q(line=0) | Q(line__in=first_lines.values("number")), position=1, parent__isnull=True
    )


def message_versions(*, user: AbstractBaseUser, message_id: Any) -> list[MessageRow]:
    """The versions of the turn of a message the user can see, in the order they were made,
    as MessageRow values with `shown` (on the user's path) and `versions` set; NotFound
    as message_get_for_user."""
    message = message_get_for_user(user=user, message_id=message_id)
    conversation = conversation_get_for_user(user=user, conversation_id=message.conversation_id)
    rows = [
        _message_row(values)
        for values in _turn_versions(message)
        .annotate(has_parts=Exists(MessagePart.objects.filter(message_id=OuterRef("pk"))))
        .order_by("version", "seq")
        .values(*_ROW_COLUMNS)
    ]
    _attach_row_parts(rows)
    for row in rows:
        row.versions = len(rows)
        row.shown = conversation.path.holds(row)
    return rows


def shown_path_from(*, user: AbstractBaseUser, conversation_id: Any, position: int, limit: int):
    """The page of the user's path from `position` on (after position - 1): the rows that
    change on screen when they pick another version of that turn."""
    return message_page_rows(
        user=user, conversation_id=conversation_id, after=max(position - 1, 0), limit=limit
    )


def turn_version(*, user: AbstractBaseUser, message_id: Any, version: Any) -> Message:
    """Version number `version` of the turn of a message the user can see; NotFound when
    there is no such version (or no such message, as message_get_for_user)."""
    message = message_get_for_user(user=user, message_id=message_id)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NotFound("No such version.")
    found = _turn_versions(message).filter(version=version).select_related("conversation").first()
    if found is None:
        raise NotFound("No such version.")
    return found
