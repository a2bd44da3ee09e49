"""Request and response bodies. Requests forbid unknown fields: a typo is an error."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
Priority = Annotated[
    float,
    Field(
        gt=0,
        allow_inf_nan=False,
        strict=True,
        description="larger runs sooner; at most the server's max_priority (10 by default) "
        "or the user's own maximum",
    ),
]
Count = Annotated[int, Field(ge=1, le=1_000_000, strict=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionRegistration(Strict):
    """A function to register: a source file, a zipped folder, or a pickled callable."""

    name: Name
    kind: Literal["source", "zip", "pickle"]
    content: str = Field(description="The file, zip or pickle, base64-encoded")
    entrypoint: str | None = Field(
        None, description="'file.py:function' (source, zip: the path inside the archive)"
    )
    parameters: list[dict[str, Any]] | None = Field(
        None, description="pickle only: [{name, kind, required}] to check arguments against"
    )
    signature: str | None = Field(None, max_length=2000)
    dependencies: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, description="PEP 508 requirements the workers must satisfy"
    )
    cpus: Annotated[int, Field(ge=1, le=1024, strict=True)] = 1
    timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None, description="seconds"
    )
    memory: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None, description="megabytes"
    )


class FunctionOut(BaseModel):
    name: str
    id: str
    kind: str
    owner: str
    parameters: list[dict[str, Any]] | None = None
    dependencies: list[str] = []


class JobRequest(Strict):
    function: Name
    arguments: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = 1.0


class CircuitRun(Strict):
    """OpenQASM programs to run as one job, through the sampler or the estimator."""

    primitive: Literal["sampler", "estimator"]
    circuits: list[Annotated[str, Field(max_length=1_000_000)]] = Field(
        min_length=1, max_length=100, description="OpenQASM 2.0 or 3.0 programs"
    )
    observables: list[str | dict[str, float]] | None = Field(
        None,
        max_length=100,
        description="estimator: one per circuit, a Pauli string ('ZZI', qubit 0 rightmost) "
        "or {pauli: coefficient}",
    )
    shots: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = 1024
    precision: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.015625
    backend: Name | None = Field(None, description="a backend's name; none: the platform chooses")
    options: list[str | dict[str, dict[str, Any]]] = Field(
        default_factory=list, description="execution options, e.g. ['readout', 'zne']"
    )
    priority: Priority = 1.0


class JobOut(BaseModel):
    id: str
    function: str
    status: str
    sub_status: str | None = None
    priority: float
    owner: str
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None
    attempts: int = 0
    output_deleted_at: float | None = Field(
        None, description="when the retention policy deleted its result and logs"
    )


class UsageTotals(BaseModel):
    qpu_seconds: float = Field(description="the device's time, summed over the tasks")
    cost: float = Field(description="from the backends' prices, in their currency")
    tasks: int = Field(description="quantum tasks that ran to their end")


class BackendUsage(UsageTotals):
    backend: str


class JobUsageOut(UsageTotals):
    id: str
    backends: list[BackendUsage] = []


class QuotaOut(BaseModel):
    qpu_seconds: float | None = Field(None, description="the quota; null: no limit")
    cost: float | None = None
    window_seconds: float | None = Field(None, description="usage older than this is free")
    used_qpu_seconds: float = Field(description="what counts against it now")
    used_cost: float


class UserUsage(UsageTotals):
    owner: str
    backends: list[BackendUsage] = []
    quota: QuotaOut | None = Field(None, description="null: no quota")


class UsageOut(BaseModel):
    since: float | None = None
    users: list[UserUsage]


class ResultOut(BaseModel):
    id: str
    status: str
    reason: str | None = None
    traceback: str | None = None
    value: Any = None
    is_json: bool = Field(False, description="whether value holds the result as JSON")
    pickle: str | None = Field(None, description="the result, cloudpickled and base64-encoded")


class CancelOut(BaseModel):
    id: str
    canceled: bool
    status: str


class EventOut(BaseModel):
    job_id: str
    ts: float
    kind: str
    data: dict[str, Any] = {}


class LogsOut(BaseModel):
    id: str
    logs: str
    offset: int = Field(description="pass as ?offset= to get only what follows")
    truncated: bool = Field(False, description="the log reached its size limit and stopped")


class UserLimits(Strict):
    """A user's own limits (admins set them); null: the server's default."""

    max_priority: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    max_active_jobs: Count | None = None
    max_running_jobs: Count | None = None
    max_qpu_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="quota of QPU seconds (docs/costs.md)"
    )
    max_cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="quota of cost, in the prices' currency"
    )


class UserRequest(UserLimits):
    name: Name
    role: Literal["user", "admin"] = "user"
    expires_in_seconds: Annotated[int, Field(ge=60, le=10 * 365 * 86400, strict=True)] | None = (
        Field(None, description="the first token expires after this long; none: never")
    )


class UserOut(BaseModel):
    name: str
    role: str
    created_at: float
    max_priority: float | None = None
    max_active_jobs: int | None = None
    max_running_jobs: int | None = None
    max_qpu_seconds: float | None = None
    max_cost: float | None = None


class MeOut(UserOut):
    open_waits: int = Field(0, description="your result waits and event streams open now")


class NewUserOut(UserOut):
    token: str = Field(description="shown once; only its hash is stored")


class TokenOut(BaseModel):
    id: str = Field(description="names the token in listings and revocations")
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None


class RevokedOut(BaseModel):
    user: str
    revoked: list[str] = Field(description="the ids of the tokens revoked by this request")


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: str = Field(description="ok: the server answers")


class Readiness(BaseModel):
    ready: bool
    database: str = Field(description="reachable | unreachable")
    detail: str | None = Field(None, description="why not, while not ready")


class Fault(BaseModel):
    """An unexpected error of the server: the id finds it in the server's log."""

    detail: str
    error_id: str
