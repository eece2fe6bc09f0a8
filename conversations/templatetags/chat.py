"""Template filters of the chat pages. They run no queries: everything they read was
loaded by the view's selector."""

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.safestring import mark_safe

from conversations.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    return mark_safe(render_markdown(text or ""))  # noqa: S308 (sanitised by nh3: conversations/markdown.py)


# A tool's JSON is laid out down to this depth; deeper (a model's arguments can be anything)
# it is shown as it came.
_JSON_MAX_DEPTH = 64


def _json_text(text: str) -> str:
    """A JSON string whose line breaks are real ones: a tool's output (a traceback, a file)
    reads as its lines, not as one long line of escapes. All else stays escaped as JSON."""
    lines = (json.dumps(line, ensure_ascii=False)[1:-1] for line in text.split("\n"))
    return '"' + "\n".join(lines) + '"'


def _decoded(text: str) -> Any:
    """`text` itself, or the JSON object or array it holds (a tool's arguments, and many
    tools' results, are JSON in a string)."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            # strict=False: a raw line break inside a string, as models write them.
            return json.loads(stripped, strict=False)
        except (ValueError, RecursionError):  # not JSON, or too deep to read
            pass
    return text


def _pretty(value: Any, depth: int) -> str:
    if depth > _JSON_MAX_DEPTH:
        raise RecursionError
    pad = "  " * depth
    if isinstance(value, str):
        decoded = _decoded(value)
        return _json_text(value) if decoded is value else _pretty(decoded, depth)
    if isinstance(value, dict) and value:
        items = (
            f"{pad}  {json.dumps(str(key), ensure_ascii=False)}: {_pretty(item, depth + 1)}"
            for key, item in value.items()
        )
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        items = (f"{pad}  {_pretty(item, depth + 1)}" for item in value)
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


@register.filter
def pretty_json(value) -> str:
    """A tool call's arguments or a tool's result, for people: JSON indented by two, a
    string that holds JSON decoded and indented in its place, and strings with their real
    line breaks (the row's <pre> wraps long lines). Text that is not JSON is shown as it is."""
    if isinstance(value, str) and _decoded(value) is value:
        return value
    try:
        return _pretty(value, 0)
    except (RecursionError, TypeError, ValueError):
        return value if isinstance(value, str) else json.dumps(value, default=str)


@register.filter
def initials(name: str) -> str:
    parts = (name or "?").split()
    return "".join(part[0] for part in parts[:2]).upper() or "?"


# --- cheap per-row filters ------------------------------------------------------------------
# A page shows a hundred sidebar rows and fifty messages; Django's naturaltime,
# truncatechars, date and {% url %} each cost more per row than the row's own data
# (translation lookups, Unicode normalisation, locale formats, URL resolution), together a
# third of the thread page's server time (docs/ui.md). These do the same for our cases.


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, short: "just now", "5 min ago", "3 h ago", "2 d ago", then the date."""
    if moment is None:
        return ""
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return moment.strftime("%Y-%m-%d")


@register.filter
def iso(moment: datetime | None) -> str:
    """For <time datetime>: ISO 8601."""
    return moment.isoformat() if moment else ""


@register.filter
def clip(text: str, length: int) -> str:
    """At most `length` characters, an ellipsis standing for the rest."""
    text = text or ""
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@lru_cache(maxsize=64)
def _url_pattern(name: str, script_prefix: str) -> str:
    return reverse(name, args=[_ID_PLACEHOLDER])


@register.filter
def url_with_id(object_id, name: str) -> str:
    """`{{ id|url_with_id:"conversations:thread" }}`: what {% url name id %} gives for the
    routes that take one UUID, resolved once per route rather than once per row."""
    return _url_pattern(name, get_script_prefix()).replace(_ID_PLACEHOLDER, str(object_id))


@register.filter
def stamp(moment: datetime | None) -> str:
    """The exact time, for a title: 2026-11-22 03:04 (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
