"""The Moderators group made by migration 0005 holds exactly what moderation needs."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def test_moderators_group_has_exactly_the_moderation_permissions():
    group = Group.objects.get(name="Moderators")
    permissions = {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert permissions == {
        "conversations.view_conversation",
        "conversations.change_conversation",
        "conversations.view_message",
        "conversations.hide_message",
        "conversations.view_messagepart",
        "conversations.view_artifact",
        "conversations.view_participant",
        "conversations.view_report",
        "conversations.change_report",
        "conversations.view_auditevent",
        "conversations.view_workspace",
        "conversations.view_membership",
        "accounts.view_user",
        "accounts.suspend_user",
    }


def test_a_moderator_has_no_agent_token_password_or_purge_permission(mod):
    for permission in [
        "conversations.view_agent",
        "conversations.change_agent",
        "accounts.view_apitoken",
        "accounts.change_user",
        "conversations.delete_conversation",
        "conversations.change_message",
        "conversations.view_event",
    ]:
        assert not mod.has_perm(permission), permission
