"""A LOCAL STAND-IN FOR AMAZON BRAKET'S CLOUD, for tests: an HTTP server speaking the
Braket REST API's format (GetDevice, CreateQuantumTask, GetQuantumTask,
CancelQuantumTask) and S3's GET of an object, where Braket leaves each task's
``results.json``. It is not AWS: boto3 reaches it through ``AWS_ENDPOINT_URL_BRAKET`` and
``AWS_ENDPOINT_URL_S3`` with dummy credentials, so ``amazon-braket-sdk`` and the
adapter's code run unchanged. Each task's OpenQASM program runs on Braket's own local
state-vector simulator, as a managed simulator would.

The device it serves looks like a small IQM QPU: qubits 1-4 in a ring, native gates CZ
and PRX, Braket's standardized fidelities.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

ACCESS_KEY = "AKIAQLAMBDATESTKEY00"
SECRET_KEY = "qlambda-test-secret-not-an-aws-key"
REGION = "eu-north-1"
DEVICE_ARN = f"arn:aws:braket:{REGION}::device/qpu/iqm/Square4"
RESERVATION_ARN = f"arn:aws:braket:{REGION}:123456789012:reservation/0a1b2c3d"
BUCKET = "amazon-braket-qlambda-test"


def garnet_like_capabilities() -> str:
    """The device's capabilities, as GetDevice's ``deviceCapabilities`` (a JSON text)."""
    header = {"name": "braket.device_schema.iqm.iqm_device_capabilities", "version": "1"}
    ring = {"1": ["2", "4"], "2": ["3"], "3": ["4"]}

    def one(readout: float) -> dict[str, Any]:
        return {
            "T1": {"value": 40.0, "standardError": None, "unit": "us"},
            "T2": {"value": 20.0, "standardError": None, "unit": "us"},
            "oneQubitFidelity": [
                {"fidelityType": {"name": "RANDOMIZED_BENCHMARKING"}, "fidelity": 0.999},
                {"fidelityType": {"name": "READOUT"}, "fidelity": readout},
            ],
        }

    def two(fidelity: float) -> dict[str, Any]:
        return {
            "twoQubitGateFidelity": [
                {
                    "direction": None,
                    "gateName": "CZ",
                    "fidelity": fidelity,
                    "fidelityType": {"name": "INTERLEAVED_RANDOMIZED_BENCHMARKING"},
                }
            ]
        }

    capabilities = {
        "braketSchemaHeader": header,
        "service": {
            "braketSchemaHeader": {
                "name": "braket.device_schema.device_service_properties",
                "version": "1",
            },
            "executionWindows": [
                {"executionDay": "Everyday", "windowStartHour": "00:00", "windowEndHour": "23:59"}
            ],
            "shotsRange": [1, 20000],
            "updatedAt": "2026-01-02T03:04:05",
        },
        "action": {
            "braket.ir.openqasm.program": {
                "version": ["1"],
                "actionType": "braket.ir.openqasm.program",
                "supportedOperations": ["cz", "prx"],
                "supportedResultTypes": [],
            }
        },
        "deviceParameters": {},
        "paradigm": {
            "braketSchemaHeader": {
                "name": "braket.device_schema.gate_model_qpu_paradigm_properties",
                "version": "1",
            },
            "qubitCount": 4,
            "nativeGateSet": ["cz", "prx"],
            "connectivity": {"fullyConnected": False, "connectivityGraph": ring},
        },
        "provider": None,
        "standardized": {
            "braketSchemaHeader": {
                "name": "braket.device_schema.standardized_gate_model_qpu_device_properties",
                "version": "1",
            },
            "oneQubitProperties": {
                "1": one(0.97),
                "2": one(0.96),
                "3": one(0.95),
                "4": one(0.98),
            },
            "twoQubitProperties": {
                "1-2": two(0.99),
                "2-3": two(0.98),
                "3-4": two(0.985),
                "1-4": two(0.97),
            },
        },
    }
    return json.dumps(capabilities)


class CloudState:
    """What the stand-in holds: tasks, results in its S3, and knobs a test turns."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.keys_seen: set[str] = set()
        self.hold = threading.Event()  # set: new tasks stay QUEUED until released
        self.fail_with: str | None = None  # the next task fails with this reason
        self.cancelled: list[str] = []
        self.lock = threading.Lock()

    def release(self) -> None:
        self.hold.clear()
        for arn, task in list(self.tasks.items()):
            if task["status"] == "QUEUED":
                self._start(arn)

    def _start(self, arn: str) -> None:
        threading.Thread(target=self._run, args=(arn,), daemon=True).start()

    def _run(self, arn: str) -> None:
        from braket.default_simulator import StateVectorSimulator
        from braket.ir.openqasm import Program

        task = self.tasks[arn]
        with self.lock:
            if task["status"] != "QUEUED":
                return
            task["status"] = "RUNNING"
        time.sleep(0.05)
        if task["fail"]:
            with self.lock:
                task["status"], task["failureReason"] = "FAILED", task["fail"]
                task["endedAt"] = _now()
            return
        program = Program.parse_raw(task["action"])
        result = StateVectorSimulator().run_openqasm(program, shots=task["shots"])
        result.taskMetadata.id = arn
        result.taskMetadata.deviceId = DEVICE_ARN
        key = f"{task['outputS3Directory']}/results.json"
        with self.lock:
            if task["status"] == "RUNNING":
                self.objects[(task["outputS3Bucket"], key)] = result.json().encode()
                task["status"], task["endedAt"] = "COMPLETED", _now()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Handler(BaseHTTPRequestHandler):
    state: CloudState

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self.send_response(status)
        body = json.dumps({"message": message}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        """A SigV4 signature by the expected access key (the signature is not checked)."""
        header = self.headers.get("Authorization", "")
        if f"Credential={ACCESS_KEY}/" not in header:
            self._error(403, "AccessDeniedException", "The security token is invalid.")
            return False
        self.state.keys_seen.add(ACCESS_KEY)
        return True

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _route(self, method: str) -> None:
        if not self._authorised():
            return
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.strip("/").split("/")]
        state = self.state
        if method == "GET" and parts[0] == "device":
            arn = "/".join(parts[1:])
            if arn != DEVICE_ARN:
                self._error(404, "ResourceNotFoundException", f"Braket device {arn} not found")
                return
            self._reply(
                200,
                {
                    "deviceArn": DEVICE_ARN,
                    "deviceName": "Square4",
                    "providerName": "IQM",
                    "deviceType": "QPU",
                    "deviceStatus": "ONLINE",
                    "deviceCapabilities": garnet_like_capabilities(),
                    "deviceQueueInfo": [],
                },
            )
        elif method == "POST" and parts == ["quantum-task"]:
            self._create(self._body())
        elif parts[0] == "quantum-task" and len(parts) >= 2:
            cancel = parts[-1] == "cancel" and method == "PUT"
            arn = "/".join(parts[1:-1] if cancel else parts[1:])
            task = state.tasks.get(arn)
            if task is None:
                self._error(404, "ResourceNotFoundException", f"quantum task {arn} not found")
            elif cancel:
                with state.lock:
                    if task["status"] in ("CREATED", "QUEUED", "RUNNING"):
                        task["status"] = "CANCELLED"
                        state.cancelled.append(arn)
                self._reply(200, {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"})
            else:
                self._reply(200, self._view(arn, task))
        elif method == "GET" and (parts[0], "/".join(parts[1:])) in state.objects:  # S3
            self._reply(200, raw=state.objects[(parts[0], "/".join(parts[1:]))])
        elif method == "GET" and parts[0] == BUCKET:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
        else:
            self._error(400, "ValidationException", f"no such operation: {method} {path}")

    def _create(self, payload: dict[str, Any]) -> None:
        state = self.state
        if payload.get("deviceArn") != DEVICE_ARN:
            self._error(404, "ResourceNotFoundException", "device not found")
            return
        task_id = str(uuid.uuid4())
        arn = f"arn:aws:braket:{REGION}:123456789012:quantum-task/{task_id}"
        with state.lock:
            fail, state.fail_with = state.fail_with, None
            state.tasks[arn] = {
                "status": "QUEUED",
                "action": payload["action"],
                "deviceParameters": payload.get("deviceParameters"),
                "shots": int(payload["shots"]),
                "outputS3Bucket": payload["outputS3Bucket"],
                "outputS3Directory": f"{payload['outputS3KeyPrefix']}/{task_id}",
                "associations": payload.get("associations", []),
                "tags": payload.get("tags", {}),
                "createdAt": _now(),
                "fail": fail,
            }
        if not state.hold.is_set():
            state._start(arn)
        self._reply(201, {"quantumTaskArn": arn})

    def _view(self, arn: str, task: dict[str, Any]) -> dict[str, Any]:
        queued = task["status"] == "QUEUED"
        position = sum(1 for t in self.state.tasks.values() if t["status"] == "QUEUED")
        view = {
            "quantumTaskArn": arn,
            "status": task["status"],
            "deviceArn": DEVICE_ARN,
            "deviceParameters": task["deviceParameters"] or "{}",
            "shots": task["shots"],
            "outputS3Bucket": task["outputS3Bucket"],
            "outputS3Directory": task["outputS3Directory"],
            "createdAt": task["createdAt"],
            "associations": task["associations"],
            "tags": task["tags"],
            "actionMetadata": {"actionType": "braket.ir.openqasm.program", "programCount": 1},
            "queueInfo": {
                "queue": "QUANTUM_TASKS_QUEUE",
                "position": str(position) if queued else "None",
                "queuePriority": "Normal",
            },
        }
        if task.get("failureReason"):
            view["failureReason"] = task["failureReason"]
        if task.get("endedAt"):
            view["endedAt"] = task["endedAt"]
        return view

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


def start() -> tuple[ThreadingHTTPServer, CloudState]:
    """Serve on a free port of 127.0.0.1 from a thread; the server and its state."""
    state = CloudState()
    handler = type("BraketHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state
