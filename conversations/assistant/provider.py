"""The client for OpenAI-compatible chat-completions servers (OpenAI, vLLM, Ollama, llama.cpp,
LM Studio, DeepSeek), streaming.

`stream_chat(request)` POSTs `{base_url}/chat/completions` with `stream: true` and yields
events as the server sends them: `TextDelta`, `ReasoningDelta`, `ToolCallDelta`, then one
`UsageReport` (when the server reported usage) and a `Finish`, always last. Anything that goes
wrong raises `ProviderError`, whose `error_type` is a `MessageErrorType` value.

Timeouts (`Timeouts`): `connect` for the TCP/TLS connection, `first_token` from sending the
request to the first data chunk, `idle` for the longest silence between data chunks after
that (keep-alive comments do not count as progress), `total` for the whole call, retries
included. Retries (connect errors, a disconnect before any answer, 429 and 5xx) only happen
before the server has streamed anything, so a caller never sees a delta twice.

The API key is sent as `Authorization: Bearer …` and nowhere else: it is masked in
`ChatRequest`'s repr, httpx masks the header in its own reprs, and any upstream text that
echoes it is redacted before it reaches an exception, a log line or `details`.
"""

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Generator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

# An upstream error message kept in our messages and details is cut to this length.
ERROR_MESSAGE_MAX_CHARS = 500
# At most this much of an error body is read: enough for any JSON error, not a whole page.
ERROR_BODY_MAX_BYTES = 64 * 1024
# A 429 asking us to wait longer than this is not retried: the user should hear about it.
RETRY_AFTER_MAX_SECONDS = 10.0
# Shorter "keys" are placeholders ("none", "x") that local servers ignore; redacting them
# would garble messages without protecting anything.
REDACT_MIN_KEY_LENGTH = 6

CONTEXT_LENGTH_CODES = {"context_length_exceeded", "exceed_context_size_error"}
CONTEXT_LENGTH_STATUSES = {400, 413, 422}
# OpenAI: "This model's maximum context length is 8192 tokens…"; vLLM the same; llama.cpp:
# "the request exceeds the available context size"; Ollama: "…exceeded max context length";
# Anthropic-compatible proxies: "prompt is too long".
CONTEXT_LENGTH_MESSAGE = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|prompt is too long", re.IGNORECASE
)


# --- the request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    base_url: str
    api_key: str
    model: str
    messages: list[dict]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict] | None = None

    def __repr__(self) -> str:
        # Never the key; and a count, not the whole conversation, in logs and tracebacks.
        return (
            f"ChatRequest(base_url={self.base_url!r}, api_key={'***' if self.api_key else ''!r}, "
            f"model={self.model!r}, messages=<{len(self.messages)} messages>, "
            f"temperature={self.temperature!r}, max_tokens={self.max_tokens!r}, "
            f"tools=<{len(self.tools or [])} tools>)"
        )

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def payload(self) -> dict:
        """The JSON body: only the options that are set, so servers use their defaults."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            # Without it OpenAI (and vLLM, Ollama) send no usage when streaming.
            "stream_options": {"include_usage": True},
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.tools:
            body["tools"] = self.tools
        return body


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `idle` is the longest gap between data chunks after the first."""

    connect: float = 10
    first_token: float = 60
    total: float = 600
    idle: float = 60


DEFAULT_TIMEOUTS = Timeouts()


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


# --- errors ----------------------------------------------------------------------------------


class ProviderError(Exception):
    """The model server could not be reached, failed, or was too slow.

    `error_type` is a MessageErrorType value ("upstream_unreachable", "upstream_error",
    "timeout", "context_length"); `message` is for people and never holds the API key;
    `status` is the upstream HTTP status when there was one; `details` is JSON-safe.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        status: int | None = None,
        details: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status
        self.details = details or {}

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.error_type!r}, {self.message!r}, status={self.status!r}, "
            f"details={self.details!r})"
        )


class _Redactor:
    """Removes the API key from any text that came from outside before we keep it."""

    def __init__(self, api_key: str) -> None:
        self._key = api_key if len(api_key) >= REDACT_MIN_KEY_LENGTH else ""

    def __call__(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text


def _timeout_error(which: str, seconds: float) -> ProviderError:
    labels = {
        "connect": "connecting to the model server",
        "first_token": "waiting for the model's first token",
        "idle": "waiting for the model's next token",
        "total": "waiting for the model's whole answer",
    }
    return ProviderError(
        "timeout",
        f"Timed out after {seconds:g} s {labels[which]}.",
        details={"which": which, "seconds": seconds},
    )


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(message, code, type) from an error body in any of the shapes servers use:
    {"error": {"message", "code", "type"}} (OpenAI, vLLM, llama.cpp), {"error": "…"}
    (Ollama), {"detail": "…"} (FastAPI-based servers), {"message": "…"}."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error, "", ""
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or ""
            if not isinstance(message, str):
                message = json.dumps(message)
            return message, str(error.get("code") or ""), str(error.get("type") or "")
    if isinstance(body, str):
        return body, "", ""
    return "", "", ""


def _upstream_error(
    *, status: int | None, body: Any, redact: _Redactor, details: dict | None = None
) -> ProviderError:
    """An error the server reported, as an HTTP status or inside the stream."""
    message, code, kind = _error_fields(body)
    message = " ".join(redact(message).split())[:ERROR_MESSAGE_MAX_CHARS]
    details = {**(details or {})}
    if message:
        details["upstream_message"] = message
    if code:
        details["code"] = redact(code)[:100]
    if kind:
        details["type"] = redact(kind)[:100]
    is_context = code in CONTEXT_LENGTH_CODES or kind in CONTEXT_LENGTH_CODES
    if not is_context and (status is None or status in CONTEXT_LENGTH_STATUSES):
        is_context = bool(CONTEXT_LENGTH_MESSAGE.search(message))
    if is_context:
        return ProviderError(
            "context_length",
            "The conversation is longer than the model's context window"
            + (f": {message}" if message else "."),
            status=status,
            details=details,
        )
    where = f"HTTP {status}" if status is not None else "an error in the stream"
    return ProviderError(
        "upstream_error",
        f"The model server answered with {where}" + (f": {message}" if message else "."),
        status=status,
        details=details,
    )


def _stream_ended_early() -> ProviderError:
    return ProviderError(
        "upstream_error",
        "The model server closed the stream before the answer was complete.",
        details={"reason": "stream ended early"},
    )


# --- the call --------------------------------------------------------------------------------


class _BearerToken(httpx.Auth):
    """Sets the Authorization header at send time, so the key sits in no local variable of
    ours (tracebacks with locals, error reporters) and its repr says nothing."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __repr__(self) -> str:
        return "_BearerToken(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._api_key:
            request.headers["Authorization"] = f"Bearer {self._api_key}"
        yield request


def _host(base_url: str) -> str:
    """host[:port] of the server, for messages: never the path, query or user info."""
    try:
        parts = urlsplit(base_url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"
    except ValueError:
        return "?"


def _earliest(*deadlines: tuple[float, str]) -> tuple[float, str]:
    return min(deadlines, key=lambda deadline: deadline[0])


async def stream_chat(
    request: ChatRequest,
    *,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    retries: int = 2,
    client: httpx.AsyncClient | None = None,
    backoff: float = 0.5,
) -> AsyncIterator[StreamEvent]:
    """Stream one chat completion. Pass a shared `client` to reuse connections; without one, a
    client is made and closed for this call. `backoff` is the first retry's delay in seconds,
    doubled for each next one (a 429's Retry-After of up to 10 s is honoured)."""
    loop = asyncio.get_running_loop()
    total_deadline = loop.time() + timeouts.total
    redact = _Redactor(request.api_key)
    own_client = client is None
    if client is None:
        client = httpx.AsyncClient()
    try:
        response, first_token_deadline = await _open(
            client,
            request,
            timeouts=timeouts,
            retries=retries,
            backoff=backoff,
            total_deadline=total_deadline,
            redact=redact,
        )
        try:
            content_type = response.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                # A server (or proxy) that ignored stream: true and answered in one piece.
                deadline, which = _earliest(
                    (first_token_deadline, "first_token"), (total_deadline, "total")
                )
                body, complete = await _read_body(response, deadline=deadline, limit=None)
                if not complete:
                    seconds = timeouts.first_token if which == "first_token" else timeouts.total
                    raise _timeout_error(which, seconds)
                for event in _completion_events(body, redact=redact):
                    yield event
            else:
                # aclosing: a caller that stops early (an abort) closes the reader at once.
                async with contextlib.aclosing(
                    _stream_events(
                        response,
                        timeouts=timeouts,
                        first_token_deadline=first_token_deadline,
                        total_deadline=total_deadline,
                        redact=redact,
                    )
                ) as events:
                    async for event in events:
                        yield event
        finally:
            await response.aclose()
    finally:
        if own_client:
            await client.aclose()


async def _open(
    client: httpx.AsyncClient,
    request: ChatRequest,
    *,
    timeouts: Timeouts,
    retries: int,
    backoff: float,
    total_deadline: float,
    redact: _Redactor,
) -> tuple[httpx.Response, float]:
    """Send the request until a 2xx answer starts: (the streaming response, the first-token
    deadline of the attempt that got it). Retries the errors that prove nothing was
    generated; raises ProviderError for the rest and once the retries are spent."""
    loop = asyncio.get_running_loop()
    host = _host(request.base_url)
    try:
        http_request = client.build_request(
            "POST",
            request.url,
            json=request.payload(),
            headers={"Accept": "text/event-stream"},
            # Only the connection is httpx's to time; the reading deadlines are ours.
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=None, write=None, pool=timeouts.connect
            ),
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
        raise ProviderError(
            "upstream_unreachable",
            "The model server's base URL is not a valid http(s) URL.",
            details={"reason": redact(str(error))[:200]},
        ) from None
    auth = _BearerToken(request.api_key)
    attempt = 0
    while True:
        first_token_deadline = loop.time() + timeouts.first_token
        deadline, which = _earliest(
            (first_token_deadline, "first_token"), (total_deadline, "total")
        )
        retry_after: float | None = None
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(http_request, stream=True, auth=auth)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            error = _timeout_error("connect", timeouts.connect)
            retryable = True
        except httpx.ConnectError as cause:
            error = ProviderError(
                "upstream_unreachable",
                f"Could not connect to the model server at {host}.",
                details={"host": host, "reason": redact(str(cause))[:200]},
            )
            retryable = True
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as cause:
            # Closed before any answer: a restarting server, or a pooled connection it had
            # dropped. Nothing was generated, so trying again is safe.
            error = ProviderError(
                "upstream_error",
                f"The model server at {host} closed the connection without answering.",
                details={"reason": "no response", "cause": redact(str(cause))[:200]},
            )
            retryable = True
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as cause:
            raise ProviderError(
                "upstream_unreachable",
                "The model server's base URL is not a valid http(s) URL.",
                details={"reason": redact(str(cause))[:200]},
            ) from None
        except httpx.HTTPError as cause:
            raise ProviderError(
                "upstream_unreachable",
                f"Could not talk to the model server at {host}.",
                details={
                    "host": host,
                    "reason": redact(f"{type(cause).__name__}: {cause}")[:200],
                },
            ) from None
        except TimeoutError:
            seconds = timeouts.first_token if which == "first_token" else timeouts.total
            raise _timeout_error(which, seconds) from None
        else:
            if 200 <= response.status_code < 300:
                return response, first_token_deadline
            status = response.status_code
            try:
                body, _ = await _read_body(response, deadline=deadline, limit=ERROR_BODY_MAX_BYTES)
            finally:
                await response.aclose()
            error = _upstream_error(status=status, body=body, redact=redact)
            retryable = status == 429 or status >= 500
            retry_after = _retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                error.details["retry_after"] = retry_after
            if retry_after is not None and retry_after > RETRY_AFTER_MAX_SECONDS:
                retryable = False
        if not retryable or attempt >= retries:
            raise error
        # Jitter spreads out the retries of many processes hit by the same outage.
        delay = backoff * 2**attempt * random.uniform(1, 1.25)  # noqa: S311 (not security)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if loop.time() + delay >= total_deadline:
            raise error
        attempt += 1
        logger.warning(
            "Model server %s: %s (retrying in %.2f s, retry %d of %d)",
            host,
            error.message,
            delay,
            attempt,
            retries,
        )
        await asyncio.sleep(delay)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from model servers: ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def _read_body(
    response: httpx.Response, *, deadline: float, limit: int | None
) -> tuple[Any, bool]:
    """(the body as JSON, or as text when it is not JSON; whether it was read whole), read
    until `deadline` and at most `limit` bytes. What arrived in time is kept."""
    data = bytearray()
    complete = False
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_bytes():
                data += chunk
                if limit is not None and len(data) >= limit:
                    break
            complete = True
    text = bytes(data).decode("utf-8", errors="replace")
    try:
        return json.loads(text), complete
    except ValueError:
        return text, complete


# --- reading the stream ----------------------------------------------------------------------


class _ChunkReader:
    """Turns chat.completion.chunk objects into events; remembers the finish and usage."""

    def __init__(self, redact: _Redactor) -> None:
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
            raise _upstream_error(
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


async def _stream_events(
    response: httpx.Response,
    *,
    timeouts: Timeouts,
    first_token_deadline: float,
    total_deadline: float,
    redact: _Redactor,
) -> AsyncIterator[StreamEvent]:
    """Read Server-Sent Events: `data: {json}` lines (a blank line ends an event, but a data
    line that is whole JSON is taken at once, for servers that omit the blank line), `:`
    comments (keep-alives, ignored), `data: [DONE]` at the end."""
    loop = asyncio.get_running_loop()
    reader = _ChunkReader(redact)
    seconds = {"first_token": timeouts.first_token, "idle": timeouts.idle, "total": timeouts.total}
    idle_since: float | None = None  # set once the first data chunk has arrived
    buffer: list[str] = []
    done = False
    async with contextlib.aclosing(response.aiter_lines()) as lines:
        while not done:
            if idle_since is None:
                deadline, which = _earliest(
                    (first_token_deadline, "first_token"), (total_deadline, "total")
                )
            else:
                deadline, which = _earliest(
                    (idle_since + timeouts.idle, "idle"), (total_deadline, "total")
                )
            try:
                async with asyncio.timeout_at(deadline):
                    line = await anext(lines)
            except StopAsyncIteration:
                line = None
            except TimeoutError:
                if reader.finished:
                    break  # the answer is whole; only the [DONE] is late
                raise _timeout_error(which, seconds[which]) from None
            except httpx.HTTPError:
                if reader.finished:
                    break
                raise _stream_ended_early() from None

            payloads: list[str] = []
            if line is None:
                if buffer:
                    payloads.append("\n".join(buffer))
                done = True
            elif line == "":
                if buffer:
                    payloads.append("\n".join(buffer))
                    buffer = []
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name != "data":
                    continue  # event:, id:, retry: carry nothing we use
                if not buffer and (value == "[DONE]" or _is_json_object(value)):
                    payloads.append(value)
                else:
                    buffer.append(value)

            for payload in payloads:
                if payload.strip() == "[DONE]":
                    done = True
                    reader.finished = True
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    raise ProviderError(
                        "upstream_error",
                        "The model server sent a chunk that is not JSON.",
                        details={"reason": "malformed chunk"},
                    ) from None
                for event in reader.feed(chunk):
                    yield event
                idle_since = loop.time()
    if not reader.finished:
        raise _stream_ended_early()
    for event in reader.closing_events():
        yield event


def _is_json_object(value: str) -> bool:
    if not value.startswith("{"):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _completion_events(body: Any, *, redact: _Redactor) -> list[StreamEvent]:
    """The events of a whole (non-streamed) chat.completion object."""
    if isinstance(body, dict) and body.get("error") is not None:
        raise _upstream_error(status=None, body=body, redact=redact)
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise ProviderError(
            "upstream_error",
            "The model server answered with JSON that is not a chat completion.",
            details={"reason": "malformed completion"},
        )
    reader = _ChunkReader(redact)
    events = reader.feed(body)
    reader.finished = True
    return [*events, *reader.closing_events()]


# Kept for the orchestration's type hints.
__all__ = [
    "DEFAULT_TIMEOUTS",
    "ChatRequest",
    "Finish",
    "ProviderError",
    "ReasoningDelta",
    "StreamEvent",
    "TextDelta",
    "Timeouts",
    "ToolCall",
    "ToolCallAssembler",
    "ToolCallDelta",
    "UsageReport",
    "stream_chat",
]
