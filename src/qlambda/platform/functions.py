"""Serverless functions: what users decorate, and how they travel to workers.

Callables are shipped by value with cloudpickle when they come from the user's
own code (a script's ``__main__``, a notebook, a project directory), as Ray and
Braket hybrid jobs do, and by reference when they live in an installed package.
A file entry point (``"file.py:main"``) travels as its source text.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle

from qlambda.engine.codepaths import is_library_file
from qlambda.platform.units import parse_megabytes, parse_seconds

CONTEXT_PARAMETER = "ctx"


@dataclass(frozen=True)
class FunctionPayload:
    """What the store keeps and a worker needs to run a function."""

    id: str
    name: str
    kind: str  # "pickle" | "source"
    payload: bytes
    entrypoint: str | None
    signature: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FunctionPayload:
        """A stored function's payload (a row of the store's ``functions``)."""
        return cls(
            row["id"], row["name"], row["kind"], row["payload"], row["entrypoint"], row["signature"]
        )


def stored_limits(row: Mapping[str, Any]) -> dict[str, Any]:
    """The limits a stored function's jobs run under (a row of ``functions``)."""
    return {"cpus": row["cpus"], "timeout_s": row["timeout_s"], "memory_mb": row["memory_mb"]}


@dataclass(frozen=True)
class Function:
    """A unit of work the platform runs as jobs.

    Exactly one of ``callable`` or ``entrypoint`` ("path/to/file.py:function").
    ``timeout`` in seconds or "30s"/"5m"; ``memory`` in MB or "512MB"/"2GB".
    """

    name: str
    callable: Callable[..., Any] | None = None
    entrypoint: str | None = None
    cpus: int = 1
    timeout: float | None = None
    memory: float | None = None
    _payload: list[FunctionPayload] = field(default_factory=list, repr=False, compare=False)

    if TYPE_CHECKING:
        # What the generated __init__ accepts: __post_init__ reads a text timeout or memory
        def __init__(
            self,
            name: str,
            callable: Callable[..., Any] | None = ...,
            entrypoint: str | None = ...,
            cpus: int = ...,
            timeout: float | str | None = ...,
            memory: float | str | None = ...,
            _payload: list[FunctionPayload] = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a function needs a non-empty name")
        if (self.callable is None) == (self.entrypoint is None):
            raise ValueError(
                "give a function exactly one of: a callable, or entrypoint='file.py:name'"
            )
        if self.callable is not None and not callable(self.callable):
            raise TypeError(f"{self.callable!r} is not callable")
        if not isinstance(self.cpus, int) or isinstance(self.cpus, bool) or self.cpus < 1:
            raise ValueError(f"cpus must be a positive integer, got {self.cpus!r}")
        object.__setattr__(self, "timeout", parse_seconds(self.timeout))
        object.__setattr__(self, "memory", parse_megabytes(self.memory))
        if self.entrypoint is not None:
            _split_entrypoint(self.entrypoint)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run it here, in this process (for trying it out before submitting)."""
        if self.callable is None:
            raise TypeError(f"function {self.name!r} is a file entry point; submit it to run it")
        return self.callable(*args, **kwargs)

    @property
    def timeout_s(self) -> float | None:
        return self.timeout

    @property
    def memory_mb(self) -> float | None:
        return self.memory

    def payload(self) -> FunctionPayload:
        """Serialize once; the same Function object always ships the same bytes."""
        if not self._payload:
            self._payload.append(self._serialize())
        return self._payload[0]

    def _serialize(self) -> FunctionPayload:
        if self.callable is not None:
            ship_user_code_by_value(self.callable)
            blob = cloudpickle.dumps(ShippedFunction(self.callable, sources_of(self.callable)))
            kind, entrypoint = "pickle", None
            signature = describe_signature(self.callable)
        else:
            assert self.entrypoint is not None
            path, attribute = _split_entrypoint(self.entrypoint)
            file = Path(path)
            if not file.is_file():
                raise FileNotFoundError(f"entry point file {path!r} does not exist")
            source = file.read_bytes()
            blob = str(file.resolve()).encode() + b"\0" + source
            kind, entrypoint, signature = "source", f"{file.name}:{attribute}", None
        digest = hashlib.blake2b(blob, digest_size=16)
        # the stored row carries the limits too (a restart runs jobs with them)
        digest.update(f"{self.name}|{self.cpus}|{self.timeout}|{self.memory}".encode())
        return FunctionPayload(digest.hexdigest(), self.name, kind, blob, entrypoint, signature)


@dataclass(frozen=True)
class ShippedFunction:
    """A callable with where it comes from: its module's file name and source text, so
    its tracebacks show the user's file and lines wherever it runs (cloudpickle renames
    the file of code it ships by value to ``<dynamic-code>``)."""

    fn: Callable[..., Any]
    sources: tuple[tuple[str, str, str | None], ...] = ()  # (module, file, text)


MAX_SHIPPED_SOURCE = 1 << 20
DYNAMIC_CODE = "<dynamic-code>"


def sources_of(fn: Callable[..., Any]) -> tuple[tuple[str, str, str | None], ...]:
    """(module, file, text) of the user's file that defines ``fn``; nothing for libraries."""
    try:
        file = inspect.getsourcefile(inspect.unwrap(fn))
    except (TypeError, ValueError):
        return ()
    if file is None or is_library_file(file):
        return ()
    module = getattr(fn, "__module__", None) or ""
    try:
        path = Path(file)
        text = (
            path.read_text(errors="replace") if path.stat().st_size <= MAX_SHIPPED_SOURCE else None
        )
    except OSError:
        text = None
    return ((module, file, text),)


def unship(loaded: Any) -> Callable[..., Any]:
    """The callable of a loaded function payload, with its file names and source lines
    back for tracebacks."""
    if not isinstance(loaded, ShippedFunction):
        plain: Callable[..., Any] = loaded
        return plain
    files = {}
    for module, file, text in loaded.sources:
        files[module] = file
        if text is not None:
            remember_source(file, text)
    if files:
        _restore_file_names(loaded.fn, files, set())
    return loaded.fn


def _restore_file_names(target: Any, files: dict[str, str], seen: set[int]) -> None:
    """Give functions of the shipped modules (``fn``, and what its globals reach) their
    file name back."""
    if id(target) in seen:
        return
    seen.add(id(target))
    if isinstance(target, type):
        for value in list(vars(target).values()):
            _restore_file_names(getattr(value, "__func__", value), files, seen)
        return
    code = getattr(target, "__code__", None)
    file = files.get(getattr(target, "__module__", None) or "")
    if code is None or file is None or code.co_filename != DYNAMIC_CODE:
        return
    try:
        target.__code__ = _renamed(code, file)
    except (AttributeError, TypeError, ValueError):
        return
    for value in list(getattr(target, "__globals__", {}).values()):
        _restore_file_names(value, files, seen)


def _renamed(code: Any, file: str) -> Any:
    consts = tuple(
        _renamed(c, file) if isinstance(c, type(code)) and c.co_filename == DYNAMIC_CODE else c
        for c in code.co_consts
    )
    return code.replace(co_filename=file, co_consts=consts)


def remember_source(file: str, text: str) -> None:
    """Let ``linecache`` (and so every traceback) show lines of ``file`` from ``text``."""
    import linecache

    lines = text.splitlines(keepends=True)
    linecache.cache[file] = (len(text), None, lines, file)


def function(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cpus: int = 1,
    timeout: float | str | None = None,
    memory: float | str | None = None,
) -> Any:
    """Decorator: ``@qlambda.function`` or ``@qlambda.function(name=..., timeout="5m")``."""

    def wrap(target: Callable[..., Any]) -> Function:
        return Function(
            name=name or target.__name__,
            callable=target,
            cpus=cpus,
            timeout=timeout,
            memory=memory,
        )

    return wrap(fn) if fn is not None else wrap


def as_function(target: Function | Callable[..., Any]) -> Function:
    if isinstance(target, Function):
        return target
    if callable(target):
        return Function(name=getattr(target, "__name__", "function"), callable=target)
    raise TypeError(
        f"cannot run {target!r}: pass a qlambda.Function, a function decorated with "
        "@qlambda.function, or a plain Python callable"
    )


def describe_signature(fn: Callable[..., Any]) -> str | None:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return None


def describe_parameters(fn: Callable[..., Any]) -> list[dict[str, Any]] | None:
    """Parameters as data ({name, kind, required}): what a server checks arguments
    against without unpickling the function."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [
        {"name": p.name, "kind": p.kind.name, "required": p.default is inspect.Parameter.empty}
        for p in signature.parameters.values()
    ]


def takes_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` has a parameter named ``ctx``: the platform then passes its context."""
    try:
        return CONTEXT_PARAMETER in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def check_arguments(fn: Callable[..., Any], name: str, kwargs: dict[str, Any]) -> None:
    """Raise TypeError naming what is wrong and what is accepted, before anything runs."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    arguments = dict(kwargs)
    if CONTEXT_PARAMETER in signature.parameters:
        if CONTEXT_PARAMETER in arguments:
            raise TypeError(
                f"argument {CONTEXT_PARAMETER!r} is reserved: the platform passes the job context"
            )
        arguments[CONTEXT_PARAMETER] = None
    try:
        signature.bind(**arguments)
    except TypeError as exc:
        parameters = signature.parameters
        accepted = [p for p in parameters if p != CONTEXT_PARAMETER]
        listed = ", ".join(accepted) if accepted else "no arguments"
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        unexpected = [] if takes_any else sorted(set(arguments) - set(parameters))
        problem = f"unexpected argument(s) {', '.join(unexpected)}" if unexpected else str(exc)
        raise TypeError(
            f"arguments do not match {name}{signature}: {problem}; accepted: {listed}"
        ) from None


def _split_entrypoint(entrypoint: str) -> tuple[str, str]:
    path, sep, attribute = entrypoint.rpartition(":")
    if not sep or not path or not attribute.isidentifier() or not path.endswith(".py"):
        raise ValueError(
            f"entrypoint {entrypoint!r} is not of the form 'path/to/file.py:function_name'"
        )
    return path, attribute


_modules_seen: set[str] = set()


def ship_user_code_by_value(fn: Callable[..., Any]) -> None:
    """Workers cannot import a user's script or test module: send its code along."""
    name = getattr(fn, "__module__", None)
    if name is None or name in _modules_seen:
        return
    _modules_seen.add(name)
    module = sys.modules.get(name)
    if module is None or name == "__main__" or name.startswith("qlambda."):
        return  # __main__ is shipped by value by cloudpickle already
    file = getattr(module, "__file__", None)
    if file is None:
        return
    if is_library_file(file):
        return
    cloudpickle.register_pickle_by_value(module)
