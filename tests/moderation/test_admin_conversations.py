"""Conversations in the admin: moderators move them to the trash and back; a superuser
purges one from the trash after a page listing what will go; messages are hidden and
unhidden from their own list and page."""

import pytest

from conversations import services
from conversations.models import AuditEvent, Conversation, Message

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/admin/conversations/conversation/"
MESSAGES = "/admin/conversations/message/"


def test_the_conversation_page_links_to_its_messages_filtered(group, thread, mod, client_for):
    client = client_for(mod)
    page = client.get(f"{CONVERSATIONS}{group.pk}/change/").content.decode()
    link = f"{MESSAGES}?conversation={group.pk}"
    assert link in page and "7 messages" in page

    listing = client.get(link)
    assert [m.seq for m in listing.context["cl"].result_list] == [1, 2, 3, 4, 5, 6, 7]


def test_the_message_list_searches_text_only_within_a_conversation(group, thread, mod, client_for):
    client = client_for(mod)
    inside = client.get(f"{MESSAGES}?conversation={group.pk}&q=idiots")
    assert [m.seq for m in inside.context["cl"].result_list] == [4]
    everywhere = client.get(f"{MESSAGES}?q=idiots")
    assert list(everywhere.context["cl"].result_list) == []
    by_sender = client.get(f"{MESSAGES}?q=bob")
    assert {m.seq for m in by_sender.context["cl"].result_list} == {2, 4, 6}


def test_moderator_trashes_and_restores_from_the_conversation_page(group, mod, bob, client_for):
    client = client_for(mod)
    assert client.get(f"{CONVERSATIONS}{group.pk}/delete/").status_code == 200

    client.post(f"{CONVERSATIONS}{group.pk}/delete/", {"confirm": "yes", "reason": "spam ring"})
    group.refresh_from_db()
    assert group.deleted_by == mod
    assert client_for(bob).get(f"/api/v1/conversations/{group.pk}").status_code == 404

    client.post(f"{CONVERSATIONS}{group.pk}/restore/", {"confirm": "yes", "reason": "mistake"})
    group.refresh_from_db()
    assert group.deleted_at is None
    assert [e.action for e in AuditEvent.objects.order_by("created_at")] == [
        "conversation.deleted",
        "conversation.restored",
    ]


def test_moderators_cannot_purge(group, alice, mod, client_for):
    services.conversation_delete(conversation=group, actor=alice)
    client = client_for(mod)
    assert client.get(f"{CONVERSATIONS}{group.pk}/purge/").status_code == 403
    assert (
        client.post(
            f"{CONVERSATIONS}{group.pk}/purge/", {"confirm": "yes", "reason": "x"}
        ).status_code
        == 403
    )
    action = {
        "action": "purge_selected",
        "_selected_action": [group.pk],
        "confirm": "yes",
        "reason": "x",
    }
    client.post(CONVERSATIONS, action)
    assert Conversation.objects.filter(pk=group.pk).exists()
    assert b"purge_selected" not in client.get(CONVERSATIONS).content


def test_superuser_purges_after_a_page_listing_what_will_go(
    group, thread, alice, boss, client_for, django_capture_on_commit_callbacks
):
    services.conversation_delete(conversation=group, actor=alice)
    client = client_for(boss)
    url = f"{CONVERSATIONS}{group.pk}/purge/"

    confirm = client.get(url).content.decode()
    assert "7 messages and 0 message parts" in confirm and "2 participants" in confirm
    assert "Purge permanently" in confirm

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"confirm": "yes", "reason": "court order"})

    assert done.status_code == 302 and done["Location"] == CONVERSATIONS
    assert not Conversation.objects.filter(pk=group.pk).exists()
    assert not Message.objects.exists()
    event = AuditEvent.objects.get(action="conversation.purged")
    assert event.actor == boss and event.reason == "court order" and event.data["messages"] == 7


def test_purge_of_a_live_conversation_is_refused(group, boss, client_for):
    response = client_for(boss).post(
        f"{CONVERSATIONS}{group.pk}/purge/", {"confirm": "yes", "reason": "x"}, follow=True
    )
    assert "delete it first" in response.content.decode()
    assert Conversation.objects.filter(pk=group.pk).exists()


def test_hide_and_unhide_from_the_message_list(thread, mod, bob, client_for, run_action):
    client = client_for(mod)
    nasty = thread[3]

    run_action(client, MESSAGES, "hide_selected", [nasty], "insults")

    nasty.refresh_from_db()
    assert nasty.hidden_by == mod
    # Participants: "removed by a moderator" (is_hidden, no content); moderators: the text.
    api = client_for(bob).get(f"/api/v1/conversations/{nasty.conversation_id}/messages")
    item = api.json()["items"][3]
    assert item["is_hidden"] is True and item["content"] == ""
    page = client.get(f"{MESSAGES}{nasty.pk}/change/").content.decode()
    assert "you are all idiots" in page and "Removed by a moderator" in page
    assert f"{MESSAGES}{nasty.pk}/unhide/" in page

    client.post(f"{MESSAGES}{nasty.pk}/unhide/", {"confirm": "yes", "reason": "a quote"})
    nasty.refresh_from_db()
    assert nasty.hidden_at is None
    assert [e.action for e in AuditEvent.objects.order_by("created_at")] == [
        "message.hidden",
        "message.unhidden",
    ]


def test_trash_then_purge_selected_from_the_list(
    group, alice, bob, team, boss, mod, client_for, run_action
):
    other, _ = services.conversation_create(
        creator=bob, kind="group", title="Other", workspace=team, participants=[alice]
    )
    run_action(
        client_for(mod), CONVERSATIONS, "delete_selected_conversations", [group, other], "spam"
    )
    assert Conversation.objects.deleted().count() == 2

    run_action(client_for(boss), CONVERSATIONS, "purge_selected", [group, other], "spam ring")

    assert not Conversation.objects.exists()
    assert AuditEvent.objects.filter(action="conversation.purged").count() == 2
