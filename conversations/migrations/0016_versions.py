"""Versions of a turn, 1 of 3 (docs/data-model.md, "Versions of a turn"): the columns and
the Line table. 0017 fills them and 0018 adds the constraints, each in a transaction of its
own: PostgreSQL refuses to alter a table with deferred checks pending from rows written in
the same transaction."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0015_message_revisions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Line",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("number", models.PositiveIntegerField()),
                ("parent_line", models.PositiveIntegerField()),
                ("fork_position", models.PositiveIntegerField()),
                ("ancestry", models.JSONField()),
            ],
            options={
                "ordering": ["conversation", "number"],
            },
        ),
        migrations.AddField(
            model_name="line",
            name="conversation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="conversations.conversation",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="first_turn_forks",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="conversation",
            name="line_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="line",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="next_turn_forks",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="conversations.message",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="position",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="version",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="participant",
            name="line",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="participant",
            name="recent_lines",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
