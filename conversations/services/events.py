"""Recording and announcing changes for GET /events.

A durable event is a row in the event log (its id is the SSE id a client resumes from),
written in the same transaction as the change it describes. It is announced to every app
process: on PostgreSQL by NOTIFY from that same statement (delivered at commit, never for a
rolled-back change), on SQLite to this process's broker after commit.

A signal (a batch of streamed text, a request to stop a generation, a revocation that open
streams must check) is announced the same way but not stored: nobody resumes to it.

Events say what changed and where, never what a message says: a client reads the row, with
the reader's permissions applied at that moment. (The log is replayed to whoever resumes,
later; text stored in it would outlive an edit, a deletion or a moderator's hiding.)
"""

import functools
import hashlib
import json
import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from conversations.live.broker import broker
from conversations.models import Event, Message

CHANNEL = "chatapp_events"
# PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; a bigger event is announced
# by id only and read from the log by the listener.
NOTIFY_MAX_BYTES = 7900

# Constants and the caller's SQL fragments only are formatted in; every value is a query
# parameter. See event_ctes().
_EVENT_CTES = """
event AS (
    INSERT INTO conversations_event (conversation_id, type, user_id, data, created_at)
    SELECT %s, %s, %s, %s::jsonb{data_more}, {time} {source}
    RETURNING id, conversation_id, type, user_id, data, created_at
), payload AS (
    SELECT id, json_build_object(
        'id', id, 'type', type, 'conversation_id', conversation_id, 'user_id', user_id,
        'data', data, 'created_at', created_at
    )::text AS text FROM event
), notified AS (
    SELECT id, pg_notify(
        '{channel}',
        CASE WHEN octet_length(text) > {limit}
             THEN json_build_object('id', id, 'fetch', true)::text ELSE text END
    ) FROM payload
)"""


@functools.cache
def event_ctes_sql(*, source: str = "", data_more: str = "", time: str = "") -> str:
    """The CTEs (after `WITH`) of a PostgreSQL statement that stores an event and announces
    it (NOTIFY at commit); `SELECT id FROM notified` gives its id. A writing service may put
    its own CTEs before them, so that a change and its event are one round trip: `source`
    ("FROM posted") records the event only for a row that CTE wrote, `data_more` ("||
    jsonb_build_object('seq', posted.seq)") adds to the data what only the statement knows,
    `time` is the event's time as SQL (default: a parameter, this process's clock). Its
    parameters are event_params()."""
    return _EVENT_CTES.format(
        source=source,
        data_more=data_more,
        time=time or "%s",
        channel=CHANNEL,
        limit=NOTIFY_MAX_BYTES,
    )


def event_params(
    *, conversation_id: Any, type: str, data: dict[str, Any], user_id: Any = None, time=None
) -> list:
    """The parameters of event_ctes_sql(); `time` only where that SQL has no time of its own."""
    params = [conversation_id, type, user_id, json.dumps(data)]
    return params if time is None else [*params, time]


def event_record(
    *, conversation_id: uuid.UUID, type: str, data: dict[str, Any], user_id: Any = None
) -> int:
    """Store one event and announce it; call inside the writing service's transaction.
    Returns the event id.

    Its time is this process's clock when it is recorded, the clock of a participant's
    joined_at, and not the database's now() (the start of the transaction, which may be long
    before the row lock a post waits for): the replay to a participant starts at their
    joined_at, and a message posted after someone's join committed (both take the
    conversation's row lock) is after it."""
    if connection.vendor == "postgresql":
        ctes = event_ctes_sql()
        params = event_params(
            conversation_id=conversation_id,
            type=type,
            data=data,
            user_id=user_id,
            time=timezone.now(),
        )
        with connection.cursor() as cursor:
            cursor.execute("WITH " + ctes + " SELECT id FROM notified", params)  # noqa: S608
            return cursor.fetchone()[0]
    event = Event.objects.create(
        conversation_id=conversation_id, type=type, user_id=user_id, data=data
    )
    payload = event.as_payload()
    transaction.on_commit(lambda: broker.deliver(payload))
    return event.id


def event_signal(payload: dict[str, Any]) -> None:
    """Announce without storing (streamed text, stop requests) to every process."""
    if connection.vendor == "postgresql":
        text = json.dumps(payload)
        if len(text.encode()) > NOTIFY_MAX_BYTES:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, text])
    else:
        transaction.on_commit(lambda: broker.deliver(payload))


def session_digest(session_key: str) -> str:
    """How a signal names a browser session without carrying its key."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def stream_access_changed(*, user_id: Any, session_key: str | None = None) -> None:
    """Have the user's open streams, in every process, check at once that they may still
    read (conversations/live/access.py); call inside the transaction that revokes, so that
    they check after it commits. `session_key`: a session being signed out, whose streams
    end without asking (Django announces a sign-out before it deletes the session)."""
    event_signal(
        {
            "type": "_access",
            "user_id": str(user_id),
            "session": session_digest(session_key) if session_key else None,
        }
    )


def message_summary(message: Message) -> dict[str, Any]:
    """What an event says about a message: enough to place it; the client reads the rest
    (never its text: see the module's docstring)."""
    return {
        "message_id": str(message.pk),
        "seq": message.seq,
        # Where it is in the thread: its turn, and the line of versions it is on (a tab
        # shown another line has nothing to add).
        "position": message.position,
        "line": message.line,
        "role": message.role,
        "status": message.status,
        "sender_id": str(message.sender_id) if message.sender_id else None,
        "is_deleted": message.deleted_at is not None,
        "is_hidden": message.hidden_at is not None,
    }
