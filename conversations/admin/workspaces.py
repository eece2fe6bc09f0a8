"""Workspaces and their memberships in the admin: read-only, for support."""

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.html import format_html

from conversations.models import Conversation, Membership, Workspace

from .base import ExactSearchMixin, LargeTableAdmin, ModerationAdmin, changelist_url


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
class MembershipAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["=user__username", "=workspace__slug"]
    search_exact_fields = ["user__username", "workspace__slug"]
    search_help_text = "An exact username or workspace slug."
    list_select_related = ["user", "workspace"]
