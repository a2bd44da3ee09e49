"""The zygote: a process that has imported the heavy stack once and forks warm workers.

Workers are forked from it, so a new worker is warm within milliseconds. It is
started with ``python -P -m qlambda.engine.local.zygote FD`` (optionally inside a
sandbox) and never imports the user's ``__main__`` script: a script without an
``if __name__ == "__main__":`` guard runs once, in the user's process, as with
Ray. Functions from ``__main__`` travel by value.

Over its control socket (FD, a SOCK_SEQPACKET unix socket) the engine sends
pickled commands: ``init``, then ``spawn`` with the worker's own socket attached
(SCM_RIGHTS), and ``stop``. The zygote answers in msgpack (the engine reads
nothing else from a process that may share a sandbox with user code): ``ready``,
``spawned`` (with the worker's pid), ``exited`` (with its exit code), ``failed``.
It stays single-threaded, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import pickle
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

import msgpack

from qlambda.engine.local.pool import CONTROL_BUFFER

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: be killed when the parent goes, however it goes (even ``kill -9``)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _send(control: socket.socket, **message: Any) -> None:
    with contextlib.suppress(OSError):
        control.send(msgpack.packb(message, use_bin_type=True))


def _apply_limits(limits: dict[str, int]) -> None:
    """rlimits for everything forked from here (a sandboxed tenant's workers)."""
    import resource

    if "nproc" in limits:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    if "fsize" in limits:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails, EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    if limits:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges(uid: int | None, gid: int | None) -> None:
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(gid if gid is not None else uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:  # never run user code as root by mistake
        raise RuntimeError(f"could not switch to uid {uid}")


def main(argv: list[str]) -> None:
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        os._exit(70)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the user's process
    control = socket.socket(fileno=int(argv[0]))
    try:
        init = pickle.loads(control.recv(CONTROL_BUFFER))
        sys.path[:] = init["sys_path"]
        for module in init["preload"]:
            importlib.import_module(module)
        _apply_limits(init.get("limits") or {})
        _drop_privileges(init.get("uid"), init.get("gid"))
    except BaseException as exc:
        _send(control, op="failed", error=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())
        return
    gc.collect()
    gc.freeze()  # what the workers inherit stays shared: the collector never touches it
    _serve(control)


def _serve(control: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up fd does the work
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    _send(control, op="ready", pid=os.getpid())
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(control)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(control, CONTROL_BUFFER, 1)
            except OSError:
                data, fds = b"", []
            if not data:  # the engine is gone: so are we
                return
            command = pickle.loads(data)
            if command["op"] == "stop":
                return
            if command["op"] == "spawn":
                pid = os.fork()
                if pid == 0:
                    _child(control, selector, (wake_r, wake_w), fds[0])
                for fd in fds:
                    os.close(fd)
                _send(control, op="spawned", id=command["id"], pid=pid)


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, op="exited", pid=pid, code=os.waitstatus_to_exitcode(status))


def _child(
    control: socket.socket,
    selector: selectors.BaseSelector,
    pipe: tuple[int, int],
    fd: int,
) -> None:
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        selector.close()
        control.close()
        for end in pipe:
            os.close(end)
        die_with_parent()
        from qlambda.engine.local.worker import worker_main

        worker_main(fd)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
