"""The audit log: every moderation act, hard purge, token revocation and role change."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from conversations.models import AuditEvent


def audit_event_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    target_type: str,
    target_id: Any,
    reason: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Append one event. Called inside the caller's transaction, so the event is kept
    exactly when the act it records is."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        data=data or {},
    )
