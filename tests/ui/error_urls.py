"""The app's routes plus two that fail on purpose, for tests/ui/test_error_pages.py: a view
refused (403) and a bug (500). The error handlers are the app's own."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from chatapp.urls import handler403, handler404, handler500
from chatapp.urls import urlpatterns as app_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


def refused(request):
    raise PermissionDenied("not for you")


def broken(request):
    raise RuntimeError("a bug of ours")


urlpatterns = [
    path("test-errors/refused", refused),
    path("test-errors/broken", broken),
    *app_urlpatterns,
]
