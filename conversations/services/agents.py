"""Writes to agents. Staff manage agents in the admin; this makes the default one."""

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
