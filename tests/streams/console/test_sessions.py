"""Signed sessions expire and refuse tampering; sign-in tokens protect the form."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streams.console.sessions import (
    LOGIN_TOKEN_TTL_S,
    SessionSigner,
    load_or_create_secret,
    tokens_match,
)
from tests.streams.console.conftest import Clock

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_session_reads_back_with_its_guard_lane_and_csrf_token() -> None:
    signer = SessionSigner(KEY, checkpoint="hq", ttl_s=60)
    cookie, session = signer.issue(guard="ana", lane="2")
    assert signer.read(cookie) == session
    assert session.guard == "ana"
    assert session.lane == "2"
    assert len(session.csrf) >= 20


def test_each_session_gets_its_own_csrf_token() -> None:
    signer = SessionSigner(KEY, checkpoint="hq")
    first = signer.issue(guard="ana", lane="1")[1]
    assert first.csrf != signer.issue(guard="ana", lane="1")[1].csrf


def test_a_session_expires_after_its_lifetime() -> None:
    clock = Clock()
    signer = SessionSigner(KEY, checkpoint="hq", ttl_s=600, clock=clock)
    cookie, _ = signer.issue(guard="ana", lane="1")
    clock.now += 599
    assert signer.read(cookie) is not None
    clock.now += 2
    assert signer.read(cookie) is None


def test_an_altered_or_foreign_cookie_is_refused() -> None:
    signer = SessionSigner(KEY, checkpoint="hq")
    cookie, _ = signer.issue(guard="ana", lane="1")
    payload, signature = cookie.rsplit(".", 1)
    # The last base64 character may carry unused bits: alter one in the middle.
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    assert signer.read(f"{payload}.{flipped}") is None
    assert SessionSigner(b"x" * 32, checkpoint="hq").read(cookie) is None
    assert signer.read("") is None
    assert signer.read(None) is None


def test_a_cookie_of_another_checkpoint_s_console_is_refused_though_the_key_is_shared() -> None:
    """Consoles of one data dir share the session key: the checkpoint in the signature keeps
    a guard of the lab's console out of headquarters' (and its sign-in tokens too)."""
    here, there = SessionSigner(KEY, checkpoint="hq"), SessionSigner(KEY, checkpoint="lab")
    cookie, _ = there.issue(guard="ana", lane="1")
    assert there.read(cookie) is not None
    assert here.read(cookie) is None
    login_cookie, token = there.login_token()
    assert not here.check_login_token(login_cookie, token)
    assert SessionSigner(KEY, checkpoint='hq"').read(here.issue(guard="g", lane="1")[0]) is None


def test_a_sign_in_token_matches_its_cookie_only_and_expires() -> None:
    clock = Clock()
    signer = SessionSigner(KEY, checkpoint="hq", clock=clock)
    cookie, token = signer.login_token()
    _other_cookie, other_token = signer.login_token()
    assert signer.check_login_token(cookie, token)
    assert not signer.check_login_token(cookie, other_token)
    assert not signer.check_login_token(None, token)
    clock.now += LOGIN_TOKEN_TTL_S + 1
    assert not signer.check_login_token(cookie, token)


def test_a_session_cookie_is_not_a_sign_in_token() -> None:
    signer = SessionSigner(KEY, checkpoint="hq")
    cookie, session = signer.issue(guard="ana", lane="1")
    assert not signer.check_login_token(cookie, session.csrf)


def test_tokens_match_needs_the_same_token() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("abc", None)


def test_the_signing_key_is_created_once_readable_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "console" / "session.key"
    key = load_or_create_secret(path)
    assert load_or_create_secret(path) == key
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_consoles_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "session.key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_or_create_secret(path), range(32)))
    assert keys == {path.read_bytes()}
    assert list(tmp_path.iterdir()) == [path]
