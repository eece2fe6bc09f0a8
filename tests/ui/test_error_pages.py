"""Our own 404, 403 and 500 pages (chatapp/errors.py, templates/404.html …), with DEBUG on
(as ./scripts/serve runs) and off: never Django's debug 404 with its list of URL patterns,
and the same page for a missing, a trashed and someone else's conversation."""

import re
import uuid

import pytest
from django.test import Client

from conversations import services

pytestmark = pytest.mark.django_db

DEBUG_404_SIGNS = ("Using the URLconf", "urlpatterns", "Django tried these URL patterns")


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def unmasked(page: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)


def assert_our_404(response):
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Not found</h1>" in page
    assert 'href="/"' in page and "Back to your conversations" in page
    assert not any(sign in page for sign in DEBUG_404_SIGNS)
    return page


def test_missing_conversation_shows_our_404(debug, alice):
    assert_our_404(signed_in(alice).get(f"/c/{uuid.uuid4()}/"))


def test_trashed_conversation_shows_our_404(debug, alice, group):
    services.conversation_delete(conversation=group, actor=alice)
    page = assert_our_404(signed_in(alice).get(f"/c/{group.pk}/"))
    assert "Trash" in page  # where a deleted one can be restored


def test_outsider_gets_the_same_404_as_a_missing_id(debug, charlie, group, post):
    post(group, "private")
    client = signed_in(charlie)
    missing_path = f"/c/{uuid.uuid4()}/"
    outsider = assert_our_404(client.get(f"/c/{group.pk}/"))
    missing = assert_our_404(client.get(missing_path))
    # Only the page's own address (the theme form's `next`) and the CSRF token (masked
    # anew for every page) may differ.
    assert unmasked(outsider.replace(str(group.pk), "ID")) == unmasked(
        missing.replace(missing_path[3:-1], "ID")
    )
    assert "Plans" not in outsider


def test_unknown_path_shows_our_404(debug, alice):
    assert_our_404(signed_in(alice).get("/no/such/page"))
    assert_our_404(Client().get("/no/such/page"))  # signed out too


def test_missing_path_still_gets_its_slash_appended(debug, alice):
    response = signed_in(alice).get("/settings")
    assert response.status_code == 301 and response["Location"] == "/settings/"


def test_api_keeps_its_json_envelope(debug, alice, tokens_for):
    client = Client(headers={"Authorization": f"Bearer {tokens_for(alice).access.raw}"})
    for path in (f"/api/v1/conversations/{uuid.uuid4()}", "/api/v1/no-such-endpoint"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_csrf_failure_shows_our_403(debug, alice, group):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(f"/c/{group.pk}/post", {"content": "no token"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>Not allowed</h1>" in page and "reload the page" in page
    assert "CSRF verification failed" not in page  # Django's own page


@pytest.mark.urls("tests.ui.error_urls")
def test_permission_denied_shows_our_403(debug, alice):
    response = signed_in(alice).get("/test-errors/refused")
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>Not allowed</h1>" in page and "not open to your account" in page


@pytest.mark.urls("tests.ui.error_urls")
def test_server_error_shows_our_500_without_the_request_context(settings, alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    client.cookies["theme"] = "dark"
    response = client.get("/test-errors/broken")
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong</h1>" in page and 'href="/"' in page
    assert 'data-theme="dark"' in page  # the theme, from its cookie alone
    assert alice.name not in page  # no user: nothing that needed the session or database
    assert "a bug of ours" not in page
    # No account links and no theme form: without the request it would have no CSRF token.
    assert "Sign in" not in page and "csrfmiddlewaretoken" not in page


def test_the_500_page_falls_back_to_plain_html_when_it_cannot_render(settings, alice, tmp_path):
    """Static files not collected (the manifest storage then refuses {% static %}): the 500
    page, and the 404 that fails the same way, answer a plain page instead of raising in
    the handler of last resort (.ci/schemathesis once met this)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path / "never-collected"
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    for path in ("/test-errors/broken", "/no-such-page"):
        response = client.get(path)
        assert response.status_code == 500
        assert "<h1>Something went wrong</h1>" in response.content.decode()
