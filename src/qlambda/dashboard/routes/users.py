"""Users and usage: per user the jobs by status, QPU seconds and cost, limits and quotas,
and their tokens, which can be revoked here. Admins see everyone; a user sees their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from qlambda.core.states import JobStatus
from qlambda.dashboard.web import FormDep, PageError, Viewer, ViewerDep, platform_of, render
from qlambda.gateway.api.routes.users import revoke
from qlambda.gateway.errors import ApiError
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform import Platform

router = APIRouter()


def users_context(platform: Platform, settings: GatewaySettings, who: Viewer) -> dict[str, Any]:
    if who.is_admin:
        rows = platform.store.list_users()
        usage = platform.usage_report(None)
    else:
        rows = [r for r in [platform.store.get_user(who.name)] if r is not None]
        usage = platform.usage_report(who.name)
    spent = {entry["owner"]: entry for entry in usage["users"]}
    counts: dict[str, dict[str, int]] = {}
    for row in platform.store.job_counts("owner"):
        if who.is_admin or row["owner"] == who.name:
            counts.setdefault(row["owner"], {})[row["status"]] = int(row["jobs"])
    names = sorted({r["name"] for r in rows} | set(counts) | set(spent))
    known = {r["name"]: r for r in rows}
    users = []
    for name in names:
        account = known.get(name)
        users.append(
            {
                "name": name,
                "row": account,
                "jobs": counts.get(name, {}),
                "total_jobs": sum(counts.get(name, {}).values()),
                "usage": spent.get(name),
                "tokens": platform.store.tokens(name) if account is not None else [],
            }
        )
    return {"users": users, "statuses": [s.value for s in JobStatus], "settings": settings}


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, who: ViewerDep) -> HTMLResponse:
    context = users_context(platform_of(request), request.app.state.settings, who)
    return render(request, "users.html", who, **context)


@router.post("/users/{name}/revoke")
def revoke_tokens(request: Request, name: str, who: ViewerDep, form: FormDep) -> RedirectResponse:
    """Revoke one token (the form's ``token``: its id) or, without one, all of them."""
    token_id = form.get("token") or None
    try:
        revoke(name, token_id, who.user, platform_of(request), request)
    except ApiError as exc:
        raise PageError(exc.status, exc.detail) from None
    return RedirectResponse("/ui/users", status_code=303)
