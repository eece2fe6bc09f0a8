"""Small helpers for the page chrome (toasts), apart from chat's per-row filters."""

import uuid
from functools import cache

from django import template
from django.conf import settings
from django.utils.safestring import mark_safe

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
