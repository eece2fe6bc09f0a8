"""Schemas shared by every part of the API: the error envelope, a user reference, pages."""

import uuid
from typing import Any

from ninja import Schema


class ErrorBody(Schema):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(Schema):
    """Every error: {"error": {"code", "message", "details"}}."""

    error: ErrorBody


class UserRefOut(Schema):
    id: uuid.UUID
    username: str
    display_name: str


# The documented error answers of an endpoint that takes an id and a body.
ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
}
