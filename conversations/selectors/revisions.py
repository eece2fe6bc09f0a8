"""The edit history of one message: its text now and the texts its edits replaced
(MessageRevision), newest first, for the participants of its conversation."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from conversations.exceptions import InvalidInput
from conversations.models import Message

from .threads import DEFAULT_PAGE_SIZE, _check_limit, message_get_for_user


@dataclass(frozen=True, slots=True)
class MessageText:
    """One text a message has had. `number` is the revision's (1 is the text first posted);
    None for the text it has now, which `replaced_at` None says too."""

    number: int | None
    content: str
    written_at: datetime  # when it was posted, or the edit that wrote it
    replaced_at: datetime | None  # when an edit replaced it


@dataclass(frozen=True)
class MessageHistory:
    message: Message
    # None for a message deleted by its author or hidden by a moderator: its history shows
    # no text, as its row in the thread shows none.
    current: MessageText | None
    items: list[MessageText]  # the earlier texts, newest first
    has_more: bool

    @property
    def message_id(self):
        return self.message.pk

    @property
    def is_deleted(self) -> bool:
        return self.message.is_deleted

    @property
    def is_hidden(self) -> bool:
        return self.message.is_hidden

    @property
    def edited_at(self) -> datetime | None:
        return self.message.edited_at

    @property
    def next_before(self) -> int | None:
        """The `before` of the next page (the oldest number shown), when there is one."""
        return self.items[-1].number if self.has_more else None


def _check_before(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput("before", "before must be a revision number (1 or more).")
    return value


def message_history_for_user(
    *,
    user: AbstractBaseUser,
    message_id: Any,
    before: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> MessageHistory:
    """The message's current text and, newest first, up to `limit` of the texts its edits
    replaced (those numbered below `before`, when given). The permission rule is
    message_get_for_user's: NotFound for anyone who is not a current participant of the
    live conversation, as for an id that does not exist. A deleted or hidden message
    answers with no text at all (current None, no items), so its history cannot show what
    its thread row no longer does.

    Two queries: the message with its conversation's participation check, then one page
    of its revisions (limit + 1 rows: the one past the page says that more exist, and its
    time is when the page's oldest text was written)."""
    before = _check_before(before)
    limit = _check_limit(limit)
    message = message_get_for_user(user=user, message_id=message_id)
    if not message.is_visible:
        return MessageHistory(message=message, current=None, items=[], has_more=False)
    revisions = message.revisions.order_by("-number")
    if before is not None:
        revisions = revisions.filter(number__lt=before)
    rows = list(revisions.values_list("number", "content", "created_at")[: limit + 1])
    items = []
    for index, (number, content, replaced_at) in enumerate(rows[:limit]):
        # Each text was written by the edit that replaced the one before it; the first
        # when the message was posted.
        older = rows[index + 1] if index + 1 < len(rows) else None
        written_at = older[2] if older is not None else message.created_at
        items.append(MessageText(number, content, written_at, replaced_at))
    current = MessageText(
        number=None,
        content=message.content,
        written_at=message.edited_at or message.created_at,
        replaced_at=None,
    )
    return MessageHistory(message=message, current=current, items=items, has_more=len(rows) > limit)
