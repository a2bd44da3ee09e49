"""The messages between an engine and the processes that run tasks, by name.

A worker runs user code, so whatever reaches the engine from it is hostile input.
Messages in that direction are msgpack data, decoded with size limits and checked
field by field against the types below: never a pickle, never more than
``MAX_MESSAGE_BYTES``. Messages the other way (the engine hands a worker its
function and arguments) travel as pickles: a worker trusts its engine, never
the reverse.

A value a task returns crosses as :class:`Encoded`: ``json`` and ``data`` are
data, ``pickle`` is bytes that only a party that trusts the task decodes (the
embedded platform, a pilot, the user's own client), never the server.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import msgpack

MAX_MESSAGE_BYTES = 1 << 30
"""The largest message an engine reads from a worker (results above are refused)."""
PICKLE_PROTOCOL = 5


class ProtocolError(Exception):
    """A message that is not one of the protocol's, or whose fields have the wrong types."""


# ---------------------------------------------------------------- values that cross
@dataclass(frozen=True, slots=True)
class Encoded:
    """A value as it crosses from a task: ``format`` says how ``data`` decodes.

    ``json``: UTF-8 JSON text; ``data``: msgpack of plain data; ``pickle``: a
    (cloud)pickle that only whoever trusts the task may load.
    """

    format: str
    data: bytes

    FORMATS: ClassVar[tuple[str, ...]] = ("json", "data", "pickle")

    def decode(self, *, trusted: bool) -> Any:
        if self.format == "json":
            return json.loads(self.data)
        if self.format == "data":
            return unpack_data(self.data)
        if self.format == "pickle":
            if not trusted:
                raise ProtocolError("a pickled value is opaque here: only its owner decodes it")
            return pickle.loads(self.data)
        raise ProtocolError(f"unknown value format {self.format!r}; known: json, data, pickle")


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a task failed, as text; ``exception`` is the pickled exception itself, which
    only an engine that trusts its workers turns back into the exception."""

    type: str
    message: str
    traceback: str
    exception: bytes | None = None


# --------------------------------------------------------------- worker -> engine
@dataclass(frozen=True, slots=True)
class Ready:
    """The worker has imported its stack and waits for tasks."""


@dataclass(frozen=True, slots=True)
class InitFailed:
    """The worker's initializer raised; the engine's tasks cannot run."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class Hello:
    """A task on another machine (Ray, Dask) dialed back: it starts, there."""

    task_id: int
    pid: int
    node: str | None


@dataclass(frozen=True, slots=True)
class TaskDone:
    """A task ended: with a value, or with an error."""

    task_id: int
    value: Encoded | None
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class Request:
    """A running task asks its submitter something and waits for the :class:`Reply`.

    ``payload`` is plain data; what it must hold depends on ``kind`` and is checked
    by whoever answers. ``blocking``: the task's cpus may be lent out meanwhile.
    """

    task_id: int
    request_id: int
    kind: str
    payload: Any
    blocking: bool


@dataclass(frozen=True, slots=True)
class Notify:
    """A one-way message of a running task (its status, that it started, ...)."""

    task_id: int
    kind: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Output:
    """What a remote task wrote to stdout and stderr, for its log."""

    task_id: int
    chunk: bytes


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """A remote task outgrew its memory limit (its worker watches it)."""

    task_id: int
    reason: str


# --------------------------------------------------------------- engine -> worker
@dataclass(frozen=True, slots=True)
class WorkerStart:
    """The first message to a new worker: where to import from, what to set up."""

    sys_path: list[str]
    initializer: Any = None
    initargs: tuple[Any, ...] = ()
    reply_route: bool = False  # the worker's end of its reply route follows (``routes``)
    request_route: bool = False  # then the worker's end of its request route


@dataclass(frozen=True, slots=True)
class RunTask:
    """Run ``function`` (a pickle, or the one cached under ``function_key``) on ``arguments``
    (a pickled ``(args, kwargs)``), with ``options`` for isolation (directory, log, cpus).
    ``route``: the key of a reply route whose sending end follows (``routes``)."""

    task_id: int
    function_key: str | None
    function: bytes | None
    arguments: bytes
    options: dict[str, Any] | None
    route: str | None = None
    lane: bool = False  # a worker's request route follows, lent for this task (``routes``)


@dataclass(frozen=True, slots=True)
class Reply:
    request_id: int
    ok: bool
    value: Any


@dataclass(frozen=True, slots=True)
class Yield:
    """End the lane the running task serves (``routes``) once its current request is done."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Leave once the current task (if any) is done."""


FROM_WORKER: tuple[type, ...] = (
    Ready,
    InitFailed,
    Hello,
    TaskDone,
    Request,
    Notify,
    Output,
    LimitExceeded,
)
_NESTED: tuple[type, ...] = (Encoded, ErrorInfo)
_TAGS = {cls: cls.__name__ for cls in FROM_WORKER + _NESTED}
_BY_TAG = {name: cls for cls, name in _TAGS.items()}


# ---------------------------------------------------------------------- codec
def _schema(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


_SCHEMAS = {cls: _schema(cls) for cls in FROM_WORKER + _NESTED}


def _to_plain(value: Any) -> Any:
    if type(value) in _SCHEMAS:
        return [
            _TAGS[type(value)],
            *(_to_plain(getattr(value, n)) for n, _ in _SCHEMAS[type(value)]),
        ]
    return value


def encode(message: Any) -> bytes:
    """A worker's message as msgpack bytes."""
    if type(message) not in _TAGS or type(message) in _NESTED:
        raise TypeError(f"{type(message).__name__} is not a message a worker sends")
    return msgpack.packb(_to_plain(message), use_bin_type=True)


def decode(data: bytes) -> Any:
    """A worker's message from msgpack bytes, every field checked; ``ProtocolError`` else."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        plain = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several types for malformed input
        raise ProtocolError(f"not a msgpack message: {exc}") from None
    message = _build(plain, FROM_WORKER, "message")
    return message


def _build(plain: Any, allowed: tuple[type, ...], where: str) -> Any:
    if not isinstance(plain, list) or not plain or not isinstance(plain[0], str):
        raise ProtocolError(f"{where}: expected a tagged record, got {type(plain).__name__}")
    cls = _BY_TAG.get(plain[0])
    if cls is None or cls not in allowed:
        names = ", ".join(c.__name__ for c in allowed)
        raise ProtocolError(f"{where}: unknown record {plain[0]!r}; expected one of {names}")
    schema = _SCHEMAS[cls]
    values = plain[1:]
    if len(values) != len(schema):
        raise ProtocolError(f"{cls.__name__}: {len(values)} fields; expected {len(schema)}")
    fields = {}
    for (name, kind), value in zip(schema, values, strict=True):
        fields[name] = _check(value, kind, f"{cls.__name__}.{name}")
    return cls(**fields)


def _check(value: Any, kind: Any, where: str) -> Any:
    if kind is Any:
        return value
    origin = typing.get_origin(kind)
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: {type(value).__name__} is not {kind}")
    if kind in _SCHEMAS:
        return _build(value, (kind,), where)
    if origin is not None:  # list[str], dict[str, Any]: the container's type is enough
        kind = origin
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise ProtocolError(f"{where}: {type(value).__name__} where {kind.__name__} is expected")
    return value


def pack_data(value: Any) -> bytes:
    """Plain data (dicts, lists, str, bytes, numbers, None) as msgpack."""
    return msgpack.packb(value, use_bin_type=True)


def unpack_data(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise ProtocolError(f"not msgpack data: {exc}") from None
