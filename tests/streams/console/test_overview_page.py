"""The managers' overview in Chromium: on an empty store every panel says what
will appear there; the first minutes of a run read as curves in seconds-long buckets; text
meets WCAG AA contrast.

The console application runs in-process (uvicorn in a thread) on embedded chdb seeded with
the sinks' own sample events, so the page runs the real panel SQL without a broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect

from sinks.clickhouse.backend import ChdbBackend
from sinks.clickhouse.migrations import apply_migrations
from sinks.dashboards.overview import LockedBackend, overview_source
from sinks.dashboards.panels import PANELS
from streams.console.accounts import GuardStore
from streams.console.app import create_app
from streams.console.audit import AuditLog
from streams.console.feed import Changes
from streams.console.outbox import VerdictOutbox
from streams.console.review_queue import ReviewQueue
from streams.console.services import ConsoleServices
from streams.console.session_store import SessionStore
from streams.console.sessions import SessionSigner
from tests.sinks.conftest import chdb_backend
from tests.sinks.seeding import seed_recent
from tests.streams.console.browser import LOW_CONTRAST_JS, browser
from tests.streams.console.conftest import PASSWORD, Published
from tests.streams.console.served import served

__all__ = ["browser", "chdb_backend"]  # fixtures, imported to be used here

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def overview_url(
    chdb_backend: ChdbBackend, tmp_path: Path, hasher: PasswordHasher
) -> Iterator[str]:
    """The console application on ``chdb_backend`` (migrated, empty), served on a free port."""
    apply_migrations(chdb_backend)
    guards = GuardStore(tmp_path / "guards.json", hasher=hasher)
    guards.set_password("manager", PASSWORD)
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    signer = SessionSigner(b"k" * 32, checkpoint="hq", ttl_s=3600)
    services = ConsoleServices(
        checkpoint="hq", lanes=("1",), guards=guards, signer=signer,
        sessions=SessionStore(
            tmp_path / "sessions.sqlite", signer=signer, credentials=guards.credential
        ),
        queue=queue, changes=Changes(),
        outbox=VerdictOutbox(queue=queue, publish=Published()),
        audit=AuditLog(tmp_path / "audit.jsonl", checkpoint="hq"),
        overview=overview_source(LockedBackend(chdb_backend)),
    )  # fmt: skip
    try:
        with served(create_app(services), stopping=services.stopping) as url:
            yield url
    finally:
        services.sessions.close()
        queue.close()


def _open(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url + "/login")
    page.fill("input[name=guard]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(url + "/overview")
    expect(page.locator("#updated")).to_contain_text("Last update")
    return page


def test_every_empty_panel_says_what_will_appear_there(browser: Browser, overview_url: str) -> None:
    page = _open(browser, overview_url)
    for panel in PANELS:
        if panel.visualisation == "stat":
            continue  # a count: zero is its answer
        section = page.locator(f'section.panel[data-title="{panel.title}"]')
        expect(section.locator(".empty")).to_have_text(panel.empty)
    expect(page.locator("#per-class .empty")).to_contain_text("once guards have answered")
    assert page.evaluate(LOW_CONTRAST_JS) == []


def test_the_first_minutes_of_a_run_read_as_curves(
    browser: Browser, overview_url: str, chdb_backend: ChdbBackend
) -> None:
    seed_recent(chdb_backend, frames=40, end=datetime.now(UTC))  # under 5 min of data
    page = _open(browser, overview_url)
    throughput = page.locator('section.panel[data-title="Checkpoint throughput"]')
    expect(throughput.locator(".hint")).to_contain_text("Per 10 s.")
    points = throughput.locator("svg circle")
    expect(points.first).to_be_visible()
    assert points.count() > 20
    # Counts: one line per checkpoint through every bucket, the empty ones at zero.
    lines = throughput.locator("svg polyline")
    expect(lines).to_have_count(2)
    vertices = lines.first.get_attribute("points")
    assert vertices is not None
    assert len(vertices.split()) >= 28
    assert page.evaluate(LOW_CONTRAST_JS) == []
