"""manage.py purge_deleted: conversations in the trash longer than RETENTION_DAYS go, with
--dry-run listing them and removing nothing."""

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations import services
from conversations.models import AuditEvent, Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def trash(alice, bob, team, post):
    """Three conversations of alice's: in the trash 40 days, in the trash 2 days, live."""

    def make(title, days_in_trash=None):
        conversation, _ = services.conversation_create(
            creator=alice, kind="group", title=title, workspace=team, participants=[bob]
        )
        post(conversation, f"in {title}")
        if days_in_trash is not None:
            services.conversation_delete(conversation=conversation, actor=alice)
            # Back-date the deletion: the trash's clock, not the service, is under test.
            Conversation.objects.filter(pk=conversation.pk).update(
                deleted_at=timezone.now() - timedelta(days=days_in_trash)
            )
        return conversation

    return make("Old", 40), make("Recent", 2), make("Live")


def run(*args):
    out = StringIO()
    call_command("purge_deleted", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_dry_run_lists_and_removes_nothing(trash, settings):
    settings.RETENTION_DAYS = 30
    old = trash[0]

    output = run("--dry-run")

    assert f"would purge {old.pk} “Old”" in output
    assert "1 messages" in output and "Recent" not in output and "Live" not in output
    assert "Would purge 1 conversations in the trash longer than 30 days" in output
    assert Conversation.objects.count() == 3 and not AuditEvent.objects.exists()


def test_purge_removes_what_is_older_than_retention_and_logs_it(trash, settings, caplog):
    settings.RETENTION_DAYS = 30
    old = trash[0]

    with caplog.at_level(logging.INFO, logger="conversations"):
        output = run()

    assert f"purged {old.pk} “Old”" in output
    assert "Purged 1 conversations in the trash longer than 30 days: 1 messages" in output
    assert set(Conversation.objects.values_list("title", flat=True)) == {"Recent", "Live"}
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    event = AuditEvent.objects.get(action="conversation.purged")
    assert event.actor is None and event.target_id == str(old.pk)
    assert event.reason == "retention: in the trash longer than 30 days"
    assert any("purge_deleted: 1 conversations purged" in r.getMessage() for r in caplog.records)


def test_older_than_overrides_retention(trash):
    output = run("--older-than", "1")
    assert "Purged 2 conversations" in output
    assert list(Conversation.objects.values_list("title", flat=True)) == ["Live"]
    assert AuditEvent.objects.filter(action="conversation.purged").count() == 2


def test_nothing_to_purge_says_so(trash):
    assert "Purged 0 conversations in the trash longer than 90 days: nothing." in run(
        "--older-than", "90"
    )
    assert Conversation.objects.count() == 3


def test_a_negative_age_is_refused():
    with pytest.raises(CommandError):
        run("--older-than", "-1")
