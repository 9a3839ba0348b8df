"""Sign-in throttling: five wrong passwords lock one name for a while, not the others."""

from __future__ import annotations

from streams.console.throttle import SignInThrottle
from tests.streams.console.conftest import PASSWORD, Clock, Console


def test_the_fifth_failure_blocks_the_name_until_the_window_passes() -> None:
    clock = Clock()
    throttle = SignInThrottle(max_failures=5, window_s=300, clock=clock)
    for _ in range(4):
        throttle.failed("ana")
    assert not throttle.blocked("ana")
    throttle.failed("ana")
    assert throttle.blocked("ana")
    assert not throttle.blocked("ben")
    clock.now += 299
    assert throttle.blocked("ana")
    clock.now += 2
    assert not throttle.blocked("ana")


def test_a_correct_sign_in_clears_the_count() -> None:
    throttle = SignInThrottle(max_failures=2)
    throttle.failed("ana")
    throttle.succeeded("ana")
    throttle.failed("ana")
    assert not throttle.blocked("ana")


def _post(console: Console, guard: str, password: str) -> int:
    form = console.client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"guard": guard, "password": password, "lane": "1", "csrf_token": token}
    return console.client.post("/login", data=data).status_code


def test_guessing_a_password_is_refused_even_when_the_guess_is_right(console: Console) -> None:
    statuses = [_post(console, "ana", f"guess-{n}") for n in range(5)]
    assert statuses == [401] * 5
    assert _post(console, "ana", PASSWORD) == 429
    assert console.client.get("/api/queue").status_code == 401
    assert _post(console, "ben", PASSWORD) == 303
