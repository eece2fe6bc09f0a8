"""The limits of docs/security.md, tried from outside: failed sign-ins on every door (the
API, the sign-in page, the admin's), registration per address, personal tokens, the
posting limit on the page as in the API, assistant replies and imports."""

import json

import pytest
from django.test import Client

from chatapp.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db

RIGHT = "Correct-horse-9"
ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


def post_json(client, path, body, **kwargs):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kwargs)


def api_sign_in(address, username, password):
    return post_json(
        Client(REMOTE_ADDR=address),
        "/api/v1/auth/token",
        {"username": username, "password": password},
    )


def page_sign_in(address, username, password, path="/accounts/login/"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def admin_sign_in(address, username, password):
    return page_sign_in(address, username, password, path="/admin/login/?next=/admin/")


DOORS = {"api": api_sign_in, "page": page_sign_in, "admin": admin_sign_in}


def signed_in(door, response) -> bool:
    if door == "api":
        return response.status_code == 200
    return response.status_code == 302  # the pages redirect once signed in


@pytest.fixture
def owner(make_user):
    return make_user("alice", is_staff=True)  # staff, so that the admin's door opens too


@pytest.mark.parametrize("door", DOORS)
def test_thirty_wrong_passwords_then_the_right_one_is_refused(owner, door):
    sign_in = DOORS[door]
    answers = [sign_in(ATTACKER, "alice", f"guess{n}").status_code for n in range(30)]
    assert answers[:5] == [401 if door == "api" else 200] * 5
    assert set(answers[5:]) == {429}
    response = sign_in(ATTACKER, "alice", RIGHT)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    if door != "api":
        assert b"Too many failed sign-ins" in response.content


@pytest.mark.parametrize("door", DOORS)
def test_the_owner_from_an_address_that_has_not_failed_still_signs_in(owner, door):
    sign_in = DOORS[door]
    # The attacker spreads guesses over addresses; the account is locked for each of them.
    for n in range(6):
        sign_in(f"198.51.100.{n}", "alice", "wrong")
    assert sign_in("198.51.100.0", "alice", RIGHT).status_code == 429
    assert signed_in(door, sign_in(OWNER, "alice", RIGHT))


def test_a_locked_account_gives_a_new_address_one_try(owner):
    for n in range(5):
        api_sign_in(f"198.51.100.{n}", "alice", "wrong")
    assert api_sign_in("198.51.100.50", "alice", "wrong").status_code == 401
    assert api_sign_in("198.51.100.50", "alice", "wrong").status_code == 429


def test_the_username_and_the_email_address_are_one_account(owner):
    for n in range(3):
        api_sign_in(f"198.51.100.{n}", "alice", "wrong")
    for n in range(3, 5):
        api_sign_in(f"198.51.100.{n}", "ALICE@example.com", "wrong")
    # Five failures on one account: both names are now locked for those addresses.
    assert api_sign_in("198.51.100.0", "alice@example.com", RIGHT).status_code == 429
    assert api_sign_in("198.51.100.4", "alice", RIGHT).status_code == 429
    assert api_sign_in(OWNER, "alice@example.com", RIGHT).status_code == 200


def test_the_doors_share_one_count(owner):
    for _ in range(2):
        api_sign_in(ATTACKER, "alice", "wrong")
    for _ in range(2):
        page_sign_in(ATTACKER, "alice", "wrong")
    admin_sign_in(ATTACKER, "alice", "wrong")
    assert api_sign_in(ATTACKER, "alice", RIGHT).status_code == 429


def test_after_the_window_the_owner_signs_in(owner, settings, monkeypatch):
    for _ in range(6):
        api_sign_in(OWNER, "alice", "wrong")
    assert api_sign_in(OWNER, "alice", RIGHT).status_code == 429
    import chatapp.ratelimit

    later = chatapp.ratelimit.time.time() + settings.LOGIN_FAILURE_WINDOW_SECONDS + 1
    monkeypatch.setattr(chatapp.ratelimit.time, "time", lambda: later)
    assert api_sign_in(OWNER, "alice", RIGHT).status_code == 200


def test_unknown_names_are_limited_like_real_ones(owner):
    for _ in range(5):
        api_sign_in(ATTACKER, "nobody_here", "wrong")
    assert api_sign_in(ATTACKER, "nobody_here", "wrong").status_code == 429


def test_the_page_signs_in_with_an_email_address(owner):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice@example.com", "password": RIGHT})
    assert response.status_code == 302
    assert client.get("/api/v1/me").json()["username"] == "alice"


# --- registration ------------------------------------------------------------------------------


def registration(n):
    return {
        "email": f"new{n}@example.com",
        "username": f"new_user_{n}",
        "password": "Sturdy-pass-42",
    }


def test_registration_is_limited_per_address_in_the_api(settings):
    settings.REGISTER_RATE_LIMIT = 3
    client = Client(REMOTE_ADDR=ATTACKER)
    for n in range(3):
        assert post_json(client, "/api/v1/auth/register", registration(n)).status_code == 201
    response = post_json(client, "/api/v1/auth/register", registration(3))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert not User.objects.filter(username="new_user_3").exists()
    other = Client(REMOTE_ADDR=OWNER)
    assert post_json(other, "/api/v1/auth/register", registration(4)).status_code == 201


def test_registration_is_limited_per_address_on_the_page(settings):
    settings.REGISTER_RATE_LIMIT = 2
    for n in range(2):
        response = Client(REMOTE_ADDR=ATTACKER).post("/accounts/register/", registration(n))
        assert response.status_code == 302
    response = Client(REMOTE_ADDR=ATTACKER).post("/accounts/register/", registration(2))
    assert response.status_code == 429
    assert b"Too many sign-ups" in response.content
    assert b'value="new_user_2"' in response.content  # what was typed is kept
    assert not User.objects.filter(username="new_user_2").exists()


def test_registration_names_every_bad_field_at_once(make_user):
    make_user("taken")
    body = {"email": "not-an-email", "username": "taken", "password": "short"}
    response = post_json(Client(), "/api/v1/auth/register", body)
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert {error["field"] for error in errors} == {"email", "username", "password"}


def test_the_register_page_names_every_bad_field_at_once(make_user):
    make_user("taken")
    response = Client().post(
        "/accounts/register/",
        {"email": "taken@example.com", "username": "taken", "password": "short"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"email", "username", "password"}


# --- tokens ------------------------------------------------------------------------------------


def test_token_answers_are_never_cached(owner, bearer_client, tokens_for):
    response = post_json(Client(), "/api/v1/auth/token", {"username": "alice", "password": RIGHT})
    assert response["Cache-Control"] == "no-store"
    refresh = post_json(
        Client(), "/api/v1/auth/refresh", {"refresh_token": response.json()["refresh_token"]}
    )
    assert refresh["Cache-Control"] == "no-store"
    created = post_json(
        bearer_client(tokens_for(owner).access.raw), "/api/v1/me/tokens", {"name": "ci"}
    )
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    registered = post_json(Client(), "/api/v1/auth/register", registration(9))
    assert registered["Cache-Control"] == "no-store"


def test_the_page_showing_a_new_token_is_never_cached(owner, client):
    client.force_login(owner)
    response = client.post("/settings/", {"token_name": "laptop"})
    assert response.status_code == 200 and b"chat_" in response.content
    assert "no-store" in response["Cache-Control"]


def test_personal_token_creation_is_limited(owner, bearer_client, tokens_for, client, settings):
    settings.TOKEN_CREATE_RATE_LIMIT = 2
    api = bearer_client(tokens_for(owner).access.raw)
    for n in range(2):
        assert post_json(api, "/api/v1/me/tokens", {"name": f"t{n}"}).status_code == 201
    refused = post_json(api, "/api/v1/me/tokens", {"name": "t2"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    client.force_login(owner)
    page = client.post("/settings/", {"token_name": "t3"})
    assert page.status_code == 429 and b"too many tokens" in page.content
    assert ApiToken.objects.filter(user=owner, kind="personal").count() == 2


# --- posting, replies, imports -----------------------------------------------------------------


def test_the_composer_form_shares_the_api_posting_limit(
    alice, group, client, bearer_client, tokens_for, settings
):
    settings.POST_RATE_LIMIT = 2
    api = bearer_client(tokens_for(alice).access.raw)
    api_url = f"/api/v1/conversations/{group.pk}/messages"
    page_url = f"/c/{group.pk}/post"
    assert post_json(api, api_url, {"content": "one"}).status_code == 201
    client.force_login(alice)
    assert client.post(page_url, {"content": "two"}).status_code == 302
    response = client.post(page_url, {"content": "kept text", "client_message_id": "c-3"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert b"posting too fast" in response.content
    assert b">kept text</textarea>" in response.content
    assert b'value="c-3"' in response.content
    assert not group.messages.filter(content="kept text").exists()
    assert post_json(api, api_url, {"content": "four"}).status_code == 429


def test_imports_are_limited_per_user(alice, bob, bearer_client, tokens_for, settings):
    from tests.conversations.transfer_helpers import fixture_bytes, upload

    settings.IMPORT_RATE_LIMIT = 2
    api = bearer_client(tokens_for(alice).access.raw)
    data = fixture_bytes("sparse.json")
    assert upload(api, data).status_code in (200, 201)
    assert upload(api, data).status_code == 200  # seen before, but counted all the same
    refused = upload(api, data)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert upload(bearer_client(tokens_for(bob).access.raw), data).status_code == 201
