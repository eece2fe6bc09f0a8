"""Versions of a turn, 2 of 3 (docs/data-model.md, "Versions of a turn").

Every existing message gets its place on the conversation's first line (position = seq,
line 0) and its parent, the message before it. An answer regenerated before versions
existed kept its earlier texts in meta["previous_versions"]: each becomes a real version of
that turn, a message on a line of its own forking there, numbered before the answer that
replaced it (they were written first); the later messages' seqs, the conversation's count
and the read markers move up to make room, in the order the versions were written. Going
back drops the columns (0016): which message is a version of which is lost, and every
version stays a message of its own, read in seq order as the turns after one another. On
PostgreSQL it also makes the function the one-statement post reads a line's end with."""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery
from django.utils.dateparse import parse_datetime

# Far above any seq, so that moving a conversation's later seqs up never meets one taken.
SEQ_SHIFT = 1_000_000_000
STATUSES = ("complete", "error")


# The newest message of a line, read with a snapshot of its own (a VOLATILE function's
# queries each take one, in READ COMMITTED): the one-statement post (services.messages)
# calls it after the conversation's lock is granted, and must see a post that committed
# while it waited, which the statement's own snapshot, taken before, does not.
LINE_TAIL_FUNCTION = """
CREATE OR REPLACE FUNCTION conversations_line_tail(conversation uuid, line_number integer,
    OUT id uuid, OUT "position" integer)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT m.id, m.position INTO id, "position" FROM conversations_message m
    WHERE m.conversation_id = conversation AND m.line = line_number
    ORDER BY m.position DESC LIMIT 1;
END
$$
"""


def create_line_tail_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LINE_TAIL_FUNCTION)


def drop_line_tail_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS conversations_line_tail(uuid, integer)")


def place_every_message(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    # One UPDATE: each row written once (the first message's parent is NULL: no seq 0).
    before = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"), seq=OuterRef("seq") - 1
    ).values("id")[:1]
    Message.objects.update(position=F("seq"), parent=Subquery(before))


def previous_versions_become_versions(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    Conversation = apps.get_model("conversations", "Conversation")
    Participant = apps.get_model("conversations", "Participant")
    Line = apps.get_model("conversations", "Line")
    regenerated = (
        Message.objects.filter(meta__has_key="previous_versions")
        .order_by("conversation_id", "-seq")
        .values_list("pk", flat=True)
    )
    for pk in list(regenerated.iterator()):
        message = Message.objects.get(pk=pk)
        previous = [
            version
            for version in message.meta.get("previous_versions") or []
            if isinstance(version, dict)
        ]
        meta = {key: value for key, value in message.meta.items() if key != "previous_versions"}
        if not previous:
            Message.objects.filter(pk=pk).update(meta=meta)
            continue
        conversation = Conversation.objects.get(pk=message.conversation_id)
        count = len(previous)
        later = Message.objects.filter(conversation_id=conversation.pk, seq__gte=message.seq)
        later.update(seq=F("seq") + SEQ_SHIFT + count)
        later.update(seq=F("seq") - SEQ_SHIFT)
        Participant.objects.filter(
            conversation_id=conversation.pk, last_read_seq__gte=message.seq
        ).update(last_read_seq=F("last_read_seq") + count)
        for index, version in enumerate(previous):
            number = conversation.line_count + index + 1
            Line.objects.create(
                conversation_id=conversation.pk,
                number=number,
                parent_line=message.line,
                fork_position=message.position,
                ancestry=[[0, 1], [number, message.position]],
            )
            written = parse_datetime(str(version.get("completed_at") or "")) or message.created_at
            status = version.get("status") if version.get("status") in STATUSES else "complete"
            Message.objects.create(
                conversation_id=conversation.pk,
                seq=message.seq + index,
                position=message.position,
                line=number,
                parent_id=message.parent_id,
                version=index + 1,
                role=message.role,
                status=status,
                agent_id=message.agent_id,
                provider=message.provider,
                model=str(version.get("model") or "")[:200],
                content=str(version.get("content") or ""),
                reply_to_id=message.reply_to_id,
                error_type=str(version.get("error_type") or "")[:30] if status == "error" else "",
                created_at=written,
                completed_at=written,
            )
        Message.objects.filter(pk=pk).update(meta=meta, version=count + 1)
        if message.parent_id is None:
            Conversation.objects.filter(pk=conversation.pk).update(
                first_turn_forks=F("first_turn_forks") + count
            )
        else:
            Message.objects.filter(pk=message.parent_id).update(
                next_turn_forks=F("next_turn_forks") + count
            )
        Conversation.objects.filter(pk=conversation.pk).update(
            line_count=F("line_count") + count, message_count=F("message_count") + count
        )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0016_versions")]

    operations = [
        migrations.RunPython(place_every_message, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(previous_versions_become_versions, migrations.RunPython.noop),
        migrations.RunPython(create_line_tail_function, drop_line_tail_function),
    ]
