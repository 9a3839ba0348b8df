"""Fixtures of the console tests: cheap password hashing, a console application on real
local parts (SQLite queue and outbox, SQLite sessions, the audit file) with a controllable
clock, and a test client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from schemas.events import GuardVerdict
from streams.console.accounts import GuardStore
from streams.console.app import create_app
from streams.console.audit import AuditLog
from streams.console.exceptions import PublishError
from streams.console.feed import Changes
from streams.console.outbox import VerdictOutbox
from streams.console.review_queue import ReviewQueue
from streams.console.services import ConsoleServices
from streams.console.session_store import SessionStore
from streams.console.sessions import SessionSigner

PASSWORD = "correct horse battery"


@pytest.fixture
def hasher() -> PasswordHasher:
    """argon2id with the smallest parameters: the tests check logic, not hashing cost."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Clock:
    """Seconds since the epoch that a test moves forward by hand."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Published:
    """Verdicts the application handed to Kafka's publisher, in order; while ``refusing``
    names a reason, Kafka "does not acknowledge" (:class:`PublishError`)."""

    verdicts: list[GuardVerdict] = field(default_factory=list)
    refusing: str | None = None

    def __call__(self, verdict: GuardVerdict) -> None:
        if self.refusing is not None:
            raise PublishError(f"verdict not recorded by Kafka ({self.refusing}); try again")
        self.verdicts.append(verdict)


@dataclass
class Console:
    """A console application and what it talks to."""

    services: ConsoleServices
    client: TestClient
    clock: Clock
    published: Published
    audit_path: Path


def console_services(
    tmp_path: Path, hasher: PasswordHasher, clock: Clock, published: Published
) -> ConsoleServices:
    """Services of a console for checkpoint ``hq`` lanes 1 and 2 with guards ``ana`` and
    ``ben``, its state under ``tmp_path`` and the verdicts recorded by ``published``."""
    guards = GuardStore(tmp_path / "guards.json", hasher=hasher)
    guards.set_password("ana", PASSWORD)
    guards.set_password("ben", PASSWORD)
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    signer = SessionSigner(b"k" * 32, checkpoint="hq", ttl_s=3600, clock=clock)
    return ConsoleServices(
        checkpoint="hq",
        lanes=("1", "2"),
        guards=guards,
        signer=signer,
        sessions=SessionStore(
            tmp_path / "sessions.sqlite", signer=signer, credentials=guards.credential, clock=clock
        ),
        queue=queue,
        changes=Changes(),
        outbox=VerdictOutbox(queue=queue, publish=published, clock=clock),
        audit=AuditLog(tmp_path / "audit.jsonl", checkpoint="hq", clock=clock),
    )


@pytest.fixture
def console(tmp_path: Path, hasher: PasswordHasher) -> Iterator[Console]:
    """A console for checkpoint ``hq`` lanes 1 and 2 with guards ``ana`` and ``ben``."""
    clock = Clock()
    published = Published()
    services = console_services(tmp_path, hasher, clock, published)
    with TestClient(create_app(services), follow_redirects=False) as client:
        yield Console(services, client, clock, published, tmp_path / "audit.jsonl")
    services.sessions.close()
    services.queue.close()


def sign_in(client: TestClient, guard: str = "ana", *, lane: str = "1") -> str:
    """Sign ``guard`` in at ``lane`` through the form; returns the session's CSRF token."""
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login", data={"guard": guard, "password": PASSWORD, "lane": lane, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    return page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
