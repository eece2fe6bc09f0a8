"""Users and tokens in the admin (docs/moderation.md).

Superusers manage accounts with Django's user form. Moderators (view_user and suspend_user)
see accounts, never password hashes, and suspend or unsuspend them through the service,
which ends their sessions and revokes their tokens. Tokens are visible to superusers only,
read-only: revoking is an action that calls the service.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.html import format_html

from chatapp.accounts.forms import AdminSignInForm
from chatapp.accounts.models import ApiToken, SingleSignOnIdentity, User
from chatapp.accounts.services import token_revoke, user_create, user_suspend, user_unsuspend
from conversations.admin.base import (
    CheckedSelectionMixin,
    ExactSearchMixin,
    LargeTableAdmin,
    ModerationAdmin,
    ObjectActsMixin,
    StateFilter,
    changelist_url,
    moderation_act,
)
from conversations.services.audit import audit_event_record

# The admin's sign-in counts failures as the site's and the API's do (chatapp/urls.py
# answers 429 for it).
admin.site.login_form = AdminSignInForm

# Changes of these fields in the user form are role changes: each writes an AuditEvent.
ROLE_FIELDS = ["is_staff", "is_superuser", "groups", "user_permissions"]


class SuspendedFilter(StateFilter):
    title = "status"
    parameter_name = "status"
    states = {
        "active": ("Active", {"is_active": True}),
        "suspended": ("Suspended", {"is_active": False}),
    }


@admin.register(User)
class UserAdmin(CheckedSelectionMixin, ObjectActsMixin, DjangoUserAdmin):
    # The display name is in the detail and the search: with it the list was wider than a
    # 1366 px screen (tests/browser/test_review.py).
    list_display = [
        "username",
        "email",
        "is_active",
        "last_login",
        "date_joined",
    ]
    list_filter = [SuspendedFilter, "is_staff", "is_superuser", "groups"]
    search_fields = ["username", "email", "display_name"]
    raw_id_fields = ["default_workspace"]
    # Suspension is an act (sessions end, tokens are revoked), never a checkbox.
    readonly_fields = ["is_active", "last_login", "date_joined", "tokens_link"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (
            "Profile",
            {"fields": ["display_name", "email", "first_name", "last_name", "default_workspace"]},
        ),
        ("Status", {"fields": ["is_active", "tokens_link", "last_login", "date_joined"]}),
        ("Roles", {"fields": ROLE_FIELDS}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "email",
                    "display_name",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]
    actions = ["suspend_selected", "unsuspend_selected"]
    object_acts = {"suspend": ("suspend", "_suspend"), "unsuspend": ("suspend", "_unsuspend")}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        hidden = set()
        if not self.has_change_permission(request, obj):
            # Read-only, every field would be shown as text: never the password hash.
            hidden.add("password")
        if not request.user.has_perm("accounts.view_apitoken"):
            hidden.add("tokens_link")
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    @admin.display(description="API tokens")
    def tokens_link(self, user):
        live = user.api_tokens.filter(revoked_at__isnull=True).count()
        return format_html(
            '<a href="{}">{} live</a>', changelist_url(ApiToken, user__id__exact=user.pk), live
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service, so that the new user gets a personal workspace. The form has
        # already hashed the password (or made it unusable); that hash is kept.
        created = user_create(username=obj.username, email=obj.email, display_name=obj.display_name)
        created.password = obj.password
        created.save(update_fields=["password"])
        vars(obj).update(vars(created))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            return
        changed = [name for name in ROLE_FIELDS if name in form.changed_data]
        if changed:
            audit_event_record(
                actor=request.user,
                action="user.roles_changed",
                target_type="user",
                target_id=form.instance.pk,
                data={
                    name: {
                        "from": _role_value(form.initial.get(name)),
                        "to": _role_value(form.cleaned_data.get(name)),
                    }
                    for name in changed
                },
            )

    def has_suspend_permission(self, request):
        return request.user.has_perm("accounts.suspend_user")

    def object_links(self, request, user):
        if not self.has_suspend_permission(request) or user.pk == request.user.pk:
            return []
        if user.is_active:
            return [("Suspend…", self.act_url(user, "suspend"))]
        return [("Unsuspend…", self.act_url(user, "unsuspend"))]

    def _suspend(self, request, users):
        return moderation_act(
            self,
            request,
            users,
            title="Suspend users",
            submit_label="Suspend",
            intro=(
                "They are signed out everywhere at once: every session ends and every API "
                "token is revoked. They cannot sign in until unsuspended."
            ),
            act=lambda user, reason: user_suspend(user=user, actor=request.user, reason=reason),
        )

    def _unsuspend(self, request, users):
        return moderation_act(
            self,
            request,
            users,
            title="Unsuspend users",
            submit_label="Unsuspend",
            intro="They can sign in again. Their old tokens stay revoked.",
            act=lambda user, reason: user_unsuspend(user=user, actor=request.user, reason=reason),
        )

    @admin.action(description="Suspend selected users…", permissions=["suspend"])
    def suspend_selected(self, request, queryset):
        return self._suspend(request, queryset)

    @admin.action(description="Unsuspend selected users…", permissions=["suspend"])
    def unsuspend_selected(self, request, queryset):
        return self._unsuspend(request, queryset)


def _role_value(value):
    """A form value as the audit log keeps it: flags as they are, groups and permissions
    by name."""
    if isinstance(value, bool) or value is None:
        return value
    return sorted(str(item) for item in value)


class RevokedFilter(StateFilter):
    title = "state"
    parameter_name = "state"
    states = {
        "live": ("Not revoked", {"revoked_at__isnull": True}),
        "revoked": ("Revoked", {"revoked_at__isnull": False}),
    }


@admin.register(ApiToken)
class ApiTokenAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    """Superusers only (nobody else has a token permission): what a token is and whether it
    lives, never its hash."""

    list_display = ["prefix", "user", "kind", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter, "kind"]
    list_select_related = ["user"]
    search_fields = ["=prefix", "=user__username"]
    search_exact_fields = ["prefix", "user__username"]
    search_help_text = "A token's prefix (chat_…), or the exact username of its owner."
    fields = [
        "user",
        "kind",
        "name",
        "prefix",
        "family",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke_selected"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description="Revoke selected tokens…", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        return moderation_act(
            self,
            request,
            queryset.select_related("user"),
            title="Revoke tokens",
            submit_label="Revoke",
            intro="Programs using these tokens are signed out at once.",
            act=lambda token, reason: token_revoke(token=token, actor=request.user, reason=reason),
        )


@admin.register(SingleSignOnIdentity)
class SingleSignOnIdentityAdmin(ExactSearchMixin, ModerationAdmin, LargeTableAdmin):
    """Which account each person at the OpenID provider signs in to (chatapp/accounts/
    sso.py), read-only: a link is made by a sign-in with a verified email."""

    list_display = ["subject", "user", "email", "issuer", "created_at", "last_sign_in_at"]
    list_select_related = ["user"]
    search_fields = ["=subject", "=user__username", "=email"]
    search_exact_fields = ["subject", "user__username", "email"]
    search_help_text = "The provider's subject, the exact username, or the email address."
    fields = [
        "user",
        "issuer",
        "subject",
        "email",
        "granted_roles",
        "created_at",
        "last_sign_in_at",
    ]


# Django's own, with the selection of its actions checked (CheckedSelectionMixin).
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(CheckedSelectionMixin, DjangoGroupAdmin):
    pass
