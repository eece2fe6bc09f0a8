"""Auth over the API: registration rules, sign-in and its rate limit, the token lifecycle
(expiry, rotation, reuse detection, logout, revocation, suspension), personal tokens."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chatapp.accounts.models import ApiToken
from conversations.models import AuditEvent

pytestmark = pytest.mark.django_db


def post_json(client, path, body, **kwargs):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kwargs)


def error_of(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]


GOOD = {
    "email": "new@example.com",
    "username": "new_user",
    "password": "Sturdy-pass-42",
    "display_name": "New User",
}


# --- registration ---------------------------------------------------------------------------


def test_register_answers_201_with_user_and_tokens():
    response = post_json(Client(), "/api/v1/auth/register", GOOD)
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    assert body["user"]["username"] == "new_user"
    assert body["user"]["default_workspace"]
    me = Client(headers={"Authorization": f"Bearer {body['access_token']}"}).get("/api/v1/me")
    assert me.json()["email"] == "new@example.com"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "a" * 51}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "dash-ed"}, "username"),
        ({"password": "Short1"}, "password"),
        ({"password": "alllowercase1"}, "password"),
        ({"password": "ALLUPPERCASE1"}, "password"),
        ({"password": "NoDigitsHere"}, "password"),
        ({"password": "Password123"}, "password"),  # too common for Django's validator
        ({"email": "not-an-email"}, "email"),
        ({"email": 5}, "email"),
        ({"display_name": "d" * 151}, "display_name"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_register_rejects_bad_input_naming_the_field(change, field):
    from chatapp.accounts.models import User

    error = error_of(post_json(Client(), "/api/v1/auth/register", {**GOOD, **change}), 422)
    assert error["details"]["field"] == field
    assert not User.objects.filter(username=GOOD["username"]).exists()


def test_register_rejects_taken_username_and_email(alice):
    taken_name = {**GOOD, "username": "ALICE"}
    assert (
        error_of(post_json(Client(), "/api/v1/auth/register", taken_name), 422)["details"]["field"]
        == "username"
    )
    taken_mail = {**GOOD, "email": "Alice@Example.com"}
    assert (
        error_of(post_json(Client(), "/api/v1/auth/register", taken_mail), 422)["details"]["field"]
        == "email"
    )


def test_registration_can_be_switched_off(settings):
    settings.ALLOW_REGISTRATION = False
    error = error_of(post_json(Client(), "/api/v1/auth/register", GOOD), 403)
    assert error["code"] == "forbidden"


# --- sign-in ----------------------------------------------------------------------------------


def test_token_by_username_or_email(alice):
    for identifier in ("alice", "ALICE@example.com"):
        response = post_json(
            Client(), "/api/v1/auth/token", {"username": identifier, "password": "Correct-horse-9"}
        )
        assert response.status_code == 200
        assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "Correct-horse-9"},
    ],
)
def test_wrong_credentials_get_401(alice, body):
    assert error_of(post_json(Client(), "/api/v1/auth/token", body), 401)["code"] == (
        "not_authenticated"
    )


def test_suspended_user_cannot_sign_in(alice):
    alice.is_active = False
    alice.save()
    body = {"username": "alice", "password": "Correct-horse-9"}
    error_of(post_json(Client(), "/api/v1/auth/token", body), 401)


def test_sign_in_is_rate_limited_per_account(alice):
    client = Client()
    for _ in range(5):
        error_of(
            post_json(client, "/api/v1/auth/token", {"username": "alice", "password": "x"}), 401
        )
    # Even the right password is refused now, with the time to wait.
    response = post_json(
        client, "/api/v1/auth/token", {"username": "alice", "password": "Correct-horse-9"}
    )
    assert error_of(response, 429)["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_sign_in_is_rate_limited_per_address(alice, bob):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for number in range(5):
        body = {"username": f"ghost{number}", "password": "x"}
        error_of(post_json(client, "/api/v1/auth/token", body), 401)
    body = {"username": "bob", "password": "Correct-horse-9"}
    error_of(post_json(client, "/api/v1/auth/token", body), 429)
    # Another address is not affected.
    assert (
        post_json(Client(REMOTE_ADDR="203.0.113.10"), "/api/v1/auth/token", body).status_code == 200
    )


# --- the token lifecycle ------------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(alice, tokens_for):
    pair = tokens_for(alice)
    stored = list(ApiToken.objects.values_list("token_hash", "prefix"))
    for raw in (pair.access.raw, pair.refresh.raw):
        assert all(raw != token_hash and raw != prefix for token_hash, prefix in stored)
        assert any(raw.startswith(prefix) for _, prefix in stored)


def test_access_token_expires(alice, tokens_for, bearer_client):
    pair = tokens_for(alice)
    client = bearer_client(pair.access.raw)
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=pair.access.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert error_of(client.get("/api/v1/me"), 401)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header", ["Bearer nonsense", "Bearer chat_unknown", "Basic abc", "Bearer "]
)
def test_bad_authorization_headers_get_401(header):
    error_of(Client(headers={"Authorization": header}).get("/api/v1/me"), 401)


def test_refresh_rotates_and_the_old_refresh_token_dies(alice, tokens_for, bearer_client):
    pair = tokens_for(alice)
    rotated = post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw})
    assert rotated.status_code == 200
    new = rotated.json()
    assert bearer_client(new["access_token"]).get("/api/v1/me").status_code == 200
    # The same family goes on.
    assert ApiToken.objects.filter(family=pair.refresh.token.family).count() == 4


def test_reusing_a_dead_refresh_token_revokes_the_whole_family(alice, tokens_for, bearer_client):
    pair = tokens_for(alice)
    new = post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw}).json()
    # A thief replays the old refresh token.
    replay = post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw})
    error_of(replay, 401)
    # Everything of that sign-in is dead now, the legitimate new tokens too.
    error_of(bearer_client(new["access_token"]).get("/api/v1/me"), 401)
    error_of(
        post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": new["refresh_token"]}), 401
    )
    assert AuditEvent.objects.filter(action="token.family_revoked").exists()
    # Another sign-in is untouched.
    other = tokens_for(alice)
    assert bearer_client(other.access.raw).get("/api/v1/me").status_code == 200


def test_expired_or_unknown_refresh_token_gets_401(alice, tokens_for):
    pair = tokens_for(alice)
    ApiToken.objects.filter(pk=pair.refresh.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    error_of(post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw}), 401)
    error_of(post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": "chat_nope"}), 401)
    # An access token is not a refresh token.
    error_of(post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.access.raw}), 401)


def test_logout_revokes_the_sign_in(alice, tokens_for, bearer_client):
    pair = tokens_for(alice)
    client = bearer_client(pair.access.raw)
    assert client.post("/api/v1/auth/logout").status_code == 204
    error_of(client.get("/api/v1/me"), 401)
    error_of(post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw}), 401)


def test_session_logout(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/api/v1/me").status_code == 200
    client.get("/settings/")  # a page with a form sets the CSRF cookie
    response = client.post(
        "/api/v1/auth/logout", headers={"X-CSRFToken": client.cookies["csrftoken"].value}
    )
    assert response.status_code == 204
    error_of(client.get("/api/v1/me"), 401)


def test_suspension_stops_tokens_at_once(alice, tokens_for, bearer_client):
    pair = tokens_for(alice)
    client = bearer_client(pair.access.raw)
    assert client.get("/api/v1/me").status_code == 200
    alice.is_active = False
    alice.save()
    error_of(client.get("/api/v1/me"), 401)
    error_of(post_json(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh.raw}), 401)


# --- personal tokens -----------------------------------------------------------------------------


def test_personal_tokens_create_list_and_revoke(alice, bearer_client, tokens_for):
    client = bearer_client(tokens_for(alice).access.raw)
    created = post_json(client, "/api/v1/me/tokens", {"name": "CI bot", "expires_in_days": 30})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith(token["prefix"])
    bot = bearer_client(token["token"])
    assert bot.get("/api/v1/me").json()["username"] == "alice"

    listed = client.get("/api/v1/me/tokens").json()
    assert [item["name"] for item in listed["items"]] == ["CI bot"]
    assert "token" not in listed["items"][0]

    assert client.delete(f"/api/v1/me/tokens/{token['id']}").status_code == 204
    error_of(bot.get("/api/v1/me"), 401)
    assert AuditEvent.objects.filter(action="token.revoked", target_id=token["id"]).exists()


def test_personal_tokens_page_with_cursors(alice, bearer_client, tokens_for):
    client = bearer_client(tokens_for(alice).access.raw)
    for number in range(5):
        post_json(client, "/api/v1/me/tokens", {"name": f"t{number}"})
    names, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/me/tokens", {"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        body = page.json()
        names += [item["name"] for item in body["items"]]
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert sorted(names) == [f"t{number}" for number in range(5)] and len(names) == 5
    assert error_of(client.get("/api/v1/me/tokens", {"cursor": "tampered"}), 400)["code"] == (
        "invalid_cursor"
    )


def test_someone_elses_token_is_404(alice, bob, bearer_client, tokens_for):
    alice_client = bearer_client(tokens_for(alice).access.raw)
    token = post_json(alice_client, "/api/v1/me/tokens", {"name": "mine"}).json()
    bob_client = bearer_client(tokens_for(bob).access.raw)
    error_of(bob_client.delete(f"/api/v1/me/tokens/{token['id']}"), 404)
    assert bearer_client(token["token"]).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
    ],
)
def test_personal_token_bad_input(alice, bearer_client, tokens_for, body, field):
    client = bearer_client(tokens_for(alice).access.raw)
    assert error_of(post_json(client, "/api/v1/me/tokens", body), 422)["details"]["field"] == field


def test_posting_is_rate_limited_per_user(alice, group, bearer_client, tokens_for, settings):
    settings.POST_RATE_LIMIT = 3
    client = bearer_client(tokens_for(alice).access.raw)
    url = f"/api/v1/conversations/{group.pk}/messages"
    for number in range(3):
        assert post_json(client, url, {"content": f"m{number}"}).status_code == 201
    response = post_json(client, url, {"content": "one too many"})
    error_of(response, 429)
    assert int(response["Retry-After"]) >= 1
    assert group.messages.count() == 3
