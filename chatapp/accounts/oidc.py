"""Single sign-on with OpenID Connect, on mozilla-django-oidc (docs/dependencies.md).

The library does the authorization code flow: state, nonce and PKCE kept in the session,
the code exchanged at the token endpoint, the ID token's signature checked against the
provider's keys. Around it, here:

- **Discovery.** Only the issuer is configured (OIDC_ISSUER); its
  `/.well-known/openid-configuration` gives every endpoint, read when first needed and kept
  for an hour per process. The library reads its endpoints from settings when a class is
  made; ours read them from the discovery document when used, so that a request of a
  signed-in user (Django makes a backend for each) never waits on the provider.
- **Checks the library leaves out**: the ID token's issuer and audience (it decodes with
  `verify_aud` off), and that the userinfo answer is about the same subject.
- **Who that is here** is chatapp.accounts.sso (verified email, domains, groups to roles);
  a refusal says why on the sign-in page.
- **Sign-out** ends the provider's session too when it has an `end_session_endpoint`
  (RP-initiated logout with `id_token_hint`, `client_id` and `post_logout_redirect_uri`).
"""

import functools
import logging
import time
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from chatapp.accounts import sso
from conversations.exceptions import SignInRefused

logger = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
ID_TOKEN_SESSION_KEY = "oidc_id_token"  # noqa: S105 (a session key's name)


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be had, or was not for this issuer."""


# --- discovery -------------------------------------------------------------------------------

_discovered: dict[str, tuple[float, dict]] = {}


def provider_metadata() -> dict:
    """The issuer's discovery document (cached per process for DISCOVERY_SECONDS)."""
    issuer = settings.OIDC_ISSUER
    cached = _discovered.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT_SECONDS)
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"{url}: {error}") from error
    # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
    named = metadata.get("issuer") if isinstance(metadata, dict) else None
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise ProviderUnavailable(f"{url} is not the discovery document of {issuer}")
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not metadata.get(key)
    ]
    if missing:
        raise ProviderUnavailable(f"{url} names no {', '.join(missing)}")
    _discovered[issuer] = (time.monotonic() + DISCOVERY_SECONDS, metadata)
    return metadata


def forget_provider_metadata() -> None:
    """Read the discovery document again at the next sign-in (tests, a changed provider)."""
    _discovered.clear()


def _uses_basic_auth() -> bool:
    """client_secret_basic, the default of OpenID Connect, unless the provider says it
    takes only client_secret_post."""
    methods = provider_metadata().get("token_endpoint_auth_methods_supported")
    return not methods or "client_secret_basic" in methods or "client_secret_post" not in methods


def library_setting(name: str, *default):
    """The library's settings, from ours (docs/deploy.md, "Single sign-on")."""
    ours = {
        "OIDC_RP_CLIENT_ID": lambda: settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": lambda: settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SIGN_ALGO": lambda: settings.OIDC_SIGN_ALGORITHM,
        "OIDC_RP_SCOPES": lambda: settings.OIDC_SCOPES,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": lambda: provider_metadata()["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": lambda: provider_metadata()["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": lambda: provider_metadata().get("userinfo_endpoint"),
        "OIDC_OP_JWKS_ENDPOINT": lambda: provider_metadata()["jwks_uri"],
        "OIDC_TOKEN_USE_BASIC_AUTH": _uses_basic_auth,
        "OIDC_TIMEOUT": lambda: settings.OIDC_TIMEOUT_SECONDS,
        "OIDC_USE_PKCE": lambda: True,
        "OIDC_USE_NONCE": lambda: True,
        "OIDC_CREATE_USER": lambda: settings.OIDC_CREATE_USERS,
        # The ID token is kept for sign-out (id_token_hint); the access token is not kept.
        "OIDC_STORE_ID_TOKEN": lambda: False,
        "OIDC_STORE_ACCESS_TOKEN": lambda: False,
        "OIDC_ALLOW_UNSECURED_JWT": lambda: False,
        "LOGIN_REDIRECT_URL_FAILURE": lambda: reverse("login"),
    }
    if name in ours:
        return ours[name]()
    return import_from_settings(name, *default)


# --- the authentication backend --------------------------------------------------------------


def _endpoint(setting_name: str):
    return property(lambda self: library_setting(setting_name))


class SingleSignOnBackend(OIDCAuthenticationBackend):
    """Authenticates only the provider's callback (it needs the nonce the callback view
    passes); password sign-ins go to UsernameOrEmailBackend."""

    get_settings = staticmethod(library_setting)

    OIDC_OP_TOKEN_ENDPOINT = _endpoint("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = _endpoint("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = _endpoint("OIDC_OP_JWKS_ENDPOINT")
    OIDC_RP_CLIENT_ID = _endpoint("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = _endpoint("OIDC_RP_CLIENT_SECRET")
    OIDC_RP_SIGN_ALGO = _endpoint("OIDC_RP_SIGN_ALGO")
    OIDC_RP_IDP_SIGN_KEY = None

    def __init__(self, *args, **kwargs):
        # Not the library's: it would read every endpoint now (see the module docstring).
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or not settings.SSO_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # The library's would return a suspended (inactive) user; Django's ModelBackend not.
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def verify_token(self, token, **kwargs):
        """The library checks the signature, expiry and nonce; also the issuer, and that
        the token was made for us (OpenID Connect Core 1.0, 3.1.3.7)."""
        payload = super().verify_token(token, **kwargs)
        if payload.get("iss") != provider_metadata()["issuer"]:
            raise SuspiciousOperation("The ID token is from another issuer.")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        client_id = settings.OIDC_CLIENT_ID
        if client_id not in audiences:
            raise SuspiciousOperation("The ID token is not for this client.")
        if len(audiences) > 1 and payload.get("azp") != client_id:
            raise SuspiciousOperation("The ID token is not for this client (azp).")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo endpoint's claims over the ID token's, when the provider has one;
        they must be about the same subject (Core 1.0, 5.3.2)."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return dict(payload)
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo answer is about another subject.")
        return {**payload, **userinfo}

    def store_tokens(self, access_token, id_token):
        """Nothing yet: the ID token is kept once the person is signed in (the callback's
        login_success), and the access token never."""

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        try:
            user = sso.sso_sign_in(issuer=payload["iss"], claims=claims)
        except SignInRefused as refusal:
            logger.info("single sign-on of %s refused: %s", payload.get("sub"), refusal.message)
            self.request.sso_refusal = refusal.message
            return None
        self.request.sso_id_token = id_token
        return user


# --- the views -------------------------------------------------------------------------------


REFUSAL_SESSION_KEY = "sso_refusal"


def _failure_page(request: HttpRequest, message: str) -> HttpResponse:
    """Back to the sign-in page, which says why (in the page, not a toast that fades)."""
    request.session[REFUSAL_SESSION_KEY] = message
    return redirect("login")


def _unavailable_message() -> str:
    if settings.PASSWORD_SIGN_IN:
        text = gettext(
            "%(provider)s cannot be reached just now. Try again in a moment, or sign in with"
            " your password."
        )
    else:
        text = gettext("%(provider)s cannot be reached just now. Try again in a moment.")
    return text % {"provider": settings.OIDC_PROVIDER_NAME}


def _flow_view(get):
    """A view of the sign-in flow: 404 without single sign-on, and back to the sign-in page,
    saying so, when the provider cannot be reached."""

    @functools.wraps(get)
    def wrapped(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not set up on this server.")
        try:
            return get(self, request)
        except ProviderUnavailable as error:
            logger.warning("single sign-on: %s", error)
            return _failure_page(request, _unavailable_message())

    return wrapped


class SignInStartView(OIDCAuthenticationRequestView):
    """GET /accounts/oidc/start/?next=…: off to the provider's sign-in page."""

    get_settings = staticmethod(library_setting)
    OIDC_OP_AUTH_ENDPOINT = _endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_RP_CLIENT_ID = _endpoint("OIDC_RP_CLIENT_ID")

    def __init__(self, **kwargs):
        # Not the library's, which reads the endpoint from settings here.
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    get = _flow_view(OIDCAuthenticationRequestView.get)


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """GET /accounts/oidc/callback/?code=…&state=…: where the provider sends people back."""

    get_settings = staticmethod(library_setting)

    @_flow_view
    def get(self, request):
        try:
            return super().get(request)
        except (SuspiciousOperation, requests.RequestException, jwt.PyJWTError) as error:
            # A replayed or foreign callback, a code the provider refused, a token that
            # failed its checks.
            logger.warning("single sign-on callback failed: %s", error)
            request.sso_refusal = None
            return self.login_failure()

    def login_success(self):
        response = super().login_success()  # Django's login(), which may start a new session
        # For sign-out's id_token_hint: a credential of the provider's session, not an API.
        id_token = getattr(self.request, "sso_id_token", None)
        if id_token:
            self.request.session[ID_TOKEN_SESSION_KEY] = id_token
        return response

    def login_failure(self):
        request = self.request
        message = getattr(request, "sso_refusal", None)
        if not message:
            if request.GET.get("error") == "access_denied":
                message = gettext("Signing in with %(provider)s was cancelled.")
            else:
                message = gettext("Signing in with %(provider)s did not work. Try again.")
            message %= {"provider": settings.OIDC_PROVIDER_NAME}
        return _failure_page(request, message)


def end_session_url(request: HttpRequest, id_token: str) -> str | None:
    """Where to send the browser to end the provider's session too (OpenID Connect
    RP-Initiated Logout 1.0), or None when the provider has no end_session_endpoint or
    cannot be reached (then only our session ends)."""
    try:
        endpoint = provider_metadata().get("end_session_endpoint")
    except ProviderUnavailable as error:
        logger.warning("single sign-on: signing out here only: %s", error)
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
