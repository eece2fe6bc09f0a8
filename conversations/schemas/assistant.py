"""Schemas of agents and assistant replies."""

import uuid

from ninja import Schema
from pydantic import ConfigDict, Field


class AgentOut(Schema):
    """An assistant profile. Its endpoint and key are never shown."""

    id: uuid.UUID
    workspace: str
    name: str
    slug: str
    description: str
    model: str
    is_default: bool

    @staticmethod
    def resolve_workspace(agent) -> str:
        return agent.workspace.slug

    @staticmethod
    def resolve_model(agent) -> str:
        from django.conf import settings

        return agent.model or settings.OPENAI_MODEL

    @staticmethod
    def resolve_is_default(agent) -> bool:
        from conversations.services.agents import DEFAULT_AGENT_SLUG

        return agent.slug == DEFAULT_AGENT_SLUG


class AgentListOut(Schema):
    items: list[AgentOut]
    next_cursor: str | None
    has_more: bool


class ReplyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    regenerate: bool = Field(
        default=False,
        description="Write a new version of a reply instead of answering: of `message_id`, "
        "or of the last message of your path. The earlier version is kept.",
    )
    message_id: uuid.UUID | None = Field(
        default=None, description="With regenerate: the reply (any, not only the last)."
    )
    client_message_id: str | None = Field(
        default=None,
        max_length=100,
        description="With regenerate: your key for this regeneration. Sent again, it answers "
        "with the version it made (its stream, or its end) instead of making another.",
    )
