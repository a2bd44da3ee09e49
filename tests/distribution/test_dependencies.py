"""What qlambda imports is installed by what it declares.

A module imported by the platform but installed only through an extra (Ray and Dask
bring msgpack) works in the development environment, where every extra is installed,
and fails on a plain ``pip install qlambda``. So every third-party import outside the
optional engines must come from the required dependencies or from what they require.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "qlambda"
OPTIONAL = {  # subpackages that run only with an extra installed: their imports are its
    PACKAGE / "engine" / "ray": "ray",
    PACKAGE / "engine" / "dask": "dask",
    PACKAGE / "engine" / "mpi": "mpi",
    PACKAGE / "quantum" / "backends" / "braket": "braket",
}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _closure(names: set[str]) -> set[str]:
    """The distributions these install, with what they require (no extras), transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            required = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in required:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_name(text))
    return seen


def _third_party_imports(files: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top != "qlambda" and top not in sys.stdlib_module_names:
                    found.setdefault(top, file)
    return found


@functools.cache
def _distributions(module: str) -> set[str]:
    return {re.sub(r"[-_.]+", "-", d).lower() for d in _modules().get(module, [])}


@functools.cache
def _modules() -> Mapping[str, list[str]]:
    return packages_distributions()


def test_required_code_imports_only_what_the_required_dependencies_install() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _closure({_name(d) for d in project["dependencies"]})
    files = [
        f for f in PACKAGE.rglob("*.py") if not any(f.is_relative_to(folder) for folder in OPTIONAL)
    ]
    missing = {
        module: str(file.relative_to(ROOT))
        for module, file in _third_party_imports(files).items()
        if not _distributions(module) & installed
    }
    assert not missing, f"imported, but installed only through an extra or not at all: {missing}"


def test_optional_engines_import_what_their_extra_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(d) for d in project["dependencies"]}
    for folder, extra in OPTIONAL.items():
        extras = {_name(d) for d in project["optional-dependencies"][extra]}
        installed = _closure(base | extras)
        missing = [
            module
            for module in _third_party_imports(list(folder.rglob("*.py")))
            if not _distributions(module) & installed
        ]
        assert not missing, f"{folder.name} imports {missing}, not installed by [{extra}]"
