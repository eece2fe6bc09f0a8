"""Template filters of the chat pages. They run no queries: everything they read was
loaded by the view's selector."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from django import template
from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import dateformat, numberformat
from django.utils.formats import get_format
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, ngettext, pgettext_lazy

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


# --- in the page's language, cheaply ---------------------------------------------------------
# Django's date, naturaltime and intcomma look up the language's formats and words at every
# call. Here each language's formats are compiled once (the first time a page in it asks),
# and each phrase ("5 min ago") is translated once per language and number: what a row pays
# is the current language (one context-local read) and a dictionary lookup.


def _language() -> str:
    return get_language() or settings.LANGUAGE_CODE


# Django's date format characters that plain str.format can write; a format using others
# (a month's name) is written by Django's dateformat, at its cost.
_DATE_FIELDS = {
    "d": "{0.day:02d}",
    "j": "{0.day}",
    "m": "{0.month:02d}",
    "n": "{0.month}",
    "Y": "{0.year}",
    "H": "{0.hour:02d}",
    "G": "{0.hour}",
    "i": "{0.minute:02d}",
    "s": "{0.second:02d}",
}


def _date_writer(django_format: str) -> Callable[[datetime], str]:
    """A function writing a datetime in a Django date format ("d.m.Y", "Y年n月j日 H:i")."""
    parts, escaped = [], False
    for char in django_format:
        if escaped or not ((char.isascii() and char.isalpha()) or char == "\\"):
            parts.append(char.replace("{", "{{").replace("}", "}}"))  # written as it is
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _DATE_FIELDS:
            parts.append(_DATE_FIELDS[char])
        else:
            return lambda moment: dateformat.format(moment, django_format)
    return "".join(parts).format


@dataclass(frozen=True)
class _LocalFormats:
    short_date: Callable[[datetime], str]
    short_datetime: Callable[[datetime], str]
    decimal_separator: str
    thousand_separator: str
    grouping: int


@cache
def _formats(language: str) -> _LocalFormats:
    """The language's formats (Django's, and ours in chatapp/formats/), compiled once."""
    return _LocalFormats(
        short_date=_date_writer(get_format("SHORT_DATE_FORMAT", language)),
        short_datetime=_date_writer(get_format("SHORT_DATETIME_FORMAT", language)),
        decimal_separator=get_format("DECIMAL_SEPARATOR", language),
        thousand_separator=get_format("THOUSAND_SEPARATOR", language),
        grouping=get_format("NUMBER_GROUPING", language),
    )


@lru_cache(maxsize=4096)
def _ago_phrase(language: str, unit: str, count: int) -> str:
    """ "5 min ago" in `language`, the active one (the key keeps each language's apart)."""
    if unit == "now":
        return gettext("just now")
    if unit == "min":
        text = ngettext("%(count)s min ago", "%(count)s min ago", count)
    elif unit == "h":
        text = ngettext("%(count)s h ago", "%(count)s h ago", count)
    else:
        text = ngettext("%(count)s d ago", "%(count)s d ago", count)
    return text % {"count": count}


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, short: "just now", "5 min ago", "3 h ago", "2 d ago", then the date
    (the language's short date: 2026-11-22, 22.11.2026, 2026年11月22日)."""
    if moment is None:
        return ""
    language = _language()
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 60:
        return _ago_phrase(language, "now", 0)
    if seconds < 3600:
        return _ago_phrase(language, "min", int(seconds // 60))
    if seconds < 86400:
        return _ago_phrase(language, "h", int(seconds // 3600))
    if seconds < 30 * 86400:
        return _ago_phrase(language, "d", int(seconds // 86400))
    return _formats(language).short_date(moment)


@register.filter
def stamp(moment: datetime | None) -> str:
    """The exact time, for a title, in the language's short date and time: 2026-11-22 03:04
    UTC, 22.11.2026 03:04 UTC."""
    if moment is None:
        return ""
    return _formats(_language()).short_datetime(moment) + " UTC"


@register.filter
def number(value: int | None) -> str:
    """An integer with the language's thousands separator: 12,345, 12.345, 12 345."""
    if value is None or value == "":
        return ""
    if -1000 < value < 1000:
        return str(value)
    formats = _formats(_language())
    if formats.grouping == 3 and formats.thousand_separator:
        return f"{value:,}".replace(",", formats.thousand_separator)
    return numberformat.format(
        value,
        formats.decimal_separator,
        grouping=formats.grouping,
        thousand_sep=formats.thousand_separator,
        force_grouping=True,
    )


@lru_cache(maxsize=64)
def _phrases(language: str) -> dict[str, str]:
    """The words of an assistant row's usage line, in `language` (the active one)."""
    return {
        "tokens": gettext("%(input)s in / %(output)s out tokens"),
        "milliseconds": gettext("%(milliseconds)s ms"),
    }


@register.filter
def milliseconds(value: int | None) -> str:
    """A duration: "1,250 ms"."""
    if value is None:
        return ""
    return _phrases(_language())["milliseconds"] % {"milliseconds": number(value)}


@register.filter
def usage(message) -> str:
    """An assistant turn's model, tokens and latency: "gpt-4o · 12 in / 340 out tokens ·
    1,250 ms"."""
    phrases = _phrases(_language())
    parts = [message.model] if message.model else []
    if message.total_tokens is not None:
        parts.append(
            phrases["tokens"]
            % {"input": number(message.prompt_tokens), "output": number(message.completion_tokens)}
        )
    if message.latency_ms is not None:
        parts.append(milliseconds(message.latency_ms))
    return " · ".join(parts)


@lru_cache(maxsize=4096)
def _unread_phrase(language: str, count: int) -> str:
    return ngettext("%(count)s unread", "%(count)s unread", count) % {"count": number(count)}


@register.filter
def unread_label(count: int) -> str:
    """A sidebar badge's name for screen readers: "3 unread"."""
    return _unread_phrase(_language(), count)


# A workspace role inside a sentence ("invites you to Team, as member"): lower case in
# English, a noun as the language writes it elsewhere.
_ROLE_WORDS = {
    "owner": pgettext_lazy("a workspace role, in a sentence", "owner"),
    "admin": pgettext_lazy("a workspace role, in a sentence", "admin"),
    "member": pgettext_lazy("a workspace role, in a sentence", "member"),
}


@register.filter
def role_word(role: str) -> str:
    return str(_ROLE_WORDS.get(role, role))


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
