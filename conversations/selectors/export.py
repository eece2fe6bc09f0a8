"""The read behind an export: one conversation a participant may see, its people, its lines
and its messages (every version, or the exporter's path) with parts, artifacts and earlier
texts, streamed in seq order a chunk at a time so that an export of any length costs the
same memory."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Line, Message, MessageRevision, Participant

from .threads import conversation_get_for_user, messages_with_parts

# Messages read per query (and their parts per prefetch query) while exporting.
EXPORT_CHUNK_SIZE = 500


@dataclass
class ConversationExport:
    # Carries `export_participants`: its current participants with their users; and, from
    # conversation_get_for_user, the exporter's `participant` and `path`.
    conversation: Conversation
    exported_at: datetime

    @property
    def shown_line(self) -> int:
        """The line the person exporting is shown."""
        return self.conversation.participant.line

    def lines(self) -> Iterator[Line]:
        """Its lines as they were when the export began (up to its line_count, read with
        its message_count, so that they and the messages are the same moment). One query."""
        return (
            Line.objects.filter(
                conversation=self.conversation, number__lte=self.conversation.line_count
            )
            .order_by("number")
            .iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )

    def messages(self) -> Iterator[Message]:
        """Every version of the thread as it was when the export began (seq up to its
        message_count), each message with its sender, agent, parts, artifacts, earlier
        texts, and the seqs of its parent and of the message it replies to. Three queries
        per EXPORT_CHUNK_SIZE messages."""
        return (
            self._messages()
            .annotate(parent_seq=F("parent__seq"))
            .prefetch_related(
                Prefetch("revisions", queryset=MessageRevision.objects.order_by("number"))
            )
            .iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )

    def path_messages(self) -> Iterator[Message]:
        """The exporter's path only, in order (the Markdown export): the version of each turn
        they are shown. Two queries per EXPORT_CHUNK_SIZE messages."""
        path = self.conversation.path
        return (
            self._messages()
            .filter(path.q(1, path.tail))
            .order_by("position")
            .iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )

    def _messages(self) -> QuerySet[Message]:
        return (
            messages_with_parts()
            .select_related("agent")
            .filter(conversation=self.conversation, seq__lte=self.conversation.message_count)
            .annotate(reply_to_seq=F("reply_to__seq"))
            .order_by("seq")
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
