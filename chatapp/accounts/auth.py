"""How the API knows who calls: a bearer token (programs) or the Django session with its
CSRF check (the browser). request.auth is the user either way."""

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from chatapp.accounts.services import token_authenticate


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        api_token = token_authenticate(raw=token)
        if api_token is None:
            return None
        request.api_token = api_token
        request.user = api_token.user
        return api_token.user


bearer_token = BearerToken()

# Tried in this order; a request with neither gets 401.
api_auth = [bearer_token, django_auth]
