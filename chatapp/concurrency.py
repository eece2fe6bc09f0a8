"""Running database work from async code."""

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def in_worker_thread(function):
    """`function` as an awaitable that runs in a worker thread (not the single thread
    Django's sync views share, so a slow query does not hold up requests), with the
    connection hygiene Django's request signals would give it: stale connections closed
    before and after."""

    def work(*args, **kwargs):
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(work, thread_sensitive=False)
