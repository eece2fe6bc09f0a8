"""Reports of messages and the audit log of every moderation act."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .base import TimestampedModel, choice_constraint
from .messages import Message


class ReportReason(models.TextChoices):
    SPAM = "spam", _("Spam")
    ABUSE = "abuse", _("Abuse")
    HARASSMENT = "harassment", _("Harassment")
    OTHER = "other", _("Other")


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class Report(TimestampedModel):
    Reason = ReportReason
    Status = ReportStatus

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_made",
    )
    reason = models.CharField(max_length=12, choices=ReportReason.choices)
    note = models.TextField(blank=True)
    # The message's text when it was reported, kept whatever its author does after
    # (edits, deleting it): moderators judge what the reporter saw.
    content_snapshot = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.OPEN
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # The moderation queue: open reports, oldest first.
            models.Index(
                fields=["created_at"],
                name="report_open_queue",
                condition=models.Q(status="open"),
            ),
        ]
        constraints = [
            choice_constraint("reason", ReportReason, "report_reason_valid"),
            choice_constraint("status", ReportStatus, "report_status_valid"),
            # One open report per person and message; reporting again changes nothing.
            models.UniqueConstraint(
                fields=["message", "reporter"],
                name="report_open_unique",
                condition=models.Q(status="open"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} report on {self.message_id} ({self.status})"


class AuditEvent(models.Model):
    """An append-only record of a moderation act, purge, token revocation or role change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=50)
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=100)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["-created_at"], name="audit_recent"),
            models.Index(fields=["action", "-created_at"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type} {self.target_id}"
