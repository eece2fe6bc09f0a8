"""Versions of a turn, around the thread: the sidebar's last message follows the path a
person is shown, search opens a version, and what resend and regenerate refuse."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import selectors, services
from conversations.assistant.generation import prepare_reply
from conversations.exceptions import Conflict, IdempotencyConflict
from conversations.models import MessageStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(alice):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant", title="Ask")
    question, _ = services.message_post(conversation=conversation, sender=alice, content="Why?")
    first = services.assistant_message_start(
        conversation=conversation, agent=None, reply_to=question
    )
    services.assistant_message_finish(message=first, content="Because.")
    return conversation, question, first


def last_excerpt(user):
    return selectors.conversation_list_for_user(user=user).items[0].last_message.excerpt


def test_the_sidebar_shows_the_end_of_the_path_one_is_shown(alice, answered):
    conversation, _, first = answered
    participant = conversation.participants.get(user=alice)
    second = services.reply_version_start(
        participant=participant, reply=first, agent=None, model=""
    )
    services.assistant_message_finish(message=second, content="Since always.")
    assert last_excerpt(alice) == "Since always."
    services.version_show(message=first, actor=alice)
    assert last_excerpt(alice) == "Because."
    services.version_show(message=second, actor=alice)
    assert last_excerpt(alice) == "Since always."


def test_the_sidebar_stays_one_query_with_versions(alice, answered):
    conversation, _, first = answered
    participant = conversation.participants.get(user=alice)
    for _ in range(3):
        version = services.reply_version_start(
            participant=participant, reply=first, agent=None, model=""
        )
        services.assistant_message_finish(message=version, content="Again.")
        participant.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        page = selectors.conversation_list_for_user(user=alice)
    assert len(queries) == 1
    assert page.items[0].last_message.excerpt == "Again."
    assert page.items[0].last_message.id == version.pk
    assert version.status == MessageStatus.STREAMING  # the instance as started


def test_search_finds_any_version_and_opens_the_thread_on_it(alice, answered, client):
    conversation, question, _ = answered
    resent, _ = services.message_resend(
        message=question, actor=alice, content="Why is the sky blue, zanzibar?"
    )
    services.version_show(message=question, actor=alice)  # back on the first version
    client.force_login(alice)
    results = client.get("/search", {"q": "zanzibar"}).content.decode()
    assert f"?at={resent.pk}" in results
    page = client.get(f"/c/{conversation.pk}/", {"at": str(resent.pk)}).content.decode()
    assert "zanzibar" in page and "Because." not in page
    assert conversation.participants.get(user=alice).line == resent.line
    # An id of another conversation, or of nothing, opens the thread as it is.
    assert client.get(f"/c/{conversation.pk}/", {"at": "nonsense"}).status_code == 200


def test_an_outsider_cannot_open_a_version(bob, answered, client):
    conversation, question, _ = answered
    client.force_login(bob)
    assert client.get(f"/c/{conversation.pk}/", {"at": str(question.pk)}).status_code == 404
    response = client.post(f"/m/{question.pk}/version", {"version": "1"})
    assert response.status_code == 404


def test_a_resend_with_a_key_used_by_a_post_makes_nothing_and_says_so(alice, answered):
    conversation, question, _ = answered
    services.message_post(
        conversation=conversation, sender=alice, content="Same words.", client_message_id="k1"
    )
    with pytest.raises(IdempotencyConflict):
        services.message_resend(
            message=question, actor=alice, content="Same words.", client_message_id="k1"
        )
    assert conversation.lines.count() == 0


def test_regenerating_a_prompt_says_only_a_reply_can_be(alice, answered, settings):
    conversation, question, _ = answered
    with pytest.raises(Conflict, match="Only an assistant's reply"):
        prepare_reply(
            user=alice, conversation_id=conversation.pk, regenerate=True, message_id=question.pk
        )


def test_a_regenerate_sent_again_with_its_key_makes_one_version(alice, bob, group, settings):
    settings.OPENAI_BASE_URL = settings.OPENAI_MODEL = ""  # saved at once, as not_configured
    conversation, _ = services.conversation_create(
        creator=alice, kind="assistant", title="Ask", workspace=group.workspace, participants=[bob]
    )
    question, _ = services.message_post(conversation=conversation, sender=alice, content="Why?")
    first = services.assistant_message_start(
        conversation=conversation, agent=None, reply_to=question
    )
    services.assistant_message_finish(message=first, content="Because.")

    def regenerate(user, key):
        return prepare_reply(
            user=user,
            conversation_id=conversation.pk,
            regenerate=True,
            message_id=first.pk,
            client_message_id=key,
        )

    made = regenerate(alice, "k1")
    again = regenerate(alice, "k1")
    assert again.replayed and again.message.pk == made.message.pk
    # The key is the requester's own: bob's "k1" is another regenerate.
    other = regenerate(bob, "k1")
    assert not other.replayed and other.message.pk != made.message.pk
    assert conversation.messages.filter(position=first.position).count() == 3


def test_the_regenerate_form_submitted_twice_makes_one_version(alice, answered, client, settings):
    settings.OPENAI_BASE_URL = settings.OPENAI_MODEL = ""
    conversation, _, first = answered
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    key = f"regenerate-{first.pk}-1"
    assert f'name="client_message_id" value="{key}"' in page
    for _ in range(2):
        response = client.post(f"/m/{first.pk}/retry", {"client_message_id": key})
        assert response.status_code == 302
    assert conversation.messages.filter(position=first.position).count() == 2


def test_each_version_says_what_wrote_it(alice, answered, settings):
    settings.OPENAI_BASE_URL = settings.OPENAI_MODEL = ""
    settings.ASSISTANT_CONTEXT_TOKENS = 4321
    conversation, _, first = answered
    version = prepare_reply(
        user=alice, conversation_id=conversation.pk, regenerate=True, message_id=first.pk
    ).message
    version.refresh_from_db()
    assert version.meta["generation"]["context_tokens"] == 4321
    assert set(version.meta["generation"]) == {
        "temperature",
        "max_tokens",
        "context_tokens",
        "system_prompt",
    }
    first.refresh_from_db()
    assert "generation" not in first.meta  # the first version, written before, is as it was
