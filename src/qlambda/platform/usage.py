"""What each user's quantum tasks used and cost, and their quotas of both.

Every quantum task that ran records its QPU seconds (the device's time: the executor's
estimate for the circuits as compiled when it emulates the device, else the dispatcher's)
and its cost, from its backend's price (``qlambda.quantum.prices``), as a row of the
``usage`` table. Totals per job and per user are sums over those rows, so every replica
and every restart sees the same figures; retention never deletes them.

Quotas (``[quotas]`` in the configuration, or a user's own ``max_qpu_seconds`` and
``max_cost`` set by an admin) are checked twice: a new job is refused once its owner's
usage has reached a quota, and a running job's quantum task is refused when its estimate
would take the usage past it. What is already running is not stopped, so usage may pass a
quota by what was admitted before it was reached (on replicas, also by what other
replicas admitted in the same instant).

```toml
[quotas]
qpu_seconds = 600     # per user; omit for no limit
cost = 100.0          # in the prices' currency
window = "28d"        # usage older than this no longer counts; omit: all time
```
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qlambda.core.errors import ConfigurationError, QuotaExceededError
from qlambda.platform.units import parse_age
from qlambda.quantum.prices import task_cost

USER_CACHE_SECONDS = 2.0  # how old a user's own quotas may be (an admin may change them)
QUOTA_KEYS = ("qpu_seconds", "cost", "window")


@dataclass(frozen=True)
class QuotaPolicy:
    """Every user's quotas, unless an admin set a user's own; None: no limit."""

    qpu_seconds: float | None = None
    cost: float | None = None
    window: float | None = None
    """Seconds: usage older than this no longer counts (None: all of it counts)."""

    def __post_init__(self) -> None:
        for label in ("qpu_seconds", "cost"):
            value = getattr(self, label)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(
                    f"[quotas] {label} must be a finite number >= 0, got {value!r}"
                )

    @classmethod
    def from_mapping(cls, table: Any) -> QuotaPolicy:
        if isinstance(table, QuotaPolicy):
            return table
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"[quotas] must be a table, got {table!r}")
        unknown = sorted(set(table) - set(QUOTA_KEYS))
        if unknown:
            raise ConfigurationError(
                f"unknown [quotas] setting(s) {unknown}; accepted: {', '.join(QUOTA_KEYS)}"
            )
        window = table.get("window")
        if window is not None:
            try:
                window = parse_age(window, "window")
            except ValueError as exc:
                raise ConfigurationError(f"[quotas] {exc}") from None
            if window <= 0:
                raise ConfigurationError("[quotas] window must be positive, e.g. '28d'")
        return cls(table.get("qpu_seconds"), table.get("cost"), window)


@dataclass(frozen=True)
class Quota:
    """One user's quotas and where they come from."""

    qpu_seconds: float | None
    cost: float | None
    window: float | None

    @property
    def limited(self) -> bool:
        return self.qpu_seconds is not None or self.cost is not None


@dataclass(frozen=True)
class Usage:
    qpu_seconds: float = 0.0
    cost: float = 0.0
    tasks: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.qpu_seconds + other.qpu_seconds, self.cost + other.cost, self.tasks + other.tasks
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.qpu_seconds - other.qpu_seconds, self.cost - other.cost, self.tasks - other.tasks
        )

    def as_dict(self) -> dict[str, Any]:
        return {"qpu_seconds": self.qpu_seconds, "cost": self.cost, "tasks": self.tasks}


@dataclass(frozen=True)
class Admission:
    """A quantum task let through a quota: counted as in flight until it is released."""

    owner: str
    estimate: Usage


class UsageMeter:
    """Records usage, sums it, and checks quotas; one per control plane."""

    def __init__(self, store: Any, policy: QuotaPolicy | None = None) -> None:
        self._store = store
        self.policy = policy or QuotaPolicy()
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, dict[str, Any] | None]] = {}
        # recorded here but perhaps not committed yet, and admitted but not recorded
        self._pending: defaultdict[str, Usage] = defaultdict(Usage)
        self._inflight: defaultdict[str, Usage] = defaultdict(Usage)

    # -------------------------------------------------------------- quotas
    def quota(self, owner: str) -> Quota:
        """The owner's quotas: their own where an admin set them, else the policy's."""
        now = time.monotonic()
        cached = self._users.get(owner)
        if cached is None or now - cached[0] >= USER_CACHE_SECONDS:
            cached = (now, self._store.get_user(owner))
            self._users[owner] = cached
        row = cached[1] or {}
        own_seconds, own_cost = row.get("max_qpu_seconds"), row.get("max_cost")
        return Quota(
            self.policy.qpu_seconds if own_seconds is None else own_seconds,
            self.policy.cost if own_cost is None else own_cost,
            self.policy.window,
        )

    def forget(self, owner: str) -> None:
        """An admin changed the owner's quotas: read them again at the next check."""
        self._users.pop(owner, None)

    def used(self, owner: str, quota: Quota | None = None) -> Usage:
        """The owner's usage within the quota's window: what is stored, and what this
        control plane recorded or admitted that may not be stored yet."""
        quota = quota or self.quota(owner)
        with self._lock:  # read first: a row committed meanwhile counts twice, never not
            local = self._pending[owner] + self._inflight[owner]
        since = None if quota.window is None else time.time() - quota.window
        row = self._store.usage_totals(owner=owner, since=since)[0]
        return Usage(row["qpu_seconds"], row["cost"], row["tasks"]) + local

    def check_submission(self, owner: str) -> None:
        """Refuse a new job of an owner whose usage has reached a quota."""
        quota = self.quota(owner)
        if not quota.limited:
            return
        used = self.used(owner, quota)
        reached = _reached(quota, used, Usage())
        if reached is not None:
            raise QuotaExceededError(
                f"new jobs are refused: {reached}{_window_text(quota)}; ask an admin to raise "
                "your quota"
                + ("" if quota.window is None else ", or wait until older usage leaves the window")
            )

    def admit(self, owner: str, config: Any, envelope: Any) -> Admission | None:
        """Let a quantum task of ``owner`` for backend ``config`` through its quotas (None:
        it has none), or refuse it when its estimate would pass one."""
        quota = self.quota(owner)
        if not quota.limited:
            return None
        seconds = envelope.estimate_seconds(config)
        estimate = Usage(
            seconds,
            task_cost(config.price, seconds, envelope.workload, config.estimate_default_shots),
            1,
        )
        used = self.used(owner, quota)
        reached = _reached(quota, used, estimate)
        if reached is not None:
            raise QuotaExceededError(
                f"quantum task refused on backend {config.name!r}: it would use about "
                f"{_amounts(estimate, quota)}, and {reached}{_window_text(quota)}"
            )
        with self._lock:
            self._inflight[owner] += estimate
        return Admission(owner, estimate)

    def release(self, admission: Admission | None) -> None:
        """An admitted task was answered: from now on its usage row counts instead."""
        if admission is None:
            return
        with self._lock:
            self._inflight[admission.owner] -= admission.estimate
            if self._inflight[admission.owner].tasks <= 0:
                del self._inflight[admission.owner]

    # ------------------------------------------------------------ recording
    def usage_row(self, task: Any, owner: str | None) -> dict[str, Any] | None:
        """What a finished quantum task used, as a ``usage`` row (None: it did not run to
        its end, so it costs nothing)."""
        if task.outcome != "done":
            return None
        config = task.config
        seconds = task.qpu_seconds
        workload = task.request.workload
        default = config.estimate_default_shots
        return {
            "owner": owner,
            "job_id": task.job_id,
            "task": task.number,
            "backend": task.backend,
            "ts": task.finished_at or time.time(),
            "qpu_seconds": seconds,
            "cost": task_cost(config.price, seconds, workload, default),
            "circuits": sum(executions for executions, _, _ in workload),
            "shots": sum(executions * (shots or default) for executions, shots, _ in workload),
        }

    def pending(self, row: dict[str, Any], stored: Any) -> None:
        """``row`` is being written: it counts here until ``stored`` (a Future) is done."""
        owner = row["owner"]
        if owner is None:
            return
        usage = Usage(row["qpu_seconds"], row["cost"], 1)
        with self._lock:
            self._pending[owner] += usage

        def done(_: Any) -> None:
            with self._lock:
                self._pending[owner] -= usage
                if self._pending[owner].tasks <= 0:
                    del self._pending[owner]

        stored.add_done_callback(done)

    # -------------------------------------------------------------- totals
    def of_job(self, job_id: str) -> Usage:
        row = self._store.usage_totals(job_id=job_id)[0]
        return Usage(row["qpu_seconds"], row["cost"], row["tasks"])

    def report(self, owner: str | None = None, since: float | None = None) -> dict[str, Any]:
        """Totals per user (all users, or ``owner``), each with its backends and quota."""
        self._store.writer.flush()
        users = self._store.usage_totals(owner=owner, since=since, by="owner")
        if owner is not None and not users:
            users = [{"owner": owner, "qpu_seconds": 0.0, "cost": 0.0, "tasks": 0}]
        answer = []
        for row in users:
            name = row["owner"]
            quota = self.quota(name)
            backends = self._store.usage_totals(owner=name, since=since, by="backend")
            entry = {**row, "backends": backends, "quota": None}
            if quota.limited:
                window_since = None if quota.window is None else time.time() - quota.window
                counted = self._store.usage_totals(owner=name, since=window_since)[0]
                entry["quota"] = {
                    "qpu_seconds": quota.qpu_seconds,
                    "cost": quota.cost,
                    "window_seconds": quota.window,
                    "used_qpu_seconds": counted["qpu_seconds"],
                    "used_cost": counted["cost"],
                }
            answer.append(entry)
        return {"since": since, "users": answer}


def _reached(quota: Quota, used: Usage, more: Usage) -> str | None:
    """Which quota ``used + more`` passes (``more`` empty: which one ``used`` reached)."""
    for label, limit, amount, extra in (
        ("QPU seconds", quota.qpu_seconds, used.qpu_seconds, more.qpu_seconds),
        ("cost", quota.cost, used.cost, more.cost),
    ):
        if limit is None:
            continue
        over = amount + extra > limit if more.tasks else amount >= limit
        if over:
            return f"your quota of {limit:g} {label} has {amount:.6g} used"
    return None


def _amounts(usage: Usage, quota: Quota) -> str:
    parts = [f"{usage.qpu_seconds:.3g} QPU seconds"]
    if quota.cost is not None or usage.cost:
        parts.append(f"cost {usage.cost:.4g}")
    return " and ".join(parts)


def _window_text(quota: Quota) -> str:
    if quota.window is None:
        return ""
    from qlambda.platform.retention import describe_age

    return f" (usage of the last {describe_age(quota.window)} counts)"
