"""Web UI sessions: a token typed once, a random cookie after, CSRF tokens in forms.

Logging in posts an API token; if valid, the server makes a session: a random id
(32 bytes) sent as the cookie `hw_session` (HttpOnly, SameSite=Strict, Secure when the
page is served over https). The cookie is only a key: the session, kept in this
process's memory, holds the *sha256* of the token (never the token), so revoking the
token ends its sessions at their next request, and a restart ends them all. Sessions
expire after `IDLE` without a request and `MAX_AGE` in all; there are at most
`MAX_SESSIONS` (the oldest goes first).

Each session has its own CSRF token, put in every form (`csrf` field) and compared in
constant time on every POST; the login form, before any session, has one in a
short-lived cookie of its own (double submit). Together with the Origin check
(`devguard.cross_site`), a page of another site can neither read nor post.

In loopback dev mode (`--dev`) nobody logs in: the first page makes a session for
"dev" at once, so forms carry a CSRF token all the same.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "hw_session"
LOGIN_COOKIE = "hw_login_csrf"
IDLE = 12 * 3600.0
MAX_AGE = 7 * 24 * 3600.0
MAX_SESSIONS = 10_000
DEV = "dev"  # the identity of dev-mode sessions


@dataclass
class Session:
    token_sha256: str  # DEV in dev mode
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.csrf.encode(),
                                                         given.encode())


class Sessions:
    def __init__(self, *, idle: float = IDLE, max_age: float = MAX_AGE,
                 limit: int = MAX_SESSIONS) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self.idle, self.max_age, self.limit = idle, max_age, limit

    def create(self, token_sha256: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = self._by_id[sid] = Session(token_sha256)
        while len(self._by_id) > self.limit:
            self._by_id.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of cookie value `sid`; expired ones are dropped."""
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self.idle or now - session.created > self.max_age:
            del self._by_id[sid]
            return None
        session.seen = now
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)
