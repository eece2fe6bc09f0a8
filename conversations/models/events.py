"""The durable event log behind GET /events: one row per change a participant should see,
numbered so that a client can resume with Last-Event-ID."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .conversations import Conversation


class Event(models.Model):
    # A sequence, not a UUID: the SSE id, and "everything after N" is a range scan.
    id = models.BigAutoField(primary_key=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40)
    # Set for an event only one person sees (their read marker); empty for all participants.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="event_created_at")]

    def __str__(self) -> str:
        return f"{self.type} #{self.id} in {self.conversation_id}"

    def as_payload(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "conversation_id": str(self.conversation_id),
            "user_id": str(self.user_id) if self.user_id else None,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
        }
