"""What every admin page here is built from (docs/moderation.md).

Listing big tables: the big tables (messages, parts, events) are listed without a full
COUNT(*) (LargeTablePaginator) and without facet counts, and their lists leave out long
columns (LeanChangeList).

Moderation acts: domain rows are read-only here for everyone, superusers included
(ModerationAdmin); every change is an act (hide, resolve, trash, purge…) that goes through
its service, after a confirmation page asking for a reason (moderation_act), and writes an
AuditEvent.
"""

import json
import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
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
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property

from conversations.exceptions import ChatError
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


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


def shorten(text: str, length: int) -> str:
    """The text, or its first `length` characters and an ellipsis."""
    return text if len(text) <= length else text[:length] + "…"


def change_url(obj: models.Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def changelist_url(model: type[models.Model], **filters: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


class StateFilter(admin.SimpleListFilter):
    """A filter between a few states of a row, each a filter on its columns: `states` maps
    the query value to (label, filter arguments)."""

    states: dict[str, tuple[str, dict[str, Any]]] = {}

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.states.items()]

    def queryset(self, request, queryset):
        state = self.states.get(self.value())
        return queryset.filter(**state[1]) if state else queryset


class ExactSearchMixin:
    """A search the indexes answer, never a LIKE over a big table: a UUID is looked up in
    `search_id_fields`, any other text, exactly, in `search_exact_fields`; a row matches
    when one of the fields does. Text with no field to look in finds nothing.
    (`search_fields` still has to name a field: Django shows the search box for it.)"""

    search_id_fields: list[str] = []
    search_exact_fields: list[str] = []

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        pk = as_uuid(term) if self.search_id_fields else None
        fields, value = (
            (self.search_id_fields, pk) if pk is not None else (self.search_exact_fields, term)
        )
        if not fields:
            return queryset.none(), False
        return queryset.filter(any_equal(fields, value)), False


def any_equal(fields: Sequence[str], value: Any) -> Q:
    """Rows where one of `fields` equals `value`."""
    return reduce(operator.or_, (Q(**{field: value}) for field in fields))


class ReadOnlyInline(admin.TabularInline):
    """Related rows on an object's page, as text, each linking to its own page."""

    extra = 0
    can_delete = False
    show_change_link = True
    select_related: list[str] = []  # what each row shows of its relations

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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

    `object_acts` maps a name to (permission, handler): the act needs
    `has_<permission>_permission(request)`, as an admin action's `permissions` do, and calls
    the method `handler(request, [obj])`, the one its changelist action calls with the
    selection, which returns moderation_act(...). Each act gets a URL <id>/<name>/;
    `object_links` puts links to them on the object's page.
    """

    change_form_template = "admin/moderation/change_form.html"
    object_acts: dict[str, tuple[str, str]] = {}

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        acts = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self._object_act_view(permission, handler)),
                name=f"{info[0]}_{info[1]}_{name}",
            )
            for name, (permission, handler) in self.object_acts.items()
        ]
        return acts + super().get_urls()

    def _object_act_view(self, permission: str, handler: str):
        def view(request, object_id):
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                raise Http404(f"No {self.opts.verbose_name} with this id.")
            check_allowed(self.has_view_permission(request, obj))
            check_allowed(getattr(self, f"has_{permission}_permission")(request))
            response = getattr(self, handler)(request, [obj])
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


def check_allowed(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied
