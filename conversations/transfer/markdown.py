"""The Markdown export: a document a person can read or keep, streamed a message at a time.

    # Title
    - facts about the conversation
    ---
    ### #1 · Alice (user) · 2025-03-01 10:00 UTC
    the message's markdown, as written
    ### #2 · Assistant (gpt-4o) · 2025-03-01 10:00 UTC · version 2 of 3
    **Tool call** `read_file` …
    ```json
    {"path": "app.py"}
    ```

It tells the path through the versions that the person exporting is shown, one message per
turn (numbered by turn), saying which version of its turn each is when there are several;
the other versions are in the JSON export only. A message's text is its own markdown, left
as written. Tool calls, tool results, reasoning
and errors are folded into fenced blocks whose fence is longer than any run of backticks
inside, so nothing in them can close the block early. Deleted and hidden messages keep
their heading without their content, as the API shows them.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from conversations.models import Message, MessagePart, MessageRole, PartType

if TYPE_CHECKING:
    from conversations.selectors.export import ConversationExport

BACKTICK_RUN = re.compile(r"`+")


def markdown_chunks(export: "ConversationExport") -> Iterator[str]:
    conversation = export.conversation
    title = (
        " ".join(conversation.title.split()) or f"{conversation.get_kind_display()} conversation"
    )
    people = ", ".join(
        f"{_person(participant.user)} ({participant.role})"
        for participant in conversation.export_participants
    )
    shown = conversation.path.tail
    messages = f"- Messages: {conversation.message_count}"
    if shown != conversation.message_count:
        messages = f"- Messages: {shown} on the path shown ({conversation.message_count} in all)"
    facts = [
        f"- Kind: {conversation.get_kind_display()}"
        + (f", with {conversation.agent.name}" if conversation.agent else ""),
        f"- Participants: {people}",
        messages,
        f"- Started: {_time(conversation.created_at)}",
        f"- Exported: {_time(export.exported_at)}",
    ]
    yield f"# {title}\n\n" + "\n".join(facts) + "\n\n---\n"
    previous = None
    for message in export.path_messages():
        # A turn's versions: 1 + its parent's next_turn_forks, the message before it here.
        forks = (
            conversation.first_turn_forks
            if message.position == 1
            else (previous.next_turn_forks if previous is not None else 0)
        )
        yield "\n" + message_markdown(message, versions=1 + forks)
        previous = message


def message_markdown(message: Message, *, versions: int = 1) -> str:
    heading = f"### #{message.position} · {_author(message)} · {_time(message.created_at)}"
    if versions > 1:
        heading += f" · version {message.version} of {versions}"
    lines = [heading, ""]
    if message.deleted_at is not None:
        lines += ["*This message was deleted.*", ""]
        return "\n".join(lines)
    if message.hidden_at is not None:
        lines += ["*This message was hidden by a moderator.*", ""]
        return "\n".join(lines)

    parts = list(message.parts.all())
    # A turn whose text is in text parts is told part by part, in order; otherwise the
    # content comes first, then whatever else the parts hold.
    if not any(part.type == PartType.TEXT for part in parts) and message.content.strip():
        lines += [message.content.strip(), ""]
    for part in parts:
        lines += _part(part)
    if message.error:
        label = f"Error ({message.error_type})" if message.error_type else "Error"
        lines += [f"> **{label}:** {' '.join(message.error.split())}", ""]
    usage = _usage(message)
    if usage:
        lines += [f"*{usage}*", ""]
    return "\n".join(lines)


def _part(part: MessagePart) -> list[str]:
    content = part.content or {}
    if part.type == PartType.TEXT:
        text = content.get("text")
        return [text.strip(), ""] if isinstance(text, str) and text.strip() else []
    if part.type == PartType.REASONING:
        return ["**Reasoning**", "", *_fenced(_as_text(content.get("text", content)), "text")]
    if part.type == PartType.TOOL_CALL:
        label = f"**Tool call** `{part.tool_name}`" + (
            f" ({part.tool_call_id})" if part.tool_call_id else ""
        )
        arguments = content.get("arguments", content)
        return [label, "", *_fenced(json.dumps(arguments, indent=2, ensure_ascii=False), "json")]
    if part.type == PartType.TOOL_RESULT:
        label = f"**Tool result** `{part.tool_name}`" + (
            f" in {part.tool_duration_ms} ms" if part.tool_duration_ms is not None else ""
        )
        output = content.get("output", content)
        return [label, "", *_fenced(_as_text(output), "text")]
    if part.type == PartType.ERROR:
        text = content.get("message") or content.get("text") or content
        return ["**Error**", "", *_fenced(_as_text(text), "text")]
    # image, file: what is known of it (the bytes are not in an export).
    described = _describe_file(part)
    return [f"*[{part.type}: {described}]*", ""]


def _describe_file(part: MessagePart) -> str:
    artifact = part.artifact if hasattr(part, "artifact") else None
    content = part.content or {}
    facts = []
    if artifact is not None:
        facts += [artifact.path or artifact.kind, artifact.mime, f"{artifact.size:,} bytes"]
    else:
        for key in ("path", "asset_pointer", "description", "prompt"):
            if isinstance(content.get(key), str) and content[key]:
                facts.append(content[key])
        if content.get("width") and content.get("height"):
            facts.append(f"{content['width']} x {content['height']} px")
    return ", ".join(" ".join(str(fact).split()) for fact in facts if fact) or "no details"


def _fenced(text: str, info: str) -> list[str]:
    longest = max((len(run) for run in BACKTICK_RUN.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", text.rstrip("\n"), fence, ""]


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _author(message: Message) -> str:
    if message.role == MessageRole.ASSISTANT:
        name = message.agent.name if message.agent else "Assistant"
        return f"{name} ({message.model})" if message.model else name
    if message.role in (MessageRole.SYSTEM, MessageRole.TOOL):
        return message.get_role_display()
    if message.sender is not None:
        return f"{_person(message.sender)} ({message.role})"
    original = (message.meta or {}).get("original_sender")
    if isinstance(original, dict) and (original.get("display_name") or original.get("username")):
        name = original.get("display_name") or original.get("username")
        return f"{' '.join(str(name).split())} ({message.role})"
    return f"Someone ({message.role})"


def _person(user) -> str:
    return " ".join((user.display_name or user.username).split())


def _usage(message: Message) -> str:
    facts = []
    if message.prompt_tokens is not None or message.completion_tokens is not None:
        input_tokens, output_tokens = message.prompt_tokens or 0, message.completion_tokens or 0
        facts.append(f"{input_tokens:,} input · {output_tokens:,} output tokens")
    if message.latency_ms is not None:
        facts.append(f"{message.latency_ms / 1000:.1f} s")
    return " · ".join(facts)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""
