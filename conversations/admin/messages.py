"""Messages, their parts and artifacts in the admin: hiding and unhiding messages. The
list reads an excerpt of each text, never the whole."""

import json

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import Q
from django.db.models.functions import Substr
from django.urls import reverse
from django.utils.html import format_html

from conversations import services
from conversations.models import Artifact, Conversation, Message, MessagePart, MessageRevision

from .base import (
    ExactSearchMixin,
    LargeTableAdmin,
    ModerationAdmin,
    ReadOnlyInline,
    StateFilter,
    as_uuid,
    change_url,
    moderation_act,
    shorten,
)


class ConversationFilter(admin.SimpleListFilter):
    """Messages of one conversation (?conversation=<id>): the conversation's page links
    here. Shows the chosen conversation, with a way back to all."""

    title = "conversation"
    parameter_name = "conversation"

    def lookups(self, request, model_admin):
        pk = as_uuid(self.value() or "")
        if pk is None:
            return []
        conversation = Conversation.objects.filter(pk=pk).only("title", "kind").first()
        return [(str(pk), str(conversation) if conversation else "(no such conversation)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        pk = as_uuid(self.value())
        return queryset.filter(conversation_id=pk) if pk else queryset.none()


class HiddenFilter(StateFilter):
    title = "visibility"
    parameter_name = "visibility"
    states = {
        "visible": ("Visible", {"hidden_at__isnull": True, "deleted_at__isnull": True}),
        "hidden": ("Hidden by a moderator", {"hidden_at__isnull": False}),
        "deleted": ("Deleted by its author", {"deleted_at__isnull": False}),
    }


class MessagePartInline(ReadOnlyInline):
    model = MessagePart
    fields = ["index", "type", "tool_name", "part_content", "artifact_file"]
    select_related = ["artifact"]

    @admin.display(description="content")
    def part_content(self, part):
        return shorten(json.dumps(part.content, ensure_ascii=False), 500)

    @admin.display(description="artifact")
    def artifact_file(self, part):
        artifact = getattr(part, "artifact", None)
        if artifact is None:
            return "-"
        return f"{artifact.path or artifact.file.name} ({artifact.size:,} bytes)"


class MessageRevisionInline(ReadOnlyInline):
    """The texts the message's edits replaced, oldest first, in full: whoever may read the
    message (view_message) reads them; nobody changes or removes one here."""

    model = MessageRevision
    fields = ["number", "content", "created_at"]
    verbose_name = "earlier text"
    verbose_name_plural = "earlier texts (each replaced by an edit at the time shown)"
    # Revisions have no page of their own: they are read here, with their message.
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("conversations.view_message")


EXCERPT_LENGTH = 120


@admin.register(Message)
class MessageAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = [
        "number",
        "conversation_link",
        "author",
        "excerpt",
        "status",
        "is_hidden",
        "created_at",
    ]
    list_display_links = ["number"]
    list_filter = [
        ConversationFilter,
        HiddenFilter,
        "role",
        "status",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["conversation", "sender"]
    search_fields = ["content"]  # narrowed in get_search_results
    search_help_text = (
        "A message or conversation id, or the exact username of a sender. Within one "
        "conversation, also words of the text."
    )
    inlines = [MessageRevisionInline, MessagePartInline]
    actions = ["hide_selected", "unhide_selected"]
    object_acts = {"hide": ("hide", "_hide"), "unhide": ("hide", "_unhide")}
    fieldsets = [
        (None, {"fields": ["id", "conversation", "seq", "role", "status", "sender", "agent"]}),
        # Where it is among the versions of its turn (docs/data-model.md).
        ("Versions", {"fields": ["position", "line", "version", "parent"]}),
        ("Text", {"fields": ["visibility", "content", "reply_to", "edited_at", "deleted_at"]}),
        ("Moderation", {"fields": ["hidden_at", "hidden_by", "hidden_reason"]}),
        (
            "Generation",
            {
                "fields": [
                    "provider",
                    "model",
                    "created_at",
                    "completed_at",
                    "latency_ms",
                    "ttft_ms",
                    "prompt_tokens",
                    "completion_tokens",
                    "cached_input_tokens",
                    "reasoning_tokens",
                    "error",
                    "error_type",
                    "is_aborted",
                    "meta",
                ]
            },
        ),
    ]
    readonly_fields = ["id", "visibility", "parent"]

    # The list reads a short excerpt, never the whole text (up to 100,000 characters).
    list_defer = ["content", "meta", "error_details", "error", "conversation__metadata"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(excerpt_text=Substr("content", 1, EXCERPT_LENGTH))
        )

    def get_ordering(self, request):
        # One conversation: its thread order, from the (conversation, seq) index. All:
        # newest first, from the created_at index.
        if request.GET.get(ConversationFilter.parameter_name):
            return ["conversation_id", "seq"]
        return ["-created_at"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        term = search_term.strip()
        pk = as_uuid(term)
        if pk is not None:
            return queryset.filter(Q(pk=pk) | Q(conversation_id=pk)), False
        matches = Q(sender__username=term)
        # The text is searched only within one conversation: across millions of messages
        # a substring search reads them all (the API's /search has the full-text index).
        if as_uuid(request.GET.get(ConversationFilter.parameter_name, "")):
            matches |= Q(content__icontains=term)
        return queryset.filter(matches), False

    @admin.display(description="#", ordering="seq")
    def number(self, message):
        return f"#{message.seq}"

    @admin.display(description="conversation")
    def conversation_link(self, message):
        return format_html(
            '<a href="{}">{}</a>', change_url(message.conversation), message.conversation
        )

    @admin.display(description="from", ordering="sender__username")
    def author(self, message):
        """The sender's username, or the role when nobody sent it (the assistant): one
        column where role and sender did not fit a laptop's screen."""
        return message.sender.username if message.sender else message.get_role_display()

    @admin.display(description="text")
    def excerpt(self, message):
        text = message.excerpt_text or ""
        return text + "…" if len(text) == EXCERPT_LENGTH else text

    @admin.display(description="hidden", boolean=True, ordering="hidden_at")
    def is_hidden(self, message):
        return message.hidden_at is not None

    @admin.display(description="participants see")
    def visibility(self, message):
        if message.hidden_at is not None:
            return "“Removed by a moderator” (you see the text below)"
        if message.deleted_at is not None:
            return "“Deleted” (by its author; you see the text below)"
        return "The text below"

    def has_hide_permission(self, request):
        return request.user.has_perm("conversations.hide_message")

    def object_links(self, request, obj):
        links = [("Conversation", change_url(obj.conversation))]
        if self.has_hide_permission(request):
            if obj.hidden_at is None:
                links.append(("Hide…", self.act_url(obj, "hide")))
            else:
                links.append(("Unhide…", self.act_url(obj, "unhide")))
        return links

    def _hide(self, request, messages_to_hide):
        return hide_messages(self, request, messages_to_hide)

    def _unhide(self, request, messages_to_show):
        return moderation_act(
            self,
            request,
            messages_to_show,
            title="Unhide messages",
            submit_label="Unhide",
            intro="Participants see these messages again as they were.",
            describe=_message_details,
            act=lambda message, reason: services.message_unhide(
                message=message, moderator=request.user, reason=reason
            ),
        )

    @admin.action(description="Hide selected messages…", permissions=["hide"])
    def hide_selected(self, request, queryset):
        return self._hide(request, queryset.defer(None))

    @admin.action(description="Unhide selected messages…", permissions=["hide"])
    def unhide_selected(self, request, queryset):
        return self._unhide(request, queryset.defer(None))


def message_line(message: Message) -> str:
    """A message on a confirmation page: its number, who sent it, the start of its text."""
    return f"#{message.seq} by {message.sender or message.role}: {shorten(message.content, 300)}"


def _message_details(message: Message) -> list[str]:
    details = [message_line(message)]
    if message.hidden_at is not None:
        details.append(f"hidden since {message.hidden_at:%Y-%m-%d %H:%M}: {message.hidden_reason}")
    return details


def hide_messages(model_admin, request, messages_to_hide):
    return moderation_act(
        model_admin,
        request,
        messages_to_hide,
        title="Hide messages",
        submit_label="Hide",
        intro=(
            "Participants will see “removed by a moderator” in place of these messages; "
            "moderators still see the text. Open reports on them are resolved."
        ),
        describe=_message_details,
        act=lambda message, reason: services.message_hide(
            message=message, moderator=request.user, reason=reason
        ),
    )


@admin.register(MessagePart)
class MessagePartAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    list_display = ["__str__", "message_link", "type", "tool_name", "step_index", "created_at"]
    list_filter = ["type"]
    list_select_related = ["message"]
    search_fields = ["=tool_name"]
    search_id_fields = ["message_id"]
    search_exact_fields = ["tool_name"]
    search_help_text = "A message id, or a tool's exact name."
    list_defer = ["content", "message__content", "message__meta", "message__error_details"]

    @admin.display(description="message")
    def message_link(self, part):
        return format_html('<a href="{}">{}</a>', change_url(part.message), part.message)


@admin.register(Artifact)
class ArtifactAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["__str__", "kind", "mime", "size", "message_link", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["part"]
    search_fields = ["=sha256"]
    search_help_text = "An artifact's exact SHA-256."

    @admin.display(description="message")
    def message_link(self, artifact):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:conversations_message_change", args=[quote(artifact.part.message_id)]),
            artifact.part.message_id,
        )
