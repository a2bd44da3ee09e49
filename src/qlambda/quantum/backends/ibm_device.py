"""The ``ibm`` kind's device: one IBM Quantum backend, in its QPU executor process.

Each quantum task becomes one Runtime job of ``qiskit_ibm_runtime``'s own ``SamplerV2``
or ``EstimatorV2`` (a task with execution options: one ``SamplerV2`` job holding every
circuit its steps need), on the backend, or inside the Runtime ``Session``/``Batch``
that the task's ``mode`` names, opened at its first task and closed when its job ends.
Circuits are transpiled for the device's target once per structure (parametric ones
stay symbolic), with the platform's noise-aware layout, against the calibration the
platform last sent. While the job is at IBM, its id, status, queue position and
estimated start are reported to the platform; a failed job fails the task with IBM's
message. The task's job tags (``options.environment.job_tags`` of the caller's primitive)
are the Runtime job's tags.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlambda.core import ConfigurationError
from qlambda.core.errors import VendorJobError
from qlambda.quantum.backends.ibm import DEFAULT_TOKEN_ENV
from qlambda.quantum.backends.kind import Device, Report
from qlambda.quantum.outcome import ExecutionOutcome
from qlambda.quantum.pipeline_backend import PipelineBackend
from qlambda.quantum.request import check_device_width
from qlambda.quantum.transpilation import TranspileCache, device_pass_manager, is_isa

if TYPE_CHECKING:
    from qiskit.primitives import PrimitiveResult

    from qlambda.quantum.calibration import Calibration
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.request import QuantumRequest

_FINAL = ("DONE", "ERROR", "CANCELLED")


def _plain(value: Any) -> Any:
    """JSON-able (dates as text), so it crosses as data."""
    return json.loads(json.dumps(value, default=str))


class IBMDevice(Device):
    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        settings = config.settings
        self.channel = str(settings.get("channel", "ibm_quantum_platform"))
        self.poll_seconds = float(settings.get("poll_seconds", 1.0))
        self.service: Any = None
        if self.channel == "local":
            from qlambda.quantum.config import make_fake_device

            self.device: Any = make_fake_device(config.device or "")
        else:
            self.service = _service(config)
            self.device = self.service.backend(config.device)
        self.device_qubits = int(self.device.num_qubits)
        self.calibration = None
        self._transpilers: dict[int | None, TranspileCache] = {}
        self._modes: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pipeline: VendorPipeline | None = None
        self._report: Report | None = None
        self._tags: list[str] = []  # the running task's, for its Runtime jobs
        self._seeds = np.random.default_rng(config.seed)  # a fresh seed per local job

    # ------------------------------------------------------------- compiling
    def _transpiler(self, level: int | None) -> TranspileCache:
        level = self.config.optimization_level if level is None else level
        cache = self._transpilers.get(level)
        if cache is None:
            from qlambda.quantum.runtime import transpile_placing_readout

            target = self.device.target
            manager = device_pass_manager(self.device, level, self.config.seed)
            cache = self._transpilers[level] = TranspileCache(
                needs_transpile=lambda circuit: not is_isa(circuit, target),
                transpile=lambda circuit: transpile_placing_readout(manager, circuit),
            )
        return cache

    def calibrate(self, calibration: Calibration) -> bool:
        """Lay circuits out by this snapshot's errors from now on (VF2 scores placements
        by the target's errors); compiled circuits are dropped."""
        from qlambda.quantum.runtime import apply_calibration

        if self.calibration is not None and self.calibration.id == calibration.id:
            return False
        first = self.calibration is None
        self.calibration = calibration
        apply_calibration(self.device.target, calibration)
        invalidated = not first and any(len(c) for c in self._transpilers.values())
        self._transpilers = {}
        if self._pipeline is not None:
            self._pipeline.recalibrated(calibration)
        return invalidated

    # ------------------------------------------------------------- running
    def _mode(self, mode: str | None) -> Any:
        """The backend, or the Runtime Session/Batch the platform's ``mode`` stands for."""
        if mode is None:
            return self.device
        found = self._modes.get(mode)
        if found is None:
            from qiskit_ibm_runtime import Batch, Session

            kind = Session if mode.startswith("session-") else Batch
            found = self._modes[mode] = kind(backend=self.device)
        return found

    def execute(self, request: QuantumRequest, report: Report | None = None) -> ExecutionOutcome:
        import dataclasses

        started = time.perf_counter()
        check_device_width(request, self.config, self.device_qubits)
        transpiler = self._transpiler(request.optimization_level)
        pubs = tuple(transpiler.prepare_pub(pub) for pub in request.pubs)
        mode = self._mode(request.mode)
        self._report = report
        self._tags = list(request.tags)
        if request.options:
            pubs = tuple(_with_precision(pub) for pub in pubs)
            if self._pipeline is None:
                self._pipeline = VendorPipeline(self)
            self._pipeline.mode = mode
            result = self._pipeline.run(dataclasses.replace(request, pubs=pubs))
        else:
            result = self.run_primitive(request.primitive, list(pubs), mode)
        busy = time.perf_counter() - started
        return ExecutionOutcome(
            result=result, busy_seconds=busy, simulated_seconds=busy, emulated_seconds=None
        )

    def run_primitive(self, primitive: str, pubs: list[Any], mode: Any) -> PrimitiveResult:
        """One Runtime job of IBM's own primitive, followed until it ends."""
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2

        made = SamplerV2(mode=mode) if primitive == "sampler" else EstimatorV2(mode=mode)
        if self.service is None and self.config.seed is not None:  # reproducible, yet
            made.options.simulator.seed_simulator = int(self._seeds.integers(2**31))
        if self._tags:  # the task's job tags become the Runtime job's, found by them at IBM
            made.options.environment.job_tags = list(self._tags)
        job = made.run(pubs)
        return self._follow(job, mode)

    def _follow(self, job: Any, mode: Any) -> PrimitiveResult:
        job_id = str(job.job_id())
        session = getattr(mode, "session_id", None)
        base: dict[str, Any] = {"vendor": "ibm", "vendor_job_id": job_id}
        if session:
            base["vendor_session_id"] = str(session)
        if self.service is None:  # local testing mode: runs here, at once
            self._tell({**base, "vendor_status": "RUNNING"})
            result = job.result()
            self._tell({**base, "vendor_status": "DONE"})
            return result
        last = None
        while True:
            status = str(getattr(job.status(), "name", job.status()))
            if status != last:
                news = {**base, "vendor_status": status}
                if status == "QUEUED":
                    news.update(_queue_news(job))
                self._tell(news)
                last = status
            if status in _FINAL:
                break
            time.sleep(self.poll_seconds)
        if status == "ERROR":
            raise VendorJobError(f"IBM job {job_id} failed: {job.error_message()}")
        if status == "CANCELLED":
            raise VendorJobError(f"IBM job {job_id} was cancelled at IBM")
        charged = _charged_seconds(job)
        if charged is not None:  # what IBM bills: the task's QPU seconds (and cost)
            self._tell({**base, "vendor_status": status, "vendor_qpu_seconds": charged})
        return job.result()

    def _tell(self, news: dict[str, Any]) -> None:
        if self._report is not None:
            self._report(news)

    # ------------------------------------------------------------- the rest
    def close_modes(self, modes: list[str]) -> None:
        for mode in modes:
            found = self._modes.pop(mode, None)
            if found is not None:
                found.close()

    def cancel(self, vendor_jobs: list[str]) -> None:
        if self.service is None:
            return
        for job_id in vendor_jobs:
            job = self.service.job(job_id)
            if str(getattr(job.status(), "name", job.status())) not in _FINAL:
                job.cancel()

    def _properties(self) -> dict[str, Any]:
        properties = self.device.properties(refresh=True)
        return {} if properties is None else _plain(properties.to_dict())

    def snapshot(self, taken_at: float) -> Calibration:
        from qlambda.quantum.calibration.snapshot import calibration_from_properties

        return calibration_from_properties(
            self.config.name, str(self.config.device), self._properties(), taken_at
        )

    def describe(self) -> dict[str, Any]:
        properties = self._properties()
        return {
            "key": f"{self.config.name}:{properties.get('last_update_date', '')}",
            "configuration": _plain(self.device.configuration().to_dict()),
            "properties": properties,
        }

    def close(self) -> None:
        self.close_modes(list(self._modes))


def _with_precision(pub: Any) -> Any:
    """An estimator PUB that asked for no precision gets IBM's default (4096 shots)."""
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    from qlambda.quantum.request import DEFAULT_PRECISION

    if not isinstance(pub, EstimatorPub) or pub.precision is not None:
        return pub
    return EstimatorPub(
        pub.circuit, pub.observables, pub.parameter_values, DEFAULT_PRECISION, validate=False
    )


def _charged_seconds(job: Any) -> float | None:
    """The QPU seconds IBM charged for a finished job, once its usage is final."""
    try:
        usage = job.metrics().get("usage") or {}
    except Exception:  # an account without metrics: the platform's estimate stands
        return None
    seconds = usage.get("qpu_charge_time_seconds", usage.get("quantum_seconds"))
    if usage.get("status", "completed") == "pending" or not isinstance(seconds, int | float):
        return None
    return float(seconds)


def _queue_news(job: Any) -> dict[str, Any]:
    """Where a queued job stands at IBM (its metrics: place in the queue, estimated start)."""
    try:
        metrics = job.metrics()
    except Exception:  # an account without metrics: the status is news enough
        return {}
    news = {}
    for key in ("position_in_queue", "estimated_start_time", "estimated_completion_time"):
        if metrics.get(key) is not None:
            news[key] = metrics[key]
    return news


def _service(config: BackendConfig) -> Any:
    """The ``QiskitRuntimeService`` of a cloud backend, its key read here and only here."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    settings = config.settings
    if "iam_url" in settings:
        os.environ["IAM_URL"] = str(settings["iam_url"])
    kwargs: dict[str, Any] = {"channel": settings.get("channel", "ibm_quantum_platform")}
    if "token_file" in settings:
        path = Path(str(settings["token_file"]))
        try:
            kwargs["token"] = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"backend {config.name!r}: cannot read token_file {str(path)!r}: {exc}"
            ) from None
    else:
        variable = str(settings.get("token_env", DEFAULT_TOKEN_ENV))
        if os.environ.get(variable):
            kwargs["token"] = os.environ[variable]
        elif "account" not in settings:
            raise ConfigurationError(
                f"backend {config.name!r}: no IBM Quantum API key: set {variable} in the "
                "server's environment, or give token_file or a saved account"
            )
    for key in ("url", "instance"):
        if key in settings:
            kwargs[key] = settings[key]
    if "account" in settings:
        kwargs["name"] = settings["account"]
    if "proxy" in settings:
        kwargs["proxies"] = {"urls": {"http": settings["proxy"], "https": settings["proxy"]}}
    if "verify" in settings:
        kwargs["verify"] = settings["verify"]
    return QiskitRuntimeService(**kwargs)


class VendorPipeline(PipelineBackend):
    """Execution options on the device: the circuits their steps need, in one Runtime
    ``SamplerV2`` job per batch; readout errors from the device's calibration."""

    def __init__(self, device: IBMDevice) -> None:
        super().__init__(device)  # type: ignore[arg-type]
        self.device = device
        self.mode: Any = device.device

    def _run_batch(self, batch: list[tuple[Any, int]]) -> list[dict[str, Any]]:
        self._calls += 1
        self._circuits += len(batch)
        pubs = [(circuit, None, shots) for circuit, shots in batch]
        result = self.device.run_primitive("sampler", pubs, self.mode)
        return [dict(pub.data.items()) for pub in result]
