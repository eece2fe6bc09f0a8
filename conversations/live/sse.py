"""Server-Sent Events framing."""

import json
from typing import Any


def sse(event: str, data: Any, *, event_id: int | None = None) -> str:
    """One SSE message. `data` is JSON on one line (JSON escapes newlines)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def comment(text: str) -> str:
    """A line clients ignore: heartbeats that keep proxies from closing the stream."""
    return f": {text}\n\n"


SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx: pass each event through at once instead of buffering the response.
    "X-Accel-Buffering": "no",
}
