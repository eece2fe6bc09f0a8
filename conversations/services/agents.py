"""Writes to agents. Staff manage agents in the admin; this makes the default one."""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction

from conversations.models import Agent, Workspace

DEFAULT_AGENT_SLUG = "default"


@transaction.atomic
def agent_default_for_workspace(*, workspace: Workspace) -> Agent:
    """The workspace's default agent, made on first use. Its empty base URL, model and key
    mean OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_API_KEY, read when a reply starts."""
    agent = Agent.objects.filter(workspace=workspace, slug=DEFAULT_AGENT_SLUG).first()
    if agent is not None:
        return agent
    try:
        with transaction.atomic():
            return Agent.objects.create(
                workspace=workspace,
                slug=DEFAULT_AGENT_SLUG,
                name="Assistant",
                description="The server's default model (OPENAI_BASE_URL, OPENAI_MODEL).",
            )
    except IntegrityError:  # made by a concurrent first use
        return Agent.objects.get(workspace=workspace, slug=DEFAULT_AGENT_SLUG)


def default_endpoint_configured() -> bool:
    """The server names a default model (OPENAI_BASE_URL and OPENAI_MODEL)."""
    return bool(settings.OPENAI_BASE_URL and settings.OPENAI_MODEL)


def agent_defaults_ensure(*, user: AbstractBaseUser) -> list[Agent]:
    """Once the server's default endpoint is configured, each of the user's workspaces has
    its default agent, made here if no reply has made it yet, so that GET /agents and a New
    chat show it before anyone has used it. Returns those made. One query when none is
    missing; a default agent staff switched off stays off (it exists)."""
    if not default_endpoint_configured():
        return []
    missing = Workspace.objects.filter(memberships__user=user).exclude(
        agents__slug=DEFAULT_AGENT_SLUG
    )
    return [agent_default_for_workspace(workspace=workspace) for workspace in missing]
