"""Schemas of workspaces, conversations, participants and read markers."""

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from conversations.models import CLIENT_MESSAGE_ID_MAX_LENGTH, CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH

from .common import OutModel, UserRefOut
from .messages import MessageOut


class WorkspaceOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    is_personal: bool
    is_shared: bool = Field(description="The server's workspace, which every new user joins.")
    role: str

    @staticmethod
    def resolve_id(membership) -> uuid.UUID:
        return membership.workspace.id

    @staticmethod
    def resolve_name(membership) -> str:
        return membership.workspace.name

    @staticmethod
    def resolve_slug(membership) -> str:
        return membership.workspace.slug

    @staticmethod
    def resolve_is_personal(membership) -> bool:
        return membership.workspace.is_personal

    @staticmethod
    def resolve_is_shared(membership) -> bool:
        return membership.workspace.is_shared


class WorkspaceListOut(Schema):
    items: list[WorkspaceOut]
    next_cursor: str | None
    has_more: bool


class AgentRefOut(OutModel):
    id: uuid.UUID
    name: str
    slug: str


class LastMessageOut(OutModel):
    id: uuid.UUID
    seq: int
    role: str
    sender: UserRefOut | None
    excerpt: str = Field(
        description="Its first 200 characters as plain text (the Markdown's words without "
        "its markup, on one line); empty if deleted or hidden."
    )
    created_at: datetime


class ConversationListItemOut(OutModel):
    id: uuid.UUID
    kind: str
    title: str
    display_title: str = Field(
        description="What to call it: its title, or for an untitled direct conversation the "
        "other person's name (each of the two sees the other's). Empty when neither."
    )
    agent: AgentRefOut | None
    status: str
    pinned_at: datetime | None
    archived_at: datetime | None
    last_activity_at: datetime
    unread_count: int
    last_message: LastMessageOut | None


class ConversationListOut(OutModel):
    items: list[ConversationListItemOut]
    next_cursor: str | None
    has_more: bool


class SubjectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=50)
    id: str = Field(min_length=1, max_length=100)


class FirstMessageIn(Schema):
    """The message a conversation is started with (a New chat's first send)."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)
    client_message_id: str | None = Field(
        default=None,
        max_length=CLIENT_MESSAGE_ID_MAX_LENGTH,
        description="Makes the start idempotent: sent again, it answers 200 with the "
        "conversation it started and its message, and starts no second one.",
    )


class ConversationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="assistant, direct or group")
    title: str = Field(default="", max_length=TITLE_MAX_LENGTH)
    agent_id: uuid.UUID | None = None
    participants: list[str] = Field(
        default_factory=list, max_length=500, description="Usernames besides the caller."
    )
    workspace: str | None = Field(default=None, max_length=60, description="A workspace slug.")
    subject: SubjectIn | None = None
    metadata: dict[str, Any] | None = None
    message: FirstMessageIn | None = Field(
        default=None,
        description="Start it with this first message, in the same transaction: nothing "
        "is made if either is refused.",
    )


class ConversationPatchIn(Schema):
    """Only the fields sent change; `agent_id: null` clears the agent."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=TITLE_MAX_LENGTH)
    pinned: bool | None = None
    archived: bool | None = None
    muted: bool | None = None
    status: str | None = None
    agent_id: uuid.UUID | None = None


class ParticipantOut(Schema):
    user: UserRefOut
    role: str
    joined_at: datetime


class ParticipantListOut(Schema):
    items: list[ParticipantOut]
    next_cursor: str | None
    has_more: bool


class ParticipantIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    role: str = "member"


class UsageTotalsOut(Schema):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    tool_time_ms: int
    tool_counts: dict[str, int]


class SubjectOut(Schema):
    type: str
    id: str


class ConversationOut(Schema):
    id: uuid.UUID
    workspace: str
    kind: str
    title: str
    display_title: str = Field(
        description="What to call it: its title, or for an untitled direct conversation the "
        "other person's name (each of the two sees the other's). Empty when neither."
    )
    agent: AgentRefOut | None
    status: str
    created_by: UserRefOut | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    message_count: int
    deleted_at: datetime | None
    subject: SubjectOut | None
    metadata: dict[str, Any]
    usage: UsageTotalsOut
    # The caller's own view of it.
    role: str
    pinned_at: datetime | None
    archived_at: datetime | None
    muted: bool
    last_read_seq: int
    unread_count: int
    participants: list[ParticipantOut]

    @staticmethod
    def resolve_participants(conversation) -> list:
        # Current participants only, loaded with their users by the API (participants_of).
        return conversation.participants_list

    @staticmethod
    def resolve_workspace(conversation) -> str:
        return conversation.workspace.slug

    @staticmethod
    def resolve_subject(conversation):
        if not conversation.subject_type:
            return None
        return {"type": conversation.subject_type, "id": conversation.subject_id}

    @staticmethod
    def resolve_usage(conversation) -> dict:
        return {
            "input_tokens": conversation.total_input_tokens,
            "output_tokens": conversation.total_output_tokens,
            "cached_tokens": conversation.total_cached_tokens,
            "reasoning_tokens": conversation.total_reasoning_tokens,
            "tool_time_ms": conversation.total_tool_time_ms,
            "tool_counts": conversation.tool_counts,
        }

    @staticmethod
    def resolve_role(conversation) -> str:
        return conversation.participant.role

    @staticmethod
    def resolve_pinned_at(conversation):
        return conversation.participant.pinned_at

    @staticmethod
    def resolve_archived_at(conversation):
        return conversation.participant.archived_at

    @staticmethod
    def resolve_muted(conversation) -> bool:
        return conversation.participant.muted

    @staticmethod
    def resolve_last_read_seq(conversation) -> int:
        return conversation.participant.last_read_seq

    @staticmethod
    def resolve_unread_count(conversation) -> int:
        return max(conversation.message_count - conversation.participant.last_read_seq, 0)


class ConversationCreatedOut(ConversationOut):
    message: MessageOut | None = Field(
        default=None,
        description="The first message, when the conversation was started with one "
        "(`message` in the request); null otherwise.",
    )

    @staticmethod
    def resolve_message(conversation):
        return getattr(conversation, "first_message", None)


class ReadIn(Schema):
    model_config = ConfigDict(extra="forbid")

    seq: int | None = Field(default=None, ge=0, description="Up to this seq; absent: all.")


class ReadOut(Schema):
    last_read_seq: int
    unread_count: int
