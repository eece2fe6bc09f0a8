"""Assistant profiles: which OpenAI-compatible endpoint and model answers, and how."""

from django.db import models

from .base import TimestampedModel, choice_constraint
from .workspaces import Workspace


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"


class Agent(TimestampedModel):
    Provider = Provider

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices, default="openai")
    # Empty means OPENAI_BASE_URL from the settings.
    base_url = models.URLField(max_length=500, blank=True)
    model = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # The key itself is never stored: the name of an environment variable holding it,
    # or empty for OPENAI_API_KEY from the settings.
    api_key_env_var = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="agent_slug_unique"),
            choice_constraint("provider", Provider, "agent_provider_valid"),
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=True)
                | models.Q(temperature__gte=0, temperature__lte=2),
                name="agent_temperature_range",
            ),
            models.CheckConstraint(
                condition=models.Q(max_tokens__isnull=True) | models.Q(max_tokens__gte=1),
                name="agent_max_tokens_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name
