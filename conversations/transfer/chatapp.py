"""Our own JSON export format, version 1: written by `json_chunks` (streamed, one message at a
time) and read back by `document_plan` (streamed too: the messages are read from the file
each time the plan's messages are iterated, never all held at once).

    {"format": "chatapp", "version": 1, "exported_at": "…",
     "conversation": {id, kind, title, status, agent, subject, metadata, created_at, usage,
                      participants, …},
     "messages": [{seq, role, status, sender, content, parts: [{…, artifact}], usage,
                   times, meta, is_deleted, is_hidden, …}, …]}

The schemas in conversations/schemas/transfer.py define every field.
"""

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import ijson
from ninja import Schema
from pydantic import ValidationError

from conversations.exceptions import InvalidInput
from conversations.models import MessageErrorType, MessageStatus
from conversations.schemas.transfer import (
    ExportConversationIn,
    ExportConversationOut,
    ExportMessageIn,
    ExportMessageOut,
)
from conversations.services.messages import validate_message_meta

from .plan import (
    ArtifactPlan,
    ConversationPlan,
    MessagePlan,
    PartPlan,
    aware,
    clean_json,
    clean_text,
    invalid,
)
from .sources import JsonDocument

if TYPE_CHECKING:
    from conversations.selectors.export import ConversationExport

FORMAT = "chatapp"
VERSION = 1

SchemaType = TypeVar("SchemaType", bound=Schema)


# --- writing -------------------------------------------------------------------------------


def json_chunks(export: "ConversationExport") -> Iterator[str]:
    """The export document as text, a message at a time."""
    head = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": export.exported_at.isoformat(),
        "conversation": ExportConversationOut.from_orm(export.conversation).model_dump(mode="json"),
    }
    text = json.dumps(head, ensure_ascii=False)
    # The messages come last, so that a reader has the conversation before them.
    yield text[:-1] + ', "messages": ['
    separator = "\n"
    for message in export.messages():
        item = ExportMessageOut.from_orm(message).model_dump(mode="json")
        yield separator + json.dumps(item, ensure_ascii=False)
        separator = ",\n"
    yield "\n]}\n"


# --- reading -------------------------------------------------------------------------------


def is_chatapp_document(document: JsonDocument) -> bool:
    """A JSON object whose "format" is ours (read without building the rest)."""
    with document.open() as stream:
        return next(ijson.items(stream, "format"), None) == FORMAT


def document_plan(document: JsonDocument) -> ConversationPlan:
    """The conversation of one export document; its messages are checked as they are read."""
    with document.open() as stream:
        version = next(ijson.items(stream, "version"), None)
    if isinstance(version, bool) or not isinstance(version, int):
        raise invalid(f"{document.name}.version", "must be the format version, an integer.")
    if version > VERSION:
        raise invalid(
            f"{document.name}.version",
            f"this file is format version {version}, made by a newer chatapp; "
            f"this one reads versions up to {VERSION}.",
        )
    if version < 1:
        raise invalid(f"{document.name}.version", "is not a version of the format.")
    with document.open() as stream:
        raw = next(ijson.items(stream, "conversation", use_float=True), None)
    location = f"{document.name}.conversation"
    header = _validate(ExportConversationIn, raw, location)
    metadata = clean_json(header.metadata, location=f"{location}.metadata")
    imported: dict[str, Any] = {
        "format": FORMAT,
        "source_id": str(header.id),
        "participants": [
            {
                "username": clean_text(person.user.username),
                "display_name": clean_text(person.user.display_name),
                "role": clean_text(person.role),
            }
            for person in header.participants
        ],
    }
    if header.subject_type or header.subject_id:
        imported["subject"] = {
            "type": clean_text(header.subject_type),
            "id": clean_text(header.subject_id),
        }
    if header.agent is not None:
        imported["agent"] = clean_json(header.agent.model_dump(), location=location)
    return ConversationPlan(
        format=FORMAT,
        source_id=str(header.id),
        kind=header.kind.value,
        title=clean_text(header.title),
        status=header.status.value,
        created_at=aware(header.created_at),
        agent_slug=header.agent.slug if header.agent else "",
        metadata={**metadata, "import": imported},
        messages=StreamedMessages(document),
    )


class StreamedMessages:
    """The messages of an export document, read from the file again on every iteration."""

    def __init__(self, document: JsonDocument):
        self.document = document

    def __iter__(self) -> Iterator[MessagePlan]:
        name = self.document.name
        seen: set[int] = set()
        last_seq = 0
        with self.document.open() as stream:
            items = ijson.items(stream, "messages.item", use_float=True)
            for index, raw in enumerate(items):
                location = f"{name}.messages[{index}]"
                item = _validate(ExportMessageIn, raw, location)
                if item.seq <= last_seq:
                    raise invalid(f"{location}.seq", "messages must be in increasing seq order.")
                if item.reply_to_seq is not None and item.reply_to_seq not in seen:
                    raise invalid(
                        f"{location}.reply_to_seq", "must be the seq of an earlier message."
                    )
                seen.add(item.seq)
                last_seq = item.seq
                yield _message_plan(item, location)


def _message_plan(item: ExportMessageIn, location: str) -> MessagePlan:
    meta = clean_json(item.meta, location=f"{location}.meta")
    try:
        meta = validate_message_meta(meta)
    except InvalidInput as error:
        raise invalid(f"{location}.{error.field}", error.message) from None
    status = item.status.value
    error_type = item.error_type.value if item.error_type else ""
    if status in (MessageStatus.PENDING, MessageStatus.STREAMING):
        # A turn still being written when exported can never finish here.
        status, error_type = MessageStatus.ERROR, error_type or MessageErrorType.INTERRUPTED
    parts = [
        PartPlan(
            type=part.type.value,
            content=clean_json(part.content, location=f"{location}.parts[{index}].content"),
            step_index=part.step_index,
            tool_name=clean_text(part.tool_name),
            tool_call_id=clean_text(part.tool_call_id),
            started_at=aware(part.started_at),
            completed_at=aware(part.completed_at),
            tool_duration_ms=part.tool_duration_ms,
            artifact=ArtifactPlan(
                kind=part.artifact.kind.value,
                path=clean_text(part.artifact.path),
                mime=clean_text(part.artifact.mime),
                size=part.artifact.size,
                sha256=clean_text(part.artifact.sha256),
            )
            if part.artifact
            else None,
        )
        for index, part in enumerate(item.parts)
    ]
    sender = item.sender
    return MessagePlan(
        role=item.role.value,
        status=status,
        created_at=aware(item.created_at),
        content="" if item.is_deleted or item.is_hidden else clean_text(item.content),
        original_sender=(
            {
                "id": str(sender.id) if sender.id else None,
                "username": clean_text(sender.username),
                "display_name": clean_text(sender.display_name),
            }
            if sender
            else None
        ),
        agent_slug=item.agent.slug if item.agent else "",
        provider=clean_text(item.provider),
        model=clean_text(item.model),
        completed_at=aware(item.completed_at),
        edited_at=aware(item.edited_at),
        latency_ms=item.latency_ms,
        ttft_ms=item.ttft_ms,
        prompt_tokens=item.prompt_tokens,
        completion_tokens=item.completion_tokens,
        total_tokens=item.total_tokens,
        cached_input_tokens=item.cached_input_tokens,
        reasoning_tokens=item.reasoning_tokens,
        error=clean_text(item.error),
        error_type=error_type,
        error_details=clean_json(item.error_details, location=f"{location}.error_details"),
        is_aborted=item.is_aborted,
        meta=meta,
        is_deleted=item.is_deleted,
        is_hidden=item.is_hidden,
        parts=[] if item.is_deleted or item.is_hidden else parts,
        source_seq=item.seq,
        reply_to_source_seq=item.reply_to_seq,
    )


def _validate(schema: type[SchemaType], raw: Any, location: str) -> SchemaType:
    if not isinstance(raw, dict):
        raise invalid(location, "must be an object.")
    try:
        return schema.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise invalid(f"{location}.{path}" if path else location, first["msg"]) from None
