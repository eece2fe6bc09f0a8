"""Our own JSON export format, version 2: written by `json_chunks` (streamed, one message at a
time) and read back by `document_plan` (streamed too: the messages are read from the file
each time the plan's messages are iterated, never all held at once).

    {"format": "chatapp", "version": 2, "exported_at": "…",
     "conversation": {id, kind, title, status, agent, subject, metadata, created_at, usage,
                      participants, …},
     "shown_line": 2,
     "lines": [{number, parent_line, fork_position, ancestry}, …],
     "messages": [{seq, position, line, parent_seq, version, role, status, sender, content,
                   parts: [{…, artifact}], revisions: [{number, content, created_at}],
                   usage, times, meta, is_deleted, is_hidden, …}, …]}

Version 2 carries every version of every turn (the tree: docs/data-model.md) and the earlier
texts of edited messages; version 1 (no lines, no places: each message follows the one
before) is still read. The schemas in conversations/schemas/transfer.py define every field.
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
    ExportLineIn,
    ExportLineOut,
    ExportMessageIn,
    ExportMessageOut,
    ExportMessageTreeIn,
)
from conversations.services.messages import validate_message_meta

from .plan import (
    MAIN_ANCESTRY,
    ArtifactPlan,
    ConversationPlan,
    LinePlan,
    MessagePlan,
    PartPlan,
    RevisionPlan,
    aware,
    clean_json,
    clean_text,
    fork_ancestry,
    invalid,
    line_at,
)
from .sources import JsonDocument

if TYPE_CHECKING:
    from conversations.selectors.export import ConversationExport

FORMAT = "chatapp"
VERSION = 2

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
    # The lines, then the messages, come last, so that a reader has the conversation and
    # the shape of its tree before them.
    yield text[:-1] + f', "shown_line": {export.shown_line}, "lines": ['
    separator = "\n"
    for line in export.lines():
        yield separator + json.dumps(ExportLineOut.from_orm(line).model_dump(mode="json"))
        separator = ",\n"
    yield '], "messages": ['
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
    lines, shown_line = _tree_of(document) if version >= 2 else (None, 0)
    return ConversationPlan(
        format=FORMAT,
        source_id=str(header.id),
        kind=header.kind.value,
        title=clean_text(header.title),
        status=header.status.value,
        created_at=aware(header.created_at),
        agent_slug=header.agent.slug if header.agent else "",
        metadata={**metadata, "import": imported},
        messages=StreamedMessages(document, lines),
        lines=lines,
        shown_line=shown_line,
    )


def _tree_of(document: JsonDocument) -> tuple[list[LinePlan], int]:
    """The lines of a version 2 document, checked (numbered 1, 2, 3 … in order, each forking
    from an earlier line, with the ancestry that fork makes), and its shown line."""
    name = document.name
    with document.open() as stream:
        raw_lines = next(ijson.items(stream, "lines"), None)
    if raw_lines is None:
        raw_lines = []
    if not isinstance(raw_lines, list):
        raise invalid(f"{name}.lines", "must be a list.")
    lines: list[LinePlan] = []
    ancestries: list[list[list[int]]] = [MAIN_ANCESTRY]
    for index, raw in enumerate(raw_lines):
        location = f"{name}.lines[{index}]"
        item = _validate(ExportLineIn, raw, location)
        if item.number != index + 1:
            raise invalid(
                f"{location}.number", f"must be {index + 1}: lines are 1, 2, 3 … in order."
            )
        if item.parent_line >= item.number:
            raise invalid(f"{location}.parent_line", "must be an earlier line.")
        ancestry = fork_ancestry(
            ancestries[item.parent_line], position=item.fork_position, number=item.number
        )
        if [list(pair) for pair in item.ancestry] != ancestry:
            raise invalid(
                f"{location}.ancestry",
                f"must be {ancestry}: the path of line {item.parent_line} before position "
                f"{item.fork_position}, then this line.",
            )
        ancestries.append(ancestry)
        lines.append(LinePlan(item.number, item.parent_line, item.fork_position, ancestry))
    with document.open() as stream:
        shown_line = next(ijson.items(stream, "shown_line"), None)
    if shown_line is None:
        shown_line = 0
    if isinstance(shown_line, bool) or not isinstance(shown_line, int):
        raise invalid(f"{name}.shown_line", "must be the number of a line.")
    if not 0 <= shown_line <= len(lines):
        raise invalid(f"{name}.shown_line", "must be 0 or the number of one of the lines.")
    return lines, shown_line


class StreamedMessages:
    """The messages of an export document, read from the file again on every iteration;
    with `lines` (version 2), each message's place in the tree is checked too."""

    def __init__(self, document: JsonDocument, lines: list[LinePlan] | None = None):
        self.document = document
        self.lines = lines

    def __iter__(self) -> Iterator[MessagePlan]:
        name = self.document.name
        seen: set[int] = set()
        last_seq = 0
        tree = _TreeCheck(self.lines, name) if self.lines is not None else None
        schema = ExportMessageTreeIn if tree else ExportMessageIn
        with self.document.open() as stream:
            items = ijson.items(stream, "messages.item", use_float=True)
            for index, raw in enumerate(items):
                location = f"{name}.messages[{index}]"
                item = _validate(schema, raw, location)
                if item.seq <= last_seq:
                    raise invalid(f"{location}.seq", "messages must be in increasing seq order.")
                if item.reply_to_seq is not None and item.reply_to_seq not in seen:
                    raise invalid(
                        f"{location}.reply_to_seq", "must be the seq of an earlier message."
                    )
                seen.add(item.seq)
                last_seq = item.seq
                if tree is not None:
                    tree.check(item, location)
                plan = _message_plan(item, location)
                if tree is not None:
                    plan.position, plan.line, plan.version = item.position, item.line, item.version
                    plan.parent_source_seq = item.parent_seq
                    if not (item.is_deleted or item.is_hidden):
                        plan.revisions = _revisions(item, location)
                yield plan
        if tree is not None:
            tree.finish()


class _TreeCheck:
    """That the messages of a version 2 document, read in seq order, are the tree its lines
    describe: each message on a line that exists, at or after the line's fork; its parent
    the message before it on that line's path, written before it; each (line, position)
    once; the versions of a turn numbered 1, 2, 3 … in the order they were written; every
    line holding its first message and forking from a message of its parent line. Holds
    two integers per message (less than the writer's ids)."""

    def __init__(self, lines: list[LinePlan], name: str):
        self.name = name
        self.lines = lines
        self.ancestries = [MAIN_ANCESTRY, *(line.ancestry for line in lines)]
        self.starts = [1, *(line.fork_position for line in lines)]
        # (line, position) -> seq, and how many versions each parent (by seq) has so far.
        self.seq_at: dict[tuple[int, int], int] = {}
        self.children: dict[int | None, int] = {}

    def check(self, item: ExportMessageTreeIn, location: str) -> None:
        line, position = item.line, item.position
        if line >= len(self.starts):
            raise invalid(f"{location}.line", "must be 0 or the number of one of the lines.")
        if position < self.starts[line]:
            raise invalid(
                f"{location}.position",
                f"line {line} starts at position {self.starts[line]}; this is before it.",
            )
        if (line, position) in self.seq_at:
            raise invalid(
                f"{location}.position",
                f"message {self.seq_at[line, position]} is at position {position} of line "
                f"{line} already.",
            )
        parent = None
        if position > 1:
            parent = self.seq_at.get((line_at(self.ancestries[line], position - 1), position - 1))
            if parent is None:
                raise invalid(
                    f"{location}.position",
                    f"no earlier message is at position {position - 1} of line {line}'s path.",
                )
        if item.parent_seq != parent:
            raise invalid(
                f"{location}.parent_seq",
                f"must be {parent}: the message before it on the path of line {line}.",
            )
        version = self.children.get(parent, 0) + 1
        if item.version != version:
            raise invalid(
                f"{location}.version",
                f"must be {version}: a turn's versions are numbered in the order written.",
            )
        self.children[parent] = version
        self.seq_at[line, position] = item.seq

    def finish(self) -> None:
        for index, line in enumerate(self.lines):
            if (line.number, line.fork_position) not in self.seq_at:
                raise invalid(
                    f"{self.name}.lines[{index}]",
                    f"no message is at position {line.fork_position} of line {line.number}.",
                )
            if (line.parent_line, line.fork_position) not in self.seq_at:
                raise invalid(
                    f"{self.name}.lines[{index}]",
                    f"forks from line {line.parent_line} at position {line.fork_position}, "
                    "where that line has no message.",
                )


def _revisions(item: ExportMessageTreeIn, location: str) -> list[RevisionPlan]:
    revisions = []
    last = 0
    for index, revision in enumerate(item.revisions):
        if revision.number <= last:
            raise invalid(
                f"{location}.revisions[{index}].number", "revisions must be in increasing order."
            )
        last = revision.number
        revisions.append(
            RevisionPlan(
                number=revision.number,
                content=clean_text(revision.content),
                created_at=aware(revision.created_at),
            )
        )
    return revisions


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
