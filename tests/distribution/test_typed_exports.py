"""Names a package loads on first use are visible to type checkers too.

``qlambda`` and ``qlambda.platform`` import their public names lazily, through a module
``__getattr__``; a type checker sees such a name as ``Any`` unless the package also
imports it under ``TYPE_CHECKING``. Without that, ``py.typed`` promises types that user
code never gets checked against.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGES = ["qlambda", "qlambda.platform"]


def _type_checking_imports(source: str) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name as name`` under TYPE_CHECKING."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                for alias in statement.names:
                    # "as name": an explicit re-export, which strict checkers require
                    assert alias.asname == alias.name, ast.unparse(statement)
                    found[alias.name] = statement.module
    return found


@pytest.mark.parametrize("name", PACKAGES)
def test_every_lazy_name_is_imported_for_type_checkers(name: str) -> None:
    package = importlib.import_module(name)
    source = Path(package.__file__).read_text()
    assert _type_checking_imports(source) == package._EXPORTS
    for export, module in package._EXPORTS.items():  # and each is what the import gives
        assert getattr(package, export) is getattr(importlib.import_module(module), export)
