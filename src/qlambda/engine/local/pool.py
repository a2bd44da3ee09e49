"""A pool of workers forked from one zygote: the engine's side of ``zygote.py``.

The engine keeps one pool for its own workers, or (sandboxed) one per tenant. A
pool starts its zygote (possibly through a sandbox's command line), asks it for
workers, learns their pids and exit codes from it, and maps the pids a sandbox's
PID namespace shows inside to the ones this process can signal.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import msgpack

ZYGOTE_MODULE = "qlambda.engine.local.zygote"
CONTROL_BUFFER = 1 << 20  # the largest control message either side sends


class Launcher(Protocol):
    """How a pool's zygote is started: plainly, or inside a sandbox."""

    def command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that run ``argv`` (a Python command)."""
        ...

    @property
    def uid(self) -> int | None:
        """The uid the zygote switches to after its imports (None: stay)."""
        ...

    @property
    def limits(self) -> dict[str, int]:
        """rlimits for the zygote and its workers: ``nproc``, ``fsize`` (bytes)."""
        ...

    def prepare(self, process: subprocess.Popen[bytes]) -> None:
        """Called once the sandbox's outer process exists (e.g. to put it in a cgroup)."""
        ...

    def release(self) -> None:
        """Called once the pool has stopped."""
        ...

    @property
    def namespaced(self) -> bool:
        """True when the zygote has its own PID namespace (its pids are not ours)."""
        ...


class PlainLauncher:
    """The zygote runs as this user, with this machine's view of everything."""

    uid = None
    namespaced = False
    limits: dict[str, int] = {}  # noqa: RUF012 - read only

    def command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return argv, env

    def prepare(self, process: subprocess.Popen[bytes]) -> None:
        pass

    def release(self) -> None:
        pass


class ZygoteMessageError(Exception):
    pass


@dataclass
class ZygoteEvent:
    op: str
    pid: int = 0
    id: int = 0
    code: int = 0
    error: str = ""


WorkerT = TypeVar("WorkerT")

_EVENT_FIELDS = {"ready": ("pid",), "spawned": ("id", "pid"), "exited": ("pid", "code")}


def parse_zygote_message(data: bytes) -> ZygoteEvent:
    """The zygote may share a sandbox with user code: read its messages as hostile data."""
    try:
        message = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise ZygoteMessageError(f"not msgpack: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ZygoteMessageError("not a zygote message")
    op = message["op"]
    if op == "failed":
        error = message.get("error")
        tb = message.get("tb")
        text = error if isinstance(error, str) else "the zygote failed"
        if isinstance(tb, str):
            text += "\n" + tb
        return ZygoteEvent("failed", error=text[:20_000])
    names = _EVENT_FIELDS.get(op)
    if names is None:
        raise ZygoteMessageError(f"unknown zygote message {op!r}")
    values: dict[str, int] = {}
    for name in names:
        value = message.get(name)
        if type(value) is not int:
            raise ZygoteMessageError(f"zygote message {op!r}: {name} is not an integer")
        values[name] = value
    return ZygoteEvent(
        op, pid=values.get("pid", 0), id=values.get("id", 0), code=values.get("code", 0)
    )


@dataclass
class Pool(Generic[WorkerT]):
    """One zygote and the bookkeeping of the workers forked from it (``WorkerT``: the
    engine's record of a worker)."""

    key: str | None
    base: int  # workers kept even when idle (replaced when they die)
    launcher: Launcher
    workers: list[WorkerT] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    control: socket.socket | None = None
    ready: bool = False
    failed: str | None = None
    pending_spawns: list[tuple[int, socket.socket]] = field(default_factory=list)
    idle_since: float = field(default_factory=time.monotonic)
    zygote_pid: int | None = None  # inside the sandbox's namespace, if any

    def start(self, preload: Sequence[str], env: dict[str, str]) -> None:
        """Start the zygote; it reports ``ready`` on the control socket once warm."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-P", "-m", ZYGOTE_MODULE, str(theirs.fileno())]
        argv, env = self.launcher.command(argv, env)
        try:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),)
            )
        finally:
            theirs.close()
        self.launcher.prepare(self.process)
        self.control = ours
        init = {
            "sys_path": [p for p in sys.path if p],
            "preload": list(preload),
            "uid": self.launcher.uid,
            "gid": self.launcher.uid,
            "limits": self.launcher.limits,
        }
        ours.send(pickle.dumps(init, 5))

    def read(self) -> ZygoteEvent | None:
        """The zygote's next message; None once it has gone."""
        assert self.control is not None
        try:
            data = self.control.recv(CONTROL_BUFFER)
        except OSError:
            return None
        if not data:
            return None
        return parse_zygote_message(data)

    def spawn(self, worker_id: int) -> socket.socket:
        """Ask for a worker; returns the engine's end of its socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.ready:
            self._send_spawn(worker_id, theirs)
        else:
            self.pending_spawns.append((worker_id, theirs))
        return ours

    def on_ready(self, pid: int) -> None:
        self.ready = True
        self.zygote_pid = pid
        pending, self.pending_spawns = self.pending_spawns, []
        for worker_id, theirs in pending:
            self._send_spawn(worker_id, theirs)

    def _send_spawn(self, worker_id: int, theirs: socket.socket) -> None:
        assert self.control is not None
        try:
            socket.send_fds(
                self.control, [pickle.dumps({"op": "spawn", "id": worker_id})], [theirs.fileno()]
            )
        except OSError:
            pass  # the zygote is gone; the worker's socket closes and the engine sees it
        finally:
            theirs.close()

    def outer_pid(self, inner: int) -> int | None:
        """The pid this process can signal for a pid the zygote reported."""
        if not self.launcher.namespaced:
            return inner
        if self.process is None:
            return None
        return namespaced_pid(self.process.pid, inner)

    def stop(self, wait: float = 2.0) -> None:
        if self.control is not None:
            with contextlib.suppress(OSError):
                self.control.send(pickle.dumps({"op": "stop"}))
        if self.process is not None:
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.control is not None:
            with contextlib.suppress(OSError):
                self.control.close()
        for _, theirs in self.pending_spawns:
            theirs.close()
        self.pending_spawns.clear()
        self.launcher.release()

    def kill(self) -> None:
        """The zygote and, in a sandbox, everything in it (its namespace's init dies)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2.0)


def namespaced_pid(root: int, inner: int) -> int | None:
    """Among ``root``'s descendants, the process whose pid in its own namespace is ``inner``."""
    import psutil

    try:
        children = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return None
    for child in children:
        try:
            with open(f"/proc/{child.pid}/status") as status:
                for line in status:
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == inner:
                            return child.pid
                        break
        except (OSError, ValueError):
            continue
    return None
