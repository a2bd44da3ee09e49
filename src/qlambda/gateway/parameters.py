"""Checking a job's arguments against its function without running any user code.

The server never imports or unpickles a user's function: it reads a source file's
signature with ``ast``, and takes a pickled function's parameters as the client
declared them. Workers check again with the real signature.
"""

from __future__ import annotations

import ast
from typing import Any

from qlambda.platform.functions import CONTEXT_PARAMETER

KINDS = (
    "POSITIONAL_ONLY",
    "POSITIONAL_OR_KEYWORD",
    "VAR_POSITIONAL",
    "KEYWORD_ONLY",
    "VAR_KEYWORD",
)
Parameter = dict[str, Any]  # {"name": str, "kind": one of KINDS, "required": bool}


def from_source(source: str, filename: str, function: str) -> list[Parameter]:
    """The parameters of ``function`` defined at the top level of a Python file."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise ValueError(f"{filename} is not valid Python: line {exc.lineno}: {exc.msg}") from None
    defined = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == function:
                return _parameters(node.args)
            defined.append(node.name)
    listed = ", ".join(n for n in defined if not n.startswith("_")) or "no functions"
    raise ValueError(f"{filename} defines no top-level function {function!r}; it defines: {listed}")


def _parameters(arguments: ast.arguments) -> list[Parameter]:
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    found: list[Parameter] = []
    for index, argument in enumerate(positional):
        kind = "POSITIONAL_ONLY" if index < len(arguments.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        found.append({"name": argument.arg, "kind": kind, "required": index < first_default})
    if arguments.vararg is not None:
        found.append({"name": arguments.vararg.arg, "kind": "VAR_POSITIONAL", "required": False})
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        found.append({"name": argument.arg, "kind": "KEYWORD_ONLY", "required": default is None})
    if arguments.kwarg is not None:
        found.append({"name": arguments.kwarg.arg, "kind": "VAR_KEYWORD", "required": False})
    return found


def validate(parameters: Any) -> list[Parameter]:
    """Declared parameters, as a client sent them; raise ValueError if malformed."""
    if not isinstance(parameters, list):
        raise ValueError("parameters must be a list of {name, kind, required}")
    for parameter in parameters:
        if (
            not isinstance(parameter, dict)
            or set(parameter) != {"name", "kind", "required"}
            or not isinstance(parameter["name"], str)
            or parameter["kind"] not in KINDS
            or not isinstance(parameter["required"], bool)
        ):
            raise ValueError(
                f"parameter {parameter!r} is not accepted: each is "
                f"{{name: str, kind: one of {', '.join(KINDS)}, required: bool}}"
            )
    return parameters


def mismatch(name: str, parameters: list[Parameter], arguments: dict[str, Any]) -> str | None:
    """Why ``arguments`` (by keyword) do not fit, naming what is accepted; None if they do."""
    by_keyword = [p for p in parameters if p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")]
    accepted = [p["name"] for p in by_keyword if p["name"] != CONTEXT_PARAMETER]
    listed = ", ".join(accepted) or "no arguments"
    if CONTEXT_PARAMETER in arguments and any(p["name"] == CONTEXT_PARAMETER for p in parameters):
        return f"argument {CONTEXT_PARAMETER!r} is reserved: the platform passes the job context"
    takes_any = any(p["kind"] == "VAR_KEYWORD" for p in parameters)
    unknown = sorted(set(arguments) - set(accepted))
    if unknown and not takes_any:
        return f"{name} got unknown argument(s) {', '.join(unknown)}; accepted: {listed}"
    missing = [
        p["name"]
        for p in parameters
        if p["required"]
        and p["name"] != CONTEXT_PARAMETER
        and p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
        and p["name"] not in arguments
    ]
    positional_only = [
        p["name"] for p in parameters if p["kind"] == "POSITIONAL_ONLY" and p["required"]
    ]
    if positional_only:
        return (
            f"{name} has positional-only parameter(s) {', '.join(positional_only)}, "
            "which jobs cannot pass (arguments go by name)"
        )
    if missing:
        return f"{name} is missing required argument(s) {', '.join(missing)}; accepted: {listed}"
    return None
