"""Conversations and the people in them."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .agents import Agent
from .base import TimestampedModel, choice_constraint, max_length_constraint
from .workspaces import Workspace, WorkspaceRole

TITLE_MAX_LENGTH = 200


class ConversationKind(models.TextChoices):
    ASSISTANT = "assistant", _("Assistant")
    DIRECT = "direct", _("Direct")
    GROUP = "group", _("Group")


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"


class ConversationQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user):
        """Conversations the user takes part in now (having left, they see it no more)."""
        return self.filter(participants__user=user, participants__left_at__isnull=True)


class Conversation(TimestampedModel):
    Kind = ConversationKind
    Status = ConversationStatus

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="conversations")
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE
    )
    # Sorted ids of the two people of a direct conversation: the database keeps one
    # live direct conversation per pair, even when both start it at the same moment.
    direct_key = models.CharField(max_length=80, blank=True, editable=False)
    # The client_message_id of the message it was started with (a New chat's first
    # message, POST /conversations with `message`): unique per creator, so a retried or
    # doubled start finds this conversation instead of making a second one. NULL when it
    # was started empty. (100 characters, as Message.client_message_id.)
    first_client_message_id = models.CharField(  # noqa: DJ001
        max_length=100, null=True, blank=True, editable=False
    )
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Messages are never removed one by one (deletes are soft), so the next seq is
    # message_count + 1 under the conversation's row lock.
    message_count = models.PositiveIntegerField(default=0)
    # Lines made by versions (edit and resend, regenerate): the next one is line_count + 1.
    line_count = models.PositiveIntegerField(default=0)
    # Versions of the first turn beyond the first (its messages have no parent to count them).
    first_turn_forks = models.PositiveIntegerField(default=0)
    total_input_tokens = models.PositiveBigIntegerField(default=0)
    total_output_tokens = models.PositiveBigIntegerField(default=0)
    total_cached_tokens = models.PositiveBigIntegerField(default=0)
    total_reasoning_tokens = models.PositiveBigIntegerField(default=0)
    total_tool_time_ms = models.PositiveBigIntegerField(default=0)
    tool_counts = models.JSONField(default=dict, blank=True)
    subject_type = models.CharField(max_length=50, blank=True)
    subject_id = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            # The sidebar's order among live conversations.
            models.Index(
                fields=["-last_activity_at", "-id"],
                name="conversation_activity",
                condition=models.Q(deleted_at__isnull=True),
            ),
            # The trash and the retention purge.
            models.Index(
                fields=["deleted_at"],
                name="conversation_trash",
                condition=models.Q(deleted_at__isnull=False),
            ),
            models.Index(
                fields=["subject_type", "subject_id"],
                name="conversation_subject",
                condition=~models.Q(subject_type=""),
            ),
        ]
        constraints = [
            choice_constraint("kind", ConversationKind, "conversation_kind_valid"),
            choice_constraint("status", ConversationStatus, "conversation_status_valid"),
            max_length_constraint("title", TITLE_MAX_LENGTH, "conversation_title_length"),
            models.CheckConstraint(
                condition=~models.Q(kind="group") | ~models.Q(title=""),
                name="conversation_group_has_title",
            ),
            models.UniqueConstraint(
                fields=["workspace", "direct_key"],
                name="conversation_direct_unique",
                condition=models.Q(kind="direct", deleted_at__isnull=True),
            ),
            models.UniqueConstraint(
                fields=["created_by", "first_client_message_id"],
                name="conversation_first_message_unique",
                condition=models.Q(first_client_message_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} conversation {self.id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def display_title(self) -> str:
        """Its name as a viewer sees it: the title; for an untitled direct conversation the
        other person's name, which the selectors read for that viewer (`peer_name`)."""
        return self.title or getattr(self, "peer_name", None) or ""


# The same three roles as in a workspace: owner, admin, member.
ParticipantRole = WorkspaceRole


class Participant(TimestampedModel):
    Role = ParticipantRole

    # The unique (conversation, user) index serves lookups by conversation.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(
        max_length=10, choices=ParticipantRole.choices, default=ParticipantRole.MEMBER
    )
    pinned_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(default=False)
    last_read_seq = models.PositiveIntegerField(default=0)
    # The path through the versions this person is shown: a line of the conversation
    # (0, the first, until they pick or make another version), kept on the server so that
    # it follows them to any tab and device; and the lines they were shown last, newest
    # first, so that picking a version again returns to where they had been below it.
    line = models.PositiveIntegerField(default=0)
    recent_lines = models.JSONField(default=list, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at"]
        indexes = [
            # A user's sidebar starts here: their current conversations.
            models.Index(
                fields=["user", "archived_at"],
                name="participant_sidebar",
                condition=models.Q(left_at__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique"),
            choice_constraint("role", ParticipantRole, "participant_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id} ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.left_at is None

    @property
    def can_manage(self) -> bool:
        """Owners and admins may rename, add people and delete."""
        return self.role in (ParticipantRole.OWNER, ParticipantRole.ADMIN)
