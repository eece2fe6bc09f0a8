"""A direct conversation is named, for each of its two people, by the other one: its first
message no longer becomes its title, and the thread, the sidebar, search and the API show
the other person's name until someone sets a title. A group keeps its derived title."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chatapp.accounts.services import personal_token_create, user_create
from conversations import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def direct(alice, charlie, team):
    conversation, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[charlie]
    )
    return conversation


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user) -> Client:
    return Client(
        headers={"Authorization": f"Bearer {personal_token_create(user=user, name='t').raw}"}
    )


def test_first_message_does_not_title_a_direct_conversation(direct, group, post):
    post(direct, "hello charlie, about the release")
    direct.refresh_from_db()
    assert direct.title == ""
    # A group's title is its own (it needs one); an untitled assistant one is derived.
    assistant, _ = services.conversation_create(creator=direct.created_by, kind="assistant")
    post(assistant, "Explain keyset pagination\nplease")
    assistant.refresh_from_db()
    assert assistant.title == "Explain keyset pagination"


def test_thread_header_and_tab_name_the_other_person(alice, charlie, direct, post):
    post(direct, "hello charlie")
    for viewer, other in ((alice, "Charlie"), (charlie, "Alice")):
        page = browser(viewer).get(f"/c/{direct.pk}/").content.decode()
        assert f'<h1 id="thread-title">{other}</h1>' in page
        assert re.search(rf"<title>{other} · chatapp</title>", page)


def test_a_title_someone_set_wins(alice, charlie, direct):
    services.conversation_update(conversation=direct, actor=alice, title="Release plan")
    page = browser(charlie).get(f"/c/{direct.pk}/").content.decode()
    assert '<h1 id="thread-title">Release plan</h1>' in page


def test_sidebar_names_the_other_person_and_finds_them(alice, charlie, direct, post):
    post(direct, "hello charlie")
    assert 'class="title">Charlie</span>' in browser(alice).get("/").content.decode()
    assert 'class="title">Alice</span>' in browser(charlie).get("/").content.decode()
    found = selectors.conversation_list_for_user(user=alice, title_query="charl").items
    assert [item.id for item in found] == [direct.pk]
    assert found[0].display_title == "Charlie" and found[0].title == ""


def test_search_results_name_the_other_person(alice, charlie, direct, post):
    post(direct, "the release is on friday")
    page = browser(alice).get("/search", {"q": "friday"}).content.decode()
    assert re.search(r'class="hit-title">Charlie<|<strong>Charlie</strong>', page)
    [hit] = api(charlie).get("/api/v1/search", {"q": "friday"}).json()["items"]
    assert hit["conversation"]["display_title"] == "Alice"
    assert hit["conversation"]["title"] == ""


def test_api_gives_each_viewer_the_other_name(alice, charlie, direct, post):
    post(direct, "hi")
    for viewer, other in ((alice, "Charlie"), (charlie, "Alice")):
        client = api(viewer)
        [item] = client.get("/api/v1/conversations", {"kind": "direct"}).json()["items"]
        assert (item["title"], item["display_title"]) == ("", other)
        detail = client.get(f"/api/v1/conversations/{direct.pk}").json()
        assert (detail["title"], detail["display_title"]) == ("", other)


def test_display_name_falls_back_to_the_username(alice, team):
    dora = user_create(username="dora", email="dora@example.com", password="Correct-horse-9")
    services.membership_add(workspace=team, user=dora)
    services.conversation_create(creator=alice, kind="direct", workspace=team, participants=[dora])
    [item] = selectors.conversation_list_for_user(user=alice, kind="direct").items
    assert item.display_title == "dora"


def test_sidebar_queries_do_not_grow_with_direct_conversations(alice, make_user, team, post):
    """The other person's name is a subquery of the one sidebar query, not one per row."""

    def sidebar_queries() -> int:
        client = browser(alice)
        client.get("/")
        with CaptureQueriesContext(connection) as queries:
            client.get("/")
        return len(queries)

    def add_direct(number: int) -> None:
        other = make_user(f"peer{number}")
        services.membership_add(workspace=team, user=other)
        conversation, _ = services.conversation_create(
            creator=alice, kind="direct", workspace=team, participants=[other]
        )
        post(conversation, f"hello {number}")

    add_direct(0)
    few = sidebar_queries()
    for number in range(1, 12):
        add_direct(number)
    assert sidebar_queries() == few


def test_migration_untitles_only_the_titles_taken_from_the_first_message(
    alice, bob, charlie, team, direct, post
):
    import importlib

    from django.apps import apps

    from conversations.models import Conversation

    migration = importlib.import_module(
        "conversations.migrations.0011_direct_conversations_untitled"
    )
    post(direct, "  hello   charlie\nsecond line")
    Conversation.objects.filter(pk=direct.pk).update(title="hello charlie")  # as it was made
    named, _ = services.conversation_create(
        creator=bob, kind="direct", workspace=team, participants=[charlie]
    )
    post(named, "hi", sender=bob)
    Conversation.objects.filter(pk=named.pk).update(title="Our plans")  # a person's title
    migration.untitle_direct_conversations(apps, None)
    assert Conversation.objects.get(pk=direct.pk).title == ""
    assert Conversation.objects.get(pk=named.pk).title == "Our plans"
