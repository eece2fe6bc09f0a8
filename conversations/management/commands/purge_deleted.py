"""manage.py purge_deleted: remove for good the conversations that have been in the trash
longer than RETENTION_DAYS (or --older-than DAYS), and say what went. Run it daily (cron,
a systemd timer). Each conversation is purged in its own transaction by the same service
as the admin's purge, and recorded in the audit log with actor "system"."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from conversations import services
from conversations.exceptions import ChatError
from conversations.models import Conversation

logger = logging.getLogger("conversations.purge")


class Command(BaseCommand):
    help = "Purge conversations that have been in the trash longer than RETENTION_DAYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help="Days in the trash before a purge (default: RETENTION_DAYS, now %(default)s).",
            default=settings.RETENTION_DAYS,
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be purged, with counts, and remove nothing.",
        )

    def handle(self, *args, older_than: int, dry_run: bool, **options):
        if older_than < 0:
            raise CommandError("--older-than is a number of days, 0 or more.")
        cutoff = timezone.now() - timedelta(days=older_than)
        expired = (
            Conversation.objects.deleted()
            .filter(deleted_at__lt=cutoff)
            .order_by("deleted_at")
            .only("id", "title", "kind", "deleted_at")
        )
        reason = f"retention: in the trash longer than {older_than} days"
        purged = failed = 0
        totals: dict[str, int] = {}
        # Read first, then purge: no cursor stays open over rows being deleted.
        for conversation in list(expired):
            label = (
                f"{conversation.pk} “{conversation}” "
                f"(in the trash since {conversation.deleted_at:%Y-%m-%d})"
            )
            if dry_run:
                counts = services.conversation_purge_preview(conversation=conversation)
            else:
                try:
                    counts = services.conversation_purge(
                        conversation=conversation,
                        actor=None,
                        reason=reason,
                        deleted_before=cutoff,
                    ).counts
                except ChatError as error:  # restored meanwhile, say
                    failed += 1
                    self.stderr.write(f"skipped {label}: {error.message}")
                    logger.warning("purge_deleted skipped %s: %s", conversation.pk, error.message)
                    continue
            purged += 1
            for name, value in counts.as_dict().items():
                totals[name] = totals.get(name, 0) + value
            verb = "would purge" if dry_run else "purged"
            self.stdout.write(f"{verb} {label}: {counts.describe()}")

        summary = services.PurgeCounts(**totals).describe() if totals else "nothing"
        verb = "Would purge" if dry_run else "Purged"
        self.stdout.write(
            f"{verb} {purged} conversations in the trash longer than {older_than} days: {summary}."
        )
        if failed:
            self.stdout.write(f"Skipped {failed}.")
        if not dry_run:
            logger.info(
                "purge_deleted: %s conversations purged, %s skipped, older than %s days: %s",
                purged,
                failed,
                older_than,
                summary,
            )
