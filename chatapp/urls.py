from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from chatapp.api import api
from chatapp.health import health_body


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and `scripts/serve` users: the same answer as /api/v1/health."""
    status, body = health_body()
    return JsonResponse(body, status=status)


urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("health", health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
