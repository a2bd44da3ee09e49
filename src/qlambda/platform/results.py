"""A job's result as it is stored and handed out, or why there is none.

The worker encodes the return value itself: as JSON when JSON holds it exactly
(dicts with string keys, lists, strings, finite numbers, booleans, None), else
as a cloudpickle. The control plane stores either as bytes and never unpickles:
only the result's owner does, in the embedded platform's process or in the
remote client. Large results live in a file beside the database.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import cloudpickle

from qlambda.engine.protocol import Encoded

INLINE_LIMIT = 1 << 20  # larger results go to a file beside the database
_JSON_DEPTH = 100


def encode_result(value: Any) -> Encoded:
    """How a job's return value leaves its worker."""
    if _exact_json(value, 0):
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            pass
        else:
            return Encoded("json", text.encode())
    return Encoded("pickle", cloudpickle.dumps(value, protocol=5))


def _exact_json(value: Any, depth: int) -> bool:
    """True when ``json.loads(json.dumps(value)) == value`` with the same types."""
    if depth > _JSON_DEPTH:
        return False
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_exact_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and _exact_json(item, depth + 1) for key, item in value.items())
    return False


def check_encoded(value: Any) -> Encoded:
    """What the engine handed back for a job must be an ``Encoded`` of a known format."""
    if not isinstance(value, Encoded) or value.format not in ("json", "pickle"):
        raise TypeError("the job's worker returned something other than an encoded result")
    return value


def stored_fields(
    job_id: str, encoded: Encoded, results_dir: Path, inline_limit: int | None = INLINE_LIMIT
) -> dict[str, Any]:
    """The job row's result columns; the bytes go to a file past ``inline_limit`` (None:
    never, as replicas keep them, so that every replica reads them)."""
    if inline_limit is None or len(encoded.data) <= inline_limit:
        return {"result": encoded.data, "result_path": None, "result_format": encoded.format}
    path = results_dir / f"{job_id}.{encoded.format}"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(encoded.data)
    os.replace(temporary, path)
    return {"result": None, "result_path": str(path), "result_format": encoded.format}


def stored_result(row: dict[str, Any]) -> Encoded | None:
    """The encoded result of a job row (rows stored before formats existed are pickles)."""
    data = row.get("result")
    if row.get("result_path"):
        data = Path(row["result_path"]).read_bytes()
    if data is None:
        return None
    return Encoded(row.get("result_format") or "pickle", data)


def decode_result(row: dict[str, Any]) -> Any:
    """The value itself, for its owner (the embedded platform runs as its only user)."""
    encoded = stored_result(row)
    return None if encoded is None else encoded.decode(trusted=True)


def describe_failure(error: BaseException) -> tuple[str, str | None]:
    """Why a job failed in one line, and the function's own traceback when it raised."""
    from qlambda.core.errors import TimeLimitError, WorkerDiedError

    if isinstance(error, TimeLimitError | WorkerDiedError):
        return str(error).split("\n\n", 1)[0], None
    info = getattr(error, "remote_info", None)
    if info is not None:
        return (f"{info.type}: {info.message}" if info.message else info.type), info.traceback
    return f"{type(error).__name__}: {error}", None
