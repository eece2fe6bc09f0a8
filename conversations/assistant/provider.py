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

This module is the HTTP side: the request, the connection, the retries and the deadlines.
What the stream says is read in `stream` (events, chunks, SSE framing); what can go wrong
is `errors.ProviderError`. The names callers use are importable from here.
"""

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import ProviderError, Redactor, stream_ended_early, timeout_error, upstream_error
from .stream import (
    DONE,
    ChunkReader,
    EventStreamFrames,
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    UsageReport,
    completion_events,
    parse_chunk,
)

logger = logging.getLogger(__name__)

# At most this much of an error body is read: enough for any JSON error, not a whole page.
ERROR_BODY_MAX_BYTES = 64 * 1024
# A 429 asking us to wait longer than this is not retried: the user should hear about it.
RETRY_AFTER_MAX_SECONDS = 10.0


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
    redact = Redactor(request.api_key)
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
                    raise timeout_error(which, seconds)
                for event in completion_events(body, redact=redact):
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
    redact: Redactor,
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
            error = timeout_error("connect", timeouts.connect)
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
            raise timeout_error(which, seconds) from None
        else:
            if 200 <= response.status_code < 300:
                return response, first_token_deadline
            status = response.status_code
            try:
                body, _ = await _read_body(response, deadline=deadline, limit=ERROR_BODY_MAX_BYTES)
            finally:
                await response.aclose()
            error = upstream_error(status=status, body=body, redact=redact)
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


async def _stream_events(
    response: httpx.Response,
    *,
    timeouts: Timeouts,
    first_token_deadline: float,
    total_deadline: float,
    redact: Redactor,
) -> AsyncIterator[StreamEvent]:
    """Read the Server-Sent Events of a streaming answer, each line within its deadline
    (keep-alive comments are no progress), and yield what their chunks say."""
    loop = asyncio.get_running_loop()
    frames = EventStreamFrames()
    reader = ChunkReader(redact)
    seconds = {"first_token": timeouts.first_token, "idle": timeouts.idle, "total": timeouts.total}
    idle_since: float | None = None  # set once the first data chunk has arrived
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
                done = True
            except TimeoutError:
                if reader.finished:
                    break  # the answer is whole; only the [DONE] is late
                raise timeout_error(which, seconds[which]) from None
            except httpx.HTTPError:
                if reader.finished:
                    break
                raise stream_ended_early() from None
            for payload in frames.feed(line):
                if payload.strip() == DONE:
                    done = True
                    reader.finished = True
                    break
                for event in reader.feed(parse_chunk(payload)):
                    yield event
                idle_since = loop.time()
    if not reader.finished:
        raise stream_ended_early()
    for event in reader.closing_events():
        yield event


# What callers import from here: the client, and the events and errors it yields and raises.
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
