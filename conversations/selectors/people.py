"""Reads of people, workspaces and agents as a conversation's members see them."""

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext

from conversations.exceptions import InvalidInput, NotFound, not_a_member
from conversations.models import Agent, Conversation, Membership, Participant, Workspace

User = get_user_model()


def workspaces_for_user(*, user: AbstractBaseUser) -> list[Membership]:
    """The user's memberships with their workspaces: personal first, then the shared
    one, then by name."""
    return list(
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by(
            "-workspace__is_personal", "-workspace__is_shared", "workspace__name", "workspace__id"
        )
    )


def workspace_get_for_user(*, user: AbstractBaseUser, slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug, memberships__user=user).first()
    if workspace is None:
        raise NotFound(gettext("No such workspace."), details={"field": "workspace"})
    return workspace


def users_by_usernames(*, usernames: list[str], field: str = "participants") -> list:
    """The users named; one that does not exist gets the same answer as one outside the
    workspace would, so that this cannot be used to probe for accounts."""
    unique = list(dict.fromkeys(usernames))
    users = {user.username: user for user in User.objects.filter(username__in=unique)}
    missing = [name for name in unique if name not in users]
    if missing:
        raise not_a_member(field, missing[0])
    return [users[name] for name in unique]


def agent_get_for_workspace(*, agent_id: Any, workspace: Workspace) -> Agent:
    try:
        pk = uuid.UUID(str(agent_id))
    except ValueError:
        raise InvalidInput("agent_id", gettext("No such agent in this workspace.")) from None
    agent = Agent.objects.filter(pk=pk, workspace=workspace, is_active=True).first()
    if agent is None:
        raise InvalidInput("agent_id", gettext("No such agent in this workspace."))
    return agent


def participants_of(
    *, conversation: Conversation, after: tuple | None = None, limit: int | None = None
) -> tuple[list[Participant], bool]:
    """Current participants with their users, by joining time; (page, has_more)."""
    participants = (
        Participant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )
    if after is not None:
        moment, pk = after
        participants = participants.filter(joined_at__gt=moment) | participants.filter(
            joined_at=moment, id__gt=pk
        )
    if limit is None:
        return list(participants), False
    rows = list(participants[: limit + 1])
    return rows[:limit], len(rows) > limit


def participant_user_get(*, conversation: Conversation, user_id: Any):
    """A current participant's user, by id, else NotFound."""
    try:
        pk = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound(gettext("No such participant.")) from None
    participant = (
        Participant.objects.filter(conversation=conversation, user_id=pk, left_at__isnull=True)
        .select_related("user")
        .first()
    )
    if participant is None:
        raise NotFound(gettext("No such participant."))
    return participant.user


def agents_for_user(*, user: AbstractBaseUser) -> list[Agent]:
    """The active agents of the user's workspaces, by workspace and name."""
    return list(
        Agent.objects.filter(workspace__memberships__user=user, is_active=True)
        .select_related("workspace")
        .order_by("workspace__name", "name", "id")
    )
