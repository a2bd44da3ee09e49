"""Logging in with a token, and out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qlambda.dashboard.sessions import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Sessions,
    same_secret,
)
from qlambda.dashboard.web import FormDep, check_origin, read_form, render
from qlambda.gateway.auth import Authenticator

router = APIRouter()


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/login")
async def login_form(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    if sessions.get(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse("/ui/jobs", status_code=303)
    return _login_page(request, None, 200)


@router.post("/login")
async def login(request: Request) -> Response:
    check_origin(request)
    form = await read_form(request)
    if not same_secret(form.get("login_csrf"), request.cookies.get(LOGIN_COOKIE)):
        return _login_page(request, "the login form expired; please try again", 403)
    token = form.get("token", "").strip()
    if not token:
        return _login_page(request, "type your API token (from `qlambda users create`)", 401)
    authenticator: Authenticator = request.app.state.authenticator
    found = authenticator.user(f"Bearer {token}")
    if isinstance(found, str):
        return _login_page(request, found, 401)
    sessions: Sessions = request.app.state.sessions
    session = sessions.open(token, found.name)
    answer = RedirectResponse("/ui/jobs", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        session.id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    answer.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return answer


@router.post("/logout")
async def logout(request: Request, form: FormDep) -> RedirectResponse:
    sessions: Sessions = request.app.state.sessions
    sessions.close(request.cookies.get(SESSION_COOKIE))
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return answer


def _login_page(request: Request, error: str | None, status: int) -> HTMLResponse:
    """The form, with a fresh double-submit secret in a cookie and a hidden field."""
    secret = secrets.token_urlsafe(24)
    answer = render(request, "login.html", None, status, error=error, login_csrf=secret)
    answer.set_cookie(
        LOGIN_COOKIE,
        secret,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600,
    )
    return answer
