"""Shared people and places (after healthchecks' alice/bob/charlie): alice owns, bob takes
part, charlie is in the same workspace but outside the conversation — every access test
asks "can charlie see it?"."""

import pytest
from django.db import connection

from chatapp.accounts.services import user_create
from conversations import services


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return user_create(
            username=username,
            email=f"{username}@example.com",
            password="Correct-horse-9",
            display_name=username.title(),
            **extra,
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def charlie(make_user):
    return make_user("charlie")


@pytest.fixture
def team(alice, bob, charlie):
    """A shared workspace: alice owns it, bob and charlie are members."""
    workspace = services.workspace_create(name="Team", slug="team", owner=alice)
    services.membership_add(workspace=workspace, user=bob)
    services.membership_add(workspace=workspace, user=charlie)
    return workspace


@pytest.fixture
def group(alice, bob, team):
    """alice's group conversation with bob; charlie is not in it."""
    conversation, _ = services.conversation_create(
        creator=alice, kind="group", title="Plans", workspace=team, participants=[bob]
    )
    return conversation


@pytest.fixture
def post(alice):
    """post(conversation, content, sender=alice, **kwargs) -> message"""

    def post_message(conversation, content="hello", sender=None, **kwargs):
        message, _ = services.message_post(
            conversation=conversation, sender=sender or alice, content=content, **kwargs
        )
        return message

    return post_message


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Files the tests store (artifacts) go to a temporary folder, never to DATA_DIR."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit counters live in the cache; every test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def bearer_client():
    """bearer_client(raw_token) -> a Django test Client sending Authorization: Bearer."""
    from django.test import Client

    def make(raw_token: str) -> Client:
        return Client(headers={"Authorization": f"Bearer {raw_token}"})

    return make


@pytest.fixture
def api(bearer_client, tokens_for):
    """api(user) -> a Django test Client signed in as user with a fresh access token."""

    def make(user):
        return bearer_client(tokens_for(user).access.raw)

    return make


@pytest.fixture
def tokens_for():
    """tokens_for(user) -> a fresh access/refresh pair, as the API would issue it."""
    from chatapp.accounts.services import token_pair_issue

    def issue(user):
        return token_pair_issue(user=user)

    return issue


@pytest.fixture
def client_for():
    """client_for(user=None) -> a Django test client, signed in as `user` when given."""

    from django.test import Client

    def make(user=None):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
