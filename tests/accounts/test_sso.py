"""Single sign-on against a real OpenID provider (tests/oidc/provider.mjs, oidc-provider on
Node.js, started for this module): the app's side is Django's test client, the browser's
side at the provider is httpx (tests/oidc_provider.py); the code, the tokens, the keys and
the userinfo go between the app and the provider over real HTTP.

alice and bob have accounts here already (tests/conftest.py); at the provider, `alice` is
alice@example.com (verified), `newbie` has no account here yet, `mallory` claims bob's
address without having verified it, `eve` is at a domain a test may refuse."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from chatapp.accounts import oidc
from chatapp.accounts.models import SingleSignOnIdentity, User
from conversations import services
from conversations.models import AuditEvent, Membership, Workspace
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    OidcProvider,
    ProviderBrowser,
    account,
    require_provider,
)

APP = "http://testserver"
PROVIDER_NAME = "Test IdP"

pytestmark = pytest.mark.django_db


def provider_accounts(**changes) -> dict:
    people = {
        **account("alice", email="alice@example.com", name="Alice at the IdP"),
        **account(
            "newbie",
            email="New.Person@Example.com",
            preferred_username="new.person",
            name="New  Person",
            groups=["engineering"],
        ),
        **account("mallory", email="bob@example.com", verified=False),
        **account("eve", email="eve@elsewhere.test"),
    }
    for login, claims in changes.items():
        people[login]["claims"].update(claims)
    return people


@pytest.fixture(scope="module")
def provider():
    require_provider()
    with OidcProvider(
        redirect_uris=[f"{APP}/accounts/oidc/callback/"],
        post_logout_redirect_uris=[f"{APP}/accounts/login/"],
        accounts=provider_accounts(),
    ) as running:
        yield running


@pytest.fixture
def sso(settings, provider):
    """Single sign-on on, as OIDC_ISSUER & co. would set it, against the provider."""
    settings.OIDC_ISSUER = provider.issuer
    settings.SSO_ENABLED = True
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_SCOPES = "openid email profile groups"
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = []
    settings.OIDC_GROUP_ROLES = []
    settings.AUTHENTICATION_BACKENDS = [
        "chatapp.accounts.auth.UsernameOrEmailBackend",
        "chatapp.accounts.oidc.SingleSignOnBackend",
    ]
    oidc.forget_provider_metadata()
    provider.set_accounts(provider_accounts())
    yield settings
    oidc.forget_provider_metadata()


@pytest.fixture
def browser():
    at_provider = ProviderBrowser()
    yield at_provider
    at_provider.close()


def sign_in(client: Client, browser: ProviderBrowser, login: str):
    """Click "Sign in with …", sign in at the provider as `login`, come back: the answer of
    our callback."""
    start = client.get("/accounts/oidc/start/")
    assert start.status_code == 302, start.content
    back = browser.visit(start["Location"], until=APP, login=login)
    return client.get(back.removeprefix(APP))


def signed_in_as(client: Client) -> str | None:
    response = client.get("/api/v1/me")
    return response.json()["username"] if response.status_code == 200 else None


def refusal_on_sign_in_page(client: Client) -> str:
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    return page.context["refusal"]


# --- signing in ------------------------------------------------------------------------------


def test_sso_sign_in_creates_an_account_from_the_claims(sso, browser):
    client = Client()
    landed = sign_in(client, browser, "newbie")
    assert landed.status_code == 302 and landed["Location"] == "/"
    assert browser.asked_for_password
    user = User.objects.get(username="new_person")  # preferred_username, made to fit
    assert signed_in_as(client) == "new_person"
    assert user.email == "New.Person@example.com"  # the domain lowercased, as Django does
    assert user.display_name == "New Person"
    assert not user.has_usable_password()  # signs in through the provider only
    assert user.default_workspace.is_personal  # made by user_create, like anyone else
    identity = SingleSignOnIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.OIDC_ISSUER, "sub-newbie")
    event = AuditEvent.objects.get(action="user.sso_linked")
    assert event.data["created"] is True


def test_sso_sign_in_links_the_account_with_the_verified_email(sso, browser, alice):
    client = Client()
    sign_in(client, browser, "alice")
    assert signed_in_as(client) == "alice"
    assert User.objects.count() == 1
    assert SingleSignOnIdentity.objects.get().user == alice
    alice.refresh_from_db()
    assert alice.display_name == "Alice"  # what she chose here stays


def test_a_linked_identity_follows_a_changed_email(sso, provider, browser, alice):
    sign_in(Client(), browser, "alice")
    provider.set_accounts(provider_accounts(alice={"email": "alice@new.example.com"}))
    client = Client()
    sign_in(client, browser, "alice")
    assert signed_in_as(client) == "alice"  # the subject, not the address, says who
    alice.refresh_from_db()
    assert alice.email == "alice@new.example.com"


def test_an_unverified_email_does_not_take_over_an_account(sso, browser, bob):
    client = Client()
    landed = sign_in(client, browser, "mallory")  # claims bob@example.com, unverified
    assert landed.status_code == 302 and landed["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert "has not verified your email address bob@example.com" in refusal_on_sign_in_page(client)
    assert not SingleSignOnIdentity.objects.exists()
    assert list(User.objects.values_list("username", flat=True)) == ["bob"]
    # and bob's account stays bob's: his password still signs him in
    assert Client().login(username="bob", password="Correct-horse-9")


def test_an_unverified_email_makes_no_new_account(sso, provider, browser):
    provider.set_accounts(provider_accounts(newbie={"email_verified": False}))
    client = Client()
    sign_in(client, browser, "newbie")
    assert signed_in_as(client) is None
    assert not User.objects.exists()


def test_a_domain_that_is_not_allowed_is_refused(sso, browser):
    sso.OIDC_ALLOWED_EMAIL_DOMAINS = ["example.com"]
    client = Client()
    sign_in(client, browser, "eve")
    assert signed_in_as(client) is None
    assert refusal_on_sign_in_page(client) == (
        "Accounts with an email address at elsewhere.test cannot sign in here."
    )
    assert not User.objects.exists()
    other_browser = ProviderBrowser()  # the first is signed in to the provider as eve
    sign_in(client, other_browser, "newbie")  # Example.com: compared lowercased
    other_browser.close()
    assert signed_in_as(client) == "new_person"


def test_a_suspended_account_is_refused(sso, browser, alice, make_user):
    moderator = make_user("mod", is_superuser=True)
    sign_in(Client(), browser, "alice")
    from chatapp.accounts.services import user_suspend

    user_suspend(user=alice, actor=moderator, reason="spam")
    client = Client()
    sign_in(client, browser, "alice")
    assert signed_in_as(client) is None
    assert refusal_on_sign_in_page(client) == "This account is suspended."


def test_without_sso_configured_its_pages_are_not_found(settings):
    settings.SSO_ENABLED = False
    assert Client().get("/accounts/oidc/start/").status_code == 404
    assert Client().get("/accounts/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in Client().get("/accounts/login/").content.decode()


def test_an_unreachable_provider_is_said_on_the_sign_in_page(sso):
    from tests.live_server import free_port

    sso.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    oidc.forget_provider_metadata()
    client = Client()
    response = client.get("/accounts/oidc/start/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert refusal_on_sign_in_page(client).startswith(f"{PROVIDER_NAME} cannot be reached")


def test_a_forged_callback_signs_nobody_in(sso, browser):
    client = Client()
    client.get("/accounts/oidc/start/")
    response = client.get("/accounts/oidc/callback/?code=made-up&state=not-ours")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None


def test_a_code_for_someone_else_s_session_is_refused(sso, browser):
    """A callback URL (code and state) taken from one browser into another: the state is
    not in that session, so nothing happens."""
    first = Client()
    start = first.get("/accounts/oidc/start/")
    back = browser.visit(start["Location"], until=APP, login="alice")
    other = Client()
    other.get("/accounts/oidc/start/")
    other.get(back.removeprefix(APP))
    assert signed_in_as(other) is None


def test_the_sign_in_page_offers_the_provider(sso):
    page = Client().get("/accounts/login/?next=/search")
    html = page.content.decode()
    assert f"Sign in with {PROVIDER_NAME}" in html
    assert 'href="/accounts/oidc/start/?next=/search"' in html
    assert 'name="password"' in html  # password sign-in is on by default


def test_sso_sign_in_goes_back_to_next(sso, browser):
    client = Client()
    start = client.get("/accounts/oidc/start/?next=/search")
    back = browser.visit(start["Location"], until=APP, login="newbie")
    assert client.get(back.removeprefix(APP))["Location"] == "/search"


# --- groups to roles ------------------------------------------------------------------------


def role_of(user: User, workspace: Workspace) -> str | None:
    membership = Membership.objects.filter(user=user, workspace=workspace).first()
    return membership.role if membership else None


def shared_workspace() -> Workspace:
    return services.workspace_shared()


def test_groups_map_to_roles_in_the_shared_and_named_workspaces(sso, provider, browser, charlie):
    engineering = services.workspace_create(name="Engineering", slug="eng", owner=charlie)
    sso.OIDC_GROUP_ROLES = [
        ("chat-admins", "", "admin"),
        ("engineering", "eng", "member"),
        ("eng-leads", "eng", "admin"),
    ]
    provider.set_accounts(provider_accounts(newbie={"groups": ["engineering", "chat-admins"]}))
    sign_in(Client(), browser, "newbie")
    newbie = User.objects.get(username="new_person")
    assert role_of(newbie, shared_workspace()) == "admin"
    assert role_of(newbie, engineering) == "member"

    # Groups change at the provider: the next sign-in follows.
    provider.set_accounts(provider_accounts(newbie={"groups": ["eng-leads"]}))
    sign_in(Client(), browser, "newbie")
    assert role_of(newbie, shared_workspace()) == "member"  # what the mapping gave, taken back
    assert role_of(newbie, engineering) == "admin"  # the highest of their mapped groups
    changes = AuditEvent.objects.filter(action="sso.roles_synced").order_by("created_at")
    assert changes.last().data["changes"] == [
        {"workspace": shared_workspace().slug, "from": "admin", "to": "member"},
        {"workspace": "eng", "from": "member", "to": "admin"},
    ]


def test_a_role_given_in_chatapp_outlives_the_mapping(sso, provider, browser, charlie):
    engineering = services.workspace_create(name="Engineering", slug="eng", owner=charlie)
    sso.OIDC_GROUP_ROLES = [("engineering", "eng", "member")]
    sign_in(Client(), browser, "newbie")  # in "engineering"
    newbie = User.objects.get(username="new_person")
    services.membership_add(workspace=engineering, user=newbie, role="admin", actor=charlie)
    sign_in(Client(), browser, "newbie")
    assert role_of(newbie, engineering) == "admin"  # the mapping never lowers what it did not give
    provider.set_accounts(provider_accounts(newbie={"groups": []}))
    sign_in(Client(), browser, "newbie")
    assert role_of(newbie, engineering) == "admin"


def test_a_mapping_to_a_workspace_that_does_not_exist_gives_nothing(sso, browser):
    sso.OIDC_GROUP_ROLES = [("engineering", "no-such-workspace", "admin")]
    client = Client()
    sign_in(client, browser, "newbie")
    assert signed_in_as(client) == "new_person"  # signed in all the same
    assert not Workspace.objects.filter(slug="no-such-workspace").exists()


# --- password sign-in off -------------------------------------------------------------------


def test_with_password_sign_in_off_only_sso_signs_in(sso, browser, alice):
    sso.PASSWORD_SIGN_IN = False
    page = Client().get("/accounts/login/").content.decode()
    assert f"Sign in with {PROVIDER_NAME}" in page
    assert 'name="password"' not in page and "No account?" not in page

    # The page's form, posted anyway: refused before any password is checked.
    client = Client()
    refused = client.post("/accounts/login/", {"username": "alice", "password": "Correct-horse-9"})
    assert refused.status_code == 403
    assert "Password sign-in is turned off" in refused.content.decode()
    assert signed_in_as(client) is None
    assert not Client().login(username="alice", password="Correct-horse-9")  # no backend takes it

    # The API's password door says so, in the error envelope.
    answer = Client().post(
        "/api/v1/auth/token",
        data=json.dumps({"username": "alice", "password": "Correct-horse-9"}),
        content_type="application/json",
    )
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "password_sign_in_off"
    assert f"Sign in with {PROVIDER_NAME}" in error["message"]

    # Registration closes with it (a password account could not sign in).
    assert Client().get("/accounts/register/").status_code == 403
    assert (
        Client()
        .post(
            "/api/v1/auth/register",
            data=json.dumps(
                {"email": "n@example.com", "username": "newone", "password": "Sturdy-pass-42"}
            ),
            content_type="application/json",
        )
        .status_code
        == 403
    )

    # The admin's sign-in sends people to the site's page.
    admin_login = Client().get("/admin/login/?next=/admin/")
    assert admin_login.status_code == 302
    assert admin_login["Location"].startswith("/accounts/login/?next=/admin/")

    # Single sign-on still works.
    sign_in(client, browser, "alice")
    assert signed_in_as(client) == "alice"


# --- signing out ----------------------------------------------------------------------------


def test_sign_out_ends_the_provider_session_too(sso, provider, browser):
    client = Client()
    sign_in(client, browser, "newbie")
    assert browser.asked_for_password

    # While the provider's session lives, signing in again asks nothing.
    again = Client()
    sign_in(again, browser, "newbie")
    assert not browser.asked_for_password
    assert signed_in_as(again) == "new_person"

    # Sign out: here, then at the provider (RP-initiated logout).
    out = again.post("/accounts/logout/")
    assert out.status_code == 302
    end_session = urlsplit(out["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}" == provider.issuer
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == [f"{APP}/accounts/login/"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["id_token_hint"][0].count(".") == 2  # the ID token of this sign-in
    assert signed_in_as(again) is None
    back = browser.visit(out["Location"], until=APP)
    assert back == f"{APP}/accounts/login/"

    # The provider's session is over: signing in asks for the password again.
    sign_in(Client(), browser, "newbie")
    assert browser.asked_for_password


def test_a_password_session_signs_out_here_only(sso, alice):
    client = Client()
    assert client.login(username="alice", password="Correct-horse-9")
    out = client.post("/accounts/logout/")
    assert out["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None


def test_sign_out_forms_may_post_to_the_provider(sso, alice):
    """The sign-out form's answer redirects to the provider, which the CSP's form-action
    must allow (browsers apply it to redirects)."""
    client = Client()
    client.force_login(alice)
    policy = client.get("/")["Content-Security-Policy"]
    assert f"form-action 'self' {sso.OIDC_ISSUER}" in policy


# --- the rules alone (no provider needed) ---------------------------------------------------


@pytest.fixture
def rules(settings):
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = []
    settings.OIDC_GROUP_ROLES = []
    return settings


def claims(**extra) -> dict:
    return {"sub": "s-1", "email": "pat@example.com", "email_verified": True, **extra}


@pytest.mark.parametrize(
    ("wanted", "username"),
    [
        ("pat.lee", "pat_lee"),
        ("Zoë Ångström", "Zoe_Angstrom"),
        ("pat@example.com", "pat_example_com"),
        ("x", "x_user"),
        ("李", "user"),
        ("a" * 80, "a" * 50),
    ],
)
def test_a_new_username_is_made_to_fit(rules, wanted, username):
    from chatapp.accounts.sso import sso_sign_in

    user = sso_sign_in(issuer="https://idp.test", claims=claims(preferred_username=wanted))
    assert user.username == username


def test_a_taken_username_is_numbered(rules, make_user):
    from chatapp.accounts.sso import sso_sign_in

    make_user("pat")  # pat@example.com
    user = sso_sign_in(issuer="https://idp.test", claims=claims(email="pat@elsewhere.test"))
    assert user.username == "pat_2"


def test_email_verified_as_a_string_counts_and_anything_else_does_not(rules):
    from chatapp.accounts.sso import sso_sign_in
    from conversations.exceptions import SignInRefused

    assert sso_sign_in(issuer="https://idp.test", claims=claims(email_verified="true"))
    for unverified in (False, "false", None, 1, "yes"):
        with pytest.raises(SignInRefused):
            sso_sign_in(
                issuer="https://idp.test",
                claims=claims(sub=f"s-{unverified}", email_verified=unverified),
            )
    with pytest.raises(SignInRefused, match="did not give an email"):
        sso_sign_in(issuer="https://idp.test", claims=claims(sub="s-2", email=None))


def test_without_create_users_only_existing_accounts_sign_in(rules, alice):
    from chatapp.accounts.sso import sso_sign_in
    from conversations.exceptions import SignInRefused

    rules.OIDC_CREATE_USERS = False
    with pytest.raises(SignInRefused, match=r"no account for pat@example\.com"):
        sso_sign_in(issuer="https://idp.test", claims=claims())
    assert sso_sign_in(issuer="https://idp.test", claims=claims(email="alice@example.com"))


def test_a_last_owner_is_not_demoted_by_the_mapping(rules, alice, charlie):
    from chatapp.accounts.sso import sso_sign_in

    team = services.workspace_create(name="Team", slug="team", owner=charlie)
    rules.OIDC_GROUP_ROLES = [("leads", "team", "owner")]
    alice_claims = claims(email="alice@example.com", groups="leads")  # one group, as a string
    sso_sign_in(issuer="https://idp.test", claims=alice_claims)
    assert role_of(alice, team) == "owner"
    Membership.objects.filter(workspace=team, user=charlie).delete()  # alice: the only owner
    sso_sign_in(issuer="https://idp.test", claims={**alice_claims, "groups": []})
    assert role_of(alice, team) == "owner"  # the mapping would take it back, but not from her


def test_group_roles_are_read_from_the_environment(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from chatapp.settings import env_group_roles

    monkeypatch.setenv("OIDC_GROUP_ROLES", "chat-admins=admin, /eng/leads=eng:OWNER,a=b=member")
    assert env_group_roles("OIDC_GROUP_ROLES") == [
        ("chat-admins", "", "admin"),
        ("/eng/leads", "eng", "owner"),
        ("a=b", "", "member"),  # a group's name may hold "=": the last one splits
    ]
    for wrong in ("admins", "admins=boss", "=admin", "admins=eng:"):
        monkeypatch.setenv("OIDC_GROUP_ROLES", wrong)
        with pytest.raises(ImproperlyConfigured, match="OIDC_GROUP_ROLES"):
            env_group_roles("OIDC_GROUP_ROLES")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_ISSUER": "https://idp.test"}, "set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too"),
        ({"PASSWORD_SIGN_IN": "false"}, "nobody could sign in"),
    ],
)
def test_a_configuration_nobody_could_sign_in_with_stops_the_server(tmp_path, env, message):
    from tests.test_settings import run

    result = run(["-c", "import chatapp.settings"], tmp_path, DEBUG="true", **env)
    assert result.returncode != 0
    assert message in result.stderr
