"""Writes to workspaces and memberships."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from conversations.exceptions import InvalidInput
from conversations.models import Membership, Workspace, WorkspaceRole

from .audit import audit_event_record


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
        raise InvalidInput("workspace", "Nobody else can join a personal workspace.")
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
