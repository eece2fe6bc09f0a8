"""Schemas of messages and their parts."""

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, computed_field, field_validator

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


class MessageUsageOut(OutModel):
    """The tokens of one assistant turn, as its model server reported them."""

    prompt_tokens: int | None = Field(description="Tokens read: the context sent upstream.")
    completion_tokens: int | None = Field(description="Tokens written, reasoning included.")
    total_tokens: int | None = Field(description="prompt_tokens + completion_tokens.")
    cached_tokens: int | None = Field(
        description="Of the prompt tokens, those the server had cached (0 if it did not say)."
    )
    reasoning_tokens: int | None = Field(
        description="Of the completion tokens, those spent reasoning (0 if it did not say)."
    )


class MessageOut(OutModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int = Field(
        description="Its number in the order the conversation's messages were written "
        "(1, 2, 3…, every version counted)."
    )
    position: int = Field(
        description="Its turn: its place on the path through the versions (1 for the first "
        "turn). Pages' before and after are positions of the caller's path."
    )
    line: int = Field(
        description="The line of versions it was written on (0: the conversation's first)."
    )
    parent_id: uuid.UUID | None = Field(
        description="The message before it on its path; its turn's versions share it."
    )
    version: int = Field(description="Which version of its turn it is: 1, 2, 3… as made.")
    versions: int = Field(
        default=1,
        description="How many versions its turn has (on pages and version lists; 1 elsewhere).",
    )
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
    # How an assistant turn went, as the thread page and the export tell it. A human
    # message has none of it: null (is_aborted false).
    usage: MessageUsageOut | None = Field(
        description="The turn's token counts; null when none were reported (a human message, "
        "a turn that failed before its model server said)."
    )
    latency_ms: int | None = Field(
        description="Milliseconds from sending the request upstream to the turn's end."
    )
    ttft_ms: int | None = Field(
        description="Milliseconds from sending the request upstream to the first token; null "
        "when none came."
    )
    finish_reason: str | None = Field(
        description="Why the model stopped, in its server's words: stop, length (cut at the "
        "agent's max_tokens), tool_calls, content_filter … Null unless the turn is complete "
        "and the server said; a turn that ended in error says why in error_type."
    )
    error_type: str | None = Field(
        description="Why a turn ended in error: upstream_unreachable, upstream_error, timeout, "
        "context_length, aborted (someone stopped it), interrupted (the server stopped while "
        "writing it), not_configured (no model server is configured: regenerate once one is). "
        "Null unless status is error."
    )
    error: str | None = Field(
        validation_alias="visible_error",
        description="What went wrong, in words (null unless status is error, and for a "
        "deleted or hidden message).",
    )
    is_aborted: bool = Field(description="Someone stopped the turn (error_type aborted).")

    @field_validator("finish_reason", "error_type", "error", mode="before")
    @classmethod
    def _none_when_empty(cls, value: str | None) -> str | None:
        return value or None


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


class VersionOut(MessageOut):
    shown: bool = Field(description="It is on the path the caller is shown.")


class VersionListOut(OutModel):
    items: list[VersionOut] = Field(description="The turn's versions, in the order made.")


class ResendIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)
    client_message_id: str | None = Field(default=None, max_length=CLIENT_MESSAGE_ID_MAX_LENGTH)


class ShownPathOut(OutModel):
    """The caller's path once a version is picked: the line they are shown and, from the
    picked turn on, its messages (the rows that change on screen)."""

    line: int
    position: int = Field(description="The turn whose version was picked.")
    items: list[MessageOut] = Field(description="The path from that turn on, a page of it.")
    has_more_after: bool


class MessagePatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)


class MessageTextOut(OutModel):
    """One text a message has had."""

    number: int | None = Field(
        description="The revision's number: 1 is the text first posted, 2 the first edit's… "
        "Null for the text the message has now."
    )
    content: str
    written_at: datetime = Field(
        description="When this text was written: the message's posting, or the edit that wrote it."
    )
    replaced_at: datetime | None = Field(
        description="When an edit replaced it; null for the current text."
    )


class MessageHistoryOut(OutModel):
    """A message's edit history: its text now, and a cursor page of the texts its edits
    replaced, newest first."""

    message_id: uuid.UUID
    is_deleted: bool
    is_hidden: bool
    edited_at: datetime | None
    current: MessageTextOut | None = Field(
        description="The text it has now; null for a deleted or hidden message, whose "
        "history shows no text (and no items)."
    )
    items: list[MessageTextOut] = Field(description="Earlier texts, newest first.")
    next_cursor: str | None
    has_more: bool


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
