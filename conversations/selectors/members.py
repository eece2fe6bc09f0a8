"""Reads of a workspace's members and invitations, for its members only: whoever is not in
a workspace gets NotFound for it, as for one that does not exist, so nobody learns who is
on a workspace they are not in."""

import re
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from conversations.exceptions import InvalidInput, NotFound, PermissionDenied
from conversations.models import Invitation, Membership, WorkspaceRole

MEMBER_QUERY_MAX_LENGTH = 100
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,60}")

User = get_user_model()


def membership_get_for_user(*, user: AbstractBaseUser, slug: str) -> Membership:
    """The user's membership of the workspace with this slug, its workspace loaded; NotFound
    when there is no such workspace or the user is not in it."""
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
        if isinstance(slug, str) and SLUG.fullmatch(slug)
        else None  # nothing has such a slug (and a NUL would not even reach PostgreSQL)
    )
    if membership is None:
        raise NotFound(gettext("No such workspace."), details={"field": "workspace"})
    return membership


MANAGER_ROLES = (WorkspaceRole.OWNER, WorkspaceRole.ADMIN)


def require_workspace_manager(membership: Membership) -> None:
    if membership.role not in MANAGER_ROLES:
        raise PermissionDenied(
            gettext("Only the workspace's owners and admins can see its invitations.")
        )


def clean_member_query(text: str | None) -> str:
    """What a people search looks for: whitespace folded, at most 100 characters."""
    return " ".join((text or "").split())[:MEMBER_QUERY_MAX_LENGTH]


def workspace_members(
    *,
    membership: Membership,
    query: str = "",
    after: str | None = None,
    limit: int = 50,
) -> tuple[list[Membership], bool]:
    """Members of the caller's workspace with their users, by username; `query` matches
    the start of a username or any part of a display name, ignoring case. One query:
    (page, has_more), paged by the last username shown (usernames are unique)."""
    members = (
        Membership.objects.filter(workspace_id=membership.workspace_id)
        .select_related("user")
        .order_by("user__username")
    )
    query = clean_member_query(query)
    if query:
        members = members.filter(
            Q(user__username__istartswith=query) | Q(user__display_name__icontains=query)
        )
    if after is not None:
        members = members.filter(user__username__gt=after)
    rows = list(members[: limit + 1])
    return rows[:limit], len(rows) > limit


def member_user_get(*, membership: Membership, user_id: Any):
    """A member's user, by id, in the caller's workspace; NotFound otherwise."""
    try:
        pk = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound(gettext("No such member.")) from None
    found = (
        Membership.objects.filter(workspace_id=membership.workspace_id, user_id=pk)
        .select_related("user")
        .first()
    )
    if found is None:
        raise NotFound(gettext("No such member."))
    return found.user


def invitations_of(
    *,
    membership: Membership,
    live_only: bool = False,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> tuple[list[Invitation], bool]:
    """The workspace's invitations, newest first, for its owners and admins (403 for a
    member); `live_only`: only those that can still be used. (page, has_more)"""
    require_workspace_manager(membership)
    invitations = (
        Invitation.objects.filter(workspace_id=membership.workspace_id)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )
    if live_only:
        invitations = invitations.filter(
            revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).exclude(~Q(email=""), use_count__gt=0)
    if after is not None:
        moment, pk = after
        invitations = invitations.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    rows = list(invitations[: limit + 1])
    for invitation in rows:
        invitation.workspace = membership.workspace
    return rows[:limit], len(rows) > limit


def invitation_get_for_manager(*, membership: Membership, invitation_id: Any) -> Invitation:
    """One invitation of the caller's workspace (owners and admins); NotFound for an id of
    another workspace's, or of none."""
    require_workspace_manager(membership)
    try:
        pk = uuid.UUID(str(invitation_id))
    except ValueError:
        raise NotFound(gettext("No such invitation.")) from None
    invitation = Invitation.objects.filter(pk=pk, workspace_id=membership.workspace_id).first()
    if invitation is None:
        raise NotFound(gettext("No such invitation."))
    invitation.workspace = membership.workspace
    return invitation


def user_for_invitation(*, username: str):
    """The account a manager adds by username. (That a username is taken is no secret:
    registration says so too.)"""
    user = User.objects.filter(username=(username or "").strip()).first()
    if user is None:
        raise InvalidInput("username", gettext("No account has this username."))
    return user
