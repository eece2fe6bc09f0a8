"""The one rate limiter: fixed windows on Django's cache (in-process by default, shared
across processes when CACHE_URL points at Redis).

Every limit is a `Limit` below, read from two settings (how many, per how many seconds) at
the moment it is applied, so that an operator's environment and a test's `settings`
override both take effect. docs/security.md lists them.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy, ngettext

from conversations.exceptions import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str  # the cache namespace, stable across releases
    count_setting: str
    window_setting: str
    message: str  # lazy: in the language of the request refused (the API's is English)

    @property
    def count(self) -> int:
        return getattr(settings, self.count_setting)

    @property
    def window(self) -> int:
        return max(getattr(settings, self.window_setting), 1)


SIGN_IN_FAILURES = Limit(
    "login",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    gettext_lazy("Too many failed sign-ins; wait before trying again."),
)
REGISTRATIONS = Limit(
    "register",
    "REGISTER_RATE_LIMIT",
    "REGISTER_RATE_WINDOW_SECONDS",
    gettext_lazy("Too many sign-ups from this address; wait before trying again."),
)
POSTS = Limit(
    "post",
    "POST_RATE_LIMIT",
    "POST_RATE_WINDOW_SECONDS",
    gettext_lazy("You are posting too fast; wait a moment."),
)
REPLIES = Limit(
    "reply",
    "REPLY_RATE_LIMIT",
    "REPLY_RATE_WINDOW_SECONDS",
    gettext_lazy("You have asked for too many assistant replies; wait before asking again."),
)
IMPORTS = Limit(
    "import",
    "IMPORT_RATE_LIMIT",
    "IMPORT_RATE_WINDOW_SECONDS",
    gettext_lazy("You have imported too many files; wait before importing again."),
)
TOKEN_CREATIONS = Limit(
    "token",
    "TOKEN_CREATE_RATE_LIMIT",
    "TOKEN_CREATE_RATE_WINDOW_SECONDS",
    gettext_lazy("You have created too many tokens; wait before creating another."),
)

ALL_LIMITS = [SIGN_IN_FAILURES, REGISTRATIONS, POSTS, REPLIES, IMPORTS, TOKEN_CREATIONS]


def _bucket(limit: Limit, key: str) -> tuple[str, int]:
    """The cache key of the current window and the seconds left in it."""
    window = limit.window
    now = int(time.time())
    start = now - now % window
    return f"ratelimit:{limit.name}:{key}:{window}:{start}", start + window - now


def count(limit: Limit, key: str) -> int:
    bucket, _ = _bucket(limit, key)
    return cache.get(bucket, 0)


def record(limit: Limit, key: str) -> int:
    """Count one more event in the current window; returns the new count."""
    bucket, left = _bucket(limit, key)
    if cache.add(bucket, 1, timeout=left + 1):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=left + 1)
        return 1


def refuse(limit: Limit, key: str) -> RateLimited:
    """The error to raise for `key`: its message, and the seconds left in the window."""
    _, left = _bucket(limit, key)
    return RateLimited(str(limit.message), retry_after=max(left, 1))


def wait_text(seconds: int) -> str:
    """How long to wait, for a page: "Try again in 14 minutes." """
    if seconds < 90:
        return ngettext(
            "Try again in %(count)d second.", "Try again in %(count)d seconds.", seconds
        ) % {"count": seconds}
    minutes = round(seconds / 60)
    return ngettext(
        "Try again in %(count)d minute.", "Try again in %(count)d minutes.", minutes
    ) % {"count": minutes}


def page_message(error: RateLimited) -> str:
    return f"{error.message} {wait_text(error.retry_after)}"


def check(limit: Limit, key: str) -> None:
    """Raise RateLimited if `key` has reached the limit in this window (counting nothing)."""
    if count(limit, key) >= limit.count:
        raise refuse(limit, key)


def hit(limit: Limit, key: str) -> None:
    """Count one event, and raise RateLimited if it goes over the limit."""
    if record(limit, key) > limit.count:
        raise refuse(limit, key)


def reset(limit: Limit, key: str) -> None:
    bucket, _ = _bucket(limit, key)
    cache.delete(bucket)
