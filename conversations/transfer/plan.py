"""What an import will create, format-neutral: a ConversationPlan per conversation found in
the file, with its MessagePlans and their PartPlans. The format readers (chatgpt.py,
chatapp.py) build plans and check them completely, so that the import service can validate
a whole file first and write nothing if any of it is wrong."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conversations.exceptions import InvalidInput

# How deep any JSON in an import may nest: more is refused before it is parsed (sources.py).
MAX_JSON_DEPTH = 64
# PositiveIntegerField's range on every database.
MAX_INT = 2_147_483_647
# How many turns deep a conversation's tree may be (a position), and how many [line, first
# position] pairs all its lines' ancestries may hold together: a ChatGPT tree is read whole
# and its lines' ancestries are made here, and a tree shaped as a comb (a fork at every
# turn) would otherwise make a number of pairs quadratic in its size.
MAX_TREE_DEPTH = 100_000
MAX_ANCESTRY_PAIRS = 250_000


@dataclass
class ArtifactPlan:
    kind: str
    path: str = ""
    mime: str = ""
    size: int = 0
    sha256: str = ""


@dataclass
class PartPlan:
    type: str
    content: dict
    step_index: int = 0
    tool_name: str = ""
    tool_call_id: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    tool_duration_ms: int | None = None
    artifact: ArtifactPlan | None = None


@dataclass
class RevisionPlan:
    """An earlier text of a message: MessageRevision `number`, replaced at `created_at`."""

    number: int
    content: str
    created_at: datetime | None


@dataclass
class LinePlan:
    """A line of the conversation's tree, as models.Line: a new version of the turn at
    `fork_position` on the path of `parent_line`, with its whole path as `ancestry`."""

    number: int
    parent_line: int
    fork_position: int
    ancestry: list[list[int]]


@dataclass
class MessagePlan:
    role: str
    created_at: datetime | None
    content: str = ""
    status: str = "complete"
    # ChatGPT: the importer wrote it. Our format: the exported sender ({id, username,
    # display_name}); the service makes the importer the sender when the id is theirs.
    sent_by_importer: bool = False
    original_sender: dict | None = None
    agent_slug: str = ""
    provider: str = ""
    model: str = ""
    completed_at: datetime | None = None
    edited_at: datetime | None = None
    latency_ms: int | None = None
    ttft_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    error: str = ""
    error_type: str = ""
    error_details: dict = field(default_factory=dict)
    is_aborted: bool = False
    meta: dict = field(default_factory=dict)
    is_deleted: bool = False
    is_hidden: bool = False
    parts: list[PartPlan] = field(default_factory=list)
    # The seq in the source (our format; ChatGPT: its place in the order the plan is
    # written in), to resolve reply_to_seq and the parent.
    source_seq: int | None = None
    reply_to_source_seq: int | None = None
    # Its place in the tree, when the conversation has one (ConversationPlan.lines is not
    # None): its turn, the line it was written on, the source seq of the message before it
    # on its path (None for the first turn) and which version of its turn it is. Checked by
    # the format reader: the service writes them as they are.
    position: int | None = None
    line: int = 0
    parent_source_seq: int | None = None
    version: int = 1
    revisions: list[RevisionPlan] = field(default_factory=list)


@dataclass
class ConversationPlan:
    format: str  # "chatapp" | "chatgpt"
    # Where it came from: remembered on the conversation as subject_type/subject_id, so that
    # importing it again finds it.
    source_id: str
    kind: str
    title: str
    created_at: datetime | None
    # A list, or an object that reads the messages again from the file each time it is
    # iterated (our format streams them: a conversation may be bigger than memory allows).
    messages: Iterable[MessagePlan]
    status: str = "active"
    agent_slug: str = ""
    metadata: dict = field(default_factory=dict)
    # The tree of versions: None for a linear conversation (version 1 of our format: each
    # message follows the one before, on line 0), else its lines (numbers 1, 2, 3 …) with
    # each message's place given by its MessagePlan; and the line the importer is shown.
    lines: list[LinePlan] | None = None
    shown_line: int = 0

    @property
    def subject_type(self) -> str:
        return f"import:{self.format}"


# --- checks shared by the format readers ---------------------------------------------------


def invalid(location: str, message: str) -> InvalidInput:
    """A 422 naming the file as the field and where in it the problem is."""
    error = InvalidInput("file", f"{location}: {message}")
    error.details["location"] = location
    return error


def clean_text(value: str) -> str:
    """PostgreSQL stores no NUL character, in text or in JSON."""
    return value.replace("\x00", "") if "\x00" in value else value


def clean_json(value: Any, *, location: str, depth: int = 0) -> Any:
    """JSON from the file, without NUL characters (in keys too), at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise invalid(location, f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {
            clean_text(str(key)): clean_json(item, location=location, depth=depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_json(item, location=location, depth=depth + 1) for item in value]
    return value


def timestamp(value: Any, *, location: str) -> datetime | None:
    """A Unix time in seconds (ChatGPT's create_time) as an aware datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(location, "must be a Unix time in seconds or null.")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(location, "is not a time that can be stored.") from None


def fork_ancestry(parent_ancestry: list[list[int]], *, position: int, number: int) -> list:
    """The ancestry of line `number`, a new version of the turn at `position` on the path
    whose ancestry is `parent_ancestry`: that path before the turn, then the new line
    (selectors.paths.Path.forked_at, on plain lists)."""
    kept = [[line, start] for line, start in parent_ancestry if start < position]
    return [*kept, [number, position]]


def line_at(ancestry: list[list[int]], position: int) -> int:
    """The line that a path with this ancestry reads `position` on (Path.line_at)."""
    owner = ancestry[0][0]
    for line, start in ancestry:
        if start > position:
            break
        owner = line
    return owner


MAIN_ANCESTRY = [[0, 1]]


def aware(value: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
