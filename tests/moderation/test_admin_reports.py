"""The report queue in the admin, end to end as a moderator: the queue, a report with its
message in context, and the three acts (resolve, dismiss, hide) from the list and from the
report's page, each with its confirmation page and AuditEvent."""

import pytest

from conversations import services
from conversations.models import AuditEvent, Report, ReportStatus

pytestmark = pytest.mark.django_db

QUEUE = "/admin/conversations/report/"


def report_url(report, act=""):
    return f"{QUEUE}{report.pk}/{act + '/' if act else 'change/'}"


def test_the_queue_lists_open_reports_first_oldest_first(thread, alice, bob, mod, client_for):
    first, _ = services.report_create(message=thread[1], reporter=alice, reason="spam")
    closed_early, _ = services.report_create(message=thread[3], reporter=alice, reason="abuse")
    second, _ = services.report_create(message=thread[3], reporter=bob, reason="harassment")
    closed_late, _ = services.report_create(message=thread[5], reporter=alice, reason="spam")
    services.report_dismiss(report=closed_early, moderator=mod)
    services.report_resolve(report=closed_late, moderator=mod)

    response = client_for(mod).get(QUEUE)

    assert response.status_code == 200
    # Open ones oldest first, then the closed ones newest first.
    assert [row.pk for row in response.context["cl"].result_list] == [
        first.pk,
        second.pk,
        closed_late.pk,
        closed_early.pk,
    ]


def test_the_queue_shows_hidden_messages_text_marked(report, nasty, bob, mod, client_for):
    services.report_create(message=nasty, reporter=bob, reason="abuse")  # still open
    services.message_hide(message=nasty, moderator=mod, reason="insults")

    html = client_for(mod).get(QUEUE).content.decode()

    assert "<strong>[hidden]</strong> you are all idiots" in html


def test_a_report_shows_its_message_among_its_neighbours(report, thread, mod, client_for):
    services.message_hide(message=thread[5], moderator=mod, reason="spam link")

    page = client_for(mod).get(report_url(report))

    assert page.status_code == 200
    assert [m.seq for m in page.context["context_messages"]] == [1, 2, 3, 4, 5, 6, 7]
    html = page.content.decode()
    assert "you are all idiots" in html
    # A hidden neighbour: moderators read its text, marked hidden.
    assert "message 6" in html and ">hidden</span>" in html
    assert report_url(report, "resolve") in html and report_url(report, "hide") in html


def test_resolve_from_the_report_page(report, mod, client_for):
    client = client_for(mod)
    confirm = client.get(report_url(report, "resolve"))
    assert confirm.status_code == 200 and b"rude to everyone" in confirm.content

    done = client.post(report_url(report, "resolve"), {"confirm": "yes", "reason": ""})

    assert done.status_code == 302 and done["Location"] == report_url(report)
    report.refresh_from_db()
    assert report.status == ReportStatus.RESOLVED and report.resolved_by == mod
    assert AuditEvent.objects.get(action="report.resolved").actor == mod


def test_dismiss_selected_from_the_queue(report, mod, alice, thread, client_for, run_action):
    other, _ = services.report_create(message=thread[0], reporter=alice, reason="spam")

    done = run_action(client_for(mod), QUEUE, "dismiss_selected", [report, other], "not abuse")

    assert done.status_code == 302
    assert set(Report.objects.values_list("status", flat=True)) == {"dismissed"}
    events = AuditEvent.objects.filter(action="report.dismissed")
    assert {e.target_id for e in events} == {str(report.pk), str(other.pk)}
    assert {e.reason for e in events} == {"not abuse"}


def test_a_list_action_changes_nothing_before_it_is_confirmed(report, mod, client_for):
    selection = {"action": "dismiss_selected", "_selected_action": [report.pk]}
    confirm = client_for(mod).post(QUEUE, selection)
    assert confirm.status_code == 200 and b"rude to everyone" in confirm.content
    report.refresh_from_db()
    assert report.status == ReportStatus.OPEN and not AuditEvent.objects.exists()


def test_hide_from_the_report_needs_a_reason_then_hides_and_resolves(
    report, nasty, mod, client_for
):
    client = client_for(mod)

    refused = client.post(report_url(report, "hide"), {"confirm": "yes", "reason": " "})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    nasty.refresh_from_db()
    assert nasty.hidden_at is None and not AuditEvent.objects.exists()

    done = client.post(report_url(report, "hide"), {"confirm": "yes", "reason": "insults"})

    assert done.status_code == 302
    nasty.refresh_from_db()
    report.refresh_from_db()
    assert nasty.hidden_at is not None and nasty.hidden_reason == "insults"
    assert report.status == ReportStatus.RESOLVED
    assert AuditEvent.objects.get(action="message.hidden").actor == mod


def test_hide_selected_reports_hides_each_message_once(
    report, nasty, bob, mod, client_for, run_action
):
    again, _ = services.report_create(message=nasty, reporter=bob, reason="harassment")

    run_action(client_for(mod), QUEUE, "hide_reported_messages", [report, again], "insults")

    nasty.refresh_from_db()
    assert nasty.hidden_reason == "insults"
    assert AuditEvent.objects.filter(action="message.hidden").count() == 1
    assert AuditEvent.objects.filter(action="report.resolved").count() == 2
    assert not Report.objects.filter(status=ReportStatus.OPEN).exists()


def test_an_act_on_a_closed_report_is_refused_with_a_message(report, mod, client_for):
    services.report_dismiss(report=report, moderator=mod)
    response = client_for(mod).post(
        report_url(report, "resolve"), {"confirm": "yes", "reason": ""}, follow=True
    )
    assert "already dismissed" in response.content.decode()
    report.refresh_from_db()
    assert report.status == ReportStatus.DISMISSED
