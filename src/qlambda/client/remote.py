"""``Client("http://host:8000", token=...)``: the embedded client's API, over HTTP.

Functions travel as with the embedded platform: callables by value (cloudpickle),
file entry points as their source. Arguments travel as JSON. ``Job.result()`` and
``Job.wait()`` hold a request on the server until the job ends (``GET /jobs/{id}?wait=``,
which answers the moment it does), so they return when the job ends, or at their
timeout whatever the server does: each wait runs against the caller's deadline.

A 503 (the server's database cannot be reached: nothing was done) is retried, after
its ``Retry-After``, for up to ``retry_seconds``; so is a lost connection, for reads
and for submissions. Each ``run`` sends a fresh ``Idempotency-Key`` and its retries the
same key, so the server stores the job once whatever was lost on the way.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
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
RECONNECT_PAUSE = 0.5  # the first pause before a retry; it doubles up to MAX_PAUSE
MAX_PAUSE = 4.0
RETRY_SECONDS = 60.0  # how long a request is retried while the server is unavailable
LONG_POLL = 60.0  # seconds one wait request may stay open on the server
# requests that do the same thing however often they are sent
_IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


class RemoteClient:
    """Talks to ``qlambda serve``. ``token`` defaults to ``$QLAMBDA_TOKEN``; ``timeout``
    bounds each request's connect and each read; ``retry_seconds`` how long a request is
    retried while the server answers 503 or cannot be reached (0: never)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 60,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a server URL starts with http:// or https://, not {url!r}")
        token = token or os.environ.get("QLAMBDA_TOKEN")
        if not token:
            raise ValueError("a remote client needs token=... (or $QLAMBDA_TOKEN)")
        if isinstance(retry_seconds, bool) or not retry_seconds >= 0:
            raise ValueError(f"retry_seconds must be a number >= 0, not {retry_seconds!r}")
        self.retry_seconds = float(retry_seconds)
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
        """True once the server answers and can reach its database (``GET /ready``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if self._http.get("/ready").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(RECONNECT_PAUSE)

    # ------------------------------------------------------------- requests
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON answer, retried for ``retry_seconds``
        after a 503, and after a lost connection when sending it again is harmless."""
        retry = method.upper() in _IDEMPOTENT
        return _answer(self._send(method, path, retry_transport=retry, **kwargs))

    def _send(
        self, method: str, path: str, *, retry_transport: bool, **kwargs: Any
    ) -> httpx.Response:
        """The response, after retries: a 503 means the server did nothing, and a
        refused connection that nothing was sent; any other lost connection is retried
        only when ``retry_transport`` (the request may have been done)."""
        deadline = time.monotonic() + self.retry_seconds
        pause = RECONNECT_PAUSE
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if not (never_sent or retry_transport):
                    raise
                wait = pause
                if time.monotonic() + wait > deadline:
                    raise
            else:
                if response.status_code != 503:
                    return response
                wait = max(pause, _retry_after(response))
                if time.monotonic() + wait > deadline:
                    return response
            time.sleep(wait)
            pause = min(MAX_PAUSE, pause * 2)

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
        sent = self._send("POST", path, retry_transport=True, json=body, headers=headers)
        stored: dict[str, Any] = _answer(sent)
        return stored

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

    def usage(self, since: float | None = None, user: str | None = None) -> dict[str, Any]:
        """Your QPU seconds, cost and tasks since ``since`` (a time; None: all), per backend
        too, with your quota; admins: ``user`` names another user, ``"*"`` every user."""
        params: dict[str, Any] = {}
        if since is not None:
            params["since"] = since
        if user is not None:
            params["user"] = user
        usage: dict[str, Any] = self.request("GET", "/usage", params=params)
        return usage


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
        """True once the job has ended; False at ``timeout`` seconds if it has not.

        Each request asks the server to hold it until the job ends (at most the time
        left), and runs against the deadline: neither a server that stays silent nor a
        lost connection keeps this call past it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = RECONNECT_PAUSE
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            hold = LONG_POLL if remaining is None else min(LONG_POLL, remaining)
            try:
                answer = _before(deadline, functools.partial(self._wait_request, hold))
            except _DeadlinePassed:
                return False
            except (httpx.TransportError, ServiceError) as exc:
                if isinstance(exc, ServiceError) and exc.status < 500:
                    raise
                # the server restarts, or its database is away: ask again
                left = None if deadline is None else deadline - time.monotonic()
                time.sleep(pause if left is None else max(0.0, min(pause, left)))
                pause = min(MAX_PAUSE, pause * 2)
                continue
            pause = RECONNECT_PAUSE
            if JobStatus(answer["status"]).is_final:
                return True

    def _wait_request(self, hold: float) -> dict[str, Any]:
        """``GET /jobs/{id}?wait=hold``: the server answers when the job ends or after
        ``hold`` seconds; the client gives it a little more than that."""
        timeout = httpx.Timeout(10.0, read=hold + 10.0)
        response = self._client._http.get(
            f"/jobs/{self.id}", params={"wait": f"{hold:.3f}"}, timeout=timeout
        )
        answer: dict[str, Any] = _answer(response)
        return answer

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

    def usage(self) -> dict[str, Any]:
        """What its quantum tasks used so far: ``qpu_seconds``, ``cost``, ``tasks``, and
        the same per backend (``backends``)."""
        usage: dict[str, Any] = self._client.request("GET", f"/jobs/{self.id}/usage")
        return usage


class _DeadlinePassed(Exception):
    """The caller's deadline came before the request's answer."""


def _before(deadline: float | None, call: Callable[[], Any]) -> Any:
    """``call()``'s answer or error, or ``_DeadlinePassed`` once ``deadline`` (a
    ``time.monotonic`` time; None: no deadline) has come. The call then finishes on its
    own thread, bounded by its own timeouts, and its answer is dropped."""
    if deadline is None:
        return call()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="qlambda-wait", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise _DeadlinePassed
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asks a client to wait (``Retry-After``: a number of seconds)."""
    try:
        return min(MAX_PAUSE * 4, max(0.0, float(response.headers.get("retry-after", 0))))
    except ValueError:
        return 0.0


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
