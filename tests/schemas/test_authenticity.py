"""Producer tags: an event is trusted only from a producer whose key tags its exact bytes and
who may speak for its checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from schemas import Codec
from schemas.authenticity import (
    MAC_HEADER,
    PRINCIPAL_HEADER,
    AuthenticityError,
    EventKeyring,
    add_keys,
)
from schemas.events import Detection, GuardVerdict, ModelStatus
from tests.streams.helpers import detection as any_detection
from tests.streams.helpers import verdict as verdict_on

CODEC = Codec()


def detection(*, checkpoint: str) -> Detection:
    return dataclasses.replace(any_detection(), checkpoint=checkpoint)


def verdict(*, checkpoint: str, decision: str = "confirmed") -> GuardVerdict:
    return verdict_on(detection(checkpoint=checkpoint), decision=decision)


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "keyring.json"
    add_keys(path, ["edge:hq", "guard:hq", "edge:lab", "edge:*"])
    return path


@pytest.fixture
def keyring(keyring_file: Path) -> EventKeyring:
    return EventKeyring.load(keyring_file)


def _tagged(
    keyring: EventKeyring, principal: str, event: Detection | GuardVerdict | ModelStatus
) -> tuple[bytes, list[tuple[str, bytes]]]:
    value = CODEC.encode(event)
    return value, keyring.headers(principal, value)


def test_a_tagged_event_of_its_own_checkpoint_is_accepted(keyring: EventKeyring) -> None:
    seen = detection(checkpoint="hq")
    assert keyring.check(seen, *_tagged(keyring, "edge:hq", seen)) == "edge:hq"
    answer = verdict(checkpoint="hq")
    value, headers = _tagged(keyring, "guard:hq", answer)
    assert keyring.check(answer, value, dict(headers)) == "guard:hq"  # mapping form too
    assert keyring.check(seen, *_tagged(keyring, "edge:*", seen)) == "edge:*"


def test_an_untagged_event_is_refused(keyring: EventKeyring) -> None:
    seen = detection(checkpoint="hq")
    for headers in (None, [], [(PRINCIPAL_HEADER, b"edge:hq")]):
        with pytest.raises(AuthenticityError, match="no producer tag"):
            keyring.check(seen, CODEC.encode(seen), headers)


def test_an_altered_event_is_refused(keyring: EventKeyring) -> None:
    """The guard's 'confirmed' turned into 'cleared' on the way: the tag no longer fits."""
    answer = verdict(checkpoint="hq", decision="confirmed")
    _, headers = _tagged(keyring, "guard:hq", answer)
    altered = verdict(checkpoint="hq", decision="cleared")
    with pytest.raises(AuthenticityError, match="does not match"):
        keyring.check(altered, CODEC.encode(altered), headers)


def test_a_tag_made_with_another_key_is_refused(keyring: EventKeyring, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    add_keys(other, ["guard:hq"])
    answer = verdict(checkpoint="hq")
    value, headers = _tagged(EventKeyring.load(other), "guard:hq", answer)
    with pytest.raises(AuthenticityError, match="does not match"):
        keyring.check(answer, value, headers)


def test_a_producer_may_speak_only_for_its_role_and_checkpoint(keyring: EventKeyring) -> None:
    answer = verdict(checkpoint="hq")
    with pytest.raises(AuthenticityError, match="may not send it"):
        keyring.check(answer, *_tagged(keyring, "edge:hq", answer))  # an edge as a guard
    seen = detection(checkpoint="hq")
    with pytest.raises(AuthenticityError, match="another checkpoint's"):
        keyring.check(seen, *_tagged(keyring, "edge:lab", seen))
    with pytest.raises(AuthenticityError, match="unknown here"):
        keyring.check(seen, CODEC.encode(seen), [(PRINCIPAL_HEADER, b"edge:x"), (MAC_HEADER, b"0")])


def test_a_header_given_twice_is_refused(keyring: EventKeyring) -> None:
    seen = detection(checkpoint="hq")
    value, headers = _tagged(keyring, "edge:hq", seen)
    with pytest.raises(AuthenticityError, match="2 times"):
        keyring.check(seen, value, [*headers, (PRINCIPAL_HEADER, b"edge:lab")])


def test_a_producer_must_hold_its_own_key(keyring: EventKeyring) -> None:
    value = CODEC.encode(detection(checkpoint="hq"))
    assert keyring.tagger("edge", "hq")(value) == keyring.headers("edge:hq", value)
    assert keyring.tagger("edge", None)(value) == keyring.headers("edge:*", value)
    with pytest.raises(AuthenticityError, match="no key for guard:lab"):
        keyring.tagger("guard", "lab")


def test_add_keys_keeps_existing_keys_and_the_file_private(keyring_file: Path) -> None:
    before = json.loads(keyring_file.read_text())
    assert add_keys(keyring_file, ["edge:hq", "guard:lab"]) == ["guard:lab"]
    after = json.loads(keyring_file.read_text())
    assert {k: after[k] for k in before} == before
    assert os.stat(keyring_file).st_mode & 0o777 == 0o600
    with pytest.raises(AuthenticityError, match="is no producer"):
        add_keys(keyring_file, ["cloud"])
    assert json.loads(keyring_file.read_text()) == after


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ('{"edge:hq": "c2hvcnQ="}', 0o600, "shorter than 32 bytes"),
        ("[1, 2]", 0o600, "not a JSON object"),
        ('{"edge:hq": "not base64!"}', 0o600, "not a JSON object"),
        ('{"edge:hq": "' + "A" * 44 + '"}', 0o644, "readable by others"),
    ],
)
def test_an_unusable_keyring_is_refused(tmp_path: Path, text: str, mode: int, message: str) -> None:
    path = tmp_path / "ring.json"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(AuthenticityError, match=message):
        EventKeyring.load(path)


def test_an_edge_s_rollout_report_is_its_own_and_no_guard_s(keyring: EventKeyring) -> None:
    report = ModelStatus(checkpoint="hq", worker_id="e1", model_version="v2", state="active")
    assert keyring.check(report, *_tagged(keyring, "edge:hq", report)) == "edge:hq"
    with pytest.raises(AuthenticityError, match="may not send it"):
        keyring.check(report, *_tagged(keyring, "guard:hq", report))
    everywhere = dataclasses.replace(report, checkpoint="*")  # an edge serving every checkpoint
    assert keyring.check(everywhere, *_tagged(keyring, "edge:*", everywhere)) == "edge:*"
    with pytest.raises(AuthenticityError, match="another checkpoint's"):
        keyring.check(everywhere, *_tagged(keyring, "edge:hq", everywhere))
