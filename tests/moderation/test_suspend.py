"""Suspending a user ends every session and revokes every token at once."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from chatapp.accounts.models import ApiToken
from chatapp.accounts.services import personal_token_create, user_suspend, user_unsuspend
from conversations.exceptions import Conflict, InvalidInput, PermissionDenied
from conversations.models import AuditEvent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_suspend_ends_sessions_and_revokes_tokens_at_once(
    bob, alice, mod, tokens_for, bearer_client
):
    browser, phone, alice_browser = signed_in(bob), signed_in(bob), signed_in(alice)
    pair = tokens_for(bob)
    personal = personal_token_create(user=bob, name="script")
    assert bearer_client(personal.raw).get("/api/v1/me").status_code == 200

    user_suspend(user=bob, actor=mod, reason="harassment")

    bob.refresh_from_db()
    assert bob.is_active is False
    assert not ApiToken.objects.filter(user=bob, revoked_at__isnull=True).exists()
    sessions = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert sessions == [str(alice.pk)]  # bob's two are gone, alice's stays
    for client in (browser, phone):
        assert client.get("/api/v1/me").status_code == 401
    assert alice_browser.get("/api/v1/me").status_code == 200
    for raw in (pair.access.raw, personal.raw):
        assert bearer_client(raw).get("/api/v1/me").status_code == 401

    suspended = AuditEvent.objects.get(action="user.suspended")
    assert (suspended.actor, suspended.target_id) == (mod, str(bob.pk))
    assert suspended.reason == "harassment"
    assert suspended.data["sessions_ended"] == 2 and suspended.data["tokens_revoked"] == 3
    assert AuditEvent.objects.get(action="token.all_revoked").data["revoked"] == 3


def test_unsuspend_lets_them_sign_in_again_with_old_tokens_dead(bob, mod, tokens_for, client):
    pair = tokens_for(bob)
    user_suspend(user=bob, actor=mod, reason="harassment")
    user_unsuspend(user=bob, actor=mod, reason="appeal accepted")

    bob.refresh_from_db()
    assert bob.is_active is True
    assert ApiToken.objects.get(pk=pair.access.token.pk).revoked_at is not None
    assert client.login(username="bob", password="Correct-horse-9")
    assert AuditEvent.objects.get(action="user.unsuspended").reason == "appeal accepted"
    with pytest.raises(Conflict):
        user_unsuspend(user=bob, actor=mod, reason="again")


def test_suspend_needs_a_reason_and_the_permission(bob, mod, alice, stranger_staff):
    with pytest.raises(InvalidInput):
        user_suspend(user=bob, actor=mod, reason="")
    for actor in (alice, stranger_staff):
        with pytest.raises(PermissionDenied):
            user_suspend(user=bob, actor=actor, reason="no")
    bob.refresh_from_db()
    assert bob.is_active and not AuditEvent.objects.exists()


def test_moderators_cannot_suspend_staff_or_themselves(mod, boss, stranger_staff):
    for target in (boss, stranger_staff, mod):
        with pytest.raises(PermissionDenied):
            user_suspend(user=target, actor=mod, reason="no")
    user_suspend(user=stranger_staff, actor=boss, reason="left the company")
    stranger_staff.refresh_from_db()
    assert stranger_staff.is_active is False
