"""What each app process runs beside requests, started and stopped by the ASGI lifespan:
the broker bound to the event loop, the PostgreSQL LISTEN loop, and the sweeper that closes
turns left streaming by a dead process and trims the event log."""

import asyncio
import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from chatapp.concurrency import in_worker_thread

logger = logging.getLogger(__name__)
SWEEP_EVERY_SECONDS = 15


def sweep() -> int:
    """Close stale turns (error/interrupted) and drop events past their retention."""
    from conversations.models import Event
    from conversations.services import assistant_messages_interrupt_stale

    closed = assistant_messages_interrupt_stale(older_than_seconds=settings.STREAM_STALE_SECONDS)
    if closed:
        logger.warning("marked %d turns left streaming by a stopped process as interrupted", closed)
    cutoff = timezone.now() - timedelta(hours=settings.EVENTS_RETENTION_HOURS)
    Event.objects.filter(created_at__lt=cutoff).delete()
    return closed


async def _sweep_forever() -> None:
    while True:
        try:
            await in_worker_thread(sweep)()
        except Exception:
            logger.exception("sweep failed")
        await asyncio.sleep(SWEEP_EVERY_SECONDS)


class Lifespan:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Task] = []

    async def startup(self) -> None:
        from conversations.assistant.generation import upstream_client
        from conversations.live.broker import broker
        from conversations.live.streams import recipients_of

        broker.bind(asyncio.get_running_loop())
        broker.recipients_of = recipients_of
        upstream_client()  # made now, so that the first reply does not wait for it
        self.tasks.append(asyncio.ensure_future(_sweep_forever()))
        if connection.vendor == "postgresql":
            from conversations.live.listener import listen_forever

            self.tasks.append(asyncio.ensure_future(listen_forever()))

    async def shutdown(self) -> None:
        from conversations.assistant.generation import RUNNING

        # Running generations save what they have, marked interrupted.
        for task in list(RUNNING):
            task.cancel()
        if RUNNING:
            await asyncio.wait(list(RUNNING), timeout=5)
        from conversations.assistant.generation import upstream_client

        await upstream_client().aclose()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def handle_lifespan(receive, send) -> None:
    lifespan = Lifespan()
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await lifespan.startup()
            except Exception as error:
                logger.exception("startup failed")
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await lifespan.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
