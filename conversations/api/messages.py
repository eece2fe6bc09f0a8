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
    ResendIn,
    ShownPathOut,
    VersionListOut,
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


@router.get("/messages/{message_id}/versions", response={200: VersionListOut, **ERRORS})
def list_versions(request: HttpRequest, message_id: uuid.UUID):
    """The versions of this message's turn (edits resent, replies regenerated), in the order
    they were made, each saying whether it is on the path you are shown (`shown`). Every
    version keeps its parts, usage and the model that wrote it."""
    return {"items": selectors.message_versions(user=request.auth, message_id=message_id)}


class ShowQuery(Schema):
    limit: int = Field(default=selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)


@router.post("/messages/{message_id}/show", response={200: ShownPathOut, **ERRORS})
def show_version(request: HttpRequest, message_id: uuid.UUID, query: Query[ShowQuery]):
    """Be shown this version of its turn: from now on your pages of the conversation, on
    every device, go through it (and below it, the version you were last shown there, else
    its own continuation). Nobody else's view changes; your other tabs get a
    `path.changed` event. Answers with the page of your path from this turn on."""
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    line = services.version_show(message=message, actor=request.auth)
    page = selectors.shown_path_from(
        user=request.auth,
        conversation_id=message.conversation_id,
        position=message.position,
        limit=query.limit,
    )
    return {
        "line": line,
        "position": message.position,
        "items": page.items,
        "has_more_after": page.has_more_after,
    }


@router.post(
    "/messages/{message_id}/resend", response={200: MessageOut, 201: MessageOut, **LIMITED_ERRORS}
)
def resend_message(request: HttpRequest, message_id: uuid.UUID, payload: ResendIn):
    """Edit your message to the assistant and send it again: a new version of its turn,
    which you are shown from now on (the earlier one is kept with everything that followed
    it). Then ask for the reply (`POST /conversations/{id}/reply`): it answers the new
    version. 201 when new, 200 when the same client_message_id made it before; 409 outside
    an assistant conversation; 403 for someone else's message. Counts as a post
    (POST_RATE_LIMIT)."""
    ratelimit.hit(ratelimit.POSTS, str(request.auth.pk))
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    resent, created = services.message_resend(
        message=message,
        actor=request.auth,
        content=payload.content,
        client_message_id=payload.client_message_id,
    )
    return Status(201 if created else 200, resent)


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
