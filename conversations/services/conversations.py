"""Writes to conversations and their participants."""

from collections.abc import Iterable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Model, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from conversations.exceptions import InvalidInput, NotFound, PermissionDenied, not_a_member
from conversations.models import (
    TITLE_MAX_LENGTH,
    Agent,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Membership,
    Participant,
    ParticipantRole,
    Workspace,
)

from .audit import audit_event_record
from .events import event_record

User = get_user_model()

_UNSET: Any = object()


def clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidInput(
            "title",
            gettext("A title is at most %(count)s characters.") % {"count": TITLE_MAX_LENGTH},
        )
    return title


def _check_json_object(field: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(field, f"{field} must be a JSON object.")
    return value


def _is_member(user: AbstractBaseUser, workspace: Workspace) -> bool:
    return Membership.objects.filter(workspace=workspace, user=user).exists()


def _resolve_participants(
    workspace: Workspace, creator: AbstractBaseUser, others: Iterable[AbstractBaseUser]
) -> list[AbstractBaseUser]:
    people: dict[Any, AbstractBaseUser] = {}
    for person in others:
        if person.pk != creator.pk:
            people[person.pk] = person
    members = set(
        Membership.objects.filter(workspace=workspace, user__in=list(people)).values_list(
            "user_id", flat=True
        )
    )
    outsider = next((person for pk, person in people.items() if pk not in members), None)
    if outsider is not None:
        raise not_a_member("participants", outsider.username)
    inactive = [p for p in people.values() if not p.is_active]
    if inactive:
        raise InvalidInput(
            "participants",
            gettext("%(username)s is suspended.") % {"username": inactive[0].username},
        )
    return list(people.values())


def _direct_key(first: AbstractBaseUser, second: AbstractBaseUser) -> str:
    return ":".join(sorted([first.pk.hex, second.pk.hex]))


def _find_live_direct(workspace: Workspace, key: str) -> Conversation | None:
    return Conversation.objects.alive().filter(workspace=workspace, direct_key=key).first()


def _mark_joined(conversation: Conversation, joined_at) -> None:
    """The conversation's row carries the time of its latest join: a post waiting for the
    row's lock meanwhile is dated after it (message_post on PostgreSQL), so that the
    joiner's replay (from joined_at) has it."""
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=Greatest(F("updated_at"), Value(joined_at))
    )


def _rejoin(conversation: Conversation, users: Iterable[AbstractBaseUser]) -> None:
    """Whoever left a direct conversation is back in it when it is opened again."""
    now = timezone.now()
    rejoined = Participant.objects.filter(
        conversation=conversation, user__in=list(users), left_at__isnull=False
    ).update(left_at=None, joined_at=now, updated_at=now)
    if rejoined:
        _mark_joined(conversation, now)


def workspace_default_for(*, user: AbstractBaseUser, kind: str) -> Workspace | None:
    """Where a conversation started without naming a workspace goes: a direct or group
    conversation in the shared workspace (where the other people are) when the user is in
    it; anything else, and everything without it, in the user's default (personal) one."""
    if kind in (ConversationKind.DIRECT, ConversationKind.GROUP):
        shared = Workspace.objects.filter(is_shared=True, memberships__user=user).first()
        if shared is not None:
            return shared
    return user.default_workspace


@transaction.atomic
def conversation_create(
    *,
    creator: AbstractBaseUser,
    kind: str,
    title: str = "",
    workspace: Workspace | None = None,
    agent: Agent | None = None,
    participants: Iterable[AbstractBaseUser] = (),
    subject_type: str = "",
    subject_id: str = "",
    metadata: dict | None = None,
    first_client_message_id: str | None = None,
) -> tuple[Conversation, bool]:
    """Start a conversation, or find the live direct one with the same person.

    Returns (conversation, created). The creator is its owner; `participants` (besides the
    creator) must be members of the workspace, which defaults to workspace_default_for.
    `first_client_message_id` is for conversation_create_with_message (unique per creator:
    IntegrityError when taken).
    """
    if kind not in ConversationKind.values:
        raise InvalidInput("kind", f"Kind must be one of {', '.join(ConversationKind.values)}.")
    title = clean_title(title)
    metadata = _check_json_object("metadata", metadata)
    if len(subject_type) > 50:
        raise InvalidInput("subject_type", "subject_type is at most 50 characters.")
    if len(subject_id) > 100:
        raise InvalidInput("subject_id", "subject_id is at most 100 characters.")
    if workspace is None:
        workspace = workspace_default_for(user=creator, kind=kind)
    if workspace is None or not _is_member(creator, workspace):
        raise NotFound(gettext("No such workspace."), details={"field": "workspace"})
    if agent is not None and (agent.workspace_id != workspace.pk or not agent.is_active):
        raise InvalidInput("agent_id", gettext("This agent is not available in this workspace."))
    if kind != ConversationKind.ASSISTANT and agent is not None:
        raise InvalidInput("agent_id", gettext("Only assistant conversations have an agent."))
    others = _resolve_participants(workspace, creator, participants)

    direct_key = ""
    if kind == ConversationKind.GROUP and not title:
        raise InvalidInput("title", gettext("A group conversation needs a title."))
    if kind == ConversationKind.DIRECT:
        if len(others) != 1:
            raise InvalidInput(
                "participants", "A direct conversation is with exactly one other person."
            )
        direct_key = _direct_key(creator, others[0])
        existing = _find_live_direct(workspace, direct_key)
        if existing is not None:
            _rejoin(existing, [creator, others[0]])
            return existing, False

    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                workspace=workspace,
                kind=kind,
                title=title,
                agent=agent,
                created_by=creator,
                direct_key=direct_key,
                subject_type=subject_type,
                subject_id=subject_id,
                metadata=metadata,
                first_client_message_id=first_client_message_id,
            )
    except IntegrityError:
        # The other person opened the same direct conversation at the same moment.
        existing = _find_live_direct(workspace, direct_key) if direct_key else None
        if existing is None:
            raise
        _rejoin(existing, [creator, others[0]])
        return existing, False

    Participant.objects.bulk_create(
        [Participant(conversation=conversation, user=creator, role=ParticipantRole.OWNER)]
        + [
            Participant(conversation=conversation, user=person, role=ParticipantRole.MEMBER)
            for person in others
        ]
    )
    _conversation_event(conversation, "conversation.created", _summary(conversation))
    return conversation, True


def _summary(conversation: Conversation) -> dict:
    return {
        "title": conversation.title,
        "status": conversation.status,
        "agent_id": str(conversation.agent_id) if conversation.agent_id else None,
    }


def _flags(participant: Participant) -> dict:
    return {
        "pinned_at": participant.pinned_at.isoformat() if participant.pinned_at else None,
        "archived_at": participant.archived_at.isoformat() if participant.archived_at else None,
        "muted": participant.muted,
    }


def _conversation_event(conversation: Conversation, type: str, data: dict, user=None) -> None:
    event_record(
        conversation_id=conversation.pk, type=type, data=data, user_id=user.pk if user else None
    )


ModelT = TypeVar("ModelT", bound=Model)


def lock_row(instance: ModelT, *, missing: str) -> ModelT:
    """The instance's row read again and locked until the transaction ends, so that an act
    sees what it changes as it is; NotFound(missing) when the row is gone."""
    model = type(instance)
    try:
        return model._default_manager.select_for_update().get(pk=instance.pk)
    except model.DoesNotExist:
        raise NotFound(missing) from None


def lock_conversation(conversation: Conversation) -> Conversation:
    """The conversation's row, locked until the transaction ends, freshly read."""
    return lock_row(conversation, missing=gettext("No such conversation."))


def active_participant(conversation: Conversation, user: AbstractBaseUser) -> Participant:
    """The user's current participation, or NotFound: outsiders must not learn it exists."""
    participant = Participant.objects.filter(
        conversation=conversation, user=user, left_at__isnull=True
    ).first()
    if participant is None:
        raise NotFound(gettext("No such conversation."))
    return participant


def lock_participation(
    conversation: Conversation, user: AbstractBaseUser, *, deleted: bool = False
) -> Participant:
    """The user's current participation, its conversation row locked and freshly read, in
    one query (FOR UPDATE OF the conversation only). NotFound for outsiders, and for a
    conversation in the trash unless deleted=True asks for one there."""
    participant = (
        Participant.objects.select_for_update(of=("conversation",))
        .select_related("conversation")
        .filter(conversation_id=conversation.pk, user=user, left_at__isnull=True)
        .first()
    )
    if participant is None or participant.conversation.is_deleted != deleted:
        raise NotFound(gettext("No such conversation."))
    return participant


def _require_live(conversation: Conversation) -> None:
    if not Conversation.objects.alive().filter(pk=conversation.pk).exists():
        raise NotFound(gettext("No such conversation."))


def _require_manager(participant: Participant, action: str) -> None:
    """`action`: what only they may do, an infinitive phrase (pgettext_lazy, context "only
    managers can") that ends the sentence in each language."""
    if participant.role not in (ParticipantRole.OWNER, ParticipantRole.ADMIN):
        raise PermissionDenied(
            gettext("Only the conversation's owner or an admin can %(action)s.")
            % {"action": action}
        )


@transaction.atomic
def conversation_update(
    *,
    conversation: Conversation,
    actor: AbstractBaseUser,
    title: str | None = _UNSET,
    status: str = _UNSET,
    agent: Agent | None = _UNSET,
) -> Conversation:
    """Rename, complete or reopen, or change the agent. Renaming a group, and any change
    to a group, needs an owner or admin; in other kinds every participant may."""
    participant = lock_participation(conversation, actor)
    conversation = participant.conversation
    if conversation.kind == ConversationKind.GROUP:
        _require_manager(
            participant, pgettext_lazy("only managers can", "change a group conversation")
        )
    fields = []
    if title is not _UNSET:
        conversation.title = clean_title(title)
        if conversation.kind == ConversationKind.GROUP and not conversation.title:
            raise InvalidInput("title", gettext("A group conversation needs a title."))
        fields.append("title")
    if status is not _UNSET:
        if status not in ConversationStatus.values:
            raise InvalidInput(
                "status", f"Status must be one of {', '.join(ConversationStatus.values)}."
            )
        conversation.status = status
        fields.append("status")
    if agent is not _UNSET:
        if conversation.kind != ConversationKind.ASSISTANT and agent is not None:
            raise InvalidInput("agent_id", gettext("Only assistant conversations have an agent."))
        if agent is not None and (
            agent.workspace_id != conversation.workspace_id or not agent.is_active
        ):
            raise InvalidInput(
                "agent_id", gettext("This agent is not available in this workspace.")
            )
        conversation.agent = agent
        fields.append("agent")
    if fields:
        conversation.save(update_fields=[*fields, "updated_at"])
        _conversation_event(conversation, "conversation.updated", _summary(conversation))
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation, actor: AbstractBaseUser) -> Conversation:
    """Move to the trash (soft). Owners and admins only."""
    participant = lock_participation(conversation, actor)
    conversation = participant.conversation
    _require_manager(participant, pgettext_lazy("only managers can", "delete this conversation"))
    conversation.deleted_at = timezone.now()
    conversation.deleted_by = actor
    conversation.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _conversation_event(conversation, "conversation.deleted", {})
    return conversation


@transaction.atomic
def conversation_restore(*, conversation: Conversation, actor: AbstractBaseUser) -> Conversation:
    """Bring back from the trash. Owners and admins only, and not what a moderator removed.
    A direct conversation whose pair has started a new one since cannot come back beside it."""
    participant = lock_participation(conversation, actor, deleted=True)
    conversation = participant.conversation
    _require_manager(participant, pgettext_lazy("only managers can", "restore this conversation"))
    if (
        conversation.deleted_by_id
        and not Participant.objects.filter(
            conversation=conversation, user_id=conversation.deleted_by_id
        ).exists()
    ):
        # Put in the trash by a moderator, not by a participant: only moderators restore it.
        raise PermissionDenied(
            gettext("A moderator removed this conversation; only a moderator can restore it.")
        )
    if conversation.kind == ConversationKind.DIRECT and _find_live_direct(
        conversation.workspace, conversation.direct_key
    ):
        raise InvalidInput(
            "conversation", gettext("A newer direct conversation with this person exists.")
        )
    conversation.deleted_at = None
    conversation.deleted_by = None
    conversation.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _conversation_event(conversation, "conversation.restored", {})
    return conversation


@transaction.atomic
def participant_add(
    *,
    conversation: Conversation,
    actor: AbstractBaseUser,
    user: AbstractBaseUser,
    role: str = ParticipantRole.MEMBER,
) -> Participant:
    """Add someone from the conversation's workspace (or bring them back). Groups only;
    owners and admins only; only the owner may make admins."""
    actor_participant = lock_participation(conversation, actor)
    conversation = actor_participant.conversation
    if conversation.kind == ConversationKind.DIRECT:
        raise InvalidInput("conversation", gettext("A direct conversation has exactly two people."))
    _require_manager(actor_participant, pgettext_lazy("only managers can", "add participants"))
    if role not in (ParticipantRole.ADMIN, ParticipantRole.MEMBER):
        raise InvalidInput("role", gettext("A new participant is an admin or a member."))
    if role == ParticipantRole.ADMIN and actor_participant.role != ParticipantRole.OWNER:
        raise PermissionDenied(gettext("Only the owner can make admins."))
    if not _is_member(user, conversation.workspace):
        raise not_a_member("username", user.username)
    if not user.is_active:
        raise InvalidInput(
            "user", gettext("%(username)s is suspended.") % {"username": user.username}
        )
    participant, created = Participant.objects.get_or_create(
        conversation=conversation, user=user, defaults={"role": role}
    )
    if not created and (participant.left_at is not None or participant.role != role):
        if participant.left_at is not None:
            participant.left_at = None
            participant.joined_at = timezone.now()
        if participant.role not in (ParticipantRole.OWNER, role):
            audit_event_record(
                actor=actor,
                action="participant.role_changed",
                target_type="participant",
                target_id=participant.pk,
                data={"from": participant.role, "to": role, "conversation": str(conversation.pk)},
            )
            participant.role = role
        participant.save(update_fields=["left_at", "joined_at", "role", "updated_at"])
    _mark_joined(conversation, participant.joined_at)
    _conversation_event(
        conversation, "participant.added", {"user_id": str(user.pk), "role": participant.role}
    )
    return participant


@transaction.atomic
def participant_remove(
    *, conversation: Conversation, actor: AbstractBaseUser, user: AbstractBaseUser
) -> Participant:
    """Leave (actor is user) or remove someone (owners and admins; nobody removes the
    owner). An owner who leaves hands ownership to the longest-standing participant."""
    actor_participant = lock_participation(conversation, actor)
    conversation = actor_participant.conversation
    if actor.pk == user.pk:
        participant = actor_participant
    elif conversation.kind == ConversationKind.DIRECT:
        # The two people of a direct conversation stay its two people: each may leave it
        # for themselves, nobody removes the other (docs/security.md).
        raise InvalidInput(
            "conversation", "Nobody is removed from a direct conversation; you can leave it."
        )
    else:
        _require_manager(
            actor_participant, pgettext_lazy("only managers can", "remove participants")
        )
        participant = Participant.objects.filter(
            conversation=conversation, user=user, left_at__isnull=True
        ).first()
        if participant is None:
            raise NotFound(gettext("No such participant."))
        if participant.role == ParticipantRole.OWNER:
            raise PermissionDenied(gettext("Nobody can remove the owner of a conversation."))
        if participant.role == ParticipantRole.ADMIN and (
            actor_participant.role != ParticipantRole.OWNER
        ):
            raise PermissionDenied(gettext("Only the owner can remove an admin."))
    participant_leave(conversation=conversation, participant=participant, actor=actor)
    return participant


def participant_leave(
    *,
    conversation: Conversation,
    participant: Participant,
    actor: AbstractBaseUser | None,
    reason: str = "the owner left",
) -> Participant:
    """The participant is out of the conversation, whose row the caller has locked: they
    see it no more (the row stays, so that coming back restores the read marker). An
    owner who goes hands ownership to the longest-standing participant left. Used by
    participant_remove and by leaving a workspace (member_remove)."""
    was_owner = participant.role == ParticipantRole.OWNER
    participant.left_at = timezone.now()
    if was_owner:
        participant.role = ParticipantRole.MEMBER
    participant.save(update_fields=["left_at", "role", "updated_at"])
    if was_owner:
        successor = (
            Participant.objects.filter(conversation=conversation, left_at__isnull=True)
            .order_by("joined_at", "created_at")
            .first()
        )
        if successor is not None:
            audit_event_record(
                actor=actor,
                action="participant.role_changed",
                target_type="participant",
                target_id=successor.pk,
                reason=reason,
                data={"from": successor.role, "to": "owner", "conversation": str(conversation.pk)},
            )
            successor.role = ParticipantRole.OWNER
            successor.save(update_fields=["role", "updated_at"])
    user_id = participant.user_id
    _conversation_event(conversation, "participant.removed", {"user_id": str(user_id)})
    event_record(
        conversation_id=conversation.pk, type="conversation.removed", data={}, user_id=user_id
    )
    return participant


@transaction.atomic
def participant_set_flags(
    *,
    conversation: Conversation,
    user: AbstractBaseUser,
    pinned: bool | None = None,
    archived: bool | None = None,
    muted: bool | None = None,
) -> Participant:
    """Pin, archive and mute are each person's own."""
    _require_live(conversation)
    participant = active_participant(conversation, user)
    now = timezone.now()
    if pinned is not None and pinned != (participant.pinned_at is not None):
        participant.pinned_at = now if pinned else None
    if archived is not None and archived != (participant.archived_at is not None):
        participant.archived_at = now if archived else None
    if muted is not None:
        participant.muted = muted
    participant.save(update_fields=["pinned_at", "archived_at", "muted", "updated_at"])
    _conversation_event(conversation, "conversation.updated", _flags(participant), user=user)
    return participant


@transaction.atomic
def conversation_mark_read(
    *, conversation: Conversation, user: AbstractBaseUser, up_to_seq: int | None = None
) -> Participant:
    """Mark the thread read up to a seq (default: all of it). The marker never moves back
    and never passes the last message."""
    participant = active_participant(conversation, user)
    if up_to_seq is not None and (not isinstance(up_to_seq, int) or up_to_seq < 0):
        raise InvalidInput("seq", "seq must be a non-negative integer.")
    count = (
        Conversation.objects.alive()
        .filter(pk=conversation.pk)
        .values_list("message_count", flat=True)
        .first()
    )
    if count is None:
        raise NotFound(gettext("No such conversation."))
    target = count if up_to_seq is None else min(up_to_seq, count)
    if target > participant.last_read_seq:
        Participant.objects.filter(pk=participant.pk, last_read_seq__lt=target).update(
            last_read_seq=target, updated_at=timezone.now()
        )
        participant.last_read_seq = target
        _conversation_event(conversation, "read", {"last_read_seq": target}, user=user)
    return participant
