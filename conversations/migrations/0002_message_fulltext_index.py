"""The full-text index over message text, on PostgreSQL only (SQLite searches without one).

The expression must match the one search queries use: to_tsvector('english', content), and
only for messages that may be shown (neither deleted nor hidden).
"""

from django.db import migrations

INDEX_NAME = "message_content_fts"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON conversations_message "
        "USING gin (to_tsvector('english'::regconfig, content)) "
        "WHERE deleted_at IS NULL AND hidden_at IS NULL"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
