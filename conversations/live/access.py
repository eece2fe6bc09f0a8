"""Whether an open stream may still read: a live stream ends when access ends.

A stream (GET /events, or the SSE stream of an assistant reply) remembers what opened it:
its user, and the API token or the browser session that authenticated the request; a
reply stream also its conversation. It asks the database again whether they still hold
every STREAM_ACCESS_CHECK_SECONDS, and at once when told to: every revocation (a token
revoked, a sign-in ended, a suspension) announces `stream_access_changed` in its own
transaction, which reaches the user's streams in every process after it commits and before
any event committed after it. A stream that has lost access sends one last event,
`access.revoked` with the reason, and ends.
"""

import logging
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest
from django.utils import timezone

from chatapp.accounts.models import ApiToken, User
from chatapp.concurrency import in_worker_thread
from conversations.models import Participant
from conversations.services.events import session_digest, stream_access_changed

logger = logging.getLogger(__name__)

# Why a stream ended, as its closing event says (`reason`), with words for people.
SUSPENDED = "suspended"
SIGNED_OUT = "signed_out"
TOKEN_REVOKED = "token_revoked"  # noqa: S105 (a reason, not a secret)
TOKEN_EXPIRED = "token_expired"  # noqa: S105
REMOVED = "removed"
REASONS = {
    SUSPENDED: "This account is suspended.",
    SIGNED_OUT: "This sign-in has ended.",
    TOKEN_REVOKED: "The token that opened this stream was revoked.",
    TOKEN_EXPIRED: "The token that opened this stream has expired; refresh it and reconnect.",
    REMOVED: "You are no longer in this conversation.",
}
CLOSING_EVENT = "access.revoked"


@dataclass(frozen=True)
class StreamAccess:
    """What opened a stream, to ask again later whether it still may read."""

    user_id: str
    token_id: str | None = None
    session_key: str | None = None
    conversation_id: str | None = None  # a reply stream's conversation

    @classmethod
    def of_request(cls, request: HttpRequest, *, conversation_id: Any = None) -> "StreamAccess":
        api_token = getattr(request, "api_token", None)
        session = getattr(request, "session", None)
        return cls(
            user_id=str(request.auth.pk),
            token_id=str(api_token.pk) if api_token is not None else None,
            session_key=(session.session_key if api_token is None and session else None),
            conversation_id=str(conversation_id) if conversation_id else None,
        )

    @property
    def session(self) -> str | None:
        return session_digest(self.session_key) if self.session_key else None


def access_lost(access: StreamAccess) -> str | None:
    """Why `access` no longer reads (one of REASONS), or None while it does. Two or three
    primary-key reads."""
    is_active = User.objects.filter(pk=access.user_id).values_list("is_active", flat=True)
    is_active = is_active.first()
    if is_active is None:
        return SIGNED_OUT
    if not is_active:
        return SUSPENDED
    if access.token_id:
        token = ApiToken.objects.filter(pk=access.token_id).values("revoked_at", "expires_at")
        token = token.first()
        if token is None or token["revoked_at"] is not None:
            return TOKEN_REVOKED
        if token["expires_at"] is not None and token["expires_at"] <= timezone.now():
            return TOKEN_EXPIRED
    elif access.session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=access.session_key)
        # Empty when the session was flushed (sign-out), deleted (suspension) or expired.
        if store.load().get(SESSION_KEY) != access.user_id:
            return SIGNED_OUT
    if access.conversation_id and not (
        Participant.objects.filter(
            conversation_id=access.conversation_id, user_id=access.user_id, left_at__isnull=True
        ).exists()
    ):
        return REMOVED
    return None


def closing_data(reason: str) -> dict[str, str]:
    return {"reason": reason, "message": REASONS[reason]}


def is_access_nudge(item: Any) -> bool:
    """A broker item asking a stream to check its access now (not an event to send)."""
    return isinstance(item, dict) and item.get("type") == "_access"


class AccessWatch:
    """One stream's checks: when the next is due, and the check itself."""

    def __init__(self, access: StreamAccess) -> None:
        self.access = access
        self.interval = settings.STREAM_ACCESS_CHECK_SECONDS
        self.next_check = time.monotonic() + self.interval

    def seconds_left(self) -> float:
        return max(0.0, self.next_check - time.monotonic())

    def due(self) -> bool:
        return time.monotonic() >= self.next_check

    async def lost(self, *nudges: dict) -> str | None:
        """Why this stream must end now, or None. A sign-out names its session in its
        nudge: Django announces it before the session is deleted, so the database would
        still say yes."""
        session = self.access.session
        if session and any(nudge.get("session") == session for nudge in nudges):
            return SIGNED_OUT
        try:
            reason = await in_worker_thread(access_lost)(self.access)
        except Exception:
            # The database cannot be read: nothing can be revoked meanwhile either, and
            # ending every stream at once would only have them all reconnect. Ask again soon.
            logger.warning("could not check a stream's access", exc_info=True)
            self.next_check = time.monotonic() + min(self.interval, 1)
            return None
        self.next_check = time.monotonic() + self.interval
        return reason


def on_sign_out(sender, request, user, **kwargs) -> None:
    """Django's `user_logged_out`: every sign-out of a browser session (the sign-out page,
    the API's POST /auth/logout, the admin's) ends the streams that session opened."""
    if user is None or user.pk is None:
        return
    session = getattr(request, "session", None)
    stream_access_changed(user_id=user.pk, session_key=session.session_key if session else None)
