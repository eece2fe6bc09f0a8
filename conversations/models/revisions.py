"""Revisions: the earlier texts of an edited message, so that every edit is kept
(docs/data-model.md, "Every edit is kept")."""

import uuid

from django.db import models
from django.utils import timezone

from .messages import Message


class MessageRevision(models.Model):
    """The text a message had before one edit replaced it. A message edited three times has
    revisions 1, 2 and 3 (its first text, then the two after); its own `content` is the
    newest. Written only by services.message_edit, in the edit's transaction; never changed
    after."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The unique (message, number) index serves every lookup by message.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="revisions", db_index=False
    )
    number = models.PositiveIntegerField()
    content = models.TextField(blank=True)
    # When this text was replaced: the time of the edit that made the revision.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="revision_number_unique"),
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="revision_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.message_id}"
