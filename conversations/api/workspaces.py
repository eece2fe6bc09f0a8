"""A workspace's members and invitations: parse, call one selector or service, shape the
answer. Every route with a slug answers 404 to whoever is not in that workspace, exactly as
for a slug nobody has; a member who tries an owner's or admin's act gets 403."""

import uuid

from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from conversations import services
from conversations.exceptions import BadCursor
from conversations.pagination import (
    decode_cursor,
    decode_time_id_cursor,
    encode_cursor,
    encode_time_id_cursor,
)
from conversations.schemas import (
    ERRORS,
    InvitationAcceptIn,
    InvitationCreatedOut,
    InvitationIn,
    InvitationListOut,
    MemberIn,
    MemberListOut,
    MemberOut,
    MemberPatchIn,
    WorkspaceOut,
)
from conversations.selectors import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from conversations.selectors import members as selectors

router = Router(tags=["workspaces"])


class MemberQuery(Schema):
    q: str | None = Field(
        default=None,
        max_length=200,
        description="The start of a username, or any part of a display name (ignoring case).",
    )
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


def _members_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (username,) = decode_cursor("members", cursor, length=1)
    if not isinstance(username, str):
        raise BadCursor("The cursor is not valid; start again from the first page.")
    return username


@router.get("/workspaces/{slug}/members", response={200: MemberListOut, **ERRORS})
def list_members(request: HttpRequest, slug: str, query: Query[MemberQuery]):
    """The workspace's members with their roles, by username; `q` finds people as you
    type. Members only (404 for anyone else)."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    items, has_more = selectors.workspace_members(
        membership=membership,
        query=query.q or "",
        after=_members_cursor(query.cursor),
        limit=query.limit,
    )
    return {
        "items": items,
        "has_more": has_more,
        "next_cursor": encode_cursor("members", [items[-1].user.username]) if has_more else None,
    }


@router.post("/workspaces/{slug}/members", response={200: MemberOut, 201: MemberOut, **ERRORS})
def add_member(request: HttpRequest, slug: str, payload: MemberIn):
    """Add someone with an account, by username (owners and admins; only owners add
    admins): 201, or 200 with their membership when they are in it already."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    user = selectors.user_for_invitation(username=payload.username)
    added, created = services.member_add(
        workspace=membership.workspace, actor=request.auth, user=user, role=payload.role
    )
    return Status(201 if created else 200, added)


@router.patch("/workspaces/{slug}/members/{user_id}", response={200: MemberOut, **ERRORS})
def change_member(request: HttpRequest, slug: str, user_id: uuid.UUID, payload: MemberPatchIn):
    """Change a member's role (owners only; a workspace always keeps an owner: 409)."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    user = selectors.member_user_get(membership=membership, user_id=user_id)
    return services.member_set_role(
        workspace=membership.workspace, actor=request.auth, user=user, role=payload.role
    )


@router.delete("/workspaces/{slug}/members/{user_id}", response={204: None, **ERRORS})
def remove_member(request: HttpRequest, slug: str, user_id: uuid.UUID):
    """Remove a member (owners; admins remove members), or leave (your own id). They
    leave its group conversations; their direct and assistant ones stay theirs."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    user = selectors.member_user_get(membership=membership, user_id=user_id)
    services.member_remove(workspace=membership.workspace, actor=request.auth, user=user)
    return Status(204, None)


class InvitationQuery(Schema):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


@router.get("/workspaces/{slug}/invitations", response={200: InvitationListOut, **ERRORS})
def list_invitations(request: HttpRequest, slug: str, query: Query[InvitationQuery]):
    """The workspace's invitations, newest first, whatever their status (owners and
    admins; 403 for members). Their links are never shown again."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    items, has_more = selectors.invitations_of(
        membership=membership,
        after=decode_time_id_cursor("invitations", query.cursor),
        limit=query.limit,
    )
    last = items[-1] if has_more else None
    return {
        "items": items,
        "has_more": has_more,
        "next_cursor": encode_time_id_cursor("invitations", last.created_at, last.pk)
        if last
        else None,
    }


@router.post("/workspaces/{slug}/invitations", response={201: InvitationCreatedOut, **ERRORS})
def create_invitation(request: HttpRequest, slug: str, payload: InvitationIn):
    """A link to join the workspace, for anyone who has it or (with `email`) for that person
    only; it lives `expires_in_days`. The link is in this answer only. Owners and admins;
    only owners invite admins."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    issued = services.invitation_create(
        workspace=membership.workspace,
        actor=request.auth,
        email=payload.email,
        role=payload.role,
        expires_in_days=payload.expires_in_days,
    )
    invitation = issued.invitation
    invitation.token = issued.token
    invitation.url = request.build_absolute_uri(
        reverse("conversations:invitation", args=[issued.token])
    )
    return Status(201, invitation)


@router.delete("/workspaces/{slug}/invitations/{invitation_id}", response={204: None, **ERRORS})
def revoke_invitation(request: HttpRequest, slug: str, invitation_id: uuid.UUID):
    """The link stops working at once (owners and admins)."""
    membership = selectors.membership_get_for_user(user=request.auth, slug=slug)
    invitation = selectors.invitation_get_for_manager(
        membership=membership, invitation_id=invitation_id
    )
    services.invitation_revoke(invitation=invitation, actor=request.auth)
    return Status(204, None)


@router.post("/invitations/accept", response={200: WorkspaceOut, **ERRORS})
def accept_invitation(request: HttpRequest, payload: InvitationAcceptIn):
    """Join the workspace of an invitation link (its token, the part after /invite/). An
    unknown token is 404; a revoked, expired or used one 409 with `details.reason`; one
    for another email address 403. Someone in the workspace already keeps their role."""
    membership, _ = services.invitation_accept(token=payload.token, user=request.auth)
    return membership
