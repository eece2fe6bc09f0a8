"""Invitations to a workspace: made and revoked by its owners and admins, accepted by
whoever holds the link (docs/data-model.md, "Workspaces"; docs/security.md, "Invitation
links").

The link carries a random token; only its SHA-256 is stored, so the link is shown once, to
its maker, and a copy of the database opens no workspace."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from conversations.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from conversations.models import Invitation, InvitationStatus, Membership, Workspace, WorkspaceRole

from .audit import audit_event_record
from .workspaces import check_may_grant, check_role, lock_membership, require_manager

TOKEN_PREFIX = "inv_"  # noqa: S105 (a public marker, not a secret)
TOKEN_MAX_LENGTH = 100
MAX_DAYS = 90


def invitation_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # in the link, shown once, never stored


def _audit(actor, action: str, invitation: Invitation, **data) -> None:
    audit_event_record(
        actor=actor,
        action=action,
        target_type="invitation",
        target_id=invitation.pk,
        data={"workspace": invitation.workspace.slug, "email": invitation.email, **data},
    )


@transaction.atomic
def invitation_create(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser,
    email: str = "",
    role: str = WorkspaceRole.MEMBER,
    expires_in_days: int | None = None,
) -> IssuedInvitation:
    """A link to join the workspace: for anyone who has it (no email) or only for the
    person signed in with that email. Owners and admins; admins invite members only."""
    check_role(role)
    if role == WorkspaceRole.OWNER:
        raise InvalidInput(
            "role", gettext("Nobody is invited as an owner; make a member an owner.")
        )
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput("email", gettext("Enter a valid email address.")) from None
        email = email.lower()
    days = settings.INVITATION_DAYS if expires_in_days is None else expires_in_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput("expires_in_days", f"expires_in_days is between 1 and {MAX_DAYS}.")
    actor_membership = lock_membership(workspace, actor)
    require_manager(actor_membership, pgettext_lazy("only managers can", "invite people"))
    check_may_grant(actor_membership, role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=actor_membership.workspace,
        created_by=actor,
        email=email,
        role=role,
        token_hash=invitation_token_hash(token),
        expires_at=timezone.now() + timedelta(days=days),
    )
    _audit(actor, "invitation.created", invitation, role=role, days=days)
    return IssuedInvitation(invitation=invitation, token=token)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: AbstractBaseUser) -> Invitation:
    """The link stops working at once. Owners and admins; revoking twice changes nothing."""
    actor_membership = lock_membership(invitation.workspace, actor)
    require_manager(actor_membership, pgettext_lazy("only managers can", "revoke invitations"))
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    invitation.workspace = actor_membership.workspace
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.revoked_by = actor
        invitation.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        _audit(actor, "invitation.revoked", invitation)
    return invitation


def invitation_find(*, token: str) -> Invitation:
    """The invitation of a link's token, whatever its state, else NotFound."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise NotFound(gettext("No such invitation."))
    if len(token) > TOKEN_MAX_LENGTH:
        raise NotFound(gettext("No such invitation."))
    invitation = (
        Invitation.objects.select_related("workspace", "created_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None:
        raise NotFound(gettext("No such invitation."))
    return invitation


def check_usable(invitation: Invitation) -> None:
    """Conflict (409) for a link that can no longer be used, saying why in
    `details.reason`: revoked, expired, or (for one person) used already."""
    status = invitation.status
    if status == InvitationStatus.REVOKED:
        raise Conflict(gettext("This invitation was revoked."), details={"reason": "revoked"})
    if status == InvitationStatus.EXPIRED:
        raise Conflict(gettext("This invitation has expired."), details={"reason": "expired"})
    if status == InvitationStatus.ACCEPTED:
        raise Conflict(gettext("This invitation has been used."), details={"reason": "used"})


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> tuple[Membership, bool]:
    """Join the workspace of a link (signed in). Returns (membership, joined); someone
    already in it keeps their role and does not use the link up."""
    found = invitation_find(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=found.pk)
    invitation.workspace = found.workspace
    existing = Membership.objects.filter(workspace=invitation.workspace, user=user).first()
    if existing is not None:
        existing.workspace = invitation.workspace
        return existing, False
    check_usable(invitation)
    if invitation.email and invitation.email != (user.email or "").lower():
        raise PermissionDenied(
            gettext("This invitation is for another email address: sign in with that account."),
            details={"reason": "email"},
        )
    membership = Membership.objects.create(
        workspace=invitation.workspace, user=user, role=invitation.role
    )
    membership.workspace = invitation.workspace
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk).update(
        use_count=F("use_count") + 1, last_used_at=now, updated_at=now
    )
    _audit(user, "invitation.accepted", invitation, role=invitation.role, user=str(user.pk))
    return membership, True
