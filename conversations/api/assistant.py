"""Agents, streamed assistant replies, stopping them, and the live event stream."""

import asyncio
import uuid

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router, Status

from chatapp import ratelimit
from conversations import selectors, services
from conversations.assistant.generation import last_event, prepare_reply, start_generation
from conversations.live.access import (
    CLOSING_EVENT,
    AccessWatch,
    StreamAccess,
    closing_data,
    is_access_nudge,
)
from conversations.live.broker import broker
from conversations.live.sse import SSE_HEADERS, sse
from conversations.live.streams import parse_last_event_id, user_events
from conversations.models import Message
from conversations.schemas import ERRORS, LIMITED_ERRORS, AgentListOut, MessageOut, ReplyIn
from conversations.selectors.people import agents_for_user
from conversations.services.messages import GENERATING

router = Router(tags=["assistant"])

# Each event of the stream, as a client's SSE parser gives it: a name and a line of JSON
# (docs/api.md lists the names and what their data holds).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "The event's name, e.g. message.created"},
        "data": {"type": "string", "description": "The event's payload, as JSON"},
        "id": {"type": "string", "description": "For Last-Event-ID, on /events"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}
SSE_RESPONSE = {
    200: {
        "description": "A Server-Sent Events stream (text/event-stream).",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


@router.get("/agents", response={200: AgentListOut, **ERRORS})
def list_agents(request: HttpRequest):
    """The assistants of your workspaces. (A handful: never paged.) Once the server's
    default model is configured (OPENAI_BASE_URL, OPENAI_MODEL), each workspace's default
    agent (`is_default`) is listed, whether or not anyone has used it yet."""
    services.agent_defaults_ensure(user=request.auth)
    return {"items": agents_for_user(user=request.auth), "next_cursor": None, "has_more": False}


@router.post(
    "/conversations/{conversation_id}/reply",
    response={200: None, **LIMITED_ERRORS},
    openapi_extra={"responses": SSE_RESPONSE},
)
async def reply(request: HttpRequest, conversation_id: uuid.UUID, payload: ReplyIn | None = None):
    """The assistant answers the last message, streamed as Server-Sent Events:
    `message.created`, then `delta` (`{"text"}` or `{"reasoning"}`) and `part` events, then
    `message.completed` or `error`. The reply is saved as it streams and finishes even if
    this connection drops. It answers the end of the path through the versions you are
    shown, and is sent that path only. `{"regenerate": true}` writes a new version of the
    last reply of your path, `{"regenerate": true, "message_id": …}` of any reply; the
    earlier version is kept and you are shown the new one; with a `client_message_id`, the
    same regenerate sent again makes no second version.
    With no model endpoint configured the turn is still saved, as error `not_configured`
    saying which variables to set (`message.created`, then `error` at once), so that it
    can be regenerated once one is. 409 when there is nothing to answer or a reply is
    already being written; 429 after
    REPLY_RATE_LIMIT replies in REPLY_RATE_WINDOW_SECONDS. The stream ends early with
    `access.revoked` (`{"reason", "message"}`) within seconds of its access ending: the
    token or session that opened it ended, the account was suspended, or the caller left
    the conversation (the reply itself goes on being written and saved)."""
    # Each reply is a paid call upstream: REPLY_RATE_LIMIT per user, counted once it starts.
    limit_key = str(request.auth.pk)
    await sync_to_async(ratelimit.check)(ratelimit.REPLIES, limit_key)
    prepared = await sync_to_async(prepare_reply)(
        user=request.auth,
        conversation_id=conversation_id,
        regenerate=bool(payload and payload.regenerate),
        message_id=payload.message_id if payload and payload.regenerate else None,
        client_message_id=payload.client_message_id if payload and payload.regenerate else None,
    )
    # A regenerate sent again finds the version it made: still being written, its stream
    # is followed as the first request's was; finished, its end is told at once.
    following = prepared.replayed and prepared.message.status in GENERATING
    if prepared.failed and not following:  # nothing goes upstream: told at once
        return _told_at_once(prepared.summary, prepared.message)
    message_id = str(prepared.message.pk)
    access = StreamAccess.of_request(request, conversation_id=conversation_id)
    queue = broker.subscribe_message(message_id, user_id=access.user_id)
    if following:
        # Subscribed first, then read again: a version that ended in between is told.
        now = await Message.objects.aget(pk=prepared.message.pk)
        if now.status not in GENERATING:
            broker.unsubscribe_message(message_id, queue, user_id=access.user_id)
            return _told_at_once(prepared.summary, now)
    else:
        await sync_to_async(ratelimit.record)(ratelimit.REPLIES, limit_key)
        start_generation(prepared)

    async def stream():
        watch = AccessWatch(access)
        try:
            yield sse("message.created", prepared.summary)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=watch.seconds_left())
                except TimeoutError:
                    event = None
                nudged = is_access_nudge(event)
                if nudged or watch.due():
                    reason = await (watch.lost(event) if nudged else watch.lost())
                    if reason:
                        yield sse(CLOSING_EVENT, closing_data(reason))
                        return
                if event is None or nudged:
                    continue
                yield sse(event["type"], event["data"])
                if event["type"] in ("message.completed", "error"):
                    return
        finally:
            broker.unsubscribe_message(message_id, queue, user_id=access.user_id)

    return StreamingHttpResponse(stream(), content_type="text/event-stream", headers=SSE_HEADERS)


def _told_at_once(summary: dict, message: Message) -> HttpResponse:
    """The stream of a turn that is over already: its start, then its end."""
    ending = last_event(message)
    return HttpResponse(
        sse("message.created", summary) + sse(ending["type"], ending["data"]),
        content_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.post("/messages/{message_id}/abort", response={202: MessageOut, **ERRORS})
def abort(request: HttpRequest, message_id: uuid.UUID):
    """Stop a reply being generated, in whichever process runs it. The text so far is
    kept; the turn ends as error/aborted with is_aborted set. 409 if it is not running."""
    message = selectors.message_get_for_user(user=request.auth, message_id=message_id)
    return Status(202, services.assistant_message_abort(message=message, actor=request.auth))


@router.get(
    "/events",
    response={200: None, **ERRORS},
    openapi_extra={"responses": SSE_RESPONSE},
    tags=["live"],
)
async def events(request: HttpRequest, last_event_id: str | None = None):
    """Every change in your conversations as Server-Sent Events, with heartbeats. Resume
    with the `Last-Event-ID` header (or `?last_event_id=`): the events after it are
    replayed first, those of a conversation only from when you (last) joined it. Event
    types: message.created, message.updated, message.delta (streamed text, not replayed),
    message.completed, conversation.created/updated/deleted/restored/removed,
    participant.added/removed, read, path.changed (to you alone: you were shown another
    version of a turn, `{line, position, message_id}`). Message events say which message
    changed, never its text: read the message. The stream ends with `access.revoked`
    (`data`: `{"reason", "message"}`) within seconds of its access ending: the token or
    session that opened it revoked, signed out or expired, or the account suspended."""
    resume = parse_last_event_id(request.headers.get("Last-Event-ID") or last_event_id)
    response = StreamingHttpResponse(
        user_events(StreamAccess.of_request(request), resume),
        content_type="text/event-stream",
        headers=SSE_HEADERS,
    )
    return response
