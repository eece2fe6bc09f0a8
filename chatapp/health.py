"""Is the app able to serve? Used by GET /health and GET /api/v1/health."""

from django.db import DatabaseError, connection


def database_status() -> tuple[bool, str]:
    """(reachable, "ok" or the database's error message)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        # A broken connection would otherwise be reused by the next request.
        connection.close_if_unusable_or_obsolete()
        return False, str(error).strip() or error.__class__.__name__
    return True, "ok"


def health_body() -> tuple[int, dict]:
    reachable, detail = database_status()
    if reachable:
        return 200, {"status": "ok", "database": "ok"}
    return 503, {"status": "unavailable", "database": detail}
