"""A finished job's result as the job page shows it: counts as a histogram, records as a
table, anything else as JSON text. Only JSON results are read: a pickled one is never
unpickled by the server (it is its owner's client's to open)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from markupsafe import Markup

from qlambda.core.errors import ResultDeletedError
from qlambda.dashboard import charts
from qlambda.platform import Platform

MAX_PREVIEW_BYTES = 1024 * 1024
MAX_TEXT = 20_000
MAX_ROWS = 200
MAX_BARS = 64
BITSTRING = re.compile(r"^(0x[0-9a-f]+|[01 ]+)$")


def result_preview(platform: Platform, job_id: str) -> dict[str, Any]:
    """``{"kind": ..., ...}``: counts (``chart``), table (``columns``, ``rows``), json
    (``text``), or a note (``note``) saying why nothing is shown."""
    row = platform.result_row(job_id)
    size = _size(row)
    if size is not None and size > MAX_PREVIEW_BYTES:
        return {"kind": "note", "note": f"the result is {size:,} bytes; too large to preview"}
    try:
        encoded = platform.stored_result(row)
    except ResultDeletedError as exc:
        return {"kind": "note", "note": str(exc)}
    except FileNotFoundError:
        return {"kind": "note", "note": "the result's file is missing"}
    if encoded is None:
        return {"kind": "json", "text": "null"}
    if encoded.format != "json":
        return {
            "kind": "note",
            "note": f"a Python object ({len(encoded.data):,} bytes, pickled): "
            "job.result() in its owner's client opens it",
        }
    return describe(encoded.decode(trusted=False))


def describe(value: Any) -> dict[str, Any]:
    counts = _counts(value)
    if counts is not None:
        shown = sorted(counts.items(), key=lambda kv: kv[0])[:MAX_BARS]
        total = sum(counts.values())
        chart: Markup = charts.bars(
            [k for k, _ in shown],
            [float(v) for _, v in shown],
            f"counts of {len(counts)} outcomes, {total:g} shots",
        )
        return {"kind": "counts", "chart": chart, "total": total, "outcomes": len(counts)}
    table = _table(value)
    if table is not None:
        return {"kind": "table", **table}
    text = json.dumps(value, indent=2, default=str)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n... ({len(text) - MAX_TEXT:,} more characters)"
    return {"kind": "json", "text": text}


def _counts(value: Any) -> dict[str, float] | None:
    """A sampler's counts: bit strings (or their hex) to numbers; also under "counts"."""
    if isinstance(value, dict) and isinstance(value.get("counts"), dict):
        value = value["counts"]
    if not isinstance(value, dict) or not value:
        return None
    if all(
        isinstance(k, str)
        and BITSTRING.match(k)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        for k, v in value.items()
    ):
        return {k: float(v) for k, v in value.items()}
    return None


def _table(value: Any) -> dict[str, Any] | None:
    """Records (a list of flat dicts) or one flat dict, as columns and rows."""
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns = list(dict.fromkeys(k for r in value[:MAX_ROWS] for k in r))
        rows = [[_cell(r.get(c)) for c in columns] for r in value[:MAX_ROWS]]
        return {"columns": columns, "rows": rows, "more": max(0, len(value) - MAX_ROWS)}
    if isinstance(value, dict) and value:
        rows = [[str(k), _cell(v)] for k, v in list(value.items())[:MAX_ROWS]]
        return {"columns": ["key", "value"], "rows": rows, "more": max(0, len(value) - MAX_ROWS)}
    return None


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value[:500]
    text = json.dumps(value, default=str)
    return text if len(text) <= 500 else text[:500] + "..."


def _size(row: dict[str, Any]) -> int | None:
    if row.get("result_path"):
        try:
            return os.stat(row["result_path"]).st_size
        except FileNotFoundError:
            return None
    data = row.get("result")
    return None if data is None else len(data)
