"""What every dashboard page shares: the templates, who is looking, the CSRF check, and
``mount``, which adds the dashboard to the API's application.

Pages are rendered on the server (Jinja2, autoescaped); the few lines of JavaScript
that make them live are static files. Whoever has no session is sent to the login
form; every POST must carry the session's CSRF secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from qlambda import __version__
from qlambda.dashboard import charts
from qlambda.dashboard.security import SecurityHeaders
from qlambda.dashboard.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    Sessions,
    same_secret,
)
from qlambda.gateway.auth import Authenticator, User
from qlambda.platform import Platform

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["clock"] = lambda ts: "" if ts is None else charts.clock(ts)
templates.env.filters["seconds"] = lambda s: "" if s is None else charts.seconds_text(s)
templates.env.filters["short"] = lambda v: f"{v:.4g}" if isinstance(v, float) else v
templates.env.globals["version"] = __version__
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No session, or its token no longer works: the login form, then back here."""


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page, with their session (its CSRF secret goes into forms)."""

    user: User
    session: Session

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def viewer(request: Request) -> Viewer:
    sessions: Sessions = request.app.state.sessions
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired()
    authenticator: Authenticator = request.app.state.authenticator
    found = authenticator.user(f"Bearer {session.token}")
    if isinstance(found, str):  # revoked or expired since the login
        sessions.close(session.id)
        raise LoginRequired()
    return Viewer(found, session)


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (the dashboard's forms post nothing else)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PageError(400, f"the form could not be read: {exc}") from None


def check_origin(request: Request) -> None:
    """A state-changing request must come from a page of this server (when the browser
    says where it comes from)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(403, "this request came from another site's page; it was refused")


async def checked_form(request: Request, who: ViewerDep) -> dict[str, str]:
    """The form of a state-changing request, once its CSRF secret matched the session's."""
    check_origin(request)
    form = await read_form(request)
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not same_secret(given, who.csrf):
        raise PageError(
            403,
            "this form's CSRF token is missing or does not match your session; "
            "reload the page and try again",
        )
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def render(
    request: Request, template: str, who: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"who": who, "now": time.time(), **context},
        status_code=status_code,
    )


def safe_next(path: str | None, default: str = "/ui/jobs") -> str:
    """Where to go after a form: a dashboard path of this server, nothing else."""
    if path and path.startswith("/ui/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui`` of the API's application."""
    from qlambda.dashboard.routes import router

    app.state.sessions = Sessions()
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def login_first(request: Request, _: LoginRequired) -> Response:
        if request.method != "GET" or request.headers.get("accept") == "text/event-stream":
            return HTMLResponse("log in first: /ui/login", status_code=401)
        return RedirectResponse("/ui/login", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return render(
            request, "error.html", None, exc.status, status=exc.status, message=exc.message
        )
