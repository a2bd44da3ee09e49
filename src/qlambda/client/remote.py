"""``Client("http://host:8000", token=...)``: the embedded client's API, over HTTP.

Functions travel as with the embedded platform: callables by value (cloudpickle),
file entry points as their source. Arguments travel as JSON. ``Job.result()``
waits on the job's Server-Sent Events stream, so it returns the moment the job
ends; if the connection drops (a server restart), it reconnects until its timeout.
Each ``run`` sends a fresh ``Idempotency-Key``: when a submission is retried after a
lost connection or a 503, the server answers with the job it already stored.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cloudpickle
import httpx

from qlambda.core.errors import (
    AuthenticationError,
    InvalidRequestError,
    JobCanceledError,
    JobDroppedError,
    JobFailedError,
    LimitExceededError,
    ResultDeletedError,
    ServiceError,
)
from qlambda.core.events import Event, EventKind
from qlambda.core.states import JobStatus, parse_status
from qlambda.platform.functions import (
    Function,
    as_function,
    describe_parameters,
    describe_signature,
)
from qlambda.platform.jobs import JobInfo

_ERRORS = {
    JobStatus.ERROR: JobFailedError,
    JobStatus.CANCELED: JobCanceledError,
    JobStatus.DROPPED: JobDroppedError,
}
RECONNECT_PAUSE = 0.5
SUBMIT_ATTEMPTS = 5  # a submission is sent at most this often (same key) before giving up


class RemoteClient:
    """Talks to ``qlambda serve``. ``token`` defaults to ``$QLAMBDA_TOKEN``."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 60) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a server URL starts with http:// or https://, not {url!r}")
        token = token or os.environ.get("QLAMBDA_TOKEN")
        if not token:
            raise ValueError("a remote client needs token=... (or $QLAMBDA_TOKEN)")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        self._registered: dict[str, str] = {}  # function name -> id last registered

    def __repr__(self) -> str:
        return f"<Client {self.url}>"

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection. Jobs live on in the server."""
        self._http.close()

    def wait_ready(self, timeout: float | None = 120) -> bool:
        """True once the server answers."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.request("GET", "/me")
                return True
            except httpx.TransportError:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                time.sleep(RECONNECT_PAUSE)

    # ------------------------------------------------------------- requests
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        return _answer(response)

    # ------------------------------------------------------------- the API
    def register(self, function: Function | Callable[..., Any]) -> dict[str, Any]:
        """Send a function to the server under its name (done by ``run`` as needed)."""
        function = as_function(function)
        payload = function.payload()
        if self._registered.get(function.name) == payload.id:
            return {"name": function.name, "id": payload.id}
        body: dict[str, Any] = {
            "name": function.name,
            "cpus": function.cpus,
            "timeout": function.timeout_s,
            "memory": function.memory_mb,
        }
        if function.callable is not None:
            body.update(
                kind="pickle",
                content=base64.b64encode(payload.payload).decode(),
                parameters=describe_parameters(function.callable),
                signature=describe_signature(function.callable),
            )
        else:
            assert function.entrypoint is not None
            path, _, attribute = function.entrypoint.rpartition(":")
            file = Path(path)
            body.update(
                kind="source",
                content=base64.b64encode(file.read_bytes()).decode(),
                entrypoint=f"{file.name}:{attribute}",
            )
        described: dict[str, Any] = self.request("POST", "/functions", json=body)
        self._registered[function.name] = payload.id
        return described

    def run(
        self,
        function: Function | Callable[..., Any] | str,
        /,
        *,
        priority: float = 1,
        arguments: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> RemoteJob:
        """Submit ``function`` (or the name of one registered on the server) with
        keyword arguments (JSON values); returns once the server has stored the job."""
        merged = dict(arguments or {})
        merged.update(kwargs)
        try:
            json.dumps(merged, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments to a remote platform must be JSON values: {exc}") from None
        if isinstance(function, str):
            name = function
        else:
            name = self.register(function)["name"]
        body = {"function": name, "arguments": merged, "priority": priority}
        row = self.submit("/jobs", body)
        return RemoteJob(self, row["id"])

    def submit(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a submission with a fresh ``Idempotency-Key``; after a lost connection or
        a 503 send it again with the same key, so that it is stored once."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                response = self._http.post(path, json=body, headers=headers)
            except httpx.TransportError:
                if attempt == SUBMIT_ATTEMPTS:
                    raise
            else:
                if response.status_code != 503 or attempt == SUBMIT_ATTEMPTS:
                    stored: dict[str, Any] = _answer(response)
                    return stored
            time.sleep(RECONNECT_PAUSE * attempt)
        raise AssertionError("unreachable")

    def job(self, job_id: str) -> RemoteJob:
        try:
            self.request("GET", f"/jobs/{job_id}")
        except ServiceError as exc:
            if exc.status == 404:
                raise KeyError(exc.detail) from None
            raise
        return RemoteJob(self, job_id)

    def jobs(
        self,
        status: str | JobStatus | list[str] | None = None,
        limit: int = 100,
        *,
        function: str | None = None,
        offset: int = 0,
    ) -> list[RemoteJob]:
        """Your most recent jobs, newest first, optionally only those in ``status``."""
        return [
            RemoteJob(self, info.id) for info in self.job_infos(status, limit, function, offset)
        ]

    def job_infos(
        self,
        status: str | JobStatus | list[str] | None = None,
        limit: int = 100,
        function: str | None = None,
        offset: int = 0,
    ) -> list[JobInfo]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            values = status if isinstance(status, list) else [status]
            params["status"] = [parse_status(s).value for s in values]
        if function is not None:
            params["function"] = function
        return [_info(row) for row in self.request("GET", "/jobs", params=params)]

    def backends(self) -> list[dict[str, Any]]:
        """The quantum backends with their queues and utilization."""
        backends: list[dict[str, Any]] = self.request("GET", "/backends")
        return backends


class RemoteJob:
    """A handle on one job of a server; every call asks the server."""

    def __init__(self, client: RemoteClient, job_id: str) -> None:
        self._client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status().value}>"

    def info(self) -> JobInfo:
        return _info(self._client.request("GET", f"/jobs/{self.id}"))

    def status(self) -> JobStatus:
        return self.info().status

    def sub_status(self) -> str | None:
        return self.info().sub_status

    def done(self) -> bool:
        return self.status().is_final

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has ended (within ``timeout`` seconds); pushed, not polled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                if self._listen(remaining):
                    return True
            except (httpx.TransportError, ServiceError) as exc:
                if isinstance(exc, ServiceError) and exc.status < 500:
                    raise
                time.sleep(RECONNECT_PAUSE)  # the server restarts: listen again

    def _listen(self, remaining: float | None) -> bool:
        read = 60.0 if remaining is None else max(0.01, remaining)
        timeout = httpx.Timeout(10.0, read=read)
        try:
            with self._client._http.stream(
                "GET", f"/jobs/{self.id}/stream", timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    _answer(response)
                for line in response.iter_lines():
                    if line.startswith("event: end"):
                        return True
        except httpx.ReadTimeout:
            return False
        return False

    def result(self, timeout: float | None = None) -> Any:
        """The function's return value, the moment the job ends.

        Raises ``JobFailedError`` (with the function's own traceback), ``JobCanceledError``
        or ``JobDroppedError``; ``TimeoutError`` if it has not ended within ``timeout``.
        """
        if not self.wait(timeout):
            raise TimeoutError(f"job {self.id} has not ended within {timeout} s")
        try:
            row = self._client.request("GET", f"/jobs/{self.id}/result")
        except ServiceError as exc:
            if exc.status == 410:  # the retention policy deleted it
                raise ResultDeletedError(self.id) from None
            raise
        status = JobStatus(row["status"])
        if status is JobStatus.DONE:
            if row.get("pickle") is None:
                return row.get("value")
            return cloudpickle.loads(base64.b64decode(row["pickle"]))
        raise _ERRORS[status](self.id, status.value, row["reason"] or "", row["traceback"])

    def logs(self) -> str:
        """Everything the function wrote to stdout and stderr, in order."""
        logs: str = self._client.request("GET", f"/jobs/{self.id}/logs")["logs"]
        return logs

    def cancel(self) -> bool:
        """Cancel it if it has not ended; True if this call canceled it."""
        canceled: bool = self._client.request("POST", f"/jobs/{self.id}/cancel")["canceled"]
        return canceled

    def events(self) -> list[Event]:
        """Timestamped transitions: submitted, admitted, started, quantum tasks, end."""
        return [
            Event(row["job_id"], row["ts"], EventKind(row["kind"]), row["data"] or {})
            for row in self._client.request("GET", f"/jobs/{self.id}/events")
        ]


def _info(row: dict[str, Any]) -> JobInfo:
    return JobInfo.from_row({**row, "function_name": row["function"]})


def _answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    status = response.status_code
    if status in (401, 403):
        raise AuthenticationError(status, detail)
    if status == 429:
        raise LimitExceededError(status, detail)
    if 400 <= status < 500 and status != 404:
        raise InvalidRequestError(status, detail)
    raise ServiceError(status, detail)
