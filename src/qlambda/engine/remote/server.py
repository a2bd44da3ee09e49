"""The submitter's end of the channel for tasks that run on other machines.

A task on a Ray or Dask worker cannot use a pipe to its submitter, so it dials
back over TCP (``multiprocessing.connection``, authenticated with a per-engine
key) and speaks the same request / reply / notify messages as the local
engine's workers. ``execute_job`` and ``JobContext`` therefore work unchanged on
any engine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener
from typing import Any

from qlambda.engine import protocol
from qlambda.engine.local.wire import dumps

# (task_id, message, send) -> None; ``send`` writes one message back to the task
MessageHandler = Callable[[int, Any, Callable[[Any], None]], None]


@dataclass(frozen=True)
class ChannelAddress:
    """What a remote task needs to reach its submitter."""

    host: str
    port: int
    authkey: bytes


def default_host(fallback: str = "127.0.0.1") -> str:
    """Where remote tasks find the submitter: ``QLAMBDA_CHANNEL_HOST``, else ``fallback``."""
    return os.environ.get("QLAMBDA_CHANNEL_HOST") or fallback


class ChannelServer:
    """Accepts the connections of running tasks and hands their messages to ``handler``.

    One thread accepts; each connected task gets a reader thread for as long as it
    runs (tasks with a channel are jobs and isolated tasks, never the small batched
    ones, so these threads stay few).
    """

    def __init__(self, handler: MessageHandler, host: str = "127.0.0.1") -> None:
        self._handler = handler
        self._listener = Listener((host, 0), family="AF_INET", authkey=secrets.token_bytes(32))
        bound_host, port = self._listener.address
        # the Listener keeps its key private; a task needs it to connect back
        authkey = self._listener._authkey  # type: ignore[attr-defined]
        self.address = ChannelAddress(bound_host, port, authkey)
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="qlambda-channel", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # wakes a reader blocked on it, sends FIN
                socket.socket(fileno=os.dup(connection.fileno())).shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
        # unblock accept() by connecting once; the listener then closes
        with contextlib.suppress(OSError):
            socket.create_connection((self.address.host, self.address.port), timeout=1).close()
        self._thread.join(2.0)
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except Exception:
                if self._closed:
                    return
                continue  # a stranger without the key, or a dropped handshake
            if self._closed:
                connection.close()
                return
            with self._lock:
                self._connections.add(connection)
            threading.Thread(
                target=self._serve, args=(connection,), name="qlambda-channel-task", daemon=True
            ).start()

    def _serve(self, connection: Connection) -> None:
        send_lock = threading.Lock()

        def send(message: Any) -> None:
            data = dumps(message)
            with send_lock, contextlib.suppress(OSError):
                connection.send_bytes(data)

        try:
            hello = protocol.decode(connection.recv_bytes(protocol.MAX_MESSAGE_BYTES))
            if not isinstance(hello, protocol.Hello):
                return
            task_id = hello.task_id
            self._handler(task_id, hello, send)
            while True:
                message = protocol.decode(connection.recv_bytes(protocol.MAX_MESSAGE_BYTES))
                if getattr(message, "task_id", task_id) != task_id:
                    return  # a connection speaks for the task that said hello, only
                self._handler(task_id, message, send)
        except (EOFError, OSError, protocol.ProtocolError):
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()
