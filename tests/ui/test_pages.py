"""The HTML pages through Django's test client, without JavaScript: reading, posting and every
action work with plain forms and links."""

import io
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import Artifact, Conversation, Message, Participant, Report
from tests.conversations.transfer_helpers import fixture_bytes, make_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_for():
    def make(user=None):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


def thread_url(conversation) -> str:
    return f"/c/{conversation.pk}/"


def test_anonymous_visitors_are_sent_to_sign_in(browser_for, group):
    for path in ("/", thread_url(group), "/search?q=x", "/settings/"):
        response = browser_for().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_home_lists_conversations_with_unread_badges(browser_for, alice, bob, group, post):
    post(group, "hello from bob", sender=bob)
    page = browser_for(alice).get("/").content.decode()
    assert "Plans" in page and 'aria-label="1 unread"' in page
    assert 'id="sidebar"' in page and "<main" in page


def test_thread_renders_only_the_newest_page(browser_for, alice, group, post):
    for number in range(1, 121):
        post(group, f"note {number}")
    page = browser_for(alice).get(thread_url(group)).content.decode()
    seqs = [int(seq) for seq in re.findall(r'data-seq="(\d+)"', page)]
    assert seqs == list(range(71, 121))
    assert "Load older messages" in page and "?before=71" in page
    older = browser_for(alice).get(thread_url(group) + "?before=71").content.decode()
    assert [int(s) for s in re.findall(r'data-seq="(\d+)"', older)] == list(range(21, 71))


def test_thread_page_queries_do_not_grow_with_messages(browser_for, alice, bob, group, post):
    client = browser_for(alice)
    for number in range(5):
        post(group, f"m{number}", sender=bob)
    client.get(thread_url(group))
    with CaptureQueriesContext(connection) as few:
        client.get(thread_url(group))
    for number in range(60):
        turn = services.assistant_message_start(conversation=group, agent=None)
        services.message_part_add(message=turn, type="text", content={"text": "x"})
        services.assistant_message_finish(message=turn, content=f"answer {number}")
    client.get(thread_url(group))
    with CaptureQueriesContext(connection) as many:
        client.get(thread_url(group))
    assert len(few) == len(many)


def test_outsider_gets_404_everywhere(browser_for, charlie, group, post):
    message = post(group, "private")
    client = browser_for(charlie)
    assert client.get(thread_url(group)).status_code == 404
    assert client.get(f"/c/{group.pk}/rows?after=0").status_code == 404
    assert client.post(f"/c/{group.pk}/post", {"content": "hi"}).status_code == 404
    assert client.post(f"/c/{group.pk}/act", {"action": "pin"}).status_code == 404
    assert client.get(f"/m/{message.pk}/report").status_code == 404
    assert client.post(f"/m/{message.pk}/report", {"reason": "spam"}).status_code == 404
    assert client.post(f"/m/{message.pk}/delete").status_code == 404
    assert Message.objects.count() == 1 and not Report.objects.exists()


def test_posting_without_javascript(browser_for, alice, group):
    client = browser_for(alice)
    response = client.post(f"/c/{group.pk}/post", {"content": "Plain *form* post"})
    assert response.status_code == 302 and response["Location"].endswith("#m1")
    page = client.get(thread_url(group)).content.decode()
    assert "Plain <em>form</em> post" in page
    empty = client.post(f"/c/{group.pk}/post", {"content": ""}, follow=True)
    assert "This field is required." in empty.content.decode()
    assert Message.objects.count() == 1


def test_rows_fragment_for_live_updates(browser_for, alice, group, post):
    for number in range(3):
        post(group, f"row {number}")
    response = browser_for(alice).get(f"/c/{group.pk}/rows?after=1")
    body = response.content.decode()
    assert [int(s) for s in re.findall(r'data-seq="(\d+)"', body)] == [2, 3]
    assert "<html" not in body and response["X-Has-More-Before"] == "1"


def test_conversation_actions(browser_for, alice, group):
    client = browser_for(alice)
    act = f"/c/{group.pk}/act"
    client.post(act, {"action": "rename", "title": "Renamed plans"})
    client.post(act, {"action": "pin"})
    group.refresh_from_db()
    assert group.title == "Renamed plans"
    home = client.get("/").content.decode()
    assert home.index("Pinned") < home.index("Renamed plans")
    client.post(act, {"action": "archive"})
    assert "Renamed plans" in client.get("/?section=archived").content.decode()
    client.post(act, {"action": "delete"})
    trash = client.get("/?section=trash").content.decode()
    assert "Renamed plans" in trash and "Restore" in trash
    assert client.get(thread_url(group)).status_code == 404
    client.post(act, {"action": "restore"})
    assert client.get(thread_url(group)).status_code == 200


def test_member_cannot_delete_a_group_from_the_page(browser_for, bob, group):
    response = browser_for(bob).post(f"/c/{group.pk}/act", {"action": "delete"}, follow=True)
    assert "Only the conversation" in response.content.decode()
    group.refresh_from_db()
    assert group.deleted_at is None


def test_report_and_delete_a_message(browser_for, alice, bob, group, post):
    theirs = post(group, "buy now!!!", sender=bob)
    mine = post(group, "oops")
    client = browser_for(alice)
    client.post(f"/m/{theirs.pk}/report", {"reason": "spam", "note": "ads"})
    assert Report.objects.get().reporter == alice
    client.post(f"/m/{mine.pk}/delete")
    mine.refresh_from_db()
    assert mine.deleted_at is not None
    page = client.get(thread_url(group)).content.decode()
    assert "Deleted by its author." in page and "oops" not in page


def test_report_page_from_the_message_menu(browser_for, alice, bob, group, post):
    theirs = post(group, "buy now!!!", sender=bob)
    client = browser_for(alice)
    thread = client.get(thread_url(group)).content.decode()
    # One link per message of someone else, not a form per message.
    assert f'href="/m/{theirs.pk}/report"' in thread
    assert 'name="reason"' not in thread
    page = client.get(f"/m/{theirs.pk}/report")
    assert page.status_code == 200
    text = page.content.decode()
    assert "buy now!!!" in text and '<select id="id_reason" name="reason" required' in text
    # A reason that is not one of the choices: the form again, the error by the field.
    again = client.post(f"/m/{theirs.pk}/report", {"reason": "boring", "note": "x"})
    assert again.status_code == 200
    assert 'id="reason-error"' in again.content.decode()
    assert not Report.objects.exists()
    sent = client.post(f"/m/{theirs.pk}/report", {"reason": "abuse"})
    assert sent.status_code == 302 and sent["Location"].endswith(f"#m{theirs.seq}")
    assert Report.objects.get().reason == "abuse"


def test_hidden_messages_show_as_removed(browser_for, alice, group, post):
    from django.utils import timezone

    message = post(group, "something awful")
    Message.objects.filter(pk=message.pk).update(hidden_at=timezone.now(), hidden_reason="abuse")
    page = browser_for(alice).get(thread_url(group)).content.decode()
    assert "Removed by a moderator." in page and "something awful" not in page


def test_new_conversation_form(browser_for, alice, bob, team):
    client = browser_for(alice)
    response = client.post("/c/new", {"kind": "assistant", "title": "", "participants": ""})
    assert response.status_code == 302
    bad = client.post(
        "/c/new", {"kind": "group", "title": "", "participants": "bob", "workspace": "team"}
    )
    assert bad.status_code == 422
    assert "A group conversation needs a title." in bad.content.decode()
    good = client.post(
        "/c/new", {"kind": "group", "title": "Crew", "participants": "bob", "workspace": "team"}
    )
    assert good.status_code == 302
    assert Participant.objects.filter(user=bob, conversation__title="Crew").exists()


def test_search_page_finds_a_message(browser_for, alice, group, post):
    post(group, "the quarterly budget spreadsheet")
    page = browser_for(alice).get("/search", {"q": "budget"}).content.decode()
    assert "1 result" in page and "Plans" in page and "<mark>" in page


def test_artifact_download_is_for_participants_only(browser_for, alice, charlie, group):
    turn = services.assistant_message_start(conversation=group, agent=None)
    part = services.message_part_add(message=turn, type="file")
    artifact = services.artifact_create(part=part, kind="file", data=b"hello", path="a/b.txt")
    response = browser_for(alice).get(f"/artifacts/{artifact.pk}")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"hello"
    assert 'filename="b.txt"' in response["Content-Disposition"]
    assert browser_for(charlie).get(f"/artifacts/{artifact.pk}").status_code == 404


def test_register_shows_errors_next_to_fields_then_signs_in(browser_for):
    client = browser_for()
    bad = client.post(
        "/accounts/register/",
        {"username": "x", "email": "new@example.com", "password": "Sturdy-pass-42"},
    )
    page = bad.content.decode()
    assert re.search(r'id="id_username".*?field-error', page, re.S)
    good = client.post(
        "/accounts/register/",
        {"username": "newbie", "email": "new@example.com", "password": "Sturdy-pass-42"},
    )
    assert good.status_code == 302
    assert client.get("/").status_code == 200


def test_registration_closed_page(browser_for, settings):
    settings.ALLOW_REGISTRATION = False
    assert browser_for().get("/accounts/register/").status_code == 403


def test_settings_profile_and_tokens(browser_for, alice):
    client = browser_for(alice)
    client.post("/settings/", {"display_name": "Alice A."})
    alice.refresh_from_db()
    assert alice.display_name == "Alice A."
    created = client.post("/settings/", {"token_name": "laptop", "expires_in_days": ""})
    raw = re.search(r'<code id="new-token">(chat_[^<]+)</code>', created.content.decode()).group(1)
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me").status_code == 200
    token_id = alice.api_tokens.get(name="laptop").pk
    client.post("/settings/", {"revoke": str(token_id)})
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me").status_code == 401
    # The token is shown once only.
    assert raw not in client.get("/settings/").content.decode()


def test_theme_is_remembered_in_a_cookie(browser_for, alice):
    client = browser_for(alice)
    response = client.post("/settings/theme", {"theme": "dark", "next": "/settings/"})
    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert 'data-theme="dark"' in client.get("/").content.decode()
    offsite = client.post("/settings/theme", {"theme": "light", "next": "https://evil.example/"})
    assert offsite["Location"] == "/"


def test_pages_send_a_csp_without_inline_scripts(browser_for, alice, group):
    response = browser_for(alice).get(thread_url(group))
    policy = response["Content-Security-Policy"]
    script = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'self'" in script
    assert "<script>" not in response.content.decode()  # no inline script in our pages


def test_participants_read_marker_moves_when_the_thread_is_opened(
    browser_for, alice, bob, group, post
):
    post(group, "unread one", sender=bob)
    browser_for(alice).get(thread_url(group))
    assert Participant.objects.get(conversation=group, user=alice).last_read_seq == 1


@pytest.fixture
def many_conversations(alice):
    """alice's 55 assistant conversations, "Topic 1" the oldest; "Topic 3" pinned."""
    conversations = []
    for number in range(1, 56):
        conversation, _ = services.conversation_create(
            creator=alice, kind="assistant", title=f"Topic {number}"
        )
        conversations.append(conversation)
    services.participant_set_flags(conversation=conversations[2], user=alice, pinned=True)
    return conversations


def sidebar_titles(page: str) -> list[str]:
    return re.findall(r'<span class="title">([^<]+)</span>', page)


def older_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" data-sidebar-older>Older conversations</a>', page)
    return found[1].replace("&amp;", "&") if found else None


def test_sidebar_pages_through_older_conversations(browser_for, alice, many_conversations):
    client = browser_for(alice)
    first = client.get("/").content.decode()
    recent = [f"Topic {n}" for n in range(55, 0, -1) if n != 3]
    assert sidebar_titles(first) == ["Topic 3", *recent[:50]]
    link = older_link(first)
    assert link is not None and link.startswith("?cursor=")

    older = client.get("/" + link).content.decode()
    # The rest, without the pinned one again; no further link, a way back.
    assert sidebar_titles(older) == recent[50:]
    assert older_link(older) is None
    assert "Recent · older" in older and "Back to the newest" in older


def test_the_older_sidebar_page_works_beside_a_thread_and_as_a_fragment(
    browser_for, alice, many_conversations
):
    client = browser_for(alice)
    thread = many_conversations[-1]
    link = older_link(client.get(thread_url(thread)).content.decode())
    page = client.get(thread_url(thread) + link)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="thread-title">Topic 55<' in body  # the same thread
    assert sidebar_titles(body)[:1] == ["Topic 5"]

    fragment = client.get("/sidebar?section=recent&" + link.lstrip("?")).content.decode()
    assert sidebar_titles(fragment) == ["Topic 5", "Topic 4", "Topic 2", "Topic 1"]


def test_archived_sidebar_pages_keep_the_section(browser_for, alice, many_conversations):
    for conversation in many_conversations:
        services.participant_set_flags(conversation=conversation, user=alice, archived=True)
    client = browser_for(alice)
    link = older_link(client.get("/?section=archived").content.decode())
    assert link.startswith("?section=archived&cursor=")
    older = client.get("/" + link).content.decode()
    assert sidebar_titles(older) == ["Topic 5", "Topic 4", "Topic 3", "Topic 2", "Topic 1"]


@pytest.mark.parametrize("cursor", ["nonsense", "e30:1:abc", "x" * 3000, ""])
def test_a_broken_sidebar_cursor_shows_the_newest_page(
    browser_for, alice, many_conversations, cursor
):
    response = browser_for(alice).get("/", {"cursor": cursor})
    assert response.status_code == 200
    assert sidebar_titles(response.content.decode())[1] == "Topic 55"


def test_sidebar_page_queries_do_not_grow_with_conversations(browser_for, alice, bob, team):
    client = browser_for(alice)

    def make(count):
        for number in range(count):
            services.conversation_create(creator=alice, kind="assistant", title=f"T{number}")

    make(3)
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    make(60)
    link = older_link(client.get("/").content.decode())
    with CaptureQueriesContext(connection) as many:
        client.get("/" + link)
    assert len(many) <= len(few)


def test_a_streaming_reply_renders_as_plain_text_with_its_length(browser_for, alice):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    services.message_post(conversation=conversation, sender=alice, content="Go on.")
    turn = services.assistant_message_start(conversation=conversation, agent=None)
    services.assistant_message_progress(message_id=turn.pk, content="**Half** of it, é🙂")
    page = browser_for(alice).get(thread_url(conversation)).content.decode()
    # Not markdown yet: the deltas that follow are plain text appended to it.
    assert 'class="md body streaming-text" data-length="18">**Half** of it, é🙂</div>' in page


def test_an_imported_image_is_shown_in_its_message_for_participants_only(
    browser_for, alice, charlie
):
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    archive = make_zip(
        {
            "conversations.json": fixture_bytes("multimodal.json"),
            "file-abc123-photo.png": png,
            "file-dalle1.html": b"<script>alert(1)</script>",
        }
    )
    result = services.conversation_import(user=alice, file=io.BytesIO(archive))
    conversation = Conversation.objects.get(pk=result.imported[0])
    image = Artifact.objects.get(mime="image/png")
    body = browser_for(alice).get(thread_url(conversation)).content.decode()
    assert (
        f'<img src="/artifacts/{image.pk}" alt="Image file-abc123-photo.png" loading="lazy"' in body
    )
    assert 'width="1024" height="768"' in body

    shown = browser_for(alice).get(f"/artifacts/{image.pk}")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert "attachment" not in shown.get("Content-Disposition", "")
    assert b"".join(shown.streaming_content) == png
    # What is not an image (here HTML named like the DALL·E picture) is only ever a download.
    other = Artifact.objects.exclude(pk=image.pk).get()
    download = browser_for(alice).get(f"/artifacts/{other.pk}")
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"] == "application/octet-stream" and not other.is_inline_image
    assert f'<img src="/artifacts/{other.pk}"' not in body

    assert browser_for(charlie).get(f"/artifacts/{image.pk}").status_code == 404


def test_a_sidebar_row_ends_with_no_dot_when_the_last_turn_has_no_text(browser_for, alice):
    """An errored, empty assistant turn last: the row shows its time alone (issue 14)."""
    conversation, _ = services.conversation_create(creator=alice, kind="assistant", title="Q")
    services.message_post(conversation=conversation, sender=alice, content="Hello?")
    turn = services.assistant_message_start(conversation=conversation, agent=None)
    services.assistant_message_finish(
        message=turn, content="", status="error", error="No model.", error_type="upstream_error"
    )
    html = browser_for(alice).get("/sidebar").content.decode()
    row = re.search(r'<span class="meta">(.*?)</span>', html, re.S).group(1)
    assert row.strip().endswith("</time>"), row


def test_restoring_says_where_the_conversation_went(browser_for, alice, group):
    client = browser_for(alice)
    act = f"/c/{group.pk}/act"
    client.post(act, {"action": "archive"})
    client.post(act, {"action": "delete"})
    page = client.post(act, {"action": "restore"}, follow=True).content.decode()
    assert "Restored, to Archived, where it was before." in page
    client.post(act, {"action": "unarchive"})
    client.post(act, {"action": "delete"})
    page = client.post(act, {"action": "restore"}, follow=True).content.decode()
    assert "Restored to your recent conversations." in page


def test_the_trash_shows_when_and_what_each_conversation_was(browser_for, alice, group, post):
    post(group, "The budget for the offsite.", sender=alice)
    services.conversation_delete(conversation=group, actor=alice)
    html = browser_for(alice).get("/?section=trash").content.decode()
    row = re.search(r'<li class="conversation-item.*?</li>', html, re.S).group(0)
    assert "Plans" in row and "last active" in row and "<time" in row
    assert "The budget for the offsite." in row
