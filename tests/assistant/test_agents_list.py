"""GET /api/v1/agents lists each workspace's default agent as soon as the server's model is
configured (OPENAI_BASE_URL, OPENAI_MODEL), before anyone has used it (it used to appear
with the first reply, which made it)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import Agent, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_MODEL = "some-model"
    settings.OPENAI_API_KEY = "sk-never-shown-0123456789"


def workspaces_of(user) -> list[str]:
    return list(Membership.objects.filter(user=user).values_list("workspace__slug", flat=True))


def listed(client) -> list[dict]:
    response = client.get("/api/v1/agents")
    assert response.status_code == 200, response.content
    assert response.json()["has_more"] is False
    return response.json()["items"]


def test_the_default_agent_is_listed_before_anyone_used_it(alice, team, api, configured):
    assert not Agent.objects.exists()  # nothing has replied yet
    items = listed(api(alice))
    # One per workspace of hers (her personal one, team, and the server's shared one if on).
    assert sorted(item["workspace"] for item in items) == sorted(workspaces_of(alice))
    assert {"team", alice.default_workspace.slug} <= {item["workspace"] for item in items}
    assert all(item["is_default"] for item in items)
    assert {item["name"] for item in items} == {"Assistant"}
    assert {item["model"] for item in items} == {"some-model"}
    assert all("sk-never-shown" not in str(item) for item in items)
    # Listed again: the same agents, none made twice; the first reply will use them.
    assert [item["id"] for item in listed(api(alice))] == [item["id"] for item in items]
    assert Agent.objects.count() == len(items)
    assert services.agent_default_for_workspace(workspace=team).pk in {
        agent.pk for agent in Agent.objects.all()
    }


def test_without_a_configured_model_nothing_is_made(alice, api, settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = ""
    assert listed(api(alice)) == []
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # a URL, no model: still not configured
    assert listed(api(alice)) == []
    assert not Agent.objects.exists()


def test_a_default_agent_staff_switched_off_stays_off(alice, api, configured):
    agent = services.agent_default_for_workspace(workspace=alice.default_workspace)
    Agent.objects.filter(pk=agent.pk).update(is_active=False)
    shown = {item["workspace"] for item in listed(api(alice))}
    assert alice.default_workspace.slug not in shown
    assert Agent.objects.filter(workspace=alice.default_workspace).count() == 1


def test_others_agents_are_not_listed(alice, bob, api, configured):
    listed(api(bob))
    shown = [item["workspace"] for item in listed(api(alice))]
    assert sorted(shown) == sorted(workspaces_of(alice))
    assert bob.default_workspace.slug not in shown


def test_once_the_agents_exist_listing_makes_nothing(alice, team, api, configured):
    client = api(alice)
    listed(client)
    with CaptureQueriesContext(connection) as captured:
        listed(client)
    agent_queries = [
        q["sql"] for q in captured.captured_queries if "conversations_agent" in q["sql"]
    ]
    # The check for a missing default agent, and the list.
    assert len(agent_queries) == 2, agent_queries
    assert not any(sql.startswith(("INSERT", "SAVEPOINT")) for sql in agent_queries)
