"""More statistics on the stored tsvector (PostgreSQL only): the 10,000 most common lexemes
instead of 1,000, so that a rare word is priced as rare.

The planner estimates how many messages match a word from the column's most common lexemes;
a word not among them is guessed at half the frequency of the least common one kept. With
the default target (100: 1,000 lexemes) that guess was 3,368 messages for a word that 141
messages hold, in the benchmark's 1,000,000; expecting thousands of matches, the planner
built the user's whole set of conversations into a hash (10,000 of them: 20 ms) instead of
checking the 141 matches one by one (2 ms). See docs/search.md.

ANALYZE then samples 300,000 rows instead of 30,000: 6 s instead of 1.5 s at 1,000,000
messages, in autovacuum's background work."""

from django.db import migrations

STATISTICS_TARGET = 1000
DEFAULT_TARGET = -1  # back to default_statistics_target


def _set_target(schema_editor, target: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE conversations_message ALTER COLUMN search_vector "
        f"SET STATISTICS {int(target)}"
    )
    schema_editor.execute("ANALYZE conversations_message (search_vector)")


def raise_target(apps, schema_editor):
    _set_target(schema_editor, STATISTICS_TARGET)


def reset_target(apps, schema_editor):
    _set_target(schema_editor, DEFAULT_TARGET)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_message_search_vector")]

    operations = [migrations.RunPython(raise_target, reset_target)]
