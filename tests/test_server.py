"""The real server (uvicorn, as scripts/serve runs it) in a subprocess, on its own database:
what is posted through it survives the process being killed; /health tells the truth."""

import httpx
import pytest

from tests.live_server import Server, ServerDatabase, free_port


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    database = ServerDatabase(tmp_path_factory.mktemp("server-data"))
    yield database
    database.drop()


@pytest.fixture(scope="module")
def server_env(database):
    return database.env


@pytest.fixture
def start_server(server_env):
    servers: list[Server] = []

    def start(env: dict | None = None) -> Server:
        server = Server(env or server_env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


def sign_in(server: Server, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base, timeout=10)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    assert response.status_code == 302, response.text
    return client


def test_a_posted_message_survives_a_killed_server(database, start_server):
    conversation_id = database.shell(
        "from chatapp.accounts.services import user_create\n"
        "from conversations.services import conversation_create\n"
        "user = user_create(username='dana', password='Durable-pass-1')\n"
        "conversation, _ = conversation_create(creator=user, kind='assistant')\n"
        "print(conversation.pk)"
    )

    server = start_server()
    client = sign_in(server, "dana", "Durable-pass-1")
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": "Remember this.", "client_message_id": "durable-1"},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    server.kill()  # SIGKILL: no clean shutdown, nothing flushed on the way out

    restarted = start_server()
    client = sign_in(restarted, "dana", "Durable-pass-1")
    page = client.get(f"/api/v1/conversations/{conversation_id}/messages").json()
    assert [(item["seq"], item["content"]) for item in page["items"]] == [(1, "Remember this.")]


def test_health_is_ok_with_a_database(start_server):
    server = start_server()
    for path in ("/health", "/api/v1/health"):
        response = httpx.get(server.base + path, timeout=5)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_without_a_database(server_env, start_server):
    closed_port = free_port()
    env = {
        **server_env,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port}/none",
        "DATABASE_POOL_TIMEOUT": "2",
    }
    server = start_server(env)
    for path in ("/health", "/api/v1/health"):
        response = httpx.get(server.base + path, timeout=20)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        # The pool's own words ("couldn't get a connection after 2.00 sec"): the database's
        # error, not an empty or generic message.
        assert "connection" in body["database"]
