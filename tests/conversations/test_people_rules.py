"""Who can be added, and to what: a name nobody has and a person outside the workspace get
the same answer (API and page alike), and a direct conversation stays between its two
people."""

import json

import pytest

from conversations import selectors, services
from conversations.exceptions import ChatError

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(bearer_client, tokens_for):
    return lambda user: bearer_client(tokens_for(user).access.raw)


def post_json(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def answer(response, name):
    """The error as a prober sees it, with the probed name taken out."""
    body = response.json()["error"]
    return (
        response.status_code,
        body["code"],
        body["message"].replace(name, "NAME"),
        {key: value for key, value in body["details"].items() if key != "errors"},
    )


@pytest.fixture
def outsider(make_user):
    return make_user("outsider")  # has an account, in no workspace of alice's


def test_adding_a_stranger_and_a_missing_name_answer_alike(alice, group, outsider, api):
    url = f"/api/v1/conversations/{group.pk}/participants"
    real = post_json(api(alice), url, {"username": "outsider"})
    ghost = post_json(api(alice), url, {"username": "ghost_name"})
    assert answer(real, "outsider") == answer(ghost, "ghost_name")
    assert real.status_code == 422


def test_creating_with_a_stranger_and_a_missing_name_answer_alike(alice, team, outsider, api):
    def create(name):
        body = {"kind": "group", "title": "T", "workspace": "team", "participants": [name]}
        return post_json(api(alice), "/api/v1/conversations", body)

    assert answer(create("outsider"), "outsider") == answer(create("ghost_name"), "ghost_name")
    direct = {"kind": "direct", "workspace": "team"}
    real = post_json(api(alice), "/api/v1/conversations", {**direct, "participants": ["outsider"]})
    ghost = post_json(api(alice), "/api/v1/conversations", {**direct, "participants": ["nobody1"]})
    assert answer(real, "outsider") == answer(ghost, "nobody1")


def test_the_new_conversation_form_answers_alike(alice, team, outsider, client):
    client.force_login(alice)

    def create(name):
        response = client.post(
            "/c/new", {"kind": "group", "title": "T", "workspace": "team", "participants": name}
        )
        assert response.status_code == 422
        errors = response.context["new_form"].errors
        return {
            field: [text.replace(name, "NAME") for text in texts] for field, texts in errors.items()
        }

    assert create("outsider") == create("ghost_name")


# --- direct conversations ---------------------------------------------------------------------


@pytest.fixture
def direct(alice, bob, team):
    conversation, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    return conversation


def test_nobody_is_removed_from_a_direct_conversation(alice, bob, direct, api):
    url = f"/api/v1/conversations/{direct.pk}/participants/{bob.pk}"
    refused = api(alice).delete(url)
    assert refused.status_code == 422
    assert "leave" in refused.json()["error"]["message"]
    assert direct.participants.filter(user=bob, left_at__isnull=True).exists()
    with pytest.raises(ChatError):
        services.participant_remove(conversation=direct, actor=alice, user=bob)


def test_removal_cannot_be_used_to_hide_what_is_posted_then_reopened(alice, bob, direct, post):
    # The attack of issue 12: remove bob, post, let him "rejoin" by opening it again.
    with pytest.raises(ChatError):
        services.participant_remove(conversation=direct, actor=alice, user=bob)
    post(direct, "said while bob is still in", sender=alice)
    page = selectors.message_page(user=bob, conversation_id=direct.pk, limit=50)
    assert [m.content for m in page.items] == ["said while bob is still in"]


def test_either_person_may_leave_a_direct_conversation_for_themselves(alice, bob, direct, api):
    url = f"/api/v1/conversations/{direct.pk}/participants/{bob.pk}"
    assert api(bob).delete(url).status_code == 204
    assert not direct.participants.filter(user=bob, left_at__isnull=True).exists()
    # Opening it again brings bob back to the same two-person conversation.
    again, created = services.conversation_create(
        creator=bob, kind="direct", workspace=direct.workspace, participants=[alice]
    )
    assert again.pk == direct.pk and not created
