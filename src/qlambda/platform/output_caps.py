"""Bounds on what a job leaves behind: its result and its log.

``check_result_size`` is the one check of a stored result's size, whatever path the
result took from the worker. ``capped_output`` runs in the worker around the
function: its stdout and stderr go through a pipe to the log file, which stops
growing at the cap (later output is read and dropped, so the function never
blocks). ``read_log`` reads no more than the cap, whoever wrote the file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

MB = 1024 * 1024
LOG_NOTICE = "\n[qlambda: the log reached its limit of {limit}; later output was dropped]\n"


class ResultTooLargeError(ValueError):
    pass


def megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB" if size % MB else f"{size // MB} MB"


def check_result_size(size: int, limit: int | None) -> None:
    """Refuse a result of ``size`` bytes (serialized) past ``limit`` (None: no limit)."""
    if limit is not None and size > limit:
        raise ResultTooLargeError(
            f"the result is {megabytes(size)}, more than the limit of {megabytes(limit)} "
            "(the platform's max_result_bytes); store large data in files and return their names"
        )


@contextlib.contextmanager
def capped_output(limit: int | None) -> Iterator[None]:
    """While inside, file descriptors 1 and 2 write at most ``limit`` bytes, counting what
    the log file already holds (a retried job continues its log); when they are a pipe
    to the engine (Ray, Dask), at most ``limit`` bytes per attempt."""
    if limit is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    room = limit - (os.fstat(1).st_size if _is_file(1) else 0)
    read_end, write_end = os.pipe()
    log = os.dup(1)
    saved = (os.dup(1), os.dup(2))
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    copier = threading.Thread(
        target=_copy, args=(read_end, log, room, limit), name="qlambda-log", daemon=True
    )
    copier.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)  # the pipe's last write ends close: the copier sees its end
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        copier.join(5)  # a child process of the function may still hold the pipe


def _copy(read_end: int, log: int, room: int, limit: int) -> None:
    try:
        while chunk := os.read(read_end, 1 << 16):
            if room <= 0:
                continue  # drained, dropped
            if len(chunk) > room:
                chunk = chunk[:room] + LOG_NOTICE.format(limit=megabytes(limit)).encode()
                room = 0
            else:
                room -= len(chunk)
            _write_all(log, chunk)
    finally:
        os.close(read_end)
        os.close(log)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _is_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def read_log(path: str | Path, limit: int | None) -> tuple[str, bool]:
    """The log's text, at most ``limit`` bytes of it, and whether it went past the limit."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            data = file.read() if limit is None else file.read(limit)
    except FileNotFoundError:
        return "", False
    truncated = limit is not None and size > limit
    text = data.decode(errors="replace")
    if truncated and limit is not None:  # the copier's own notice lies past the limit
        text += LOG_NOTICE.format(limit=megabytes(limit))
    return text, truncated
