"""`manage.py seed_demo`: a demo user and conversations that show every kind of content.

Three people (demo, ada, grace, all with the password from DEMO_PASSWORD) and four
conversations: plain text and markdown with code, an assistant turn that calls tools and
produces files, an assistant turn that failed upstream, and a group conversation in a
shared team workspace. Everything goes through the services, in one transaction.

Running it again creates nothing new: people are found by username, the team workspace by
its slug, and each seeded conversation by its subject (`subject_type="seed_demo"`, a
stable key as `subject_id`); whatever exists is left as it is.
"""

import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from chatapp.accounts.services import user_create
from conversations import services
from conversations.models import (
    Agent,
    ArtifactKind,
    Conversation,
    ConversationKind,
    Membership,
    Message,
    MessageErrorType,
    MessageStatus,
    PartType,
    Workspace,
    WorkspaceRole,
)

User = get_user_model()

SUBJECT_TYPE = "seed_demo"
# A demo install only; DEMO_PASSWORD overrides it.
DEFAULT_PASSWORD = "demo-password-1"  # noqa: S105
TEAM_SLUG = "demo-team"
AGENT_SLUG = "demo"
# The model named on the seeded (made-up) assistant turns: they were written by no model.
SEEDED_TURNS_MODEL = "demo-model"

PEOPLE = [
    # (username, display name)
    ("demo", "Demo User"),
    ("ada", "Ada Lovelace"),
    ("grace", "Grace Hopper"),
]

# --- the content --------------------------------------------------------------------------

MARKDOWN_ANSWER = """\
Happy to help. Here is what I can do in this workspace:

- answer questions and explain code,
- **read and change files** with tools, showing each call and its result,
- keep track of the tokens each answer costs.

Reversing a list in Python, for example:

```python
numbers = [1, 2, 3]
numbers.reverse()          # in place
backwards = numbers[::-1]  # a reversed copy
```

Ask me anything.
"""

PAGINATION_BEFORE = """\
def paginate(items, page, per_page=10):
    start = page * per_page
    return items[start : start + per_page + 1]
"""

# The file as the assistant left it: an artifact of kind "file".
PAGINATION_AFTER = '''\
"""Slicing a list into pages, counted from 1."""


def paginate(items: list, page: int, per_page: int = 10) -> list:
    """The items of `page` (1, 2, 3 ...), at most `per_page` of them."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    start = (page - 1) * per_page
    return items[start : start + per_page]
'''

# The same change as a unified diff: an artifact of kind "file_diff".
PAGINATION_DIFF = '''\
--- a/app/pagination.py
+++ b/app/pagination.py
@@ -1,3 +1,9 @@
-def paginate(items, page, per_page=10):
-    start = page * per_page
-    return items[start : start + per_page + 1]
+"""Slicing a list into pages, counted from 1."""
+
+
+def paginate(items: list, page: int, per_page: int = 10) -> list:
+    """The items of `page` (1, 2, 3 ...), at most `per_page` of them."""
+    if page < 1 or per_page < 1:
+        raise ValueError("page and per_page start at 1")
+    start = (page - 1) * per_page
+    return items[start : start + per_page]
'''

TOOL_ANSWER = """\
Fixed. `paginate()` had two bugs:

1. pages were counted from 0 while the callers count from 1, and
2. the slice took `per_page + 1` items, so each page repeated the first item of the next.

The diff and the new `app/pagination.py` are attached; the tests pass (`12 passed`).
"""

PARTIAL_ANSWER = "Sure. A haiku about PostgreSQL:\n\nRows wait in the heap,\n"

FAILED_UPSTREAM = "The model endpoint answered 502 Bad Gateway in the middle of the answer."


class Command(BaseCommand):
    help = "Create a demo user and conversations that show every kind of content (idempotent)."

    def handle(self, *args, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        seeder = DemoSeeder(password=password)
        with transaction.atomic():
            seeder.run()

        if seeder.created:
            self.stdout.write(self.style.SUCCESS(f"Created {len(seeder.created)} things:"))
            for line in seeder.created:
                self.stdout.write(f"  + {line}")
        else:
            self.stdout.write(self.style.SUCCESS("Everything already existed; nothing created."))
        for line in seeder.existing:
            self.stdout.write(f"  = {line} (already there)")

        self.stdout.write("")
        self.stdout.write(
            "Sign in at /accounts/login/ (e.g. http://localhost:8000/accounts/login/):"
        )
        for username, _ in PEOPLE:
            self.stdout.write(f"  username {username!r}")
        if not seeder.reused_users:
            self.stdout.write(f"  password {password!r}")
        elif len(seeder.reused_users) == len(PEOPLE):
            self.stdout.write(
                "  password: the one they were created with (DEMO_PASSWORD, by default "
                f"{DEFAULT_PASSWORD!r}); this run changed no password."
            )
        else:
            self.stdout.write(
                f"  password {password!r}, except for {', '.join(seeder.reused_users)}: "
                "they existed already and kept their own."
            )


class DemoSeeder:
    """Builds the demo state through the services, noting what it created and what it found."""

    def __init__(self, *, password: str):
        self.password = password
        self.created: list[str] = []
        self.existing: list[str] = []
        self.reused_users: list[str] = []

    def run(self) -> None:
        demo, ada, grace = (self.user(username, name) for username, name in PEOPLE)
        personal = demo.default_workspace
        agent = self.agent(personal)
        team = self.team_workspace(owner=demo, members=[ada, grace])

        self.welcome(demo, personal, agent)
        self.tool_use(demo, personal, agent)
        self.upstream_error(demo, personal, agent)
        self.team_release(demo, ada, grace, team)

    # --- people, places and the assistant ---------------------------------------------------

    def user(self, username: str, display_name: str):
        user = User.objects.filter(username=username).first()
        if user is not None:
            self.existing.append(f"user {username}")
            self.reused_users.append(username)
            return user
        user = user_create(
            username=username,
            email=f"{username}@example.com",
            password=self.password,
            display_name=display_name,
        )
        self.created.append(f"user {username} with the personal workspace {user.default_workspace}")
        return user

    def agent(self, workspace: Workspace) -> Agent:
        """The demo assistant, on the server's default endpoint: its base URL and model are
        left empty, which means OPENAI_BASE_URL and OPENAI_MODEL as they are when a reply
        starts (generation.resolve_endpoint), and max_tokens ASSISTANT_MAX_TOKENS. A copy
        of the settings taken here (or "demo-model" when none was set) would never see a
        model configured later. An agent an earlier seed_demo left on that placeholder is
        put back on the default (its base URL too, if it is a copy of today's setting); one
        staff set to a real model is left as it is."""
        # Agents are managed by staff, not by users: there is no service to make one.
        agent, created = Agent.objects.get_or_create(
            workspace=workspace,
            slug=AGENT_SLUG,
            defaults={
                "name": "Demo assistant",
                "description": "The assistant of the demo conversations, on the server's "
                "default model (OPENAI_BASE_URL, OPENAI_MODEL).",
            },
        )
        if created:
            self.created.append(f"agent {agent.name!r} in {workspace}")
        elif agent.model == SEEDED_TURNS_MODEL:
            agent.model = ""
            if agent.base_url == settings.OPENAI_BASE_URL:  # a copy: the same as empty, today
                agent.base_url = ""
            agent.save(update_fields=["model", "base_url", "updated_at"])
            self.created.append(f"agent {agent.name!r} in {workspace} moved to the default model")
        else:
            self.existing.append(f"agent {agent.name!r} in {workspace}")
        return agent

    def team_workspace(self, *, owner, members: list) -> Workspace:
        workspace = Workspace.objects.filter(slug=TEAM_SLUG).first()
        if workspace is None:
            workspace = services.workspace_create(name="Demo team", slug=TEAM_SLUG, owner=owner)
            self.created.append(f"workspace {workspace.name!r} ({TEAM_SLUG}) owned by {owner}")
        else:
            self.existing.append(f"workspace {TEAM_SLUG}")
        wanted = [(owner, WorkspaceRole.OWNER)] + [(m, WorkspaceRole.MEMBER) for m in members]
        for user, role in wanted:
            # Only add who is missing: membership_add would also change an existing role.
            if not Membership.objects.filter(workspace=workspace, user=user).exists():
                services.membership_add(workspace=workspace, user=user, role=role)
                self.created.append(f"membership of {user} in {TEAM_SLUG} ({role})")
        return workspace

    def conversation(self, key: str, **fields) -> Conversation | None:
        """A new seeded conversation, or None when the one with this key exists already."""
        existing = Conversation.objects.filter(subject_type=SUBJECT_TYPE, subject_id=key).first()
        if existing is not None:
            self.existing.append(f"conversation {existing.title!r}")
            return None
        conversation, _ = services.conversation_create(
            subject_type=SUBJECT_TYPE, subject_id=key, **fields
        )
        return conversation

    def note(self, conversation: Conversation, what: str) -> None:
        conversation.refresh_from_db(fields=["message_count"])
        self.created.append(
            f"conversation {conversation.title!r}: {what} ({conversation.message_count} messages)"
        )

    # --- the conversations -----------------------------------------------------------------

    def welcome(self, demo, workspace: Workspace, agent: Agent) -> None:
        """Plain text from a person, markdown with a fenced code block back, usage recorded."""
        conversation = self.conversation(
            "welcome",
            creator=demo,
            kind=ConversationKind.ASSISTANT,
            title="Welcome to chatapp",
            workspace=workspace,
            agent=agent,
        )
        if conversation is None:
            return
        question = self.post(
            conversation, demo, "Hi! What can you do? And how do I reverse a list?"
        )
        answer = services.assistant_message_start(
            conversation=conversation, agent=agent, model=SEEDED_TURNS_MODEL, reply_to=question
        )
        services.message_part_add(
            message=answer, type=PartType.TEXT, content={"text": MARKDOWN_ANSWER}
        )
        services.assistant_message_finish(
            message=answer, content=MARKDOWN_ANSWER, latency_ms=1840, ttft_ms=310
        )
        services.message_record_usage(
            message=answer,
            usage=services.Usage(prompt_tokens=412, completion_tokens=118, cached_input_tokens=256),
        )
        self.post(conversation, demo, "Thanks, that is all I needed.")
        self.note(conversation, "plain text, markdown with code, token usage")

    def tool_use(self, demo, workspace: Workspace, agent: Agent) -> None:
        """An assistant turn that reasons, calls tools, reads their results and leaves files."""
        conversation = self.conversation(
            "tool-use",
            creator=demo,
            kind=ConversationKind.ASSISTANT,
            title="Fix the off-by-one in paginate()",
            workspace=workspace,
            agent=agent,
        )
        if conversation is None:
            return
        question = self.post(
            conversation,
            demo,
            "Page 2 of the project list repeats the last project of page 1. "
            "Can you fix app/pagination.py?",
        )
        answer = services.assistant_message_start(
            conversation=conversation, agent=agent, model=SEEDED_TURNS_MODEL, reply_to=question
        )
        started = timezone.now()

        def tool(step: int, name: str, call_id: str, arguments: dict, output: str, ms: int):
            nonlocal started
            services.message_part_add(
                message=answer,
                type=PartType.TOOL_CALL,
                step_index=step,
                tool_name=name,
                tool_call_id=call_id,
                content={"arguments": arguments},
                started_at=started,
            )
            finished = started + timedelta(milliseconds=ms)
            services.message_part_add(
                message=answer,
                type=PartType.TOOL_RESULT,
                step_index=step,
                tool_name=name,
                tool_call_id=call_id,
                content={"output": output, "is_error": False},
                started_at=started,
                completed_at=finished,
                tool_duration_ms=ms,
            )
            started = finished

        services.message_part_add(
            message=answer,
            type=PartType.REASONING,
            content={"text": "Read the function first, then run its tests before changing it."},
        )
        tool(0, "read_file", "call_read_1", {"path": "app/pagination.py"}, PAGINATION_BEFORE, 12)
        tool(
            1,
            "run_tests",
            "call_tests_1",
            {"path": "tests/test_pagination.py"},
            "2 failed, 10 passed in 0.84s",
            840,
        )
        tool(
            2,
            "write_file",
            "call_write_1",
            {"path": "app/pagination.py", "content": PAGINATION_AFTER},
            f"wrote {len(PAGINATION_AFTER.encode())} bytes",
            5,
        )
        tool(3, "run_tests", "call_tests_2", {"path": "tests/"}, "12 passed in 0.91s", 910)

        diff_part = services.message_part_add(
            message=answer,
            type=PartType.FILE,
            step_index=4,
            content={"path": "app/pagination.py", "description": "The change, as a diff."},
        )
        services.artifact_create(
            part=diff_part,
            kind=ArtifactKind.FILE_DIFF,
            data=PAGINATION_DIFF.encode(),
            path="app/pagination.py",
            mime="text/x-diff",
        )
        file_part = services.message_part_add(
            message=answer,
            type=PartType.FILE,
            step_index=4,
            content={"path": "app/pagination.py", "description": "The file after the change."},
        )
        services.artifact_create(
            part=file_part,
            kind=ArtifactKind.FILE,
            data=PAGINATION_AFTER.encode(),
            path="app/pagination.py",
            mime="text/x-python",
        )
        services.message_part_add(
            message=answer, type=PartType.TEXT, step_index=4, content={"text": TOOL_ANSWER}
        )
        services.assistant_message_finish(
            message=answer, content=TOOL_ANSWER, latency_ms=9650, ttft_ms=420
        )
        services.message_record_usage(
            message=answer,
            usage=services.Usage(
                prompt_tokens=5210,
                completion_tokens=964,
                cached_input_tokens=3072,
                reasoning_tokens=128,
            ),
        )
        self.note(conversation, "reasoning, 4 tool calls and results, a diff and a file")

    def upstream_error(self, demo, workspace: Workspace, agent: Agent) -> None:
        """An answer cut short by the upstream: its partial text, status error, the reason."""
        conversation = self.conversation(
            "upstream-error",
            creator=demo,
            kind=ConversationKind.ASSISTANT,
            title="A reply that failed upstream",
            workspace=workspace,
            agent=agent,
        )
        if conversation is None:
            return
        question = self.post(conversation, demo, "Write a haiku about PostgreSQL.")
        answer = services.assistant_message_start(
            conversation=conversation, agent=agent, model=SEEDED_TURNS_MODEL, reply_to=question
        )
        services.message_part_add(
            message=answer, type=PartType.TEXT, content={"text": PARTIAL_ANSWER}
        )
        services.message_part_add(
            message=answer,
            type=PartType.ERROR,
            content={"code": MessageErrorType.UPSTREAM_ERROR, "message": FAILED_UPSTREAM},
        )
        services.assistant_message_finish(
            message=answer,
            content=PARTIAL_ANSWER,
            status=MessageStatus.ERROR,
            error=FAILED_UPSTREAM,
            error_type=MessageErrorType.UPSTREAM_ERROR,
            error_details={"status_code": 502, "tokens_received": 14},
            latency_ms=2310,
            ttft_ms=380,
        )
        self.note(conversation, "an assistant turn that ended in an upstream error")

    def team_release(self, demo, ada, grace, team: Workspace) -> None:
        """Three people in a group conversation of the shared team workspace."""
        conversation = self.conversation(
            "team-release",
            creator=demo,
            kind=ConversationKind.GROUP,
            title="Release 1.0 planning",
            workspace=team,
            participants=[ada, grace],
        )
        if conversation is None:
            return
        kickoff = self.post(
            conversation, demo, "Release 1.0 is on Friday. What is left before we tag it?"
        )
        self.post(
            conversation,
            ada,
            "From my side:\n\n- [x] migrations squashed\n- [ ] changelog\n"
            "- [ ] the upgrade note for **PostgreSQL 15**",
            reply_to=kickoff,
        )
        self.post(
            conversation,
            grace,
            "The load test passes. I ran it with:\n\n"
            "```sh\nbench/post_message.py --iterations 2000\n```\n\n"
            "Numbers are in `docs/benchmarks.md`.",
        )
        self.post(conversation, demo, "Great, I will write the changelog tonight.")
        self.note(conversation, f"group in {TEAM_SLUG} with ada and grace")

    def post(self, conversation: Conversation, sender, content: str, **extra) -> Message:
        message, _ = services.message_post(
            conversation=conversation, sender=sender, content=content, **extra
        )
        return message
