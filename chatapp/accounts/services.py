"""Writes to users and their API tokens: registration, sign-in, token issue, rotation and
revocation, suspension."""

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from chatapp.accounts.models import ApiToken, TokenKind, User
from conversations.exceptions import (
    Conflict,
    InvalidFields,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from conversations.services.audit import audit_event_record
from conversations.services.conversations import lock_row
from conversations.services.events import stream_access_changed
from conversations.services.moderation import clean_reason, require_permission
from conversations.services.workspaces import workspace_create_personal, workspace_join_shared

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_]{3,50}")
TOKEN_PREFIX = "chat_"  # noqa: S105 (a public marker, not a secret)
# last_used_at is written at most this often per token, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


# --- users ---------------------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    display_name: str = "",
    validate: bool = False,
    **extra_fields,
) -> User:
    """A new user with their personal workspace and owner membership, and (with
    SHARED_WORKSPACE on) a member of the server's shared workspace. Every way of making a
    user comes here: registration, the admin, createsuperuser, single sign-on.

    `validate=True` applies Django's password validators (for self-registration); Django's
    own commands and tests create users without them.
    """
    username = User.normalize_username(username or "")
    if not username:
        raise InvalidInput("username", gettext("A username is required."))
    email = User.objects.normalize_email(email or "")
    if User.objects.filter(username=username).exists():
        raise InvalidInput("username", gettext("This username is taken."))
    if email and User.objects.filter(email__iexact=email).exists():
        raise InvalidInput("email", gettext("A user with this email already exists."))
    user = User(username=username, email=email, display_name=display_name, **extra_fields)
    if validate and password is not None:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise InvalidInput("password", " ".join(error.messages)) from None
    user.set_password(password)
    user.save()
    workspace_create_personal(user=user)
    workspace_join_shared(user=user)
    return user


def _password_problem(password: str) -> str | None:
    if len(password) < 8:
        return gettext("A password has at least 8 characters.")
    if not (
        re.search(r"[a-z]", password)
        and re.search(r"[A-Z]", password)
        and re.search(r"\d", password)
    ):
        return gettext("A password needs an uppercase letter, a lowercase letter and a digit.")
    return None


@transaction.atomic
def user_register(*, email: str, username: str, password: str, display_name: str = "") -> User:
    """Self-registration, when ALLOW_REGISTRATION is on: the SPEC's username and password
    rules first, then Django's password validators. Every bad field is reported at once."""
    if not settings.ALLOW_REGISTRATION:
        raise PermissionDenied(gettext("Registration is closed on this server."))
    if not settings.PASSWORD_SIGN_IN:
        raise PermissionDenied(
            f"Accounts are made by signing in with {settings.OIDC_PROVIDER_NAME} on this server."
        )
    problems: dict[str, str] = {}
    if not USERNAME_PATTERN.fullmatch(username):
        problems["username"] = gettext("A username is 3 to 50 letters, digits or underscores.")
    elif User.objects.filter(username__iexact=username).exists():
        problems["username"] = gettext("This username is taken.")
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        problems["email"] = gettext("Enter a valid email address.")
    else:
        if User.objects.filter(email__iexact=User.objects.normalize_email(email)).exists():
            problems["email"] = gettext("A user with this email already exists.")
    display_name = " ".join(display_name.split())
    if len(display_name) > 150:
        problems["display_name"] = gettext("A display name is at most 150 characters.")
    password_problem = _password_problem(password)
    if password_problem is None:
        try:
            validate_password(password, User(username=username, email=email))
        except ValidationError as error:
            password_problem = " ".join(error.messages)
    if password_problem:
        problems["password"] = password_problem
    if problems:
        raise InvalidFields(problems)
    return user_create(username=username, email=email, password=password, display_name=display_name)


def user_language_set(*, user: User, language: str) -> User:
    """The person's UI language: one of settings.LANGUAGES, or "" for the browser's
    (chatapp/i18n.py)."""
    if language and language not in dict(settings.LANGUAGES):
        raise InvalidInput("language", gettext("Not one of the languages offered."))
    user.language = language
    user.save(update_fields=["language", "updated_at"])
    return user


def user_authenticate(*, identifier: str, password: str) -> User | None:
    """The active user with this username or email and password, else None."""
    lookup = Q(email__iexact=identifier) if "@" in identifier else Q(username=identifier)
    user = User.objects.filter(lookup).first()
    if user is None:
        # Spend the time a real check would, so that timing does not tell who exists.
        User().set_password(password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user


# --- tokens --------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown once, never stored


@dataclass(frozen=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken

    def as_response(self) -> dict[str, Any]:
        return {
            "access_token": self.access.raw,
            "refresh_token": self.refresh.raw,
            "token_type": "bearer",
            "expires_in": settings.ACCESS_TOKEN_MINUTES * 60,
        }


def _token_issue(
    *, user: User, kind: str, lifetime: timedelta | None, name: str = "", family=None
) -> IssuedToken:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        kind=kind,
        name=name,
        token_hash=token_hash(raw),
        prefix=raw[:12],
        family=family,
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    return IssuedToken(token=token, raw=raw)


@transaction.atomic
def token_pair_issue(*, user: User, family=None) -> TokenPair:
    """A short-lived access token and a refresh token of one family (a new family for a
    new sign-in, the old one on rotation)."""
    if family is None:
        family = uuid.uuid4()
    return TokenPair(
        access=_token_issue(
            user=user,
            kind=TokenKind.ACCESS,
            lifetime=timedelta(minutes=settings.ACCESS_TOKEN_MINUTES),
            family=family,
        ),
        refresh=_token_issue(
            user=user,
            kind=TokenKind.REFRESH,
            lifetime=timedelta(days=settings.REFRESH_TOKEN_DAYS),
            family=family,
        ),
    )


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The live access or personal token for `raw` (its user active), else None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(
            token_hash=token_hash(raw),
            kind__in=[TokenKind.ACCESS, TokenKind.PERSONAL],
            revoked_at__isnull=True,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def _tokens_revoke(
    tokens: QuerySet[ApiToken],
    *,
    owner_id: Any,
    actor: User | None,
    reason: str,
    action: str,
    target_type: str,
    target_id: Any,
) -> int:
    """Revoke the live ones of `tokens` in one UPDATE, record how many in the audit log, and
    end the streams they opened (their owner's); returns how many."""
    revoked = tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit_event_record(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        data={"revoked": revoked},
    )
    if owner_id is not None:
        stream_access_changed(user_id=owner_id)
    return revoked


def _revoke_family(family, *, actor: User | None, reason: str) -> int:
    tokens = ApiToken.objects.filter(family=family)
    return _tokens_revoke(
        tokens,
        owner_id=tokens.values_list("user_id", flat=True).first(),
        actor=actor,
        reason=reason,
        action="token.family_revoked",
        target_type="token_family",
        target_id=family,
    )


def token_refresh(*, raw: str) -> TokenPair:
    """Rotate: the refresh token dies and a new pair of the same family is issued. A dead
    refresh token used again means it was stolen or replayed: its whole family is revoked
    (and stays revoked, though this call fails)."""
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=token_hash(raw or ""), kind=TokenKind.REFRESH)
            .first()
        )
        if token is None:
            raise NotAuthenticated("Unknown refresh token.")
        reused = token.revoked_at is not None
        if reused:
            _revoke_family(token.family, actor=token.user, reason="refresh token reused")
        elif token.expires_at is not None and token.expires_at <= timezone.now():
            raise NotAuthenticated("The refresh token has expired; sign in again.")
        elif not token.user.is_active:
            raise NotAuthenticated("This account is suspended.")
        else:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            return token_pair_issue(user=token.user, family=token.family)
    # Outside the transaction, so that the family's revocation is kept.
    raise NotAuthenticated(
        "This refresh token was already used; every token of its sign-in is revoked."
    )


@transaction.atomic
def token_logout(*, token: ApiToken) -> None:
    """Sign out a token's holder: an access token ends its whole sign-in (family), a
    personal token only itself."""
    if token.family is not None:
        _revoke_family(token.family, actor=token.user, reason="logout")
    else:
        token_revoke(token=token, actor=token.user, reason="logout")


@transaction.atomic
def personal_token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> IssuedToken:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("name", gettext("A token needs a name."))
    if len(name) > 100:
        raise InvalidInput("name", gettext("A token name is at most 100 characters."))
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput("expires_in_days", "expires_in_days is between 1 and 3650.")
    return _token_issue(
        user=user,
        kind=TokenKind.PERSONAL,
        name=name,
        lifetime=timedelta(days=expires_in_days) if expires_in_days else None,
    )


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User | None, reason: str = "") -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(
            actor=actor,
            action="token.revoked",
            target_type="api_token",
            target_id=token.pk,
            reason=reason,
            data={"kind": token.kind, "prefix": token.prefix, "user": str(token.user_id)},
        )
        stream_access_changed(user_id=token.user_id)  # the streams it opened end
    return token


@transaction.atomic
def personal_token_revoke(*, user: User, token_id: Any) -> ApiToken:
    """Revoke one of the user's own personal tokens; anyone else's is NotFound."""
    try:
        pk = uuid.UUID(str(token_id))
    except ValueError:
        raise NotFound(gettext("No such token.")) from None
    token = ApiToken.objects.filter(pk=pk, user=user, kind=TokenKind.PERSONAL).first()
    if token is None:
        raise NotFound(gettext("No such token."))
    return token_revoke(token=token, actor=user, reason="revoked by its owner")


@transaction.atomic
def user_revoke_all_tokens(*, user: User, actor: User | None, reason: str) -> int:
    """Every live token of the user dies at once (suspension)."""
    return _tokens_revoke(
        ApiToken.objects.filter(user=user),
        owner_id=user.pk,
        actor=actor,
        reason=reason,
        action="token.all_revoked",
        target_type="user",
        target_id=user.pk,
    )


# --- suspension ----------------------------------------------------------------------------


def _sessions_end(user: User) -> int:
    """End every stored session of the user; returns how many.

    Django keeps no index from users to sessions, so the stored sessions are read and
    decoded once each (a rare act: a second per hundred thousand sessions or so). An engine
    that stores no rows (signed cookies, cache only) is left alone: a suspended user is
    inactive, and Django signs out an inactive user's session at its next request anyway.
    """
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0
    rows = (
        store_class.get_model_class()
        .objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", "session_data")
    )
    user_id = str(user.pk)
    decoder = store_class()
    keys = [
        key
        for key, data in rows.iterator(chunk_size=2000)
        if decoder.decode(data).get(SESSION_KEY) == user_id
    ]
    for key in keys:
        store_class(session_key=key).delete()  # the row, and the cache entry if any
    return len(keys)


def _check_may_act_on(actor: User, user: User, verb: str) -> None:
    """Only a superuser suspends or unsuspends staff (superusers included)."""
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise PermissionDenied(f"Only a superuser can {verb} staff.")


@transaction.atomic
def user_suspend(*, user: User, actor: User, reason: str) -> User:
    """Suspend an account at once: it can no longer sign in, every session of it ends and
    every token of it is revoked. Only a superuser suspends staff; nobody suspends
    themselves."""
    require_permission(actor, "accounts.suspend_user", "suspend users")
    reason = clean_reason(reason)
    user = lock_row(user, missing="No such user.")
    if user.pk == actor.pk:
        raise PermissionDenied("You cannot suspend yourself.")
    _check_may_act_on(actor, user, "suspend")
    if not user.is_active:
        raise Conflict("This user is already suspended.")
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    sessions = _sessions_end(user)
    tokens = user_revoke_all_tokens(user=user, actor=actor, reason=f"suspended: {reason}")
    audit_event_record(
        actor=actor,
        action="user.suspended",
        target_type="user",
        target_id=user.pk,
        reason=reason,
        data={"username": user.username, "sessions_ended": sessions, "tokens_revoked": tokens},
    )
    return user


@transaction.atomic
def user_unsuspend(*, user: User, actor: User, reason: str) -> User:
    """Let a suspended user sign in again. Their old tokens stay revoked."""
    require_permission(actor, "accounts.suspend_user", "unsuspend users")
    reason = clean_reason(reason)
    user = lock_row(user, missing="No such user.")
    _check_may_act_on(actor, user, "unsuspend")
    if user.is_active:
        raise Conflict("This user is not suspended.")
    user.is_active = True
    user.save(update_fields=["is_active", "updated_at"])
    audit_event_record(
        actor=actor,
        action="user.unsuspended",
        target_type="user",
        target_id=user.pk,
        reason=reason,
        data={"username": user.username},
    )
    return user
