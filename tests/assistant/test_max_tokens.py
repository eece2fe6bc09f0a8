"""Every request upstream asks for at most max_tokens: the agent's own, else
ASSISTANT_MAX_TOKENS, so that a model that never stops cannot write until the 600 s total
timeout (docs/assistant.md)."""

import pytest

from conversations import services
from conversations.assistant.generation import prepare_reply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def endpoint(settings):
    settings.OPENAI_BASE_URL = "http://models.example/v1"
    settings.OPENAI_MODEL = "some-model"


def asked_max_tokens(alice, conversation) -> int | None:
    return prepare_reply(user=alice, conversation_id=conversation.pk).request.max_tokens


def test_a_request_without_an_agent_limit_gets_the_default(settings, alice, conversation):
    settings.ASSISTANT_MAX_TOKENS = 4096
    assert asked_max_tokens(alice, conversation) == 4096


def test_the_agent_limit_wins(settings, alice, conversation):
    settings.ASSISTANT_MAX_TOKENS = 4096
    agent = services.agent_default_for_workspace(workspace=conversation.workspace)
    agent.max_tokens = 300
    agent.save()
    assert asked_max_tokens(alice, conversation) == 300


def test_zero_sends_no_limit(settings, alice, conversation):
    settings.ASSISTANT_MAX_TOKENS = 0
    assert asked_max_tokens(alice, conversation) is None


def test_the_default_setting_is_4096():
    from django.conf import settings

    assert settings.ASSISTANT_MAX_TOKENS == 4096
