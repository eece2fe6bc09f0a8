"""Schemas shared by every part of the API: the error envelope, a user reference, pages."""

import uuid
from typing import Any

from ninja import Schema
from pydantic import BaseModel, ConfigDict


class ErrorBody(Schema):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(Schema):
    """Every error: {"error": {"code", "message", "details"}}."""

    error: ErrorBody


class OutModel(BaseModel):
    """An answer schema that pydantic reads straight from attributes. ninja's Schema wraps
    every object of every nested schema in a DjangoGetter (for its resolve_* methods), which
    on a page of 50 messages costs ten times the validation itself (docs/benchmarks.md); the
    schemas of long lists derive from this instead and take their values from properties
    and aliases."""

    model_config = ConfigDict(from_attributes=True)


class UserRefOut(OutModel):
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
# ... and of one with a rate limit (chatapp/ratelimit.py).
LIMITED_ERRORS = {**ERRORS, 429: ErrorOut}
