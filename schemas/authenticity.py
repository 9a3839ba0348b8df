"""Who produced an event: an HMAC-SHA256 tag in the Kafka headers, keyed per producer.

Anyone who may produce to ``detections`` or ``guard.verdicts`` could otherwise speak for any
checkpoint: a forged verdict that reaches the outcome join before the guard's turns a real
USB stick into a false alarm (no alert, and an annotation that teaches it as ``others``).
So each producer tags the bytes it sends with its own key, and the consumers that act on
them (the cloud's join, the consoles) check the tag and that the producer may speak for the
event: an edge's key for the detections and rollout reports (``ModelStatus``) of its
checkpoint, a guard console's key for the verdicts of its checkpoint, the cloud worker's
(``cloud:*``) for the outcomes, alerts and annotation tasks the join decides.

A producer is named ``<role>:<checkpoint>`` (``edge:hq``, ``guard:hq``), or
``<role>:*`` for one that serves every checkpoint (an edge worker without ``--checkpoint``).
Keys are 32 random bytes or more, kept in a keyring file (JSON, principal -> base64 key,
readable by its owner only, like an SSH key): each process is given the keys it needs, a
producer its own, a consumer those of the producers it checks. HMAC keys are shared secrets,
so a consumer that holds a producer's key could also forge for it; the consumers here (the
cloud worker, a checkpoint's console) are trusted, the topics are not.

The tag covers the message value (the single-object Avro bytes, whose fingerprint names the
event type) behind a domain prefix; the principal travels in a second header. A replayed
message is a copy of a genuine event, which the join already treats as a duplicate.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, TypeAlias

from schemas.events import (
    Alert,
    Annotation,
    AnnotationTask,
    Detection,
    GuardVerdict,
    ModelStatus,
    Outcome,
    ScanFrame,
)
from schemas.exceptions import SchemaError

__all__ = [
    "MAC_HEADER",
    "PRINCIPAL_HEADER",
    "ROLE_OF",
    "AuthenticityError",
    "EventKeyring",
    "Headers",
    "Seal",
    "Tagger",
    "add_keys",
]

MAC_HEADER: Final[str] = "leakguard-mac"
PRINCIPAL_HEADER: Final[str] = "leakguard-principal"
#: Prefix of every tagged message; a new form of the tag gets a new tag.
_DOMAIN: Final[bytes] = b"leakguard.event-mac.v1\n"
#: Domain of the keys :class:`Seal` derives, and the length of its tags (SHA-256).
_SEAL_DOMAIN: Final[bytes] = b"leakguard.seal.v1\n"
_SEAL_TAG_BYTES: Final[int] = 32
#: Fewer random bytes than this is no key.
MIN_KEY_BYTES: Final[int] = 32
#: Which role may produce which event type: a scanner its frames, an edge its detections and
#: rollout reports, a guard console its verdicts, the cloud worker what the join decides, the
#: annotation bridge the annotations the detector is retrained on.
ROLE_OF: Final[Mapping[str, str]] = {
    "ScanFrame": "scanner",
    "Detection": "edge",
    "ModelStatus": "edge",
    "GuardVerdict": "guard",
    "Outcome": "cloud",
    "Alert": "cloud",
    "AnnotationTask": "cloud",
    "Annotation": "annotator",
}
#: Any checkpoint, in a principal's name.
ANY_CHECKPOINT: Final[str] = "*"

#: Kafka headers as clients give them: pairs (confluent-kafka, aiokafka) or a mapping.
Headers: TypeAlias = Sequence[tuple[str, bytes | None]] | Mapping[str, bytes | None] | None
AuthenticEvent: TypeAlias = (
    ScanFrame
    | Detection
    | GuardVerdict
    | ModelStatus
    | Outcome
    | Alert
    | AnnotationTask
    | Annotation
)
#: A producer's tagging function: the headers for one value it sends.
Tagger: TypeAlias = Callable[[bytes], list[tuple[str, bytes]]]


class AuthenticityError(SchemaError):
    """An event is not from a producer allowed to send it (no tag, unknown producer, a tag
    that does not match, a producer speaking for another checkpoint), or a keyring is
    unusable."""


def _header(headers: Headers, name: str) -> bytes | None:
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found = [value for key, value in pairs if key == name]
    if len(found) > 1:
        raise AuthenticityError(f"the message carries {name} {len(found)} times")
    return found[0] if found else None


def _tag(key: bytes, value: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + value, hashlib.sha256).digest()


class EventKeyring:
    """Producer keys by principal; tags what a producer sends and checks what arrives."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        for principal, key in keys.items():
            role, _, checkpoint = principal.partition(":")
            if role not in ROLE_OF.values() or not checkpoint:
                raise AuthenticityError(
                    f"{principal!r} is no producer: expected one of "
                    f"{', '.join(sorted(set(ROLE_OF.values())))} ':' a checkpoint or '*'"
                )
            if len(key) < MIN_KEY_BYTES:
                raise AuthenticityError(
                    f"the key of {principal} is shorter than {MIN_KEY_BYTES} bytes"
                )
        self._keys = dict(keys)

    @classmethod
    def load(cls, path: Path | str) -> EventKeyring:
        """The keyring file at ``path``; refused when others may read it."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text()
        except OSError as exc:
            raise AuthenticityError(f"cannot read the keyring {path}: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthenticityError(
                f"the keyring {path} is readable by others (mode {stat.S_IMODE(mode):o});"
                " chmod 600 it"
            )
        try:
            data = json.loads(text)
            keys = {str(p): base64.b64decode(k, validate=True) for p, k in data.items()}
        except (ValueError, TypeError, AttributeError, binascii.Error) as exc:
            raise AuthenticityError(
                f"the keyring {path} is not a JSON object of base64 keys: {exc}"
            ) from exc
        return cls(keys)

    @property
    def principals(self) -> frozenset[str]:
        """The producers this keyring holds keys of."""
        return frozenset(self._keys)

    def tagger(self, role: str, checkpoint: str | None) -> Tagger:
        """What a producer of ``role`` for ``checkpoint`` (None: every checkpoint) calls on
        each value it sends for its headers; raises at once, at the producer's start rather
        than at its first event, when the keyring has no key for it."""
        principal = f"{role}:{checkpoint or ANY_CHECKPOINT}"
        if principal not in self._keys:
            raise AuthenticityError(f"the keyring has no key for {principal}")
        return functools.partial(self.headers, principal)

    def seal(self, role: str, checkpoint: str | None, purpose: str) -> Seal:
        """The :class:`Seal` of a producer's own state for ``purpose``; raises, like
        :meth:`tagger`, when the keyring has no key for the producer."""
        principal = f"{role}:{checkpoint or ANY_CHECKPOINT}"
        if principal not in self._keys:
            raise AuthenticityError(f"the keyring has no key for {principal}")
        return Seal(self._keys[principal], purpose)

    def headers(self, principal: str, value: bytes) -> list[tuple[str, bytes]]:
        """The headers that tag ``value`` as produced by ``principal``."""
        key = self._keys.get(principal)
        if key is None:
            raise AuthenticityError(f"the keyring has no key for {principal}")
        return [(PRINCIPAL_HEADER, principal.encode()), (MAC_HEADER, _tag(key, value))]

    def check(self, event: AuthenticEvent, value: bytes, headers: Headers) -> str:
        """The principal that produced ``event`` (decoded from ``value``), or
        :class:`AuthenticityError` saying why it cannot be trusted."""
        return self.verify(type(event).__name__, event.checkpoint, value, headers)

    def verify(self, kind: str, checkpoint: str, value: bytes, headers: Headers) -> str:
        """:meth:`check` for a consumer that decodes records, not events: ``kind`` is the
        event type's name and ``checkpoint`` the record's."""
        what = f"{kind} of {checkpoint[:60]!r}"
        raw_principal = _header(headers, PRINCIPAL_HEADER)
        tag = _header(headers, MAC_HEADER)
        if raw_principal is None or tag is None:
            raise AuthenticityError(f"{what} carries no producer tag")
        principal = raw_principal.decode(errors="replace")
        key = self._keys.get(principal)
        if key is None:
            raise AuthenticityError(f"{what} claims producer {principal[:60]!r}, unknown here")
        if not hmac.compare_digest(tag, _tag(key, value)):
            raise AuthenticityError(f"{what}: the tag of {principal} does not match")
        role, _, speaks_for = principal.partition(":")
        if ROLE_OF.get(kind) != role:
            raise AuthenticityError(f"{what} comes from {principal}, which may not send it")
        if speaks_for not in (ANY_CHECKPOINT, checkpoint):
            raise AuthenticityError(f"{what} comes from {principal}, another checkpoint's")
        return principal


class Seal:
    """Tags bytes a process writes for itself to read back (its state in a changelog topic,
    which anyone with produce rights could write to): :meth:`seal` prefixes an HMAC under a
    key derived from the process's producer key and ``purpose``, :meth:`open` checks and
    strips it."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hmac.new(key, _SEAL_DOMAIN + purpose.encode(), hashlib.sha256).digest()
        self._purpose = purpose

    def tag(self, data: bytes) -> bytes:
        """The 32-byte tag of ``data``: also a value only the key's holder can compute."""
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def seal(self, data: bytes) -> bytes:
        """``data`` with its tag in front."""
        return self.tag(data) + data

    def open(self, sealed: bytes) -> bytes:
        """The data ``sealed`` holds, or :class:`AuthenticityError` when its tag is wrong."""
        tag, data = sealed[:_SEAL_TAG_BYTES], sealed[_SEAL_TAG_BYTES:]
        if len(tag) < _SEAL_TAG_BYTES or not hmac.compare_digest(tag, self.tag(data)):
            raise AuthenticityError(f"a {self._purpose} entry whose tag does not match")
        return data


def add_keys(path: Path | str, principals: Iterable[str]) -> list[str]:
    """Add a fresh random key for each of ``principals`` to the keyring at ``path`` (created
    with mode 0600 when absent); a principal that has a key keeps it. Returns those added."""
    path = Path(path)
    current: dict[str, bytes] = {}
    if path.exists():
        current = dict(EventKeyring.load(path)._keys)
    added = [p for p in dict.fromkeys(principals) if p not in current]
    updated = {**current, **{p: secrets.token_bytes(MIN_KEY_BYTES) for p in added}}
    EventKeyring(updated)  # names checked before anything is written
    text = json.dumps(
        {p: base64.b64encode(k).decode() for p, k in sorted(updated.items())}, indent=2
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    os.replace(staging, path)
    return added
