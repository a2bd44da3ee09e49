"""Browser sessions: a token typed once into the login form, then a session cookie.

The cookie holds a random session id, never the token: the token stays in this
process's memory and every request is checked with it through the API's
``Authenticator`` (so a revoked or expired token ends its sessions at once). The
cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it) and scoped to ``/ui``; Secure when the page came over HTTPS. Each session has a
CSRF secret that every state-changing request must echo (a form field or the
``X-CSRF-Token`` header); the login form itself is protected by a double-submit
cookie. Sessions end at logout, after ``IDLE_SECONDS`` unused, or when the server
restarts (log in again).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

SESSION_COOKIE = "qlambda_session"
LOGIN_COOKIE = "qlambda_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"
IDLE_SECONDS = 12 * 3600.0
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    token: str
    user: str
    csrf: str
    created_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The live sessions of one server process, least recently used first."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.idle_seconds = idle_seconds
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, token: str, user: str) -> Session:
        session = Session(secrets.token_urlsafe(32), token, user, secrets.token_urlsafe(32))
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            self._sessions.move_to_end(session_id)
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time equality of two secrets; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
