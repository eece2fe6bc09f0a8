"""Single sign-on in Chromium, end to end: the real server (uvicorn) configured by the
OIDC_* variables against a real OpenID provider (tests/oidc/provider.mjs) on this machine.
Click "Sign in with …", sign in on the provider's page, land signed in; sign out, and the
provider's session is over too: signing in again asks for the password again."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import run_axe
from tests.live_server import Server
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    OidcProvider,
    account,
    require_provider,
)

PROVIDER_NAME = "Example SSO"


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    """The browser folder's server, with single sign-on against a provider of its own (its
    client's redirect URIs name this server's port)."""
    require_provider()
    log = tmp_path_factory.mktemp("browser-logs") / "server.log"
    app = Server(database.env, log_path=log)
    with OidcProvider(
        redirect_uris=[f"{app.base}/accounts/oidc/callback/"],
        post_logout_redirect_uris=[f"{app.base}/accounts/login/"],
        accounts=account("sam", email="sam@example.com", name="Sam Sso", preferred_username="sam"),
    ) as provider:
        app.env = {
            **database.env,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PROVIDER_NAME": PROVIDER_NAME,
            "OIDC_SCOPES": "openid email profile",
            "OIDC_ALLOWED_EMAIL_DOMAINS": "example.com",
        }
        app.start()
        app.log = log
        app.provider = provider
        yield app
        app.kill()


def sign_in_at_provider(page) -> None:
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_the_provider_and_sign_out_of_both(open_page, server):
    page = open_page()
    page.goto("/accounts/login/")
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    expect(page).to_have_url(re.compile(re.escape(server.provider.issuer)))
    sign_in_at_provider(page)

    # Back here, signed in as the account the provider's claims made.
    expect(page).to_have_url(f"{server.base}/")
    expect(page.locator(".account-link")).to_contain_text("Sam Sso")

    # Sign out: here, then the provider asks to confirm ending its session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(re.escape(server.provider.issuer) + "/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(f"{server.base}/accounts/login/")
    expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()

    # The provider's session is over: it asks for the password again.
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    expect(page.get_by_label("Password")).to_be_visible()
    sign_in_at_provider(page)
    expect(page).to_have_url(f"{server.base}/")
    expect(page.locator(".account-link")).to_contain_text("Sam Sso")


def test_the_sign_in_page_with_sso_is_accessible(open_page, server):
    page = open_page(bypass_csp=True)
    page.goto("/accounts/login/")
    expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    assert run_axe(page) == []
    page.emulate_media(color_scheme="dark")
    assert run_axe(page) == []
