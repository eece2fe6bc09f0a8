"""Middleware of every request: under /api/, every error answer has the SPEC's envelope,
even those Django or ninja make before our handlers run (an unknown route, a wrong method);
input no database can store (a NUL character) is refused before any view; the pages'
Content-Security-Policy; and the pages' own 404, even with DEBUG on."""

import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request

from chatapp.errors import not_found_page

API_PREFIX = "/api/"

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "server_error",
}
MESSAGES = {
    404: "No such endpoint.",
    405: "This endpoint does not take that method.",
    500: "Something went wrong on our side.",
}


def _is_json(response: HttpResponse) -> bool:
    """Our own answers are JSON already (the envelope, or /health's 503 body)."""
    return response.get("Content-Type", "").startswith("application/json")


class ApiErrorEnvelopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or getattr(response, "streaming", False)
            or _is_json(response)
        ):
            return response
        status = response.status_code
        details = {}
        if status == 405 and response.has_header("Allow"):
            details["allowed"] = [m.strip() for m in response["Allow"].split(",")]
        replaced = JsonResponse(
            {
                "error": {
                    "code": CODES.get(status, "error"),
                    "message": MESSAGES.get(status, response.reason_phrase),
                    "details": details,
                }
            },
            status=status,
        )
        for header in ("Allow", "Retry-After"):
            if response.has_header(header):
                replaced[header] = response[header]
        return replaced


# Scripts only from our own origin, never inline; styles too (our CSS is in files). The API
# docs page (/api/v1/docs) loads Swagger UI with an inline script, so it gets its own policy.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
EXEMPT_PREFIXES = ("/api/v1/docs", "/admin/")


@functools.cache
def _policy_for(issuer: str) -> str:
    parts = urlsplit(issuer)
    if not (issuer and parts.scheme and parts.netloc):
        return CONTENT_SECURITY_POLICY
    origin = f"{parts.scheme}://{parts.netloc}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


def content_security_policy() -> str:
    """The policy; with single sign-on, the sign-out form's answer redirects to the provider
    (to end its session too), which form-action must allow: browsers apply it to a form's
    redirects (chatapp/accounts/oidc.py)."""
    return _policy_for(settings.OIDC_ISSUER if settings.SSO_ENABLED else "")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT_PREFIXES):
            response.setdefault("Content-Security-Policy", content_security_policy())
        return response


# --- input no database can store ---------------------------------------------------------------

# How deep a JSON body may nest (the limit of imported files too, conversations/transfer/):
# deeper, it would be stored and written back by recursive code that runs out of stack
# past a few hundred levels (json.dumps in the database driver).
JSON_MAX_DEPTH = 64
# Where JSON text may hold a NUL or a lone surrogate: the escapes \u0000 and \ud800-\udfff
# (a surrogate pair is fine, and is told apart by the full check), or a NUL byte (which an
# escape in UTF-16 or UTF-32 JSON has; a raw one in UTF-8 is invalid JSON). A body with
# none of them, and with fewer brackets than JSON_MAX_DEPTH, is never parsed here.
_SUSPECT_JSON = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\x00")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# At most this many problems are listed in one answer.
_PROBLEMS_LISTED = 20


# A surrogate in a Python string is always a lone one (a JSON pair decodes to one character).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (in a text column or in JSON), if it cannot."""
    if "\x00" in text:
        return "contains the NUL character (\\u0000), which cannot be stored"
    if _SURROGATE.search(text):
        return "contains a lone surrogate, which is not valid Unicode"
    return None


def unstorable_fields(data: Any, *, limit: int = _PROBLEMS_LISTED) -> list[tuple[str, str]]:
    """(field, problem) for each string in `data` (parsed JSON: dicts, lists, scalars) that
    holds what no database here can store, keys included, in document order, and for a
    field nested deeper than JSON_MAX_DEPTH. The field is the path as the API names fields:
    `meta.extractions.0.value` (for the depth, the top field: `meta`). Iterative, so that
    JSON of any depth is walked without recursion."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack and len(found) < limit:
        path, value = stack.pop()
        if len(path) > JSON_MAX_DEPTH:
            top = ".".join(map(str, path[:1])) if isinstance(data, dict) else ""
            found.append((top, f"is JSON nested more than {JSON_MAX_DEPTH} levels deep"))
            break
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                found.append((".".join(map(str, path)), problem))
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    found.append((".".join(map(str, (*path, key))), f"a key {problem}"))
                children.append(((*path, key), item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, index), item) for index, item in enumerate(value)]))
    return found[:limit]


def _querydict_problems(data) -> list[tuple[str, str]]:
    found = []
    for key, values in data.lists():
        for text in (key, *values):
            problem = _text_problem(text) if isinstance(text, str) else None
            if problem:
                found.append((key, problem))
                break
    return found[:_PROBLEMS_LISTED]


class UnstorableInputMiddleware:
    """PostgreSQL stores no NUL character, in text or in JSON, and no string that is not
    valid Unicode; such input once reached the database and made a 500. Refused here,
    before any view: under /api/ with 422 in the SPEC's envelope naming the field (the
    query parameter, or the path in the JSON body: `title`, `meta.notes.0`), elsewhere
    (the pages, the admin) with 400.

    Runs as process_view, after URL resolution and the CSRF check: an unknown route is
    still 404, a forged post still 403. File uploads are not looked into (an import's text
    is cleaned by its reader, conversations/transfer/). Django's test client runs it;
    ninja's TestClient, which skips middleware, does not."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        is_api = request.path.startswith(API_PREFIX)
        problems = _querydict_problems(request.GET)
        if not problems and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            problems = self._api_body_problems(request) if is_api else self._form_problems(request)
        if not problems:
            return None
        if not is_api:
            return bad_request(request, SuspiciousOperation(problems[0][1]))
        errors = [{"field": field, "message": problem} for field, problem in problems]
        first = errors[0]
        return JsonResponse(
            {
                "error": {
                    "code": "invalid",
                    "message": f"{first['field']}: {first['message']}."
                    if first["field"]
                    else f"The body {first['message']}.",
                    "details": {"field": first["field"], "errors": errors},
                }
            },
            status=422,
        )

    @staticmethod
    def _api_body_problems(request: HttpRequest) -> list[tuple[str, str]]:
        """The JSON body's problems (ninja reads every API body as JSON). A body that is not
        JSON is left to ninja's 400, one too large to its 413, a file upload to its reader."""
        if request.content_type in _FORM_TYPES:
            return []
        try:
            body = request.body
        except RequestDataTooBig:
            return []
        if not _SUSPECT_JSON.search(body) and (
            body.count(b"{") + body.count(b"[") <= JSON_MAX_DEPTH
        ):
            return []
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return []
        return unstorable_fields(data)

    @staticmethod
    def _form_problems(request: HttpRequest) -> list[tuple[str, str]]:
        # A form Django cannot read raises here what it would have raised in the view
        # (a 400 from Django's handler).
        if request.content_type not in _FORM_TYPES:
            return []
        return _querydict_problems(request.POST)


# --- our 404 page, DEBUG or not --------------------------------------------------------------


class HtmlNotFoundMiddleware:
    """Pages (not /api/) answer a missing thing with our 404 page (chatapp/errors.py) even
    with DEBUG on, where Django would show its debug page listing every URL pattern: what
    ./scripts/serve shows a person opening a trashed conversation's old link. A view's
    Http404 is caught in process_exception; a path no route matches never reaches a view, so
    its debug page is replaced on the way out (request.resolver_match is still None then).
    With DEBUG off, Django's handler404 renders the same page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and settings.DEBUG
            and request.resolver_match is None
            and not request.path.startswith(API_PREFIX)
        ):
            return not_found_page(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, Http404) and not request.path.startswith(API_PREFIX):
            return not_found_page(request, exception)
        return None
