"""Session cookies carry a signed id that expires and refuses tampering; sign-in tokens
protect the form; the server-side store ends sessions on sign-out, a new password or a
removed account, on every console of the data dir, and keeps them to their checkpoint."""

from __future__ import annotations

import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from streams.console.accounts import GuardStore
from streams.console.session_store import SessionStore
from streams.console.sessions import (
    LOGIN_TOKEN_TTL_S,
    SessionSigner,
    load_or_create_secret,
    tokens_match,
)
from tests.streams.console.conftest import PASSWORD, Clock

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_signed_session_id_reads_back_until_it_expires() -> None:
    clock = Clock()
    signer = SessionSigner(KEY, checkpoint="hq", ttl_s=600, clock=clock)
    cookie = signer.sign("session-1")
    clock.now += 599
    assert signer.unsign(cookie) == "session-1"
    clock.now += 2
    assert signer.unsign(cookie) is None


def test_an_altered_or_foreign_cookie_is_refused() -> None:
    signer = SessionSigner(KEY, checkpoint="hq")
    cookie = signer.sign("session-1")
    payload, signature = cookie.rsplit(".", 1)
    # The last base64 character may carry unused bits: alter one in the middle.
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    assert signer.unsign(f"{payload}.{flipped}") is None
    assert SessionSigner(b"x" * 32, checkpoint="hq").unsign(cookie) is None
    assert signer.unsign("") is None
    assert signer.unsign(None) is None


def test_a_cookie_of_another_checkpoint_s_console_is_refused_though_the_key_is_shared() -> None:
    """Consoles of one data dir share the session key: the checkpoint in the signature keeps
    a guard of the lab's console out of headquarters' (and its sign-in tokens too)."""
    here, there = SessionSigner(KEY, checkpoint="hq"), SessionSigner(KEY, checkpoint="lab")
    cookie = there.sign("session-1")
    assert there.unsign(cookie) == "session-1"
    assert here.unsign(cookie) is None
    login_cookie, token = there.login_token()
    assert not here.check_login_token(login_cookie, token)
    assert SessionSigner(KEY, checkpoint='hq"').unsign(here.sign("session-1")) is None


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
    assert not signer.check_login_token(signer.sign("token"), "token")


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


class _Consoles:
    """Sessions of consoles sharing one data dir: one guards file, one session store file."""

    def __init__(self, tmp_path: Path, hasher: PasswordHasher) -> None:
        self.clock = Clock()
        self.hasher = hasher
        self.guards = GuardStore(tmp_path / "guards.json", hasher=hasher)
        self.guards.set_password("ana", PASSWORD)
        self.guards.set_password("ben", PASSWORD)
        self.path = tmp_path / "console" / "sessions.sqlite"

    def store(self, checkpoint: str = "hq", *, ttl_s: float = 3600) -> SessionStore:
        signer = SessionSigner(KEY, checkpoint=checkpoint, ttl_s=ttl_s, clock=self.clock)
        return SessionStore(
            self.path, signer=signer, credentials=self.guards.credential, clock=self.clock
        )


@pytest.fixture
def consoles(tmp_path: Path, hasher: PasswordHasher) -> _Consoles:
    return _Consoles(tmp_path, hasher)


def test_a_session_reads_back_with_its_guard_lane_and_own_csrf_token(consoles: _Consoles) -> None:
    store = consoles.store()
    cookie, session = store.start(guard="ana", lane="2")
    assert store.read(cookie) == session
    assert (session.guard, session.lane) == ("ana", "2")
    assert len(session.csrf) >= 20
    assert store.start(guard="ana", lane="2")[1].csrf != session.csrf


def test_a_session_expires_after_its_lifetime(consoles: _Consoles) -> None:
    store = consoles.store(ttl_s=600)
    cookie, _ = store.start(guard="ana", lane="1")
    consoles.clock.now += 599
    assert store.read(cookie) is not None
    consoles.clock.now += 2
    assert store.read(cookie) is None


def test_sign_out_ends_the_session_on_every_console_of_the_data_dir(consoles: _Consoles) -> None:
    here, also_here = consoles.store(), consoles.store()
    cookie, session = here.start(guard="ana", lane="1")
    other_cookie, _ = here.start(guard="ana", lane="2")
    assert also_here.read(cookie) == session
    here.end(cookie)
    assert here.read(cookie) is None
    assert also_here.read(cookie) is None
    assert here.read(other_cookie) is not None  # her other screen stays signed in


def test_a_new_password_ends_every_session_of_that_guard_only(consoles: _Consoles) -> None:
    store = consoles.store()
    first, _ = store.start(guard="ana", lane="1")
    second, _ = store.start(guard="ana", lane="2")
    bens, _ = store.start(guard="ben", lane="1")
    # What `leakguard console add-guard ana --password NEW` does, from another process.
    GuardStore(consoles.guards.path, hasher=consoles.hasher).set_password("ana", "a new password")
    assert store.read(first) is None
    assert store.read(second) is None
    assert store.read(bens) is not None
    fresh, _ = store.start(guard="ana", lane="1")
    assert store.read(fresh) is not None


def test_a_removed_guard_s_sessions_end(consoles: _Consoles) -> None:
    store = consoles.store()
    cookie, _ = store.start(guard="ana", lane="1")
    assert consoles.guards.remove("ana")
    assert store.read(cookie) is None
    assert not consoles.guards.remove("ana")


def test_a_session_is_valid_only_at_its_checkpoint_s_console(consoles: _Consoles) -> None:
    lab, hq = consoles.store("lab"), consoles.store("hq")
    cookie, _ = lab.start(guard="ana", lane="1")
    assert lab.read(cookie) is not None
    assert hq.read(cookie) is None


def test_the_store_file_holds_no_session_id_and_is_its_owner_s_only(consoles: _Consoles) -> None:
    store = consoles.store()
    cookie, _ = store.start(guard="ana", lane="1")
    session_id = SessionSigner(KEY, checkpoint="hq", clock=consoles.clock).unsign(cookie)
    assert session_id is not None
    with sqlite3.connect(consoles.path) as db:
        keys = [row[0] for row in db.execute("SELECT id_hash FROM sessions")]
    assert session_id not in keys
    assert stat.S_IMODE(consoles.path.stat().st_mode) == 0o600
