"""Reports of messages by participants. (Moderators' acts come with the admin work.)"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction

from conversations.exceptions import InvalidInput
from conversations.models import Message, Report, ReportReason, ReportStatus

NOTE_MAX_LENGTH = 2000


@transaction.atomic
def report_create(
    *, message: Message, reporter: AbstractBaseUser, reason: str, note: str = ""
) -> tuple[Report, bool]:
    """Report a message to the moderators. One open report per person and message: reporting
    again returns the open one (created is False). The caller has checked that the reporter
    may see the message."""
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
    try:
        with transaction.atomic():
            report = Report.objects.create(
                message=message, reporter=reporter, reason=reason, note=note
            )
    except IntegrityError:  # the same person reported it at the same moment
        return Report.objects.get(
            message=message, reporter=reporter, status=ReportStatus.OPEN
        ), False
    return report, True
