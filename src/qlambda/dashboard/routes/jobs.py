"""The jobs page (filters, search, a page at a time after a cursor), a job's page (its
timeline, log, result, events, estimate), and cancel and resubmit."""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from qlambda.core.states import JobStatus
from qlambda.dashboard import timeline
from qlambda.dashboard.charts import gantt
from qlambda.dashboard.preview import result_preview
from qlambda.dashboard.web import (
    FormDep,
    PageError,
    Viewer,
    ViewerDep,
    platform_of,
    render,
    safe_next,
)
from qlambda.gateway.api.deps import own_job
from qlambda.gateway.errors import ApiError
from qlambda.gateway.submissions import Submissions
from qlambda.platform import JobInfo, Platform
from qlambda.store.pages import Cursor, JobFilter

router = APIRouter()
PAGE_SIZES = (25, 50, 100, 200)
STATUSES = [s.value for s in JobStatus]
CURSOR = re.compile(r"^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)~([0-9A-Za-z_-]{1,40})$")
MAX_LOG_CHARS = 64 * 1024
MAX_TIMELINE_ROWS = 300


@dataclass(frozen=True)
class Listing:
    """A jobs page's query: the filter, the cursor, the page size, and what to echo."""

    which: JobFilter
    before: Cursor | None
    limit: int
    form: dict[str, Any]

    def query(self, **changes: Any) -> str:
        """The page's query string (``changes`` replace fields; None drops one)."""
        fields = {**self.form, **changes}
        pairs: list[tuple[str, str]] = []
        for key, value in fields.items():
            if value in (None, "", []):
                continue
            for item in value if isinstance(value, list) else [value]:
                pairs.append((key, str(item)))
        return urlencode(pairs)


StatusQuery = Annotated[list[str] | None, Query()]


def listing(
    who: ViewerDep,
    status: StatusQuery = None,
    user: str | None = None,
    function: str | None = None,
    q: str | None = None,
    min_priority: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Listing:
    """The jobs a page lists, from its query (a dependency of the pages that list jobs)."""
    statuses = [s.upper() for s in status or [] if s]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise PageError(422, f"unknown status {unknown[0]!r}; accepted: {', '.join(STATUSES)}")
    if limit not in PAGE_SIZES:
        raise PageError(422, f"a page holds {', '.join(map(str, PAGE_SIZES))} jobs, not {limit}")
    owner = user or None
    if owner is not None and owner != who.name and not who.is_admin:
        raise PageError(403, "only admins list other users' jobs")
    if not who.is_admin:
        owner = who.name
    priority = None
    if min_priority:
        try:
            priority = float(min_priority)
        except ValueError:
            raise PageError(422, f"priority must be a number, not {min_priority!r}") from None
    cursor = None
    if before:
        match = CURSOR.match(before)
        if match is None:
            raise PageError(422, "this page's cursor is not one the dashboard made")
        cursor = (float(match.group(1)), match.group(2))
    which = JobFilter(
        statuses=tuple(statuses) or None,
        owner=owner,
        function=function or None,
        search=(q or "").strip() or None,
        min_priority=priority,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
    )
    form = {
        "status": statuses,
        "user": user if who.is_admin else None,
        "function": function,
        "q": q,
        "min_priority": min_priority,
        "since": since,
        "until": until,
        "limit": limit if limit != 50 else None,
    }
    return Listing(which, cursor, limit, form)


def _utc(text: str | None, label: str) -> float | None:
    """A ``datetime-local`` field's value, read as UTC."""
    if not text:
        return None
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, layout)))
        except ValueError:
            continue
    raise PageError(422, f"{label} must be a time like 2026-01-31T14:00 (UTC), not {text!r}")


ListingDep = Annotated[Listing, Depends(listing)]


def _page(platform: Platform, page: Listing) -> tuple[list[JobInfo], str | None]:
    try:
        jobs = platform.job_page(page.which, page.before, page.limit + 1)
    except ValueError as exc:
        raise PageError(422, str(exc)) from None
    older = None
    if len(jobs) > page.limit:
        jobs = jobs[: page.limit]
        last = jobs[-1]
        older = page.query(before=f"{last.created_at!r}~{last.id}")
    return jobs, older


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, who: ViewerDep, page: ListingDep) -> HTMLResponse:
    jobs, older = _page(platform_of(request), page)
    return render(
        request,
        "jobs.html",
        who,
        jobs=jobs,
        page=page,
        older=older,
        first=page.query(before=None) if page.before is not None else None,
        statuses=STATUSES,
        sizes=PAGE_SIZES,
        here=request.url.path + ("?" + request.url.query if request.url.query else ""),
    )


@router.get("/jobs/rows", response_class=HTMLResponse)
def job_rows(request: Request, who: ViewerDep, page: ListingDep) -> HTMLResponse:
    """The rows of a jobs page alone: the page reads them again after its live stream
    reconnects (what happened meanwhile)."""
    jobs, _ = _page(platform_of(request), page)
    here = "/ui/jobs" + ("?" + page.query() if page.query() else "")
    return render(request, "_rows.html", who, jobs=jobs, here=here)


def visible_job(platform: Platform, who: Viewer, job_id: str) -> JobInfo:
    """The job if the viewer may see it; a 404 page otherwise (another user's included)."""
    try:
        return own_job(platform, who.user, job_id)
    except ApiError as exc:
        raise PageError(exc.status, exc.detail) from None


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str, who: ViewerDep, form: FormDep) -> RedirectResponse:
    platform = platform_of(request)
    visible_job(platform, who, job_id)
    platform.cancel(job_id)
    return RedirectResponse(safe_next(form.get("next"), f"/ui/jobs/{job_id}"), status_code=303)


@router.post("/jobs/{job_id}/resubmit")
async def resubmit(
    request: Request, job_id: str, who: ViewerDep, form: FormDep
) -> RedirectResponse:
    platform = platform_of(request)
    await run_in_threadpool(visible_job, platform, who, job_id)
    submissions: Submissions = request.app.state.submissions
    try:
        new_id = await submissions.resubmit(who.user, job_id)
    except ApiError as exc:
        raise PageError(exc.status, exc.detail) from None
    return RedirectResponse(f"/ui/jobs/{new_id}", status_code=303)


def job_panel(platform: Platform, who: Viewer, job_id: str) -> dict[str, Any]:
    """What a job's page shows besides its log: status, estimate, timeline, result,
    events, usage."""
    info = visible_job(platform, who, job_id)
    events = platform.events(job_id)
    life = timeline.build(events, time.time())
    rows = life.rows() if life is not None else []
    preview = None
    reason = traceback = None
    if info.status.is_final:
        row = platform.result_row(job_id)
        reason, traceback = row.get("reason"), row.get("traceback")
        if info.status is JobStatus.DONE:
            preview = result_preview(platform, job_id)
    return {
        "job": info,
        "chart": gantt(life) if life is not None else None,
        "timeline_rows": rows[:MAX_TIMELINE_ROWS],
        "timeline_more": max(0, len(rows) - MAX_TIMELINE_ROWS),
        "events": events[-500:],
        "events_more": max(0, len(events) - 500),
        "preview": preview,
        "reason": reason,
        "traceback": traceback,
        "usage": platform.job_usage(job_id),
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, who: ViewerDep) -> HTMLResponse:
    platform = platform_of(request)
    panel = job_panel(platform, who, job_id)
    text, truncated = platform.log_text(job_id)
    return render(
        request,
        "job.html",
        who,
        **panel,
        log=text[-MAX_LOG_CHARS:],
        log_offset=len(text),
        log_cut=len(text) > MAX_LOG_CHARS,
        log_truncated=truncated,
    )


@router.get("/jobs/{job_id}/panel", response_class=HTMLResponse)
def job_panel_fragment(request: Request, job_id: str, who: ViewerDep) -> HTMLResponse:
    """The job page's changing part, read again by the page as the job moves on."""
    panel = job_panel(platform_of(request), who, job_id)
    return render(request, "_job_panel.html", who, **panel)


@router.get("/jobs/{job_id}/log")
def job_log(
    request: Request,
    job_id: str,
    who: ViewerDep,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> JSONResponse:
    """What the job printed from character ``offset`` on (the page's live log tail)."""
    platform = platform_of(request)
    info = visible_job(platform, who, job_id)
    text, truncated = platform.log_text(job_id)
    return JSONResponse(
        {
            "text": text[offset:][-MAX_LOG_CHARS:],
            "offset": len(text),
            "truncated": truncated,
            "final": info.status.is_final,
        }
    )
