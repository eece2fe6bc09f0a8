"""Writes to workspaces and memberships: the personal and the shared workspace, and the
acts of a workspace's owners and admins on its members (docs/data-model.md, "Workspaces")."""

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.utils.translation import gettext, pgettext_lazy

from conversations.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from conversations.models import (
    Conversation,
    ConversationKind,
    Membership,
    Participant,
    Workspace,
    WorkspaceRole,
)

from .audit import audit_event_record
from .conversations import lock_conversation, lock_row, participant_leave


def _unique_slug(base: str) -> str:
    base = slugify(base)[:48] or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


@transaction.atomic
def workspace_create(
    *, name: str, owner: AbstractBaseUser, slug: str = "", is_personal: bool = False
) -> Workspace:
    """A workspace with `owner` as its owner member. An empty slug is made from the name."""
    name = name.strip()
    if not name:
        raise InvalidInput("name", "A workspace needs a name.")
    if len(name) > 100:
        raise InvalidInput("name", "A workspace name is at most 100 characters.")
    if slug:
        if slug != slugify(slug) or len(slug) > 60:
            raise InvalidInput("slug", "A slug is lowercase letters, digits and hyphens, ≤ 60.")
        if Workspace.objects.filter(slug=slug).exists():
            raise InvalidInput("slug", f"The workspace slug {slug!r} is taken.")
    else:
        slug = _unique_slug(name)
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(
                name=name, slug=slug, is_personal=is_personal, created_by=owner
            )
    except IntegrityError:
        # Another request took the slug between the check and the insert.
        raise InvalidInput("slug", f"The workspace slug {slug!r} is taken.") from None
    Membership.objects.create(user=owner, workspace=workspace, role=WorkspaceRole.OWNER)
    return workspace


@transaction.atomic
def workspace_create_personal(*, user: AbstractBaseUser) -> Workspace:
    """The user's own workspace, made their default. Used once, when the user is created."""
    workspace = workspace_create(
        name=f"{user.username[:80]}'s workspace",
        slug=_unique_slug(user.username),
        owner=user,
        is_personal=True,
    )
    user.default_workspace = workspace
    user.save(update_fields=["default_workspace", "updated_at"])
    return workspace


@transaction.atomic
def membership_add(
    *,
    workspace: Workspace,
    user: AbstractBaseUser,
    role: str = WorkspaceRole.MEMBER,
    actor: AbstractBaseUser | None = None,
) -> Membership:
    """Add the user to the workspace, or change their role if they are in it already."""
    if role not in WorkspaceRole.values:
        raise InvalidInput("role", f"Role must be one of {', '.join(WorkspaceRole.values)}.")
    if workspace.is_personal and user.pk != workspace.created_by_id:
        raise InvalidInput("workspace", gettext("Nobody else can join a personal workspace."))
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        audit_event_record(
            actor=actor,
            action="membership.role_changed",
            target_type="membership",
            target_id=membership.pk,
            data={"from": membership.role, "to": role, "workspace": workspace.slug},
        )
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


# --- the shared workspace --------------------------------------------------------------------


def workspace_shared() -> Workspace:
    """The server's shared workspace, named SITE_NAME, made the first time it is wanted
    (a fresh install has none until its first user; migration 0014 made it for the users
    an existing install had)."""
    workspace = Workspace.objects.filter(is_shared=True).first()
    if workspace is not None:
        return workspace
    name = " ".join(settings.SITE_NAME.split())[:100] or "chatapp"
    try:
        with transaction.atomic():
            return Workspace.objects.create(name=name, slug=_unique_slug(name), is_shared=True)
    except IntegrityError:  # made by a concurrent first user
        workspace = Workspace.objects.filter(is_shared=True).first()
        if workspace is None:
            raise
        return workspace


@transaction.atomic
def workspace_join_shared(*, user: AbstractBaseUser) -> Membership | None:
    """Put a new user in the shared workspace (when SHARED_WORKSPACE is on; None when
    off). Its first member is its owner, everyone after a member. Called by user_create,
    which every way of making a user goes through (registration, the admin,
    createsuperuser, single sign-on)."""
    if not settings.SHARED_WORKSPACE:
        return None
    workspace = workspace_shared()
    has_owner = Membership.objects.filter(workspace=workspace, role=WorkspaceRole.OWNER).exists()
    membership, _ = Membership.objects.get_or_create(
        workspace=workspace,
        user=user,
        defaults={"role": WorkspaceRole.MEMBER if has_owner else WorkspaceRole.OWNER},
    )
    return membership


# --- members: the acts of owners and admins ------------------------------------------------

MANAGERS = (WorkspaceRole.OWNER, WorkspaceRole.ADMIN)


def check_role(role: Any, *, field: str = "role") -> str:
    if role not in WorkspaceRole.values:
        raise InvalidInput(field, f"Role must be one of {', '.join(WorkspaceRole.values)}.")
    return role


def lock_membership(workspace: Workspace, user: AbstractBaseUser) -> Membership:
    """The user's membership, with the workspace's row locked until the transaction ends
    (so that two acts on its members, two owners stepping down at once, queue). Someone
    outside it gets NotFound, as for a workspace that does not exist."""
    workspace = lock_row(workspace, missing=gettext("No such workspace."))
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None:
        raise NotFound(gettext("No such workspace."), details={"field": "workspace"})
    membership.workspace = workspace
    return membership


def require_manager(membership: Membership, action: str) -> None:
    """Owners and admins manage members; a member who tries is refused (403: they can see
    the workspace, so it is not hidden from them)."""
    if membership.role not in MANAGERS:
        raise PermissionDenied(
            gettext("Only the workspace's owners and admins can %(action)s.") % {"action": action}
        )
    if membership.workspace.is_personal:
        raise InvalidInput("workspace", gettext("Nobody else can join a personal workspace."))


def check_may_grant(actor_membership: Membership, role: str) -> None:
    """Admins bring in members; only an owner makes admins and owners."""
    if role != WorkspaceRole.MEMBER and actor_membership.role != WorkspaceRole.OWNER:
        raise PermissionDenied(gettext("Only an owner can make admins and owners."))


def _audit_member(actor, action: str, membership: Membership, **data) -> None:
    audit_event_record(
        actor=actor,
        action=action,
        target_type="membership",
        target_id=membership.pk,
        data={
            "workspace": membership.workspace.slug,
            "user": str(membership.user_id),
            "username": membership.user.username,
            **data,
        },
    )


@transaction.atomic
def member_add(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser,
    user: AbstractBaseUser,
    role: str = WorkspaceRole.MEMBER,
) -> tuple[Membership, bool]:
    """An owner or admin adds someone who has an account (invited by username), at once.
    Returns (membership, created); someone already in it keeps their role."""
    check_role(role)
    actor_membership = lock_membership(workspace, actor)
    require_manager(actor_membership, pgettext_lazy("only managers can", "add members"))
    check_may_grant(actor_membership, role)
    if not user.is_active:
        raise InvalidInput(
            "username", gettext("%(username)s is suspended.") % {"username": user.username}
        )
    existing = Membership.objects.filter(workspace=workspace, user=user).first()
    if existing is not None:
        return existing, False
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    membership.workspace = actor_membership.workspace
    _audit_member(actor, "membership.added", membership, role=role)
    return membership, True


def _member_of(workspace: Workspace, user: AbstractBaseUser) -> Membership:
    membership = (
        Membership.objects.select_related("user").filter(workspace=workspace, user=user).first()
    )
    if membership is None:
        raise NotFound(gettext("No such member."))
    return membership


def _check_an_owner_stays(membership: Membership) -> None:
    """A workspace is never left without an owner (the workspace's row is locked)."""
    if (
        membership.role == WorkspaceRole.OWNER
        and not Membership.objects.filter(workspace=membership.workspace_id, role="owner")
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict(
            "A workspace keeps at least one owner: make someone else an owner first.",
            details={"field": "role"},
        )


@transaction.atomic
def member_set_role(
    *, workspace: Workspace, actor: AbstractBaseUser, user: AbstractBaseUser, role: str
) -> Membership:
    """Owners change anyone's role (an owner's own too), as long as an owner stays;
    admins and members change none."""
    check_role(role)
    actor_membership = lock_membership(workspace, actor)
    require_manager(actor_membership, pgettext_lazy("only managers can", "change roles"))
    if actor_membership.role != WorkspaceRole.OWNER:
        raise PermissionDenied(gettext("Only an owner can change roles."))
    membership = _member_of(workspace, user)
    membership.workspace = actor_membership.workspace
    if membership.role == role:
        return membership
    if role != WorkspaceRole.OWNER:
        _check_an_owner_stays(membership)
    _audit_member(
        actor, "membership.role_changed", membership, **{"from": membership.role, "to": role}
    )
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def member_remove(
    *, workspace: Workspace, actor: AbstractBaseUser, user: AbstractBaseUser
) -> Membership:
    """Remove someone (owners remove anyone, admins remove members), or leave (actor is
    user). The last owner can do neither. The person leaves the workspace's group
    conversations, as if removed from each; their direct and assistant conversations there
    stay theirs to read (docs/data-model.md, "Leaving a workspace")."""
    actor_membership = lock_membership(workspace, actor)
    workspace = actor_membership.workspace
    if workspace.is_personal:
        raise InvalidInput("workspace", gettext("Nobody leaves their personal workspace."))
    if actor.pk == user.pk:
        membership = actor_membership
        membership.user = user
        action = "membership.left"
    else:
        require_manager(actor_membership, pgettext_lazy("only managers can", "remove members"))
        membership = _member_of(workspace, user)
        membership.workspace = workspace
        if membership.role != WorkspaceRole.MEMBER and actor_membership.role != "owner":
            raise PermissionDenied(gettext("Only an owner can remove admins and owners."))
        action = "membership.removed"
    _check_an_owner_stays(membership)
    groups = list(
        Participant.objects.filter(
            user=user,
            left_at__isnull=True,
            conversation__workspace=workspace,
            conversation__kind=ConversationKind.GROUP,
        ).values_list("conversation_id", flat=True)
    )
    for conversation_id in groups:
        conversation = lock_conversation(Conversation(pk=conversation_id))
        participant = Participant.objects.get(
            conversation=conversation, user=user, left_at__isnull=True
        )
        participant_leave(
            conversation=conversation,
            participant=participant,
            actor=actor,
            reason="left the workspace" if actor.pk == user.pk else "removed from the workspace",
        )
    _audit_member(actor, action, membership, role=membership.role, groups_left=len(groups))
    membership.delete()
    if user.default_workspace_id == workspace.pk:
        personal = Workspace.objects.filter(is_personal=True, created_by=user).first()
        user.default_workspace = personal
        user.save(update_fields=["default_workspace", "updated_at"])
    return membership
