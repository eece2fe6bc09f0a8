"""The structured pieces of a message (text, reasoning, tool calls) and files it produced."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .base import TimestampedModel, choice_constraint
from .messages import Message


class PartType(models.TextChoices):
    TEXT = "text", "Text"
    REASONING = "reasoning", "Reasoning"
    TOOL_CALL = "tool_call", "Tool call"
    TOOL_RESULT = "tool_result", "Tool result"
    IMAGE = "image", "Image"
    FILE = "file", "File"
    ERROR = "error", "Error"


class MessagePart(TimestampedModel):
    Type = PartType

    # The unique (message, index) index serves every lookup by message.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="parts", db_index=False
    )
    index = models.PositiveIntegerField()
    # Which model step (one request to the model) produced it; tool loops make several.
    step_index = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=12, choices=PartType.choices)
    content = models.JSONField(default=dict, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    tool_duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["message", "index"]
        constraints = [
            models.UniqueConstraint(fields=["message", "index"], name="part_index_unique"),
            choice_constraint("type", PartType, "part_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.type} part {self.index} of {self.message_id}"


class ArtifactKind(models.TextChoices):
    FILE = "file", _("File")
    FILE_DIFF = "file_diff", _("File diff")
    IMAGE = "image", _("Image")


def artifact_upload_to(artifact: "Artifact", filename: str) -> str:
    return f"artifacts/{artifact.id}/{filename}"


# Raster images the pages may show in place; never SVG, which can carry script.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class Artifact(TimestampedModel):
    Kind = ArtifactKind

    part = models.OneToOneField(MessagePart, on_delete=models.CASCADE, related_name="artifact")
    kind = models.CharField(max_length=10, choices=ArtifactKind.choices)
    path = models.CharField(max_length=500, blank=True)
    mime = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to=artifact_upload_to, max_length=500, blank=True)
    # Whose storage quota the stored file counts against (STORAGE_QUOTA_BYTES): the
    # importer, or the person the assistant's turn was for.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            choice_constraint("kind", ArtifactKind, "artifact_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.path or f"{self.kind} artifact {self.id}"

    @property
    def is_inline_image(self) -> bool:
        """A stored image a page may show (its MIME type was read from its bytes)."""
        return bool(self.file) and self.mime in INLINE_IMAGE_TYPES
