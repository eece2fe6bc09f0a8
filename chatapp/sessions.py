"""The session engine (SESSION_ENGINE): Django's database sessions, taking from the cookie
only a key of the characters Django makes keys of."""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key) -> bool:
        # A cookie can carry any character (in a quoted value, "\000" is a NUL), and
        # PostgreSQL refuses a NUL in the query that looks the key up: a 500 on every page.
        # Django's keys are 32 lowercase letters and digits; any other is no session.
        return (
            isinstance(key, str)
            and key.isascii()
            and key.isalnum()
            and super()._validate_session_key(key)
        )
