"""No input a client can send makes a 5xx: on PostgreSQL above all, which stores no NUL
character (in text or in JSON), and on SQLite too.

Walks every route of the OpenAPI schema (with ids of objects the caller owns, so that each
request gets past the permission checks into the services, and with bogus ones) and every
HTML page and form that takes input (the forms harvested from the pages themselves, the
admin's included). Each string field gets a NUL character or a lone surrogate; each integer
field Unicode digits (superscript two, the Arabic-Indic one) and integers past 64 bits; each
free-form JSON field (`meta`, `metadata`) NUL in a key and in a value and deep nesting; each
body JSON nested 10,000 levels and bytes that are not UTF-8. What must be refused is checked
too: NUL answers 422 naming the field under /api/ and 400 on the pages, digits that are not
ASCII 422 naming the parameter.

Every probe runs in a savepoint that is rolled back, so each meets the same fixtures and a
database error cannot poison the probes after it. A new route or form is walked without
anyone having to remember it; a new route with a JSON body adds a valid one to base_bodies.
"""

import copy
import itertools
import json
import re
import uuid
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, RequestFactory
from django.test.client import encode_multipart
from django.urls import reverse

from chatapp import ratelimit
from chatapp.accounts.services import personal_token_create, token_pair_issue
from chatapp.api import api
from conversations import services
from conversations.models import Artifact

from .conversations.transfer_helpers import fixture_json, rich_conversation

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONE_SURROGATE = "\ud800"
HUGE = 10**30
# Integers a client may send in a query string or a form, each of which once reached int()
# or the database: Unicode digits (superscript two and the Arabic-Indic one: str.isdigit()
# is true for both, int() reads the second), one past bigint, numbers far past it, and more
# digits than int() reads.
BAD_INTEGER_TEXTS = ["²", "\u0661", str(2**63), str(HUGE), "-" + str(HUGE), "9" * 5000]
# Query-string bytes that are not UTF-8 (a lone 0xFF; a UTF-8-encoded surrogate).
BAD_QUERY_BYTES = ["%FF%FE", "%ED%A0%80"]


class RawJSON:
    """JSON text to put in a body as it is: nesting too deep for json.dumps to write."""

    def __init__(self, text: str, depth: int):
        self.text = text
        self.depth = depth

    def __repr__(self) -> str:
        return f"RawJSON({len(self.text)} characters)"


def nested(depth: int) -> RawJSON:
    """A JSON object nested `depth` levels deep."""
    return RawJSON('{"a": ' * depth + "{}" + "}" * depth, depth)


def dumps(body) -> bytes:
    """body as JSON, each RawJSON in it written as its text."""
    raws: list[str] = []

    def placeholder(value):
        if isinstance(value, RawJSON):
            raws.append(value.text)
            return f"\x01raw{len(raws) - 1}\x01"
        raise TypeError(type(value))

    text = json.dumps(body, default=placeholder)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{index}\x01"), raw)
    return text.encode()


# Free-form JSON (meta, metadata): NUL in a key, in a value, deep inside; numbers past 64
# bits; a lone surrogate; nesting past what may be stored, and past what can be parsed. Each
# with where the API's 422 must point within the field ("": the field itself), or None when
# it need not refuse (a big number is stored; JSON too deep to parse is a 400).
BAD_JSON_OBJECTS = [
    ({"key" + NUL: "value"}, "key" + NUL),
    ({"key": "value" + NUL}, "key"),
    ({"outer": [{"inner": ["x", "y" + NUL]}]}, "outer.0.inner.1"),
    ({"outer": {NUL: {}}}, "outer." + NUL),
    ({"text": LONE_SURROGATE}, "text"),
    ([NUL], "0"),
    (NUL, ""),
    ({"big": HUGE}, None),
    (nested(200), ""),
    (nested(600), ""),
    (nested(900), None),
    (nested(990), None),
    (nested(10_000), None),
]


# --- the caller's world --------------------------------------------------------------------


@pytest.fixture
def world(alice, bob, charlie, group, post, settings, make_user):
    """alice owns `group` (rich: parts, an artifact, a deleted message), has a personal
    token, a report, a direct conversation with charlie and an assistant conversation."""
    # Every probe is to reach the code behind the limits.
    for limit in ratelimit.ALL_LIMITS:
        setattr(settings, limit.count_setting, 1_000_000)
    settings.ALLOW_REGISTRATION = True
    # No endpoint: a reply is saved as error (not_configured) at once; no generation starts.
    settings.OPENAI_BASE_URL = ""
    rich_conversation(alice, bob, group, post)
    message = post(group, "alice's words")
    bobs = post(group, "bob's words", sender=bob)
    services.report_create(message=bobs, reporter=alice, reason="spam", note="ads")
    direct, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=group.workspace, participants=[charlie]
    )
    assistant, _ = services.conversation_create(
        creator=alice, kind="assistant", title="Ask", workspace=group.workspace
    )
    question = post(assistant, "a question")
    artifact = Artifact.objects.filter(part__message__conversation=group).first()
    token = personal_token_create(user=alice, name="alice's token").token
    # Someone to add to `team` (alice owns it), an invitation of it, and one for alice's
    # own use: accepting it, she is in already, so every probe can be sent again.
    settings.SHARED_WORKSPACE = False
    make_user("dave")
    settings.SHARED_WORKSPACE = True
    invitation = services.invitation_create(workspace=group.workspace, actor=alice)
    return {
        "alice": alice,
        "group": group,
        "assistant": assistant,
        "direct": direct,
        "ids": {
            "conversation_id": group.pk,
            "message_id": message.pk,
            "user_id": bob.pk,
            "token_id": token.pk,
            "artifact_id": artifact.pk,
            "slug": group.workspace.slug,
            "invitation_id": invitation.invitation.pk,
        },
        # Routes whose valid call needs other ids: a prompt to resend is one to the assistant.
        "ids_for": {"/api/v1/messages/{message_id}/resend": {"message_id": question.pk}},
        "refresh_token": token_pair_issue(user=alice).refresh.raw,
        "invitation_token": invitation.token,
    }


# --- probing -------------------------------------------------------------------------------


class Prober:
    """Sends requests and keeps every 5xx (or exception) they make, to assert at the end,
    all at once. Each request runs in a savepoint that is rolled back, with the client's
    cookies put back after it (a probe may sign out)."""

    def __init__(self, client: Client):
        self.client = client
        self.failures: list[str] = []
        self.count = 0

    def __call__(
        self, method: str, path: str, label: str = "", *, expect=None, field=None, **kwargs
    ):
        """The response, or None if it raised. `expect`: the status it must have; `field`:
        the field an API error's details must name (the envelope's `details.field`)."""
        self.count += 1
        cookies = copy.deepcopy(self.client.cookies)
        where = f"{method.upper()} {path[:160]} [{label}]"
        try:
            with transaction.atomic():
                response = self.client.generic(method.upper(), path, **kwargs)
                transaction.set_rollback(True)
        except Exception as error:  # the test client re-raises what the view raised
            self.failures.append(f"{where}: {type(error).__name__}: {str(error)[:200]}")
            return None
        finally:
            self.client.cookies = cookies
        if response.status_code >= 500:
            self.failures.append(f"{where}: {response.status_code}")
        elif expect is not None and response.status_code != expect:
            self.failures.append(f"{where}: {response.status_code}, not {expect}")
        elif field is not None:
            error = response.json()["error"]
            if (
                error["code"] not in ("invalid", "bad_request")
                or error["details"].get("field") != field
            ):
                self.failures.append(f"{where}: names {error['details']!r:.100}, not {field!r}")
        return response

    def json(self, method: str, path: str, body, label: str = "", **kwargs):
        data = body if isinstance(body, bytes) else dumps(body)
        return self(method, path, label, data=data, content_type="application/json", **kwargs)

    def form(self, method: str, path: str, data: dict, label: str = "", **kwargs):
        if method.lower() == "get":
            separator = "&" if "?" in path else "?"
            return self("get", path + separator + urlencode(data, doseq=True), label, **kwargs)
        return self(
            "post",
            path,
            label,
            data=urlencode(data, doseq=True),
            content_type="application/x-www-form-urlencoded",
            **kwargs,
        )

    def assert_no_server_errors(self):
        assert not self.failures, f"{len(self.failures)} of {self.count} probes failed:\n" + (
            "\n".join(self.failures)
        )


MULTIPART = "multipart/form-data; boundary=BoUnDaRy"


def _multipart(fields: dict) -> bytes:
    return encode_multipart("BoUnDaRy", fields)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the API, from its OpenAPI schema ------------------------------------------------------

SCHEMA = api.get_openapi_schema()
COMPONENTS = SCHEMA.get("components", {}).get("schemas", {})


def base_bodies(world) -> dict:
    """A valid body for each route that takes JSON, so that each probe changes one field
    of a request that would otherwise succeed."""
    ids = world["ids"]
    return {
        ("post", "/api/v1/auth/register"): {
            "email": "newbie@example.com",
            "username": "newbie",
            "password": "Correct-horse-9",
            "display_name": "New",
        },
        ("post", "/api/v1/auth/token"): {"username": "alice", "password": "Correct-horse-9"},
        ("post", "/api/v1/auth/refresh"): {"refresh_token": world["refresh_token"]},
        ("post", "/api/v1/me/tokens"): {"name": "ci", "expires_in_days": 30},
        ("post", "/api/v1/conversations"): {
            "kind": "group",
            "title": "Launch",
            "participants": ["bob"],
            "workspace": "team",
            "subject": {"type": "task", "id": "T-1"},
            "metadata": {"source": "tests"},
        },
        ("patch", "/api/v1/conversations/{conversation_id}"): {
            "title": "Renamed",
            "status": "active",
            "pinned": True,
        },
        ("post", "/api/v1/conversations/{conversation_id}/read"): {"seq": 1},
        ("post", "/api/v1/conversations/{conversation_id}/participants"): {
            "username": "charlie",
            "role": "member",
        },
        ("post", "/api/v1/conversations/{conversation_id}/messages"): {
            "content": "hello",
            "client_message_id": "client-1",
            "reply_to_id": str(ids["message_id"]),
            "meta": {"model": "m", "extractions": [{"type": "email", "value": "a@b.c"}]},
        },
        ("patch", "/api/v1/messages/{message_id}"): {"content": "edited"},
        ("post", "/api/v1/messages/{message_id}/report"): {"reason": "spam", "note": "ads"},
        ("post", "/api/v1/messages/{message_id}/resend"): {
            "content": "again",
            "client_message_id": "client-2",
        },
        ("post", "/api/v1/conversations/{conversation_id}/reply"): {
            "regenerate": False,
            "message_id": str(ids["message_id"]),
        },
        ("post", "/api/v1/workspaces/{slug}/members"): {"username": "dave", "role": "member"},
        ("patch", "/api/v1/workspaces/{slug}/members/{user_id}"): {"role": "admin"},
        ("post", "/api/v1/workspaces/{slug}/invitations"): {
            "email": "newbie@example.com",
            "role": "member",
            "expires_in_days": 7,
        },
        ("post", "/api/v1/invitations/accept"): {"token": world["invitation_token"]},
    }


def operations():
    for path, methods in SCHEMA["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def resolve(schema: dict) -> dict:
    """The schema itself: $ref followed, and of an anyOf the first option that is not null."""
    while True:
        if "$ref" in schema:
            schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema or "oneOf" in schema:
            options = [
                option
                for option in schema.get("anyOf") or schema["oneOf"]
                if option.get("type") != "null"
            ]
            schema = options[0] if options else {"type": "null"}
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def leaves(schema: dict, path: tuple = ()):
    """(path, kind) for every field a client fills in: string, integer, number, boolean, or
    json for a free-form object."""
    schema = resolve(schema)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            yield from leaves(sub, (*path, name))
        if not properties or schema.get("additionalProperties") not in (None, False):
            yield path, "json"
    elif kind == "array":
        yield from leaves(schema.get("items", {}), (*path, 0))
    elif kind in ("string", "integer", "number", "boolean"):
        yield path, kind
    else:  # anything at all
        yield path, "json"


def with_value(body: dict, path: tuple, value) -> dict:
    """A copy of body with the value at path replaced (containers made as needed)."""
    body = copy.deepcopy(body)
    target = body
    for step, following in itertools.pairwise(path):
        empty = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(target) <= step:
                target.append(copy.deepcopy(empty))
            if not isinstance(target[step], dict | list):
                target[step] = empty
        elif not isinstance(target.get(step), dict | list):
            target[step] = empty
        target = target[step]
    last = path[-1]
    if isinstance(last, int):
        while len(target) <= last:
            target.append(None)
    target[last] = value
    return body


def value_at(body, path: tuple):
    for step in path:
        try:
            body = body[step]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def bad_values(kind: str, current) -> list[tuple]:
    """What to put in a field of this kind instead of a good value, each with where within
    the field the API's 422 must point ("": the field itself; None: no 422 needed)."""
    text = current if isinstance(current, str) else "x"
    if kind == "string":
        return [(text + NUL, ""), (NUL + text, ""), (LONE_SURROGATE + text, "")]
    if kind in ("integer", "number"):
        return [(value, None) for value in [HUGE, -HUGE, 2**63, *BAD_INTEGER_TEXTS[:2], NUL]]
    if kind == "boolean":
        return [(NUL, None), ("²", None)]
    return BAD_JSON_OBJECTS


def named(field: str, within: str) -> str:
    return ".".join(part for part in (field, within) if part)


def whole_bad_bodies(base: dict) -> list[tuple[str, bytes]]:
    """Bodies broken as a whole: not JSON, not UTF-8, too deep, a raw NUL, numbers too long."""
    valid = json.dumps(base).encode()
    return [
        ("not UTF-8", valid[:-1] + b', "x": "\xff\xfe"}' if valid != b"{}" else b'{"x": "\xff"}'),
        ("raw NUL", valid.replace(b'"', b'"\x00', 1)),
        ("deep array", b"[" * 10_000 + b"]" * 10_000),
        ("deep object", nested(10_000).text.encode()),
        ("5000 digits", b'{"x": ' + b"9" * 5000 + b"}"),
        ("JSON null", b"null"),
        ("a JSON string", b'"\\u0000"'),
    ]


def fill(path: str, ids: dict) -> str:
    def replace(match):
        name = match.group(1)
        assert name in ids, f"add an id for path parameter {name!r} ({path})"
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", replace, path)


def query_parameters(operation) -> list[tuple[str, str]]:
    return [
        (parameter["name"], resolve(parameter.get("schema", {})).get("type", "string"))
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


GOOD_QUERY_VALUES = {"format": "json", "group_by": "day", "q": "words", "kind": "group"}


def test_every_api_route_survives_bad_input(world):
    bodies = base_bodies(world)
    probe = Prober(signed_in(world["alice"]))
    walked = 0
    for template, method, operation in operations():
        walked += 1
        path = fill(template, {**world["ids"], **world["ids_for"].get(template, {})})
        content = operation.get("requestBody", {}).get("content", {})

        # Ids of nothing, and a NUL in the id itself.
        if "{" in template:
            bogus = {name: uuid.uuid4() for name in world["ids"]}
            probe(method, fill(template, bogus), "unknown ids")
            probe(method, fill(template, {name: "%00" for name in world["ids"]}), "NUL id")

        # Every query parameter: NUL (422 naming it), Unicode digits (400 naming an integer
        # parameter: not a number at all), huge numbers, bytes that are not UTF-8.
        for name, kind in query_parameters(operation):
            good = GOOD_QUERY_VALUES.get(name, "1" if kind == "integer" else "x")
            for value in [good + "%00", "%00"]:
                probe(method, f"{path}?{name}={value}", f"query {name}", expect=422, field=name)
            for value in BAD_INTEGER_TEXTS[:2]:
                expected = {"expect": 400, "field": name} if kind == "integer" else {}
                probe(method, f"{path}?{name}={quote(value)}", f"query {name}", **expected)
            for value in [*map(quote, BAD_INTEGER_TEXTS[2:]), *BAD_QUERY_BYTES]:
                probe(method, f"{path}?{name}={value}", f"query {name}")

        if "application/json" in content:
            base = bodies.get((method, template))
            assert base is not None, f"add a valid body for {method} {template} to base_bodies"
            valid = probe.json(method, path, base, "the valid body")
            # The probes change one field of a request that gets through (a reply without
            # an endpoint configured stops at its 409, after its checks).
            good = (200, 201, 204, 409) if template.endswith("/reply") else (200, 201, 204)
            assert valid is not None and valid.status_code in good, (
                f"{method} {template}: {valid and valid.content[:300]}"
            )
            schema = content["application/json"]["schema"]
            for field, kind in leaves(schema):
                name = ".".join(map(str, field))
                for value, within in bad_values(kind, value_at(base, field)):
                    label = f"body {name or '(root)'}={value!r:.30}"
                    expected = (
                        {} if within is None else {"expect": 422, "field": named(name, within)}
                    )
                    probe.json(method, path, with_value(base, field, value), label, **expected)
            for label, raw in whole_bad_bodies(base):
                probe.json(method, path, raw, label)
        elif "multipart/form-data" in content:
            for label, data in [
                ("a NUL field", {"file": "x" + NUL}),
                ("a file named with NUL", {"file": SimpleUploadedFile("a\x00.json", b"{}")}),
            ]:
                probe(method, path, label, data=_multipart(data), content_type=MULTIPART)
        elif method in ("get", "delete") or not content:
            probe(method, path, "as is")

    # The live stream's resume point, in the header too.
    for value in BAD_INTEGER_TEXTS:
        probe("get", f"/api/v1/events?last_event_id={quote(value)}", "last_event_id", expect=400)
        probe(
            "get", "/api/v1/events", "Last-Event-ID", headers={"Last-Event-ID": value}, expect=400
        )
    for value in [NUL, "1" + NUL]:
        probe("get", "/api/v1/events", "Last-Event-ID", headers={"Last-Event-ID": value})

    assert walked >= 30
    probe.assert_no_server_errors()


def test_cookies_and_headers_with_nul_are_no_credentials(world):
    """A quoted cookie value may carry any character (`"\\000"` is a NUL) in plain ASCII:
    a session key with one is no session, as an unknown key is, and never reaches the
    database."""
    probe = Prober(Client())
    probe.client.cookies["sessionid"] = "abcdefgh" + NUL + "ijkl"
    probe.client.cookies["csrftoken"] = "x" * 32 + NUL
    for path in ["/", reverse("login"), reverse("admin:index"), "/api/v1/conversations"]:
        probe("get", path, "NUL in the cookies")
    probe("post", reverse("login"), "NUL in the cookies", data={"username": "alice"})
    probe("get", "/api/v1/me", "NUL in the cookies", expect=401)
    probe.client = Client()
    # (Header values arrive decoded as Latin-1: no surrogate can be among them.)
    for token in ["chat_" + NUL, "chat_\xff\xfe", NUL]:
        headers = {"Authorization": f"Bearer {token}"}
        probe("get", "/api/v1/me", "NUL in the bearer token", expect=401, headers=headers)
    probe.assert_no_server_errors()


# --- imports: every field of every format ------------------------------------------------


def strings_with_nul(value, key=None):
    """The document with a NUL in every string (but the format's name) and every object
    twice over, under each key and under the key with a NUL."""
    if isinstance(value, str):
        return value if key == "format" else value + NUL
    if isinstance(value, dict):
        return {name + NUL: strings_with_nul(item, name) for name, item in value.items()} | {
            name: strings_with_nul(item, name) for name, item in value.items()
        }
    if isinstance(value, list):
        return [strings_with_nul(item) for item in value]
    return value


def scalar_paths(value, kind, path=()):
    """The paths of every value of this type (bools are not integers here)."""
    if isinstance(value, kind) and not isinstance(value, bool):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from scalar_paths(item, kind, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from scalar_paths(item, kind, (*path, index))


CHATGPT_FIXTURES = ["tools", "multimodal", "branched", "sparse"]


def test_every_import_format_survives_bad_fields(world):
    probe = Prober(signed_in(world["alice"]))
    response = probe("get", f"/api/v1/conversations/{world['group'].pk}/export", "export")
    ours = json.loads(b"".join(response.streaming_content))
    documents = {
        "chatapp": ours,
        **{f"chatgpt {name}": fixture_json(f"{name}.json") for name in CHATGPT_FIXTURES},
    }

    def send(document, label, **expected):
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        data = _multipart({"file": SimpleUploadedFile("export.json", raw)})
        return probe(
            "post", "/api/v1/imports", label, data=data, content_type=MULTIPART, **expected
        )

    for name, document in documents.items():
        send(document, f"{name} as it is", expect=201)  # so the probes reach every field
        # The readers drop NUL characters from every string and key (docs/import-export.md);
        # a string of a type (an id, a time, a role) is invalid with one (422).
        send(strings_with_nul(document), f"{name}: NUL in every string and key")
        for path in scalar_paths(document, str):
            text = value_at(document, path)
            send(with_value(document, path, text + NUL), f"{name}: {path} with NUL")
        for path in scalar_paths(document, int):
            for value in (HUGE, -HUGE, "²"):
                send(with_value(document, path, value), f"{name}: {path}={value!r:.12}")
        send(json.dumps(document).encode().replace(b'"', b'"\\ud800', 1), f"{name}: surrogate")
    probe.assert_no_server_errors()


# --- the HTML pages and forms ------------------------------------------------------------


class FormsOf(HTMLParser):
    """The forms of a page: [{"action", "method", "fields": {name: [values]}, "names"}]."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action") or "",
                    "method": (attrs.get("method") or "get").lower(),
                    "fields": {},
                    "numeric": set(),
                }
            )
            return
        if not self.forms or not attrs.get("name"):
            return
        form, name = self.forms[-1], attrs["name"]
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                if kind == "submit" and attrs.get("value") is not None:
                    form["fields"].setdefault(name, [attrs["value"]])
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                form["fields"].setdefault(name, [])
                return
            if kind == "number":
                form["numeric"].add(name)
            form["fields"].setdefault(name, []).append(attrs.get("value") or "")
        elif tag == "button" and attrs.get("value") is not None:
            form["fields"].setdefault(name, [attrs["value"]])
        elif tag == "textarea":
            self._textarea = name
            form["fields"].setdefault(name, [""])
        elif tag == "select":
            self._select = name
            form["fields"].setdefault(name, [])
        elif tag == "option" and self._select:
            values = form["fields"][self._select]
            if "selected" in attrs or not values:
                values[:] = [attrs.get("value", "")]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms and data.strip():
            self.forms[-1]["fields"][self._textarea] = [data]


def forms_of(response) -> list[dict]:
    parser = FormsOf()
    parser.feed(response.content.decode())
    return parser.forms


def walk_forms(probe: Prober, page: str, *, skip_fields=("csrfmiddlewaretoken",)) -> int:
    """Send each form of the page once per field, that field broken; returns the number of
    forms found."""
    response = probe("get", page, "the page")
    if response is None or response.status_code != 200:
        return 0
    forms = forms_of(response)
    for form in forms:
        action = form["action"] or page
        if not action.startswith("/"):
            continue  # another site, or a javascript: link
        good = {name: values for name, values in form["fields"].items() if values}
        for name in form["fields"]:
            if name in skip_fields:
                continue
            current = (good.get(name) or ["x"])[0]
            for value in [current + NUL, NUL]:
                data = {**good, name: [value]}
                probe.form(form["method"], action, data, f"form field {name}", expect=400)
            if name in form["numeric"] or re.fullmatch(r"\d+", current or "-"):
                for value in BAD_INTEGER_TEXTS:
                    data = {**good, name: [value]}
                    probe.form(form["method"], action, data, f"form field {name}")
    return len(forms)


def page_queries(probe: Prober, page: str, names) -> None:
    """Each query parameter of a page: NUL (400), Unicode digits, huge numbers, not UTF-8."""
    separator = "&" if "?" in page else "?"
    for name in names:
        for value in ["x%00", "%00"]:
            probe("get", f"{page}{separator}{name}={value}", f"query {name}", expect=400)
        for value in [*map(quote, BAD_INTEGER_TEXTS), *BAD_QUERY_BYTES]:
            probe("get", f"{page}{separator}{name}={value}", f"query {name}")


def test_every_page_and_form_survives_bad_input(world, make_user):
    alice, group = world["alice"], world["group"]
    message = world["ids"]["message_id"]
    probe = Prober(signed_in(alice))
    thread = reverse("conversations:thread", args=[group.pk])
    pages = {
        reverse("conversations:home"): ["section", "filter", "cursor"],
        reverse("conversations:home") + "?section=trash": ["cursor"],
        reverse("conversations:sidebar"): ["current", "section", "filter", "cursor"],
        reverse("conversations:search"): ["q"],
        reverse("conversations:new_chat"): ["agent", "workspace", "title"],
        thread: ["before", "filter", "cursor"],
        reverse("conversations:rows", args=[group.pk]): ["before", "after"],
        reverse("conversations:thread", args=[world["assistant"].pk]): ["before"],
        reverse("conversations:report", args=[message]): [],
        reverse("conversations:message_history", args=[message]): ["cursor", "filter"],
        reverse("settings"): [],
        reverse("conversations:workspaces"): [],
        reverse("conversations:workspace", args=[group.workspace.slug]): ["q", "cursor"],
        reverse("conversations:invitation", args=[world["invitation_token"]]): [],
    }
    found = 0
    for page, names in pages.items():
        found += walk_forms(probe, page)
        page_queries(probe, page, names)
    assert found >= 8, "the pages have lost their forms"

    # The posts no page shows a form for, and the values a browser would never send.
    posts = {
        reverse("conversations:act", args=[group.pk]): [
            {"action": NUL},
            {"action": "rename", "title": "x" + NUL},
        ],
        reverse("settings"): [{"revoke": NUL}, {"revoke": "x" + NUL}, {"token_name": NUL}],
        reverse("set_theme"): [{"theme": NUL}, {"theme": "dark", "next": "/" + NUL}],
        reverse("conversations:workspace", args=[group.workspace.slug]): [
            {"action": NUL},
            {"action": "remove", "id": NUL},
            {"action": "role", "user": str(alice.pk), "role": "admin" + NUL},
        ],
    }
    for url, variants in posts.items():
        for data in variants:
            probe.form("post", url, data, "a hand-made post", expect=400)
    for data in [{"revoke": "not-an-id"}, {"expires_in_days": "²", "token_name": "t"}]:
        probe.form("post", reverse("settings"), data, "a hand-made post")
    team_page = reverse("conversations:workspace", args=[group.workspace.slug])
    for data in [
        {"action": "remove", "id": "not-an-id"},
        {"action": "revoke", "id": str(HUGE)},
        {"action": "invite", "email": "", "role": "member", "expires_in_days": "²"},
        {"action": "invite", "email": "", "role": "member", "expires_in_days": str(HUGE)},
    ]:
        probe.form("post", team_page, data, "a hand-made post")
    for path in ["/w/%FF/", "/invite/%FF", "/invite/inv_%00"]:
        probe("get", path, "a bad slug or token")
    # Bytes that are not UTF-8, in a form's body and in paths.
    for raw in [b"kind=group&title=\xff\xfe", b"kind=group&title=%ED%A0%80"]:
        form = "application/x-www-form-urlencoded"
        probe("post", reverse("conversations:create"), "not UTF-8", data=raw, content_type=form)
    for path in ["/%FF%FE", "/c/%FF/", "/api/v1/conversations/%FF", "/admin/%FF/"]:
        probe("get", path, "a path that is not UTF-8")

    # Signed out: sign-in and registration (their forms, from their pages).
    anonymous = Prober(Client())
    assert walk_forms(anonymous, reverse("login")) >= 1
    assert walk_forms(anonymous, reverse("register")) >= 1
    page_queries(anonymous, reverse("login"), ["next"])
    assert walk_forms(anonymous, reverse("admin:login")) >= 1

    probe.failures += anonymous.failures
    probe.count += anonymous.count
    probe.assert_no_server_errors()


def test_every_admin_page_survives_bad_input(world, make_user):
    boss = make_user("boss", is_staff=True, is_superuser=True)
    probe = Prober(signed_in(boss))
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        # The search box, the page number, the ordering, and every filter link's parameter.
        page_queries(probe, changelist, ["q", "p", "o"])
        response = probe("get", changelist, "changelist")
        if response is None or response.status_code != 200:
            continue
        names = set(re.findall(r'href="\?([^"=&]+)=', response.content.decode()))
        page_queries(probe, changelist, sorted(names - {"q", "p", "o"}))

        # Every action: with selections that are not ids, and with a real one and a reason
        # that holds a NUL.
        obj = model._default_manager.order_by("pk").first()
        request = RequestFactory().get(changelist)
        request.user = boss
        for action in model_admin.get_actions(request):
            for selected in [["not-an-id"], ["²"], [str(HUGE)], [""]]:
                data = {"action": action, "_selected_action": selected}
                probe.form("post", changelist, data, f"action {action} of {selected}")
            for data in [
                {"action": action, "_selected_action": [NUL]},
                {"action": NUL, "_selected_action": [str(obj.pk) if obj else "1"]},
                {
                    "action": action,
                    "_selected_action": [str(obj.pk) if obj else "1"],
                    "confirm": "yes",
                    "reason": "because" + NUL,
                },
            ]:
                probe.form("post", changelist, data, f"action {action} with NUL", expect=400)
        if obj is None:
            continue
        # Its page and its form (an editable admin), and each of its moderation acts.
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        walk_forms(probe, change, skip_fields=("csrfmiddlewaretoken", "password"))
        probe("get", change.replace(str(obj.pk), "%00"), "NUL id")
        for act in getattr(model_admin, "object_acts", {}):
            url = model_admin.act_url(obj, act)
            data = {"confirm": "yes", "reason": "x" + NUL}
            probe.form("post", url, data, f"act {act}", expect=400)
            probe("get", url.replace(str(obj.pk), "%00"), f"act {act}, NUL id")
    probe.assert_no_server_errors()
