"""Signed, numbered rollout decisions: the registry signs and numbers every announcement, and
an edge's DecisionChecker applies only genuine decisions newer than the last it applied."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retrain.exceptions import RegistryError
from retrain.registry import DECISIONS_FILE, Registry
from schemas import Codec
from schemas.decisions import DECISION_DOMAIN, decision_message
from schemas.events import ModelUpdate, RolloutTarget
from streams.exceptions import DecisionRefusedError
from streams.rollout.decisions import DecisionChecker
from streams.rollout.fetch import trusted_keys


@pytest.fixture
def decisions(
    registry: Registry,
    signing_key: Ed25519PrivateKey,
    alarming_artifact: Path,
    quiet_artifact: Path,
) -> list[ModelUpdate]:
    """v0001 active, v0002 in shadow, then active, then rolled back: four decisions."""
    announced: list[ModelUpdate] = []
    signing = Registry(registry.root, signing_key=signing_key, announce=announced.append)
    signing.register(alarming_artifact, parent=None)
    signing.register(quiet_artifact, parent="v0001")
    signing.promote("v0001", mode="active")
    signing.promote("v0002", mode="shadow")
    signing.promote("v0002", mode="active")
    signing.rollback(reason="worse on live outcomes")
    return announced


def _checker(public_key_file: Path) -> DecisionChecker:
    return DecisionChecker(trusted_keys([public_key_file]))


def test_the_registry_numbers_its_decisions_across_processes(
    decisions: list[ModelUpdate], registry: Registry, signing_key: Ed25519PrivateKey
) -> None:
    assert [d.sequence for d in decisions] == [1, 2, 3, 4]
    again = Registry(registry.root, signing_key=signing_key)  # another process, same root
    assert again.update_event(again.get("v0001")).sequence == 5
    assert (registry.root / DECISIONS_FILE).read_text() == "5\n"


def test_every_decision_is_signed_over_its_canonical_form(
    decisions: list[ModelUpdate], signing_key: Ed25519PrivateKey
) -> None:
    for decision in decisions:
        assert decision.decision_signature is not None
        message = decision_message(decision)
        assert message.startswith(DECISION_DOMAIN)
        signing_key.public_key().verify(decision.decision_signature, message)
    # event id and time are not part of the decision: a re-sent decision stays valid
    resent = dataclasses.replace(
        decisions[0], event_time=decisions[0].event_time.replace(year=2030)
    )
    assert decision_message(resent) == decision_message(decisions[0])


def test_a_registry_without_its_key_announces_nothing(
    registry: Registry, alarming_artifact: Path
) -> None:
    registry.register(alarming_artifact, parent=None)
    public_only = Registry(registry.root)
    with pytest.raises(RegistryError, match="signing key"):
        public_only.promote("v0001", mode="active")
    assert public_only.get("v0001").state == "candidate"  # refused before any change


def test_the_edge_accepts_the_genuine_history_in_order(
    decisions: list[ModelUpdate], public_key_file: Path
) -> None:
    checker = _checker(public_key_file)
    for decision in decisions:
        checker.accept(decision)
    assert checker.last_sequence == 4


def test_a_replayed_old_decision_is_refused(
    decisions: list[ModelUpdate], public_key_file: Path
) -> None:
    """The old activation of v0001, re-sent after v0002 became active, would downgrade."""
    checker = _checker(public_key_file)
    for decision in decisions[:3]:
        checker.accept(decision)
    with pytest.raises(DecisionRefusedError, match="a replay"):
        checker.accept(dataclasses.replace(decisions[0]))
    with pytest.raises(DecisionRefusedError, match="a replay"):
        checker.accept(decisions[2])  # the same decision twice
    checker.accept(decisions[3])


@pytest.mark.parametrize(
    "change",
    [
        {"rollout_mode": "active"},
        {"targets": (RolloutTarget(checkpoint="cp", lane="1"),)},
        {"artifact_uri": "file:///elsewhere"},
        {"sha256": "0" * 64},
        {"model_version": "v0009"},
        {"sequence": 99},
        {"decided_by": "operator:alice"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_decision_altered_after_signing_is_refused(
    decisions: list[ModelUpdate], public_key_file: Path, change: dict[str, object]
) -> None:
    altered = dataclasses.replace(decisions[1], **change)  # type: ignore[arg-type]
    with pytest.raises(DecisionRefusedError, match="signature does not match"):
        _checker(public_key_file).accept(altered)


def test_unsigned_and_foreign_decisions_are_refused(
    decisions: list[ModelUpdate], public_key_file: Path, tmp_path: Path, alarming_artifact: Path
) -> None:
    checker = _checker(public_key_file)
    unsigned = dataclasses.replace(decisions[0], decision_signature=None)
    with pytest.raises(DecisionRefusedError, match="unsigned"):
        checker.accept(unsigned)
    with pytest.raises(DecisionRefusedError, match="unsigned"):
        checker.accept(dataclasses.replace(decisions[0], sequence=None))
    rogue = Registry(tmp_path / "rogue", signing_key=Ed25519PrivateKey.generate())
    rogue.register(alarming_artifact, parent=None)
    with pytest.raises(DecisionRefusedError, match="not trusted here"):
        checker.accept(rogue.promote("v0001", mode="active"))
    # a rogue decision under the trusted key's id, signed with another key
    forged = dataclasses.replace(
        decisions[0],
        decision_signature=Ed25519PrivateKey.generate().sign(decision_message(decisions[0])),
    )
    with pytest.raises(DecisionRefusedError, match="signature does not match"):
        checker.accept(forged)
    assert checker.last_sequence == 0, "a refused decision moves nothing"


def test_a_forged_decision_for_the_next_version_does_not_block_the_genuine_one(
    decisions: list[ModelUpdate], public_key_file: Path
) -> None:
    checker = _checker(public_key_file)
    checker.accept(decisions[0])
    forged = dataclasses.replace(decisions[1], sequence=1000)  # claims to be far ahead
    with pytest.raises(DecisionRefusedError):
        checker.accept(forged)
    checker.accept(decisions[1])
    assert checker.last_sequence == 2


def test_a_v5_decision_survives_the_wire(
    decisions: list[ModelUpdate], public_key_file: Path
) -> None:
    codec = Codec()
    decoded = codec.decode(codec.encode(decisions[0]), ModelUpdate)
    assert decoded.sequence == 1
    _checker(public_key_file).accept(decoded)


def test_announcing_the_current_state_again_makes_new_decisions(
    decisions: list[ModelUpdate],
    registry: Registry,
    signing_key: Ed25519PrivateKey,
    alarming_artifact: Path,
    public_key_file: Path,
) -> None:
    """After an upgrade or a key change the edges need decisions they accept: the active
    model first, then its trials, numbered after everything before."""
    signing = Registry(registry.root, signing_key=signing_key)
    signing.register(alarming_artifact, parent="v0001")
    shadow = signing.promote("v0003", mode="shadow")
    again = signing.announce_current()
    assert [(d.model_version, d.rollout_mode) for d in again] == [
        ("v0001", "active"),
        ("v0003", "shadow"),
    ]
    checker = _checker(public_key_file)
    for decision in (*decisions, shadow, *again):
        checker.accept(decision)
    assert checker.last_sequence == 7
