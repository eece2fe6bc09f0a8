"""Shared by the export/import tests: the ChatGPT fixtures, ZIPs made from them, a
conversation with every kind of content, and a way to compare two threads."""

import io
import json
import struct
import zipfile
from datetime import timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conversations import services
from conversations.models import ArtifactKind, Conversation, PartType

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chatgpt"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def make_zip(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def chatgpt_zip() -> bytes:
    """The layout ChatGPT sends now: conversations split over numbered files beside other
    JSON, the HTML viewer, and an uploaded image (stored with the message that points at it)."""
    first = fixture_json("branched.json") + fixture_json("tools.json")
    return make_zip(
        {
            "conversations-000.json": json.dumps(first).encode(),
            "conversations-001.json": fixture_bytes("multimodal.json"),
            "user.json": b'{"id": "user-1", "email": "alice@example.com"}',
            "message_feedback.json": b"[]",
            "export_manifest.json": b'{"files": ["conversations-000.json"]}',
            "chat.html": b"<html><body>viewer</body></html>",
            "file-abc123.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        }
    )


def patch_zip_member(data: bytes, *, size: int | None = None, flags: int | None = None) -> bytes:
    """A ZIP whose (single) member lies about its uncompressed size, or has other flags, in
    both its local header and the central directory."""
    data = bytearray(data)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    if size is not None:
        struct.pack_into("<I", data, local + 22, size)
        struct.pack_into("<I", data, central + 24, size)
    if flags is not None:
        struct.pack_into("<H", data, local + 6, flags)
        struct.pack_into("<H", data, central + 8, flags)
    return bytes(data)


def upload(client, data: bytes, name: str = "conversations.json"):
    return client.post("/api/v1/imports", {"file": SimpleUploadedFile(name, data)})


def rich_conversation(alice, bob, group, post):
    """A group conversation (alice owns it, bob takes part) with a reply, a deleted message,
    and an assistant turn with reasoning, a tool call and result, a file with its artifact,
    text, timing and token usage."""
    question = post(group, "Can you fix app/pagination.py?")
    answer = services.assistant_message_start(
        conversation=group, agent=None, model="test-model", reply_to=question
    )
    started = timezone.now()
    services.message_part_add(
        message=answer, type=PartType.REASONING, content={"text": "Read it first."}
    )
    services.message_part_add(
        message=answer,
        type=PartType.TOOL_CALL,
        step_index=1,
        tool_name="read_file",
        tool_call_id="call_1",
        content={"arguments": {"path": "app/pagination.py"}},
        started_at=started,
    )
    services.message_part_add(
        message=answer,
        type=PartType.TOOL_RESULT,
        step_index=1,
        tool_name="read_file",
        tool_call_id="call_1",
        content={"output": "def paginate(): ```fenced``` ...", "is_error": False},
        started_at=started,
        completed_at=started + timedelta(milliseconds=12),
        tool_duration_ms=12,
    )
    file_part = services.message_part_add(
        message=answer,
        type=PartType.FILE,
        step_index=2,
        content={"path": "app/pagination.py", "description": "The file after the change."},
    )
    services.artifact_create(
        part=file_part,
        kind=ArtifactKind.FILE,
        data=b"def paginate():\n    return []\n",
        path="app/pagination.py",
        mime="text/x-python",
    )
    services.message_part_add(
        message=answer, type=PartType.TEXT, step_index=2, content={"text": "Fixed it."}
    )
    services.assistant_message_finish(
        message=answer, content="Fixed it.", latency_ms=950, ttft_ms=120
    )
    services.message_record_usage(
        message=answer,
        usage=services.Usage(
            prompt_tokens=500, completion_tokens=80, cached_input_tokens=256, reasoning_tokens=16
        ),
    )
    post(group, "Thanks!", sender=bob, reply_to=answer)
    regret = post(group, "something I regret saying")
    services.message_delete(message=regret, actor=alice)
    group.refresh_from_db()
    return group


def thread_snapshot(conversation: Conversation) -> list[tuple]:
    """Everything an export promises to carry over, message by message, comparable."""
    rows = []
    for message in conversation.messages.order_by("seq").prefetch_related("parts__artifact"):
        parts = []
        if message.is_visible:
            for part in message.parts.order_by("index"):
                artifact = part.artifact if hasattr(part, "artifact") else None
                parts.append(
                    (
                        part.index,
                        part.step_index,
                        part.type,
                        part.content,
                        part.tool_name,
                        part.tool_call_id,
                        part.started_at,
                        part.completed_at,
                        part.tool_duration_ms,
                        (
                            artifact.kind,
                            artifact.path,
                            artifact.mime,
                            artifact.size,
                            artifact.sha256,
                        )
                        if artifact
                        else None,
                    )
                )
        rows.append(
            (
                message.seq,
                message.role,
                message.status,
                message.visible_content,
                message.provider,
                message.model,
                message.created_at,
                message.completed_at,
                message.latency_ms,
                message.ttft_ms,
                message.prompt_tokens,
                message.completion_tokens,
                message.total_tokens,
                message.cached_input_tokens,
                message.reasoning_tokens,
                message.deleted_at is not None,
                message.hidden_at is not None,
                message.reply_to.seq if message.reply_to_id else None,
                tuple(parts),
            )
        )
    return rows


def totals(conversation: Conversation) -> tuple:
    conversation.refresh_from_db()
    return (
        conversation.message_count,
        conversation.last_activity_at,
        conversation.total_input_tokens,
        conversation.total_output_tokens,
        conversation.total_cached_tokens,
        conversation.total_reasoning_tokens,
        conversation.total_tool_time_ms,
        conversation.tool_counts,
    )
