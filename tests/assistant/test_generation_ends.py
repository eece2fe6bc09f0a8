"""A generation always ends: whatever fails while a reply is written (text the database
cannot store, a save the database refuses, a bug of ours), the reply stream gets its last
event, the turn is saved closed with the text so far, and the conversation takes a new
reply at once.

In this process (SQLite or PostgreSQL), through the real reply endpoint (Django's
AsyncClient) and the fake model server, so that a test can break one piece of the app.
"""

import asyncio
import contextlib
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, OperationalError, connections
from django.test import AsyncClient

from chatapp.accounts.services import personal_token_create
from conversations import services
from conversations.assistant import generation
from conversations.live.broker import broker
from conversations.models import Message, MessageStatus
from tests.fake_openai import text_reply, tool_call_reply, usage

pytestmark = pytest.mark.django_db(transaction=True)

# Longer than any of these replies takes; a stream still open then never ended.
STREAM_LIMIT_SECONDS = 8


@pytest.fixture(autouse=True)
def endpoint(settings, fake_openai):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.OPENAI_API_KEY = "sk-test"
    settings.STREAM_SAVE_INTERVAL_MS = 20
    return fake_openai


@pytest.fixture
def token(alice):
    return personal_token_create(user=alice, name="t").raw


@pytest.fixture
def conversation(alice, post):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    post(conversation, "Hello?")
    return conversation


def parse(chunk: bytes) -> tuple[str, dict] | None:
    name, data = None, None
    for line in chunk.decode().splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:])
    return (name, data) if name else None


async def _reply(conversation, token: str, body: dict | None) -> tuple[int, list]:
    response = await AsyncClient().post(
        f"/api/v1/conversations/{conversation.pk}/reply",
        data=json.dumps(body or {}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 200:
        return response.status_code, []
    frames: list[tuple[str, dict]] = []

    async def read():
        async for chunk in response.streaming_content:
            frame = parse(chunk)
            if frame is not None:
                frames.append(frame)

    # A stream that never ends is cut here: its frames then show no last event.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), STREAM_LIMIT_SECONDS)
    # The generation outlives its stream by the moment it takes to return.
    if generation.RUNNING:
        await asyncio.wait(set(generation.RUNNING), timeout=STREAM_LIMIT_SECONDS)
    return 200, frames


def reply(conversation, token: str, **body) -> tuple[int, list]:
    """POST …/reply and read its stream to the end: (status, [(event, data), …])."""

    async def main():
        try:
            return await _reply(conversation, token, body)
        finally:
            # The connection of the thread Django's async code runs sync parts in.
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


def turn_of(conversation) -> Message:
    return Message.objects.filter(conversation=conversation).order_by("seq").last()


def streamed(frames, key: str = "text") -> str:
    return "".join(data.get(key, "") for name, data in frames if name == "delta")


def assert_takes_a_new_reply(conversation, token, fake_openai):
    """The turn is closed: trying again is accepted at once (not 409) and completes."""
    fake_openai.script(text_reply("Second try."))
    status, frames = reply(conversation, token, regenerate=True)
    assert status == 200
    assert frames[-1][0] == "message.completed"
    assert turn_of(conversation).content == "Second try."


# --- text the database cannot store ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasoning", "text", "stored_reasoning", "stored_text"),
    [
        (["Think", "ing\x00 hard"], ["The answer."], "Thinking hard", "The answer."),
        (None, ["Half ", "an\x00 ans", "wer\x00"], None, "Half an answer"),
        # A lone surrogate (a JSON "\ud800" escape) is no character: U+FFFD takes its place.
        (["Odd\ud800"], ["Broken ", "\udfffhere"], "Odd\ufffd", "Broken \ufffdhere"),
    ],
    ids=["nul-in-reasoning", "nul-in-content", "lone-surrogates"],
)
def test_text_the_database_cannot_store_is_made_storable_and_the_turn_ends(
    conversation, token, endpoint, reasoning, text, stored_reasoning, stored_text
):
    endpoint.script(text_reply(text, reasoning=reasoning, usage_body=usage(11, 4)))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "message.completed", frames
    # What was streamed is what was saved, so the offsets of message.delta hold.
    assert streamed(frames) == stored_text
    assert streamed(frames, "reasoning") == (stored_reasoning or "")

    turn = turn_of(conversation)
    assert turn.status == MessageStatus.COMPLETE and turn.content == stored_text
    assert turn.finish_reason == "stop"
    parts = {part.type: part.content["text"] for part in turn.parts.all()}
    assert parts.get("reasoning") == stored_reasoning and parts["text"] == stored_text
    assert (turn.prompt_tokens, turn.completion_tokens) == (11, 4)
    assert_takes_a_new_reply(conversation, token, endpoint)


def test_a_tool_call_longer_than_its_columns_is_cut_to_fit(conversation, token, endpoint):
    endpoint.script(tool_call_reply("t" * 300, '{"a": 1}', call_id="call_" + "9" * 300))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "message.completed", frames
    (call,) = turn_of(conversation).parts.filter(type="tool_call")
    assert call.tool_name == "t" * 200 and call.tool_call_id == ("call_" + "9" * 300)[:200]


# --- a save the database refuses ---------------------------------------------------------------


def test_a_part_the_database_refuses_ends_the_turn_as_error_with_its_text(
    conversation, token, endpoint, monkeypatch
):
    def refuse(**kwargs):
        raise DatabaseError("forced: the database refuses this part")

    monkeypatch.setattr(services, "message_part_add", refuse)
    endpoint.script(text_reply("The whole answer.", reasoning="Hmm.", usage_body=usage(9, 3)))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "error", frames
    last = frames[-1][1]
    assert last["status"] == "error" and last["error_type"] == "upstream_error"
    assert "saving" in last["error"]

    turn = turn_of(conversation)
    assert turn.status == MessageStatus.ERROR and turn.error_type == "upstream_error"
    assert turn.content == "The whole answer."
    assert turn.error == "Internal error saving this reply: DatabaseError"
    assert turn.completed_at is not None and turn.latency_ms is not None
    assert not turn.parts.exists()  # saving one is what failed
    assert (turn.prompt_tokens, turn.completion_tokens) == (9, 3)  # still counted

    monkeypatch.undo()
    assert_takes_a_new_reply(conversation, token, endpoint)


def test_an_upstream_error_whose_parts_cannot_be_saved_keeps_its_own_error(
    conversation, token, endpoint, monkeypatch
):
    def refuse(**kwargs):
        raise DatabaseError("forced")

    monkeypatch.setattr(services, "message_part_add", refuse)
    endpoint.script(text_reply("Half of an answer that", disconnect_at=4))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "error", frames
    turn = turn_of(conversation)
    assert turn.status == MessageStatus.ERROR and turn.error_type == "upstream_error"
    assert turn.content.startswith("Half of") and "saving" not in turn.error
    monkeypatch.undo()
    assert_takes_a_new_reply(conversation, token, endpoint)


def test_when_nothing_can_be_saved_the_stream_still_hears_the_error(
    conversation, token, endpoint, monkeypatch
):
    def unreachable(**kwargs):
        raise OperationalError("forced: the database went away")

    monkeypatch.setattr(services, "message_part_add", unreachable)
    monkeypatch.setattr(services, "assistant_message_finish", unreachable)
    endpoint.script(text_reply("Lost words."))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "error", frames
    assert frames[-1][1]["status"] == "error" and frames[-1][1]["error_type"] == "upstream_error"
    # The row could not be closed: the stale sweep does that (the text so far is saved).
    turn = turn_of(conversation)
    assert turn.status == MessageStatus.STREAMING and turn.content == "Lost words."


# --- a bug of ours -----------------------------------------------------------------------------


def test_an_exception_in_the_loop_ends_the_turn_as_error_with_the_text_so_far(
    conversation, token, endpoint, monkeypatch
):
    deliver = broker.deliver_to_message

    def breaks_on_boom(message_id, event):
        if "boom" in event["data"].get("text", ""):
            raise RuntimeError("a bug")
        deliver(message_id, event)

    monkeypatch.setattr(broker, "deliver_to_message", breaks_on_boom)
    endpoint.script(text_reply(["Before ", "the ", "boom", " after"]))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "error", frames
    assert streamed(frames) == "Before the "

    turn = turn_of(conversation)
    assert turn.status == MessageStatus.ERROR and turn.error_type == "upstream_error"
    assert turn.content.startswith("Before the ") and "RuntimeError" in turn.error
    assert [part.type for part in turn.parts.order_by("index")] == ["text", "error"]
    monkeypatch.undo()
    assert_takes_a_new_reply(conversation, token, endpoint)


def test_a_failing_upstream_close_still_ends_the_turn(conversation, token, endpoint, monkeypatch):
    real_stream_chat = generation.stream_chat

    class BadClose:
        def __init__(self, events):
            self.events = events

        def __aiter__(self):
            return self

        async def __anext__(self):
            return await anext(self.events)

        async def aclose(self):
            await self.events.aclose()
            raise RuntimeError("close failed")

    monkeypatch.setattr(
        generation,
        "stream_chat",
        lambda *args, **kwargs: BadClose(real_stream_chat(*args, **kwargs).__aiter__()),
    )
    endpoint.script(text_reply("All of it."))
    status, frames = reply(conversation, token)
    assert status == 200
    assert frames and frames[-1][0] == "message.completed", frames
    assert turn_of(conversation).status == MessageStatus.COMPLETE
