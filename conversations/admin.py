"""The Django admin: moderation, support and retention (docs/moderation.md).

Domain rows are read-only here for everyone, superusers included: every change is a
moderation act (hide, resolve, trash, purge…) that goes through its service, after a
confirmation page asking for a reason, and writes an AuditEvent. Agents are the exception:
staff manage them with the ordinary form (issue 4).

The big tables (messages, parts, events) are listed without a full COUNT(*) (see
LargeTablePaginator) and without facet counts; a conversation's page links to its messages,
filtered and paged, rather than loading them.
"""

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Substr
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from chatapp.accounts.models import ApiToken
from conversations import services
from conversations.exceptions import ChatError
from conversations.models import (
    Agent,
    Artifact,
    AuditEvent,
    Conversation,
    Event,
    Membership,
    Message,
    MessagePart,
    Participant,
    Report,
    ReportStatus,
    Workspace,
)
from conversations.services.moderation import REASON_MAX_LENGTH

# --- listing big tables ----------------------------------------------------------------------


class LargeTablePaginator(Paginator):
    """A paginator that does not COUNT(*) millions of rows on every page.

    On PostgreSQL it first asks the planner how many rows the query would return (an
    EXPLAIN: planning only, no rows read). Past ESTIMATE_ABOVE rows it takes that estimate
    as the count: the page links are then approximate, and a page past the real end is
    empty. Below it, and on SQLite, it counts exactly.
    """

    ESTIMATE_ABOVE = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql":
            estimate = _planner_row_estimate(queryset)
            if estimate > self.ESTIMATE_ABOVE:
                return estimate
        return queryset.count()


def _planner_row_estimate(queryset: models.QuerySet) -> int:
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # a query Django knows matches nothing (.none(), an id out of range)
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class LeanChangeList(ChangeList):
    """A changelist that leaves out the columns its ModelAdmin's `list_defer` names (long
    texts, JSON): the list never shows them, and its rows stay small."""

    def get_filters(self, request):
        # Django reads the date hierarchy's ?created_at__year= with int() and datetime(),
        # and turns only a ValueError into its "invalid lookup" answer: a year past what
        # datetime() takes (OverflowError) would be a 500.
        try:
            return super().get_filters(request)
        except OverflowError as error:
            raise IncorrectLookupParameters(error) from error

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = getattr(self.model_admin, "list_defer", ())
        return queryset.defer(*deferred) if deferred else queryset


class LargeTableAdmin(admin.ModelAdmin):
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_defer: list[str] = []

    def get_changelist(self, request, **kwargs):
        return LeanChangeList


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


def change_url(obj: models.Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def changelist_url(model: type[models.Model], **filters: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


# --- moderation acts: a confirmation page with a reason, then the service --------------------

# One confirmation lists at most this many objects; select fewer or filter first.
MAX_OBJECTS_PER_ACT = 500


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Kept in the audit log.",
    )

    def __init__(self, *args, required: bool = True, label: str = "Reason", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        self.fields["reason"].label = label
        if not required:
            self.fields["reason"].help_text = "Optional; kept in the audit log."


@dataclass
class ActRow:
    """One object on a confirmation page: what it is, where it is, what the act touches."""

    object: Any
    url: str
    details: list[str] = field(default_factory=list)


def moderation_act(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Sequence[Any] | models.QuerySet,
    *,
    title: str,
    submit_label: str,
    act: Callable[[Any, str], Any],
    reason_required: bool = True,
    reason_label: str = "Reason",
    intro: str = "",
    describe: Callable[[Any], list[str]] | None = None,
    cancel_url: str = "",
) -> HttpResponse | None:
    """Show the confirmation page of a moderation act for `objects`, or, once confirmed with a
    valid reason, call `act(object, reason)` (a service) for each and report how it went.

    Serves both a changelist action (the page posts the selection back to the changelist,
    like Django's delete confirmation) and an object's own page (it posts to itself).
    Returns None when the act is done; the caller then goes back where it came from.
    """
    # One more than allowed is enough to know there are too many ("select all" may be
    # millions).
    objects = list(objects[: MAX_OBJECTS_PER_ACT + 1])
    if len(objects) > MAX_OBJECTS_PER_ACT:
        model_admin.message_user(
            request,
            f"Select at most {MAX_OBJECTS_PER_ACT} at a time, or filter the list first.",
            messages.WARNING,
        )
        return None
    confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
    form = ReasonForm(
        request.POST if confirmed else None, required=reason_required, label=reason_label
    )
    if confirmed and form.is_valid():
        done, refused = 0, []
        for obj in objects:
            try:
                act(obj, form.cleaned_data["reason"])
            except ChatError as error:
                refused.append(f"{obj}: {error.message}")
            else:
                done += 1
        if done:
            model_admin.message_user(request, f"{title}: done for {done}.", messages.SUCCESS)
        for message in refused:
            model_admin.message_user(request, f"Not done — {message}", messages.WARNING)
        return None
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "intro": intro,
        "rows": [
            ActRow(object=obj, url=change_url(obj), details=describe(obj) if describe else [])
            for obj in objects
        ],
        "form": form,
        "submit_label": submit_label,
        # Set when the page came from a changelist action: it posts the selection back as
        # it came (the rows shown may be other objects: a report's message).
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "cancel_url": cancel_url
        or (request.get_full_path() if "action" in request.POST else change_url(objects[0])),
    }
    return TemplateResponse(request, "admin/moderation/confirm.html", context)


class ObjectActsMixin:
    """Moderation acts on one object, from its page.

    `object_acts` maps a name to a method(request, obj) that checks permission and returns
    moderation_act(...). Each gets a URL <id>/<name>/; `object_links` puts links to them on
    the object's page.
    """

    change_form_template = "admin/moderation/change_form.html"
    object_acts: dict[str, str] = {}

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        acts = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self._object_act_view(method)),
                name=f"{info[0]}_{info[1]}_{name}",
            )
            for name, method in self.object_acts.items()
        ]
        return acts + super().get_urls()

    def _object_act_view(self, method_name: str):
        def view(request, object_id):
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                raise Http404(f"No {self.opts.verbose_name} with this id.")
            _check(self.has_view_permission(request, obj))
            response = getattr(self, method_name)(request, obj)
            if response is not None:
                return response
            if self.model.objects.filter(pk=obj.pk).exists():
                return HttpResponseRedirect(change_url(obj))
            return HttpResponseRedirect(changelist_url(self.model))

        return view

    def act_url(self, obj, name: str) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"admin:{info[0]}_{info[1]}_{name}", args=[quote(obj.pk)])

    def object_links(self, request, obj) -> list[tuple[str, str]]:
        """(label, url) links shown on the object's page."""
        return []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            extra_context["moderation_links"] = self.object_links(request, obj)
            extra_context.update(self.object_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def object_context(self, request, obj) -> dict[str, Any]:
        return {}


class CheckedSelectionMixin:
    """Django's admin gives an action whatever `_selected_action` values the post carries,
    and the action's query raises on one that is not an id of the model, or an integer past
    the column's range (only a hand-made post sends one): a 500. Such a selection is refused
    with a message instead."""

    def response_action(self, request, queryset):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
                pk.run_validators(pk.to_python(value))  # an integer's validators: its range
        except ValidationError:
            self.message_user(
                request, "The selection is not a list of ids; select again.", messages.WARNING
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ModerationAdmin(CheckedSelectionMixin, ObjectActsMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: rows change only through moderation
    acts, which call services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _check(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


# --- workspaces ------------------------------------------------------------------------------


@admin.register(Workspace)
class WorkspaceAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["name", "slug", "is_personal", "created_by", "member_count", "created_at"]
    list_filter = ["is_personal"]
    search_fields = ["name", "slug"]
    list_select_related = ["created_by"]
    readonly_fields = ["members_link", "conversations_link"]

    def get_queryset(self, request):
        members = (
            Membership.objects.filter(workspace=OuterRef("pk"))
            .order_by()
            .values("workspace")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Coalesce(Subquery(members), Value(0)))
        )

    @admin.display(description="members", ordering="member_count")
    def member_count(self, workspace):
        return workspace.member_count

    @admin.display(description="members")
    def members_link(self, workspace):
        return format_html(
            '<a href="{}">{} members</a>',
            changelist_url(Membership, workspace__id__exact=workspace.pk),
            workspace.member_count,
        )

    @admin.display(description="conversations")
    def conversations_link(self, workspace):
        return format_html(
            '<a href="{}">Its conversations</a>',
            changelist_url(Conversation, workspace__id__exact=workspace.pk),
        )


@admin.register(Membership)
class MembershipAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["=user__username", "=workspace__slug"]
    search_help_text = "An exact username or workspace slug."
    list_select_related = ["user", "workspace"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(user__username=term) | Q(workspace__slug=term)), False


# --- agents (issue 4): managed by staff with the ordinary form; moderators have no access ----


@admin.register(Agent)
class AgentAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "workspace", "provider", "model", "is_active", "updated_at"]
    list_filter = ["is_active", "provider"]
    search_fields = ["name", "slug", "workspace__name", "workspace__slug", "model"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    # A scheme-less URL typed in means https:// (Django 6's default, asked for now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["workspace", "name", "slug", "description", "is_active"]}),
        (
            "Endpoint",
            {
                "fields": ["provider", "base_url", "model", "api_key_env_var"],
                "description": (
                    "Empty base URL and model mean OPENAI_BASE_URL and OPENAI_MODEL. The key "
                    "is never stored: name the environment variable that holds it, or leave "
                    "it empty for OPENAI_API_KEY."
                ),
            },
        ),
        ("Behaviour", {"fields": ["system_prompt", "temperature", "max_tokens"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]


# --- conversations ---------------------------------------------------------------------------


class TrashFilter(admin.SimpleListFilter):
    title = "trash"
    parameter_name = "trash"

    def lookups(self, request, model_admin):
        return [("live", "Not in the trash"), ("deleted", "In the trash")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ["user", "role", "joined_at", "left_at", "last_read_seq"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = [
        "display_title",
        "kind",
        "workspace",
        "created_by",
        "status",
        "message_count",
        "last_activity_at",
        "in_trash",
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
    object_acts = {"delete": "delete_act", "restore": "restore_act", "purge": "purge_act"}
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
        pk = _as_uuid(search_term)
        if pk is not None:
            return queryset.filter(pk=pk), False
        results, duplicates = super().get_search_results(request, queryset, search_term)
        return results | queryset.filter(created_by__username=search_term.strip()), duplicates

    @admin.display(description="title", ordering="title")
    def display_title(self, conversation):
        return conversation.title or f"({conversation.get_kind_display()}, untitled)"

    @admin.display(description="in trash", boolean=True, ordering="deleted_at")
    def in_trash(self, conversation):
        return conversation.is_deleted

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

    def delete_act(self, request, conversation):
        _check(self.has_trash_permission(request))
        return self._delete(request, [conversation])

    def restore_act(self, request, conversation):
        _check(self.has_trash_permission(request))
        return self._restore(request, [conversation])

    def purge_act(self, request, conversation):
        _check(self.has_purge_permission(request))
        return self._purge(request, [conversation])


@admin.register(Participant)
class ParticipantAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["user", "conversation", "role", "joined_at", "left_at", "archived_at"]
    list_filter = ["role"]
    list_select_related = ["user", "conversation"]
    search_fields = ["=user__username"]  # or a conversation id: get_search_results
    search_help_text = "An exact username, or a conversation id."

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        pk = _as_uuid(search_term)
        if pk is not None:
            return queryset.filter(conversation_id=pk), False
        return queryset.filter(user__username=search_term.strip()), False


# --- messages --------------------------------------------------------------------------------


class ConversationFilter(admin.SimpleListFilter):
    """Messages of one conversation (?conversation=<id>): the conversation's page links
    here. Shows the chosen conversation, with a way back to all."""

    title = "conversation"
    parameter_name = "conversation"

    def lookups(self, request, model_admin):
        pk = _as_uuid(self.value() or "")
        if pk is None:
            return []
        conversation = Conversation.objects.filter(pk=pk).only("title", "kind").first()
        return [(str(pk), str(conversation) if conversation else "(no such conversation)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        pk = _as_uuid(self.value())
        return queryset.filter(conversation_id=pk) if pk else queryset.none()


class HiddenFilter(admin.SimpleListFilter):
    title = "visibility"
    parameter_name = "visibility"

    def lookups(self, request, model_admin):
        return [
            ("visible", "Visible"),
            ("hidden", "Hidden by a moderator"),
            ("deleted", "Deleted by its author"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "visible":
            return queryset.filter(hidden_at__isnull=True, deleted_at__isnull=True)
        if self.value() == "hidden":
            return queryset.filter(hidden_at__isnull=False)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class MessagePartInline(admin.TabularInline):
    model = MessagePart
    fields = ["index", "type", "tool_name", "part_content", "artifact_file"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("artifact")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="content")
    def part_content(self, part):
        text = json.dumps(part.content, ensure_ascii=False)
        return text if len(text) <= 500 else text[:500] + "…"

    @admin.display(description="artifact")
    def artifact_file(self, part):
        artifact = getattr(part, "artifact", None)
        if artifact is None:
            return "-"
        return f"{artifact.path or artifact.file.name} ({artifact.size:,} bytes)"


EXCERPT_LENGTH = 120


@admin.register(Message)
class MessageAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = [
        "number",
        "conversation_link",
        "role",
        "sender",
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
    inlines = [MessagePartInline]
    actions = ["hide_selected", "unhide_selected"]
    object_acts = {"hide": "hide_act", "unhide": "unhide_act"}
    fieldsets = [
        (None, {"fields": ["id", "conversation", "seq", "role", "status", "sender", "agent"]}),
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
    readonly_fields = ["id", "visibility"]

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
        pk = _as_uuid(term)
        if pk is not None:
            return queryset.filter(Q(pk=pk) | Q(conversation_id=pk)), False
        matches = Q(sender__username=term)
        # The text is searched only within one conversation: across millions of messages
        # a substring search reads them all (the API's /search has the full-text index).
        if _as_uuid(request.GET.get(ConversationFilter.parameter_name, "")):
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

    def hide_act(self, request, message):
        _check(self.has_hide_permission(request))
        return self._hide(request, [message])

    def unhide_act(self, request, message):
        _check(self.has_hide_permission(request))
        return self._unhide(request, [message])


def _message_details(message: Message) -> list[str]:
    text = message.content if len(message.content) <= 300 else message.content[:300] + "…"
    details = [f"#{message.seq} by {message.sender or message.role}: {text}"]
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
class MessagePartAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = ["__str__", "message_link", "type", "tool_name", "step_index", "created_at"]
    list_filter = ["type"]
    list_select_related = ["message"]
    search_fields = ["=tool_name"]
    search_help_text = "A message id, or a tool's exact name."
    list_defer = ["content", "message__content", "message__meta", "message__error_details"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        pk = _as_uuid(search_term)
        if pk is not None:
            return queryset.filter(message_id=pk), False
        return queryset.filter(tool_name=search_term.strip()), False

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


# --- reports: the moderation queue -----------------------------------------------------------

CONTEXT_MESSAGES = 3  # shown before and after the reported message


@admin.register(Report)
class ReportAdmin(ModerationAdmin, LargeTableAdmin):
    list_display = [
        "__str__",
        "status",
        "reason",
        "message_excerpt",
        "message_sender",
        "conversation_link",
        "reporter",
        "created_at",
        "resolved_by",
    ]
    list_filter = ["status", "reason", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["message__sender", "message__conversation", "reporter", "resolved_by"]
    search_fields = ["=reporter__username"]
    search_help_text = "A message or conversation id, or the exact username of a reporter."
    date_hierarchy = "created_at"
    change_form_template = "admin/conversations/report/change_form.html"
    actions = ["resolve_selected", "dismiss_selected", "hide_reported_messages"]
    object_acts = {"resolve": "resolve_act", "dismiss": "dismiss_act", "hide": "hide_act"}
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
            .annotate(message_text=Substr("message__content", 1, EXCERPT_LENGTH))
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        pk = _as_uuid(search_term)
        if pk is not None:
            return queryset.filter(Q(message_id=pk) | Q(message__conversation_id=pk)), False
        return queryset.filter(reporter__username=search_term.strip()), False

    @admin.display(description="message")
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

    def _hide(self, request, reports):
        # One act per message, however many reports it has; hiding resolves them all.
        reported = {}
        for report in reports:
            reported.setdefault(report.message_id, report.message)
        return hide_messages(self, request, list(reported.values()))

    @admin.action(description="Resolve selected reports…", permissions=["resolve"])
    def resolve_selected(self, request, queryset):
        return self._close(request, queryset.defer(None), status=ReportStatus.RESOLVED)

    @admin.action(description="Dismiss selected reports…", permissions=["resolve"])
    def dismiss_selected(self, request, queryset):
        return self._close(request, queryset.defer(None), status=ReportStatus.DISMISSED)

    @admin.action(description="Hide the reported messages…", permissions=["hide"])
    def hide_reported_messages(self, request, queryset):
        return self._hide(request, queryset.defer(None))

    def resolve_act(self, request, report):
        _check(self.has_resolve_permission(request))
        return self._close(request, [report], status=ReportStatus.RESOLVED)

    def dismiss_act(self, request, report):
        _check(self.has_resolve_permission(request))
        return self._close(request, [report], status=ReportStatus.DISMISSED)

    def hide_act(self, request, report):
        _check(self.has_hide_permission(request))
        return self._hide(request, [report])


def _report_details(report: Report) -> list[str]:
    message = report.message
    text = message.content if len(message.content) <= 300 else message.content[:300] + "…"
    details = [
        f"{report.get_reason_display()} report by {report.reporter or 'a deleted user'}"
        + (f": {report.note}" if report.note else ""),
        f"on #{message.seq} by {message.sender or message.role}: {text}",
    ]
    if report.status != ReportStatus.OPEN:
        details.append(f"already {report.status}")
    return details


# --- the audit log and the event log: read-only for everyone ---------------------------------

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
        pk = _as_uuid(term)
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
        return event.reason if len(event.reason) <= 100 else event.reason[:100] + "…"


@admin.register(Event)
class EventAdmin(ModerationAdmin, LargeTableAdmin):
    """The live-update log behind GET /events (kept EVENTS_RETENTION_HOURS): for support."""

    list_display = ["id", "type", "conversation_id", "user_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["=conversation__id"]
    search_help_text = "A conversation id."

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        pk = _as_uuid(search_term)
        return (queryset.filter(conversation_id=pk) if pk else queryset.none()), False
