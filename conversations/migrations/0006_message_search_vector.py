"""A stored tsvector for full-text search, on PostgreSQL only (SQLite searches without one).

`search_vector` is a generated column, to_tsvector('english', content), kept up to date by
PostgreSQL on every INSERT and UPDATE of the content. Neither the match (`@@`) nor the rank
(ts_rank_cd) re-parses the text any more. The GIN index moves from the expression (0002) to
the column, with the same WHERE clause: only messages that may be shown.

It is not a model field: Django never writes it (a generated column refuses writes) and
SQLite has no such column. The search reads it by name (conversations/selectors/search.py).

Adding a stored generated column rewrites the table under an exclusive lock (every message
is parsed once): about 30 s for 1,000,000 messages on the benchmark machine (docs/search.md).
"""

from django.db import migrations

OLD_INDEX = "message_content_fts"
INDEX_NAME = "message_search_vector"
COLUMN = "search_vector"
SHOWN = "deleted_at IS NULL AND hidden_at IS NULL"


def add_search_vector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Dropped first: the rewrite below rebuilds every index of the table, and rebuilding
    # this one would parse every message a second time only to drop it.
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    schema_editor.execute(
        f"ALTER TABLE conversations_message ADD COLUMN IF NOT EXISTS {COLUMN} tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON conversations_message "
        f"USING gin ({COLUMN}) WHERE {SHOWN}"
    )
    # The column's statistics (the most common words) price `@@` per word; without them
    # the planner guesses and can walk the newest messages for a rare word.
    schema_editor.execute(f"ANALYZE conversations_message ({COLUMN})")


def remove_search_vector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    schema_editor.execute(f"ALTER TABLE conversations_message DROP COLUMN IF EXISTS {COLUMN}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON conversations_message "
        f"USING gin (to_tsvector('english'::regconfig, content)) WHERE {SHOWN}"
    )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_moderators_group")]

    operations = [migrations.RunPython(add_search_vector, remove_search_vector)]
