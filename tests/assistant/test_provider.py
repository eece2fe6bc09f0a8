"""The provider client against a real (fake) OpenAI-compatible server: deltas, tool calls,
usage, every error type, the timeouts, the retries, and the API key kept secret."""

import asyncio
import json
import logging
import time

import httpx
import pytest

from conversations.assistant.provider import (
    ChatRequest,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    Timeouts,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    UsageReport,
    stream_chat,
)
from tests.fake_openai import (
    Scenario,
    chunk,
    context_length_error,
    error_reply,
    json_reply,
    refused_base_url,
    text_reply,
    tool_call_reply,
    usage,
)

API_KEY = "sk-test-SECRET-0123456789abcdef"
FAST = Timeouts(connect=2, first_token=2, total=10, idle=2)


def make_request(base_url: str, **overrides) -> ChatRequest:
    fields = {
        "base_url": base_url,
        "api_key": API_KEY,
        "model": "fake-model",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    return ChatRequest(**{**fields, **overrides})


def run(request: ChatRequest, **options) -> tuple[list, ProviderError | None]:
    """(the events streamed, the ProviderError that ended the stream or None)."""
    options.setdefault("timeouts", FAST)
    options.setdefault("backoff", 0.01)

    async def collect():
        events = []
        try:
            async for event in stream_chat(request, **options):
                events.append(event)
        except ProviderError as error:
            return events, error
        return events, None

    return asyncio.run(collect())


def text_of(events) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


# --- streaming -------------------------------------------------------------------------------


def test_text_deltas_arrive_in_order_then_usage_then_finish(fake_openai):
    fake_openai.script(text_reply(["Hel", "lo", ", ", "world", "!"], tokens_per_second=1000))
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(", "),
        TextDelta("world"),
        TextDelta("!"),
        UsageReport(
            prompt_tokens=10, completion_tokens=5, cached_input_tokens=0, reasoning_tokens=0
        ),
        Finish("stop"),
    ]


def test_request_is_a_streaming_post_with_the_key_in_the_authorization_header(fake_openai):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = make_request(fake_openai.base_url + "/", temperature=0.2, max_tokens=100, tools=tools)
    run(request)
    [received] = fake_openai.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.headers["accept"] == "text/event-stream"
    assert received.body == {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 100,
        "tools": tools,
    }


def test_unset_options_and_empty_key_are_left_out(fake_openai):
    run(make_request(fake_openai.base_url, api_key=""))
    [received] = fake_openai.requests
    assert "authorization" not in received.headers
    assert set(received.body) == {"model", "messages", "stream", "stream_options"}


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_deltas_come_before_the_text(fake_openai, key):
    fake_openai.script(
        text_reply(["The answer", " is 4."], reasoning=["2+2", " is 4"], reasoning_key=key)
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert events[:4] == [
        ReasoningDelta("2+2"),
        ReasoningDelta(" is 4"),
        TextDelta("The answer"),
        TextDelta(" is 4."),
    ]


def test_a_server_sending_both_reasoning_fields_is_heard_once(fake_openai):
    fake_openai.script(
        Scenario(
            events=[
                chunk({"reasoning_content": "hm", "reasoning": "hm"}),
                chunk({}, finish_reason="stop"),
            ]
        )
    )
    events, _ = run(make_request(fake_openai.base_url))
    assert [event for event in events if isinstance(event, ReasoningDelta)] == [
        ReasoningDelta("hm")
    ]


def test_tool_call_fragments_assemble_into_the_call(fake_openai):
    arguments = '{"city": "Oslo", "unit": "celsius"}'
    fake_openai.script(tool_call_reply("get_weather", arguments, call_id="call_1", pieces=4))
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    deltas = [event for event in events if isinstance(event, ToolCallDelta)]
    assert len(deltas) == 5
    assert (deltas[0].id, deltas[0].name, deltas[0].arguments) == ("call_1", "get_weather", "")
    assert all(delta.id is None and delta.name is None for delta in deltas[1:])
    assembler = ToolCallAssembler()
    for delta in deltas:
        assembler.add(delta)
    assert assembler.calls() == [ToolCall(id="call_1", name="get_weather", arguments=arguments)]
    assert json.loads(assembler.calls()[0].arguments) == {"city": "Oslo", "unit": "celsius"}
    assert events[-1] == Finish("tool_calls")


def test_whole_tool_calls_all_numbered_zero_keep_apart(fake_openai):
    """Some servers send each call whole in one chunk, every one at index 0."""

    def whole(call_id, name, arguments):
        call = {"index": 0, "id": call_id, "type": "function"}
        call["function"] = {"name": name, "arguments": arguments}
        return chunk({"tool_calls": [call]})

    fake_openai.script(
        Scenario(
            events=[
                whole("call_a", "read_file", {"path": "a.py"}),
                whole("call_b", "run_tests", '{"path": "tests"}'),
                chunk({}, finish_reason="tool_calls"),
            ]
        )
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assembler = ToolCallAssembler()
    for event in events:
        if isinstance(event, ToolCallDelta):
            assembler.add(event)
    assert assembler.calls() == [
        ToolCall(id="call_a", name="read_file", arguments='{"path": "a.py"}'),
        ToolCall(id="call_b", name="run_tests", arguments='{"path": "tests"}'),
    ]


def test_usage_from_the_final_chunk_includes_cached_and_reasoning_tokens(fake_openai):
    fake_openai.script(text_reply("Done.", usage_body=usage(1200, 300, cached=1024, reasoning=256)))
    events, _ = run(make_request(fake_openai.base_url))
    assert events[-2:] == [
        UsageReport(
            prompt_tokens=1200,
            completion_tokens=300,
            cached_input_tokens=1024,
            reasoning_tokens=256,
        ),
        Finish("stop"),
    ]


def test_usage_on_every_chunk_is_reported_once_with_the_last_value(fake_openai):
    fake_openai.script(
        Scenario(
            events=[
                chunk({"content": "a"}, usage=usage(10, 1)),
                chunk({"content": "b"}, usage=usage(10, 2)),
                chunk({}, finish_reason="stop", usage=usage(10, 3)),
            ]
        )
    )
    events, _ = run(make_request(fake_openai.base_url))
    reports = [event for event in events if isinstance(event, UsageReport)]
    assert reports == [UsageReport(10, 3, 0, 0)]


def test_no_usage_no_report(fake_openai):
    fake_openai.script(
        Scenario(events=[chunk({"content": "x"}), chunk({}, finish_reason="length")])
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert events == [TextDelta("x"), Finish("length")]


def test_keepalive_comments_crlf_split_writes_and_missing_blank_lines_are_understood(fake_openai):
    def data(body):
        return f"data: {json.dumps(body)}"

    fake_openai.script(
        Scenario(
            events=[
                ": keepalive\r\n\r\n",
                data(chunk({"content": "one "})) + "\r\n\r\n",
                "event: message\nid: 7\n" + data(chunk({"content": "two "})) + "\n\n",
                # No blank line between these two events.
                data(chunk({"content": "three "})) + "\n",
                data(chunk({"content": "four"})) + "\n\n",
                ": still here\n\n",
                "data:" + json.dumps(chunk({}, finish_reason="stop")) + "\n\n",
            ],
            write_size=7,
        )
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert text_of(events) == "one two three four"
    assert events[-1] == Finish("stop")


def test_a_json_object_split_over_data_lines_is_joined(fake_openai):
    body = json.dumps(chunk({"content": "joined"}), indent=1)
    multi_line = "".join(f"data: {line}\n" for line in body.splitlines()) + "\n"
    fake_openai.script(Scenario(events=[multi_line, chunk({}, finish_reason="stop")]))
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert text_of(events) == "joined"


def test_a_plain_json_answer_to_a_streaming_request_still_works(fake_openai):
    fake_openai.script(json_reply("All at once.", usage_body=usage(7, 3, cached=2)))
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert events == [TextDelta("All at once."), UsageReport(7, 3, 2, 0), Finish("stop")]


def test_stopping_early_hangs_up_on_the_server(fake_openai):
    """What an abort does: the caller stops reading and closes the stream."""
    fake_openai.script(text_reply(["t "] * 200, tokens_per_second=50))

    async def read_two():
        received = []
        stream = stream_chat(make_request(fake_openai.base_url))
        async for event in stream:
            received.append(event)
            if len(received) == 2:
                break
        await stream.aclose()
        return received

    assert len(asyncio.run(read_two())) == 2
    assert fake_openai.wait_for_client_disconnect(timeout=2)


def test_cancelling_the_task_hangs_up_on_the_server(fake_openai):
    fake_openai.script(text_reply(["t "] * 200, tokens_per_second=50))

    async def cancel_after_first_delta():
        first = asyncio.Event()

        async def consume():
            async for _ in stream_chat(make_request(fake_openai.base_url)):
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after_first_delta())
    assert fake_openai.wait_for_client_disconnect(timeout=2)


def test_a_shared_client_is_left_open(fake_openai):
    async def go():
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                events = [
                    event
                    async for event in stream_chat(
                        make_request(fake_openai.base_url), client=client
                    )
                ]
                assert events[-1] == Finish("stop")
            assert not client.is_closed

    asyncio.run(go())
    assert len(fake_openai.requests) == 2


# --- errors ----------------------------------------------------------------------------------


def test_http_500_is_upstream_error_with_status_and_message(fake_openai):
    fake_openai.script(error_reply(500, "The engine is overloaded."))
    events, error = run(make_request(fake_openai.base_url), retries=0)
    assert events == []
    assert (error.error_type, error.status) == ("upstream_error", 500)
    assert "HTTP 500" in error.message and "The engine is overloaded." in error.message
    assert error.details["upstream_message"] == "The engine is overloaded."
    assert error.details["type"] == "server_error"


def test_a_long_upstream_message_is_cut(fake_openai):
    fake_openai.script(error_reply(502, "x" * 5000))
    _, error = run(make_request(fake_openai.base_url), retries=0)
    assert len(error.details["upstream_message"]) == 500
    assert len(error.message) < 600


def test_a_non_json_error_body_is_kept_as_text(fake_openai):
    fake_openai.script(Scenario(status=503, body="<html>Bad gateway</html>"))
    _, error = run(make_request(fake_openai.base_url), retries=0)
    assert (error.error_type, error.status) == ("upstream_error", 503)
    assert "Bad gateway" in error.message


def test_context_length_error_has_its_own_type_and_is_not_retried(fake_openai):
    fake_openai.script(context_length_error(), text_reply())
    _, error = run(make_request(fake_openai.base_url), retries=2)
    assert (error.error_type, error.status) == ("context_length", 400)
    assert error.details["code"] == "context_length_exceeded"
    assert "maximum context length is 8192" in error.message
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 4096 tokens. However, you requested 5000.",
        "the request exceeds the available context size, try increasing it",
    ],
)
def test_context_length_is_recognised_by_message_without_a_code(fake_openai, message):
    fake_openai.script(error_reply(400, message, type="invalid_request_error"))
    _, error = run(make_request(fake_openai.base_url))
    assert error.error_type == "context_length"


def test_other_client_errors_are_upstream_errors_and_not_retried(fake_openai):
    fake_openai.script(error_reply(404, "The model `nope` does not exist.", code="model_not_found"))
    _, error = run(make_request(fake_openai.base_url), retries=2)
    assert (error.error_type, error.status) == ("upstream_error", 404)
    assert error.details["code"] == "model_not_found"
    assert len(fake_openai.requests) == 1


def test_connection_refused_is_upstream_unreachable_after_the_retries():
    started = time.monotonic()
    _, error = run(make_request(refused_base_url()), retries=2)
    assert error.error_type == "upstream_unreachable"
    assert error.status is None
    assert error.details["host"].startswith("127.0.0.1:")
    assert time.monotonic() - started < 2


def test_an_invalid_base_url_is_upstream_unreachable():
    _, error = run(make_request("ftp://example.com/v1"))
    assert error.error_type == "upstream_unreachable"
    assert "base URL" in error.message


def test_connect_timeout_is_a_timeout_on_connect():
    attempts = []

    def refuse(request):
        attempts.append(request)
        raise httpx.ConnectTimeout("timed out", request=request)

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            with pytest.raises(ProviderError) as caught:
                async for _ in stream_chat(
                    make_request("http://model.invalid/v1"), client=client, retries=1, backoff=0.01
                ):
                    pass
            return caught.value

    error = asyncio.run(go())
    assert (error.error_type, error.details["which"]) == ("timeout", "connect")
    assert len(attempts) == 2


def test_a_mid_stream_disconnect_ends_early_after_the_deltas_it_sent(fake_openai):
    fake_openai.script(text_reply(["a", "b", "c", "d"], disconnect_at=3), text_reply())
    events, error = run(make_request(fake_openai.base_url))
    assert text_of(events) == "ab"
    assert (error.error_type, error.status) == ("upstream_error", None)
    assert error.details == {"reason": "stream ended early"}
    assert len(fake_openai.requests) == 1  # never retried once streaming began


def test_a_mid_stream_reset_ends_early_too(fake_openai):
    fake_openai.script(text_reply(["a", "b", "c"], disconnect_at=2, reset=True))
    events, error = run(make_request(fake_openai.base_url))
    assert text_of(events) == "a"
    assert error.details == {"reason": "stream ended early"}


def test_a_stream_that_ends_without_done_or_finish_ended_early(fake_openai):
    fake_openai.script(Scenario(events=[chunk({"content": "half"})], done=False))
    events, error = run(make_request(fake_openai.base_url))
    assert text_of(events) == "half"
    assert error.details == {"reason": "stream ended early"}


def test_a_finished_stream_without_done_is_complete(fake_openai):
    fake_openai.script(
        Scenario(events=[chunk({"content": "whole"}), chunk({}, finish_reason="stop")], done=False)
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert events == [TextDelta("whole"), Finish("stop")]


def test_an_error_inside_the_stream_is_an_upstream_error(fake_openai):
    fake_openai.script(
        Scenario(
            events=[
                chunk({"content": "par"}),
                {"error": {"message": "Model crashed", "code": 500}},
            ],
            done=False,
        )
    )
    events, error = run(make_request(fake_openai.base_url))
    assert text_of(events) == "par"
    assert error.error_type == "upstream_error"
    assert error.details["reason"] == "error in stream"
    assert "Model crashed" in error.message


def test_a_context_error_inside_the_stream_is_context_length(fake_openai):
    error_body = {"error": {"message": "prompt too long", "code": "context_length_exceeded"}}
    fake_openai.script(Scenario(events=[error_body], done=False))
    _, error = run(make_request(fake_openai.base_url))
    assert error.error_type == "context_length"


def test_a_chunk_that_is_not_json_is_an_upstream_error(fake_openai):
    fake_openai.script(Scenario(events=["data: {not json\n\n"]))
    _, error = run(make_request(fake_openai.base_url))
    assert (error.error_type, error.details["reason"]) == ("upstream_error", "malformed chunk")


# --- timeouts --------------------------------------------------------------------------------


def test_no_headers_in_time_is_a_first_token_timeout(fake_openai):
    fake_openai.script(text_reply(headers_delay=5))
    started = time.monotonic()
    _, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=0.3, idle=5, total=10)
    )
    assert error.error_type == "timeout"
    assert error.details == {"which": "first_token", "seconds": 0.3}
    assert time.monotonic() - started < 2
    assert len(fake_openai.requests) == 1  # a slow model is not asked twice
    assert fake_openai.wait_for_client_disconnect()


def test_headers_then_silence_is_a_first_token_timeout(fake_openai):
    fake_openai.script(text_reply(stall_at=0, stall_seconds=5))
    _, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=0.3, idle=5, total=10)
    )
    assert (error.error_type, error.details["which"]) == ("timeout", "first_token")


def test_keepalives_do_not_count_as_a_first_token(fake_openai):
    keepalives = [": keepalive\n\n"] * 20
    fake_openai.script(Scenario(events=[*keepalives, chunk({"content": "late"})], delay=0.05))
    _, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=0.3, idle=5, total=10)
    )
    assert (error.error_type, error.details["which"]) == ("timeout", "first_token")


def test_silence_mid_stream_is_an_idle_timeout(fake_openai):
    fake_openai.script(text_reply(["a", "b", "c"], stall_at=2, stall_seconds=5))
    events, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=5, idle=0.3, total=10)
    )
    assert text_of(events) == "a"
    assert error.details == {"which": "idle", "seconds": 0.3}
    assert fake_openai.wait_for_client_disconnect()


def test_a_slow_but_steady_stream_past_the_total_is_a_total_timeout(fake_openai):
    fake_openai.script(text_reply(["x"] * 100, tokens_per_second=20))
    events, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=5, idle=5, total=0.5)
    )
    assert 0 < len(text_of(events)) < 100
    assert error.details == {"which": "total", "seconds": 0.5}


def test_a_late_done_after_the_finish_is_not_an_error(fake_openai):
    events = [chunk({"content": "ok"}), chunk({}, finish_reason="stop")]
    fake_openai.script(Scenario(events=events, stall_at=2, stall_seconds=5))
    events, error = run(
        make_request(fake_openai.base_url), timeouts=Timeouts(first_token=5, idle=0.3, total=10)
    )
    assert error is None
    assert events == [TextDelta("ok"), Finish("stop")]


def test_a_fast_stream_is_not_slowed_down(fake_openai):
    fake_openai.script(text_reply(["t "] * 500, tokens_per_second=1000))
    started = time.monotonic()
    events, error = run(make_request(fake_openai.base_url))
    assert error is None
    assert len([event for event in events if isinstance(event, TextDelta)]) == 500
    assert time.monotonic() - started < 5


# --- retries ---------------------------------------------------------------------------------


def test_a_500_then_success_is_retried_before_the_first_token(fake_openai):
    fake_openai.script(error_reply(500), error_reply(503), text_reply("Second try."))
    events, error = run(make_request(fake_openai.base_url), retries=2)
    assert error is None
    assert text_of(events) == "Second try."
    assert len(fake_openai.requests) == 3
    first, second, third = (request.received_at for request in fake_openai.requests)
    assert second - first >= 0.01 and third - second >= 0.02  # the backoff doubles


def test_retries_run_out(fake_openai):
    fake_openai.script(error_reply(500), error_reply(500), error_reply(500, "still down"))
    _, error = run(make_request(fake_openai.base_url), retries=2)
    assert (error.error_type, error.status) == ("upstream_error", 500)
    assert "still down" in error.message
    assert len(fake_openai.requests) == 3


def test_no_retries_when_asked_for_none(fake_openai):
    fake_openai.script(error_reply(500), text_reply())
    _, error = run(make_request(fake_openai.base_url), retries=0)
    assert error.status == 500
    assert len(fake_openai.requests) == 1


def test_429_is_retried_after_its_retry_after(fake_openai):
    fake_openai.script(
        error_reply(429, "Slow down.", headers={"Retry-After": "0.2"}), text_reply("ok")
    )
    events, error = run(make_request(fake_openai.base_url))
    assert error is None and text_of(events) == "ok"
    first, second = (request.received_at for request in fake_openai.requests)
    assert second - first >= 0.2


def test_429_asking_for_a_long_wait_is_not_retried(fake_openai):
    fake_openai.script(
        error_reply(429, "Rate limit reached.", headers={"Retry-After": "60"}), text_reply()
    )
    _, error = run(make_request(fake_openai.base_url))
    assert (error.error_type, error.status) == ("upstream_error", 429)
    assert error.details["retry_after"] == 60
    assert len(fake_openai.requests) == 1


def test_retries_stop_at_the_total_deadline(fake_openai):
    fake_openai.script(*[error_reply(500)] * 5)
    _, error = run(
        make_request(fake_openai.base_url),
        retries=4,
        backoff=1.0,
        timeouts=Timeouts(first_token=5, idle=5, total=0.5),
    )
    assert error.status == 500
    assert len(fake_openai.requests) == 1  # the first wait would pass the deadline


def test_no_retry_once_the_stream_has_begun(fake_openai):
    fake_openai.script(text_reply(["a", "b"], disconnect_at=1), text_reply("should not be asked"))
    _, error = run(make_request(fake_openai.base_url), retries=2)
    assert error.details == {"reason": "stream ended early"}
    assert len(fake_openai.requests) == 1


def test_a_hang_up_before_any_answer_is_retried(fake_openai):
    fake_openai.script(Scenario(hang_up=True), text_reply("ok"))
    events, error = run(make_request(fake_openai.base_url))
    assert error is None and text_of(events) == "ok"
    assert len(fake_openai.requests) == 2


def test_a_hang_up_every_time_is_an_upstream_error(fake_openai):
    fake_openai.default = Scenario(hang_up=True)
    _, error = run(make_request(fake_openai.base_url), retries=1)
    assert (error.error_type, error.details["reason"]) == ("upstream_error", "no response")
    assert len(fake_openai.requests) == 2


# --- the key stays secret --------------------------------------------------------------------


def test_the_request_repr_masks_the_key():
    request = make_request("http://example.com/v1")
    assert API_KEY not in repr(request) and API_KEY not in str(request)
    assert "api_key='***'" in repr(request)
    assert "api_key=''" in repr(make_request("http://example.com/v1", api_key=""))


@pytest.mark.parametrize(
    "scenario",
    [
        text_reply("fine"),
        error_reply(401, f"Incorrect API key provided: {API_KEY}.", code="invalid_api_key"),
        error_reply(500, f"key {API_KEY} broke us"),
        Scenario(events=[{"error": {"message": f"bad key {API_KEY}", "code": API_KEY}}]),
        text_reply(["a"], stall_at=1, stall_seconds=3),
    ],
    ids=["success", "401-echoing-key", "500-echoing-key", "stream-error-echoing-key", "timeout"],
)
def test_the_key_is_in_no_error_repr_or_log_record(fake_openai, caplog, scenario):
    fake_openai.script(scenario, scenario, scenario)
    caplog.set_level(logging.DEBUG)
    events, error = run(
        make_request(fake_openai.base_url),
        retries=1,
        timeouts=Timeouts(first_token=2, idle=0.3, total=10),
    )
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert caplog.records  # httpx and httpcore did log at DEBUG
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)
    assert API_KEY not in repr(events)
    if error is not None:
        for text in (str(error), repr(error), error.message, json.dumps(error.details)):
            assert API_KEY not in text
        # No chained httpx exception carries the request into a traceback.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


def test_the_key_is_in_no_error_when_unreachable(caplog):
    caplog.set_level(logging.DEBUG)
    _, error = run(make_request(refused_base_url()), retries=1)
    assert error.error_type == "upstream_unreachable"
    assert API_KEY not in repr(error) and API_KEY not in json.dumps(error.details)
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert any("retrying" in record.getMessage() for record in caplog.records)


# --- the fake server itself ------------------------------------------------------------------


def test_the_fake_server_stops_cleanly_even_mid_stall():
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI(default=text_reply(stall_at=1, stall_seconds=30)).start()

    async def hang():
        async for _ in stream_chat(make_request(server.base_url), timeouts=Timeouts(idle=30)):
            pass

    async def go():
        task = asyncio.create_task(hang())
        while not server.requests:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        stopped_in = time.monotonic() - started
        with pytest.raises(ProviderError):
            await task
        return stopped_in

    assert asyncio.run(go()) < 2


def test_refused_base_url_refuses():
    with pytest.raises(httpx.ConnectError):
        httpx.post(refused_base_url() + "/chat/completions", json={})
