"""Schemas of export and import: our JSON export format (version 2; version 1 is read too),
written from the models
by the *Out schemas and read back from a file by the *In schemas, and the import's answer.

The export format is a file format, versioned on its own: it does not reuse the API's
ConversationOut/MessageOut, so that changing the API never changes what an old file means.
docs/import-export.md describes it.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from conversations.models import (
    ArtifactKind,
    ConversationKind,
    ConversationStatus,
    MessageErrorType,
    MessageRole,
    MessageStatus,
    PartType,
)

# PositiveIntegerField's range on every database.
Count = Annotated[int, Field(ge=0, le=2_147_483_647)]
Positive = Annotated[int, Field(ge=1, le=2_147_483_647)]

# --- written by an export ------------------------------------------------------------------


class ExportUserOut(Schema):
    id: uuid.UUID
    username: str
    display_name: str


class ExportAgentOut(Schema):
    slug: str
    name: str
    model: str


class ExportParticipantOut(Schema):
    user: ExportUserOut
    role: str
    joined_at: datetime


class ExportUsageOut(Schema):
    total_input_tokens: int
    total_output_tokens: int
    total_cached_tokens: int
    total_reasoning_tokens: int
    total_tool_time_ms: int
    tool_counts: dict[str, int]


class ExportConversationOut(Schema):
    id: uuid.UUID
    kind: str
    title: str
    status: str
    agent: ExportAgentOut | None
    subject_type: str
    subject_id: str
    metadata: dict[str, Any]
    created_at: datetime
    last_activity_at: datetime
    message_count: int
    usage: ExportUsageOut
    participants: list[ExportParticipantOut]

    @staticmethod
    def resolve_usage(conversation) -> dict:
        return {field: getattr(conversation, field) for field in ExportUsageOut.model_fields}

    @staticmethod
    def resolve_participants(conversation) -> list:
        # Set by selectors.conversation_export: the current participants with their users.
        return conversation.export_participants


class ExportArtifactOut(Schema):
    """What is known about a file a turn produced; the file itself is not in the export."""

    kind: str
    path: str
    mime: str
    size: int
    sha256: str


class ExportPartOut(Schema):
    index: int
    step_index: int
    type: str
    content: dict[str, Any]
    tool_name: str
    tool_call_id: str
    started_at: datetime | None
    completed_at: datetime | None
    tool_duration_ms: int | None
    artifact: ExportArtifactOut | None

    @staticmethod
    def resolve_artifact(part):
        # A missing reverse one-to-one raises (an AttributeError), which hasattr answers.
        return part.artifact if hasattr(part, "artifact") else None


class ExportRevisionOut(Schema):
    """An earlier text of an edited message (MessageRevision): replaced at `created_at`."""

    number: int
    content: str
    created_at: datetime


class ExportLineOut(Schema):
    """A line of the conversation (models.Line): a new version of the turn at
    `fork_position` on the path of `parent_line`; `ancestry` is its whole path as [line,
    first position] pairs. Line 0, the first, has none."""

    number: int
    parent_line: int
    fork_position: int
    ancestry: list[list[int]]


class ExportMessageOut(Schema):
    """One message of any version. A deleted or hidden one keeps its place in the tree,
    times and token counts, without its content, parts, meta, error text or earlier texts:
    exported as the API shows it."""

    seq: int
    position: int
    line: int
    parent_seq: int | None
    version: int
    role: str
    status: str
    sender: ExportUserOut | None
    agent: ExportAgentOut | None
    provider: str
    model: str
    content: str
    reply_to_seq: int | None
    created_at: datetime
    completed_at: datetime | None
    edited_at: datetime | None
    latency_ms: int | None
    ttft_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    error: str
    error_type: str
    error_details: dict[str, Any]
    is_aborted: bool
    meta: dict[str, Any]
    is_deleted: bool
    is_hidden: bool
    parts: list[ExportPartOut]
    revisions: list[ExportRevisionOut]

    @staticmethod
    def resolve_content(message) -> str:
        return message.visible_content

    @staticmethod
    def resolve_reply_to_seq(message) -> int | None:
        # Annotated by selectors.conversation_export (a join, not the replied-to row).
        return message.reply_to_seq

    @staticmethod
    def resolve_parent_seq(message) -> int | None:
        # Annotated by selectors.conversation_export, as reply_to_seq.
        return message.parent_seq

    @staticmethod
    def resolve_revisions(message) -> list:
        return list(message.revisions.all()) if message.is_visible else []

    @staticmethod
    def resolve_error(message) -> str:
        return message.error if message.is_visible else ""

    @staticmethod
    def resolve_error_details(message) -> dict:
        return message.error_details if message.is_visible else {}

    @staticmethod
    def resolve_meta(message) -> dict:
        return message.meta if message.is_visible else {}

    @staticmethod
    def resolve_is_deleted(message) -> bool:
        return message.deleted_at is not None

    @staticmethod
    def resolve_is_hidden(message) -> bool:
        return message.hidden_at is not None

    @staticmethod
    def resolve_parts(message) -> list:
        return list(message.parts.all()) if message.is_visible else []


class ExportDocumentOut(Schema):
    """The whole JSON export (GET /conversations/{id}/export?format=json), written in this
    key order so that an import can stream the messages."""

    format: Literal["chatapp"]
    version: int
    exported_at: datetime
    conversation: ExportConversationOut
    # The line the person who exported it was shown (0 when they never picked a version).
    shown_line: int
    lines: list[ExportLineOut]
    messages: list[ExportMessageOut]


# --- read back by an import ----------------------------------------------------------------


class ExportUserIn(Schema):
    id: uuid.UUID | None = None
    username: str = Field(default="", max_length=150)
    display_name: str = Field(default="", max_length=150)


class ExportAgentIn(Schema):
    slug: str = Field(default="", max_length=60)
    name: str = Field(default="", max_length=100)
    model: str = Field(default="", max_length=200)


class ExportParticipantIn(Schema):
    user: ExportUserIn
    role: str = Field(default="", max_length=10)


class ExportConversationIn(Schema):
    id: uuid.UUID
    kind: ConversationKind
    title: str = ""
    status: ConversationStatus = ConversationStatus.ACTIVE
    agent: ExportAgentIn | None = None
    subject_type: str = Field(default="", max_length=50)
    subject_id: str = Field(default="", max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    participants: list[ExportParticipantIn] = Field(default_factory=list)


class ExportArtifactIn(Schema):
    kind: ArtifactKind
    path: str = Field(default="", max_length=500)
    mime: str = Field(default="", max_length=100)
    size: int = Field(default=0, ge=0, le=2**63 - 1)
    sha256: str = Field(default="", max_length=64)


class ExportPartIn(Schema):
    step_index: Count = 0
    type: PartType
    content: dict[str, Any] = Field(default_factory=dict)
    tool_name: str = Field(default="", max_length=200)
    tool_call_id: str = Field(default="", max_length=200)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    tool_duration_ms: Count | None = None
    artifact: ExportArtifactIn | None = None


class ExportMessageIn(Schema):
    seq: int = Field(ge=1)
    role: MessageRole
    status: MessageStatus = MessageStatus.COMPLETE
    sender: ExportUserIn | None = None
    agent: ExportAgentIn | None = None
    provider: str = Field(default="", max_length=20)
    model: str = Field(default="", max_length=200)
    content: str = ""
    reply_to_seq: int | None = None
    created_at: datetime
    completed_at: datetime | None = None
    edited_at: datetime | None = None
    latency_ms: Count | None = None
    ttft_ms: Count | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    cached_input_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    error: str = ""
    error_type: MessageErrorType | Literal[""] = ""
    error_details: dict[str, Any] = Field(default_factory=dict)
    is_aborted: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    is_deleted: bool = False
    is_hidden: bool = False
    parts: list[ExportPartIn] = Field(default_factory=list)


class ExportRevisionIn(Schema):
    number: Positive
    content: str = ""
    created_at: datetime


class ExportLineIn(Schema):
    number: Positive
    parent_line: Count
    fork_position: Positive
    ancestry: list[tuple[Count, Positive]]


class ExportMessageTreeIn(ExportMessageIn):
    """A message of version 2: its place in the tree of versions, and its earlier texts."""

    position: Positive
    line: Count = 0
    parent_seq: Positive | None = None
    version: Positive = 1
    revisions: list[ExportRevisionIn] = Field(default_factory=list)


# --- the import's answer -------------------------------------------------------------------


class ImportResultOut(Schema):
    """201 when something was imported, 200 when everything was there already."""

    imported: list[uuid.UUID]
    skipped: list[uuid.UUID]
    format: Literal["chatapp", "chatgpt"]
