"""UI sessions: random ids, expiry, a bound on their number, constant-time CSRF checks."""

from __future__ import annotations

from headwater.web.ui.sessions import Sessions


def test_a_session_is_found_by_its_random_id_and_dropped_on_logout() -> None:
    sessions = Sessions()
    sid, session = sessions.create("a" * 64)
    other, _ = sessions.create("a" * 64)
    assert sid != other and len(sid) >= 43
    assert sessions.get(sid) is session
    assert sessions.get("forged") is None and sessions.get(None) is None
    sessions.drop(sid)
    assert sessions.get(sid) is None


def test_an_idle_or_too_old_session_is_gone() -> None:
    idle = Sessions(idle=-1)
    sid, _ = idle.create("x")
    assert idle.get(sid) is None
    old = Sessions(max_age=-1)
    sid, _ = old.create("x")
    assert old.get(sid) is None


def test_the_oldest_sessions_go_past_the_limit() -> None:
    sessions = Sessions(limit=2)
    first, _ = sessions.create("x")
    second, _ = sessions.create("x")
    third, _ = sessions.create("x")
    assert sessions.get(first) is None
    assert sessions.get(second) is not None and sessions.get(third) is not None


def test_the_csrf_token_must_match_exactly() -> None:
    _, session = Sessions().create("x")
    assert session.csrf_ok(session.csrf)
    for wrong in (None, "", session.csrf[:-1], session.csrf + "x", "é"):
        assert not session.csrf_ok(wrong)
