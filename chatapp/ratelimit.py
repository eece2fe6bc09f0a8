"""Fixed-window rate limits on Django's cache: in-process by default, shared across
processes when CACHE_URL points at Redis."""

import time

from django.core.cache import cache

from conversations.exceptions import RateLimited


def _window(key: str, window: int) -> tuple[str, int]:
    """The cache key of the current window and the seconds left in it."""
    now = int(time.time())
    start = now - now % window
    return f"ratelimit:{key}:{start}", start + window - now


def count(key: str, *, window: int) -> int:
    bucket, _ = _window(key, window)
    return cache.get(bucket, 0)


def record(key: str, *, window: int) -> int:
    """Count one more event in the current window; returns the new count."""
    bucket, left = _window(key, window)
    if cache.add(bucket, 1, timeout=left + 1):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=left + 1)
        return 1


def check(key: str, *, limit: int, window: int, message: str) -> None:
    """Raise RateLimited if `key` has reached `limit` events in this window."""
    bucket, left = _window(key, window)
    if cache.get(bucket, 0) >= limit:
        raise RateLimited(message, retry_after=max(left, 1))


def hit(key: str, *, limit: int, window: int, message: str) -> None:
    """Count one event, and raise RateLimited if it goes over `limit`."""
    if record(key, window=window) > limit:
        _, left = _window(key, window)
        raise RateLimited(message, retry_after=max(left, 1))


def reset(key: str, *, window: int) -> None:
    bucket, _ = _window(key, window)
    cache.delete(bucket)
