"""GET /events: one stream per signed-in user of every change in their conversations.

A stream subscribes to the broker first, then (with Last-Event-ID) replays the event log
after that id, then follows the broker, skipping what it has already sent. Events of
conversations the user is not in never reach it: the broker sends each event only to the
current participants, and the replay reads only their conversations.
"""

import asyncio
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.db.models import Q

from chatapp.concurrency import in_worker_thread
from conversations.live.broker import RESYNC, broker
from conversations.live.sse import comment, sse
from conversations.models import Event, Participant

BACKLOG_PAGE = 500
SEEN_LIMIT = 10_000


def _recipients(conversation_id: str) -> list[str]:
    return [
        str(user_id)
        for user_id in Participant.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", flat=True)
    ]


async def recipients_of(conversation_id: str) -> list[str]:
    return await in_worker_thread(_recipients)(conversation_id)


def _backlog(user_id: str, after_id: int) -> list[dict[str, Any]]:
    conversations = Participant.objects.filter(user_id=user_id, left_at__isnull=True).values(
        "conversation_id"
    )
    return [
        event.as_payload()
        for event in Event.objects.filter(id__gt=after_id)
        .filter(Q(user_id=user_id) | Q(user__isnull=True, conversation_id__in=conversations))
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


def parse_last_event_id(value: str | None) -> int | None:
    """An event id, else None (no resume). ASCII digits only, as many as a bigint has:
    str.isdigit() is true of "²" too, which int() refuses."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        return None
    return int(value)


async def user_events(user_id: str, last_event_id: int | None):
    broker.bind(asyncio.get_running_loop())
    if broker.recipients_of is None:
        broker.recipients_of = recipients_of
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
        while True:
            try:
                event = await asyncio.wait_for(
                    queue.get(), timeout=settings.EVENTS_HEARTBEAT_SECONDS
                )
            except TimeoutError:
                yield comment("heartbeat")
                continue
            if event is RESYNC:
                # This stream fell behind: read what it missed from the log instead.
                while not queue.empty():
                    queue.get_nowait()
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
