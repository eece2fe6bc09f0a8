"""Under /api/, every error answer has the SPEC's envelope, even those Django or ninja make
before our handlers run (an unknown route, a wrong method)."""

from django.http import HttpRequest, HttpResponse, JsonResponse

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


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT_PREFIXES):
            response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
