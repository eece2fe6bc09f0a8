"""The read behind an export: one conversation a participant may see, its people, and its
messages with parts and artifacts, streamed in seq order a chunk at a time so that an export
of any length costs the same memory."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from conversations.models import Conversation, Message, Participant

from .threads import conversation_get_for_user, messages_with_parts

# Messages read per query (and their parts per prefetch query) while exporting.
EXPORT_CHUNK_SIZE = 500


@dataclass
class ConversationExport:
    # Carries `export_participants`: its current participants with their users.
    conversation: Conversation
    exported_at: datetime

    def messages(self) -> Iterator[Message]:
        """The thread as it was when the export began (seq up to its message_count), each
        message with its sender, agent, parts, artifacts and the seq it replies to. Two
        queries per EXPORT_CHUNK_SIZE messages."""
        return (
            messages_with_parts()
            .select_related("agent")
            .filter(conversation=self.conversation, seq__lte=self.conversation.message_count)
            .annotate(reply_to_seq=F("reply_to__seq"))
            .order_by("seq")
            .iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )


def conversation_export(*, user: AbstractBaseUser, conversation_id: Any) -> ConversationExport:
    """What `user` may export of a conversation: NotFound unless they take part in it now
    (a conversation in the trash is not exported)."""
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    conversation.export_participants = list(
        Participant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "created_at")
    )
    return ConversationExport(conversation=conversation, exported_at=timezone.now())
