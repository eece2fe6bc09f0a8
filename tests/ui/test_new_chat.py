"""New chat without JavaScript (views.new_chat): the empty thread makes nothing until its first
message, which its plain form sends with the conversation in one POST, idempotent by the
client_message_id the page was rendered with."""

import re

import pytest
from django.test import Client

from conversations import services
from conversations.models import Agent, Conversation, Message

pytestmark = pytest.mark.django_db

NEW_CHAT = "/new"


@pytest.fixture
def browser_for():
    def make(user, **options):
        client = Client(**options)
        client.force_login(user)
        return client

    return make


def client_message_id_of(page: str) -> str:
    return re.search(r'name="client_message_id" value="([^"]*)"', page).group(1)


def first_message(client, content: str, **fields):
    """The New chat page, then its form sent as a browser would send it."""
    page = client.get(NEW_CHAT).content.decode()
    data = {"content": content, "client_message_id": client_message_id_of(page), **fields}
    return client.post(NEW_CHAT, data), data


def test_new_chat_links_open_an_empty_thread_that_makes_nothing(browser_for, alice):
    client = browser_for(alice)
    home = client.get("/").content.decode()
    # Both New chat buttons are links to the page, no longer forms that make a conversation.
    assert home.count(f'href="{NEW_CHAT}"') == 2
    assert 'name="kind" value="assistant"' not in home
    for _ in range(2):  # opened, and reloaded
        response = client.get(NEW_CHAT)
        assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="thread-title">New chat</h1>' in page
    assert re.search(r'<textarea id="composer-text"[^>]* autofocus', page)
    assert f'action="{NEW_CHAT}"' in page and 'data-api-url="/api/v1/conversations"' in page
    assert len(client_message_id_of(page)) == 32
    assert 'aria-current="page">' in page.split('class="button new-chat"', 1)[1][:120]
    assert not Conversation.objects.exists()


def test_one_post_makes_the_conversation_with_its_first_message(browser_for, alice):
    response, sent = first_message(browser_for(alice), "Plan a *trip* to Lisbon")
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/c/{conversation.pk}/#m1"
    assert (conversation.kind, conversation.created_by, conversation.agent) == (
        "assistant",
        alice,
        None,
    )
    assert conversation.workspace == alice.default_workspace
    assert conversation.title == "Plan a *trip* to Lisbon" and conversation.message_count == 1
    message = Message.objects.get()
    assert (message.conversation, message.sender, message.seq) == (conversation, alice, 1)
    assert message.client_message_id == sent["client_message_id"]
    thread = browser_for(alice).get(response["Location"]).content.decode()
    assert "Plan a <em>trip</em> to Lisbon" in thread


def test_a_double_submit_makes_one_conversation(browser_for, alice):
    client = browser_for(alice)
    first, sent = first_message(client, "Only once, please")
    again = client.post(NEW_CHAT, sent)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1
    # The same key with other words is refused, and makes nothing either.
    other = client.post(NEW_CHAT, {**sent, "content": "Something else"})
    assert other.status_code == 422
    assert "different message" in other.content.decode()
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        ("", 422, "A message cannot be empty."),
        ("   \n ", 422, "A message cannot be empty."),
        ("x" * 100_001, 422, "A message is at most 100,000 characters."),
        ("nul \x00 inside", 400, ""),  # refused before any view (chatapp.middleware)
    ],
)
def test_bad_input_is_refused_and_makes_nothing(browser_for, alice, content, status, reason):
    client = browser_for(alice)
    response, sent = first_message(client, content)
    assert response.status_code == status
    assert not Conversation.objects.exists() and not Message.objects.exists()
    if status == 422:
        page = response.content.decode()
        assert f'<p class="error-note" id="composer-error" role="alert">{reason}</p>' in page
        assert 'aria-invalid="true"' in page
        # The page again, the same key in its form: sent again once fixed, it makes one.
        assert client_message_id_of(page) == sent["client_message_id"]
        fixed = client.post(NEW_CHAT, {**sent, "content": "Fixed"})
        assert fixed.status_code == 302 and Conversation.objects.count() == 1


def test_an_outsider_cannot_post_into_it(browser_for, alice, charlie, team):
    response, sent = first_message(browser_for(alice), "Between the assistant and me")
    conversation = Conversation.objects.get()
    intruder = browser_for(charlie)
    assert intruder.get(f"/c/{conversation.pk}/").status_code == 404
    assert intruder.post(f"/c/{conversation.pk}/post", {"content": "hi"}).status_code == 404
    # alice's key is hers: the same key from charlie starts charlie's own conversation.
    theirs = intruder.post(NEW_CHAT, {**sent, "content": "Mine"})
    assert theirs.status_code == 302 and theirs["Location"] != response["Location"]
    assert list(conversation.messages.values_list("content", flat=True)) == [
        "Between the assistant and me"
    ]
    assert Conversation.objects.get(created_by=charlie).participants.get().user == charlie


def test_an_agent_and_workspace_asked_for_are_kept(browser_for, alice, team):
    helper = Agent.objects.create(workspace=team, name="Helper", slug="helper")
    client = browser_for(alice)
    # The people form, "With the assistant": that agent's New chat, nothing made yet.
    chosen = client.post(
        "/c/new", {"kind": "assistant", "agent": str(helper.pk), "title": "Q3 plans"}
    )
    assert chosen.status_code == 302 and chosen["Location"].startswith(f"{NEW_CHAT}?")
    assert not Conversation.objects.exists()
    page = client.get(chosen["Location"]).content.decode()
    assert "Ask Helper…" in page and f'name="agent" value="{helper.pk}"' in page
    assert 'data-workspace="team"' in page and 'name="title" value="Q3 plans"' in page
    sent = {
        "content": "Hello",
        "client_message_id": client_message_id_of(page),
        "agent": str(helper.pk),
        "title": "Q3 plans",
    }
    assert client.post(NEW_CHAT, sent).status_code == 302
    conversation = Conversation.objects.get()
    assert (conversation.agent, conversation.workspace, conversation.title) == (
        helper,
        team,
        "Q3 plans",
    )


def test_an_agent_the_person_does_not_have_means_the_default(browser_for, alice, bob):
    elsewhere = Agent.objects.create(workspace=bob.default_workspace, name="Bob's", slug="bobs")
    page = browser_for(alice).get(f"{NEW_CHAT}?agent={elsewhere.pk}").content.decode()
    assert "Bob&#x27;s" not in page and "Ask the assistant…" in page


def test_the_default_agent_is_named_once_a_model_is_configured(browser_for, alice, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_MODEL = "some-model"
    page = browser_for(alice).get(NEW_CHAT).content.decode()
    assert "Ask Assistant…" in page
    assert Agent.objects.filter(workspace=alice.default_workspace, slug="default").exists()
    assert not Conversation.objects.exists()


def test_the_form_needs_its_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(NEW_CHAT).content.decode()
    sent = {"content": "Hello", "client_message_id": client_message_id_of(page)}
    assert client.post(NEW_CHAT, sent).status_code == 403
    assert not Conversation.objects.exists()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(NEW_CHAT, {**sent, "csrfmiddlewaretoken": token}).status_code == 302
    assert Conversation.objects.count() == 1


def test_over_the_post_limit_the_page_says_so_and_keeps_the_text(browser_for, alice, settings):
    settings.POST_RATE_LIMIT = 1
    client = browser_for(alice)
    first_message(client, "One")
    response, _ = first_message(client, "Two, too soon")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Two, too soon</textarea>" in page and 'role="alert"' in page
    assert Conversation.objects.count() == 1


def test_existing_empty_conversations_stay(browser_for, alice):
    empty, _ = services.conversation_create(creator=alice, kind="assistant")
    client = browser_for(alice)
    client.get(NEW_CHAT)
    assert client.get(f"/c/{empty.pk}/").status_code == 200
    assert list(Conversation.objects.all()) == [empty]
