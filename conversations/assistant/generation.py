"""One assistant turn, from the request to the saved message.

`prepare_reply` (sync, one transaction per service) checks the caller, resolves the agent's
endpoint, builds the context and appends the empty turn. `generate` (async, a task of the
server's event loop, owned by no request) streams from the upstream, hands each delta to
the reply streams of this process, saves the text every STREAM_SAVE_INTERVAL_MS (one UPDATE
that doubles as heartbeat and abort check), and at the end saves the parts, the usage and
the outcome — complete, or error with its type and whatever text had arrived.

A generation always ends: whatever fails (the upstream, a save, a bug of ours), the turn is
closed as error with the text so far, its reply streams get their last event, and the
conversation takes a new reply at once. Upstream text is made storable as it arrives (no NUL,
no lone surrogate: services.messages.storable_text), so what is streamed is what is saved.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext

from chatapp.concurrency import in_worker_thread
from conversations import selectors, services
from conversations.assistant.context import build_messages
from conversations.assistant.provider import (
    ChatRequest,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    Timeouts,
    ToolCallAssembler,
    ToolCallDelta,
    UsageReport,
    stream_chat,
)
from conversations.exceptions import Conflict, NotFound
from conversations.live.broker import broker
from conversations.models import (
    FINISH_REASON_MAX_LENGTH,
    Agent,
    Conversation,
    Message,
    MessageErrorType,
    MessageRole,
    MessageStatus,
    PartType,
)
from conversations.selectors.paths import Path, line_path
from conversations.selectors.threads import as_uuid
from conversations.services.conversations import lock_participation
from conversations.services.events import event_signal, message_summary
from conversations.services.messages import storable_text

logger = logging.getLogger(__name__)

# How many of the newest turns are read to build the context (the budget trims further).
HISTORY_LIMIT = 500
# MessagePart.tool_name and tool_call_id.
TOOL_FIELD_MAX_LENGTH = 200

# Running generations of this process, so that none is garbage-collected mid-stream.
RUNNING: set[asyncio.Task] = set()

# One HTTP client per event loop, shared by the generations: making one costs tens of
# milliseconds (its TLS context), and a shared one keeps connections to the upstream alive.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


def upstream_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32)
        )
        _clients[loop] = client
    return client


class EndpointNotConfigured(Conflict):
    """Neither the agent nor the settings name a model server (or a model)."""


def resolve_endpoint(agent: Agent) -> tuple[str, str, str]:
    """(base_url, model, api_key) of an agent, its empty fields taken from the settings.
    EndpointNotConfigured, saying how to fix it, when nothing is configured."""
    base_url = agent.base_url or settings.OPENAI_BASE_URL
    model = agent.model or settings.OPENAI_MODEL
    if not base_url or not model:
        raise EndpointNotConfigured(
            "No model is configured for the assistant. Set OPENAI_BASE_URL and OPENAI_MODEL "
            "(and OPENAI_API_KEY if the server needs one) and restart, or give this agent a "
            "base URL and a model in the admin; then retry.",
            details={"agent_id": str(agent.pk)},
        )
    if agent.api_key_env_var:
        api_key = os.environ.get(agent.api_key_env_var, "")
    else:
        api_key = settings.OPENAI_API_KEY
    return base_url.rstrip("/"), model, api_key


@dataclass
class PreparedReply:
    """The turn, appended (or a new version of one), and what to ask upstream. With no
    endpoint configured there is nothing to ask: `request` is None and the turn is already
    saved as error (not_configured), so that the reason stays in the thread, with a Retry.
    `replayed`: a regenerate sent again with its client_message_id found the version it
    made (`message`), and nothing is asked (it is finished, or being written already)."""

    message: Message
    request: ChatRequest | None
    summary: dict[str, Any]
    replayed: bool = False

    @property
    def failed(self) -> bool:
        return self.request is None


def _history(conversation: Conversation, path: Path, last: int) -> list[Message]:
    """The path's messages up to position `last`, at most HISTORY_LIMIT of them: a bounded
    range of positions (they have no gap), read off the (conversation, line, position)
    index whatever the planner's statistics say."""
    first = max(last - HISTORY_LIMIT + 1, 1)
    return list(
        Message.objects.filter(path.q(first, last), conversation=conversation)
        .prefetch_related("parts")
        .order_by("position")
    )


def _regeneration_key(user: AbstractBaseUser, key: str | None) -> str | None:
    """What a regenerate's client_message_id is kept as on the version it makes: a reply has
    no sender for the (conversation, sender, client_message_id) constraint to scope it, so
    the requester's id goes into it (hashed, to keep within the column)."""
    if key is None:
        return None
    digest = hashlib.sha256(f"{user.pk}:{key}".encode()).hexdigest()[:40]
    return f"regenerate:{digest}"


def _check_quiet(history: list[Message]) -> None:
    if any(message.status in services.messages.GENERATING for message in history[-5:]):
        raise Conflict(gettext("A reply is already being written in this conversation."))


@transaction.atomic
def prepare_reply(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    regenerate: bool = False,
    message_id: Any = None,
    client_message_id: str | None = None,
) -> PreparedReply:
    """Everything a reply needs before the first byte goes upstream. The assistant answers
    the end of the path through the versions that `user` is shown, and is sent that path
    only. With `regenerate`, it writes a new version of the reply `message_id` (by default
    the last message of that path, which must be a reply): the earlier version keeps its
    text and everything after it, and `user` is shown the new one. A regenerate's
    `client_message_id` makes it idempotent: sent again, it finds the version it made
    (looked up under the conversation's lock, so two at once make one)."""
    client_message_id = _regeneration_key(
        user, services.messages.clean_client_message_id(client_message_id)
    )
    conversation = selectors.conversation_get_for_user(user=user, conversation_id=conversation_id)
    agent = conversation.agent or services.agent_default_for_workspace(
        workspace=conversation.workspace
    )
    try:
        base_url, model, api_key = resolve_endpoint(agent)
    except EndpointNotConfigured as error:
        unconfigured, base_url, model, api_key = error, "", "", ""
    else:
        unconfigured = None
    max_tokens = (agent.max_tokens if agent else None) or settings.ASSISTANT_MAX_TOKENS or None
    # What writes this version, kept with it: another version may be written by another
    # model, or with other settings, and each says which (docs/assistant.md).
    written_with = {
        "generation": {
            "temperature": agent.temperature if agent else None,
            "max_tokens": max_tokens,
            "context_tokens": settings.ASSISTANT_CONTEXT_TOKENS,
            "system_prompt": agent.system_prompt if agent else "",
        }
    }
    participant = lock_participation(conversation, user)
    conversation = participant.conversation
    path = line_path(conversation.pk, participant.line)
    if regenerate and client_message_id is not None:
        made = Message.objects.filter(
            conversation=conversation,
            role=MessageRole.ASSISTANT,
            client_message_id=client_message_id,
        ).first()
        if made is not None:
            return PreparedReply(
                message=made, request=None, summary=message_summary(made), replayed=True
            )
    if regenerate:
        if message_id is None:
            target = Message.objects.filter(path.q(path.tail, path.tail), conversation=conversation)
        else:
            target = Message.objects.filter(pk=as_uuid(message_id))
        target = target.filter(conversation=conversation).first()
        if target is None and message_id is not None:
            raise NotFound(gettext("No such message."))
        if target is None or target.role != MessageRole.ASSISTANT:
            if message_id is not None:
                raise Conflict(gettext("Only an assistant's reply can be regenerated."))
            raise Conflict("There is no assistant turn at the end of this conversation.")
        history = _history(
            conversation, line_path(conversation.pk, target.line), target.position - 1
        )
        _check_quiet(history)
        message = services.reply_version_start(
            participant=participant,
            reply=target,
            agent=agent,
            model=model,
            client_message_id=client_message_id,
            meta=written_with,
        )
    else:
        history = _history(conversation, path, path.tail)
        _check_quiet(history)
        if not history or history[-1].role != MessageRole.USER:
            raise Conflict("Post a message first: a reply answers the last message.")
        message = services.assistant_message_start(
            conversation=conversation,
            agent=agent,
            model=model,
            reply_to=history[-1],
            status=MessageStatus.STREAMING,
            line=participant.line,
            locked=True,
            meta=written_with,
        )
    summary = message_summary(message)
    if unconfigured is not None:
        # Kept, not refused: the turn says why in the thread and can be retried.
        message = services.assistant_message_finish(
            message=message,
            content="",
            status=MessageStatus.ERROR,
            error=unconfigured.message,
            error_type=MessageErrorType.NOT_CONFIGURED,
            error_details=unconfigured.details,
        )
        return PreparedReply(message=message, request=None, summary=summary)
    request = ChatRequest(
        base_url=base_url,
        api_key=api_key,
        model=model,
        messages=build_messages(
            system_prompt=agent.system_prompt,
            history=history,
            budget_tokens=settings.ASSISTANT_CONTEXT_TOKENS,
        ),
        temperature=agent.temperature,
        max_tokens=max_tokens,
    )
    return PreparedReply(message=message, request=request, summary=summary)


@dataclass
class Turn:
    """What has arrived so far."""

    text: str = ""
    reasoning: str = ""
    tool_calls: ToolCallAssembler = field(default_factory=ToolCallAssembler)
    usage: UsageReport | None = None
    finish_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    saved_length: int = 0

    def elapsed_ms(self, moment: float | None = None) -> int:
        return int(((moment or time.monotonic()) - self.started) * 1000)


def _save_progress(message: Message, text: str, saved_length: int) -> bool:
    """Save the text so far (False: the turn was stopped meanwhile), and announce the text
    that is new since the last save to GET /events in every process (not stored). The
    event's `offset` is where that text starts in the reply, in characters: a client that
    fetched the row mid-stream, or missed an event, can tell what it already has."""
    if not services.assistant_message_progress(message_id=message.pk, content=text):
        return False
    if len(text) > saved_length:
        event_signal(
            {
                "type": "message.delta",
                "conversation_id": str(message.conversation_id),
                "data": {
                    "message_id": str(message.pk),
                    "seq": message.seq,
                    "offset": saved_length,
                    "text": text[saved_length:],
                },
            }
        )
    return True


@transaction.atomic
def _save_outcome(message: Message, turn: Turn, outcome: dict[str, Any]) -> Message:
    """The parts, the usage and the ending, in one transaction."""
    if turn.reasoning:
        services.message_part_add(
            message=message, type=PartType.REASONING, content={"text": turn.reasoning}
        )
    if turn.text:
        services.message_part_add(message=message, type=PartType.TEXT, content={"text": turn.text})
    for call in turn.tool_calls.calls():
        services.message_part_add(
            message=message,
            type=PartType.TOOL_CALL,
            # The model's strings, cut to what the columns hold.
            tool_name=(call.name or "unknown")[:TOOL_FIELD_MAX_LENGTH],
            tool_call_id=(call.id or "")[:TOOL_FIELD_MAX_LENGTH],
            content={"arguments": call.arguments},
        )
    if outcome.get("error_type"):
        services.message_part_add(
            message=message,
            type=PartType.ERROR,
            content={"error_type": outcome["error_type"], "message": outcome["error"]},
        )
    if turn.usage is not None:
        services.message_record_usage(
            message=message,
            usage=services.Usage(
                prompt_tokens=turn.usage.prompt_tokens,
                completion_tokens=turn.usage.completion_tokens,
                cached_input_tokens=turn.usage.cached_input_tokens,
                reasoning_tokens=turn.usage.reasoning_tokens,
            ),
        )
    aborted = Message.objects.filter(pk=message.pk, is_aborted=True).exists()
    if aborted and not outcome.get("error_type"):
        outcome = {
            "status": MessageStatus.ERROR,
            "error_type": MessageErrorType.ABORTED,
            "error": "Stopped.",
            "error_details": {},
        }
    return services.assistant_message_finish(
        message=message,
        content=turn.text,
        status=outcome["status"],
        latency_ms=turn.elapsed_ms(),
        ttft_ms=turn.elapsed_ms(turn.first_token_at) if turn.first_token_at else None,
        error=outcome.get("error", ""),
        error_type=outcome.get("error_type", ""),
        error_details=outcome.get("error_details") or {},
        is_aborted=aborted,
        finish_reason=(
            turn.finish_reason or "" if outcome["status"] == MessageStatus.COMPLETE else ""
        ),
    )


@transaction.atomic
def _save_as_error(message: Message, turn: Turn, outcome: dict[str, Any]) -> Message:
    """When the outcome could not be saved: the turn closed as error with its text and
    nothing else (no parts: saving one may be what failed), its usage kept if it can be."""
    aborted = Message.objects.filter(pk=message.pk, is_aborted=True).exists()
    saved = services.assistant_message_finish(
        message=message,
        content=turn.text,
        status=MessageStatus.ERROR,
        latency_ms=turn.elapsed_ms(),
        ttft_ms=turn.elapsed_ms(turn.first_token_at) if turn.first_token_at else None,
        error=outcome["error"],
        error_type=outcome["error_type"],
        error_details=outcome.get("error_details") or {},
        is_aborted=aborted,
    )
    if turn.usage is not None:
        try:
            # Its own savepoint: a failure here leaves the closed turn as it is.
            saved = services.message_record_usage(
                message=saved,
                usage=services.Usage(
                    prompt_tokens=turn.usage.prompt_tokens,
                    completion_tokens=turn.usage.completion_tokens,
                    cached_input_tokens=turn.usage.cached_input_tokens,
                    reasoning_tokens=turn.usage.reasoning_tokens,
                ),
            )
        except Exception:
            logger.exception("could not record the usage of %s", message.pk)
    return saved


def _saved(save, message: Message, turn: Turn, outcome: dict[str, Any]) -> Message:
    """`save` the ending; when someone else ended the turn meanwhile (the stale sweep marked
    it interrupted), the turn as they left it."""
    try:
        return save(message, turn, outcome)
    except Conflict:
        return Message.objects.get(pk=message.pk)


def _internal_error(error: BaseException, *, while_doing: str) -> dict[str, Any]:
    return {
        "status": MessageStatus.ERROR,
        "error_type": MessageErrorType.UPSTREAM_ERROR,
        "error": f"Internal error {while_doing}: {error.__class__.__name__}",
    }


def _timeouts() -> Timeouts:
    return Timeouts(
        connect=settings.ASSISTANT_CONNECT_TIMEOUT,
        first_token=settings.ASSISTANT_FIRST_TOKEN_TIMEOUT,
        total=settings.ASSISTANT_TOTAL_TIMEOUT,
        idle=settings.ASSISTANT_IDLE_TIMEOUT,
    )


async def _next_or_stop(events, stop: asyncio.Event):
    """The next upstream event, or None as soon as `stop` is set (even mid-stall)."""
    next_event = asyncio.ensure_future(anext(events))
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({next_event, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if next_event in done:
        stopping.cancel()
        return next_event.result()
    next_event.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await next_event
    return None


async def generate(prepared: PreparedReply) -> Message:
    """Stream the reply and save it. Never raises but for its own cancellation: whatever
    fails, the turn is saved as error (see the module's docstring)."""
    turn = Turn()
    try:
        outcome = await _stream(prepared, turn)
    except asyncio.CancelledError:
        outcome = {
            "status": MessageStatus.ERROR,
            "error_type": MessageErrorType.INTERRUPTED,
            "error": "The server stopped while this reply was being written.",
        }
        await asyncio.shield(_finish(prepared.message, turn, outcome))
        raise
    except Exception as error:  # a bug of ours must still leave a saved, closed turn
        logger.exception("generation of %s failed", prepared.message.pk)
        outcome = _internal_error(error, while_doing="while writing this reply")
    return await _finish(prepared.message, turn, outcome)


async def _stream(prepared: PreparedReply, turn: Turn) -> dict[str, Any]:
    """Read the upstream into `turn`, handing each delta to the reply streams and saving
    the text as it goes; the outcome (an upstream failure is one, not an exception)."""
    message = prepared.message
    message_id = str(message.pk)
    stop = asyncio.Event()
    broker.on_abort(message_id, stop.set)
    interval = settings.STREAM_SAVE_INTERVAL_MS / 1000
    last_save = time.monotonic()
    outcome: dict[str, Any] = {"status": MessageStatus.COMPLETE}
    saving: asyncio.Task | None = None
    events = None
    try:
        events = stream_chat(
            prepared.request, timeouts=_timeouts(), client=upstream_client()
        ).__aiter__()
        while True:
            try:
                event = await _next_or_stop(events, stop)
            except StopAsyncIteration:
                break
            if event is None:
                outcome = {
                    "status": MessageStatus.ERROR,
                    "error_type": MessageErrorType.ABORTED,
                    "error": "Stopped.",
                }
                break
            delta: dict[str, str] = {}
            if isinstance(event, TextDelta) and event.text:
                text = storable_text(event.text)
                turn.text += text
                delta = {"text": text}
            elif isinstance(event, ReasoningDelta) and event.text:
                text = storable_text(event.text)
                turn.reasoning += text
                delta = {"reasoning": text}
            elif isinstance(event, ToolCallDelta):
                turn.tool_calls.add(event)
                broker.deliver_to_message(
                    message_id,
                    {
                        "type": "part",
                        "data": {
                            "type": "tool_call",
                            "index": event.index,
                            "name": event.name,
                            "arguments": event.arguments,
                        },
                    },
                )
            elif isinstance(event, UsageReport):
                turn.usage = event
            elif isinstance(event, Finish):
                turn.finish_reason = (
                    event.reason and storable_text(event.reason)[:FINISH_REASON_MAX_LENGTH]
                )
            if delta:
                turn.first_token_at = turn.first_token_at or time.monotonic()
                broker.deliver_to_message(message_id, {"type": "delta", "data": delta})
            # Save in the background, one save at a time: the read loop never waits for the
            # database, so a slow commit does not hold back the tokens behind it.
            if time.monotonic() - last_save >= interval and (saving is None or saving.done()):
                last_save = time.monotonic()
                saving = asyncio.ensure_future(
                    _save_in_background(message, turn.text, turn.saved_length, stop)
                )
                turn.saved_length = len(turn.text)
    except ProviderError as error:
        outcome = {
            "status": MessageStatus.ERROR,
            "error_type": error.error_type,
            "error": error.message,
            "error_details": {
                **error.details,
                **({"status": error.status} if error.status else {}),
            },
        }
    finally:
        broker.forget_abort(message_id)
        if events is not None:
            try:
                await events.aclose()
            except Exception:
                logger.exception("could not close the upstream stream of %s", message_id)
        if saving is not None:
            with contextlib.suppress(Exception):
                await saving
    return outcome


async def _save_in_background(message: Message, text: str, saved_length: int, stop: asyncio.Event):
    try:
        if not await in_worker_thread(_save_progress)(message, text, saved_length):
            stop.set()  # stopped (aborted, or closed as interrupted) by someone else
    except Exception:
        logger.exception("could not save the progress of %s", message.pk)


async def _finish(message: Message, turn: Turn, outcome: dict[str, Any]) -> Message:
    """Save the ending and send the reply streams their last event, whatever fails. The
    outcome that cannot be saved (a part the database refuses) is saved as error with the
    text alone, in a fresh connection; when even that fails (the database is gone) the
    streams still hear the error, and the stale sweep closes the turn later."""
    message_id = str(message.pk)
    try:
        saved = await in_worker_thread(_saved)(_save_outcome, message, turn, outcome)
    except Exception as error:
        logger.exception("could not save the outcome of %s", message_id)
        if outcome["status"] != MessageStatus.ERROR:
            outcome = _internal_error(error, while_doing="saving this reply")
        try:
            saved = await in_worker_thread(_saved)(_save_as_error, message, turn, outcome)
        except Exception:
            logger.exception("could not save %s as error", message_id)
            # At least the text, for the stale sweep that will close the turn.
            with contextlib.suppress(Exception):
                await in_worker_thread(services.assistant_message_progress)(
                    message_id=message.pk, content=turn.text
                )
            saved = _unsaved_error(message, turn, outcome)
    try:
        broker.deliver_to_message(message_id, last_event(saved))
    except Exception:
        logger.exception("could not send the last event of %s", message_id)
    return saved


def _unsaved_error(message: Message, turn: Turn, outcome: dict[str, Any]) -> Message:
    """The error the streams are told about when it could not be saved."""
    message.content = turn.text
    message.status = MessageStatus.ERROR
    message.error = outcome["error"]
    message.error_type = outcome["error_type"]
    message.latency_ms = turn.elapsed_ms()
    message.ttft_ms = turn.elapsed_ms(turn.first_token_at) if turn.first_token_at else None
    return message


def last_event(saved: Message) -> dict[str, Any]:
    return {
        "type": "message.completed" if saved.status == MessageStatus.COMPLETE else "error",
        "data": {
            **message_summary(saved),
            "error_type": saved.error_type,
            "error": saved.error,
            "finish_reason": saved.finish_reason or None,
            "usage": {
                "prompt_tokens": saved.prompt_tokens,
                "completion_tokens": saved.completion_tokens,
            },
            "latency_ms": saved.latency_ms,
            "ttft_ms": saved.ttft_ms,
        },
    }


def start_generation(prepared: PreparedReply) -> asyncio.Task:
    """Run the generation as a task of this process's loop, owned by no request: a client
    that goes away does not stop it."""
    broker.bind(asyncio.get_running_loop())
    task = asyncio.ensure_future(generate(prepared))
    RUNNING.add(task)
    task.add_done_callback(RUNNING.discard)
    return task
