"""Workspaces (the tenant), who belongs to them, and the invitations to join one."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import TimestampedModel, choice_constraint


class Workspace(TimestampedModel):
    """A company or team. Every user also has a personal workspace of their own, and (with
    SHARED_WORKSPACE on) belongs to the server's one shared workspace (docs/data-model.md)."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    is_personal = models.BooleanField(default=False)
    # The server's workspace, which every new user joins: at most one has this set.
    is_shared = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_shared"],
                condition=models.Q(is_shared=True),
                name="workspace_one_shared",
            ),
            models.CheckConstraint(
                condition=~models.Q(is_shared=True, is_personal=True),
                name="workspace_shared_not_personal",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkspaceRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")


class Membership(TimestampedModel):
    Role = WorkspaceRole

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices, default="member")

    class Meta:
        ordering = ["workspace", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique"),
            choice_constraint("role", WorkspaceRole, "membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class InvitationStatus(models.TextChoices):
    """What an invitation is now (computed, not stored: expiry is a matter of time)."""

    ACTIVE = "active", "Active"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Invitation(TimestampedModel):
    """A link that lets people join a workspace: anyone holding it (no email), or only
    the person signed in with `email` (once). Only the SHA-256 of its token is stored: the
    link is shown once, to whoever made it (docs/security.md)."""

    Status = InvitationStatus

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Empty: an open link, for anyone who has it, until it expires or is revoked.
    email = models.EmailField(max_length=254, blank=True)
    role = models.CharField(
        max_length=10, choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # How many people joined through it; an invitation for an email is used up at the first.
    use_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="invitation_workspace"),
        ]
        constraints = [
            # Nobody is invited as an owner: ownership is handed over by a role change.
            models.CheckConstraint(
                condition=models.Q(role__in=[WorkspaceRole.ADMIN, WorkspaceRole.MEMBER]),
                name="invitation_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation to {self.workspace_id} ({self.email or 'link'})"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.email and self.use_count:
            return InvitationStatus.ACCEPTED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.ACTIVE
