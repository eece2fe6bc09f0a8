"""A fake OpenAI-compatible chat-completions server, for tests only (the app never imports it).

`FakeOpenAI` is a real HTTP/1.1 server on 127.0.0.1 at a free port, in a background thread
(stdlib `ThreadingHTTPServer`; the SSE body is written by hand with
`Transfer-Encoding: chunked`, so that a test controls every byte and every pause). Any POST to
a path ending in `/chat/completions` is answered by the next `Scenario`:

    fake_openai.script(text_reply("Hello there", tokens_per_second=1000))  # queued, FIFO
    fake_openai.script(error_reply(500, "boom"), text_reply("ok"))         # a retry succeeds
    fake_openai.script(text_reply(many_tokens(3000)))  # 3,000 tiny deltas, no delay
    fake_openai.route("slow-model", Scenario(...))   # every request for that model
    fake_openai.default = text_reply("…")            # when nothing is queued or routed

    ChatRequest(base_url=fake_openai.base_url, api_key="sk-test", model="m", messages=[…])
    fake_openai.requests[0].headers["authorization"], fake_openai.requests[0].body["messages"]

A Scenario can: stream chunk objects (or raw SSE text) with a delay between them; answer an
HTTP error with an OpenAI-style body (`error_reply`, `context_length_error`); answer plain
JSON (`json_reply`); stall before the headers (`headers_delay`) or before any chunk
(`stall_at`, `stall_seconds`); drop the connection after some chunks (`disconnect_at`, a FIN,
or with `reset=True` an RST); split its writes into small pieces (`write_size`); leave out
the final `data: [DONE]` (`done=False`); hang up without answering (`hang_up`); rewrite
each event at the moment it is written (`stamp`, e.g. to put the send time in it). Pauses end
early when the client hangs up, which is counted (`client_disconnects`,
`wait_for_client_disconnect()`), or when the server stops.

`refused_base_url()` gives the URL of a port where nothing listens (connection refused).

Fixtures: `fake_openai` in tests/assistant/conftest.py starts one per test and stops it.
"""

import contextlib
import json
import re
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-model"


# --- what to answer --------------------------------------------------------------------------


@dataclass
class Scenario:
    # Chunk objects (sent as `data: {json}\n\n`) or raw SSE text, sent as written.
    events: list[dict | str] = field(default_factory=list)
    status: int = 200
    # Set: the answer is this JSON (or text) with a Content-Length, not a stream.
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds between two events
    headers_delay: float = 0.0  # before the status line
    stall_at: int | None = None  # pause before event N (len(events): before the end)
    stall_seconds: float = 0.0
    disconnect_at: int | None = None  # drop the connection before event N
    reset: bool = False  # drop it with an RST rather than a FIN
    done: bool = True  # end with `data: [DONE]`
    hang_up: bool = False  # close the connection without answering at all
    write_size: int | None = None  # write every event in pieces of this many bytes
    # Called with each event's SSE text (`data: …\n\n`, [DONE] included) right before it is
    # written, after its delay; what it returns is written instead. For benchmarks that put
    # the send time into the chunk (bench/streaming.py).
    stamp: Callable[[str], str] | None = None


def chunk(
    delta: dict | None = None,
    *,
    finish_reason: str | None = None,
    usage: dict | None = None,
    choices: bool = True,
) -> dict:
    """A chat.completion.chunk object as OpenAI sends it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": (
            [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}] if choices else []
        ),
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage(
    prompt: int = 10,
    completion: int = 5,
    *,
    cached: int | None = None,
    reasoning: int | None = None,
) -> dict:
    """An OpenAI usage object, with the cached-input and reasoning details when given."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return body


def split_tokens(text: str) -> list[str]:
    """Words with their trailing spaces: the "tokens" a text reply streams."""
    return re.findall(r"\S+\s*|\s+", text)


def many_tokens(count: int) -> list[str]:
    """`count` tiny numbered tokens ("tok0 ", "tok1 ", …), each its own delta: with no delay,
    a stream faster than any model writes (tests/browser/test_stream_speed.py)."""
    return [f"tok{number} " for number in range(count)]


def text_reply(
    text: str | list[str] = "Hello from the fake model.",
    *,
    reasoning: str | list[str] | None = None,
    reasoning_key: str = "reasoning_content",
    tokens_per_second: float | None = None,
    finish_reason: str = "stop",
    usage_body: dict | None = None,
    **scenario: Any,
) -> Scenario:
    """A streamed answer: a role chunk, the reasoning deltas (under `reasoning_key`), the text
    deltas (a list is sent piece by piece, a string word by word), a finish chunk, a usage
    chunk with empty choices, [DONE]. `tokens_per_second` sets the delay between chunks."""
    pieces = split_tokens(text) if isinstance(text, str) else text
    thoughts = (split_tokens(reasoning) if isinstance(reasoning, str) else reasoning) or []
    events: list[dict | str] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({reasoning_key: piece}) for piece in thoughts]
    events += [chunk({"content": piece}) for piece in pieces]
    events.append(chunk({}, finish_reason=finish_reason))
    events.append(chunk(usage=usage_body or usage(), choices=False))
    if tokens_per_second:
        scenario.setdefault("delay", 1 / tokens_per_second)
    return Scenario(events=events, **scenario)


def tool_call_reply(
    name: str = "get_weather",
    arguments: str = '{"city": "Oslo", "unit": "celsius"}',
    *,
    call_id: str = "call_fake_1",
    pieces: int = 3,
    index: int = 0,
    **scenario: Any,
) -> Scenario:
    """A tool call streamed as OpenAI does: the id and name in the first fragment, the
    arguments split over `pieces` fragments, finish_reason "tool_calls", usage, [DONE]."""
    size = max(1, -(-len(arguments) // pieces))
    fragments = [arguments[start : start + size] for start in range(0, len(arguments), size)]
    events: list[dict | str] = [chunk({"role": "assistant", "content": None})]
    events.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
    )
    events += [
        chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        for fragment in fragments
    ]
    events.append(chunk({}, finish_reason="tool_calls"))
    events.append(chunk(usage=usage(), choices=False))
    return Scenario(events=events, **scenario)


def error_reply(
    status: int,
    message: str = "Something went wrong.",
    *,
    code: str | None = None,
    type: str = "server_error",
    headers: dict[str, str] | None = None,
) -> Scenario:
    """An HTTP error with OpenAI's error body."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return Scenario(status=status, body=body, headers=headers or {})


def context_length_error() -> Scenario:
    return error_reply(
        400,
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9000 tokens. Please reduce the length of the messages.",
        code="context_length_exceeded",
        type="invalid_request_error",
    )


def json_reply(text: str = "Hello in one piece.", *, usage_body: dict | None = None) -> Scenario:
    """A server that ignores stream: true: one chat.completion object as application/json."""
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_body or usage(),
    }
    return Scenario(body=body)


# --- the server ------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON, or the raw text when it is not JSON
    received_at: float  # time.monotonic()


class _Stopped(Exception):
    """The server is stopping: end the answer now."""


class _ClientGone(Exception):
    """The client hung up."""


class FakeOpenAI:
    def __init__(self, default: Scenario | None = None) -> None:
        self.default = default or text_reply()
        self.requests: list[RecordedRequest] = []
        self.client_disconnects = 0
        self._queue: deque[Scenario] = deque()
        self._routes: dict[str, Scenario] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- setup --

    def start(self) -> "FakeOpenAI":
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every answer in progress, close every connection, and wait for
        the handler threads."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scenarios --

    def script(self, *scenarios: Scenario) -> None:
        """Queue answers: each request takes the next one (FIFO)."""
        with self._lock:
            self._queue.extend(scenarios)

    def route(self, model: str, scenario: Scenario) -> None:
        """Answer every request for `model` with `scenario` (before the queue)."""
        with self._lock:
            self._routes[model] = scenario

    def wait_for_client_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """Wait until `count` clients have hung up in the middle of an answer."""
        with self._lock:
            return self._lock.wait_for(lambda: self.client_disconnects >= count, timeout)

    # -- used by the handler --

    def _next_scenario(self, body: Any) -> Scenario:
        model = body.get("model") if isinstance(body, dict) else None
        with self._lock:
            if model in self._routes:
                return self._routes[model]
            if self._queue:
                return self._queue.popleft()
            return self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _client_gone(self) -> None:
        with self._lock:
            self.client_disconnects += 1
            self._lock.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins them: a clean stop
    block_on_close = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # a safety net: no read blocks a handler thread forever

    def setup(self) -> None:
        super().setup()
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # we may have dropped the connection on purpose
            super().finish()
        self.server.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        fake = self.server.fake
        self.close_connection = True
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        fake._record(
            RecordedRequest(
                method="POST",
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
        )
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"No route {self.path}", "code": None}})
            return
        scenario = fake._next_scenario(body)
        try:
            self._pause(scenario.headers_delay)
            if scenario.hang_up:
                self._drop(reset=scenario.reset)
            elif scenario.body is not None or scenario.status != 200:
                self._send_json(scenario.status, scenario.body, scenario.headers)
            else:
                self._stream(scenario)
        except _ClientGone:
            fake._client_gone()
        except (BrokenPipeError, ConnectionResetError):
            fake._client_gone()
        except _Stopped:
            pass

    def do_GET(self) -> None:
        self.close_connection = True
        self._send_json(404, {"error": {"message": "Only POST /chat/completions here."}})

    # -- answers --

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        is_json = not isinstance(body, str)
        self.send_header("Content-Type", "application/json" if is_json else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, scenario: Scenario) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for name, value in scenario.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        events = [
            event if isinstance(event, str) else f"data: {json.dumps(event)}\n\n"
            for event in scenario.events
        ]
        if scenario.done:
            events.append("data: [DONE]\n\n")
        for number, event in enumerate(events):
            self._before_event(scenario, number)
            if scenario.stamp is not None:
                event = scenario.stamp(event)
            self._write_event(event.encode(), scenario.write_size)
        self._before_event(scenario, len(events))
        self.wfile.write(b"0\r\n\r\n")

    def _before_event(self, scenario: Scenario, number: int) -> None:
        if scenario.disconnect_at == number:
            self._drop(reset=scenario.reset)
            raise _Stopped
        if scenario.stall_at == number:
            self._pause(scenario.stall_seconds)
        elif number and scenario.delay:
            self._pause(scenario.delay)

    def _write_event(self, data: bytes, write_size: int | None) -> None:
        size = write_size or len(data)
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
            if write_size:
                time.sleep(0.001)  # separate TCP segments, most of the time

    def _drop(self, *, reset: bool) -> None:
        """Close the connection mid-answer: a FIN, or an RST (SO_LINGER 0)."""
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    def _pause(self, seconds: float) -> None:
        """Sleep, waking up when the client hangs up (_ClientGone) or the server stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.server.fake._stopping.is_set():
                raise _Stopped
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    raise _ClientGone from None
                if not data:
                    raise _ClientGone
                time.sleep(min(left, 0.05))  # unexpected bytes: not a hang-up


def refused_base_url() -> str:
    """The base URL of a local port where nothing listens: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
