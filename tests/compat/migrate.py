"""The documented migration: only import lines change, module for module."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

IMPORT_CHANGES = {
    "qiskit_serverless": "qlambda.compat.serverless",
    "qiskit_ibm_runtime": "qlambda.runtime",
    "pilot.pilot_compute_service": "qlambda.compat.pilot_quantum",
}
_FROM = re.compile(r"^(?P<head>\s*from )(?P<module>[\w.]+)(?P<tail> import .*)$", re.DOTALL)


def migrate(source: str) -> str:
    """``source`` with the import lines of the ecosystems qlambda replaces changed."""
    lines = []
    for line in source.splitlines(keepends=True):
        match = _FROM.match(line)
        if match and match["module"] in IMPORT_CHANGES:
            line = match["head"] + IMPORT_CHANGES[match["module"]] + match["tail"]
        lines.append(line)
    return "".join(lines)


def migrate_tree(source: Path, target: Path) -> list[str]:
    """Copy ``source``'s Python files to ``target``, migrated; the lines that changed."""
    changed: list[str] = []
    for path in sorted(source.rglob("*.py")):
        text = path.read_text()
        migrated = migrate(text)
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(migrated)
        for line in difflib.ndiff(text.splitlines(), migrated.splitlines()):
            if line.startswith("+ "):
                changed.append(line[2:])
    return changed
