"""Messages: the thread of a conversation, one row per turn and version.

`seq` numbers every message of a conversation in the order it was written (1, 2, 3…, no
gap); a thread shows one path through the versions of its turns, each message at its
`position` on the lines that pass through it (docs/data-model.md, "Versions of a turn")."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .agents import Agent
from .base import TimestampedModel, choice_constraint
from .conversations import Conversation

CONTENT_MAX_LENGTH = 100_000
CLIENT_MESSAGE_ID_MAX_LENGTH = 100
# The longest finish_reason kept from a model server ("stop", "length", "tool_calls" …).
FINISH_REASON_MAX_LENGTH = 40


class MessageRole(models.TextChoices):
    USER = "user", _("User")
    ASSISTANT = "assistant", _("Assistant")
    SYSTEM = "system", _("System")
    TOOL = "tool", _("Tool")


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"


class MessageErrorType(models.TextChoices):
    UPSTREAM_UNREACHABLE = "upstream_unreachable", _("Upstream unreachable")
    UPSTREAM_ERROR = "upstream_error", _("Upstream error")
    TIMEOUT = "timeout", _("Timeout")
    CONTEXT_LENGTH = "context_length", _("Context too long")
    ABORTED = "aborted", _("Aborted")
    INTERRUPTED = "interrupted", _("Interrupted")
    # No model server to ask: neither the agent nor the settings name an endpoint.
    NOT_CONFIGURED = "not_configured", _("No model configured")


class MessageVisibility:
    """What participants may see of a message, for the model and for the plain rows a page
    of the API is read into (selectors.threads.MessageRow). Needs deleted_at, hidden_at,
    content, and the parts as parts_list or, on a model instance, through the database;
    `usage` and `visible_error` the token fields and error."""

    @property
    def is_visible(self) -> bool:
        """False when its author deleted it or a moderator hid it: it keeps its place only."""
        return self.deleted_at is None and self.hidden_at is None

    @property
    def visible_content(self) -> str:
        """What participants may read: nothing of a deleted or hidden message."""
        return self.content if self.is_visible else ""

    @property
    def visible_parts(self) -> list:
        """Its parts in order, none of a deleted or hidden one. A page of messages comes
        with them read already (as parts_list, set by the selectors)."""
        if not self.is_visible:
            return []
        parts = getattr(self, "parts_list", None)
        return parts if parts is not None else list(self.parts.order_by("index"))

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def visible_error(self) -> str:
        """The error text (it may quote the turn): nothing of a deleted or hidden message."""
        return self.error if self.is_visible else ""

    @property
    def usage(self) -> dict | None:
        """The token counts an upstream reported for this turn; None when it reported none
        (every human message). Needs the five token fields."""
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_input_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


class Message(MessageVisibility, TimestampedModel):
    Role = MessageRole
    Status = MessageStatus
    ErrorType = MessageErrorType

    # The unique (conversation, seq) index serves every lookup by conversation.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    seq = models.PositiveIntegerField()
    # Its turn: the place it has on every path through it (1 for the first turn). A path
    # is a line (`line`, 0 for the one a conversation starts with) followed back through
    # the lines it forked from (Line.ancestry): one message per position, no gap.
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(default=0)
    # The message before it on its path (None for the first turn); its versions are the
    # messages with the same parent. No database constraint: a conversation's messages are
    # only ever removed together (the purge), and a self-referencing constraint would make
    # that purge rewrite every row first.
    parent = models.ForeignKey(
        "self",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # Which version of its turn it is (1, 2, 3… in the order they were made), and how many
    # versions the turn after it has beyond the first (0 until one is made): a turn's
    # count is 1 + its parent's `next_turn_forks` (Conversation.first_turn_forks for the
    # first turn), so a plain append writes no other row.
    version = models.PositiveIntegerField(default=1)
    next_turn_forks = models.PositiveIntegerField(default=0)
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    # Snapshots of who answered, kept even if the agent is later changed or deleted.
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True)
    # NULL, not "", when absent: the unique constraint below must ignore it.
    client_message_id = models.CharField(  # noqa: DJ001
        max_length=CLIENT_MESSAGE_ID_MAX_LENGTH, null=True, blank=True
    )
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_type = models.CharField(max_length=30, choices=MessageErrorType.choices, blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    is_aborted = models.BooleanField(default=False)
    # Why the model server said it stopped (stop, length, tool_calls, content_filter …),
    # kept for a complete turn; empty for anything else.
    finish_reason = models.CharField(max_length=FINISH_REASON_MAX_LENGTH, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    hidden_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["conversation", "seq"]
        # Moderators hide and unhide messages (docs/moderation.md); nobody edits them in
        # the admin, so change_message is given to no one.
        permissions = [("hide_message", "Can hide and unhide messages")]
        indexes = [
            # Partial indexes for the rare foreign keys, so that deleting a message or a
            # moderator does not scan every message for SET NULL.
            models.Index(
                fields=["reply_to"],
                name="message_reply_to",
                condition=models.Q(reply_to__isnull=False),
            ),
            models.Index(
                fields=["hidden_by"],
                name="message_hidden_by",
                condition=models.Q(hidden_by__isnull=False),
            ),
            # Usage reports by time.
            models.Index(fields=["created_at"], name="message_created_at"),
            # A turn's versions: the messages with the same parent.
            models.Index(
                fields=["parent"], name="message_parent", condition=models.Q(parent__isnull=False)
            ),
        ]
        # The full-text search column and its GIN index exist on PostgreSQL only: migrations
        # 0002 and 0006 (docs/search.md).
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            # One message per position of a line: every page of a path reads ranges of it.
            models.UniqueConstraint(
                fields=["conversation", "line", "position"], name="message_line_position_unique"
            ),
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_message_id"],
                name="message_client_id_unique",
                condition=models.Q(client_message_id__isnull=False),
            ),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="message_seq_positive"),
            models.CheckConstraint(
                condition=models.Q(position__gte=1), name="message_position_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="message_version_positive"
            ),
            choice_constraint("role", MessageRole, "message_role_valid"),
            choice_constraint("status", MessageStatus, "message_status_valid"),
            models.CheckConstraint(
                condition=models.Q(error_type="")
                | models.Q(error_type__in=MessageErrorType.values),
                name="message_error_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.role} in {self.conversation_id}"
