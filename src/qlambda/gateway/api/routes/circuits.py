"""``/circuits``: OpenQASM programs run as a job of the built-in function ``circuits``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qlambda.gateway.api.deps import CurrentUser, PlatformDep, SettingsDep
from qlambda.gateway.api.routes.jobs import check_active_limit, job_out
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import CircuitRun, JobOut

router = APIRouter(tags=["jobs"])


@router.post("/circuits", status_code=201, response_model=JobOut)
async def run_circuits(
    body: CircuitRun, user: CurrentUser, platform: PlatformDep, settings: SettingsDep
) -> JSONResponse:
    """Run OpenQASM programs as a job of the built-in function ``circuits``: its result
    is, per circuit, the counts of each register (sampler) or ``{ev, std}`` (estimator).
    Programs are parsed and checked against the backends before the job is stored."""
    from qlambda.apps.circuits import CIRCUITS, CircuitRunError, check_circuit_run

    widths = {config.name: int(config.num_qubits or 0) for config in platform.dispatcher.configs()}
    arguments = body.model_dump(exclude={"priority"})
    try:
        # parsing a program takes milliseconds: off the event loop
        await asyncio.to_thread(
            check_circuit_run,
            body.primitive,
            body.circuits,
            body.observables,
            body.backend,
            body.options,
            widths,
        )
    except CircuitRunError as exc:
        raise ApiError(422, str(exc)) from None
    if settings.max_active_jobs is not None:
        check_active_limit(platform, settings.max_active_jobs, user.name)
    function = CIRCUITS
    limits = {"cpus": 1, "timeout_s": function.timeout_s, "memory_mb": function.memory_mb}
    job_id, stored = platform.submit_payload(
        function.payload(), arguments, limits=limits, priority=body.priority, owner=user.name
    )
    await asyncio.wrap_future(stored)
    return JSONResponse(job_out(platform.info(job_id)), status_code=201)
