"""Helpers shared by the domain models."""

import uuid

from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone


class TimestampedModel(models.Model):
    """UUID primary key plus creation and update times, as every domain model has."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A default, not auto_now_add, so that a service can give related rows one instant.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def choice_constraint(field: str, choices: type[models.TextChoices], name: str):
    """A CHECK that the column holds one of the choices: SQLite enforces nothing else."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=name)


def max_length_constraint(field: str, max_length: int, name: str):
    """A CHECK on a text length: PostgreSQL's varchar does this, SQLite does not."""
    return models.CheckConstraint(condition=LessThanOrEqual(Length(field), max_length), name=name)
