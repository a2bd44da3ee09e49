"""Reply and request routes: a job's worker and a QPU executor talk directly.

Every worker of a local engine gets, besides its connection, the receiving end of a
one-way route to it (a ``SOCK_SEQPACKET`` pair: one record per answer). The engine keeps
the sending end and passes it (``SCM_RIGHTS``) to a QPU executor with the first task
that answers over it. The executor then sends the task's result straight to the
worker and tells the control plane only that it did, with the task's timings: the
answer skips a process hop and the control plane's decoding, while admission, the
policy, accounting and the journal stay in the control plane, which still answers
every failure (a time limit, a cancel, an executor's error) itself.

Nothing flows the other way: the engine's end is shut for reading and the worker's for
writing, so a worker cannot send anything over its route. Executors send without
blocking: an answer a worker does not read, or too large for one record, goes the
usual way through the control plane; it never stalls an executor shared by everyone.

Each worker also has a request route, the other way: its quantum requests go there
(one record each), and the engine reads them as it reads the worker's connection.
While a job is the only one using a backend, the dispatcher may lend the route's
reading end to the executor that just ran the job's request (a lane,
``qlambda.platform.lanes``): the executor then takes the job's next requests itself,
with no stop in the control plane, and reports each one there. Ownership is never
shared: the engine stops reading before it lends the route and reads again only once
the executor has given it back. An executor looks at a record (``MSG_PEEK``) and
reports it before it takes it, so a record it cannot serve, or one it had not yet
reported when it died, stays for the engine to read.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data

MAX_RECORD = 64 * 1024
"""The largest answer sent over a route; larger ones go through the control plane."""
_MARK = b"r"  # the byte an fd travels with
_keys = itertools.count(1)


class Answered:
    """The value a request's handler replies with once an executor has answered the
    worker over its route: the engine then only settles the request's accounting."""


ANSWERED = Answered()


class Lanes(Protocol):
    """What a dispatcher may do with the request route of a request's worker."""

    task_id: int  # the task that sent the request (the requests a lane serves carry it)

    def lend(self) -> int | None:
        """A duplicate of the route's reading end for an executor (the engine stops
        reading it), or None if it cannot be lent now."""

    def took(self, request_id: int) -> Callable[[bool, Any], None] | None:
        """The executor took this request: the reply that answers it (None: its task has
        ended)."""

    def give_back(self) -> None:
        """The executor has let the route go: the engine reads it again."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request's answer may go directly: its worker's route and the request id."""

    key: str  # names the route in executors (unique in this control plane)
    sock: socket.socket  # the engine's (sending) end
    request_id: int
    lanes: Lanes | None = None  # the worker's request route, for a lane

    @property
    def address(self) -> tuple[str, int]:
        """What the executor's task receives: which route, which request."""
        return self.key, self.request_id


def new_route() -> tuple[str, socket.socket, socket.socket]:
    """A route's key, the engine's sending end and the worker's receiving end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.shutdown(socket.SHUT_RD)
    theirs.shutdown(socket.SHUT_WR)
    return f"{os.getpid()}-{next(_keys)}", ours, theirs


def send_fd(conn_fd: int, fd: int) -> None:
    """Pass ``fd`` over the Unix socket ``conn_fd`` (a worker's connection), in order
    with the messages sent on it."""
    with socket.socket(fileno=os.dup(conn_fd)) as sock:
        socket.send_fds(sock, [_MARK], [fd])


def receive_fd(conn_fd: int) -> int:
    """The fd :func:`send_fd` passed: next on the connection, after the message saying so."""
    with socket.socket(fileno=os.dup(conn_fd)) as sock:
        data, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if data != _MARK or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError("the engine announced a route but sent none")
    return fds[0]


# ------------------------------------------------------------ in a QPU executor
_routes: dict[str, socket.socket] = {}


def keep(key: str, fd: int) -> None:
    """Hold a route passed with a task; routes whose worker has gone are closed."""
    for old, sock in list(_routes.items()):
        if _hung_up(sock):
            sock.close()
            del _routes[old]
    _routes[key] = socket.socket(fileno=fd)


def deliver(address: Any, data: bytes) -> bool:
    """Send ``data`` as the answer to the request at ``address`` (``Route.address``);
    False if it must go through the control plane instead."""
    if not (isinstance(address, tuple) and len(address) == 2) or len(data) > MAX_RECORD:
        return False
    key, request_id = address
    sock = _routes.get(key)
    if sock is None:
        return False
    try:
        sock.send(pack_data([request_id, data]), socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False  # the worker is not reading: the control plane answers
    except OSError:  # its worker has gone
        sock.close()
        _routes.pop(key, None)
        return False
    return True


_lent: socket.socket | None = None  # the request route lent for the running task


def lend(fd: int) -> None:
    """Hold the request route lent with a task (``lent``), until ``give_back``."""
    global _lent
    give_back()
    _lent = socket.socket(fileno=fd)


def lent() -> socket.socket | None:
    return _lent


def give_back() -> None:
    """Close the lent request route: the engine reads it again once the task has ended."""
    global _lent
    close_quietly(_lent)
    _lent = None


def _hung_up(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    return any(event & (select.POLLHUP | select.POLLERR) for _, event in poller.poll(0))


def new_request_route() -> tuple[socket.socket, socket.socket]:
    """A request route: the engine's (receiving) end and the worker's (sending) end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.shutdown(socket.SHUT_WR)
    theirs.shutdown(socket.SHUT_RD)
    ours.setblocking(False)  # read when the selector says so, and once more when lent back
    return ours, theirs


def send_request(sock: socket.socket, task_id: int, request_id: int, payload: Any) -> bool:
    """A quantum request over a worker's request route; False if it must go over the
    connection instead (too large for one record, or the route is full)."""
    record = pack_data([task_id, request_id, payload])
    if len(record) > MAX_RECORD:
        return False
    try:
        sock.send(record, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    return True


def parse_request(record: bytes) -> tuple[int, int, Any]:
    """(task id, request id, payload) of a request route's record; ``ProtocolError`` if
    it is not one (a worker's records are hostile data)."""
    if len(record) > MAX_RECORD:
        raise ProtocolError(f"a request of more than {MAX_RECORD} bytes on a request route")
    request = unpack_data(record)
    if (
        not isinstance(request, list)
        or len(request) != 3
        or type(request[0]) is not int
        or type(request[1]) is not int
    ):
        raise ProtocolError("a malformed record on a request route")
    return request[0], request[1], request[2]


# --------------------------------------------------------------- in a worker
def read_answer(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next answer on a worker's route: (request id, data); None once it is closed."""
    record = sock.recv(MAX_RECORD + 1024)
    if not record:
        return None
    try:
        answer = unpack_data(record)
    except ProtocolError:
        answer = None
    if (
        not isinstance(answer, list)
        or len(answer) != 2
        or type(answer[0]) is not int
        or not isinstance(answer[1], bytes)
    ):
        raise ProtocolError("a malformed answer on the reply route")
    return answer[0], answer[1]


def close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
