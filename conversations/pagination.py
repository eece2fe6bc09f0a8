"""Opaque cursors for keyset pagination (never OFFSET): the keyset values of the last row
shown, signed so that a client can neither forge nor edit one. A tampered, stale-format or
foreign cursor is a BadCursor (400)."""

import uuid
from datetime import datetime
from typing import Any

from django.core import signing

from conversations.exceptions import BadCursor

_SALT = "chatapp.cursor.v1"


def encode_cursor(kind: str, values: list[Any]) -> str:
    """`kind` names the list (e.g. "conversations"), so a cursor of one list is refused by
    another; `values` must be JSON-serialisable (use isoformat() and str() for times, ids)."""
    return signing.dumps({"k": kind, "v": values}, salt=_SALT, compress=True)


def decode_cursor(kind: str, cursor: str, *, length: int) -> list[Any]:
    """The keyset values of a cursor made by encode_cursor(kind, …), exactly `length` of them."""
    try:
        payload = signing.loads(cursor, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise BadCursor("The cursor is not valid; start again from the first page.") from None
    if (
        not isinstance(payload, dict)
        or payload.get("k") != kind
        or not isinstance(payload.get("v"), list)
        or len(payload["v"]) != length
    ):
        raise BadCursor("The cursor is not valid for this list; start again from the first page.")
    return payload["v"]


def encode_time_id_cursor(kind: str, moment: datetime, pk: uuid.UUID) -> str:
    """The usual keyset of a newest-first list: (a time, the row's id)."""
    return encode_cursor(kind, [moment.isoformat(), str(pk)])


def decode_time_id_cursor(kind: str, cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    moment, pk = decode_cursor(kind, cursor, length=2)
    try:
        return datetime.fromisoformat(moment), uuid.UUID(pk)
    except (TypeError, ValueError):
        raise BadCursor("The cursor is not valid; start again from the first page.") from None


def encode_number_cursor(kind: str, number: int) -> str:
    """The keyset of a list by a number, newest first (a message's revisions)."""
    return encode_cursor(kind, [number])


def decode_number_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (number,) = decode_cursor(kind, cursor, length=1)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise BadCursor("The cursor is not valid; start again from the first page.")
    return number
