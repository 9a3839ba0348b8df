"""Guard accounts: argon2id hashes in a 0600 file, verification, validation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from streams.console.accounts import GuardStore, default_guards_path, ensure_guard
from streams.console.exceptions import AccountError


def test_a_guard_signs_in_with_their_password_only(tmp_path: Path, hasher: PasswordHasher) -> None:
    store = GuardStore(tmp_path / "guards.json", hasher=hasher)
    store.set_password("ana", "s3cret-pass")
    assert store.verify("ana", "s3cret-pass")
    assert not store.verify("ana", "s3cret-pasS")
    assert not store.verify("nobody", "s3cret-pass")


def test_the_file_holds_an_argon2id_hash_readable_by_its_owner_only(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    path = tmp_path / "console" / "guards.json"
    GuardStore(path, hasher=hasher).set_password("ana", "s3cret-pass")
    text = path.read_text()
    assert "s3cret-pass" not in text
    assert "$argon2id$" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_new_password_replaces_the_old_one(tmp_path: Path, hasher: PasswordHasher) -> None:
    store = GuardStore(tmp_path / "guards.json", hasher=hasher)
    store.set_password("ana", "first-password")
    store.set_password("ben", "bens-password")
    store.set_password("ana", "second-password")
    assert not store.verify("ana", "first-password")
    assert store.verify("ana", "second-password")
    assert store.verify("ben", "bens-password")


@pytest.mark.parametrize("name", ["", "Ana", "ana smith", "-ana", "a" * 65, "ana/1"])
def test_guard_ids_that_would_not_fit_an_event_are_refused(
    tmp_path: Path, hasher: PasswordHasher, name: str
) -> None:
    with pytest.raises(AccountError, match="guard name"):
        GuardStore(tmp_path / "g.json", hasher=hasher).set_password(name, "long-enough")


def test_short_passwords_are_refused(tmp_path: Path, hasher: PasswordHasher) -> None:
    with pytest.raises(AccountError, match="at least 8"):
        GuardStore(tmp_path / "g.json", hasher=hasher).set_password("ana", "short")


def test_a_file_that_is_not_an_accounts_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "guards.json"
    path.write_text('{"some": "thing"}')
    with pytest.raises(AccountError, match="not a leakguard guard accounts file"):
        GuardStore(path).accounts()


def test_a_stronger_hash_setting_upgrades_the_stored_hash_on_sign_in(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    path = tmp_path / "guards.json"
    GuardStore(path, hasher=hasher).set_password("ana", "s3cret-pass")
    stronger = GuardStore(path, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    before = stronger.accounts()["ana"].password_hash
    assert stronger.verify("ana", "s3cret-pass")
    after = stronger.accounts()["ana"].password_hash
    assert after != before
    assert "t=2" in after


def test_ensure_guard_creates_then_keeps_then_updates(tmp_path: Path) -> None:
    path = default_guards_path(tmp_path)
    first = ensure_guard(path, "demo-guard", "leakguard-demo")
    assert ensure_guard(path, "demo-guard", "leakguard-demo") == first
    ensure_guard(path, "demo-guard", "another-password")
    store = GuardStore(path)
    assert store.verify("demo-guard", "another-password")
    assert not store.verify("demo-guard", "leakguard-demo")


def test_a_credential_changes_with_the_password_and_ends_with_the_account(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    store = GuardStore(tmp_path / "guards.json", hasher=hasher)
    store.set_password("ana", "first-password")
    first = store.credential("ana")
    assert first is not None
    assert first == store.credential("ana")
    assert first not in (tmp_path / "guards.json").read_text()  # a hash of the hash
    store.set_password("ana", "first-password")  # the same password, a new salt
    assert store.credential("ana") not in (None, first)
    assert store.remove("ana")
    assert store.credential("ana") is None
    assert not store.verify("ana", "first-password")
