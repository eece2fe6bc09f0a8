"""How the API knows who calls: a bearer token (programs) or the Django session with its
CSRF check (the browser). request.auth is the user either way."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf

from chatapp.accounts.services import token_authenticate, user_authenticate


class UsernameOrEmailBackend(ModelBackend):
    """The sign-in page and the admin's take a username or an email address, as the API
    does; both name one account (and count as one for the failure limit). With
    PASSWORD_SIGN_IN off it takes no password at all."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None or not settings.PASSWORD_SIGN_IN:
            return None
        return user_authenticate(identifier=username.strip(), password=password)


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        api_token = token_authenticate(raw=token)
        if api_token is None:
            return None
        request.api_token = api_token
        request.user = api_token.user
        return api_token.user


class BrowserSession(SessionAuth):
    """The Django session, with the CSRF check on writes. Unlike ninja's own, it asks who
    the caller is before checking CSRF: a caller with no session gets 401, not 403."""

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header.")
        return request.user


bearer_token = BearerToken()
browser_session = BrowserSession()

# Tried in this order; a request with neither gets 401.
api_auth = [bearer_token, browser_session]
