"""Schemas of the auth and account endpoints."""

import uuid
from datetime import datetime

from ninja import Schema
from pydantic import ConfigDict, Field


class RegisterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    username: str = Field(max_length=50)
    password: str = Field(max_length=1000)
    display_name: str = Field(default="", max_length=150)


class TokenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=254, description="A username or an email.")
    password: str = Field(min_length=1, max_length=1000)


class RefreshIn(Schema):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class TokenPairOut(Schema):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class UserOut(Schema):
    id: uuid.UUID
    username: str
    email: str
    display_name: str
    default_workspace: str | None = Field(description="The slug of the user's default workspace.")
    created_at: datetime

    @staticmethod
    def resolve_default_workspace(user) -> str | None:
        return user.default_workspace.slug if user.default_workspace_id else None


class RegisterOut(TokenPairOut):
    user: UserOut


class PersonalTokenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class PersonalTokenOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class PersonalTokenCreatedOut(PersonalTokenOut):
    token: str = Field(description="The token itself, shown this once only.")


class PersonalTokenPageOut(Schema):
    items: list[PersonalTokenOut]
    next_cursor: str | None
    has_more: bool
