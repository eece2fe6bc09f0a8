"""The per-process event broker: open SSE streams subscribe here, and events arrive here
from this process (SQLite: straight after commit) or from PostgreSQL NOTIFY (every process).

Producers may run in any thread (Django's sync views run in worker threads); subscribers
live on the server's event loop. `deliver` hands an event to the loop thread-safely.

Besides events, a stream's queue receives two kinds of item of its own: RESYNC (catch up from
the log) and an access nudge, {"type": "_access", "session": …} (check at once that you may
still read: conversations/live/access.py). A nudge is queued as soon as it is heard, so it is
ahead of every event committed after the revocation it follows.
"""

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

# A stream that stops reading (a stuck client) must not grow without bound: past this many
# queued events it is told to resynchronise from the database instead.
QUEUE_LIMIT = 1000
RESYNC = {"type": "_resync"}


class Broker:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        # user id → the queues of that user's open /events streams
        self._users: dict[str, set[asyncio.Queue]] = defaultdict(set)
        # message id → the queues of open reply streams of that message
        self._messages: dict[str, set[asyncio.Queue]] = defaultdict(set)
        # user id → the queues of that user's open reply streams (for access nudges only)
        self._reply_streams: dict[str, set[asyncio.Queue]] = defaultdict(set)
        # message id → callbacks to run when someone asks to stop its generation
        self._abort_handlers: dict[str, Callable[[], None]] = {}
        # Who may see a conversation's events: an async function of its id and of the
        # event's time (None for a signal, which has none).
        self.recipients_of: Callable[[str, str | None], Awaitable[Iterable[str]]] | None = None
        self._inbox: asyncio.Queue | None = None
        self._dispatcher: asyncio.Future | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at startup, or by the first stream)."""
        if self.loop is None or self.loop.is_closed() or not self.loop.is_running():
            self.loop = loop
            self._inbox = None

    # --- subscribing (on the loop) ----------------------------------------------------------

    def subscribe_user(self, user_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._users[user_id].add(queue)
        return queue

    def unsubscribe_user(self, user_id: str, queue: asyncio.Queue) -> None:
        with self._lock:
            self._users[user_id].discard(queue)
            if not self._users[user_id]:
                del self._users[user_id]

    def subscribe_message(self, message_id: str, *, user_id: str | None = None) -> asyncio.Queue:
        """A reply stream's queue; with `user_id` (its reader) it also hears access nudges."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._messages[message_id].add(queue)
            if user_id is not None:
                self._reply_streams[user_id].add(queue)
        return queue

    def unsubscribe_message(
        self, message_id: str, queue: asyncio.Queue, *, user_id: str | None = None
    ) -> None:
        with self._lock:
            self._messages[message_id].discard(queue)
            if not self._messages[message_id]:
                del self._messages[message_id]
            if user_id is not None:
                self._reply_streams[user_id].discard(queue)
                if not self._reply_streams[user_id]:
                    del self._reply_streams[user_id]

    def on_abort(self, message_id: str, handler: Callable[[], None]) -> None:
        with self._lock:
            self._abort_handlers[message_id] = handler

    def forget_abort(self, message_id: str) -> None:
        with self._lock:
            self._abort_handlers.pop(message_id, None)

    @property
    def has_user_streams(self) -> bool:
        return bool(self._users)

    def user_stream_count(self) -> int:
        with self._lock:
            return sum(len(queues) for queues in self._users.values())

    def resync_all(self) -> None:
        """Tell every stream to catch up from the log (after a gap in delivery), and every
        reply stream to check its access (a revocation may have been missed)."""
        with self._lock:
            queues = [queue for queues in self._users.values() for queue in queues]
            replies = [queue for queues in self._reply_streams.values() for queue in queues]
        for queue in queues:
            queue.put_nowait(RESYNC)
        for queue in replies:
            queue.put_nowait({"type": "_access", "session": None})

    def nudge_access(
        self, user_id: str, session: str | None = None, *, replies_only: bool = False
    ) -> None:
        """Ask the user's streams here to check their access now. Must be called on the
        loop. Queued whatever a stream's backlog: it must not wait behind it."""
        with self._lock:
            queues = [] if replies_only else list(self._users.get(user_id, ()))
            queues += self._reply_streams.get(user_id, ())
        for queue in queues:
            queue.put_nowait({"type": "_access", "session": session})

    # --- delivering -------------------------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand an event to this process's streams, in order; callable from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if event.get("type") == "_abort":
            loop.call_soon_threadsafe(self._abort, event.get("message_id", ""))
            return
        if event.get("type") == "_access":
            loop.call_soon_threadsafe(
                self.nudge_access, event.get("user_id", ""), event.get("session")
            )
            return
        loop.call_soon_threadsafe(self._inbox_put, event)

    def deliver_to_message(self, message_id: str, event: dict[str, Any]) -> None:
        """A reply stream's own event (each delta): only the streams of that message, in this
        process. Must be called on the loop."""
        for queue in list(self._messages.get(message_id, ())):
            queue.put_nowait(event)

    def _abort(self, message_id: str) -> None:
        handler = self._abort_handlers.get(message_id)
        if handler is not None:
            handler()

    def _inbox_put(self, event: dict[str, Any]) -> None:
        if self._inbox is None:
            self._inbox = asyncio.Queue()
            self._dispatcher = asyncio.ensure_future(self._dispatch_forever())
        self._inbox.put_nowait(event)

    async def _dispatch_forever(self) -> None:
        """One event at a time, so that every stream sees them in commit order."""
        inbox = self._inbox
        while inbox is not None:
            event = await inbox.get()
            try:
                await self._dispatch(event)
            except Exception:
                logger.exception("could not dispatch event %s", event.get("id"))

    async def _dispatch(self, event: dict[str, Any]) -> None:
        if event.get("type") == "conversation.removed" and event.get("user_id"):
            # Someone lost a conversation: their reply streams check whether it was theirs.
            # (Their /events stream is told by this event, and gets no more of its events.)
            self.nudge_access(event["user_id"], replies_only=True)
        if not self._users:
            return
        if event.get("user_id"):
            recipients = {event["user_id"]}
        elif self.recipients_of is not None:
            recipients = set(
                await self.recipients_of(event["conversation_id"], event.get("created_at"))
            )
        else:
            return
        for user_id in recipients & set(self._users):
            for queue in list(self._users.get(user_id, ())):
                if queue.qsize() < QUEUE_LIMIT:
                    queue.put_nowait(event)
                elif queue.qsize() == QUEUE_LIMIT:
                    queue.put_nowait(RESYNC)


broker = Broker()
