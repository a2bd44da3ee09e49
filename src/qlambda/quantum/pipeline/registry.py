"""Execution options by name: the built-ins, steps registered with a decorator, and steps
other packages declare in the ``qlambda.pipeline_steps`` entry-point group.

An option is a name (``"zne"``), a one-entry mapping of a name to keyword arguments
(``{"zne": {"extrapolation": "linear"}}``), or a ready step object. Resolution happens in
the caller's process, so a misspelt option fails in the user's own call, listing the
options that exist.
"""

from __future__ import annotations

import functools
import importlib
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from qlambda.quantum.pipeline.base import PipelineStep

ENTRY_POINT_GROUP = "qlambda.pipeline_steps"

_BUILT_IN: dict[str, str] = {
    "readout": "qlambda.quantum.pipeline.readout:ReadoutMitigation",
    "zne": "qlambda.quantum.pipeline.zne:ZeroNoiseExtrapolation",
    "ddd": "qlambda.quantum.pipeline.ddd:DynamicalDecoupling",
    "twirl": "qlambda.quantum.pipeline.twirl:PauliTwirling",
}
"""Imported only when used: mitiq and cirq cost seconds to import."""

StepFactory = Callable[..., PipelineStep]
_registered: dict[str, StepFactory] = {}
# id(step) -> (reference, name, keyword arguments, installed) of the steps made by name here:
# what lets a step cross to a QPU executor as its name (see ``option_spec``).
_origins: dict[int, tuple[Callable[[], Any], str, dict[str, Any], bool]] = {}
_origins_lock = threading.Lock()
_ORIGINS_CAPACITY = 4096


class UnknownOptionError(ValueError):
    """An execution option nobody registered."""


def register_step(name: str) -> Callable[[StepFactory], StepFactory]:
    """Decorator: make a step class (or a function returning a step) an option named ``name``.

    ```python
    @register_step("my_twirl")
    class Twirl(PassThrough): ...

    ctx.estimator("torino", options=["my_twirl", "zne"])
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a step name must be a non-empty string, got {name!r}")

    def decorate(factory: StepFactory) -> StepFactory:
        if name in _BUILT_IN:
            raise ValueError(f"{name!r} is a built-in execution option; choose another name")
        _registered[name] = factory
        return factory

    return decorate


def unregister_step(name: str) -> None:
    _registered.pop(name, None)


def _entry_points() -> dict[str, Any]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def known_options() -> list[str]:
    """Every option name this process can resolve."""
    return sorted({*_BUILT_IN, *_registered, *_entry_points()})


def _factory(name: str) -> tuple[StepFactory, bool]:
    """The factory of option ``name`` and whether it is installed (built in, or declared by
    a package through the entry point) rather than registered by code of this process."""
    if name in _BUILT_IN:
        module, _, attribute = _BUILT_IN[name].partition(":")
        return getattr(importlib.import_module(module), attribute), True
    if name in _registered:
        return _registered[name], False
    points = _entry_points()
    if name in points:
        return points[name].load(), True
    raise UnknownOptionError(
        f"unknown execution option {name!r}; known: {', '.join(known_options())}"
    )


def installed_options() -> list[str]:
    """The options a shared server's QPU executors run: built in, or installed as packages
    declaring the ``qlambda.pipeline_steps`` entry point."""
    return sorted({*_BUILT_IN, *_entry_points()})


def installed_step(name: str, kwargs: dict[str, Any]) -> PipelineStep:
    """The installed option ``name`` made with ``kwargs`` (a QPU executor's side: code
    registered in this process is not consulted)."""
    if name not in _BUILT_IN and name not in _entry_points():
        raise UnknownOptionError(
            f"unknown execution option {name!r}; installed here: {', '.join(installed_options())}"
        )
    (step,) = resolve_options([{name: kwargs}])
    return step


def option_spec(step: Any) -> tuple[str, dict[str, Any], bool] | None:
    """(name, keyword arguments, installed) of a step :func:`resolve_options` made from a
    name in this process; None for a step object made any other way."""
    with _origins_lock:
        origin = _origins.get(id(step))
    if origin is None or origin[0]() is not step:
        return None
    return origin[1], origin[2], origin[3]


def _same(step: Any) -> Any:
    return step


def _remember(step: Any, name: str, kwargs: dict[str, Any], installed: bool) -> None:
    try:
        reference: Callable[[], Any] = weakref.ref(step)
    except TypeError:  # not weak-referenceable: keep it (the table is bounded)
        reference = functools.partial(_same, step)
    with _origins_lock:
        if len(_origins) >= _ORIGINS_CAPACITY:
            _origins.clear()
        _origins[id(step)] = (reference, name, kwargs, installed)


def check_option(option: Any) -> tuple[str | None, dict[str, Any]]:
    """The (name, keyword arguments) of an option written as a name or a mapping; a step
    object gives (None, {}). Anything else is rejected, saying what is accepted."""
    if isinstance(option, str):
        return option, {}
    if isinstance(option, Mapping):
        if len(option) != 1:
            raise ValueError(
                "an option mapping names one step, like "
                f"{{'zne': {{'scale_factors': [1, 3, 5]}}}}; got {dict(option)!r}"
            )
        ((name, kwargs),) = option.items()
        if not isinstance(name, str) or not isinstance(kwargs, Mapping):
            raise ValueError(
                f"an option mapping is {{name: {{keyword: value}}}}; got {dict(option)!r}"
            )
        return name, dict(kwargs)
    if _is_step(option):
        return None, {}
    raise TypeError(
        f"an execution option is a name, a {{name: {{keyword: value}}}} mapping or a step "
        f"object with pre() and post(); got {option!r}"
    )


def _is_step(value: Any) -> bool:
    return (
        not isinstance(value, type)
        and callable(getattr(value, "pre", None))
        and callable(getattr(value, "post", None))
    )


def resolve_options(options: Iterable[Any] | None) -> tuple[PipelineStep, ...]:
    """Step objects for ``options``, outermost first; unknown names raise."""
    if options is None:
        return ()
    if isinstance(options, str | Mapping) or _is_step(options):
        raise TypeError(f"options is a list, e.g. options=['readout', 'zne']; got {options!r}")
    steps = []
    for option in options:
        name, kwargs = check_option(option)
        if name is None:
            steps.append(option)
            continue
        factory, installed = _factory(name)
        accepted = _keywords(factory)
        unknown = [] if accepted is None else sorted(set(kwargs) - set(accepted))
        if unknown:
            raise TypeError(
                f"execution option {name!r} has no argument(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(accepted or ()) or 'none'}"
            )
        try:
            step = factory(**kwargs)
        except TypeError as exc:
            raise TypeError(f"execution option {name!r}: {exc}") from exc
        if not _is_step(step):
            raise TypeError(f"execution option {name!r} did not make a step with pre() and post()")
        _remember(step, name, kwargs, installed)
        steps.append(step)
    return tuple(steps)


def _keywords(factory: Any) -> list[str] | None:
    """The keyword arguments ``factory`` takes (None: any, or it cannot be told)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def describe_options(options: Iterable[Any] | None) -> list[Any] | None:
    """Options as JSON-storable values (names and mappings), validated; a job keeps these.

    Step objects cannot be stored with a job: register them by name instead.
    """
    if options is None:
        return None
    resolve_options(options)  # unknown names and bad arguments fail here
    described: list[Any] = []
    for option in options:
        name, kwargs = check_option(option)
        if name is None:
            raise TypeError(
                f"job-level execution options are stored with the job, so they are names or "
                f"{{name: {{keyword: value}}}} mappings; register {option!r} with "
                f"@register_step(name) and pass its name"
            )
        described.append({name: kwargs} if kwargs else name)
    return described
