"""Messages of a conversation: parse, call one selector or service, shape the answer."""

import uuid

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chatapp import ratelimit
from conversations import selectors, services
from conversations.downloads import artifact_response
from conversations.models import Conversation
from conversations.pagination import decode_number_cursor, encode_number_cursor
from conversations.schemas import (
    ERRORS,
    LIMITED_ERRORS,
    ErrorOut,
    MessageHistoryOut,
    MessageIn,
    MessageOut,
    MessagePageOut,
    MessagePatchIn,
    ReportIn,
    ReportOut,
)

router = Router(tags=["messages"])


class MessagePageQuery(Schema):
    before: int | None = Field(default=None, ge=0)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: MessagePageOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def list_messages(request: HttpRequest, conversation_id: uuid.UUID, query: Query[MessagePageQuery]):
    """A page of the thread in ascending seq: the newest page, or around `before`/`after`."""
    return selectors.message_page_rows(
        user=request.auth,
        conversation_id=conversation_id,
        before=query.before,
        after=query.after,
        limit=query.limit,
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response={200: MessageOut, 201: MessageOut, **LIMITED_ERRORS},
)
def post_message(request: HttpRequest, conversation_id: uuid.UUID, payload: MessageIn):
    """Post a message: 201 when new, 200 when the same client_message_id was seen before.
    At most POST_RATE_LIMIT posts per POST_RATE_WINDOW_SECONDS per user, else 429."""
    ratelimit.hit(ratelimit.POSTS, str(request.auth.pk))
    # message_post checks under the conversation's lock that the caller takes part (404
    # otherwise): no read of the conversation before it.
    conversation = Conversation(pk=conversation_id)
    reply_to = None
    if payload.reply_to_id is not None:
        reply_to = selectors.message_get_for_user(user=request.auth, message_id=payload.reply_to_id)
    message, created = services.message_post(
        conversation=conversation,
        sender=request.auth,
        content=payload.content,
        client_message_id=payload.client_message_id,
        reply_to=reply_to,
        meta=payload.meta,
    )
    return Status(201 if created else 200, message)


@router.patch("/messages/{message_id}", response={200: MessageOut, **ERRORS})
def edit_message(request: HttpRequest, message_id: uuid.UUID, payload: MessagePatchIn):
    """Rewrite your own message."""
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    return services.message_edit(message=message, actor=request.auth, content=payload.content)


@router.delete("/messages/{message_id}", response={204: None, **ERRORS})
def delete_message(request: HttpRequest, message_id: uuid.UUID):
    """Delete your own message: it keeps its place in the thread, without content."""
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    services.message_delete(message=message, actor=request.auth)
    return Status(204, None)


class RevisionPageQuery(Schema):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)


@router.get(
    "/messages/{message_id}/revisions",
    response={200: MessageHistoryOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def list_revisions(request: HttpRequest, message_id: uuid.UUID, query: Query[RevisionPageQuery]):
    """A message's edit history: its text now (`current`) and, newest first, the texts its
    edits replaced (`items`, a cursor page), each with when it was written and replaced.
    Participants only (404 for anyone else). A deleted or hidden message shows no text:
    `current` is null and `items` empty."""
    history = selectors.message_history_for_user(
        user=request.auth,
        message_id=message_id,
        before=decode_number_cursor("revisions", query.cursor),
        limit=query.limit,
    )
    return {
        "message_id": history.message_id,
        "is_deleted": history.is_deleted,
        "is_hidden": history.is_hidden,
        "edited_at": history.edited_at,
        "current": history.current,
        "items": history.items,
        "has_more": history.has_more,
        "next_cursor": encode_number_cursor("revisions", history.next_before)
        if history.has_more
        else None,
    }


@router.post("/messages/{message_id}/report", response={200: ReportOut, 201: ReportOut, **ERRORS})
def report_message(request: HttpRequest, message_id: uuid.UUID, payload: ReportIn):
    """Report a message to the moderators: 201, or 200 with your open report on it."""
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    report, created = services.report_create(
        message=message, reporter=request.auth, reason=payload.reason, note=payload.note
    )
    return Status(201 if created else 200, report)


_FILE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/octet-stream")


@router.get(
    "/artifacts/{artifact_id}",
    response={401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    openapi_extra={
        "responses": {
            200: {
                "description": "The file",
                "content": {
                    kind: {"schema": {"type": "string", "format": "binary"}} for kind in _FILE_TYPES
                },
            }
        }
    },
)
def download_artifact(request: HttpRequest, artifact_id: uuid.UUID):
    """The file of a part's artifact (`parts[].artifact.url`): an image inline with its
    type (PNG, JPEG, GIF, WebP, read from its bytes), anything else as an
    `application/octet-stream` attachment. Participants only; 404 when no file is stored."""
    return artifact_response(
        selectors.artifact_get_for_user(user=request.auth, artifact_id=artifact_id)
    )
