"""The audit log and the event log in the admin: read-only for everyone."""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from chatapp.accounts.models import ApiToken
from conversations.models import AuditEvent, Event

from .base import (
    ExactSearchMixin,
    LargeTableAdmin,
    ModerationAdmin,
    as_uuid,
    changelist_url,
    shorten,
)

AUDIT_TARGET_ADMIN = {
    "message": "admin:conversations_message_change",
    "conversation": "admin:conversations_conversation_change",
    "report": "admin:conversations_report_change",
    "participant": "admin:conversations_participant_change",
    "user": "admin:accounts_user_change",
    "api_token": "admin:accounts_apitoken_change",
}


@admin.register(AuditEvent)
class AuditEventAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["created_at", "actor", "action", "target", "short_reason"]
    list_filter = ["action", "target_type", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["actor"]
    search_fields = ["=target_id"]
    search_help_text = (
        "A target's id (message, conversation, report, user…), or an actor's username."
    )
    date_hierarchy = "created_at"
    fields = ["created_at", "actor", "action", "target_type", "target_id", "reason", "data"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        term = search_term.strip()
        pk = as_uuid(term)
        return queryset.filter(
            Q(target_id=str(pk) if pk else term) | Q(actor__username=term)
        ), False

    @admin.display(description="target")
    def target(self, event):
        label = f"{event.target_type} {event.target_id}"
        if event.target_type == "token_family":
            url = changelist_url(ApiToken, family=event.target_id)
            return format_html('<a href="{}">{}</a>', url, label)
        view = AUDIT_TARGET_ADMIN.get(event.target_type)
        if view is None or event.action == "conversation.purged":
            return label
        return format_html('<a href="{}">{}</a>', reverse(view, args=[event.target_id]), label)

    @admin.display(description="reason")
    def short_reason(self, event):
        return shorten(event.reason, 100)


@admin.register(Event)
class EventAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    """The live-update log behind GET /events (kept EVENTS_RETENTION_HOURS): for support."""

    list_display = ["id", "type", "conversation_id", "user_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["=conversation__id"]
    search_id_fields = ["conversation_id"]
    search_help_text = "A conversation id."
