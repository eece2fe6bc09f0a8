"""A report keeps the text as reported (Report.content_snapshot), and editing a reported
message away hides nothing: the report's page shows the snapshot, the text now and every
earlier text; the message's page lists its revisions. Migration 0015 gives the reports made
before it their message's text."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations import services
from conversations.models import Report

pytestmark = pytest.mark.django_db

QUEUE = "/admin/conversations/report/"


def report_url(report) -> str:
    return f"{QUEUE}{report.pk}/change/"


def test_a_report_keeps_the_text_as_reported(report, nasty, bob):
    assert report.content_snapshot == "you are all idiots"
    services.message_edit(message=nasty, actor=bob, content="have a nice day")
    services.message_delete(message=nasty, actor=bob)
    report.refresh_from_db()
    assert report.content_snapshot == "you are all idiots"


def test_reporting_again_keeps_the_first_snapshot(report, nasty, group, alice, bob, charlie):
    services.message_edit(message=nasty, actor=bob, content="have a nice day")
    again, created = services.report_create(message=nasty, reporter=alice, reason="abuse")
    assert not created and again.pk == report.pk
    assert again.content_snapshot == "you are all idiots"
    # Someone else reporting it now keeps the text they saw.
    services.participant_add(conversation=group, actor=alice, user=charlie)
    later, _ = services.report_create(
        message=nasty, reporter=charlie, reason="other", note="edited, but still"
    )
    assert later.content_snapshot == "have a nice day"


def test_the_report_page_shows_the_snapshot_the_text_now_and_every_earlier_text(
    report, nasty, bob, mod, client_for
):
    client = client_for(mod)
    before = client.get(report_url(report))
    html = before.content.decode()
    assert "The message as reported" in html and "you are all idiots" in html
    assert "edited since the report" not in html and "Its text now" not in html

    services.message_edit(message=nasty, actor=bob, content="you are all lovely")
    services.message_edit(message=nasty, actor=bob, content="have a nice day")

    after = client.get(report_url(report))
    assert after.context["edited_since_report"] is True
    html = after.content.decode()
    assert "edited since the report" in html
    snapshot = html.index("The message as reported")
    now = html.index("Its text now")
    earlier = html.index("Its earlier texts, newest first")
    assert snapshot < now < earlier
    assert "have a nice day" in html[now:earlier]
    # Both earlier texts, newest first, each replaced after the report.
    assert [revision.content for revision in after.context["revisions"]] == [
        "you are all lovely",
        "you are all idiots",
    ]
    assert html[earlier:].count(">after the report</span>") == 2


def test_the_queue_shows_the_text_as_reported(report, nasty, bob, mod, client_for):
    services.message_edit(message=nasty, actor=bob, content="have a nice day")
    html = client_for(mod).get(QUEUE).content.decode()
    assert "you are all idiots" in html and "have a nice day" not in html


def test_the_message_page_lists_its_earlier_texts_read_only(nasty, bob, mod, client_for):
    services.message_edit(message=nasty, actor=bob, content="you are all lovely")
    services.message_edit(message=nasty, actor=bob, content="have a nice day")
    # A moderator reads them with view_message alone (the group has no revision permission).
    assert not mod.has_perm("conversations.view_messagerevision")
    page = client_for(mod).get(f"/admin/conversations/message/{nasty.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Earlier texts (each replaced by an edit" in html
    assert "you are all idiots" in html and "you are all lovely" in html
    assert 'name="revisions-0-content"' not in html  # text, not a form field


# --- migration 0015 ------------------------------------------------------------------------

BEFORE = [("conversations", "0014_shared_workspace")]
AFTER = [("conversations", "0015_message_revisions")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_0015(transactional_db):
    """Reports made before migration 0015, through the models of that state: on a message
    with text, on one without, and on a deleted one; migrated to the latest after."""
    apps = migrate(BEFORE)
    User = apps.get_model("accounts", "User")
    Workspace = apps.get_model("conversations", "Workspace")
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    OldReport = apps.get_model("conversations", "Report")
    alice = User.objects.create(username="alice")
    workspace = Workspace.objects.create(name="Team", slug="team", created_by=alice)
    conversation = Conversation.objects.create(
        workspace=workspace, kind="group", title="Plans", created_by=alice
    )
    texts = {"rude": "you are all idiots", "empty": "", "deleted": "gone but kept"}
    reports = {}
    for seq, (name, text) in enumerate(texts.items(), start=1):
        message = Message.objects.create(
            conversation=conversation, seq=seq, role="user", sender=alice, content=text
        )
        if name == "deleted":
            Message.objects.filter(pk=message.pk).update(deleted_at=message.created_at)
        reports[name] = OldReport.objects.create(message=message, reporter=alice, reason="spam").pk
    yield reports
    migrate(executor_leaves())


def executor_leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_migration_fills_the_snapshots_of_existing_reports(before_0015, monkeypatch):
    # Small batches, so that the test crosses a batch's end.
    migration = importlib.import_module("conversations.migrations.0015_message_revisions")
    monkeypatch.setattr(migration, "BATCH", 2)
    apps = migrate(AFTER)
    Report_ = apps.get_model("conversations", "Report")
    snapshots = dict(Report_.objects.values_list("pk", "content_snapshot"))
    assert snapshots == {
        before_0015["rude"]: "you are all idiots",
        before_0015["empty"]: "",
        before_0015["deleted"]: "gone but kept",
    }
    # Back to 0014 (the column goes) and forward again: the same.
    migrate(BEFORE)
    apps = migrate(AFTER)
    again = dict(
        apps.get_model("conversations", "Report").objects.values_list("pk", "content_snapshot")
    )
    assert again == snapshots
    assert Report.objects.count() == 3
