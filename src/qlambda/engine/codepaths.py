"""Where code comes from: the user's own files, or installed libraries.

Workers treat them differently: the user's modules travel by value and are
forgotten after each job; libraries are imported once and stay warm.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

LIBRARY_DIRS = tuple(
    sorted(
        {
            str(Path(sysconfig.get_paths()[name]).resolve())
            for name in ("purelib", "platlib", "stdlib", "platstdlib")
        }
    )
)
QLAMBDA_DIR = str(Path(__file__).resolve().parents[1])


def is_library_file(file: str) -> bool:
    """True for the standard library, installed packages and qlambda itself."""
    resolved = str(Path(file).resolve())
    return (
        resolved.startswith(LIBRARY_DIRS)
        or resolved.startswith(QLAMBDA_DIR)
        or "site-packages" in resolved
    )
