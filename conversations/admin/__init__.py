"""The Django admin: moderation, support and retention (docs/moderation.md), one module per
concept. Importing the package registers every ModelAdmin.

Domain rows are read-only here for everyone, superusers included: every change is a
moderation act (hide, resolve, trash, purge…) that goes through its service, after a
confirmation page asking for a reason, and writes an AuditEvent. Agents are the exception:
staff manage them with the ordinary form (issue 4).

The big tables (messages, parts, events) are listed without a full COUNT(*) (see
LargeTablePaginator) and without facet counts; a conversation's page links to its messages,
filtered and paged, rather than loading them.
"""

# Each module registers its ModelAdmins when imported; the shared building blocks (the
# big-table paginator, moderation acts) are in .base.
from . import agents, conversations, logs, messages, reports, workspaces

__all__ = ["agents", "conversations", "logs", "messages", "reports", "workspaces"]
