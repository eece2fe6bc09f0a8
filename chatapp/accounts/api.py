"""Auth and account endpoints: register, tokens (issue, refresh, logout), me, personal
tokens. Parse, call one service or selector, shape the answer."""

import uuid

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chatapp import ratelimit
from chatapp.accounts import selectors, services
from chatapp.accounts.schemas import (
    PersonalTokenCreatedOut,
    PersonalTokenIn,
    PersonalTokenOut,
    PersonalTokenPageOut,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    TokenIn,
    TokenPairOut,
    UserOut,
)
from conversations.exceptions import NotAuthenticated
from conversations.pagination import decode_time_id_cursor, encode_time_id_cursor
from conversations.schemas import ERRORS, ErrorOut

router = Router(tags=["auth"])

SIGN_IN_ERRORS = {400: ErrorOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.post(
    "/auth/register",
    auth=None,
    response={201: RegisterOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut},
)
def register(request: HttpRequest, payload: RegisterIn):
    """Create an account (when ALLOW_REGISTRATION is on) and sign it in: 201 user + tokens."""
    user = services.user_register(
        email=payload.email,
        username=payload.username,
        password=payload.password,
        display_name=payload.display_name,
    )
    pair = services.token_pair_issue(user=user)
    return Status(201, {**pair.as_response(), "user": user})


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


@router.post("/auth/token", auth=None, response={200: TokenPairOut, **SIGN_IN_ERRORS})
def token(request: HttpRequest, payload: TokenIn):
    """Sign in with a username (or email) and password. After LOGIN_FAILURE_LIMIT failures
    in LOGIN_FAILURE_WINDOW_SECONDS, per account and per address: 429 with Retry-After."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    keys = [
        f"login:account:{payload.username.strip().lower()}",
        f"login:address:{_client_address(request)}",
    ]
    for key in keys:
        ratelimit.check(
            key,
            limit=settings.LOGIN_FAILURE_LIMIT,
            window=window,
            message="Too many failed sign-ins; wait before trying again.",
        )
    user = services.user_authenticate(
        identifier=payload.username.strip(), password=payload.password
    )
    if user is None:
        for key in keys:
            ratelimit.record(key, window=window)
        raise NotAuthenticated("Wrong username or password.")
    ratelimit.reset(keys[0], window=window)
    return services.token_pair_issue(user=user).as_response()


@router.post("/auth/refresh", auth=None, response={200: TokenPairOut, **SIGN_IN_ERRORS})
def refresh(request: HttpRequest, payload: RefreshIn):
    """Rotate a refresh token: the old one dies; reusing a dead one revokes its sign-in."""
    return services.token_refresh(raw=payload.refresh_token).as_response()


@router.post("/auth/logout", response={204: None, 401: ErrorOut})
def sign_out(request: HttpRequest):
    """End this sign-in: the bearer token's whole family (or that personal token), or the
    browser session."""
    api_token = getattr(request, "api_token", None)
    if api_token is not None:
        services.token_logout(token=api_token)
    else:
        logout(request)
    return Status(204, None)


@router.get("/me", response={200: UserOut, 401: ErrorOut})
def me(request: HttpRequest):
    return request.auth


class TokenPageQuery(Schema):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=50, ge=1, le=100)


@router.get("/me/tokens", response={200: PersonalTokenPageOut, **ERRORS})
def list_tokens(request: HttpRequest, query: Query[TokenPageQuery]):
    """Your personal tokens, newest first (the tokens themselves are never shown again)."""
    items, has_more = selectors.personal_tokens_for_user(
        user=request.auth,
        after=decode_time_id_cursor("tokens", query.cursor),
        limit=query.limit,
    )
    last = items[-1] if items and has_more else None
    return {
        "items": items,
        "has_more": has_more,
        "next_cursor": encode_time_id_cursor("tokens", last.created_at, last.pk) if last else None,
    }


@router.post("/me/tokens", response={201: PersonalTokenCreatedOut, **ERRORS})
def create_token(request: HttpRequest, payload: PersonalTokenIn):
    """A personal token for a program; its value is in this answer only."""
    issued = services.personal_token_create(
        user=request.auth, name=payload.name, expires_in_days=payload.expires_in_days
    )
    shown = PersonalTokenOut.from_orm(issued.token).model_dump()
    return Status(201, {**shown, "token": issued.raw})


@router.delete("/me/tokens/{token_id}", response={204: None, **ERRORS})
def revoke_token(request: HttpRequest, token_id: uuid.UUID):
    services.personal_token_revoke(user=request.auth, token_id=token_id)
    return Status(204, None)
