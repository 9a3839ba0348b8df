"""Sign-in throttling: each (name, address) and each address fail a few times freely, then
wait twice as long after every failure; guessing from one machine never locks a guard out
at another, made-up names cannot wash out a count, and concurrent guesses on the real server
cannot pass the limit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from streams.console.app import create_app
from streams.console.exceptions import SignInThrottledError
from streams.console.throttle import (
    FREE_FAILURES_PER_ADDRESS,
    FREE_FAILURES_PER_NAME,
    MAX_DELAY_S,
    MAX_NAMES_PER_ADDRESS,
    SignInThrottle,
)
from tests.streams.console.conftest import PASSWORD, Clock, Console, Published, console_services
from tests.streams.console.served import served

ATTACKER, GUARD = "10.0.0.66", "10.0.0.7"


def _wait_s(throttle: SignInThrottle, name: str, address: str) -> float:
    """0 when an attempt may go ahead (and is then counted), else the wait it was told."""
    try:
        throttle.attempt(name, address)
    except SignInThrottledError as exc:
        return exc.retry_after_s
    return 0.0


def test_after_the_free_failures_each_failure_doubles_the_wait() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    assert [_wait_s(throttle, "ana", ATTACKER) for _ in range(FREE_FAILURES_PER_NAME)] == [0.0] * 3
    waits = []
    for _ in range(4):
        wait_s = _wait_s(throttle, "ana", ATTACKER)
        waits.append(wait_s)
        clock.now += wait_s
        assert _wait_s(throttle, "ana", ATTACKER) == 0.0  # counted: the next wait doubles
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_the_wait_is_capped_and_an_hour_without_failures_starts_over() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    for _ in range(40):
        clock.now += _wait_s(throttle, "ana", ATTACKER) or 0.001
    assert _wait_s(throttle, "ana", ATTACKER) <= MAX_DELAY_S
    clock.now += 3600 + MAX_DELAY_S
    assert [_wait_s(throttle, "ana", ATTACKER) for _ in range(3)] == [0.0] * 3


def test_guesses_from_one_address_do_not_block_the_guard_at_hers() -> None:
    throttle = SignInThrottle(clock=Clock())
    for _ in range(50):
        _wait_s(throttle, "ana", ATTACKER)
    assert _wait_s(throttle, "ana", ATTACKER) > 0
    assert _wait_s(throttle, "ana", GUARD) == 0.0


def test_a_right_password_clears_the_name_but_not_the_address() -> None:
    throttle = SignInThrottle(clock=Clock())
    for _ in range(FREE_FAILURES_PER_NAME - 1):
        throttle.attempt("ana", ATTACKER)
    throttle.attempt("ana", ATTACKER)
    throttle.succeeded("ana", ATTACKER)
    assert [_wait_s(throttle, "ana", ATTACKER) for _ in range(3)] == [0.0] * 3
    # The address has failed 5 times: names tried from it share its budget.
    names = [f"name-{n}" for n in range(FREE_FAILURES_PER_ADDRESS)]
    assert sum(_wait_s(throttle, name, ATTACKER) == 0.0 for name in names) == 5


def test_made_up_names_cannot_wash_out_a_count() -> None:
    throttle = SignInThrottle(clock=Clock())
    while _wait_s(throttle, "ana", ATTACKER) == 0.0:
        pass
    for n in range(10_000):
        _wait_s(throttle, f"made-up-{n}", ATTACKER)
    assert _wait_s(throttle, "ana", ATTACKER) > 0
    assert _wait_s(throttle, "ana", GUARD) == 0.0


class _SignIn:
    """One browser's sign-in form, posted again and again: every answer that shows the form
    again sets a new form token, which the next post sends."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._token = _form_token(self.client.get("/login").text)

    def post(self, guard: str, password: str) -> httpx.Response:
        data = {"guard": guard, "password": password, "lane": "1", "csrf_token": self._token}
        answer = self.client.post("/login", data=data)
        if 'name="csrf_token"' in answer.text:
            self._token = _form_token(answer.text)
        return answer


def _form_token(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_guessing_from_one_machine_neither_passes_nor_locks_the_guard_out(
    console: Console,
) -> None:
    app = console.client.app
    with (
        TestClient(app, client=(ATTACKER, 40000), follow_redirects=False) as attacker_client,
        TestClient(app, client=(GUARD, 40000), follow_redirects=False) as guard_client,
    ):
        attacker = _SignIn(attacker_client)
        statuses = [attacker.post("ana", f"guess-{n}").status_code for n in range(6)]
        assert statuses == [401] * FREE_FAILURES_PER_NAME + [429] * 3
        refused = attacker.post("ana", PASSWORD)
        assert refused.status_code == 429  # even the right guess, while it must wait
        assert int(refused.headers["retry-after"]) >= 1
        assert _SignIn(guard_client).post("ana", PASSWORD).status_code == 303
        assert guard_client.get("/api/queue").status_code == 200


@pytest.mark.slow
def test_a_flood_of_made_up_names_does_not_wash_out_the_count(console: Console) -> None:
    """Twenty times the names an address may hold: the table evicts the attacker's own."""
    with TestClient(console.client.app, client=(ATTACKER, 40000), follow_redirects=False) as client:
        attacker = _SignIn(client)
        for n in range(5):
            attacker.post("ana", f"guess-{n}")
        for n in range(20 * MAX_NAMES_PER_ADDRESS):
            attacker.post(f"made-up-{n}", "guess")
        assert attacker.post("ana", PASSWORD).status_code == 429


def test_concurrent_guesses_on_the_real_server_cannot_pass_the_limit(tmp_path: Path) -> None:
    """Real argon2 cost and a real server: the guesses verify in parallel, so a check made
    apart from the count would let every one of them through."""
    services = console_services(tmp_path, PasswordHasher(), Clock(), Published())
    guesses = 16
    ready = threading.Barrier(guesses)

    def guess(url: str, n: int) -> int:
        with httpx.Client(base_url=url) as client:
            token = _form_token(client.get("/login").text)
            data = {"guard": "ana", "password": f"guess-{n}", "lane": "1", "csrf_token": token}
            ready.wait(timeout=30)
            return client.post("/login", data=data).status_code

    with served(create_app(services), stopping=services.stopping) as url:
        with ThreadPoolExecutor(max_workers=guesses) as pool:
            statuses = list(pool.map(lambda n: guess(url, n), range(guesses)))
        # Ana, at another machine (127.0.0.2 is this host too), still signs in.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=url, transport=transport) as ana:
            token = _form_token(ana.get("/login").text)
            data = {"guard": "ana", "password": PASSWORD, "lane": "1", "csrf_token": token}
            signed_in = ana.post("/login", data=data)
    services.sessions.close()
    services.queue.close()
    assert sorted(statuses) == [401] * FREE_FAILURES_PER_NAME + [429] * (
        guesses - FREE_FAILURES_PER_NAME
    )
    assert signed_in.status_code == 303
