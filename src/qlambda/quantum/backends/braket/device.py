"""The ``braket`` kind's device: one Amazon Braket device, in its QPU executor process.

Circuits are transpiled for the device's target (built from its capabilities: qubits,
connectivity, the gates it accepts, their fidelities), bound, and converted to Braket
circuits (:mod:`.circuits`). A task's circuits go to Braket as one quantum task
each: alone through ``device.run``, several through ``device.run_batch`` (an
``AwsQuantumTaskBatch``); an estimator's are the circuits of its measurement bases (the
platform's execution-option pipeline, which computes the values from the shots and
runs any mitigation steps). While Braket holds them, their task ARNs, states and queue
positions are reported; a failed task fails the call with Braket's reason. The call's
job tags are its tasks' AWS tags. On the
``LocalSimulator`` the same circuits run in this process, with no account.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qlambda.core import ConfigurationError
from qlambda.core.errors import VendorJobError
from qlambda.quantum.backends.braket.circuits import (
    braket_target,
    calibration_of,
    device_data,
    registers_from,
    to_braket,
)
from qlambda.quantum.backends.kind import Device, Report
from qlambda.quantum.outcome import ExecutionOutcome
from qlambda.quantum.pipeline_backend import PipelineBackend
from qlambda.quantum.request import check_device_width
from qlambda.quantum.transpilation import TranspileCache, device_pass_manager, is_isa

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qlambda.quantum.calibration import Calibration
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.request import QuantumRequest

FINAL = ("COMPLETED", "FAILED", "CANCELLED")
LOCAL_SIMULATORS = {
    "local": "braket_sv",
    "local:braket_sv": "braket_sv",
    "local:braket_dm": "braket_dm",
}


@dataclasses.dataclass
class _TargetDevice:
    """What the execution-option pipeline reads of a device: its target and width."""

    target: Any

    @property
    def num_qubits(self) -> int:
        return int(self.target.num_qubits)


class BraketDevice(Device):
    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        settings = config.settings
        self.poll_seconds = float(settings.get("poll_seconds", 1.0))
        self.reservation_arn = settings.get("reservation_arn")
        self.local = str(config.device).startswith("local")
        self.session: Any = None
        if self.local:
            from braket.devices import LocalSimulator

            self.braket: Any = LocalSimulator(LOCAL_SIMULATORS[str(config.device)])
        else:
            from braket.aws import AwsDevice

            self.session = aws_session(config)
            self.braket = AwsDevice(str(config.device), aws_session=self.session)
        self.data = self._read_data()
        self.device = _TargetDevice(braket_target(self.data))
        self.device_qubits = self.device.num_qubits
        self.calibration = None
        self._transpilers: dict[int | None, TranspileCache] = {}
        self._pipeline = BraketPipeline(self)
        self.tasks_sent = 0  # Braket tasks the last batch of circuits became
        self._report: Report | None = None
        self._tags: dict[str, str] = {}  # the running call's job tags

    def _read_data(self) -> dict[str, Any]:
        if not self.local:
            self.braket.refresh_metadata()
        properties = self.braket.properties
        updated = ""
        standardized = getattr(properties, "standardized", None)
        if standardized is not None:
            updated = str(getattr(properties.service, "updatedAt", "") or "")
        data = device_data(properties, key="", local=self.local)
        data["updated"] = updated
        content = json.dumps(data, sort_keys=True).encode()
        data["key"] = f"{self.config.name}:{hashlib.blake2b(content, digest_size=8).hexdigest()}"
        return data

    # ------------------------------------------------------------- compiling
    def _transpiler(self, level: int | None) -> TranspileCache:
        level = self.config.optimization_level if level is None else level
        cache = self._transpilers.get(level)
        if cache is None:
            from qlambda.quantum.runtime import transpile_placing_readout

            target = self.device.target
            manager = device_pass_manager(target, level, self.config.seed)
            cache = self._transpilers[level] = TranspileCache(
                needs_transpile=lambda circuit: not is_isa(circuit, target),
                transpile=lambda circuit: transpile_placing_readout(manager, circuit),
            )
        return cache

    def calibrate(self, calibration: Calibration) -> bool:
        from qlambda.quantum.runtime import apply_calibration

        if self.calibration is not None and self.calibration.id == calibration.id:
            return False
        first = self.calibration is None
        self.calibration = calibration
        apply_calibration(self.device.target, calibration)
        invalidated = not first and any(len(c) for c in self._transpilers.values())
        self._transpilers = {}
        self._pipeline.recalibrated(calibration)
        return invalidated

    def snapshot(self, taken_at: float) -> Calibration | None:
        if self.local:
            return None
        self.data = self._read_data()
        return calibration_of(self.config.name, str(self.config.device), self.data, taken_at)  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        return dict(self.data)

    # ------------------------------------------------------------- running
    def execute(self, request: QuantumRequest, report: Report | None = None) -> ExecutionOutcome:
        from qlambda.quantum.backends.ibm_device import _with_precision

        started = time.perf_counter()
        check_device_width(request, self.config, self.device_qubits)
        transpiler = self._transpiler(request.optimization_level)
        pubs = tuple(_with_precision(transpiler.prepare_pub(pub)) for pub in request.pubs)
        self._report = report
        self._tags = dict.fromkeys(request.tags, "")
        try:
            result = self._pipeline.run(dataclasses.replace(request, pubs=pubs))
        finally:
            self._report = None
        busy = time.perf_counter() - started
        return ExecutionOutcome(
            result=result, busy_seconds=busy, simulated_seconds=busy, emulated_seconds=None
        )

    def run_circuits(self, batch: Sequence[tuple[QuantumCircuit, int]]) -> list[dict[str, Any]]:
        """Each distinct (bound circuit, shots) as one Braket quantum task; per circuit its
        classical registers' shots. Equal circuits (an estimator's observables measured in
        the same basis) share one task, as Braket bills per task."""
        from qlambda.quantum.transpilation import circuit_token

        qubits = list(self.data["qubits"])
        distinct: dict[Any, int] = {}
        unique: list[tuple[QuantumCircuit, int]] = []
        positions = []
        for circuit, count in batch:
            key = (circuit_token(circuit), int(count))
            if key not in distinct:
                distinct[key] = len(unique)
                unique.append((circuit, int(count)))
            positions.append(distinct[key])
        converted = [to_braket(circuit, qubits) for circuit, _ in unique]
        shots = [s for _, s in unique]
        circuits = [c.circuit for c in converted]
        if self.local:
            tasks = [self.braket.run(c, shots=s) for c, s in zip(circuits, shots, strict=True)]
            results = [task.result() for task in tasks]
        else:
            results = self._run_aws(circuits, shots)
        self.tasks_sent = len(unique)
        registers = [
            registers_from(c, r.measurements, r.measured_qubits)
            for c, r in zip(converted, results, strict=True)
        ]
        return [registers[position] for position in positions]

    def _run_aws(self, circuits: list[Any], shots: list[int]) -> list[Any]:
        settings = self.config.settings
        folder = (str(settings["s3_bucket"]), str(settings.get("s3_prefix", "qlambda")))
        extra: dict[str, Any] = {"disable_qubit_rewiring": True}
        if self.reservation_arn:
            extra["reservation_arn"] = str(self.reservation_arn)
        if self._tags:  # the call's job tags, as the tasks' AWS tags (keys, empty values)
            extra["tags"] = dict(self._tags)
        if len(circuits) == 1:
            tasks = [self.braket.run(circuits[0], folder, shots=shots[0], **extra)]
        else:
            batch = self.braket.run_batch(
                circuits, folder, shots=shots, max_parallel=len(circuits), **extra
            )
            tasks = list(batch.tasks)
        return self._follow(tasks)

    def _follow(self, tasks: list[Any]) -> list[Any]:
        """Poll the tasks until each ends, reporting each change of state."""
        states: dict[str, str] = {}
        for index, task in enumerate(tasks):
            self._tell(
                {
                    "vendor_job_id": task.id,
                    "vendor_status": "CREATED",
                    "vendor_tasks": len(tasks),
                    "vendor_task_index": index,
                }
            )
        while True:
            for index, task in enumerate(tasks):
                if states.get(task.id) in FINAL:
                    continue
                state = str(task.state())
                if state != states.get(task.id):
                    states[task.id] = state
                    news: dict[str, Any] = {
                        "vendor_job_id": task.id,
                        "vendor_status": state,
                        "vendor_tasks": len(tasks),
                        "vendor_task_index": index,
                    }
                    if state == "QUEUED":
                        news.update(_queue_news(task))
                    self._tell(news)
            failed = [t for t in tasks if states.get(t.id) in ("FAILED", "CANCELLED")]
            if failed:
                self.cancel([t.id for t in tasks if states.get(t.id) not in FINAL])
                task = failed[0]
                if states[task.id] == "CANCELLED":
                    raise VendorJobError(f"Braket task {task.id} was cancelled at Braket")
                reason = task.metadata(use_cached_value=True).get(
                    "failureReason", "no reason given"
                )
                raise VendorJobError(f"Braket task {task.id} failed: {reason}")
            if all(states.get(t.id) == "COMPLETED" for t in tasks):
                return [task.result() for task in tasks]
            time.sleep(self.poll_seconds)

    def _tell(self, news: dict[str, Any]) -> None:
        if self._report is not None:
            self._report({"vendor": "braket", **news})

    def cancel(self, vendor_jobs: list[str]) -> None:
        if self.local:
            return
        from braket.aws import AwsQuantumTask

        for arn in vendor_jobs:
            task = AwsQuantumTask(arn, aws_session=self.session)
            if task.state() not in FINAL:
                task.cancel()


def _queue_news(task: Any) -> dict[str, Any]:
    """Where a queued task stands in its device's queue (Braket's QueueInfo)."""
    try:
        info = task.queue_position()
    except Exception:  # an account or device without queue information: the state is enough
        return {}
    news: dict[str, Any] = {}
    if getattr(info, "queue_position", None) is not None:
        position = info.queue_position
        news["position_in_queue"] = int(position) if str(position).isdigit() else str(position)
    if getattr(info, "queue_type", None) is not None:
        news["vendor_queue"] = str(getattr(info.queue_type, "value", info.queue_type))
    return news


def aws_session(config: BackendConfig) -> Any:
    """An ``AwsSession`` for the device's region, with the server's AWS credentials (its
    environment, a named profile, or the instance's role), read here and only here."""
    import boto3
    from botocore.exceptions import BotoCoreError
    from braket.aws import AwsSession

    settings = config.settings
    region = settings.get("region") or _arn_region(str(config.device)) or None
    try:
        boto = boto3.Session(profile_name=settings.get("profile"), region_name=region)
        if boto.get_credentials() is None:
            raise ConfigurationError(
                f"backend {config.name!r}: no AWS credentials: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the server's environment, "
                "or give a 'profile' of the server's AWS configuration"
            )
    except BotoCoreError as exc:
        raise ConfigurationError(f"backend {config.name!r}: {exc}") from None
    return AwsSession(boto_session=boto, default_bucket=settings.get("s3_bucket"))


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


class BraketPipeline(PipelineBackend):
    """Sampler and estimator requests, with or without execution options, as the circuits
    they need; those run on Braket, in one batch per round; readout errors from the
    device's calibration."""

    def __init__(self, device: BraketDevice) -> None:
        super().__init__(device)  # type: ignore[arg-type]
        self.device_ = device

    def _run_batch(self, batch: list[tuple[Any, int]]) -> list[dict[str, Any]]:
        self._calls += 1
        registers = self.device_.run_circuits(batch)
        self._circuits += self.device_.tasks_sent
        return registers
