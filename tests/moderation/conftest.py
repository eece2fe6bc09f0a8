"""People of moderation: `boss` is a superuser, `mod` a staff member of the Moderators group
(made by migration 0005), `stranger_staff` is staff with no permission at all. Plus a
reported message in alice's group, with neighbours before and after it."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from conversations import services


@pytest.fixture
def boss(make_user):
    return make_user("boss", is_staff=True, is_superuser=True)


@pytest.fixture
def mod(make_user):
    moderator = make_user("mod", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    return moderator


@pytest.fixture
def stranger_staff(make_user):
    return make_user("stranger", is_staff=True)


@pytest.fixture
def client_for():
    """client_for(user, csrf=False) -> a Django test client signed in as the user."""

    def make(user=None, *, csrf: bool = False):
        client = Client(enforce_csrf_checks=csrf)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def thread(group, post, alice, bob):
    """Seven messages in alice's group, alternating alice and bob: #4 is bob's nasty one."""
    return [
        post(group, "you are all idiots" if seq == 4 else f"message {seq}", sender=sender)
        for seq, sender in zip(range(1, 8), [alice, bob] * 4, strict=False)
    ]


@pytest.fixture
def nasty(thread):
    return thread[3]


@pytest.fixture
def report(nasty, alice):
    report, _ = services.report_create(
        message=nasty, reporter=alice, reason="abuse", note="rude to everyone"
    )
    return report


@pytest.fixture
def run_action():
    """run_action(client, changelist_url, action, objects, reason) -> the final response.

    As a browser does it: post the selection from the changelist, get the confirmation
    page, and send back its form (hidden fields as the page has them) with the reason."""

    def run(client, url, action, objects, reason):
        page = client.post(url, {"action": action, "_selected_action": [obj.pk for obj in objects]})
        assert page.status_code == 200, page.content[:2000]
        html = page.content.decode()
        form = html[html.index('<form method="post">') :]
        form = form[: form.index("</form>")]
        data: dict[str, list[str]] = {}
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form
        ):
            data.setdefault(name, []).append(value)
        assert data["confirm"] == ["yes"] and data["action"] == [action]
        return client.post(url, {**data, "reason": reason})

    return run
