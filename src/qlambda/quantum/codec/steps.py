"""Execution options as data: an installed option by name with JSON arguments; a step of
the user's own code by value, which only an executor that runs the user's code accepts."""

from __future__ import annotations

import json
from typing import Any

from qlambda.quantum.codec.fields import QuantumRequestError


def pack_step(step: Any) -> dict[str, Any]:
    """An execution option by name when it is installed (and its arguments are JSON), else
    by value, which only an executor running the user's own code accepts."""
    from qlambda.quantum.pipeline.registry import option_spec

    spec = option_spec(step)
    if spec is not None and spec[2]:
        try:
            arguments = json.dumps(spec[1], allow_nan=False, sort_keys=True)
        except (TypeError, ValueError):
            pass
        else:
            return {"name": spec[0], "kwargs": arguments}
    name = spec[0] if spec is not None else str(getattr(step, "name", type(step).__name__))
    return {"name": name, "code": _pickle_step(step)}


def _pickle_step(step: Any) -> bytes:
    """The step by value where its module cannot be imported elsewhere (a user's function
    module lives only in its worker), by reference otherwise."""
    import importlib.util
    import sys

    import cloudpickle

    module = type(step).__module__
    if module in sys.modules and module != "__main__":
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            cloudpickle.register_pickle_by_value(sys.modules[module])
    return cloudpickle.dumps(step)


def unpack_steps(value: Any, limits: Any) -> tuple[Any, ...]:
    from qlambda.quantum.pipeline.registry import installed_options, installed_step

    if not isinstance(value, list):
        raise QuantumRequestError("options: must be a list")
    steps = []
    for number, item in enumerate(value):
        where = f"options[{number}]"
        if not isinstance(item, dict) or set(item) not in ({"name", "kwargs"}, {"name", "code"}):
            raise QuantumRequestError(f"{where}: expected {{name, kwargs}} or {{name, code}}")
        name = item["name"]
        if not isinstance(name, str):
            raise QuantumRequestError(f"{where}.name: must be a string")
        if "code" in item:
            if not limits.allow_code:
                raise QuantumRequestError(
                    f"execution option {name!r} is code of the job's own (a step registered "
                    "with @register_step in the job, or a step object); this server's QPUs "
                    "run only the options installed on it: "
                    f"{', '.join(installed_options())} (a package declaring the "
                    "'qlambda.pipeline_steps' entry point, installed on the server, adds one)"
                )
            import cloudpickle

            if not isinstance(item["code"], bytes):
                raise QuantumRequestError(f"{where}.code: must be bytes")
            steps.append(cloudpickle.loads(item["code"]))
            continue
        arguments = item["kwargs"]
        try:
            kwargs = json.loads(arguments) if isinstance(arguments, str) else None
        except ValueError:
            kwargs = None
        if not isinstance(kwargs, dict):
            raise QuantumRequestError(f"{where}.kwargs: must be a JSON object")
        try:
            steps.append(installed_step(name, kwargs))
        except (TypeError, ValueError) as exc:
            raise QuantumRequestError(str(exc)) from None
    return tuple(steps)
