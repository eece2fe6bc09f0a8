"""Template filters of the chat pages. They run no queries: everything they read was
loaded by the view's selector."""

from datetime import UTC, datetime
from functools import lru_cache

import nh3
from django import template
from django.urls import get_script_prefix, reverse
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

register = template.Library()

_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes it as plain code
    return highlight(code, lexer, _FORMATTER)


# Raw HTML in a message is shown as text, never rendered ("html": False); links are not
# made from bare URLs text, only from markdown link syntax.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"]
)


def _image_as_link(renderer, tokens, idx, options, env) -> str:
    """An image becomes a link to it, named by its alt text: the page's CSP loads no images
    from other origins, and an <img> it refused would show nothing at all."""
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env).strip()
    label = escapeHtml(f"Image: {alt}" if alt else "Image")
    open_links = sum(
        {"link_open": 1, "link_close": -1}.get(before.type, 0) for before in tokens[:idx]
    )
    if open_links:  # an image inside a link (a badge): the label, in that link
        return label
    return f'<a href="{escapeHtml(token.attrGet("src") or "")}">{label}</a>'


_MARKDOWN.add_render_rule("image", _image_as_link)

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Markdown to HTML that cannot run script: markdown-it without raw HTML, then nh3 with
    an allow-list of tags, attributes and URL schemes (no javascript:, no data:). Images
    are links to them (_image_as_link)."""
    rendered = _MARKDOWN.render(text)
    cleaned = nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    # A code block scrolls sideways: it must be reachable by keyboard (nh3 leaves <pre>
    # without attributes, so this cannot meet one).
    return cleaned.replace("<pre>", '<pre tabindex="0">')


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    return mark_safe(render_markdown(text or ""))  # noqa: S308 (sanitised by nh3 above)


@register.filter
def pretty_json(value) -> str:
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


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
