"""Readying a server process before its first request (chatapp/asgi.py, chatapp/wsgi.py)."""

import gc

from django.urls import get_resolver


def freeze_loaded_objects() -> None:
    """Import every view now, then move all that is loaded into the garbage collector's
    permanent generation.

    Django, ninja and pydantic leave about 110,000 long-lived objects (modules, classes,
    functions, schemas). Python's full collection walks every one of them: a pause of about
    60 ms every few hundred requests, the p99 of a fast endpoint (docs/benchmarks.md).
    Frozen, they are never walked again; what requests create later is collected as usual.
    """
    get_resolver().url_patterns  # noqa: B018 (imports the views, the API and its schemas)
    gc.collect()
    gc.freeze()
