"""Conversations and their participants in the admin: moving to the trash, restoring and
purging for good. A conversation's page links to its messages, filtered and paged, rather
than loading them."""

from django.contrib import admin
from django.utils.html import format_html

from conversations import services
from conversations.models import Conversation, Message, Participant, Report, ReportStatus

from .base import (
    ExactSearchMixin,
    LargeTableAdmin,
    ModerationAdmin,
    ReadOnlyInline,
    StateFilter,
    as_uuid,
    changelist_url,
    moderation_act,
)


class TrashFilter(StateFilter):
    title = "trash"
    parameter_name = "trash"
    states = {
        "live": ("Not in the trash", {"deleted_at__isnull": True}),
        "deleted": ("In the trash", {"deleted_at__isnull": False}),
    }


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = ["user", "role", "joined_at", "left_at", "last_read_seq"]
    select_related = ["user"]


@admin.register(Conversation)
class ConversationAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = [
        "display_title",
        "kind",
        "workspace",
        "created_by",
        "state",
        "messages_count",
        "last_activity_at",
    ]
    list_filter = [
        TrashFilter,
        "kind",
        "status",
        ("last_activity_at", admin.DateFieldListFilter),
        ("deleted_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["title"]  # with ids and usernames: get_search_results
    search_help_text = "A title, a conversation id, or the exact username of its creator."
    inlines = [ParticipantInline]
    actions = ["delete_selected_conversations", "restore_selected_conversations", "purge_selected"]
    object_acts = {
        "delete": ("trash", "_delete"),
        "restore": ("trash", "_restore"),
        "purge": ("purge", "_purge"),
    }
    fieldsets = [
        (None, {"fields": ["id", "title", "kind", "status", "workspace", "agent", "created_by"]}),
        (
            "Activity",
            {"fields": ["messages_link", "last_activity_at", "open_reports", "created_at"]},
        ),
        ("Usage", {"fields": ["usage_totals", "tool_counts"]}),
        ("Trash", {"fields": ["deleted_at", "deleted_by"]}),
        ("Subject and metadata", {"fields": ["subject_type", "subject_id", "metadata"]}),
    ]
    readonly_fields = ["id", "messages_link", "open_reports", "usage_totals"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        pk = as_uuid(search_term)
        if pk is not None:
            return queryset.filter(pk=pk), False
        results, duplicates = super().get_search_results(request, queryset, search_term)
        return results | queryset.filter(created_by__username=search_term.strip()), duplicates

    @admin.display(description="title", ordering="title")
    def display_title(self, conversation):
        return conversation.title or f"({conversation.get_kind_display()}, untitled)"

    # A short heading: with Django's "message count" and its long dates (now short, in
    # chatapp/formats/en) the list was wider than a 1366 px screen.
    @admin.display(description="messages", ordering="message_count")
    def messages_count(self, conversation):
        return conversation.message_count

    @admin.display(description="status", ordering="deleted_at")
    def state(self, conversation):
        """Its status, or that it is in the trash: one column where two did not fit."""
        return "In trash" if conversation.deleted_at else conversation.get_status_display()

    @admin.display(description="messages")
    def messages_link(self, conversation):
        return format_html(
            '<a href="{}">{} messages</a> (newest last, paged)',
            changelist_url(Message, conversation=conversation.pk),
            conversation.message_count,
        )

    @admin.display(description="open reports")
    def open_reports(self, conversation):
        count = Report.objects.filter(
            message__conversation=conversation, status=ReportStatus.OPEN
        ).count()
        if not count:
            return "none"
        return format_html(
            '<a href="{}">{} open</a>',
            changelist_url(Report, q=conversation.pk, status="open"),
            count,
        )

    @admin.display(description="token and tool totals")
    def usage_totals(self, conversation):
        return (
            f"{conversation.total_input_tokens:,} input, "
            f"{conversation.total_output_tokens:,} output, "
            f"{conversation.total_cached_tokens:,} cached, "
            f"{conversation.total_reasoning_tokens:,} reasoning tokens; "
            f"{conversation.total_tool_time_ms:,} ms in tools"
        )

    # Permissions of the acts: soft-delete and restore are moderation (change_conversation);
    # a purge is final and needs delete_conversation, which only superusers have by default.
    def has_trash_permission(self, request):
        return request.user.has_perm("conversations.change_conversation")

    def has_purge_permission(self, request):
        return request.user.has_perm("conversations.delete_conversation")

    def object_links(self, request, obj):
        links = [("Messages", changelist_url(Message, conversation=obj.pk))]
        if self.has_trash_permission(request):
            if obj.is_deleted:
                links.append(("Restore…", self.act_url(obj, "restore")))
            else:
                links.append(("Move to trash…", self.act_url(obj, "delete")))
        if obj.is_deleted and self.has_purge_permission(request):
            links.append(("Purge…", self.act_url(obj, "purge")))
        return links

    def _delete(self, request, conversations):
        return moderation_act(
            self,
            request,
            conversations,
            title="Move conversations to the trash",
            submit_label="Move to trash",
            intro=(
                "Participants no longer see these conversations. They stay restorable "
                "until they are purged."
            ),
            act=lambda conversation, reason: services.conversation_delete_by_moderator(
                conversation=conversation, moderator=request.user, reason=reason
            ),
        )

    def _restore(self, request, conversations):
        return moderation_act(
            self,
            request,
            conversations,
            title="Restore conversations",
            submit_label="Restore",
            intro="These conversations come back for their participants.",
            act=lambda conversation, reason: services.conversation_restore_by_moderator(
                conversation=conversation, moderator=request.user, reason=reason
            ),
        )

    def _purge(self, request, conversations):
        def describe(conversation):
            counts = services.conversation_purge_preview(conversation=conversation)
            return [
                f"in the trash since {conversation.deleted_at:%Y-%m-%d %H:%M}"
                if conversation.deleted_at
                else "not in the trash: it cannot be purged until it is",
                f"{counts.messages} messages and {counts.parts} message parts",
                f"{counts.revisions} earlier texts of edited messages",
                f"{counts.artifacts} artifacts ({counts.artifact_bytes:,} bytes of files)",
                f"{counts.reports} reports, {counts.participants} participants, "
                f"{counts.events} live-update events",
            ]

        return moderation_act(
            self,
            request,
            conversations,
            title="Purge conversations for good",
            submit_label="Purge permanently",
            intro=(
                "Everything listed goes, for good: there is no undo. The audit log keeps "
                "the counts, not the content."
            ),
            describe=describe,
            act=lambda conversation, reason: services.conversation_purge(
                conversation=conversation, actor=request.user, reason=reason
            ),
        )

    @admin.action(description="Move selected conversations to the trash…", permissions=["trash"])
    def delete_selected_conversations(self, request, queryset):
        return self._delete(request, queryset)

    @admin.action(description="Restore selected conversations…", permissions=["trash"])
    def restore_selected_conversations(self, request, queryset):
        return self._restore(request, queryset)

    @admin.action(description="Purge selected conversations for good…", permissions=["purge"])
    def purge_selected(self, request, queryset):
        return self._purge(request, queryset)


@admin.register(Participant)
class ParticipantAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    list_display = ["user", "conversation", "role", "joined_at", "left_at", "archived_at"]
    list_filter = ["role"]
    list_select_related = ["user", "conversation"]
    search_fields = ["=user__username"]
    search_id_fields = ["conversation_id"]
    search_exact_fields = ["user__username"]
    search_help_text = "An exact username, or a conversation id."
