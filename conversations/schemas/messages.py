"""Schemas of messages and their parts."""

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, computed_field

from conversations.models import CLIENT_MESSAGE_ID_MAX_LENGTH, CONTENT_MAX_LENGTH

from .common import OutModel, UserRefOut

API_PREFIX = "/api/v1"


class ArtifactOut(OutModel):
    id: uuid.UUID
    kind: str
    path: str
    mime: str
    size: int
    sha256: str
    file: Any = Field(exclude=True)  # stored or not: `url` says

    @computed_field
    @property
    def url(self) -> str | None:
        """Where to GET its file (participants only), when a file is stored."""
        return f"{API_PREFIX}/artifacts/{self.id}" if self.file else None


class MessagePartOut(OutModel):
    index: int
    step_index: int
    type: str
    content: dict[str, Any]
    tool_name: str
    tool_call_id: str
    tool_duration_ms: int | None
    # A file the part made or brought (an image of an imported ChatGPT export, an
    # assistant's file): what is known of it.
    artifact: ArtifactOut | None = None


class MessageOut(OutModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    role: str
    status: str
    sender: UserRefOut | None
    # Nothing of a deleted or hidden message: its content is "" and it has no parts.
    content: str = Field(validation_alias="visible_content")
    model: str
    client_message_id: str | None
    reply_to_id: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
    edited_at: datetime | None
    is_deleted: bool
    is_hidden: bool
    parts: list[MessagePartOut] = Field(validation_alias="visible_parts")


class MessageIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)
    client_message_id: str | None = Field(default=None, max_length=CLIENT_MESSAGE_ID_MAX_LENGTH)
    reply_to_id: uuid.UUID | None = None
    meta: dict[str, Any] | None = None


class MessagePageOut(OutModel):
    items: list[MessageOut]
    has_more_before: bool
    has_more_after: bool


class MessagePatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)


class ReportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="spam, abuse, harassment or other")
    note: str = Field(default="", max_length=2000)


class ReportOut(Schema):
    id: uuid.UUID
    message_id: uuid.UUID
    reason: str
    note: str
    status: str
    created_at: datetime
