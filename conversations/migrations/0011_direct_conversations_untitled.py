"""Direct conversations no longer take their first message's first line as their title:
untitled, each of the two people sees the other's name (docs/ui.md). Those already titled
that way lose that title; one a person set (anything else) is kept."""

from django.db import migrations

TITLE_MAX_LENGTH = 200


def derived_title(content: str) -> str:
    """services.messages.derive_title as it was when these titles were made."""
    first_line = next((line for line in content.splitlines() if line.strip()), "")
    text = " ".join(first_line.split())
    if len(text) <= TITLE_MAX_LENGTH:
        return text
    cut = text[: TITLE_MAX_LENGTH - 1].rsplit(" ", 1)[0] or text[: TITLE_MAX_LENGTH - 1]
    return cut + "…"


def untitle_direct_conversations(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    titled = Conversation.objects.filter(kind="direct").exclude(title="")
    derived = []
    for pk, title in titled.values_list("pk", "title").iterator(chunk_size=1000):
        first = Message.objects.filter(conversation_id=pk, seq=1).values_list("content", flat=True)
        content = first.first()
        if content is not None and title == derived_title(content):
            derived.append(pk)
    for start in range(0, len(derived), 1000):
        Conversation.objects.filter(pk__in=derived[start : start + 1000]).update(title="")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_message_error_type_not_configured")]

    operations = [
        migrations.RunPython(untitle_direct_conversations, migrations.RunPython.noop),
    ]
