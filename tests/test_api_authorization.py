"""Walk every route of the OpenAPI schema: with no token and with an expired token every
protected route answers 401; with an outsider's token every route that takes an id answers
404. A new route is walked without anyone having to remember it."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chatapp.accounts.models import ApiToken
from chatapp.accounts.services import personal_token_create
from chatapp.api import api
from conversations import services

pytestmark = pytest.mark.django_db

# A valid body for each route that takes one, so that the outsider is refused for who they
# are, not for what they sent. A new route with a body must add its example here.
BODIES = {
    ("post", "/api/v1/conversations/{conversation_id}/messages"): {"content": "hi"},
    ("post", "/api/v1/messages/{message_id}/resend"): {"content": "again"},
    ("patch", "/api/v1/conversations/{conversation_id}"): {"title": "x"},
    ("post", "/api/v1/conversations/{conversation_id}/read"): {"seq": 1},
    ("post", "/api/v1/conversations/{conversation_id}/participants"): {"username": "charlie"},
    ("patch", "/api/v1/messages/{message_id}"): {"content": "x"},
    ("post", "/api/v1/messages/{message_id}/report"): {"reason": "spam"},
    ("post", "/api/v1/conversations/{conversation_id}/reply"): {"regenerate": False},
    ("post", "/api/v1/workspaces/{slug}/members"): {"username": "charlie"},
    ("patch", "/api/v1/workspaces/{slug}/members/{user_id}"): {"role": "admin"},
    ("post", "/api/v1/workspaces/{slug}/invitations"): {"email": ""},
}

# Routes that take an id but whose body is a file upload or that need none.
NO_BODY_NEEDED = {"get", "delete"}


def operations():
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def is_public(operation) -> bool:
    return not operation.get("security")


def fill(path: str, ids: dict) -> str:
    def replace(match):
        name = match.group(1)
        assert name in ids, f"add an id for path parameter {name!r} ({path})"
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", replace, path)


def call(client: Client, method: str, path: str, body=None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def ids(alice, group, post):
    message = post(group, "alice's words")
    token = personal_token_create(user=alice, name="alice's token").token
    part = services.message_part_add(message=message, type="file")
    artifact = services.artifact_create(part=part, kind="file", data=b"notes", path="notes.txt")
    # A workspace charlie is not in (he is in `team` and in the shared one), with an
    # invitation of it.
    closed = services.workspace_create(name="Closed", slug="closed", owner=alice)
    invitation = services.invitation_create(workspace=closed, actor=alice).invitation
    return {
        "conversation_id": group.pk,
        "message_id": message.pk,
        "user_id": alice.pk,
        "token_id": token.pk,
        "artifact_id": artifact.pk,
        "slug": closed.slug,
        "invitation_id": invitation.pk,
    }


def test_every_route_is_walked():
    routes = list(operations())
    assert len(routes) >= 20
    assert any("{conversation_id}" in path for path, _, _ in routes)


def test_every_protected_route_needs_a_valid_token(charlie, ids, tokens_for):
    expired = tokens_for(charlie)
    ApiToken.objects.filter(pk=expired.access.token.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    # enforce_csrf_checks: as a real browser-less caller meets it (no CSRF exemption).
    callers = {
        "no token": Client(enforce_csrf_checks=True),
        "expired token": Client(
            enforce_csrf_checks=True, headers={"Authorization": f"Bearer {expired.access.raw}"}
        ),
        "garbage token": Client(
            enforce_csrf_checks=True, headers={"Authorization": "Bearer chat_forged"}
        ),
    }
    checked = 0
    for path, method, operation in operations():
        if is_public(operation):
            continue
        url = fill(path, ids)
        for name, client in callers.items():
            response = call(client, method, url, BODIES.get((method, path)))
            assert response.status_code == 401, (
                f"{name}: {method.upper()} {path} → {response.status_code}"
            )
            assert response.json()["error"]["code"] == "not_authenticated"
        checked += 1
    assert checked >= 15


def test_an_outsider_gets_404_on_every_route_with_an_id(alice, bob, charlie, ids, tokens_for):
    outsider = Client(headers={"Authorization": f"Bearer {tokens_for(charlie).access.raw}"})
    checked = 0
    for path, method, operation in operations():
        if is_public(operation) or "{" not in path:
            continue
        has_body = "requestBody" in operation
        if has_body:
            assert (method, path) in BODIES, f"add an example body for {method.upper()} {path}"
        response = call(outsider, method, fill(path, ids), BODIES.get((method, path)))
        assert response.status_code == 404, (
            f"{method.upper()} {path} answered {response.status_code} to an outsider: "
            f"{response.content[:200]!r}"
        )
        assert response.json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 12
    # Nothing the outsider tried changed anything.
    from conversations.models import Message, Participant

    assert Message.objects.count() == 1
    assert not Participant.objects.filter(user=charlie).exists()


def test_public_routes_are_only_the_expected_ones():
    public = {path for path, _, operation in operations() if is_public(operation)}
    assert public == {
        "/api/v1/health",
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
    }
