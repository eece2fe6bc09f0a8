"""Moderation: reports by participants, and the moderators' acts on them — hiding and
unhiding messages, resolving and dismissing reports, moving conversations to the trash and
back, and purging them for good. Every act checks the actor's permission and writes an
AuditEvent in its own transaction (docs/moderation.md)."""

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from conversations.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from conversations.models import (
    Artifact,
    Conversation,
    ConversationKind,
    Event,
    Message,
    MessagePart,
    MessageRevision,
    Participant,
    Report,
    ReportReason,
    ReportStatus,
)

from .audit import audit_event_record
from .conversations import lock_conversation, lock_row
from .events import event_record, message_summary

logger = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 2000


# --- reports by participants -----------------------------------------------------------------


@transaction.atomic
def report_create(
    *, message: Message, reporter: AbstractBaseUser, reason: str, note: str = ""
) -> tuple[Report, bool]:
    """Report a message to the moderators. One open report per person and message: reporting
    again returns the open one (created is False). The caller has checked that the reporter
    may see the message.

    The report keeps the message's text as it is now (content_snapshot), read under the
    message's row lock so that an edit at the same moment is wholly before or after it:
    editing the message away afterwards hides nothing from the moderators."""
    if reason not in ReportReason.values:
        raise InvalidInput("reason", f"reason must be one of {', '.join(ReportReason.values)}.")
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput("note", f"A note is at most {NOTE_MAX_LENGTH} characters.")
    existing = Report.objects.filter(
        message=message, reporter=reporter, status=ReportStatus.OPEN
    ).first()
    if existing is not None:
        return existing, False
    snapshot = (
        Message.objects.select_for_update()
        .filter(pk=message.pk)
        .values_list("content", flat=True)
        .first()
    )
    if snapshot is None:
        raise NotFound("No such message.")
    try:
        with transaction.atomic():
            report = Report.objects.create(
                message=message,
                reporter=reporter,
                reason=reason,
                note=note,
                content_snapshot=snapshot,
            )
    except IntegrityError:  # the same person reported it at the same moment
        return Report.objects.get(
            message=message, reporter=reporter, status=ReportStatus.OPEN
        ), False
    return report, True


# --- shared checks ---------------------------------------------------------------------------


def clean_reason(reason: Any, *, required: bool = True) -> str:
    """A moderator's reason: trimmed text, required for acts that change what people see."""
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise InvalidInput("reason", "A reason must be text.")
    reason = reason.strip()
    if required and not reason:
        raise InvalidInput("reason", "Give a reason.")
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput("reason", f"A reason is at most {REASON_MAX_LENGTH} characters.")
    return reason


def require_permission(actor: AbstractBaseUser | None, permission: str, action: str) -> None:
    """Moderation services are called by the admin, which checks first; they check again so
    that no other caller can skip it. An inactive user has no permission at all."""
    if actor is None or not actor.is_authenticated or not actor.has_perm(permission):
        raise PermissionDenied(f"You may not {action}.")


def _announce_message(message: Message) -> None:
    """Participants' clients learn that the message changed (it is now shown, or not)."""
    event_record(
        conversation_id=message.conversation_id,
        type="message.updated",
        data=message_summary(message),
    )


# --- messages --------------------------------------------------------------------------------


@transaction.atomic
def message_hide(*, message: Message, moderator: AbstractBaseUser, reason: str) -> Message:
    """Hide a message: it keeps its place in the thread, participants read "removed by a
    moderator" and no content, moderators still see the text. Every open report on it is
    resolved by the same act."""
    require_permission(moderator, "conversations.hide_message", "hide messages")
    reason = clean_reason(reason)
    message = lock_row(message, missing="No such message.")
    if message.hidden_at is not None:
        raise Conflict("This message is already hidden.")
    message.hidden_at = timezone.now()
    message.hidden_by = moderator
    message.hidden_reason = reason
    message.save(update_fields=["hidden_at", "hidden_by", "hidden_reason", "updated_at"])
    resolved = [
        _close_report(report, moderator, ReportStatus.RESOLVED, f"message hidden: {reason}")
        for report in Report.objects.select_for_update().filter(
            message=message, status=ReportStatus.OPEN
        )
    ]
    audit_event_record(
        actor=moderator,
        action="message.hidden",
        target_type="message",
        target_id=message.pk,
        reason=reason,
        data={
            "conversation": str(message.conversation_id),
            "seq": message.seq,
            "sender": str(message.sender_id) if message.sender_id else None,
            "reports_resolved": [str(report.pk) for report in resolved],
        },
    )
    _announce_message(message)
    return message


@transaction.atomic
def message_unhide(*, message: Message, moderator: AbstractBaseUser, reason: str) -> Message:
    """Show a hidden message again, as it was."""
    require_permission(moderator, "conversations.hide_message", "unhide messages")
    reason = clean_reason(reason)
    message = lock_row(message, missing="No such message.")
    if message.hidden_at is None:
        raise Conflict("This message is not hidden.")
    previous = {
        "hidden_at": message.hidden_at.isoformat(),
        "hidden_by": str(message.hidden_by_id) if message.hidden_by_id else None,
        "hidden_reason": message.hidden_reason,
    }
    message.hidden_at = None
    message.hidden_by = None
    message.hidden_reason = ""
    message.save(update_fields=["hidden_at", "hidden_by", "hidden_reason", "updated_at"])
    audit_event_record(
        actor=moderator,
        action="message.unhidden",
        target_type="message",
        target_id=message.pk,
        reason=reason,
        data={"conversation": str(message.conversation_id), "seq": message.seq, **previous},
    )
    _announce_message(message)
    return message


# --- reports ---------------------------------------------------------------------------------


def _close_report(report: Report, moderator: AbstractBaseUser, status: str, reason: str) -> Report:
    """Close a locked open report and record it."""
    report.status = status
    report.resolved_by = moderator
    report.resolved_at = timezone.now()
    report.save(update_fields=["status", "resolved_by", "resolved_at", "updated_at"])
    audit_event_record(
        actor=moderator,
        action=f"report.{status}",
        target_type="report",
        target_id=report.pk,
        reason=reason,
        data={"message": str(report.message_id), "reason": report.reason},
    )
    return report


def _lock_open_report(report: Report) -> Report:
    report = lock_row(report, missing="No such report.")
    if report.status != ReportStatus.OPEN:
        raise Conflict(f"This report is already {report.status}.")
    return report


@transaction.atomic
def report_resolve(*, report: Report, moderator: AbstractBaseUser, note: str = "") -> Report:
    """Close a report as acted upon (the moderator dealt with it some other way than hiding,
    which resolves reports by itself)."""
    require_permission(moderator, "conversations.change_report", "resolve reports")
    note = clean_reason(note, required=False)
    return _close_report(_lock_open_report(report), moderator, ReportStatus.RESOLVED, note)


@transaction.atomic
def report_dismiss(*, report: Report, moderator: AbstractBaseUser, note: str = "") -> Report:
    """Close a report as unfounded: the message stays as it is."""
    require_permission(moderator, "conversations.change_report", "dismiss reports")
    note = clean_reason(note, required=False)
    return _close_report(_lock_open_report(report), moderator, ReportStatus.DISMISSED, note)


# --- conversations: trash, restore, purge ----------------------------------------------------


@transaction.atomic
def conversation_delete_by_moderator(
    *, conversation: Conversation, moderator: AbstractBaseUser, reason: str
) -> Conversation:
    """Move a conversation to the trash without taking part in it. Like a participant's
    delete it is soft: it can be restored until it is purged."""
    require_permission(moderator, "conversations.change_conversation", "delete conversations")
    reason = clean_reason(reason)
    conversation = lock_conversation(conversation)
    if conversation.is_deleted:
        raise Conflict("This conversation is already in the trash.")
    conversation.deleted_at = timezone.now()
    conversation.deleted_by = moderator
    conversation.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    audit_event_record(
        actor=moderator,
        action="conversation.deleted",
        target_type="conversation",
        target_id=conversation.pk,
        reason=reason,
        data={"workspace": str(conversation.workspace_id), "kind": conversation.kind},
    )
    event_record(
        conversation_id=conversation.pk, type="conversation.deleted", data={"by_moderator": True}
    )
    return conversation


@transaction.atomic
def conversation_restore_by_moderator(
    *, conversation: Conversation, moderator: AbstractBaseUser, reason: str
) -> Conversation:
    """Bring a conversation back from the trash. A direct conversation whose two people have
    started a new one since cannot come back beside it."""
    require_permission(moderator, "conversations.change_conversation", "restore conversations")
    reason = clean_reason(reason)
    conversation = lock_conversation(conversation)
    if not conversation.is_deleted:
        raise Conflict("This conversation is not in the trash.")
    if (
        conversation.kind == ConversationKind.DIRECT
        and Conversation.objects.alive()
        .filter(workspace_id=conversation.workspace_id, direct_key=conversation.direct_key)
        .exists()
    ):
        raise Conflict("A newer direct conversation between these two people exists.")
    previous = {
        "deleted_at": conversation.deleted_at.isoformat(),
        "deleted_by": str(conversation.deleted_by_id) if conversation.deleted_by_id else None,
    }
    conversation.deleted_at = None
    conversation.deleted_by = None
    conversation.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    audit_event_record(
        actor=moderator,
        action="conversation.restored",
        target_type="conversation",
        target_id=conversation.pk,
        reason=reason,
        data=previous,
    )
    event_record(
        conversation_id=conversation.pk, type="conversation.restored", data={"by_moderator": True}
    )
    return conversation


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge removes (or removed) with a conversation."""

    messages: int = 0
    revisions: int = 0  # earlier texts of edited messages
    parts: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    reports: int = 0
    participants: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"{self.messages} messages, {self.revisions} revisions, {self.parts} parts, "
            f"{self.artifacts} artifacts "
            f"({self.artifact_bytes} bytes), {self.reports} reports, "
            f"{self.participants} participants, {self.events} events"
        )


@dataclass(frozen=True)
class PurgeResult:
    conversation_id: Any
    counts: PurgeCounts
    files: int


def _artifacts_of(conversation_id: Any) -> QuerySet[Artifact]:
    return Artifact.objects.filter(part__message__conversation_id=conversation_id)


def conversation_purge_preview(*, conversation: Conversation) -> PurgeCounts:
    """A read, kept beside the purge so that the two count alike: what purging this
    conversation would remove. For the admin's confirmation page and --dry-run."""
    artifacts = _artifacts_of(conversation.pk).aggregate(count=Count("pk"), size=Sum("size"))
    return PurgeCounts(
        messages=Message.objects.filter(conversation_id=conversation.pk).count(),
        revisions=MessageRevision.objects.filter(message__conversation_id=conversation.pk).count(),
        parts=MessagePart.objects.filter(message__conversation_id=conversation.pk).count(),
        artifacts=artifacts["count"],
        artifact_bytes=artifacts["size"] or 0,
        reports=Report.objects.filter(message__conversation_id=conversation.pk).count(),
        participants=Participant.objects.filter(conversation_id=conversation.pk).count(),
        events=Event.objects.filter(conversation_id=conversation.pk).count(),
    )


def _delete_rows(queryset: QuerySet) -> int:
    """DELETE the rows in one statement. QuerySet.delete() would first load every message
    and part to look for cascades (and these tables hold millions of rows); here the
    purge removes each dependent table itself, children first, so there are none left."""
    return queryset._raw_delete(queryset.db)


def _delete_files(names: list[str]) -> None:
    """After commit: the artifacts' files, and their emptied folders on the local disk. A
    file that cannot be removed is logged and left for a storage sweep; the rows are gone
    either way."""
    storage = Artifact._meta.get_field("file").storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("purge: could not delete artifact file %s", name)
            continue
        # The emptied folder too, on a local disk (other storages have no path).
        with contextlib.suppress(NotImplementedError, OSError):
            os.rmdir(os.path.dirname(storage.path(name)))


@transaction.atomic
def conversation_purge(
    *,
    conversation: Conversation,
    actor: AbstractBaseUser | None,
    reason: str,
    deleted_before: datetime | None = None,
) -> PurgeResult:
    """Remove a conversation from the trash for good: its messages and their revisions, parts,
    artifacts (rows now, files once committed), reports, participants and events, in one
    transaction.
    Final, and recorded in the audit log with the counts of what went (no content).

    `actor` None is the system (the retention command); a person needs the
    delete_conversation permission, which only superusers have by default. Only a
    conversation already in the trash is purged; `deleted_before` also requires it to have
    been there since before that moment (it may have been restored meanwhile)."""
    if actor is not None:
        require_permission(actor, "conversations.delete_conversation", "purge conversations")
    reason = clean_reason(reason)
    conversation = lock_conversation(conversation)
    if not conversation.is_deleted:
        raise Conflict("Only a conversation in the trash can be purged; delete it first.")
    if deleted_before is not None and conversation.deleted_at >= deleted_before:
        raise Conflict("This conversation has not been in the trash long enough.")
    pk = conversation.pk
    artifacts = _artifacts_of(pk)
    files = [name for name in artifacts.values_list("file", flat=True) if name]
    artifact_bytes = artifacts.aggregate(size=Sum("size"))["size"] or 0
    # A reply from another conversation would block the delete; none should exist.
    Message.objects.filter(reply_to__conversation_id=pk).exclude(conversation_id=pk).update(
        reply_to=None
    )
    counts = PurgeCounts(
        artifacts=_delete_rows(artifacts),
        artifact_bytes=artifact_bytes,
        parts=_delete_rows(MessagePart.objects.filter(message__conversation_id=pk)),
        reports=_delete_rows(Report.objects.filter(message__conversation_id=pk)),
        revisions=_delete_rows(MessageRevision.objects.filter(message__conversation_id=pk)),
        messages=_delete_rows(Message.objects.filter(conversation_id=pk)),
        events=_delete_rows(Event.objects.filter(conversation_id=pk)),
        participants=_delete_rows(Participant.objects.filter(conversation_id=pk)),
    )
    audit_data = {
        "workspace": str(conversation.workspace_id),
        "kind": conversation.kind,
        "created_by": str(conversation.created_by_id) if conversation.created_by_id else None,
        "created_at": conversation.created_at.isoformat(),
        "deleted_at": conversation.deleted_at.isoformat(),
        "deleted_by": str(conversation.deleted_by_id) if conversation.deleted_by_id else None,
        **counts.as_dict(),
        "files": len(files),
    }
    # Nothing points at it any more; the ORM's delete also handles any relation added later.
    conversation.delete()
    audit_event_record(
        actor=actor,
        action="conversation.purged",
        target_type="conversation",
        target_id=pk,
        reason=reason,
        data=audit_data,
    )
    logger.info("purged conversation %s: %s", pk, counts.describe())
    if files:
        transaction.on_commit(lambda: _delete_files(files))
    return PurgeResult(conversation_id=pk, counts=counts, files=len(files))
