"""Errors Django and ninja make on their own still wear the SPEC's envelope under /api/."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_unknown_route_under_api_is_404_envelope(alice):
    client = Client()
    client.force_login(alice)
    envelope(client.get("/api/v1/nothing-here"), 404, "not_found")
    envelope(client.get("/api/v2/conversations"), 404, "not_found")
    # A malformed id in a path matches no route at all.
    envelope(client.get("/api/v1/conversations/not-a-uuid"), 404, "not_found")


def test_wrong_method_is_405_envelope(alice):
    client = Client()
    client.force_login(alice)
    error = envelope(client.put("/api/v1/conversations"), 405, "method_not_allowed")
    assert "GET" in error["details"]["allowed"]


def test_too_large_body_is_413(alice, group, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/api/v1/conversations/{group.pk}/messages",
        data='{"content": "' + "x" * 5000 + '"}',
        content_type="application/json",
    )
    envelope(response, 413, "too_large")


def test_pages_outside_the_api_keep_html_errors():
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_broken_multipart_body_is_400(alice):
    client = Client()
    client.force_login(alice)
    response = client.generic(
        "POST", "/api/v1/imports", b"garbage", content_type="multipart/form-data"
    )
    envelope(response, 400, "bad_request")
