"""Schemas of a workspace's members and invitations."""

import uuid
from datetime import datetime

from ninja import Schema
from pydantic import ConfigDict, Field

from .common import UserRefOut


class MemberOut(Schema):
    user: UserRefOut
    role: str = Field(description="owner, admin or member")
    active: bool = Field(description="false: the account is suspended")
    joined_at: datetime

    @staticmethod
    def resolve_active(membership) -> bool:
        return membership.user.is_active

    @staticmethod
    def resolve_joined_at(membership) -> datetime:
        return membership.created_at


class MemberListOut(Schema):
    items: list[MemberOut]
    next_cursor: str | None
    has_more: bool


class MemberIn(Schema):
    """Add someone who has an account, by username, at once."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    role: str = Field(default="member", max_length=20, description="member or admin")


class MemberPatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=20, description="owner, admin or member")


class InvitationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        default="",
        max_length=254,
        description="Only the person signed in with this email may use it (once); empty: "
        "anyone with the link, until it expires or is revoked.",
    )
    role: str = Field(default="member", max_length=20, description="member or admin")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=90, description="Default: INVITATION_DAYS (7)."
    )


class InvitationOut(Schema):
    id: uuid.UUID
    workspace: str
    email: str
    role: str
    status: str = Field(description="active, accepted (an email's, used), expired or revoked")
    created_by: UserRefOut | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    use_count: int
    last_used_at: datetime | None

    @staticmethod
    def resolve_workspace(invitation) -> str:
        return invitation.workspace.slug


class InvitationCreatedOut(InvitationOut):
    token: str = Field(description="The link's secret, shown this once only.")
    url: str = Field(description="The link to send: /invite/<token> on this server.")


class InvitationListOut(Schema):
    items: list[InvitationOut]
    next_cursor: str | None
    has_more: bool


class InvitationAcceptIn(Schema):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
