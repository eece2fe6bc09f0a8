"""The UI's languages (docs/i18n.md): which one a request is answered in, and the JavaScript
catalogue that static/js/ reads its words from.

A page is in the person's own choice (`User.language`, on the settings page), else in the
browser's (Accept-Language, through Django's LocaleMiddleware), else in LANGUAGE_CODE. The
JSON API always answers in LANGUAGE_CODE (English): its error messages are for programs and
their logs, read by `code`, and stay the same whoever asks (docs/api.md).
"""

import hashlib
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.views.decorators.http import require_GET
from django.views.i18n import JavaScriptCatalog

API_PREFIX = "/api/"


def supported_language(code: str) -> str | None:
    """`code` if it is one of LANGUAGES (as stored on a user), else None."""
    return code if code and code in dict(settings.LANGUAGES) else None


class LanguageMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (Accept-Language, Vary and Content-Language on the answer),
    with the person's own setting first, and English for the API. Placed after
    AuthenticationMiddleware: it reads request.user."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        user = request.user
        chosen = supported_language(user.language) if user.is_authenticated else None
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        else:
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return response
        return super().process_response(request, response)


# --- the JavaScript catalogue ----------------------------------------------------------------
# Django's JavaScriptCatalog, at an address per language and per version of the compiled
# catalogues (`?v=`), so that a browser keeps it for a year and a new translation is fetched at
# once. Only our own catalogue (LOCALE_PATHS, always included; "conversations" has no locale
# folder of its own): without `packages`, the admin's calendar words would come too.
_catalog_view = JavaScriptCatalog.as_view(packages=["conversations"])


@cache
def catalog_version() -> str:
    """A short hash of the compiled JavaScript catalogues, read once per process."""
    digest = hashlib.sha256()
    for path in sorted(settings.LOCALE_PATHS[0].glob("*/LC_MESSAGES/djangojs.mo")):
        digest.update(path.parent.parent.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _catalog_body(language: str) -> bytes:
    request = HttpRequest()
    request.method = "GET"
    with translation.override(language):
        return _catalog_view(request).content


@require_GET
def javascript_catalog(request: HttpRequest, language: str) -> HttpResponse:
    """/i18n/<language>.js: gettext, ngettext, interpolate … and our words in that language
    (static/js/ui.js falls back to English without it). The same for everyone, so cached."""
    if not supported_language(language):
        raise Http404("No such language.")
    response = HttpResponse(_catalog_body(language), content_type="text/javascript; charset=utf-8")
    if request.GET.get("v") == catalog_version():
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "no-cache"
    return response
