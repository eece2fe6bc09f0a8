"""The JSON API: one NinjaAPI, its routers, and the one place where errors get their shape.

Every error body is {"error": {"code", "message", "details"}} with the SPEC's status codes.
"""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Router, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from chatapp.accounts import api as accounts_api
from chatapp.accounts.auth import api_auth
from chatapp.health import health_body
from chatapp.renderers import FastJSONRenderer
from conversations import exceptions
from conversations.api import assistant as assistant_api
from conversations.api import conversations as conversations_api
from conversations.api import messages as messages_api
from conversations.api import search as search_api
from conversations.api import transfer as transfer_api
from conversations.api import workspaces as workspaces_api

api = NinjaAPI(
    title="chatapp API",
    version="1",
    urls_namespace="api-v1",
    auth=api_auth,
    docs_url="/docs",
    renderer=FastJSONRenderer(),
)

STATUS_BY_ERROR = [
    (exceptions.NotFound, 404),
    (exceptions.PermissionDenied, 403),
    (exceptions.InvalidInput, 422),
    (exceptions.Conflict, 409),
    (exceptions.BadRequest, 400),
    (exceptions.TooLarge, 413),
    (exceptions.RateLimited, 429),
    (exceptions.NotAuthenticated, 401),
]


def error_response(
    request: HttpRequest, status: int, code: str, message: str, details: dict | None = None
) -> HttpResponse:
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "details": details or {}}},
        status=status,
    )


@api.exception_handler(exceptions.ChatError)
def on_domain_error(request: HttpRequest, error: exceptions.ChatError) -> HttpResponse:
    status = next(
        (code for error_type, code in STATUS_BY_ERROR if isinstance(error, error_type)), 400
    )
    response = error_response(request, status, error.code, error.message, error.details)
    if isinstance(error, exceptions.RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


UNREADABLE_NUMBERS = {"int_parsing", "int_parsing_size", "int_type", "int_from_float"}


def _field_name(location: tuple) -> str:
    """The field as the client sent it: ("body", "payload", "content") → "content",
    ("query", "limit") → "limit"."""
    parts = location[2:] if location[:1] == ("body",) else location[1:]
    return ".".join(str(part) for part in parts) or ".".join(str(part) for part in location)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, error: NinjaValidationError) -> HttpResponse:
    if any(item.get("loc", ("",))[0] == "path" for item in error.errors):
        # A malformed id names nothing that exists: the same answer as an unknown one.
        return error_response(request, 404, "not_found", "No such object.")
    problems = [
        {"field": _field_name(item.get("loc", ())), "message": item.get("msg", "invalid")}
        for item in error.errors
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid"}
    # A query parameter that is not a whole number at all ("abc", "²") cannot be understood
    # as sent: 400. One that is a number but not an acceptable one (limit=0) is 422.
    unreadable = all(
        item.get("loc", ("",))[0] == "query" and item.get("type") in UNREADABLE_NUMBERS
        for item in error.errors
    )
    return error_response(
        request,
        400 if error.errors and unreadable else 422,
        "bad_request" if error.errors and unreadable else "invalid",
        f"{first['field']}: {first['message']}" if first["field"] else first["message"],
        {"field": first["field"], "errors": problems},
    )


@api.exception_handler(DjangoValidationError)
def on_django_validation_error(request: HttpRequest, error: DjangoValidationError) -> HttpResponse:
    return error_response(request, 422, "invalid", " ".join(error.messages))


@api.exception_handler(AuthenticationError)
def on_not_signed_in(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "not_authenticated", "Sign in to use the API.")


CODE_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
}


@api.exception_handler(RequestDataTooBig)
def on_too_large(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, "too_large", "The request body is too large.")


@api.exception_handler(MultiPartParserError)
def on_bad_upload(request: HttpRequest, error: MultiPartParserError) -> HttpResponse:
    return error_response(request, 400, "bad_request", f"The upload cannot be read: {error}")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    code = CODE_BY_STATUS.get(error.status_code, "error")
    return error_response(request, error.status_code, code, str(error))


health_router = Router(tags=["health"])


@health_router.get("/health", auth=None, response={200: dict, 503: dict})
def health(request: HttpRequest):
    """200 when the database answers, 503 with its error when it does not."""
    status, body = health_body()
    return Status(status, body)


api.add_router("", health_router)
api.add_router("", accounts_api.router)
api.add_router("", conversations_api.router)
api.add_router("", messages_api.router)
api.add_router("", assistant_api.router)
api.add_router("", transfer_api.router)
api.add_router("", search_api.router)
api.add_router("", workspaces_api.router)
