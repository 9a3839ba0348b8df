"""Fixtures of the console tests: cheap password hashing, a console application on real
local parts (SQLite queue, signed sessions) with a controllable clock, and a test client."""

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
from streams.console.feed import Changes
from streams.console.review_queue import ReviewQueue
from streams.console.services import ConsoleServices
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
    """Verdicts the application handed to Kafka's publisher, in order."""

    verdicts: list[GuardVerdict] = field(default_factory=list)

    def __call__(self, verdict: GuardVerdict) -> None:
        self.verdicts.append(verdict)


@dataclass
class Console:
    """A console application and what it talks to."""

    services: ConsoleServices
    client: TestClient
    clock: Clock
    published: Published


@pytest.fixture
def console(tmp_path: Path, hasher: PasswordHasher) -> Iterator[Console]:
    """A console for checkpoint ``hq`` lanes 1 and 2 with guards ``ana`` and ``ben``."""
    guards = GuardStore(tmp_path / "guards.json", hasher=hasher)
    guards.set_password("ana", PASSWORD)
    guards.set_password("ben", PASSWORD)
    clock = Clock()
    published = Published()
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    services = ConsoleServices(
        checkpoint="hq",
        lanes=("1", "2"),
        guards=guards,
        signer=SessionSigner(b"k" * 32, checkpoint="hq", ttl_s=3600, clock=clock),
        queue=queue,
        changes=Changes(),
        publish=published,
    )
    with TestClient(create_app(services), follow_redirects=False) as client:
        yield Console(services, client, clock, published)
    queue.close()


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
