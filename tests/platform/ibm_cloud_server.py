"""A LOCAL STAND-IN FOR IBM'S CLOUD, for tests: one HTTP server on loopback that speaks
the documented REST formats of the services ``qiskit-ibm-runtime`` talks to.

It is reached as an HTTP proxy (the backend's ``proxy`` setting), so the SDK's own code
runs unchanged, URLs and hosts included; the host of each request says which service
it is for:

- ``iam.*``: IBM Cloud IAM, ``POST /identity/token`` (an API key for a bearer token, a
  JWT as IAM issues them);
- ``api.global-search-tagging.*`` and ``globalcatalog.*``: the instance lookup
  (``POST /v3/resources/search``, ``GET /api/v1/{plan}``);
- ``quantum.*``: the Qiskit Runtime REST API (``/api/v1``): ``GET /backends``,
  ``/backends/{name}/configuration|properties|status``, ``POST /jobs``,
  ``GET /jobs/{id}``, ``/jobs/{id}/results``, ``/jobs/{id}/metrics``, ``/instances/usage``,
  ``POST /jobs/{id}/cancel``, ``POST /sessions``, ``PATCH /sessions/{id}``,
  ``DELETE /sessions/{id}/close``.

The device behind it is a fake IBM backend: a job's PUBs are decoded as IBM decodes
them and run by qiskit-ibm-runtime's local service on that device, and the result is
encoded as IBM encodes it. What only the cloud does is under the test's control: jobs
may be held in the queue (with a queue position and an estimated start), failed with
a message, or cancelled; the API keys the server was shown are recorded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-api-key-0123456789"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc123:inst-1::"
CHARGED_SECONDS = 3.0  # the QPU time this server bills for each completed job


def _device_files(device: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configuration and properties a fake device ships with: IBM's own format."""
    folder = Path(device.dirname)
    conf = json.loads((folder / device.conf_filename).read_text())
    props = json.loads((folder / device.props_filename).read_text())
    return conf, props


class CloudState:
    def __init__(self, device: Any) -> None:
        self.device = device
        self.configuration, self.properties = _device_files(device)
        self.name = self.configuration["backend_name"]  # e.g. ibmq_manila
        self.jobs: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.keys_seen: list[str] = []
        self.tokens: set[str] = set()
        self.hold = threading.Event()  # set: new jobs stay queued until released
        self.fail_with: str | None = None  # the next job fails with this message
        self.cancelled: list[str] = []
        self.lock = threading.Lock()

    def release(self) -> None:
        self.hold.clear()
        for job_id, job in list(self.jobs.items()):
            if job["status"] == "Queued":
                self._start(job_id)

    def _start(self, job_id: str) -> None:
        threading.Thread(target=self._run, args=(job_id,), daemon=True).start()

    def _run(self, job_id: str) -> None:
        from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder
        from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService

        job = self.jobs[job_id]
        with self.lock:
            if job["status"] != "Queued":
                return
            job["status"] = "Running"
        if job["fail"]:
            time.sleep(0.2)
            job["status"], job["reason"] = "Failed", job["fail"]
            job["results"] = f"Traceback (most recent call last):\nRuntimeError: {job['fail']}"
            return
        inputs = json.loads(job["params"], cls=RuntimeDecoder)
        local = QiskitRuntimeLocalService()._run(
            job["program_id"], inputs=inputs, options={"backend": self.device}, calibration_id=None
        )
        result = local.result()
        with self.lock:
            if job["status"] == "Running":
                job["results"] = json.dumps(result, cls=RuntimeEncoder)
                job["status"] = "Completed"


def _jwt(subject: str) -> str:
    import jwt

    now = int(time.time())
    key = "a local signing key, 32 bytes or more"
    return jwt.encode({"sub": subject, "iat": now, "exp": now + 3600}, key, algorithm="HS256")


class _Handler(BaseHTTPRequestHandler):
    state: CloudState

    def log_message(self, format: str, *args: Any) -> None:
        import os

        if os.environ.get("IBM_CLOUD_SERVER_LOG"):
            super().log_message(format, *args)

    def _reply(self, status: int, body: Any = None, text: str | None = None) -> None:
        data = text if text is not None else json.dumps(body if body is not None else {})
        raw = data.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        host = (url.hostname or self.headers.get("Host", "")).split(":")[0]
        try:
            if host.startswith("iam."):
                return self._iam()
            if host.startswith("api.global-search-tagging."):
                return self._reply(
                    200,
                    {
                        "items": [
                            {
                                "crn": CRN,
                                "name": "qlambda-test",
                                "service_plan_unique_id": "plan-1",
                                "doc": {"extensions": {"allocation": 1}},
                                "tags": [],
                            }
                        ]
                    },
                )
            if host.startswith("globalcatalog."):
                return self._reply(
                    200,
                    {
                        "overview_ui": {"en": {"display_name": "Open"}},
                        "metadata": {"pricing": {"type": "free"}},
                    },
                )
            if not self._authorised():
                return self._reply(401, {"errors": [{"message": "invalid bearer token"}]})
            return self._runtime(method, url.path.removeprefix("/api/v1"), parse_qs(url.query))
        except Exception as exc:  # a bug here must be visible in the test's output
            import traceback

            traceback.print_exc()
            return self._reply(500, {"errors": [{"message": str(exc)}]})

    def _iam(self) -> None:
        form = parse_qs(self._body().decode())
        key = form.get("apikey", [""])[0]
        self.state.keys_seen.append(key)
        if key != API_KEY:
            return self._reply(400, {"errorMessage": "Provided API key could not be found."})
        token = _jwt("tester")
        self.state.tokens.add(token)
        now = int(time.time())
        return self._reply(
            200,
            {
                "access_token": token,
                "refresh_token": "r",
                "token_type": "Bearer",
                "expires_in": 3600,
                "expiration": now + 3600,
            },
        )

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") in self.state.tokens

    def _runtime(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        state = self.state
        parts = [p for p in path.split("/") if p]
        if parts == ["instances", "usage"]:
            return self._reply(
                200,
                {
                    "instance_id": CRN,
                    "usage_consumed_seconds": 0,
                    "usage_limit_seconds": 36000,
                    "usage_limit_reached": False,
                },
            )
        if parts == ["backends"]:
            return self._reply(200, {"devices": [{"name": state.name, "class": "real"}]})
        if parts[:1] == ["backends"] and len(parts) == 3:
            if parts[1] != state.name:
                return self._reply(404, {"errors": [{"message": "backend not found"}]})
            if parts[2] == "configuration":
                return self._reply(200, state.configuration)
            if parts[2] == "properties":
                return self._reply(200, state.properties)
            if parts[2] == "status":
                queued = sum(j["status"] == "Queued" for j in state.jobs.values())
                return self._reply(
                    200,
                    {
                        "state": True,
                        "status": "active",
                        "message": "",
                        "length_queue": queued,
                        "backend_version": "1.0.0",
                    },
                )
        if parts == ["sessions"] and method == "POST":
            session_id = f"session-{uuid.uuid4().hex[:10]}"
            payload = json.loads(self._body() or b"{}")
            state.sessions[session_id] = {"state": "open", **payload}
            return self._reply(200, {"id": session_id})
        if parts[:1] == ["sessions"] and len(parts) >= 2:
            session = state.sessions.setdefault(parts[1], {})
            if method == "PATCH":
                session["accepting_jobs"] = False
                session["state"] = "closed"
                return self._reply(204, text="")
            if method == "DELETE":
                session["state"] = "cancelled"
                return self._reply(204, text="")
            return self._reply(200, {"id": parts[1], **session})
        if parts == ["jobs"] and method == "POST":
            return self._new_job(json.loads(self._body()))
        if parts[:1] == ["jobs"] and len(parts) >= 2:
            job = state.jobs.get(parts[1])
            if job is None:
                return self._reply(404, {"errors": [{"message": f"job {parts[1]} not found"}]})
            what = parts[2] if len(parts) > 2 else ""
            if what == "cancel" and method == "POST":
                with state.lock:
                    if job["status"] in ("Completed", "Failed", "Cancelled"):
                        return self._reply(409, {"errors": [{"message": "job already ended"}]})
                    job["status"] = "Cancelled"
                state.cancelled.append(parts[1])
                return self._reply(204, text="")
            if what == "results":
                return self._reply(200, text=job.get("results") or "")
            if what == "metrics":
                return self._reply(200, self._metrics(parts[1], job))
            return self._reply(200, self._job_view(parts[1], job))
        return self._reply(404, {"errors": [{"message": f"no route {method} {path}"}]})

    def _new_job(self, payload: dict[str, Any]) -> None:
        state = self.state
        job_id = uuid.uuid4().hex[:20]
        fail, state.fail_with = state.fail_with, None
        state.jobs[job_id] = {
            "status": "Queued",
            "program_id": payload["program_id"],
            "params": json.dumps(payload["params"]),
            "backend": payload.get("backend"),
            "session_id": payload.get("session_id"),
            "tags": payload.get("tags", []),
            "created": datetime.now(UTC).isoformat(),
            "fail": fail,
        }
        if not state.hold.is_set():
            state._start(job_id)
        return self._reply(200, {"id": job_id, "backend": payload.get("backend")})

    def _job_view(self, job_id: str, job: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": job_id,
            "backend": job["backend"],
            "program": {"id": job["program_id"]},
            "state": {"status": job["status"]},
            "created": job["created"],
            "session_id": job["session_id"],
            "tags": job["tags"],
            "status": job["status"],
        }
        if job.get("reason"):
            view["state"]["reason"] = job["reason"]
        return view

    def _metrics(self, job_id: str, job: dict[str, Any]) -> dict[str, Any]:
        queued = [i for i, j in self.state.jobs.items() if j["status"] == "Queued"]
        usage: dict[str, Any] = {}
        if job["status"] == "Completed":  # IBM's figure, final once the job is
            usage = {"status": "completed", "qpu_charge_time_seconds": CHARGED_SECONDS}
        metrics: dict[str, Any] = {"timestamps": {"created": job["created"]}, "usage": usage}
        if job_id in queued:
            position = queued.index(job_id) + 1
            start = datetime.now(UTC) + timedelta(seconds=300 * position)
            metrics.update(position_in_queue=position, estimated_start_time=start.isoformat())
        return metrics

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PUT(self) -> None:
        self._route("PUT")


def start(device: Any) -> tuple[ThreadingHTTPServer, CloudState]:
    """Serve on a free loopback port, in a thread of this process; ``server.shutdown()``
    stops it."""
    state = CloudState(device)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="ibm-cloud", daemon=True).start()
    return server, state
