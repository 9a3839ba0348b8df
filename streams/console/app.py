"""The console's web application, assembled from its routers.

Every page and API call needs a session (``auth.py``); every request that changes state
also needs the session's CSRF token. Responses forbid framing and foreign scripts, so a page
elsewhere can neither overlay the console nor run code in it. Served over TLS
(``secure_cookies``), responses also carry HSTS, so a browser that has seen the console once
never again sends its session cookie, or anything else, over plain HTTP to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from streams.console import api, pages
from streams.console.services import ConsoleServices

__all__ = ["create_app"]

#: No script, style or frame from anywhere else; the page cannot be framed (clickjacking).
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: HTTPS only for a year (browsers' usual minimum for HSTS), the console's host alone: other
#: services on the checkpoint's hosts may still speak plain HTTP.
HSTS: Final = {"Strict-Transport-Security": "max-age=31536000"}


def create_app(services: ConsoleServices) -> FastAPI:
    """The FastAPI application of one console (one checkpoint)."""
    app = FastAPI(title="leakguard console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness for supervisors; it carries no data, so it needs no session."""
        return {"status": "ok"}

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if services.secure_cookies:
            response.headers.update(HSTS)
        return response

    return app
