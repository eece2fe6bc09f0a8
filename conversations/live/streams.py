"""GET /events: one stream per signed-in user of every change in their conversations.

A stream subscribes to the broker first, then (with Last-Event-ID) replays the event log
after that id, then follows the broker, skipping what it has already sent. Events of
conversations the user is not in never reach it: the broker sends each event only to the
current participants who had joined when it happened, and the replay reads only the
events of their conversations since they (last) joined. Events carry no message text, so
a replay cannot show what was since edited, deleted or hidden.

The stream ends when its access does (conversations/live/access.py): it checks on a
nudge and every STREAM_ACCESS_CHECK_SECONDS, and closes with `access.revoked`.
"""

import asyncio
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_datetime

from chatapp.concurrency import in_worker_thread
from conversations.exceptions import BadRequest
from conversations.live.access import (
    CLOSING_EVENT,
    AccessWatch,
    StreamAccess,
    closing_data,
    is_access_nudge,
)
from conversations.live.broker import RESYNC, broker
from conversations.live.sse import comment, sse
from conversations.models import Event, Participant

BACKLOG_PAGE = 500
SEEN_LIMIT = 10_000


def _recipients(conversation_id: str, created_at: str | None = None) -> list[str]:
    """The active users in the conversation now who had joined by `created_at` (an event's
    time; None for a signal: everyone in it now)."""
    participants = Participant.objects.filter(
        conversation_id=conversation_id, left_at__isnull=True, user__is_active=True
    )
    moment = parse_datetime(created_at) if created_at else None
    if moment is not None:
        participants = participants.filter(joined_at__lte=moment)
    return [str(user_id) for user_id in participants.values_list("user_id", flat=True)]


async def recipients_of(conversation_id: str, created_at: str | None = None) -> list[str]:
    return await in_worker_thread(_recipients)(conversation_id, created_at)


def _backlog(user_id: str, after_id: int) -> list[dict[str, Any]]:
    """The user's own events, and those of the conversations they are in since they joined
    (last): nothing from before they joined, nor from a time when they had left."""
    in_it_since_then = Participant.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        user_id=user_id,
        left_at__isnull=True,
        joined_at__lte=OuterRef("created_at"),
    )
    return [
        event.as_payload()
        for event in Event.objects.filter(id__gt=after_id)
        .filter(Q(user_id=user_id) | Q(Exists(in_it_since_then), user__isnull=True))
        .order_by("id")[:BACKLOG_PAGE]
    ]


def _latest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _frame(event: dict[str, Any]) -> str:
    body = {
        "conversation_id": event.get("conversation_id"),
        "data": event.get("data", {}),
    }
    if event.get("created_at"):
        body["created_at"] = event["created_at"]
    return sse(event["type"], body, event_id=event.get("id"))


def closing(reason: str) -> str:
    """The last frame of a stream whose access ended (no id: nothing to resume from)."""
    return sse(CLOSING_EVENT, {"conversation_id": None, "data": closing_data(reason)})


def parse_last_event_id(value: str | None) -> int | None:
    """The event id to resume after, or None (no resume) when none was sent. BadRequest
    for anything but ASCII digits, as many as a bigint holds: str.isdigit() is true of "²"
    too, which int() refuses. (A browser only ever sends back an id this server sent.)"""
    value = (value or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadRequest(
            "Last-Event-ID is an event id: ASCII digits only.",
            details={"field": "last_event_id"},
        )
    return int(value)


async def user_events(access: StreamAccess, last_event_id: int | None):
    broker.bind(asyncio.get_running_loop())
    if broker.recipients_of is None:
        broker.recipients_of = recipients_of
    user_id = access.user_id
    watch = AccessWatch(access)
    queue = broker.subscribe_user(user_id)
    seen: OrderedDict[int, None] = OrderedDict()
    cursor = last_event_id

    def remember(event_id: int) -> bool:
        """False if already sent; events may commit out of id order, so keep a set."""
        if event_id in seen:
            return False
        seen[event_id] = None
        if len(seen) > SEEN_LIMIT:
            seen.popitem(last=False)
        return True

    async def replay():
        nonlocal cursor
        while True:
            page = await in_worker_thread(_backlog)(user_id, cursor or 0)
            for event in page:
                cursor = max(cursor or 0, event["id"])
                if remember(event["id"]):
                    yield _frame(event)
            if len(page) < BACKLOG_PAGE:
                return

    try:
        yield "retry: 3000\n\n"
        if cursor is None:
            cursor = await in_worker_thread(_latest_event_id)()
        else:
            async for frame in replay():
                yield frame
        heartbeat = settings.EVENTS_HEARTBEAT_SECONDS
        heartbeat_at = time.monotonic() + heartbeat
        while True:
            wait = min(heartbeat_at - time.monotonic(), watch.seconds_left())
            try:
                event = await asyncio.wait_for(queue.get(), timeout=max(wait, 0))
            except TimeoutError:
                event = None
            nudged = is_access_nudge(event)
            if nudged or event is RESYNC or watch.due():
                # Before anything more is sent (RESYNC: a revocation may have been missed).
                reason = await (watch.lost(event) if nudged else watch.lost())
                if reason:
                    yield closing(reason)
                    return
            if event is None or nudged:
                if time.monotonic() >= heartbeat_at:
                    yield comment("heartbeat")
                    heartbeat_at = time.monotonic() + heartbeat
                continue
            heartbeat_at = time.monotonic() + heartbeat
            if event is RESYNC:
                # This stream fell behind: read what it missed from the log instead (but
                # not past a nudge among what is dropped).
                dropped = [queue.get_nowait() for _ in range(queue.qsize())]
                nudges = [item for item in dropped if is_access_nudge(item)]
                reason = await watch.lost(*nudges) if nudges else None
                if reason:
                    yield closing(reason)
                    return
                async for frame in replay():
                    yield frame
                continue
            event_id = event.get("id")
            if event_id is not None:
                if not remember(event_id):
                    continue
                cursor = max(cursor or 0, event_id)
            yield _frame(event)
    finally:
        broker.unsubscribe_user(user_id, queue)
