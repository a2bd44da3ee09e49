"""Describe failures the way the user needs to read them."""

from __future__ import annotations

import signal
import traceback
from pathlib import Path

import qlambda
from qlambda.engine.protocol import ErrorInfo

_OWN_CODE = str(Path(qlambda.__file__).parent)


def format_user_traceback(exc: BaseException) -> str:
    """The traceback from the first frame of user code on: qlambda's own frames
    that merely called the function are noise to the person reading it."""
    frames = traceback.extract_tb(exc.__traceback__)
    start, end = 0, len(frames)
    while start < end - 1 and frames[start].filename.startswith(_OWN_CODE):
        start += 1
    # an error qlambda raised on the function's behalf ends at the function's call
    while end - 1 > start and frames[end - 1].filename.startswith(_OWN_CODE):
        end -= 1
    lines = traceback.format_list(frames[start:end])
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def error_info(exc: BaseException) -> ErrorInfo:
    """Why a task failed, as text, with the exception pickled for engines that trust it."""
    from qlambda.engine.local.wire import dumps

    try:
        pickled: bytes | None = dumps(exc)
    except Exception:
        pickled = None
    return ErrorInfo(type(exc).__name__, _message(exc), format_user_traceback(exc), pickled)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a user's __str__ may raise too
        return f"<{type(exc).__name__} whose message could not be read>"


def describe_exit(exitcode: int | None) -> str:
    """'killed by signal 9 (SIGKILL)' or 'exit code 3' for a worker that died."""
    if exitcode is None:
        return "worker died: its connection closed"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"worker died: killed by signal {-exitcode} ({name})"
    return f"worker died: exit code {exitcode}"
