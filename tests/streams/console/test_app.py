"""The web application: no session no data, CSRF on every change, verdicts by the
signed-in guard, expiry, sign-out and password changes that end sessions, lanes, conflicts,
the outbox, HSTS over TLS. Real queue and sessions; the publisher is the recorder of
``conftest.py`` (the Kafka path is the browser test's)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.commands.console import console_app
from schemas.events import GuardVerdict
from streams.console.accounts import GuardStore
from streams.console.outbox import LEASE_S, VerdictOutbox
from streams.console.review_queue import ReviewQueue
from tests.streams.console.conftest import PASSWORD, Clock, Console, Published, sign_in
from tests.streams.console.helpers import png, two_alarms


def _alarm(console: Console, frame_id: str = "f1", *, lane: str = "1") -> int:
    console.services.queue.add_detection(two_alarms(frame_id, lane=lane), image=png())
    return next(i.id for i in console.services.queue.pending([lane]) if i.frame_id == frame_id)


VERDICT = {
    "rejected_object_ids": ["o2"],
    "missed_items": [{"class_name": "usb_pen", "box": [100, 70, 130, 110]}],
    "class_corrections": [{"object_id": "o1", "class_name": "tablet"}],
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/queue"),
        ("GET", "/api/events"),
        ("GET", "/api/overview"),
        ("GET", "/api/frames/1/image"),
        ("POST", "/api/frames/1/verdict"),
    ],
)
def test_the_api_refuses_a_request_without_a_session(
    console: Console, method: str, path: str
) -> None:
    _alarm(console)
    answer = console.client.request(method, path, json=VERDICT)
    assert answer.status_code == 401
    assert console.published.verdicts == []


@pytest.mark.parametrize("path", ["/", "/overview"])
def test_pages_send_a_browser_without_a_session_to_sign_in(console: Console, path: str) -> None:
    answer = console.client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_a_forged_session_cookie_is_refused(console: Console) -> None:
    console.client.cookies.set("leakguard_session", "eyJnIjoiYW5hIn0.forged.sig")
    assert console.client.get("/api/queue").status_code == 401


def test_a_wrong_password_does_not_sign_in(console: Console) -> None:
    form = console.client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = console.client.post(
        "/login", data={"guard": "ana", "password": "wrong", "lane": "1", "csrf_token": token}
    )
    assert answer.status_code == 401
    assert "leakguard_session" not in answer.cookies
    assert console.client.get("/api/queue").status_code == 401


def test_sign_in_needs_the_forms_own_token(console: Console) -> None:
    console.client.get("/login")
    answer = console.client.post(
        "/login", data={"guard": "ana", "password": PASSWORD, "lane": "1", "csrf_token": "x"}
    )
    assert answer.status_code == 403
    assert console.client.get("/api/queue").status_code == 401


def test_sign_in_to_a_lane_the_console_does_not_serve_is_refused(console: Console) -> None:
    form = console.client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = console.client.post(
        "/login", data={"guard": "ana", "password": PASSWORD, "lane": "9", "csrf_token": token}
    )
    assert answer.status_code == 401


def test_the_signed_in_guard_sees_the_alarm_of_their_lane(console: Console) -> None:
    _alarm(console, "mine", lane="1")
    _alarm(console, "theirs", lane="2")
    sign_in(console.client, "ana", lane="1")
    state = console.client.get("/api/queue").json()
    assert state["guard"] == "ana"
    assert state["lane"] == "1"
    assert [item["frame_id"] for item in state["pending"]] == ["mine"]
    item = state["pending"][0]
    assert item["alarmed"]
    assert [o["object_id"] for o in item["detection"]["objects"]] == ["o1", "o2", "o3"]
    image = console.client.get(item["image_url"])
    assert image.status_code == 200
    assert image.content == png()


def test_a_verdict_without_the_csrf_token_is_refused(console: Console) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    path = f"/api/frames/{item_id}/verdict"
    assert console.client.post(path, json=VERDICT).status_code == 403
    wrong = {"X-CSRF-Token": csrf[:-1] + ("a" if csrf[-1] != "a" else "b")}
    assert console.client.post(path, json=VERDICT, headers=wrong).status_code == 403
    assert console.published.verdicts == []
    assert len(console.services.queue.pending(["1"])) == 1


def test_a_verdict_carries_the_corrections_and_the_signed_in_guard(console: Console) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client, "ben")
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["guard_id"] == "ben"
    (verdict,) = console.published.verdicts
    assert verdict.guard_id == "ben"
    assert verdict.frame_id == "f1"
    assert verdict.rejected_object_ids == ("o2",)
    assert [(m.class_name, m.box.x1, m.box.y2) for m in verdict.missed_items] == [
        ("usb_pen", 100, 110)
    ]
    assert [(c.object_id, c.class_name) for c in verdict.class_corrections] == [("o1", "tablet")]
    assert verdict.decision == "confirmed"
    assert verdict.response_ms is None
    assert console.services.queue.pending(["1"]) == []
    again = console.client.post(
        f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
    )
    assert again.status_code == 409
    assert len(console.published.verdicts) == 1


def test_the_response_time_is_at_most_how_long_the_console_held_the_frame(
    console: Console,
) -> None:
    first, second, third = _alarm(console, "f1"), _alarm(console, "f2"), _alarm(console, "f3")
    csrf = sign_in(console.client)
    time.sleep(0.2)  # the console holds the frames this long at least: held >= 200 ms

    def answer(item_id: int, response_ms: int | None) -> object:
        body = {**VERDICT, "response_ms": response_ms}
        path = f"/api/frames/{item_id}/verdict"
        sent = console.client.post(path, json=body, headers={"X-CSRF-Token": csrf})
        assert sent.status_code == 200, sent.text
        return sent.json()["response_ms"]

    assert answer(first, 150) == 150
    held = answer(second, 10**9)
    assert isinstance(held, int)
    assert 200 <= held < 60_000
    assert answer(third, None) is None
    # The verdict on Kafka carries what was answered back, for the analytics.
    assert [v.response_ms for v in console.published.verdicts] == [150, held, None]


def test_a_negative_response_time_is_refused(console: Console) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict",
        json={**VERDICT, "response_ms": -1},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 422
    assert console.published.verdicts == []


def test_another_lanes_frame_can_be_neither_answered_nor_seen(console: Console) -> None:
    item_id = _alarm(console, lane="2")
    csrf = sign_in(console.client, lane="1")
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 403
    assert console.published.verdicts == []
    image = console.client.get(f"/api/frames/{item_id}/image")
    assert image.status_code == 403
    assert image.content != png()


def test_an_answer_that_does_not_fit_the_frame_is_refused_and_the_frame_stays(
    console: Console,
) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    bad = {"missed_items": [{"class_name": "usb", "box": [0, 0, 5000, 10]}]}
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json=bad, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 422
    assert "outside" in answer.json()["detail"]
    assert len(console.services.queue.pending(["1"])) == 1


@pytest.mark.parametrize(
    ("correction", "reason"),
    [
        ({"object_id": "o2", "class_name": "tablet"}, "no alarm left standing"),
        ({"object_id": "o3", "class_name": "tablet"}, "no alarm left standing"),
        ({"object_id": "o1", "class_name": "others"}, "must be one of"),
        ({"object_id": "o1", "class_name": "phone"}, "already"),
    ],
)
def test_a_class_correction_that_does_not_fit_the_frame_is_refused(
    console: Console, correction: dict[str, str], reason: str
) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict",
        json={**VERDICT, "class_corrections": [correction]},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    assert console.published.verdicts == []
    assert len(console.services.queue.pending(["1"])) == 1


def test_a_verdict_kafka_did_not_take_is_kept_and_sent_once_kafka_takes_it(
    console: Console,
) -> None:
    console.published.refusing = "timed out"
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivered"] is False
    assert console.services.queue.pending(["1"]) == []  # answered: stored, not lost
    (kept,) = console.services.queue.outbox()
    assert str(kept.event_id) == answer.json()["verdict_id"]
    assert console.services.outbox.drain() == 0  # Kafka still refuses: it stays
    console.published.refusing = None
    assert console.services.outbox.drain() == 1
    assert console.services.outbox.drain() == 0
    assert [v.event_id for v in console.published.verdicts] == [kept.event_id]
    assert console.services.queue.outbox() == []


class _Killed(Exception):
    """Stands for the console process dying: nothing after it runs."""


def test_a_console_killed_before_kafka_acknowledged_sends_the_verdict_after_a_restart(
    console: Console, tmp_path: Path
) -> None:
    def killed(verdict: GuardVerdict) -> None:
        raise _Killed  # the process dies while the producer waits for Kafka

    console.services.outbox = VerdictOutbox(queue=console.services.queue, publish=killed)
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    with pytest.raises(_Killed):
        console.client.post(
            f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
        )
    console.services.queue.close()
    # The restarted console: the same queue file, Kafka acknowledging. The dead sender's
    # lease has to run out first, so a live sender is never doubled.
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    restarted = Published()
    clock = Clock(now=time.time())
    outbox = VerdictOutbox(queue=queue, publish=restarted, clock=clock)
    assert outbox.drain() == 0
    clock.now += LEASE_S
    assert outbox.drain() == 1
    (verdict,) = restarted.verdicts
    assert (verdict.frame_id, verdict.guard_id, verdict.rejected_object_ids) == (
        "f1",
        "ana",
        ("o2",),
    )
    assert queue.outbox() == []
    assert queue.pending(["1"]) == []
    assert outbox.drain() == 0
    queue.close()
    console.services.queue = ReviewQueue(tmp_path / "queue.sqlite")  # the fixture closes it


def test_verdicts_sent_at_once_are_not_sent_again_by_the_retry_loop(console: Console) -> None:
    ids = [_alarm(console, f"f{n}") for n in range(3)]
    csrf = sign_in(console.client)
    stop = threading.Event()
    retries = threading.Thread(target=console.services.outbox.run, args=(stop,))
    retries.start()
    try:
        for item_id in ids:
            answer = console.client.post(
                f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
            )
            assert answer.status_code == 200
            assert answer.json()["delivered"] is True
            assert console.services.outbox.drain() == 0
    finally:
        stop.set()
        retries.join(10)
    assert [v.frame_id for v in console.published.verdicts] == ["f0", "f1", "f2"]
    assert console.services.queue.outbox() == []


def test_an_expired_session_is_refused(console: Console) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    console.clock.now += console.services.signer.ttl_s + 1
    assert console.client.get("/api/queue").status_code == 401
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 401
    assert console.published.verdicts == []


def test_sign_out_needs_the_token_and_ends_the_session(console: Console) -> None:
    csrf = sign_in(console.client)
    assert console.client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert console.client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert console.client.get("/api/queue").status_code == 401


def test_a_copy_of_the_cookie_is_refused_once_the_guard_signed_out(console: Console) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client)
    copied = console.client.cookies["leakguard_session"]
    assert console.client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with TestClient(console.client.app, follow_redirects=False) as thief:
        thief.cookies.set("leakguard_session", copied)
        assert thief.get("/api/queue").status_code == 401
        assert thief.get("/").status_code == 303
        answer = thief.post(
            f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 401
    assert console.published.verdicts == []


def test_a_new_password_ends_the_guard_s_sessions_on_the_running_console(
    console: Console, hasher: PasswordHasher
) -> None:
    item_id = _alarm(console)
    csrf = sign_in(console.client, "ana")
    with TestClient(console.client.app, follow_redirects=False) as ben:
        sign_in(ben, "ben")
        # `leakguard console add-guard ana --password NEW`: another process, the same file.
        GuardStore(console.services.guards.path, hasher=hasher).set_password("ana", "n3w-password")
        assert console.client.get("/api/queue").status_code == 401
        answer = console.client.post(
            f"/api/frames/{item_id}/verdict", json=VERDICT, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 401
        assert ben.get("/api/queue").status_code == 200
    assert console.published.verdicts == []


def test_a_removed_guard_is_signed_out(console: Console, hasher: PasswordHasher) -> None:
    sign_in(console.client, "ana")
    assert GuardStore(console.services.guards.path, hasher=hasher).remove("ana")
    assert console.client.get("/api/queue").status_code == 401


def test_over_tls_cookies_are_secure_and_hsts_is_sent(console: Console) -> None:
    assert "strict-transport-security" not in console.client.get("/login").headers
    console.services.secure_cookies = True
    form = console.client.get("/login")
    assert form.headers["strict-transport-security"] == "max-age=31536000"
    assert "secure" in form.headers["set-cookie"].lower()
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"guard": "ana", "password": PASSWORD, "lane": "1", "csrf_token": token}
    # The test client speaks plain HTTP and so would not send a Secure cookie back: post
    # the form's cookie by hand.
    login_cookie = form.cookies["leakguard_login"]
    console.client.cookies.clear()
    answer = console.client.post("/login", data=data, cookies={"leakguard_login": login_cookie})
    assert answer.status_code == 303
    session_cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "leakguard_session" in v
    )
    assert "secure" in session_cookie.lower()
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_pages_forbid_framing_and_foreign_scripts(console: Console) -> None:
    headers = console.client.get("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in headers["content-security-policy"]


def test_the_overview_without_analytics_says_why(console: Console) -> None:
    console.services.overview_error = "analytics store chdb unavailable: locked"
    sign_in(console.client)
    answer = console.client.get("/api/overview")
    assert answer.status_code == 503
    assert "locked" in answer.json()["detail"]


def test_add_guard_and_remove_guard_end_sessions_on_the_running_console(console: Console) -> None:
    guards_file = str(console.services.guards.path)
    runner = CliRunner()
    sign_in(console.client, "ana")
    with TestClient(console.client.app, follow_redirects=False) as ben:
        sign_in(ben, "ben")
        changed = runner.invoke(
            console_app,
            ["add-guard", "ana", "--password", "n3w-password", "--guards-file", guards_file],
        )
        assert changed.exit_code == 0, changed.output
        assert console.client.get("/api/queue").status_code == 401
        assert ben.get("/api/queue").status_code == 200
        removed = runner.invoke(console_app, ["remove-guard", "ben", "--guards-file", guards_file])
        assert removed.exit_code == 0, removed.output
        assert ben.get("/api/queue").status_code == 401
    again = runner.invoke(console_app, ["remove-guard", "ben", "--guards-file", guards_file])
    assert again.exit_code != 0
    assert "no guard 'ben'" in again.output
