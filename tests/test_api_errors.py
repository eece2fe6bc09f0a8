"""Errors Django and ninja make on their own still wear the SPEC's envelope under /api/, and
input no database can store is refused before it reaches one."""

import json

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


# --- input no database can store (chatapp.middleware.UnstorableInputMiddleware) ------------


def test_a_nul_character_is_422_naming_the_field(alice, group):
    client = Client()
    client.force_login(alice)
    body = {"content": "hi", "meta": {"notes": ["fine", "a\x00b"]}}
    response = client.post(
        f"/api/v1/conversations/{group.pk}/messages",
        data=json.dumps(body),
        content_type="application/json",
    )
    error = envelope(response, 422, "invalid")
    assert error["details"]["field"] == "meta.notes.1"
    assert error["details"]["errors"][0]["field"] == "meta.notes.1"
    # In a key of free-form JSON, and in a query parameter.
    response = client.post(
        "/api/v1/conversations",
        data=json.dumps({"kind": "group", "title": "T", "metadata": {"k\x00": 1}}),
        content_type="application/json",
    )
    assert envelope(response, 422, "invalid")["details"]["field"] == "metadata.k\x00"
    error = envelope(client.get("/api/v1/conversations?q=a%00"), 422, "invalid")
    assert error["details"]["field"] == "q"
    assert not group.messages.exists()


def test_a_lone_surrogate_is_422_and_a_pair_is_kept(alice, group):
    client = Client()
    client.force_login(alice)
    url = f"/api/v1/conversations/{group.pk}/messages"
    response = client.post(url, data=b'{"content": "\\ud83d"}', content_type="application/json")
    assert envelope(response, 422, "invalid")["details"]["field"] == "content"
    response = client.post(
        url, data=b'{"content": "\\ud83d\\ude00"}', content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["content"] == "\U0001f600"


def test_digits_that_are_not_ascii_are_400_naming_the_parameter(alice, group):
    client = Client()
    client.force_login(alice)
    for value in ["²", "\u0661", "abc"]:  # superscript two, Arabic-Indic one, no number
        response = client.get(f"/api/v1/conversations/{group.pk}/messages", {"before": value})
        assert envelope(response, 400, "bad_request")["details"]["field"] == "before"
        response = client.get("/api/v1/events", {"last_event_id": value})
        assert envelope(response, 400, "bad_request")["details"]["field"] == "last_event_id"
    # A number, but not one the parameter takes: 422.
    response = client.get(f"/api/v1/conversations/{group.pk}/messages", {"limit": 0})
    assert envelope(response, 422, "invalid")["details"]["field"] == "limit"


def test_json_nested_too_deep_is_refused(alice, group):
    client = Client()
    client.force_login(alice)
    url = f"/api/v1/conversations/{group.pk}/messages"
    deep_meta = '{"content": "hi", "meta": ' + '{"a": ' * 100 + "{}" + "}" * 100 + "}"
    response = client.post(url, data=deep_meta, content_type="application/json")
    assert envelope(response, 422, "invalid")["details"]["field"] == "meta"
    # So deep that it cannot be parsed: malformed JSON.
    response = client.post(url, data="[" * 10_000 + "]" * 10_000, content_type="application/json")
    envelope(response, 400, "bad_request")


def test_a_body_that_is_not_utf8_is_400(alice):
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/api/v1/conversations",
        data=b'{"kind": "group", "title": "\xff\xfe"}',
        content_type="application/json",
    )
    envelope(response, 400, "bad_request")


def test_a_nul_character_in_a_page_is_400(alice):
    client = Client()
    client.force_login(alice)
    for response in [
        client.get("/search?q=a%00"),
        client.get("/admin/login/?next=%00"),
        client.post("/settings/", {"display_name": "Al\x00ice"}),
    ]:
        assert response.status_code == 400
        assert not response["Content-Type"].startswith("application/json")
    alice.refresh_from_db()
    assert alice.display_name == "Alice"
