"""Reply routes: a QPU executor answers a job's worker directly.

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
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
from dataclasses import dataclass
from typing import Any

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data

MAX_RECORD = 64 * 1024
"""The largest answer sent over a route; larger ones go through the control plane."""
_MARK = b"r"  # the byte an fd travels with
_keys = itertools.count(1)


class Answered:
    """The value a request's handler replies with once an executor has answered the
    worker over its route: the engine then only settles the request's accounting."""


ANSWERED = Answered()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request's answer may go directly: its worker's route and the request id."""

    key: str  # names the route in executors (unique in this control plane)
    sock: socket.socket  # the engine's (sending) end
    request_id: int

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


def _hung_up(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    return any(event & (select.POLLHUP | select.POLLERR) for _, event in poller.poll(0))


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
