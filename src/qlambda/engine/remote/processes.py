"""Process trees started for test and benchmark clusters, stopped by pid only."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time

import psutil


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tree(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process and everything it started."""
    try:
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (the processes of a killed tree are not our children,
    so their exit status may stay unreaped)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes have exited; return those still running."""
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole tree at once, as when its machine fails."""
    processes = tree(process)
    for member in processes:
        with contextlib.suppress(psutil.Error):
            member.send_signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    wait_gone(processes, 10.0)


def stop_tree(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the tree, SIGKILL what is left after ``timeout``."""
    processes = tree(process)
    for member in processes:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    for member in wait_gone(processes, timeout):
        with contextlib.suppress(psutil.Error):
            member.kill()
    wait_gone(processes, 5.0)
