import os

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache

from chatapp.accounts import oidc
from chatapp.accounts import views as account_views
from chatapp.api import api
from chatapp.health import health_body
from chatapp.i18n import javascript_catalog


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and `scripts/serve` users: the same answer as /api/v1/health."""
    status, body = health_body()
    return JsonResponse(body, status=status)


urlpatterns = [
    path("health", health, name="health"),
    path(
        "accounts/login/",
        account_views.sign_in_page(account_views.SignInView.as_view()),
        name="login",
    ),
    path("accounts/logout/", account_views.sign_out, name="logout"),
    # Single sign-on (chatapp/accounts/oidc.py): 404 unless OIDC_ISSUER is set. The names are
    # the ones mozilla-django-oidc reverses.
    path(
        "accounts/oidc/start/",
        oidc.SignInStartView.as_view(),
        name="oidc_authentication_init",
    ),
    path(
        "accounts/oidc/callback/",
        oidc.SignInCallbackView.as_view(),
        name="oidc_authentication_callback",
    ),
    path("accounts/register/", account_views.register, name="register"),
    path("settings/", account_views.settings_page, name="settings"),
    path("settings/theme", account_views.set_theme, name="set_theme"),
    # The JavaScript catalogue of a language (chatapp/i18n.py), for static/js/.
    path("i18n/<str:language>.js", javascript_catalog, name="javascript_catalog"),
    # The admin's own sign-in, with the same failure limit (its form is set in apps.py).
    path("admin/login/", account_views.sign_in_page(account_views.admin_sign_in)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("conversations.urls")),
]

# Our error pages (chatapp/errors.py); under /api/ every error is JSON instead.
handler403 = "chatapp.errors.forbidden_page"
handler404 = "chatapp.errors.not_found_page"
handler500 = "chatapp.errors.server_error_page"

# Benchmark only: bench/api.py sets CHATAPP_BENCH_FLOOR=1 for the server it starts, to measure
# empty django-ninja views beside the real API (bench/floor.py). Never set in a normal run.
if os.environ.get("CHATAPP_BENCH_FLOOR") == "1":
    from bench.floor import urlpatterns as bench_floor_urlpatterns

    urlpatterns += bench_floor_urlpatterns
