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
    # The seq in the source (our format), to resolve reply_to_seq.
    source_seq: int | None = None
    reply_to_source_seq: int | None = None


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


def aware(value: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
