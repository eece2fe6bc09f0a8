"""Domain errors raised by services and selectors. No HTTP here: chatapp/api.py maps each
type to the SPEC's error envelope and status code once.

A message that a page can show is translated where it is raised (gettext), in the language
of the request: a page's, or English for the API (chatapp/i18n.py)."""

from django.utils.translation import gettext


class ChatError(Exception):
    """Base of every domain error: a stable machine `code`, a human `message`, `details`."""

    code = "error"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(ChatError):
    """The object does not exist, or the caller may not know that it does."""

    code = "not_found"


class PermissionDenied(ChatError):
    """The caller can see the object but may not do this to it."""

    code = "forbidden"


class InvalidInput(ChatError):
    """A value is not acceptable; `field` names which one."""

    code = "invalid"

    def __init__(self, field: str, message: str):
        super().__init__(message, details={"field": field})
        self.field = field


def not_a_member(field: str, username: str) -> InvalidInput:
    """One answer for a name nobody has and for a person outside the workspace, so that
    adding people cannot be used to find out who has an account."""
    return InvalidInput(
        field, gettext("%(username)s is not a member of this workspace.") % {"username": username}
    )


class InvalidFields(InvalidInput):
    """Several values are not acceptable: `details.errors` names each (as a request that
    fails validation does), `details.field` the first."""

    def __init__(self, problems: dict[str, str]):
        first, message = next(iter(problems.items()))
        super().__init__(first, message if len(problems) == 1 else f"{first}: {message}")
        self.details["errors"] = [
            {"field": field, "message": text} for field, text in problems.items()
        ]


class Conflict(ChatError):
    """The request clashes with the current state (a reused idempotency key, a closed
    conversation)."""

    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class BadRequest(ChatError):
    """The request cannot be understood as sent (a tampered cursor, a broken file)."""

    code = "bad_request"


class BadCursor(BadRequest):
    code = "invalid_cursor"


class TooLarge(ChatError):
    code = "too_large"


class RateLimited(ChatError):
    """Too many attempts; `retry_after` is the number of seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class NotAuthenticated(ChatError):
    """No valid credentials: a missing, expired, revoked or unknown token, a wrong password."""

    code = "not_authenticated"


class PasswordSignInOff(PermissionDenied):
    """PASSWORD_SIGN_IN is off: people sign in only through single sign-on."""

    code = "password_sign_in_off"


class SignInRefused(PermissionDenied):
    """Single sign-on reached us, but this person may not sign in (docs/security.md): an
    unverified or missing email, a domain not allowed, a suspended account."""

    code = "sign_in_refused"
