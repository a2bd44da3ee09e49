"""What-if: a simulation of the platform, with other C, Q, policies, load or admission
limits, on a preset's workload or the one this platform recorded, run as a job here;
its page draws the figures of [1] (box plots of job times, heat maps of drops)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qlambda.core import ConfigurationError
from qlambda.core.states import JobStatus
from qlambda.dashboard import charts
from qlambda.dashboard.routes.jobs import visible_job
from qlambda.dashboard.web import FormDep, PageError, Viewer, ViewerDep, platform_of, render
from qlambda.dashboard.whatif_job import RECORDED, SOURCES, WHAT_IF_FUNCTION, scenario_for, what_if
from qlambda.gateway.errors import ApiError
from qlambda.gateway.submissions import Submissions
from qlambda.platform import Function, Platform
from qlambda.policy import POLICIES
from qlambda.sim.scenario import PRESETS, parse_seconds
from qlambda.store.pages import JobFilter

router = APIRouter()
# the form's fields, as `qlambda simulate --set` keys
FIELDS = ("C", "Q", "interarrival", "C_max", "Q_max", "reps", "duration", "warmup", "seed")
WARMUP_SHARE = 0.1  # of a duration given without a warm-up
MAX_REPLICATIONS = 2000  # sweep points x replications a what-if may ask
TIMEOUT = "1h"


@functools.cache
def _function() -> Function:
    return Function(WHAT_IF_FUNCTION, callable=what_if, cpus=1, timeout=TIMEOUT)


def defaults(source: str) -> dict[str, str]:
    """The form's values for a source: the preset's own, with a short run."""
    if source == RECORDED:
        return {"reps": "3", "policies": ",".join(POLICIES)}
    scenario = PRESETS[source]

    def listed(values: tuple[Any, ...]) -> str:
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    return {
        "C": listed(scenario.C),
        "Q": listed(scenario.Q),
        "interarrival": listed(scenario.interarrival),
        "C_max": "" if scenario.C_max is None else str(scenario.C_max),
        "Q_max": "" if scenario.Q_max is None else str(scenario.Q_max),
        "reps": "3",
        "duration": "1d",
        "warmup": "",
        "policies": ",".join(scenario.policies),
    }


def past_runs(platform: Platform, who: Viewer) -> list[Any]:
    return platform.job_page(JobFilter(owner=who.name, function=WHAT_IF_FUNCTION), None, 20)


@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, who: ViewerDep, source: str = "small") -> HTMLResponse:
    if source not in SOURCES:
        raise PageError(422, f"unknown source {source!r}; accepted: {', '.join(SOURCES)}")
    return _form(request, who, source, defaults(source), None, 200)


def _form(
    request: Request,
    who: Viewer,
    source: str,
    values: dict[str, str],
    error: str | None,
    status: int,
) -> HTMLResponse:
    return render(
        request,
        "whatif.html",
        who,
        source=source,
        sources=SOURCES,
        values=values,
        chosen=set(values.get("policies", "").split(",")),
        policies=list(POLICIES),
        error=error,
        runs=past_runs(platform_of(request), who),
        status_code=status,
    )


def assignments_of(form: dict[str, str]) -> list[str]:
    """The form as ``KEY=VALUE`` changes (an empty field keeps the source's value)."""
    changes = [f"{key}={form[key].strip()}" for key in FIELDS if form.get(key, "").strip()]
    duration = form.get("duration", "").strip()
    if duration and not form.get("warmup", "").strip():
        changes.append(f"warmup={parse_seconds(duration) * WARMUP_SHARE:g}")
    policies = [p for p in POLICIES if form.get(f"policy_{p}")]
    if not policies:
        raise ConfigurationError("choose at least one scheduling policy")
    changes.append(f"policies={','.join(policies)}")
    return changes


def recorded_traces(platform: Platform) -> dict[str, str]:
    """This platform's traces (``qlambda traces export``) as file name -> text."""
    from qlambda.platform.traces import export_traces

    slots = sum(b.concurrency for b in platform.backends)
    admission = platform.admission
    with tempfile.TemporaryDirectory() as folder:
        written = export_traces(
            platform.store,
            folder,
            workers=platform.engine.cpus,
            qpus=slots,
            policy=platform.config.policy,
            c_max=admission.c_max,
            q_max=admission.q_max,
        )
        return {path.name: path.read_text() for path in written.values()}


def check(source: str, assignments: list[str], traces: dict[str, str] | None) -> None:
    """Build the scenario here first: a mistake is told on the form, not by a failed job."""
    with tempfile.TemporaryDirectory() as folder:
        scenario = scenario_for(source, assignments, traces, Path(folder))
    total = len(list(scenario.points())) * scenario.reps
    if total > MAX_REPLICATIONS:
        raise ConfigurationError(
            f"this asks {total} replications (sweep points x reps); at most "
            f"{MAX_REPLICATIONS} here: fewer values or fewer reps (qlambda simulate has no limit)"
        )


@router.post("/whatif")
async def run_whatif(request: Request, who: ViewerDep, form: FormDep) -> Response:
    platform = platform_of(request)
    source = form.get("source", "")
    values = {key: form.get(key, "") for key in FIELDS}
    values["policies"] = ",".join(p for p in POLICIES if form.get(f"policy_{p}"))
    if source not in SOURCES:
        raise PageError(422, f"unknown source {source!r}; accepted: {', '.join(SOURCES)}")
    try:
        assignments = assignments_of(form)
        traces = await run_in_threadpool(recorded_traces, platform) if source == RECORDED else None
        await run_in_threadpool(check, source, assignments, traces)
    except (ConfigurationError, ValueError) as exc:
        return await run_in_threadpool(_form, request, who, source, values, str(exc), 422)
    submissions: Submissions = request.app.state.submissions
    function = _function()
    limits = {"cpus": function.cpus, "timeout_s": function.timeout_s, "memory_mb": None}
    arguments = {"source": source, "assignments": assignments, "traces": traces}
    try:
        job_id = await submissions.submit_function(who.user, function.payload(), arguments, limits)
    except ApiError as exc:
        return await run_in_threadpool(_form, request, who, source, values, exc.detail, exc.status)
    return RedirectResponse(f"/ui/whatif/{job_id}", status_code=303)


def result_context(platform: Platform, who: Viewer, job_id: str) -> dict[str, Any]:
    info = visible_job(platform, who, job_id)
    if info.function != WHAT_IF_FUNCTION:
        raise PageError(404, f"job {job_id} is not a what-if run")
    context: dict[str, Any] = {"job": info, "result": None, "figures": [], "heat_maps": []}
    if info.status is not JobStatus.DONE:
        if info.status.is_final:
            context["reason"] = platform.result_row(job_id).get("reason")
        return context
    encoded = platform.stored_result(platform.result_row(job_id))
    if encoded is None or encoded.format != "json":
        raise PageError(500, f"job {job_id} did not return a what-if result")
    result = encoded.decode(trusted=False)
    context["result"] = result
    for figure in result.get("boxes", []):
        title = f"Job time per policy, by {figure['by']}"
        context["figures"].append({"title": title, "chart": charts.boxes(figure["groups"], title)})
    for grid in result.get("heat_maps", []):
        title = f"Drop probability over load (jobs/h) and {grid['axis']}"
        context["heat_maps"].append(
            {
                "title": title,
                "chart": charts.heat_map(
                    grid["rows"],
                    grid["columns"],
                    grid["grid"],
                    title,
                    "load (jobs/h)",
                    grid["axis"],
                ),
            }
        )
    return context


@router.get("/whatif/{job_id}", response_class=HTMLResponse)
def whatif_result(request: Request, job_id: str, who: ViewerDep) -> HTMLResponse:
    context = result_context(platform_of(request), who, job_id)
    return render(request, "whatif_result.html", who, **context)


@router.get("/whatif/{job_id}/panel", response_class=HTMLResponse)
def whatif_panel(request: Request, job_id: str, who: ViewerDep) -> HTMLResponse:
    context = result_context(platform_of(request), who, job_id)
    return render(request, "_whatif_panel.html", who, **context)
