"""The framework's floor for bench/api.py: two empty django-ninja views, one without auth
and one behind the API's own bearer-token auth (one query: the token and its user).

chatapp/urls.py mounts them at /api/bench-floor/ only when the environment has
CHATAPP_BENCH_FLOOR=1, which bench/api.py sets for the server it starts; they never exist in
a normal run. They go through the same middleware, URL resolver and JSON renderer as the
real API, and do nothing else, so a real endpoint's latency over theirs is what its own
work costs.
"""

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from chatapp.accounts.auth import api_auth
from chatapp.renderers import FastJSONRenderer

floor_api = NinjaAPI(
    title="chatapp benchmark floor",
    version="bench",
    urls_namespace="bench-floor",
    docs_url=None,
    openapi_url=None,
    renderer=FastJSONRenderer(),
)


@floor_api.get("/empty", auth=None)
def empty(request: HttpRequest):
    return {"ok": True}


@floor_api.get("/empty-auth", auth=api_auth)
def empty_with_auth(request: HttpRequest):
    return {"ok": True}


urlpatterns = [path("api/bench-floor/", floor_api.urls)]
