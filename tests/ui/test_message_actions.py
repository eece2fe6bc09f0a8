"""A message's tools without JavaScript: edit through its own page, the text as written for
Copy, Delete with its confirmation named, Report for others' messages, and Undo after a
conversation goes to the trash. Outsiders get the same 404 as for an id that does not exist."""

import re
import uuid

import pytest
from django.test import Client

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tools_of(page: str, message) -> str:
    """The toolbar of one message row in a rendered page."""
    row = page[page.index(f'data-message-id="{message.pk}"') :]
    start = row.index('class="message-tools"')
    return row[start : row.index("</div>", start)]


def test_own_messages_offer_edit_and_delete_and_others_report(alice, bob, group, post):
    mine = post(group, "from alice")
    theirs = post(group, "from bob", sender=bob)
    page = client_for(alice).get(f"/c/{group.pk}/").content.decode()
    own_tools, other_tools = tools_of(page, mine), tools_of(page, theirs)
    assert f"/m/{mine.pk}/edit" in own_tools and f"/m/{mine.pk}/delete" in own_tools
    assert 'data-confirm="Delete this message?"' in own_tools
    assert "/report" not in own_tools
    assert f"/m/{theirs.pk}/report" in other_tools
    assert "/edit" not in other_tools and "/delete" not in other_tools
    # Copy needs JavaScript: present for it, hidden without it.
    assert re.search(r"data-copy-message[^>]*hidden", own_tools)


def test_editing_through_the_page_saves_and_marks_it_edited(alice, group, post):
    message = post(group, "teh typo")
    client = client_for(alice)
    form = client.get(f"/m/{message.pk}/edit").content.decode()
    assert "teh typo</textarea>" in form
    response = client.post(f"/m/{message.pk}/edit", {"content": "the typo"})
    assert response.status_code == 302 and response["Location"].endswith(f"#m{message.seq}")
    message.refresh_from_db()
    assert message.content == "the typo" and message.edited_at is not None
    page = client.get(f"/c/{group.pk}/").content.decode()
    # The marker links to the message's edit history (docs/data-model.md).
    assert f'<a class="edited" href="/m/{message.pk}/history">edited</a>' in page


def test_an_empty_edit_is_refused_and_keeps_the_text(alice, group, post):
    message = post(group, "keep me")
    response = client_for(alice).post(f"/m/{message.pk}/edit", {"content": ""})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    message.refresh_from_db()
    assert message.content == "keep me"


def test_nobody_edits_another_persons_message(alice, bob, charlie, group, post):
    message = post(group, "alice's words")
    for user in (bob, charlie):  # a participant who is not the author, an outsider
        client = client_for(user)
        assert client.get(f"/m/{message.pk}/edit").status_code == 404
        assert client.post(f"/m/{message.pk}/edit", {"content": "mine now"}).status_code == 404
    assert client_for(alice).get(f"/m/{uuid.uuid4()}/edit").status_code == 404
    message.refresh_from_db()
    assert message.content == "alice's words"


def test_the_source_is_the_text_as_written_for_participants_only(alice, bob, charlie, group, post):
    message = post(group, "**bold** and `code`")
    response = client_for(bob).get(f"/m/{message.pk}/source")
    assert response.status_code == 200
    assert response.content.decode() == "**bold** and `code`"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]
    assert client_for(charlie).get(f"/m/{message.pk}/source").status_code == 404
    assert client_for(bob).get(f"/m/{uuid.uuid4()}/source").status_code == 404
    services.message_delete(message=message, actor=alice)
    assert client_for(bob).get(f"/m/{message.pk}/source").status_code == 404


def test_deleting_a_conversation_offers_undo_that_restores_it(alice, group):
    client = client_for(alice)
    response = client.post(f"/c/{group.pk}/act", {"action": "delete"}, follow=True)
    page = response.content.decode()
    assert "to the trash" in page
    undo = re.search(
        r'<form method="post" action="(/c/[^"]+/act)">.*?value="restore".*?Undo</button>',
        page,
        re.S,
    )
    assert undo and undo.group(1) == f"/c/{group.pk}/act"
    restored = client.post(undo.group(1), {"action": "restore"}, follow=True)
    assert restored.status_code == 200 and "Restored" in restored.content.decode()
    group.refresh_from_db()
    assert group.deleted_at is None


def test_deleted_and_hidden_messages_have_no_tools(alice, group, post):
    message = post(group, "soon gone")
    services.message_delete(message=message, actor=alice)
    page = client_for(alice).get(f"/c/{group.pk}/").content.decode()
    row = page[page.index(f'data-message-id="{message.pk}"') :]
    row = row[: row.index('class="message ') if 'class="message ' in row else len(row)]
    assert "Deleted by its author." in row and "message-tools" not in row
    assert Message.objects.get(pk=message.pk).deleted_at is not None
