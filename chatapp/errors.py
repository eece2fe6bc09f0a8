"""Our own error pages: 404, 403 (a permission refused, or a CSRF failure) and 500.

The pages (templates/404.html, 403.html, 500.html) extend base.html. Under /api/ none of
them is used: chatapp/middleware.py gives every API error the JSON envelope. Django shows
its debug 404, which lists the URL patterns, when DEBUG is on (as ./scripts/serve runs);
HtmlNotFoundMiddleware (chatapp/middleware.py) shows ours instead, so what a person sees for a
missing, trashed or someone else's conversation is the same everywhere.
"""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseServerError
from django.template import loader
from django.utils.html import escape
from django.utils.translation import get_language, gettext
from django.views.defaults import page_not_found

from chatapp.accounts.views import theme

NOT_FOUND_TEMPLATE = "404.html"
FORBIDDEN_TEMPLATE = "403.html"
SERVER_ERROR_TEMPLATE = "500.html"
logger = logging.getLogger(__name__)


def not_found_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 404 page, with the request's context (the person signed in, their theme). What
    the exception says is not shown: "no such conversation" and "not yours" read the same."""
    return page_not_found(request, exception, template_name=NOT_FOUND_TEMPLATE)


def forbidden_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: a view refused (PermissionDenied)."""
    return HttpResponseForbidden(loader.render_to_string(FORBIDDEN_TEMPLATE, {}, request))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the same 403 page, saying what usually causes it (a form left open
    across a sign-out or a server restart). Django's own reason is for the log, not the page."""
    return HttpResponseForbidden(
        loader.render_to_string(FORBIDDEN_TEMPLATE, {"csrf_failure": True}, request)
    )


def server_error_page(request: HttpRequest) -> HttpResponse:
    """handler500. Rendered without the request's context processors: whatever failed (the
    database, the session) must not fail again here. Only the theme is read, from its
    cookie."""
    try:
        context = {"theme": theme(request)["theme"]}
        return HttpResponseServerError(loader.render_to_string(SERVER_ERROR_TEMPLATE, context))
    except Exception:
        # e.g. static files not collected: {% static %} raises under the manifest storage,
        # and a 500 handler that raises makes Django log and retry the same failure.
        logger.exception("The 500 page could not be rendered")
        return HttpResponseServerError(
            _plain_server_error(), content_type="text/html; charset=utf-8"
        )


def _plain_server_error() -> str:
    """The 500 page without the template, in the request's language when its words can be
    had (they are read from the compiled catalogue, which needs nothing that may have failed)."""
    try:
        language = escape(get_language() or "en")
        title = escape(gettext("Something went wrong"))
        text = escape(gettext("The server ran into an error of its own. Try again in a moment."))
        back = escape(gettext("Back to your conversations"))
    except Exception:  # the translation machinery itself: English, as written
        language, title = "en", "Something went wrong"
        text, back = (
            "The server ran into an error of its own. Try again in a moment.",
            ("Back to your conversations"),
        )
    return (
        f"<!doctype html><html lang={language}><meta charset=utf-8><title>{title}</title>"
        f"<h1>{title}</h1><p>{text}</p><p><a href=/>{back}</a></p></html>"
    )
