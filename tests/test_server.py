"""The real server (uvicorn, as scripts/serve runs it) in a subprocess, on its own database:
what is posted through it survives the process being killed; /health tells the truth."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def admin_dsn() -> str:
    db = settings.DATABASES["default"]
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"user={db['USER']} dbname=postgres"
        + (f" password={db['PASSWORD']}" if db["PASSWORD"] else "")
    )


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    """Environment for a production-like server (DEBUG off) on a fresh, migrated database
    of the same kind as the suite's, with static files collected."""
    data_dir = tmp_path_factory.mktemp("server-data")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        "DEBUG": "false",
        "SECRET_KEY": "server-test-" + uuid.uuid4().hex,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
    }
    database_name = None
    if connection.vendor == "postgresql":
        database_name = f"chatapp_server_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database_name}"')
        db = settings.DATABASES["default"]
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{database_name}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{data_dir / 'chatapp.sqlite3'}"
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    yield env
    if database_name:
        with psycopg.connect(admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Server:
    def __init__(self, env: dict):
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "chatapp.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()
            try:
                httpx.get(self.base + "/health", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start within 30 seconds")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


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


def test_a_posted_message_survives_a_killed_server(server_env, start_server):
    conversation_id = (
        manage(
            server_env,
            "shell",
            "-c",
            "from chatapp.accounts.services import user_create\n"
            "from conversations.services import conversation_create\n"
            "user = user_create(username='dana', password='Durable-pass-1')\n"
            "conversation, _ = conversation_create(creator=user, kind='assistant')\n"
            "print(conversation.pk)",
        )
        .strip()
        .splitlines()[-1]
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
    env = {**server_env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port}/none"}
    server = start_server(env)
    for path in ("/health", "/api/v1/health"):
        response = httpx.get(server.base + path, timeout=10)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert str(closed_port) in body["database"]
