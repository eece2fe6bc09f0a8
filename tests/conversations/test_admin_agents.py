"""Staff manage agents in the admin; nothing there shows a key."""

import pytest
from django.test import Client
from django.utils.html import escape

from conversations.models import Agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(make_user):
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    return client


def test_staff_add_and_list_agents(staff_client, alice):
    response = staff_client.post(
        "/admin/conversations/agent/add/",
        {
            "workspace": alice.default_workspace.pk,
            "name": "Local Llama",
            "slug": "llama",
            "description": "",
            "is_active": "on",
            "provider": "openai",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "llama3.1",
            "api_key_env_var": "LLAMA_KEY",
            "system_prompt": "Be brief.",
            "temperature": "0.2",
            "max_tokens": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    agent = Agent.objects.get(slug="llama")
    assert agent.model == "llama3.1" and agent.api_key_env_var == "LLAMA_KEY"
    listing = staff_client.get("/admin/conversations/agent/")
    assert b"Local Llama" in listing.content


def test_admin_refuses_a_temperature_out_of_range(staff_client, alice):
    response = staff_client.post(
        "/admin/conversations/agent/add/",
        {
            "workspace": alice.default_workspace.pk,
            "name": "Hot",
            "slug": "hot",
            "provider": "openai",
            "temperature": "5",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert not Agent.objects.filter(slug="hot").exists()


def test_non_staff_cannot_reach_the_agent_admin(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/admin/conversations/agent/").status_code == 302


def test_the_agent_page_names_its_workspace(staff_client, alice):
    workspace = alice.default_workspace
    agent = Agent.objects.create(workspace=workspace, name="Helper", slug="helper", model="m")
    page = staff_client.get(f"/admin/conversations/agent/{agent.pk}/change/").content.decode()
    assert f'<option value="{workspace.pk}" selected>{escape(workspace.name)}</option>' in page
    assert f'value="{workspace.pk}"' not in page.replace(f'<option value="{workspace.pk}"', "")
