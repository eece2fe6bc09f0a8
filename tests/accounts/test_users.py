"""Users: every way of making one gives them a personal workspace."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chatapp.accounts.services import user_create
from conversations.exceptions import InvalidInput

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_create_user_and_createsuperuser_get_personal_workspaces(monkeypatch):
    user = User.objects.create_user("plain", "plain@example.com", "pw-Secret-1")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "pw-Secret-2")
    call_command(
        "createsuperuser", "--noinput", username="boss", email="boss@example.com", verbosity=0
    )
    boss = User.objects.get(username="boss")
    for person in (user, boss):
        workspace = person.default_workspace
        assert workspace.is_personal
        assert workspace.memberships.get(user=person).role == "owner"
    assert boss.is_superuser and boss.check_password("pw-Secret-2")


def test_user_create_rejects_taken_username_and_email(alice):
    count = User.objects.count()
    with pytest.raises(InvalidInput) as error:
        user_create(username="alice", password="x")
    assert error.value.field == "username"
    with pytest.raises(InvalidInput) as error:
        user_create(username="alice2", email="ALICE@example.com", password="x")
    assert error.value.field == "email"
    assert User.objects.count() == count


def test_user_create_validates_password_when_asked():
    with pytest.raises(InvalidInput) as error:
        user_create(username="weak", password="123", validate=True)
    assert error.value.field == "password"
    assert not User.objects.filter(username="weak").exists()


def test_user_create_requires_a_username():
    with pytest.raises(InvalidInput):
        user_create(username="", password="x")


def test_user_name_prefers_display_name(make_user):
    assert make_user("zed").name == "Zed"
    assert User(username="anon").name == "anon"
