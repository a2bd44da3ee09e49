"""``/circuits``: OpenQASM programs run as a job of the built-in function ``circuits``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qlambda.gateway.api.deps import (
    CircuitChecksDep,
    CurrentUser,
    IdempotencyKey,
    PlatformDep,
    SubmissionsDep,
)
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import CircuitRun, JobOut

router = APIRouter(tags=["jobs"])


@router.post(
    "/circuits", status_code=201, response_model=JobOut, responses={200: {"model": JobOut}}
)
async def run_circuits(
    body: CircuitRun,
    user: CurrentUser,
    platform: PlatformDep,
    submissions: SubmissionsDep,
    checks: CircuitChecksDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Run OpenQASM programs as a job of the built-in function ``circuits``: its result
    is, per circuit, the counts of each register (sampler) or ``{ev, std}`` (estimator).
    Programs are scanned against the OpenQASM limits, parsed and checked against the
    backends before the job is stored, in a child process of the server's (never in the
    server itself). A retry with the same ``Idempotency-Key`` is answered 200 with the
    job already stored."""
    from qlambda.apps.circuits import CIRCUITS, CircuitRunError

    widths = {config.name: int(config.num_qubits or 0) for config in platform.dispatcher.configs()}
    arguments = body.model_dump(exclude={"priority"})
    try:
        await checks.check(
            body.primitive, body.circuits, body.observables, body.backend, body.options, widths
        )
    except CircuitRunError as exc:
        raise ApiError(422, str(exc)) from None
    function = CIRCUITS
    limits = {"cpus": 1, "timeout_s": function.timeout_s, "memory_mb": function.memory_mb}
    return await submissions.submit(
        user,
        "/circuits",
        body.model_dump(),
        idempotency_key,
        function.payload(),
        arguments,
        limits,
        body.priority,
    )
