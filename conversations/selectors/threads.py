"""Reads of conversations and threads: one conversation, the sidebar, a page of messages."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import OuterRef, Prefetch, Subquery
from django.db.models.functions import Substr

from conversations.exceptions import InvalidInput, NotFound
from conversations.models import Conversation, Message, MessagePart, Participant

EXCERPT_LENGTH = 200
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}.")
    return limit


def conversation_get_for_user(
    *, user: AbstractBaseUser, conversation_id: Any, deleted: bool = False
) -> Conversation:
    """The conversation if `user` takes part in it now; from the trash with deleted=True.
    Carries `.participant`: the user's own participation (role, pin, read marker)."""
    pk = _as_uuid(conversation_id)
    if pk is None or not user.is_authenticated:
        raise NotFound("No such conversation.")
    conversations = Conversation.objects.deleted() if deleted else Conversation.objects.alive()
    participant = (
        Participant.objects.filter(user=user, left_at__isnull=True, conversation_id=pk)
        .filter(conversation__in=conversations)
        .select_related("conversation", "conversation__agent", "conversation__workspace")
        .first()
    )
    if participant is None:
        raise NotFound("No such conversation.")
    conversation = participant.conversation
    conversation.participant = participant
    return conversation


def user_can_see_conversation(*, user: AbstractBaseUser, conversation_id: Any) -> bool:
    pk = _as_uuid(conversation_id)
    if pk is None or not user.is_authenticated:
        return False
    return Conversation.objects.alive().visible_to(user).filter(pk=pk).exists()


# --- the sidebar ------------------------------------------------------------------------------


@dataclass
class ConversationListItem:
    conversation: Conversation
    participant: Participant
    last_message: Message | None

    @property
    def unread_count(self) -> int:
        return max(self.conversation.message_count - self.participant.last_read_seq, 0)


@dataclass
class ConversationListPage:
    items: list[ConversationListItem]
    has_more: bool
    # The keyset (last_activity_at, id) to pass as `after` for the next page.
    next_key: tuple[datetime, uuid.UUID] | None


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
    last message. Two queries whatever the page size: the participations joined to their
    conversations, then the last messages."""
    limit = _check_limit(limit)
    participations = Participant.objects.filter(user=user, left_at__isnull=True).select_related(
        "conversation", "conversation__agent"
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
        participations = participations.filter(conversation__title__icontains=title_query)
    if after is not None:
        activity, pk = after
        participations = participations.filter(
            conversation__last_activity_at__lt=activity
        ) | participations.filter(conversation__last_activity_at=activity, conversation__id__lt=pk)
    participations = participations.annotate(
        last_message_id=Subquery(
            # order_by(): no Meta.ordering join and sort for a lookup of one row.
            Message.objects.filter(
                conversation=OuterRef("conversation_id"),
                seq=OuterRef("conversation__message_count"),
            )
            .order_by()
            .values("id")[:1]
        )
    ).order_by("-conversation__last_activity_at", "-conversation__id")
    rows = list(participations[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]

    last_messages = (
        {
            message.pk: message
            for message in Message.objects.filter(
                pk__in=[row.last_message_id for row in rows if row.last_message_id]
            )
            .select_related("sender")
            .only(
                "id",
                "conversation_id",
                "seq",
                "role",
                "status",
                "created_at",
                "deleted_at",
                "hidden_at",
                "sender__id",
                "sender__username",
                "sender__display_name",
            )
            .annotate(excerpt=Substr("content", 1, EXCERPT_LENGTH))
        }
        if rows
        else {}
    )

    items = [
        ConversationListItem(
            conversation=row.conversation,
            participant=row,
            last_message=last_messages.get(row.last_message_id),
        )
        for row in rows
    ]
    next_key = None
    if has_more and rows:
        last = rows[-1].conversation
        next_key = (last.last_activity_at, last.pk)
    return ConversationListPage(items=items, has_more=has_more, next_key=next_key)


# --- the thread ----------------------------------------------------------------------------


@dataclass
class MessagePage:
    conversation: Conversation
    items: list[Message]  # ascending seq
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


def message_page(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> MessagePage:
    """A page of the thread around a seq anchor: `before` gives the messages just older than
    it, `after` those just newer, neither the newest page. Each side reads limit + 1 rows
    from the (conversation, seq) index, so the cost does not grow with the depth; since
    seq has no gaps, the other side's `has_more` follows from the seqs themselves."""
    limit = _check_limit(limit)
    if before is not None and after is not None:
        raise InvalidInput("before", "Give before or after, not both.")
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    messages = messages_with_parts().filter(conversation=conversation)
    if after is not None:
        after = _check_seq("after", after)
        rows = list(messages.filter(seq__gt=after).order_by("seq")[: limit + 1])
        has_more_after = len(rows) > limit
        items = rows[:limit]
        has_more_before = min(after, conversation.message_count) >= 1
    else:
        if before is not None:
            before = _check_seq("before", before)
            messages = messages.filter(seq__lt=before)
        rows = list(messages.order_by("-seq")[: limit + 1])
        has_more_before = len(rows) > limit
        items = rows[:limit][::-1]
        newest_shown = items[-1].seq if items else (before or 1) - 1
        has_more_after = newest_shown < conversation.message_count
    return MessagePage(
        conversation=conversation,
        items=items,
        has_more_before=has_more_before,
        has_more_after=has_more_after,
    )


def message_get_for_user(*, user: AbstractBaseUser, message_id: Any) -> Message:
    """One message of a live conversation the user takes part in, else NotFound."""
    pk = _as_uuid(message_id)
    if pk is None or not user.is_authenticated:
        raise NotFound("No such message.")
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
