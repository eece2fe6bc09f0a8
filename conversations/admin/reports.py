"""Reports in the admin: the moderation queue, each report with the messages around it;
resolving, dismissing, hiding the reported message."""

from django.contrib import admin
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Substr
from django.utils.html import format_html

from conversations import services
from conversations.models import Message, MessageRevision, Report, ReportStatus

from .base import (
    ExactSearchMixin,
    LargeTableAdmin,
    ModerationAdmin,
    change_url,
    changelist_url,
    moderation_act,
)
from .messages import EXCERPT_LENGTH, hide_messages, message_line

CONTEXT_MESSAGES = 3  # shown before and after the reported message


@admin.register(Report)
class ReportAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    list_display = [
        "summary",
        "message_excerpt",
        "message_sender",
        "conversation_link",
        "reporter",
        "created_at",
    ]
    # The reason and status open the report: its __str__ ("Spam report on <message uuid>
    # (open)") made the list wider than a laptop's screen.
    list_display_links = ["summary"]
    list_filter = ["status", "reason", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["message__sender", "message__conversation", "reporter", "resolved_by"]
    search_fields = ["=reporter__username"]
    search_id_fields = ["message_id", "message__conversation_id"]
    search_exact_fields = ["reporter__username"]
    search_help_text = "A message or conversation id, or the exact username of a reporter."
    date_hierarchy = "created_at"
    change_form_template = "admin/conversations/report/change_form.html"
    actions = ["resolve_selected", "dismiss_selected", "hide_reported_messages"]
    object_acts = {
        "resolve": ("resolve", "_resolve"),
        "dismiss": ("resolve", "_dismiss"),
        "hide": ("hide", "_hide"),
    }
    fields = [
        "message",
        "reporter",
        "reason",
        "note",
        "status",
        "resolved_by",
        "resolved_at",
        "created_at",
    ]

    list_defer = [
        "content_snapshot",
        "message__content",
        "message__meta",
        "message__error_details",
        "message__conversation__metadata",
    ]

    def get_ordering(self, request):
        # The queue: open reports first, oldest first (the index report_open_queue); then
        # the closed ones, newest first.
        is_open = Q(status=ReportStatus.OPEN)
        return [
            Case(When(is_open, then=Value(0)), default=Value(1), output_field=IntegerField()),
            Case(When(is_open, then=F("created_at"))).asc(),
            F("created_at").desc(),
        ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            # The text as reported: what its author may have edited since is on the page.
            .annotate(message_text=Substr("content_snapshot", 1, EXCERPT_LENGTH))
        )

    @admin.display(description="report", ordering="status")
    def summary(self, report):
        """What was reported and where it stands ("Spam · open"), in one column."""
        return f"{report.get_reason_display()} · {report.get_status_display().lower()}"

    @admin.display(description="message as reported")
    def message_excerpt(self, report):
        text = report.message_text or ""
        if len(text) == EXCERPT_LENGTH:
            text += "…"
        if report.message.hidden_at is not None:
            return format_html("<strong>[hidden]</strong> {}", text)
        return text

    @admin.display(description="sender")
    def message_sender(self, report):
        return report.message.sender or report.message.get_role_display()

    @admin.display(description="conversation")
    def conversation_link(self, report):
        conversation = report.message.conversation
        return format_html('<a href="{}">{}</a>', change_url(conversation), conversation)

    def object_context(self, request, report):
        message = report.message
        around = list(
            Message.objects.filter(
                conversation_id=message.conversation_id,
                seq__gte=message.seq - CONTEXT_MESSAGES,
                seq__lte=message.seq + CONTEXT_MESSAGES,
            )
            .select_related("sender")
            .order_by("seq")
        )
        return {
            "report": report,
            "reported_message": message,
            # Edited since the report: the page shows the text now beside the snapshot.
            "edited_since_report": message.edited_at is not None
            and message.edited_at > report.created_at,
            # Every earlier text, newest first (in full: editing a reported message away
            # must hide nothing from the moderator).
            "revisions": list(MessageRevision.objects.filter(message=message).order_by("-number")),
            "context_messages": around,
            "conversation": message.conversation,
            "thread_url": changelist_url(Message, conversation=message.conversation_id),
            "other_reports": list(
                Report.objects.filter(message=message)
                .exclude(pk=report.pk)
                .select_related("reporter")
                .order_by("created_at")
            ),
        }

    def has_resolve_permission(self, request):
        return request.user.has_perm("conversations.change_report")

    def has_hide_permission(self, request):
        return request.user.has_perm("conversations.hide_message")

    def object_links(self, request, report):
        links = []
        if report.status == ReportStatus.OPEN and self.has_resolve_permission(request):
            links += [
                ("Resolve…", self.act_url(report, "resolve")),
                ("Dismiss…", self.act_url(report, "dismiss")),
            ]
        if report.message.hidden_at is None and self.has_hide_permission(request):
            links.append(("Hide the message…", self.act_url(report, "hide")))
        links.append(("The message", change_url(report.message)))
        return links

    def _close(self, request, reports, *, status):
        resolve = status == ReportStatus.RESOLVED
        service = services.report_resolve if resolve else services.report_dismiss
        return moderation_act(
            self,
            request,
            reports,
            title="Resolve reports" if resolve else "Dismiss reports",
            submit_label="Resolve" if resolve else "Dismiss",
            intro=(
                "The reports are closed as dealt with; the messages stay as they are."
                if resolve
                else "The reports are closed as unfounded; the messages stay as they are."
            ),
            reason_required=False,
            reason_label="Note",
            describe=_report_details,
            act=lambda report, note: service(report=report, moderator=request.user, note=note),
        )

    def _resolve(self, request, reports):
        return self._close(request, reports, status=ReportStatus.RESOLVED)

    def _dismiss(self, request, reports):
        return self._close(request, reports, status=ReportStatus.DISMISSED)

    def _hide(self, request, reports):
        # One act per message, however many reports it has; hiding resolves them all.
        reported = {}
        for report in reports:
            reported.setdefault(report.message_id, report.message)
        return hide_messages(self, request, list(reported.values()))

    @admin.action(description="Resolve selected reports…", permissions=["resolve"])
    def resolve_selected(self, request, queryset):
        return self._resolve(request, queryset.defer(None))

    @admin.action(description="Dismiss selected reports…", permissions=["resolve"])
    def dismiss_selected(self, request, queryset):
        return self._dismiss(request, queryset.defer(None))

    @admin.action(description="Hide the reported messages…", permissions=["hide"])
    def hide_reported_messages(self, request, queryset):
        return self._hide(request, queryset.defer(None))


def _report_details(report: Report) -> list[str]:
    details = [
        f"{report.get_reason_display()} report by {report.reporter or 'a deleted user'}"
        + (f": {report.note}" if report.note else ""),
        f"on {message_line(report.message)}",
    ]
    if report.status != ReportStatus.OPEN:
        details.append(f"already {report.status}")
    return details
