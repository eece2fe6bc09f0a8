"""No model configured (no OPENAI_BASE_URL/OPENAI_MODEL, no agent endpoint): the turn that
could not be answered is kept, as error `not_configured` saying what to set, shown in the
thread after a reload with a Retry that regenerates it in place."""

import asyncio
import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from chatapp.accounts.services import personal_token_create
from conversations.assistant import generation
from conversations.models import Message, MessageStatus
from tests.fake_openai import text_reply


@pytest.fixture
def unconfigured(settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = ""


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def frames_of(body: str) -> list[tuple[str, dict]]:
    return [
        (name, json.loads(data))
        for name, data in re.findall(r"^event: (.*)\ndata: (.*)$", body, flags=re.MULTILINE)
    ]


def last_turn(conversation) -> Message:
    return Message.objects.filter(conversation=conversation).order_by("seq").last()


def retry_button(page: str) -> str | None:
    found = re.search(r'<form method="post" action="(/m/[^"]+/retry)" class="retry-form">', page)
    return found and found.group(1)


@pytest.mark.django_db
def test_reply_without_a_model_keeps_the_turn_as_an_error(unconfigured, alice, conversation):
    token = personal_token_create(user=alice, name="t").raw
    response = Client().post(
        f"/api/v1/conversations/{conversation.pk}/reply",
        data="{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    frames = frames_of(response.content.decode())
    assert [name for name, _ in frames] == ["message.created", "error"]
    assert frames[1][1]["error_type"] == "not_configured"
    assert "OPENAI_BASE_URL" in frames[1][1]["error"]
    turn = last_turn(conversation)
    assert (turn.seq, turn.role, turn.status) == (2, "assistant", MessageStatus.ERROR)
    assert turn.error_type == "not_configured" and "OPENAI_MODEL" in turn.error
    assert turn.reply_to.seq == 1
    conversation.refresh_from_db()
    assert conversation.message_count == 2


@pytest.mark.django_db
def test_the_error_is_shown_after_a_reload_with_a_retry(unconfigured, alice, conversation):
    generation.prepare_reply(user=alice, conversation_id=conversation.pk)
    page = browser(alice).get(f"/c/{conversation.pk}/").content.decode()
    note = re.search(r'<p class="error-note" role="note">(.*?)</p>', page, flags=re.DOTALL)
    assert note and "No model is configured" in note.group(1)
    assert "OPENAI_BASE_URL" in note.group(1)
    assert retry_button(page) == f"/m/{last_turn(conversation).pk}/retry"
    # The rows fragment (live updates, "load older") carries the same button.
    rows = browser(alice).get(f"/c/{conversation.pk}/rows?after=1").content.decode()
    assert retry_button(rows) == retry_button(page)


@pytest.mark.django_db
def test_retry_without_a_model_saves_the_error_again(unconfigured, alice, conversation):
    generation.prepare_reply(user=alice, conversation_id=conversation.pk)
    turn = last_turn(conversation)
    response = browser(alice).post(f"/m/{turn.pk}/retry")
    assert response.status_code == 302
    # A new version of the turn, shown at its place; the first one is kept.
    assert response["Location"] == f"/c/{conversation.pk}/#m3"
    retried = last_turn(conversation)
    assert retried.status == MessageStatus.ERROR and retried.error_type == "not_configured"
    assert (retried.position, retried.version, retried.parent_id) == (2, 2, turn.parent_id)
    turn.refresh_from_db()
    assert turn.error_type == "not_configured"
    assert Message.objects.filter(conversation=conversation).count() == 3


@pytest.mark.django_db
def test_an_earlier_failed_turn_can_be_retried_too(unconfigured, alice, conversation, post):
    generation.prepare_reply(user=alice, conversation_id=conversation.pk)
    failed = last_turn(conversation)
    post(conversation, "Anyone?")
    page = browser(alice).get(f"/c/{conversation.pk}/").content.decode()
    assert retry_button(page) is not None
    browser(alice).post(f"/m/{failed.pk}/retry")
    retried = last_turn(conversation)
    assert (retried.position, retried.version) == (failed.position, 2)
    # Alice is shown the new version, where the path ends: "Anyone?" stays on the old one.
    page = browser(alice).get(f"/c/{conversation.pk}/").content.decode()
    assert "Anyone?" not in page


@pytest.mark.django_db
def test_outsider_cannot_retry(unconfigured, alice, charlie, conversation):
    generation.prepare_reply(user=alice, conversation_id=conversation.pk)
    turn = last_turn(conversation)
    assert browser(charlie).post(f"/m/{turn.pk}/retry").status_code == 404
    assert Message.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db(transaction=True)
def test_retry_once_a_model_is_configured_writes_the_reply(
    settings, alice, conversation, fake_openai
):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = ""
    generation.prepare_reply(user=alice, conversation_id=conversation.pk)
    turn = last_turn(conversation)
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.STREAM_SAVE_INTERVAL_MS = 20
    fake_openai.script(text_reply("Now I can answer."))

    async def main():
        client = AsyncClient()
        await sync_to_async(client.force_login)(alice)
        try:
            response = await client.post(f"/m/{turn.pk}/retry")
            # The generation is the server's, not the request's: it runs on after the answer.
            await asyncio.wait(set(generation.RUNNING), timeout=8)
            return response
        finally:
            await sync_to_async(connections.close_all)()

    response = asyncio.run(main())
    assert response.status_code == 302
    # A new version is written by the configured model; the failed one keeps its reason.
    retried = last_turn(conversation)
    assert retried.pk != turn.pk and retried.position == turn.position
    assert retried.status == MessageStatus.COMPLETE, retried.error
    assert retried.content == "Now I can answer." and retried.error_type == ""
    assert retried.model == "fake-model"
    turn.refresh_from_db()
    assert turn.error_type == "not_configured"
