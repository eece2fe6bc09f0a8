"""Small helpers for the page chrome (toasts, icons, the JavaScript catalogue), apart from
chat's per-row filters."""

import uuid
from functools import cache

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from chatapp.i18n import catalog_version

register = template.Library()

UNDO_RESTORE = "undo-restore:"


def undo_restore_tag(conversation_id: uuid.UUID) -> str:
    """The flash message tag that gives a toast an Undo button restoring this conversation."""
    return f"{UNDO_RESTORE}{conversation_id}"


@register.filter
def undo_restore_id(message) -> str:
    """The conversation a flash message offers to restore ("Undo"), or ""."""
    for tag in (message.extra_tags or "").split():
        if tag.startswith(UNDO_RESTORE):
            try:
                return str(uuid.UUID(tag.removeprefix(UNDO_RESTORE)))
            except ValueError:
                return ""
    return ""


@cache
def _icon_markup(name: str) -> str:
    path = settings.BASE_DIR / "templates" / "icons" / f"{name}.svg"
    return path.read_text(encoding="utf-8")


@register.simple_tag
def icon(name: str) -> str:
    """An inline SVG icon from templates/icons/ (Lucide's, ISC), drawn in currentColor and
    hidden from screen readers: the control around it carries the name. Read once per
    process; a row uses several, and an include per icon cost more than the row."""
    return mark_safe(_icon_markup(name))  # noqa: S308 - our own files, not user input


@register.simple_tag
def javascript_catalog_url() -> str:
    """The address of the JavaScript catalogue in the page's language, with the version of
    the compiled catalogues (chatapp/i18n.py), for base.html's <script>."""
    url = reverse("javascript_catalog", args=[get_language() or settings.LANGUAGE_CODE])
    return f"{url}?v={catalog_version()}"
