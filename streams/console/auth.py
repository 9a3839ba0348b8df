"""Request guards: who is signed in, and whether a state-changing request carries the CSRF
token of that session. Every request looks its session up in the server-side store, so a
session ended by sign-out or a password change is refused at once. Pages send a browser
without a session to ``/login``; the API answers 401 without a session and 403 without the
token."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request

from streams.console.services import ConsoleServices, get_services
from streams.console.sessions import Session, tokens_match

__all__ = [
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "ApiSession",
    "CheckedSession",
    "PageSession",
    "Services",
    "client_address",
]

SESSION_COOKIE: Final = "leakguard_session"
LOGIN_COOKIE: Final = "leakguard_login"
CSRF_HEADER: Final = "X-CSRF-Token"

Services = Annotated[ConsoleServices, Depends(get_services)]


#: What a request without a peer address (none over a socket) is counted and logged as.
UNKNOWN_ADDRESS: Final = "unknown"


def client_address(request: Request) -> str:
    """The peer's address, for throttling and the audit log.

    The socket's peer; uvicorn puts ``X-Forwarded-For`` in its place only for a peer it
    trusts (``forwarded_allow_ips``, by default 127.0.0.1: a TLS proxy on the same host), so
    a client elsewhere cannot pick the address it is counted under.
    """
    return request.client.host if request.client is not None else UNKNOWN_ADDRESS


def _session(request: Request, services: ConsoleServices) -> Session | None:
    return services.sessions.read(request.cookies.get(SESSION_COOKIE))


def page_session(request: Request, services: Services) -> Session:
    """The session of a page request; a browser without one goes to the sign-in page."""
    session = _session(request, services)
    if session is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/login"})
    return session


def api_session(request: Request, services: Services) -> Session:
    """The session of an API request; 401 without one."""
    session = _session(request, services)
    if session is None:
        raise HTTPException(401, "sign in first")
    return session


def csrf_checked(request: Request, session: Annotated[Session, Depends(api_session)]) -> Session:
    """The session of a state-changing API request that echoes its CSRF token; else 403."""
    if not tokens_match(session.csrf, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    return session


PageSession = Annotated[Session, Depends(page_session)]
ApiSession = Annotated[Session, Depends(api_session)]
CheckedSession = Annotated[Session, Depends(csrf_checked)]
