"""Reading what an OpenAI-compatible server streams, without any I/O: the Server-Sent Events
framing (`EventStreamFrames`), the chat.completion chunks in their servers' dialects
(`ChunkReader`: reasoning vs reasoning_content, tool calls numbered 0, usage on every chunk,
errors inside the stream), and the events they become, which `provider.stream_chat` yields
(docs/assistant.md)."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ProviderError, Redactor, upstream_error

# --- what the stream yields ------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call. The first fragment of a call carries its id and name; the
    arguments (a JSON string) arrive in pieces to be concatenated: see `ToolCallAssembler`."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True)
class Finish:
    """The last event of a successful stream. `reason` is the server's finish_reason
    ("stop", "length", "tool_calls", "content_filter", …), None if it sent none."""

    reason: str | None


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | UsageReport | Finish


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


class ToolCallAssembler:
    """Joins `ToolCallDelta` fragments into whole tool calls, in index order."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        if delta.id and not call["id"]:
            call["id"] = delta.id
        if delta.name and not call["name"]:
            call["name"] = delta.name
        call["arguments"] += delta.arguments

    def calls(self) -> list[ToolCall]:
        return [ToolCall(**self._calls[index]) for index in sorted(self._calls)]

    def __bool__(self) -> bool:
        return bool(self._calls)


# --- reading chunks ---------------------------------------------------------------------------


class ChunkReader:
    """Turns chat.completion.chunk objects into events; remembers the finish and usage."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact
        self.finish_reason: str | None = None
        self.finished = False
        self.usage: UsageReport | None = None
        # Tool-call index → id, to keep indexes distinct from servers that number every
        # call 0 (each call whole in one chunk).
        self._tool_ids: dict[int, str] = {}
        self._tool_index_map: dict[int, int] = {}

    def feed(self, chunk: Any) -> list[StreamEvent]:
        if not isinstance(chunk, dict):
            raise ProviderError(
                "upstream_error",
                "The model server sent a malformed chunk.",
                details={"reason": "malformed chunk"},
            )
        if chunk.get("error") is not None:
            raise upstream_error(
                status=None, body=chunk, redact=self.redact, details={"reason": "error in stream"}
            )
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            # Servers that report usage on every chunk: the last one is the total.
            self.usage = _usage_report(usage)
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            # We ask for one choice; its index is 0 (or missing, from lax servers).
            if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict):
                events.extend(self._delta_events(delta))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
                self.finished = True
        return events

    def _delta_events(self, delta: dict) -> Iterable[StreamEvent]:
        # DeepSeek and older vLLM say reasoning_content; Ollama, OpenRouter, newer vLLM say
        # reasoning. A server sending both sends the same text twice: take one.
        reasoning = delta.get("reasoning_content")
        if not (isinstance(reasoning, str) and reasoning):
            reasoning = delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            yield ReasoningDelta(reasoning)
        content = delta.get("content")
        if isinstance(content, str) and content:
            yield TextDelta(content)
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for position, call in enumerate(tool_calls):
                if isinstance(call, dict):
                    yield self._tool_call_delta(call, position)

    def _tool_call_delta(self, call: dict, position: int) -> ToolCallDelta:
        raw_index = call.get("index")
        raw_index = raw_index if isinstance(raw_index, int) else position
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        index = self._tool_index_map.get(raw_index, raw_index)
        if call_id is not None:
            known = self._tool_ids.get(index)
            if known is not None and known != call_id:
                # A new call under an index already used: give it the next free one.
                index = max(self._tool_ids) + 1
                self._tool_index_map[raw_index] = index
            self._tool_ids[index] = call_id
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        name = function.get("name") if isinstance(function.get("name"), str) else None
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            # Whole-call servers sometimes send the arguments as an object.
            arguments = json.dumps(arguments)
        return ToolCallDelta(index=index, id=call_id, name=name or None, arguments=arguments)

    def closing_events(self) -> list[StreamEvent]:
        events: list[StreamEvent] = [self.usage] if self.usage is not None else []
        return [*events, Finish(self.finish_reason)]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _usage_report(usage: dict) -> UsageReport:
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return UsageReport(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        cached_input_tokens=_count(
            prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else 0
        ),
        reasoning_tokens=_count(
            completion_details.get("reasoning_tokens")
            if isinstance(completion_details, dict)
            else 0
        ),
    )


# --- the Server-Sent Events framing -----------------------------------------------------------

DONE = "[DONE]"  # the data of the stream's last event


class EventStreamFrames:
    """Turns the lines of a text/event-stream into the data of its events: `data: {json}`
    lines (a blank line ends an event, but a data line that is whole JSON is taken at once,
    for servers that omit the blank line), `:` comments (keep-alives, ignored), `data: [DONE]`
    at the end."""

    def __init__(self) -> None:
        self._buffer: list[str] = []

    def feed(self, line: str | None) -> list[str]:
        """The data payloads that `line` completes; None is the end of the stream."""
        payloads: list[str] = []
        if line is None:
            if self._buffer:
                payloads.append("\n".join(self._buffer))
        elif line == "":
            if self._buffer:
                payloads.append("\n".join(self._buffer))
                self._buffer = []
        elif not line.startswith(":"):  # a comment: a keep-alive
            name, _, value = line.partition(":")
            if name == "data":  # event:, id:, retry: carry nothing we use
                value = value.removeprefix(" ")
                if not self._buffer and (value == DONE or _is_json_object(value)):
                    payloads.append(value)
                else:
                    self._buffer.append(value)
        return payloads


def parse_chunk(payload: str) -> Any:
    """An event's data as JSON."""
    try:
        return json.loads(payload)
    except ValueError:
        raise ProviderError(
            "upstream_error",
            "The model server sent a chunk that is not JSON.",
            details={"reason": "malformed chunk"},
        ) from None


def _is_json_object(value: str) -> bool:
    if not value.startswith("{"):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def completion_events(body: Any, *, redact: Redactor) -> list[StreamEvent]:
    """The events of a whole (non-streamed) chat.completion object."""
    if isinstance(body, dict) and body.get("error") is not None:
        raise upstream_error(status=None, body=body, redact=redact)
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise ProviderError(
            "upstream_error",
            "The model server answered with JSON that is not a chat completion.",
            details={"reason": "malformed completion"},
        )
    reader = ChunkReader(redact)
    events = reader.feed(body)
    reader.finished = True
    return [*events, *reader.closing_events()]
