"""Failed sign-ins are limited the same way on every door: the API's token endpoint, the
sign-in page and the admin's.

Three counters per window (LOGIN_FAILURE_LIMIT per LOGIN_FAILURE_WINDOW_SECONDS):
- per address: an address that has failed that often is refused, whatever account it tries;
- per account: an account that has failed that often is locked, but only for the
  addresses that took part in the failures. A correct password from an address that has
  not failed still signs in, so that an attacker cannot lock the owner out; an address
  that then fails joins the locked-out ones after a single try.
A username and its email address are one account (the user's id is the key); a name that
belongs to nobody is counted under its lowercased self, so the answers do not tell.
"""

import hashlib

from django.db.models import Q
from django.http import HttpRequest

from chatapp import ratelimit
from chatapp.accounts.models import User

LIMIT = ratelimit.SIGN_IN_FAILURES


def client_address(request: HttpRequest) -> str:
    """The caller's address as the server sees it (set by the proxy; docs/deploy.md)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _account_key(identifier: str) -> str:
    identifier = identifier.strip()
    lookup = Q(email__iexact=identifier) if "@" in identifier else Q(username=identifier)
    user_id = User.objects.filter(lookup).values_list("pk", flat=True).first()
    if user_id:
        return f"user:{user_id}"
    # Hashed: any text the caller typed becomes a short key safe for every cache backend.
    return "name:" + hashlib.sha256(identifier.lower().encode(errors="replace")).hexdigest()[:32]


class Attempt:
    """One sign-in attempt: `check()` before the password is tried, then `failed()` or
    `succeeded()` after."""

    def __init__(self, *, identifier: str, address: str):
        account = _account_key(identifier)
        self.address_key = f"address:{address}"
        self.account_key = f"account:{account}"
        self.pair_key = f"account:{account}:address:{address}"

    def check(self) -> None:
        """Raise RateLimited if this address, or this account from this address, is locked."""
        ratelimit.check(LIMIT, self.address_key)
        account_locked = ratelimit.count(LIMIT, self.account_key) >= LIMIT.count
        if account_locked and ratelimit.count(LIMIT, self.pair_key) > 0:
            raise ratelimit.refuse(LIMIT, self.account_key)

    def failed(self) -> None:
        for key in (self.address_key, self.account_key, self.pair_key):
            ratelimit.record(LIMIT, key)

    def succeeded(self) -> None:
        # The account's own count stays: the addresses that failed stay locked out of it.
        ratelimit.reset(LIMIT, self.pair_key)


def attempt_for(request: HttpRequest, identifier: str) -> Attempt:
    return Attempt(identifier=identifier or "", address=client_address(request))
