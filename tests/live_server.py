"""The real server for tests: uvicorn in a subprocess, as scripts/serve runs it, on a
database of its own (a SQLite file, or a fresh PostgreSQL database when the suite runs on
PostgreSQL), with DEBUG off."""

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
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin_dsn() -> str:
    db = settings.DATABASES["default"]
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"user={db['USER']} dbname=postgres"
        + (f" password={db['PASSWORD']}" if db["PASSWORD"] else "")
    )


class ServerDatabase:
    """A migrated database for server subprocesses, with static files collected."""

    def __init__(self, data_dir: Path, **extra_env: str):
        self.name: str | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatapp.settings",
            "DEBUG": "false",
            "SECRET_KEY": "server-test-" + uuid.uuid4().hex,
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "POST_RATE_LIMIT": "100000",
            **extra_env,
        }
        if connection.vendor == "postgresql":
            self.name = f"chatapp_server_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
            db = settings.DATABASES["default"]
            self.env["DATABASE_URL"] = (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{self.name}"
            )
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{data_dir / 'chatapp.sqlite3'}"
        self.manage("migrate", "--noinput", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")

    def manage(self, *args: str, env: dict | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python in the server's settings and database; its last printed line."""
        return self.manage("shell", "-v0", "-c", code).strip().splitlines()[-1]

    def drop(self) -> None:
        if self.name:
            with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Server:
    def __init__(self, env: dict, log_path: Path | None = None):
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = log_path

    def start(self) -> "Server":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
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
                "--lifespan",
                "on",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log if self.log_path else subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited at start"
            try:
                httpx.get(self.base + "/health", timeout=5)  # any answer: it is up
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start within 30 seconds")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the lifespan runs its shutdown."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
