"""Helpers for the command-line tests: what a user at an 80-column terminal sees."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rich.cells import cell_len

WIDTH = 80


def _check_fits(text: str, width: int = WIDTH) -> None:
    """Every line fits ``width`` terminal cells and nothing was cut short with an ellipsis."""
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"lines wider than {width} columns:\n" + "\n".join(wide)
    assert "…" not in text, f"something was truncated:\n{text}"


@pytest.fixture
def assert_fits() -> Callable[..., None]:
    return _check_fits
