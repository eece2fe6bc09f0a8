"""Who may do what in the admin: a superuser, a moderator (the Moderators group), a staff
member without permissions, and a non-staff user. And CSRF on every act."""

import pytest

from conversations import services
from conversations.models import AuditEvent, Report, ReportStatus

pytestmark = pytest.mark.django_db


def test_non_staff_are_sent_to_sign_in_and_change_nothing(report, nasty, alice, client_for):
    client = client_for(alice)
    for url in [
        "/admin/",
        "/admin/conversations/report/",
        f"/admin/conversations/report/{report.pk}/change/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.post(
        f"/admin/conversations/report/{report.pk}/hide/", {"confirm": "yes", "reason": "x"}
    )
    assert response.status_code == 302
    response = client.post(
        "/admin/conversations/report/",
        {"action": "dismiss_selected", "_selected_action": [report.pk], "confirm": "yes"},
    )
    assert response.status_code == 302
    nasty.refresh_from_db()
    report.refresh_from_db()
    assert nasty.hidden_at is None and report.status == ReportStatus.OPEN
    assert not AuditEvent.objects.exists()


def test_staff_without_permissions_see_nothing_and_act_on_nothing(
    report, group, bob, stranger_staff, client_for
):
    client = client_for(stranger_staff)
    assert client.get("/admin/conversations/report/").status_code == 403
    for url in [
        f"/admin/conversations/report/{report.pk}/hide/",
        f"/admin/conversations/conversation/{group.pk}/delete/",
        f"/admin/accounts/user/{bob.pk}/suspend/",
    ]:
        assert client.post(url, {"confirm": "yes", "reason": "x"}).status_code == 403, url
    assert not AuditEvent.objects.exists()


def test_moderators_see_no_agents_tokens_events_or_passwords(mod, bob, client_for):
    client = client_for(mod)
    index = client.get("/admin/").content.decode()
    assert "Reports" in index and "Users" in index
    for hidden in ("Agents", "Api tokens", "Events", "Groups"):
        assert hidden not in index
    for url in [
        "/admin/conversations/agent/",
        "/admin/conversations/agent/add/",
        "/admin/accounts/apitoken/",
        "/admin/conversations/event/",
        "/admin/auth/group/",
        f"/admin/accounts/user/{bob.pk}/password/",
    ]:
        assert client.get(url).status_code == 403, url

    page = client.get(f"/admin/accounts/user/{bob.pk}/change/")
    assert page.status_code == 200
    assert bob.password not in page.content.decode()
    assert "md5$" not in page.content.decode()  # the test suite's hasher


def test_moderators_cannot_edit_users(mod, bob, client_for):
    response = client_for(mod).post(
        f"/admin/accounts/user/{bob.pk}/change/",
        {"username": "bob", "is_superuser": "on", "is_staff": "on"},
    )
    assert response.status_code == 403
    bob.refresh_from_db()
    assert not bob.is_superuser and not bob.is_staff


def test_superusers_see_tokens_but_never_their_hash(boss, bob, tokens_for, client_for):
    pair = tokens_for(bob)
    client = client_for(boss)
    listing = client.get("/admin/accounts/apitoken/")
    page = client.get(f"/admin/accounts/apitoken/{pair.access.token.pk}/change/")
    for response in (listing, page):
        assert response.status_code == 200
        html = response.content.decode()
        assert pair.access.token.prefix in html
        assert pair.access.token.token_hash not in html and pair.access.raw not in html


@pytest.mark.parametrize("who", ["boss", "mod"])
def test_nobody_adds_changes_or_deletes_audit_events(who, report, mod, client_for, request):
    services.report_dismiss(report=report, moderator=mod)
    event = AuditEvent.objects.get()
    client = client_for(request.getfixturevalue(who))
    assert client.get("/admin/conversations/auditevent/").status_code == 200
    assert client.get("/admin/conversations/auditevent/add/").status_code == 403
    assert client.post(f"/admin/conversations/auditevent/{event.pk}/delete/").status_code == 403
    page = client.get(f"/admin/conversations/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    client.post(f"/admin/conversations/auditevent/{event.pk}/change/", {"reason": "rewritten"})
    event.refresh_from_db()
    assert event.reason == ""


def test_the_audit_log_filters_by_action_and_finds_a_target(report, nasty, mod, client_for):
    services.message_hide(message=nasty, moderator=mod, reason="insults")
    client = client_for(mod)

    hidden = client.get("/admin/conversations/auditevent/?action=message.hidden")
    assert [e.action for e in hidden.context["cl"].result_list] == ["message.hidden"]
    found = client.get(f"/admin/conversations/auditevent/?q={report.pk}")
    assert [e.action for e in found.context["cl"].result_list] == ["report.resolved"]


# --- CSRF ------------------------------------------------------------------------------------


def test_acts_need_the_csrf_token(report, mod, client_for):
    client = client_for(mod, csrf=True)
    url = f"/admin/conversations/report/{report.pk}/dismiss/"
    form = {"confirm": "yes", "reason": ""}

    assert client.post(url, form).status_code == 403
    action = {"action": "dismiss_selected", "_selected_action": [report.pk], **form}
    assert client.post("/admin/conversations/report/", action).status_code == 403
    report.refresh_from_db()
    assert report.status == ReportStatus.OPEN

    page = client.get(url)  # the confirmation page sets the token
    token = page.cookies["csrftoken"].value
    assert client.post(url, {**form, "csrfmiddlewaretoken": token}).status_code == 302
    assert Report.objects.get(pk=report.pk).status == ReportStatus.DISMISSED
