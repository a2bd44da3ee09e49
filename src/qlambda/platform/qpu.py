"""What runs inside a QPU executor process: one backend's device, built once by its
kind (:meth:`qlambda.quantum.backends.BackendKind.open`).

An executor is shared by every job that reaches its backend, on a server by every
tenant. It opens each request as data, with the backend's limits (never a pickle, but
for execution-option steps carried by value where ``allow_code``: the embedded
platform, whose executors run its one user's code anyway), and answers with data, so
the dispatcher unpickles nothing it sends either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_runtime: Any = None
_limits: Any = None


def open_device(config: Any, allow_code: bool = False) -> None:
    """Engine initializer: build the backend's device (for a simulator: noise model,
    simulator) once and run a first circuit, so the first task pays no first-call costs.
    The worker then freezes all of it out of the garbage collector's full passes
    (``engine.local.worker``)."""
    global _runtime, _limits
    from qlambda.quantum.backends import backend_kind
    from qlambda.quantum.codec import RequestLimits

    _runtime = backend_kind(config.kind).open(config)
    width = _runtime.device_qubits or config.num_qubits
    _limits = RequestLimits(max_qubits=width, allow_code=allow_code)
    _runtime.warm_up()


def execute(envelope: Any, calibration: Any = None, reply_to: Any = None) -> Any:
    """Run one sealed quantum task on this process's device; the result goes back as data
    (a ``protocol.Encoded``).

    ``calibration``: the backend's current snapshot when it changed since the last task
    sent here, else its id (or None for a backend without calibration). ``reply_to``:
    the requesting worker's route and request (``engine.local.routes``): the result goes
    there directly, and the control plane gets its timings only, marked ``delivered``.
    """
    import dataclasses

    from qlambda.engine.local import routes
    from qlambda.quantum.envelope import seal_outcome

    recompiled = False
    if calibration is not None and not isinstance(calibration, str):
        recompiled = _runtime.calibrate(calibration)
    outcome = _runtime.execute(envelope.open(_limits), _report)
    current = _runtime.calibration
    outcome = dataclasses.replace(
        outcome,
        calibration=None if current is None else current.id,
        recompiled=recompiled,
    )
    sealed = seal_outcome(outcome)
    answer = sealed.to_encoded()
    if reply_to is not None and routes.deliver(reply_to, answer.data):
        return dataclasses.replace(sealed, payload=b"", delivered=True).to_encoded()
    return answer


@dataclass(frozen=True)
class LaneTerms:
    """What a lane may serve (``qlambda.platform.lanes``): requests of one job's task,
    named for this backend, or unnamed ones when the job's pin is this backend; it ends
    after ``idle_seconds`` without one."""

    backend: str
    task_id: int  # the job's task in its engine (the requests carry it)
    request_id: int  # the request that opened the lane
    route: str  # the key of the worker's reply route
    unnamed: bool
    idle_seconds: float


def serve_lane(envelope: Any, calibration: Any, reply_to: Any, terms: LaneTerms) -> None:
    """Run the request that opened a lane, then the job's next ones straight from its
    worker's request route, until the engine says yield, a request needs the control
    plane, or none comes for ``idle_seconds``. Each request is reported to the control
    plane ("started" before it is taken off the route, then "done" or "failed"), which
    keeps the journal, the accounting and the time limit of each as for any task."""
    import select
    import socket

    from qlambda.engine import protocol
    from qlambda.engine.channel import current_channel
    from qlambda.engine.local import routes

    channel: Any = current_channel()
    _serve(channel, terms.request_id, envelope, calibration, reply_to)
    sock = routes.lent()
    if sock is None:
        return
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(channel.conn.fileno(), select.POLLIN)
    while True:
        ready = dict(poller.poll(terms.idle_seconds * 1000))
        if not ready:
            return
        if channel.conn.fileno() in ready:  # a Yield, or the engine has other work here
            message = channel.receive()
            if not isinstance(message, protocol.Yield):
                channel.inbox.append(message)
            return
        try:
            record = sock.recv(routes.MAX_RECORD + 1, socket.MSG_PEEK)
        except OSError:
            return
        request = _servable(record, terms)
        if request is None:  # left on the route for the control plane
            return
        request_id, taken, facts = request
        channel.notify("started", [request_id, facts])
        sock.recv(routes.MAX_RECORD + 1)
        _serve(channel, request_id, taken, None, (terms.route, request_id))


def _serve(channel: Any, request_id: int, envelope: Any, calibration: Any, reply_to: Any) -> None:
    from qlambda.engine.local.userfault import error_info

    try:
        answer = execute(envelope, calibration, reply_to)
    except Exception as exc:
        info = error_info(exc)
        channel.notify("failed", [request_id, info.type, info.message, info.traceback])
    else:
        channel.notify("done", [request_id, answer.data])


def _servable(record: bytes, terms: LaneTerms) -> tuple[int, Any, dict[str, Any]] | None:
    """(request id, envelope, its facts) of a record this lane may serve, else None. The
    facts are the envelope's fields as the worker sent them (checked) but its payload:
    what the control plane records the request by."""
    from qlambda.engine.local import routes
    from qlambda.engine.protocol import ProtocolError
    from qlambda.quantum.envelope import RequestEnvelope
    from qlambda.quantum.selection import why_unfit

    try:
        task_id, request_id, payload = routes.parse_request(record)
        envelope = RequestEnvelope.from_data(payload)
    except (ProtocolError, ValueError):
        return None
    if task_id != terms.task_id or envelope.mode is not None:
        return None
    if envelope.backend != terms.backend and not (envelope.backend is None and terms.unnamed):
        return None
    if why_unfit(envelope, _runtime.config) is not None:
        return None
    facts = {name: value for name, value in payload.items() if name != "payload"}
    return request_id, envelope, facts


def describe_device() -> Any:
    """What a function's worker needs to build the device's ``Target`` (plain data)."""
    from qlambda.engine.protocol import Encoded, pack_data

    return Encoded("data", pack_data(_runtime.describe()))


def device_snapshot(taken_at: float) -> Any:
    """The device's calibration read from the device (a ``Calibration`` as JSON data)."""
    from qlambda.engine.protocol import Encoded, pack_data

    snapshot = _runtime.snapshot(taken_at)
    return Encoded("data", pack_data(None if snapshot is None else snapshot.to_json()))


def close_modes(modes: list[str]) -> None:
    """Close the vendor sessions and batches of a job that ended."""
    _runtime.close_modes(list(modes))


def cancel_vendor_jobs(jobs: list[str]) -> None:
    """Cancel vendor jobs a stopped task of this backend left running; runs in the
    executor that replaced it, which holds the backend's credentials."""
    _runtime.cancel(list(jobs))


def _report(data: dict[str, Any]) -> None:
    """A device's news about the running task (a vendor job's id, status, queue place),
    sent to the dispatcher as data; it becomes an event of the task's job."""
    from qlambda.engine.channel import current_channel

    channel = current_channel()
    if channel is not None:
        channel.notify("device", data)
