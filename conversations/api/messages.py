"""Messages of a conversation: parse, call one selector or service, shape the answer."""

import uuid

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chatapp import ratelimit
from conversations import selectors, services
from conversations.schemas import ERRORS, ErrorOut, MessageIn, MessageOut, MessagePageOut

router = Router(tags=["messages"])


class MessagePageQuery(Schema):
    before: int | None = Field(default=None, ge=0)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: MessagePageOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def list_messages(request: HttpRequest, conversation_id: uuid.UUID, query: Query[MessagePageQuery]):
    """A page of the thread in ascending seq: the newest page, or around `before`/`after`."""
    return selectors.message_page(
        user=request.auth,
        conversation_id=conversation_id,
        before=query.before,
        after=query.after,
        limit=query.limit,
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response={200: MessageOut, 201: MessageOut, 429: ErrorOut, **ERRORS},
)
def post_message(request: HttpRequest, conversation_id: uuid.UUID, payload: MessageIn):
    """Post a message: 201 when new, 200 when the same client_message_id was seen before.
    At most POST_RATE_LIMIT posts per POST_RATE_WINDOW_SECONDS per user, else 429."""
    ratelimit.hit(
        f"post:{request.auth.pk}",
        limit=settings.POST_RATE_LIMIT,
        window=settings.POST_RATE_WINDOW_SECONDS,
        message="You are posting too fast; wait a moment.",
    )
    conversation = selectors.conversation_get_for_user(
        user=request.auth, conversation_id=conversation_id
    )
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
