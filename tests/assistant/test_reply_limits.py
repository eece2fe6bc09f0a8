"""REPLY_RATE_LIMIT: each assistant reply (and each regeneration) is a paid call upstream,
so a user gets so many per window, then 429 with Retry-After; the real server, the fake
model server."""

import pytest

from tests.assistant.test_reply_live import client, new_conversation, reply, token_for
from tests.fake_openai import FakeOpenAI, text_reply
from tests.live_server import Server, ServerDatabase


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    with FakeOpenAI() as fake:
        database = ServerDatabase(
            tmp_path_factory.mktemp("reply-limits"),
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_MODEL="fake-model",
            OPENAI_API_KEY="sk-test",
            REPLY_RATE_LIMIT="2",
        )
        database.shell(
            "from chatapp.accounts.services import user_create\n"
            "user_create(username='alice', password='x')\n"
            "user_create(username='bob', password='x'); print('ok')"
        )
        server = Server(database.env).start()
        try:
            yield server, fake, {name: token_for(database, name) for name in ("alice", "bob")}
        finally:
            server.kill()
            database.drop()


def test_replies_and_regenerations_are_limited_per_user(limited):
    server, fake, tokens = limited
    fake.script(text_reply("One."), text_reply("Two."), text_reply("Bob's."))
    conversation_id = new_conversation(server, tokens["alice"])
    assert reply(server, tokens["alice"], conversation_id)[-1][0] == "message.completed"
    regenerated = reply(server, tokens["alice"], conversation_id, regenerate=True)
    assert regenerated[-1][0] == "message.completed"
    with client(server, tokens["alice"]) as api:
        refused = api.post(
            f"/api/v1/conversations/{conversation_id}/reply", json={"regenerate": True}
        )
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        # Nothing was started: the last turn is still the regenerated one.
        items = api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["items"]
        assert items[-1]["content"] == "Two."
    # Another user has a count of their own.
    bobs = new_conversation(server, tokens["bob"])
    assert reply(server, tokens["bob"], bobs)[-1][0] == "message.completed"
