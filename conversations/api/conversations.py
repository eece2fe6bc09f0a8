"""Workspaces, conversations, participants and read markers: parse, call one selector or
service, shape the answer."""

import uuid

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chatapp import ratelimit
from conversations import selectors, services
from conversations.models import ConversationKind
from conversations.pagination import decode_time_id_cursor, encode_time_id_cursor
from conversations.schemas import (
    ERRORS,
    LIMITED_ERRORS,
    ConversationCreatedOut,
    ConversationIn,
    ConversationListOut,
    ConversationOut,
    ConversationPatchIn,
    ParticipantIn,
    ParticipantListOut,
    ParticipantOut,
    ReadIn,
    ReadOut,
    WorkspaceListOut,
)
from conversations.selectors.people import (
    agent_get_for_workspace,
    participant_user_get,
    participants_of,
    users_by_usernames,
    workspace_get_for_user,
    workspaces_for_user,
)

router = Router(tags=["conversations"])


class PageQuery(Schema):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)


@router.get("/workspaces", response={200: WorkspaceListOut, **ERRORS})
def list_workspaces(request: HttpRequest):
    """The workspaces you belong to, your personal one first. (A person belongs to a
    handful, so this list is whole: has_more is always false.)"""
    return {"items": workspaces_for_user(user=request.auth), "next_cursor": None, "has_more": False}


class ConversationListQuery(PageQuery):
    archived: bool | None = Field(default=False, description="false (default), true, or omit")
    pinned: bool | None = None
    kind: ConversationKind | None = None
    workspace: str | None = Field(default=None, max_length=60)
    q: str | None = Field(default=None, max_length=200, description="Search in titles.")
    deleted: bool = Field(default=False, description="true: the trash.")


@router.get("/conversations", response={200: ConversationListOut, **ERRORS})
def list_conversations(request: HttpRequest, query: Query[ConversationListQuery]):
    """Your conversations by last activity, newest first, with unread counts and the last
    message; `deleted=true` lists the trash."""
    page = selectors.conversation_list_for_user(
        user=request.auth,
        archived=None if query.deleted else query.archived,
        pinned=query.pinned,
        kind=query.kind,
        workspace_slug=query.workspace,
        title_query=query.q.strip() if query.q else None,
        deleted=query.deleted,
        after=decode_time_id_cursor("conversations", query.cursor),
        limit=query.limit,
    )
    return {
        "items": page.items,
        "has_more": page.has_more,
        "next_cursor": encode_time_id_cursor("conversations", *page.next_key)
        if page.next_key
        else None,
    }


def _detail(request: HttpRequest, conversation_id, *, deleted: bool = False):
    """The conversation as ConversationOut shows it: with its participants."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id, deleted=deleted
    )
    conversation.participants_list, _ = participants_of(conversation=conversation)
    return conversation


@router.post(
    "/conversations",
    response={200: ConversationCreatedOut, 201: ConversationCreatedOut, **LIMITED_ERRORS},
)
def create_conversation(request: HttpRequest, payload: ConversationIn):
    """Start a conversation: 201; a direct conversation you already have with that person
    answers 200 with it. A group needs a title.

    With `message` (`{content, client_message_id}`) it starts with that first message, in
    one transaction (nothing is made if either is refused), and the answer carries it as
    `message`: what a New chat does. The same `client_message_id` again answers 200 with
    the conversation it started and the same message (no second conversation); with other
    content, 409. Such a start counts as a post (POST_RATE_LIMIT, else 429); a reply is
    then asked for with `POST /conversations/{id}/reply`."""
    if payload.message is not None:
        ratelimit.hit(ratelimit.POSTS, str(request.auth.pk))
    workspace = (
        workspace_get_for_user(user=request.auth, slug=payload.workspace)
        if payload.workspace
        else services.workspace_default_for(user=request.auth, kind=payload.kind)
    )
    agent = (
        agent_get_for_workspace(agent_id=payload.agent_id, workspace=workspace)
        if payload.agent_id and workspace
        else None
    )
    fields = {
        "creator": request.auth,
        "kind": payload.kind,
        "title": payload.title,
        "workspace": workspace,
        "agent": agent,
        "participants": users_by_usernames(usernames=payload.participants),
        "subject_type": payload.subject.type if payload.subject else "",
        "subject_id": payload.subject.id if payload.subject else "",
        "metadata": payload.metadata,
    }
    message = None
    if payload.message is None:
        conversation, created = services.conversation_create(**fields)
    else:
        conversation, message, created = services.conversation_create_with_message(
            **fields,
            content=payload.message.content,
            client_message_id=payload.message.client_message_id,
        )
    answer = _detail(request, conversation.pk)
    answer.first_message = message
    return Status(201 if created else 200, answer)


@router.get("/conversations/{conversation_id}", response={200: ConversationOut, **ERRORS})
def get_conversation(request: HttpRequest, conversation_id: uuid.UUID):
    """One conversation with its participants, usage totals and your read marker."""
    return _detail(request, conversation_id)


@router.patch("/conversations/{conversation_id}", response={200: ConversationOut, **ERRORS})
def update_conversation(
    request: HttpRequest, conversation_id: uuid.UUID, payload: ConversationPatchIn
):
    """Rename, pin, archive, mute, complete or reopen, change the agent. Pin, archive and
    mute are yours alone; the rest needs an owner or admin in a group."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    sent = payload.model_fields_set
    changes = {}
    if "title" in sent:
        changes["title"] = payload.title or ""
    if "status" in sent:
        changes["status"] = payload.status
    if "agent_id" in sent:
        changes["agent"] = (
            agent_get_for_workspace(agent_id=payload.agent_id, workspace=conversation.workspace)
            if payload.agent_id
            else None
        )
    if changes:
        services.conversation_update(conversation=conversation, actor=request.auth, **changes)
    if sent & {"pinned", "archived", "muted"}:
        services.participant_set_flags(
            conversation=conversation,
            user=request.auth,
            pinned=payload.pinned,
            archived=payload.archived,
            muted=payload.muted,
        )
    return _detail(request, conversation_id)


@router.delete("/conversations/{conversation_id}", response={204: None, **ERRORS})
def delete_conversation(request: HttpRequest, conversation_id: uuid.UUID):
    """Move to the trash (owners and admins); restore brings it back."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    services.conversation_delete(conversation=conversation, actor=request.auth)
    return Status(204, None)


@router.post("/conversations/{conversation_id}/restore", response={200: ConversationOut, **ERRORS})
def restore_conversation(request: HttpRequest, conversation_id: uuid.UUID):
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id, deleted=True
    )
    services.conversation_restore(conversation=conversation, actor=request.auth)
    return _detail(request, conversation_id)


@router.post("/conversations/{conversation_id}/read", response={200: ReadOut, **ERRORS})
def mark_read(request: HttpRequest, conversation_id: uuid.UUID, payload: ReadIn):
    """Mark read up to `seq` (or everything). The marker never moves back."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    participant = services.conversation_mark_read(
        conversation=conversation, user=request.auth, up_to_seq=payload.seq
    )
    return {
        "last_read_seq": participant.last_read_seq,
        "unread_count": max(conversation.message_count - participant.last_read_seq, 0),
    }


# --- participants ----------------------------------------------------------------------------


@router.get(
    "/conversations/{conversation_id}/participants",
    response={200: ParticipantListOut, **ERRORS},
    tags=["participants"],
)
def list_participants(request: HttpRequest, conversation_id: uuid.UUID, query: Query[PageQuery]):
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    items, has_more = participants_of(
        conversation=conversation,
        after=decode_time_id_cursor("participants", query.cursor),
        limit=query.limit,
    )
    last = items[-1] if items and has_more else None
    return {
        "items": items,
        "has_more": has_more,
        "next_cursor": encode_time_id_cursor("participants", last.joined_at, last.pk)
        if last
        else None,
    }


@router.post(
    "/conversations/{conversation_id}/participants",
    response={201: ParticipantOut, **ERRORS},
    tags=["participants"],
)
def add_participant(request: HttpRequest, conversation_id: uuid.UUID, payload: ParticipantIn):
    """Add a member of the conversation's workspace (owners and admins of a group)."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    (user,) = users_by_usernames(usernames=[payload.username], field="username")
    participant = services.participant_add(
        conversation=conversation, actor=request.auth, user=user, role=payload.role
    )
    return Status(201, participant)


@router.delete(
    "/conversations/{conversation_id}/participants/{user_id}",
    response={204: None, **ERRORS},
    tags=["participants"],
)
def remove_participant(request: HttpRequest, conversation_id: uuid.UUID, user_id: uuid.UUID):
    """Remove someone (owners and admins), or leave (your own id)."""
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
    user = participant_user_get(conversation=conversation, user_id=user_id)
    services.participant_remove(conversation=conversation, actor=request.auth, user=user)
    return Status(204, None)
