"""Agents in the admin (issue 4): managed by staff with the ordinary form; moderators have
no access."""

from django.contrib import admin
from django.db import models

from conversations.models import Agent

from .base import CheckedSelectionMixin


@admin.register(Agent)
class AgentAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "workspace", "provider", "model", "is_active", "updated_at"]
    list_filter = ["is_active", "provider"]
    search_fields = ["name", "slug", "workspace__name", "workspace__slug", "model"]
    list_select_related = ["workspace"]
    # A searchable select that names the workspace (a raw id field showed its UUID).
    autocomplete_fields = ["workspace"]
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
