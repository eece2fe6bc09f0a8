"""Versions of a turn, 3 of 3: every message has its position now (0017); the constraints
that keep one message per position of a line, and the index of a turn's versions."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0017_versions_data")]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="position",
            field=models.PositiveIntegerField(),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("parent__isnull", False)),
                fields=["parent"],
                name="message_parent",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                fields=("conversation", "line", "position"), name="message_line_position_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(("position__gte", 1)), name="message_position_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(("version__gte", 1)), name="message_version_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="line",
            constraint=models.UniqueConstraint(
                fields=("conversation", "number"), name="line_number_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="line",
            constraint=models.CheckConstraint(
                condition=models.Q(("number__gte", 1)), name="line_number_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="line",
            constraint=models.CheckConstraint(
                condition=models.Q(("fork_position__gte", 1)), name="line_fork_position_positive"
            ),
        ),
    ]
