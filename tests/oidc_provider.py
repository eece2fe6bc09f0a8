"""A real OpenID provider for the single sign-on tests: tests/oidc/provider.mjs (panva's
oidc-provider on Node.js) in a subprocess, installed with `npm ci` from the vendored
tests/oidc/package-lock.json into tests/oidc/node_modules (ignored by git) the first time it
is needed, and again whenever the lock changes.

Without node and npm the tests that need it are skipped, saying so, unless
CHATAPP_REQUIRE_OIDC_PROVIDER=1 (.ci/run sets it), when they fail instead: CI must run them.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.live_server import free_port

HERE = Path(__file__).resolve().parent / "oidc"
LOCK = HERE / "package-lock.json"
NODE_MAJOR_AT_LEAST = 20
CLIENT_ID = "chatapp-tests"
CLIENT_SECRET = "test-client-secret-0123456789"  # the test provider's
PASSWORD = "Provider-pass-7"  # every test account's password at the provider


def unavailable_reason() -> str | None:
    """Why the provider cannot run here, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "the single sign-on tests need node and npm (apt-get install nodejs npm)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)", version.strip())
    if not match or int(match.group(1)) < NODE_MAJOR_AT_LEAST:
        return f"the single sign-on tests need Node.js {NODE_MAJOR_AT_LEAST}+, not {version!r}"
    return None


def require_provider() -> None:
    """Skip (or, in CI, fail) the calling test when the provider cannot run here."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CHATAPP_REQUIRE_OIDC_PROVIDER") == "1":
        pytest.fail(f"CHATAPP_REQUIRE_OIDC_PROVIDER=1 but {reason}")
    pytest.skip(reason)


def install() -> None:
    """`npm ci` into tests/oidc/node_modules, unless this lock is installed already."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    stamp = HERE / "node_modules" / f".chatapp-installed-{digest}"
    if stamp.exists():
        return
    result = subprocess.run(
        [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"npm ci in {HERE} failed:\n{result.stdout}\n{result.stderr}"
    stamp.touch()


def account(login: str, *, email: str, verified: bool = True, **claims) -> dict:
    """An account at the provider: its login, PASSWORD, and its claims (sub: 'sub-<login>')."""
    return {
        login: {
            "password": PASSWORD,
            "claims": {
                "sub": f"sub-{login}",
                "email": email,
                "email_verified": verified,
                **claims,
            },
        }
    }


class OidcProvider:
    """`with OidcProvider(redirect_uris=[…], post_logout_redirect_uris=[…], accounts={…})`:
    the provider listening on 127.0.0.1 at `issuer`, one confidential client (CLIENT_ID)."""

    def __init__(self, *, redirect_uris, post_logout_redirect_uris, accounts: dict):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config = {
            "port": self.port,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "client_name": "chatapp tests",
                    "redirect_uris": list(redirect_uris),
                    "post_logout_redirect_uris": list(post_logout_redirect_uris),
                }
            ],
            "accounts": accounts,
        }
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="oidc-provider-", suffix=".log")  # noqa: SIM115

    def __enter__(self) -> "OidcProvider":
        install()
        self.config_file = tempfile.NamedTemporaryFile("w", suffix=".json")
        json.dump(self.config, self.config_file)
        self.config_file.flush()
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(HERE / "provider.mjs"), self.config_file.name],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.process.stdout.readline()  # "ready <issuer>", or "" if it died
        if not line.startswith("ready "):
            self.__exit__()
            raise AssertionError(f"the OpenID provider did not start:\n{self.log_text()}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the OpenID provider does not answer")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.config_file.close()
        self.log.close()

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def set_accounts(self, accounts: dict) -> None:
        """Replace every account (and its claims) at the provider."""
        httpx.put(self.issuer + "/_test/accounts", json=accounts, timeout=5).raise_for_status()


class ProviderBrowser:
    """The provider's side of a person's browser: httpx with the provider's cookies, which
    follows the provider's redirects and fills in its sign-in form when it shows one."""

    def __init__(self):
        self.http = httpx.Client(follow_redirects=False, timeout=10)
        self.asked_for_password = False

    def close(self) -> None:
        self.http.close()

    def visit(self, url: str, *, until: str, login: str | None = None) -> str:
        """Follow `url` through the provider until a redirect leaves for `until` (a URL
        prefix); returns that URL. Signs in as `login` if the provider asks."""
        self.asked_for_password = False
        response = self.http.get(url)
        for _ in range(20):
            if response.is_redirect:
                url = urljoin(str(response.url), response.headers["location"])
                if url.startswith(until):
                    return url
                response = self.http.get(url)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:2000])
            form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert form, response.text[:2000]
            if 'name="password"' in response.text:
                assert login, "the provider asked for a password"
                self.asked_for_password = True
                fields = {"login": login, "password": PASSWORD}
            else:  # the sign-out confirmation: "Yes, sign me out"
                hidden = r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"'
                fields = dict(re.findall(hidden, response.text))
                fields["logout"] = "yes"
            response = self.http.post(urljoin(str(response.url), form.group(1)), data=fields)
        raise AssertionError(f"the provider never sent the browser to {until}")
