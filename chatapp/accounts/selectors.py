"""Reads of a user's own account data."""

import uuid
from datetime import datetime

from django.db.models import Q

from chatapp.accounts.models import ApiToken, TokenKind, User


def personal_tokens_for_user(
    *, user: User, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[list[ApiToken], bool]:
    """The user's personal tokens, newest first, live and revoked; (page, has_more)."""
    tokens = ApiToken.objects.filter(user=user, kind=TokenKind.PERSONAL).order_by(
        "-created_at", "-id"
    )
    if after is not None:
        moment, pk = after
        tokens = tokens.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    rows = list(tokens[: limit + 1])
    return rows[:limit], len(rows) > limit
