"""Auth and account endpoints: register, tokens (issue, refresh, logout), me, personal
tokens. Parse, call one service or selector, shape the answer."""

import uuid

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chatapp import ratelimit
from chatapp.accounts import selectors, services, signin
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
from conversations.exceptions import NotAuthenticated, PasswordSignInOff
from conversations.pagination import decode_time_id_cursor, encode_time_id_cursor
from conversations.schemas import ERRORS, LIMITED_ERRORS, ErrorOut

router = Router(tags=["auth"])


def no_store(response: HttpResponse) -> None:
    """Answers that carry a token: no browser or proxy cache keeps a copy."""
    response["Cache-Control"] = "no-store"


SIGN_IN_ERRORS = {400: ErrorOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.post(
    "/auth/register",
    auth=None,
    response={201: RegisterOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def register(request: HttpRequest, payload: RegisterIn, response: HttpResponse):
    """Create an account (when ALLOW_REGISTRATION is on) and sign it in: 201 user + tokens.
    Every bad field is named at once in `details.errors`. At most REGISTER_RATE_LIMIT
    attempts per address per REGISTER_RATE_WINDOW_SECONDS, else 429."""
    no_store(response)
    ratelimit.hit(ratelimit.REGISTRATIONS, signin.client_address(request))
    user = services.user_register(
        email=payload.email,
        username=payload.username,
        password=payload.password,
        display_name=payload.display_name,
    )
    pair = services.token_pair_issue(user=user)
    return Status(201, {**pair.as_response(), "user": user})


@router.post(
    "/auth/token", auth=None, response={200: TokenPairOut, 403: ErrorOut, **SIGN_IN_ERRORS}
)
def token(request: HttpRequest, payload: TokenIn, response: HttpResponse):
    """Sign in with a username (or email) and password. After LOGIN_FAILURE_LIMIT failures
    in LOGIN_FAILURE_WINDOW_SECONDS, per account and per address: 429 with Retry-After
    (docs/security.md: an address that has not failed still signs in). With PASSWORD_SIGN_IN
    off: 403 `password_sign_in_off` (sign in through single sign-on in the browser, and make
    a personal token on the settings page for programs)."""
    no_store(response)
    if not settings.PASSWORD_SIGN_IN:
        raise PasswordSignInOff(
            "Password sign-in is turned off on this server. Sign in with "
            f"{settings.OIDC_PROVIDER_NAME} in the browser, and make a personal token on the "
            "settings page for programs."
        )
    attempt = signin.attempt_for(request, payload.username)
    attempt.check()
    user = services.user_authenticate(
        identifier=payload.username.strip(), password=payload.password
    )
    if user is None:
        attempt.failed()
        raise NotAuthenticated("Wrong username or password.")
    attempt.succeeded()
    return services.token_pair_issue(user=user).as_response()


@router.post("/auth/refresh", auth=None, response={200: TokenPairOut, **SIGN_IN_ERRORS})
def refresh(request: HttpRequest, payload: RefreshIn, response: HttpResponse):
    """Rotate a refresh token: the old one dies; reusing a dead one revokes its sign-in."""
    no_store(response)
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


@router.post("/me/tokens", response={201: PersonalTokenCreatedOut, **LIMITED_ERRORS})
def create_token(request: HttpRequest, payload: PersonalTokenIn, response: HttpResponse):
    """A personal token for a program; its value is in this answer only. At most
    TOKEN_CREATE_RATE_LIMIT per TOKEN_CREATE_RATE_WINDOW_SECONDS, else 429."""
    no_store(response)
    ratelimit.hit(ratelimit.TOKEN_CREATIONS, str(request.auth.pk))
    issued = services.personal_token_create(
        user=request.auth, name=payload.name, expires_in_days=payload.expires_in_days
    )
    shown = PersonalTokenOut.from_orm(issued.token).model_dump()
    return Status(201, {**shown, "token": issued.raw})


@router.delete("/me/tokens/{token_id}", response={204: None, **ERRORS})
def revoke_token(request: HttpRequest, token_id: uuid.UUID):
    services.personal_token_revoke(user=request.auth, token_id=token_id)
    return Status(204, None)
