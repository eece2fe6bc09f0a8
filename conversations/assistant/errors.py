"""What goes wrong talking to a model server: `ProviderError`, and how an upstream error body
becomes one (its type, a message for people, JSON details) with the API key redacted from
any text that came from outside (docs/assistant.md)."""

import json
import re
from typing import Any

# An upstream error message kept in our messages and details is cut to this length.
ERROR_MESSAGE_MAX_CHARS = 500
# Shorter "keys" are placeholders ("none", "x") that local servers ignore; redacting them
# would garble messages without protecting anything.
REDACT_MIN_KEY_LENGTH = 6

CONTEXT_LENGTH_CODES = {"context_length_exceeded", "exceed_context_size_error"}
CONTEXT_LENGTH_STATUSES = {400, 413, 422}
# OpenAI: "This model's maximum context length is 8192 tokens…"; vLLM the same; llama.cpp:
# "the request exceeds the available context size"; Ollama: "…exceeded max context length";
# Anthropic-compatible proxies: "prompt is too long".
CONTEXT_LENGTH_MESSAGE = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|prompt is too long", re.IGNORECASE
)


class ProviderError(Exception):
    """The model server could not be reached, failed, or was too slow.

    `error_type` is a MessageErrorType value ("upstream_unreachable", "upstream_error",
    "timeout", "context_length"); `message` is for people and never holds the API key;
    `status` is the upstream HTTP status when there was one; `details` is JSON-safe.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        status: int | None = None,
        details: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status
        self.details = details or {}

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.error_type!r}, {self.message!r}, status={self.status!r}, "
            f"details={self.details!r})"
        )


class Redactor:
    """Removes the API key from any text that came from outside before we keep it."""

    def __init__(self, api_key: str) -> None:
        self._key = api_key if len(api_key) >= REDACT_MIN_KEY_LENGTH else ""

    def __call__(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text


def timeout_error(which: str, seconds: float) -> ProviderError:
    labels = {
        "connect": "connecting to the model server",
        "first_token": "waiting for the model's first token",
        "idle": "waiting for the model's next token",
        "total": "waiting for the model's whole answer",
    }
    return ProviderError(
        "timeout",
        f"Timed out after {seconds:g} s {labels[which]}.",
        details={"which": which, "seconds": seconds},
    )


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(message, code, type) from an error body in any of the shapes servers use:
    {"error": {"message", "code", "type"}} (OpenAI, vLLM, llama.cpp), {"error": "…"}
    (Ollama), {"detail": "…"} (FastAPI-based servers), {"message": "…"}."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error, "", ""
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or ""
            if not isinstance(message, str):
                message = json.dumps(message)
            return message, str(error.get("code") or ""), str(error.get("type") or "")
    if isinstance(body, str):
        return body, "", ""
    return "", "", ""


def upstream_error(
    *, status: int | None, body: Any, redact: Redactor, details: dict | None = None
) -> ProviderError:
    """An error the server reported, as an HTTP status or inside the stream."""
    message, code, kind = _error_fields(body)
    message = " ".join(redact(message).split())[:ERROR_MESSAGE_MAX_CHARS]
    details = {**(details or {})}
    if message:
        details["upstream_message"] = message
    if code:
        details["code"] = redact(code)[:100]
    if kind:
        details["type"] = redact(kind)[:100]
    is_context = code in CONTEXT_LENGTH_CODES or kind in CONTEXT_LENGTH_CODES
    if not is_context and (status is None or status in CONTEXT_LENGTH_STATUSES):
        is_context = bool(CONTEXT_LENGTH_MESSAGE.search(message))
    if is_context:
        return ProviderError(
            "context_length",
            "The conversation is longer than the model's context window"
            + (f": {message}" if message else "."),
            status=status,
            details=details,
        )
    where = f"HTTP {status}" if status is not None else "an error in the stream"
    return ProviderError(
        "upstream_error",
        f"The model server answered with {where}" + (f": {message}" if message else "."),
        status=status,
        details=details,
    )


def stream_ended_early() -> ProviderError:
    return ProviderError(
        "upstream_error",
        "The model server closed the stream before the answer was complete.",
        details={"reason": "stream ended early"},
    )
