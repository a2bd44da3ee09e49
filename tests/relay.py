"""A TCP relay on loopback between a client and a server (PostgreSQL), for tests that
break the connection between them in a chosen way."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass
class Connection:
    """One relayed connection: the client's socket and the server's."""

    client: socket.socket
    server: socket.socket

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class Relay:
    """Relays every connection to ``target``, one thread per direction. Subclasses
    decide: ``admit`` (False: the new client gets no server), ``forward`` (the bytes to
    pass on; None ends the connection), ``ended`` (one side closed its end)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def admit(self, client: socket.socket) -> bool:
        return True

    def forward(self, data: bytes, to_server: bool, connection: Connection) -> bytes | None:
        return data

    def ended(self, connection: Connection) -> None:
        connection.close()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if not self.admit(client):
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._sockets.append(server)
            connection = Connection(client, server)
            for to_server in (True, False):
                threading.Thread(
                    target=self._pump, args=(connection, to_server), daemon=True
                ).start()

    def _pump(self, connection: Connection, to_server: bool) -> None:
        source, sink = (
            (connection.client, connection.server)
            if to_server
            else (connection.server, connection.client)
        )
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                self.ended(connection)
                return
            passed = self.forward(data, to_server, connection)
            if passed is None:
                connection.close()
                return
            try:
                sink.sendall(passed)
            except OSError:
                return
