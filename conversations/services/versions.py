"""Versions of a turn (docs/data-model.md, "Versions of a turn"): edit and resend a prompt,
regenerate a reply, and pick which version one is shown. A new version is a new line that
forks at its turn; the old version keeps everything it had and everything that followed it.
"""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from conversations.exceptions import (
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from conversations.models import (
    Agent,
    Conversation,
    ConversationKind,
    Line,
    Message,
    MessageRole,
    MessageStatus,
    Participant,
)
from conversations.selectors.paths import line_path, shown_line_for

from .conversations import lock_conversation, lock_participation
from .events import event_record
from .messages import (
    GENERATING,
    announce_message,
    append_message,
    assistant_message_start,
    check_open,
    clean_client_message_id,
    clean_content,
    same_client_message,
)

# How many of the lines a person was shown are remembered (Participant.recent_lines).
RECENT_LINES = 10


def _fork(conversation: Conversation, at: Message) -> tuple[int, int]:
    """A new line of the locked `conversation` for a new version of `at`'s turn: its
    ancestry is the path of `at`'s line before that turn. Counts the version on the turn
    (the parent's next_turn_forks, or the conversation's first_turn_forks) and returns
    (line number, the new version's number)."""
    number = conversation.line_count + 1
    Line.objects.create(
        conversation=conversation,
        number=number,
        parent_line=at.line,
        fork_position=at.position,
        ancestry=line_path(conversation.pk, at.line).forked_at(at.position, number),
    )
    counted = {"line_count": F("line_count") + 1}
    if at.parent_id is None:
        counted["first_turn_forks"] = F("first_turn_forks") + 1
        forks = conversation.first_turn_forks + 1
    else:
        parent = Message.objects.filter(pk=at.parent_id)
        parent.update(next_turn_forks=F("next_turn_forks") + 1)
        forks = parent.values_list("next_turn_forks", flat=True).get()
    Conversation.objects.filter(pk=conversation.pk).update(**counted)
    conversation.line_count = number
    return number, forks + 1


def _show(participant: Participant, line: int, *, position: int, message_id: Any) -> None:
    """`participant` is shown `line` from now on, on every device; the line they leave is
    remembered, and their other tabs are told (a `path.changed` event for them only)."""
    recent = [line]
    for number in [participant.line, *(participant.recent_lines or [])]:
        if number not in recent:
            recent.append(number)
    participant.recent_lines = recent[:RECENT_LINES]
    participant.line = line
    Participant.objects.filter(pk=participant.pk).update(
        line=line, recent_lines=participant.recent_lines, updated_at=timezone.now()
    )
    event_record(
        conversation_id=participant.conversation_id,
        type="path.changed",
        data={"line": line, "position": position, "message_id": str(message_id)},
        user_id=participant.user_id,
    )


def _message_in(conversation: Conversation, message: Message) -> Message:
    """The message, read again under the conversation's lock; NotFound if it is not in it."""
    found = Message.objects.filter(pk=message.pk, conversation_id=conversation.pk).first()
    if found is None:
        raise NotFound(gettext("No such message."))
    return found


@transaction.atomic
def message_resend(
    *,
    message: Message,
    actor: AbstractBaseUser,
    content: str,
    client_message_id: str | None = None,
) -> tuple[Message, bool]:
    """Edit a prompt and send it again: a new version of the author's own message in an
    assistant conversation, on a new line that the author is shown from now on (ask for the
    reply then: it answers the end of the path one is shown). The earlier version keeps its
    text and everything that followed it. Returns (message, created); the same
    client_message_id returns the first version it made (IdempotencyConflict for other
    content), so a retried resend makes one version."""
    content = clean_content(content)
    client_message_id = clean_client_message_id(client_message_id)
    participant = lock_participation(message.conversation, actor)
    conversation = participant.conversation
    message = _message_in(conversation, message)
    if message.sender_id != actor.pk or message.role != MessageRole.USER:
        raise PermissionDenied(gettext("Only its author can send a message again."))
    if not message.is_visible:
        raise NotFound(gettext("No such message."))
    if conversation.kind != ConversationKind.ASSISTANT:
        raise Conflict(gettext("Only a message to the assistant can be sent again."))
    if client_message_id is not None:
        # A retry finds the version it made; a key the author used for another message
        # (a post, another resend) with other text is an IdempotencyConflict.
        existing = same_client_message(conversation, actor, client_message_id, content, None)
        if existing is not None:
            if existing.parent_id != message.parent_id or existing.position != message.position:
                raise IdempotencyConflict(
                    "This client_message_id was used for a different message.",
                    details={"field": "client_message_id", "message_id": str(existing.pk)},
                )
            return existing, False
    check_open(conversation)
    line, version = _fork(conversation, message)
    now = timezone.now()
    resent = append_message(
        conversation,
        Message(
            role=MessageRole.USER,
            status=MessageStatus.COMPLETE,
            sender=actor,
            content=content,
            client_message_id=client_message_id,
            created_at=now,
            completed_at=now,
        ),
        line=line,
        version_of=message,
        version=version,
    )
    Participant.objects.filter(pk=participant.pk).update(last_read_seq=resent.seq)
    announce_message(resent, "message.created")
    _show(participant, line, position=resent.position, message_id=resent.pk)
    resent.parts_list = []
    return resent, True


@transaction.atomic
def reply_version_start(
    *,
    participant: Participant,
    reply: Message,
    agent: Agent | None,
    model: str,
    client_message_id: str | None = None,
    meta: dict | None = None,
) -> Message:
    """Regenerate: a new version of an assistant reply (any, not only the last), started
    streaming on a new line that the participant is shown from now on. The conversation's
    row is locked (again, if the caller holds it already) and read fresh."""
    conversation = lock_conversation(participant.conversation)
    participant = Participant.objects.get(pk=participant.pk)
    participant.conversation = conversation
    reply = _message_in(conversation, reply)
    if reply.role != MessageRole.ASSISTANT:
        raise InvalidInput("message_id", gettext("Only an assistant's reply can be regenerated."))
    if reply.status in GENERATING:
        raise Conflict(gettext("This turn is still being generated."))
    check_open(conversation)
    line, version = _fork(conversation, reply)
    message = assistant_message_start(
        conversation=conversation,
        agent=agent,
        model=model,
        reply_to=Message(pk=reply.reply_to_id or reply.parent_id, conversation_id=conversation.pk)
        if (reply.reply_to_id or reply.parent_id)
        else None,
        line=line,
        version_of=reply,
        version=version,
        locked=True,
        client_message_id=client_message_id,
        meta=meta,
    )
    _show(participant, line, position=message.position, message_id=message.pk)
    return message


@transaction.atomic
def version_show(*, message: Message, actor: AbstractBaseUser) -> int:
    """Show `actor` the version `message` is: from now on their thread, on any device,
    goes through it (and, below it, the line they were last shown there, else its own).
    Nobody else's view changes. Returns the line they are shown."""
    participant = lock_participation(message.conversation, actor)
    message = _message_in(participant.conversation, message)
    if line_path(message.conversation_id, participant.line).holds(message):
        return participant.line  # shown already: nothing changes
    line = shown_line_for(participant, message)
    if line != participant.line:
        _show(participant, line, position=message.position, message_id=message.pk)
    return line
