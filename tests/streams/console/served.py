"""A console application served by real uvicorn on a free port, in a thread: for tests that
need real sockets (the browser, concurrent requests, client addresses)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

#: uvicorn starts in well under a second; a loaded machine gets room.
START_TIMEOUT_S = 30.0


@contextmanager
def served(app: FastAPI, *, stopping: threading.Event | None = None) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``app`` while the block runs; ``stopping`` is set first
    on the way out so live views end."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if stopping is not None:
            stopping.set()
        server.should_exit = True
        thread.join(10)
