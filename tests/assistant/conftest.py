"""Fixtures for the assistant: a fake OpenAI-compatible server per test."""

import pytest

from tests.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai():
    """A real HTTP server on 127.0.0.1 speaking the chat-completions protocol; script its
    answers with fake_openai.script(...). See tests/fake_openai.py."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def conversation(alice, post):
    """alice's assistant conversation with one question in it, waiting for its answer."""
    from conversations import services

    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    post(conversation, "Hello?")
    return conversation
