"""What the model is shown: the agent's system prompt, then as much of the conversation as fits
a token budget, as OpenAI chat messages.

Tokens are estimated, not counted: `estimate_tokens` is ceil(UTF-8 bytes / 4), which is the
usual ~4 characters per token of English and, for CJK text (3 bytes a character, about one
token each), errs on the side of counting more, never much less. Each message adds
`MESSAGE_OVERHEAD_TOKENS` for its role and separators, as chat templates do. No tokenizer:
every model has its own, and an estimate that errs high is what a budget needs.

The history is cut into turns (one Message, with the tool calls, tool results and text of
each of its steps); turns are kept newest first while they fit, so the oldest go first. The
system prompt is always kept, and so is the newest turn even when it alone is over the
budget: the server then answers `context_length`, which tells the user more than an answer
to nothing.
"""

import json
import math
from collections.abc import Iterable
from itertools import groupby

from django.db.models import prefetch_related_objects

from conversations.models import Message, MessagePart, MessageRole, MessageStatus, PartType

MESSAGE_OVERHEAD_TOKENS = 4
NO_TOOL_RESULT = "(no result: the tool call did not complete)"
TOOL_NAME = "_tool_name"


def estimate_tokens(text: str) -> int:
    """ceil(UTF-8 bytes / 4): ~4 characters a token in English, higher for other scripts."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def estimate_message_tokens(message: dict) -> int:
    """The estimate for one OpenAI chat message, tool calls included."""
    tokens = MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        tokens += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(
            function.get("name", "") + function.get("arguments", "")
        )
    return tokens


def build_messages(*, system_prompt: str, history: list[Message], budget_tokens: int) -> list[dict]:
    """The messages of a chat-completions request: the system prompt (if any), then the newest
    turns of `history` (in thread order) that fit `budget_tokens` with it.

    Skipped: deleted and hidden messages, turns still being generated, and errored turns that
    produced nothing. Reasoning is not sent back (servers ask that it not be); images and
    files neither (text only for now). The parts of assistant and tool messages are loaded
    in one query unless the caller prefetched them.
    """
    prefetch_related_objects(
        [m for m in history if m.role in (MessageRole.ASSISTANT, MessageRole.TOOL)], "parts"
    )
    turns = _turns(history)

    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    used = sum(estimate_message_tokens(message) for message in system)
    kept: list[list[dict]] = []
    for turn in reversed(turns):
        cost = sum(estimate_message_tokens(message) for message in turn)
        if kept and used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    return system + [message for turn in reversed(kept) for message in turn]


# --- turns -----------------------------------------------------------------------------------


def _turns(history: Iterable[Message]) -> list[list[dict]]:
    """One list of chat messages per turn. A tool-role Message joins the assistant turn before
    it (it answers that turn's calls), so that the budget keeps or drops them together."""
    turns: list[list[dict]] = []
    previous_role = None
    for message in history:
        if not message.is_visible:
            continue
        if message.role == MessageRole.TOOL:
            results = _tool_messages(message)
            if turns and previous_role == MessageRole.ASSISTANT:
                turns[-1].extend(results)
            # A tool result with no call before it answers nothing a server would accept.
            continue
        if message.role == MessageRole.ASSISTANT:
            chat_messages = _assistant_messages(message)
        elif message.content.strip():
            chat_messages = [{"role": _ROLES[message.role], "content": message.content}]
        else:
            chat_messages = []
        if chat_messages:
            turns.append(chat_messages)
            previous_role = message.role
    return [paired for turn in turns if (paired := _pair_tool_results(turn))]


_ROLES = {MessageRole.USER: "user", MessageRole.SYSTEM: "system"}


def _parts(message: Message) -> list[MessagePart]:
    return sorted(message.parts.all(), key=lambda part: (part.step_index, part.index))


def _assistant_messages(message: Message) -> list[dict]:
    if message.status in (MessageStatus.PENDING, MessageStatus.STREAMING):
        return []  # being generated (perhaps this very reply)
    parts = _parts(message)
    if not any(part.type == PartType.TOOL_CALL for part in parts):
        # The common case: the message's content is its whole text.
        return [{"role": "assistant", "content": message.content}] if message.content else []

    chat_messages: list[dict] = []
    wrote_text = False
    for _, step in groupby(parts, key=lambda part: part.step_index):
        step_parts = list(step)
        text = "".join(
            part.content.get("text", "") for part in step_parts if part.type == PartType.TEXT
        )
        wrote_text = wrote_text or bool(text)
        calls = [part for part in step_parts if part.type == PartType.TOOL_CALL]
        if not calls:
            if text:
                chat_messages.append({"role": "assistant", "content": text})
            continue
        call_ids = {part.index: _call_id(message, part) for part in calls}
        chat_messages.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {
                        "id": call_ids[part.index],
                        "type": "function",
                        "function": {"name": part.tool_name, "arguments": _arguments(part)},
                    }
                    for part in calls
                ],
            }
        )
        chat_messages.extend(
            _tool_message(part) for part in step_parts if part.type == PartType.TOOL_RESULT
        )
    if not wrote_text and message.content:
        # Text kept only in the message's content (no text parts): the turn's final answer.
        chat_messages.append({"role": "assistant", "content": message.content})
    return chat_messages


def _tool_messages(message: Message) -> list[dict]:
    """A tool-role Message (imports make them): its results, for the calls of the assistant
    turn before it."""
    return [_tool_message(part) for part in _parts(message) if part.type == PartType.TOOL_RESULT]


def _tool_message(part: MessagePart) -> dict:
    # TOOL_NAME is ours, for pairing a result that lost its call id; it leaves before sending.
    return {
        "role": "tool",
        "tool_call_id": part.tool_call_id,
        "content": _tool_output(part),
        TOOL_NAME: part.tool_name,
    }


def _call_id(message: Message, part: MessagePart) -> str:
    # Imported calls may have lost their ids; any id unique in the request will do.
    return part.tool_call_id or f"call_{message.seq}_{part.index}"


def _arguments(part: MessagePart) -> str:
    arguments = part.content.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _tool_output(part: MessagePart) -> str:
    content = part.content
    output = next((content[key] for key in ("output", "result", "text") if key in content), "")
    text = output if isinstance(output, str) else json.dumps(output)
    return f"Error: {text}" if content.get("is_error") else text


def _pair_tool_results(turn: list[dict]) -> list[dict]:
    """What servers require: each assistant message with tool_calls is followed by exactly one
    tool message per call. A result without a call id answers the first open call of its
    tool; a call with no result gets a placeholder; a result that answers no open call is
    dropped."""
    paired: list[dict] = []
    open_calls: list[tuple[str, str]] = []  # (id, tool name), in call order

    def close_open_calls() -> None:
        paired.extend(
            {"role": "tool", "tool_call_id": call_id, "content": NO_TOOL_RESULT}
            for call_id, _ in open_calls
        )
        open_calls.clear()

    for message in turn:
        if message["role"] == "tool":
            call_id, tool_name = message["tool_call_id"], message.get(TOOL_NAME, "")
            answered = next(
                (
                    call
                    for call in open_calls
                    if call[0] == call_id or (not call_id and call[1] == tool_name)
                ),
                None,
            )
            if answered is not None:
                open_calls.remove(answered)
                paired.append(
                    {"role": "tool", "tool_call_id": answered[0], "content": message["content"]}
                )
            continue
        close_open_calls()
        paired.append(message)
        open_calls.extend(
            (call["id"], call["function"]["name"]) for call in message.get("tool_calls") or []
        )
    close_open_calls()
    return paired
