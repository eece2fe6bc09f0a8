"""The moderation services: each act does what it says, writes its AuditEvent, and is
refused to whoever lacks the permission."""

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from conversations import selectors, services
from conversations.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from conversations.models import (
    Artifact,
    AuditEvent,
    Conversation,
    Event,
    Message,
    MessagePart,
    Participant,
    Report,
    ReportStatus,
)

pytestmark = pytest.mark.django_db


def audit(action):
    return list(AuditEvent.objects.filter(action=action))


# --- hide and unhide -------------------------------------------------------------------------


def test_message_hide_keeps_the_place_and_text_and_tells_participants(nasty, mod, bob):
    services.message_hide(message=nasty, moderator=mod, reason="insults")

    nasty.refresh_from_db()
    assert nasty.hidden_at is not None and nasty.hidden_by == mod
    assert nasty.hidden_reason == "insults"
    assert nasty.content == "you are all idiots"  # kept for moderators
    page = selectors.message_page(user=bob, conversation_id=nasty.conversation_id)
    shown = next(m for m in page.items if m.seq == nasty.seq)
    assert shown.visible_content == "" and [m.seq for m in page.items] == list(range(1, 8))

    (event,) = audit("message.hidden")
    assert (event.actor, event.target_type, event.target_id) == (mod, "message", str(nasty.pk))
    assert event.reason == "insults"
    live = Event.objects.filter(type="message.updated").last()
    assert live.data["message_id"] == str(nasty.pk) and live.data["is_hidden"] is True
    assert "excerpt" not in live.data  # events carry no text (docs/security.md)


def test_message_hide_resolves_the_open_reports_on_it(report, nasty, mod):
    services.message_hide(message=nasty, moderator=mod, reason="insults")

    report.refresh_from_db()
    assert report.status == ReportStatus.RESOLVED and report.resolved_by == mod
    (resolved,) = audit("report.resolved")
    assert resolved.target_id == str(report.pk)
    assert audit("message.hidden")[0].data["reports_resolved"] == [str(report.pk)]


def test_message_hide_needs_a_reason(nasty, mod):
    with pytest.raises(InvalidInput) as error:
        services.message_hide(message=nasty, moderator=mod, reason="   ")
    assert error.value.field == "reason"
    nasty.refresh_from_db()
    assert nasty.hidden_at is None and not AuditEvent.objects.exists()


@pytest.mark.parametrize("who", ["alice", "stranger_staff"])
def test_message_hide_is_refused_without_the_permission(nasty, who, request):
    with pytest.raises(PermissionDenied):
        services.message_hide(
            message=nasty, moderator=request.getfixturevalue(who), reason="because"
        )
    nasty.refresh_from_db()
    assert nasty.hidden_at is None


def test_message_hide_twice_is_a_conflict(nasty, mod):
    services.message_hide(message=nasty, moderator=mod, reason="insults")
    with pytest.raises(Conflict):
        services.message_hide(message=nasty, moderator=mod, reason="again")


def test_message_unhide_shows_it_again_and_keeps_the_old_reason_in_the_log(nasty, mod, bob):
    services.message_hide(message=nasty, moderator=mod, reason="insults")
    services.message_unhide(message=nasty, moderator=mod, reason="context: it was a quote")

    nasty.refresh_from_db()
    assert nasty.hidden_at is None and nasty.hidden_by is None and nasty.hidden_reason == ""
    (event,) = audit("message.unhidden")
    assert event.reason == "context: it was a quote"
    assert event.data["hidden_reason"] == "insults"
    page = selectors.message_page(user=bob, conversation_id=nasty.conversation_id)
    assert page.items[3].visible_content == "you are all idiots"
    with pytest.raises(Conflict):
        services.message_unhide(message=nasty, moderator=mod, reason="again")


# --- reports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "status"),
    [(services.report_resolve, "resolved"), (services.report_dismiss, "dismissed")],
)
def test_report_close_records_who_and_when(report, mod, nasty, service, status):
    service(report=report, moderator=mod, note="looked at it")

    report.refresh_from_db()
    assert report.status == status and report.resolved_by == mod and report.resolved_at
    (event,) = audit(f"report.{status}")
    assert event.actor == mod and event.target_id == str(report.pk)
    assert event.reason == "looked at it" and event.data["message"] == str(nasty.pk)
    nasty.refresh_from_db()
    assert nasty.hidden_at is None
    with pytest.raises(Conflict):
        service(report=report, moderator=mod)


def test_report_close_is_refused_to_participants(report, alice):
    with pytest.raises(PermissionDenied):
        services.report_dismiss(report=report, moderator=alice)
    report.refresh_from_db()
    assert report.status == ReportStatus.OPEN


# --- conversations ---------------------------------------------------------------------------


def test_moderator_moves_a_conversation_to_the_trash_and_back(group, mod, alice, bob):
    services.conversation_delete_by_moderator(conversation=group, moderator=mod, reason="spam")

    group.refresh_from_db()
    assert group.deleted_at is not None and group.deleted_by == mod
    with pytest.raises(NotFound):
        selectors.conversation_get_for_user(user=bob, conversation_id=group.pk)
    assert audit("conversation.deleted")[0].reason == "spam"
    assert Event.objects.filter(conversation=group, type="conversation.deleted").exists()
    with pytest.raises(Conflict):
        services.conversation_delete_by_moderator(conversation=group, moderator=mod, reason="x")

    services.conversation_restore_by_moderator(conversation=group, moderator=mod, reason="oops")
    group.refresh_from_db()
    assert group.deleted_at is None
    assert selectors.conversation_get_for_user(user=bob, conversation_id=group.pk) == group
    assert audit("conversation.restored")[0].data["deleted_by"] == str(mod.pk)


def test_moderator_trash_is_refused_to_participants(group, alice):
    with pytest.raises(PermissionDenied):
        services.conversation_delete_by_moderator(conversation=group, moderator=alice, reason="x")


@pytest.fixture
def rich_group(group, post, alice, bob, charlie, report):
    """alice's group in the trash: messages with parts and a stored artifact, a report."""
    turn = services.assistant_message_start(conversation=group, agent=None)
    part = services.message_part_add(message=turn, type="file", content={"name": "a.txt"})
    artifact = services.artifact_create(part=part, kind="file", data=b"hello", path="a.txt")
    services.assistant_message_finish(message=turn, content="done")
    services.conversation_delete(conversation=group, actor=alice)
    group.refresh_from_db()
    return group, artifact


def test_purge_removes_everything_and_logs_counts_not_content(
    rich_group, boss, django_capture_on_commit_callbacks
):
    group, artifact = rich_group
    name = artifact.file.name
    assert default_storage.exists(name)
    preview = services.conversation_purge_preview(conversation=group)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.conversation_purge(conversation=group, actor=boss, reason="illegal")

    assert result.counts == preview
    assert result.counts.messages == 8 and result.counts.parts == 1
    assert result.counts.artifacts == 1 and result.counts.artifact_bytes == 5
    assert result.counts.reports == 1 and result.counts.participants == 2
    for model in (Conversation, Message, MessagePart, Artifact, Report, Participant):
        assert not model.objects.exists(), model
    assert not Event.objects.filter(conversation_id=group.pk).exists()
    assert not default_storage.exists(name)

    (event,) = audit("conversation.purged")
    assert event.actor == boss and event.target_id == str(group.pk)
    assert event.reason == "illegal"
    assert event.data["messages"] == 8 and event.data["files"] == 1
    assert "Plans" not in str(event.data)  # the title went with the rest


def test_purge_keeps_files_when_the_transaction_rolls_back(rich_group, boss):
    group, artifact = rich_group
    with pytest.raises(RuntimeError), transaction.atomic():
        services.conversation_purge(conversation=group, actor=boss, reason="illegal")
        raise RuntimeError
    assert Conversation.objects.filter(pk=group.pk).exists()
    assert default_storage.exists(artifact.file.name)


def test_purge_needs_the_conversation_in_the_trash(group, boss):
    with pytest.raises(Conflict):
        services.conversation_purge(conversation=group, actor=boss, reason="illegal")
    assert Conversation.objects.filter(pk=group.pk).exists()


def test_purge_is_refused_to_moderators(rich_group, mod):
    group, _ = rich_group
    with pytest.raises(PermissionDenied):
        services.conversation_purge(conversation=group, actor=mod, reason="illegal")
    assert Conversation.objects.filter(pk=group.pk).exists()
    assert not audit("conversation.purged")
