"""PostgreSQL LISTEN: every app process follows the channel that event_record and
event_signal NOTIFY, and hands what it hears to its own broker. Reconnects on failure."""

import asyncio
import json
import logging

import psycopg
from django.conf import settings

from chatapp.concurrency import in_worker_thread
from conversations.live.broker import broker
from conversations.models import Event
from conversations.services.events import CHANNEL

logger = logging.getLogger(__name__)


def _conninfo() -> dict:
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return {key: value for key, value in params.items() if value}


def _fetch(event_id: int) -> dict | None:
    event = Event.objects.filter(pk=event_id).first()
    return event.as_payload() if event else None


async def listen_forever() -> None:
    delay = 0.5
    reconnecting = False
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(**_conninfo(), autocommit=True)
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                logger.info("listening for events on %s", CHANNEL)
                if reconnecting:
                    # Whatever was announced while we were away is in the log.
                    broker.resync_all()
                async for notification in connection.notifies():
                    payload = json.loads(notification.payload)
                    if payload.get("fetch"):
                        payload = await in_worker_thread(_fetch)(payload["id"])
                        if payload is None:
                            continue
                    broker.deliver(payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("event listener lost its connection; reconnecting")
            reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
