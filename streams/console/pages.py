"""The console's HTML pages: sign-in and sign-out, the guard console, the overview.

Pages are server-rendered shells (Jinja2); the data comes from the API by script. The
sign-in form is protected against CSRF by a token bound to a short-lived signed cookie,
because no session exists yet to bind it to.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from streams.console.audit import SignInOutcome
from streams.console.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    PageSession,
    Services,
    client_address,
)
from streams.console.exceptions import AccountError, SignInThrottledError
from streams.console.services import ConsoleServices
from streams.console.sessions import tokens_match
from streams.console.verdicts import MEDIA_CLASSES

__all__ = ["router"]

router = APIRouter()
templates: Final = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _login_page(
    request: Request, services: ConsoleServices, *, error: str | None = None, status: int = 200
) -> Response:
    cookie, token = services.signer.login_token()
    context = {
        "checkpoint": services.checkpoint,
        "lanes": services.lane_choices(),
        "csrf": token,
        "error": error,
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status)
    response.set_cookie(
        LOGIN_COOKIE, cookie, httponly=True, samesite="strict", secure=services.secure_cookies
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: Services) -> Response:
    """The sign-in form: guard, password, lane."""
    return _login_page(request, services)


@router.post("/login")
def login(
    request: Request,
    services: Services,
    guard: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    lane: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    """Check the password and start a session at ``lane``; 401 (the form again) if wrong,
    429 with ``Retry-After`` while this name or address must wait (``throttle.py``)."""
    address = client_address(request)

    def audited(outcome: SignInOutcome) -> None:
        services.audit.sign_in(guard=guard, lane=lane, address=address, outcome=outcome)

    if not services.signer.check_login_token(request.cookies.get(LOGIN_COOKIE), csrf_token):
        audited("expired-form")
        return _login_page(request, services, error="The form expired; sign in again.", status=403)
    try:
        services.throttle.attempt(guard, address)
    except SignInThrottledError as exc:
        audited("throttled")
        error = "Too many wrong passwords; try again in a few minutes."
        response = _login_page(request, services, error=error, status=429)
        response.headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
        return response
    try:
        if lane not in services.lane_choices() or not services.guards.verify(guard, password):
            raise AccountError("wrong guard, password or lane")
        cookie, _ = services.sessions.start(guard=guard, lane=lane)  # refused if just removed
    except AccountError:
        audited("refused")
        return _login_page(request, services, error="Wrong guard, password or lane.", status=401)
    services.throttle.succeeded(guard, address)
    audited("ok")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(services.sessions.ttl_s),
        httponly=True,
        samesite="strict",
        secure=services.secure_cookies,
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: PageSession,
    services: Services,
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    """End the session: deleted server-side, so a copy of the cookie is refused too."""
    if not tokens_match(session.csrf, csrf_token):
        raise HTTPException(403, "missing or wrong csrf_token")
    services.sessions.end(request.cookies.get(SESSION_COOKIE))
    services.audit.sign_out(guard=session.guard, lane=session.lane, address=client_address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def console_page(request: Request, session: PageSession, services: Services) -> Response:
    """The guard's lane: live frame, alarm banner, actions, review queue."""
    context = {"session": session, "checkpoint": services.checkpoint, "classes": MEDIA_CLASSES}
    return templates.TemplateResponse(request, "console.html", context)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, session: PageSession, services: Services) -> Response:
    """The managers' overview: the dashboard panels."""
    context = {"session": session, "checkpoint": services.checkpoint}
    return templates.TemplateResponse(request, "overview.html", context)
