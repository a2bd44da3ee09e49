"""Trace sets: the per-qubit-count samples a simulated job draws its work from.

A trace directory holds five CSV files with a header row, column 1 ``n_qubits``
and column 2 the value (any name): ``pre.csv``, ``cost_time.csv``, ``post.csv``,
``num_iterations.csv`` and ``exec_time.csv``. This is the format of the published
inputs of [1] and the one the platform writes, so measured workloads replay here
unchanged. The published traces ship with the package (``data/``, with their
README and license); they lack a v1.0.0 ``exec_time.csv``, so their quantum samples
come from the ``v98709f3/`` folder (see ``docs/simulation.md``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray

TRACE_FILES: dict[str, str] = {
    "pre": "pre.csv",
    "classical": "cost_time.csv",
    "post": "post.csv",
    "iterations": "num_iterations.csv",
    "quantum": "exec_time.csv",
}
TRACES_ENV = "QLAMBDA_SIM_TRACES"
DATASET_NAME = "serverless_quantum_sim"
# Quantum samples of the published dataset (the only exec_time.csv it has).
LEGACY_EXEC_TIME = Path("v98709f3") / "exec_time.csv"
# Target means used by the presets: the only estimate file covering 4..24 qubits.
IBM_ESTIMATES_FILE = "ibm_job_estimate_v5172cf5.csv"
# Shipped as package data, so an installed qlambda finds it too.
BUNDLED_DATASET = Path(__file__).resolve().parent / "data" / DATASET_NAME


def default_traces_dir() -> Path:
    """The published dataset shipped with qlambda, or the directory in ``QLAMBDA_SIM_TRACES``."""
    from_env = os.environ.get(TRACES_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_dir():
            raise ConfigurationError(
                f"{TRACES_ENV}={from_env!r} is not a directory; point it at a folder "
                f"with {', '.join(TRACE_FILES.values())}"
            )
        return path
    if not (BUNDLED_DATASET / "pre.csv").is_file():
        raise ConfigurationError(
            f"the published traces are missing from this installation ({BUNDLED_DATASET}); "
            f"reinstall qlambda, pass --traces DIR or set {TRACES_ENV}"
        )
    return BUNDLED_DATASET


def read_samples(path: Path) -> dict[int, FloatArray]:
    """``{n_qubits: samples}`` from a two-column CSV whose first column is ``n_qubits``."""
    if not path.is_file():
        raise ConfigurationError(f"trace file {path} does not exist")
    grouped: dict[int, list[float]] = {}
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or len(header) < 2 or header[0].strip() != "n_qubits":
            raise ConfigurationError(
                f"{path}: expected a header 'n_qubits,<value>', got {header!r}"
            )
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                qubits, value = int(row[0]), float(row[1])
            except (ValueError, IndexError):
                raise ConfigurationError(
                    f"{path}:{line_number}: expected an integer qubit count and a number, "
                    f"got {row!r}"
                ) from None
            if not np.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"{path}:{line_number}: values must be finite and >= 0, got {value}"
                )
            grouped.setdefault(qubits, []).append(value)
    if not grouped:
        raise ConfigurationError(f"{path}: no samples")
    return {q: np.asarray(v, dtype=np.float64) for q, v in sorted(grouped.items())}


def read_target_means(path: Path) -> dict[int, float]:
    """IBM-style estimates (no header: timestamp, qubits, backend, seconds); last row wins."""
    if not Path(path).is_file():
        raise ConfigurationError(f"target-means file {path} does not exist")
    means: dict[int, float] = {}
    with Path(path).open(newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            try:
                qubits, seconds = int(row[1]), float(row[3])
            except (ValueError, IndexError):
                raise ConfigurationError(
                    f"{path}:{line_number}: expected 'timestamp,qubits,backend,seconds', "
                    f"got {row!r}"
                ) from None
            if seconds <= 0:
                raise ConfigurationError(f"{path}:{line_number}: seconds must be > 0")
            means[qubits] = seconds
    return means


@dataclass(frozen=True)
class TraceSet:
    """Samples per qubit count for each of the five job quantities (seconds, counts)."""

    pre: Mapping[int, FloatArray]
    classical: Mapping[int, FloatArray]
    post: Mapping[int, FloatArray]
    iterations: Mapping[int, FloatArray]
    quantum: Mapping[int, FloatArray]
    source: str = ""

    def sizes(self) -> list[int]:
        """Qubit counts for which every quantity has samples."""
        common = set(self.pre) & set(self.classical) & set(self.post) & set(self.iterations)
        return sorted(common & set(self.quantum))

    def require(self, qubits: Iterable[int]) -> None:
        available = self.sizes()
        missing = [q for q in qubits if q not in available]
        if missing:
            raise ConfigurationError(
                f"traces {self.source or '(given)'} have no complete samples for "
                f"{missing} qubits; available: {available}"
            )

    def with_quantum(self, quantum: Mapping[int, FloatArray]) -> TraceSet:
        return TraceSet(self.pre, self.classical, self.post, self.iterations, quantum, self.source)


def load_traces(directory: str | Path | None = None) -> TraceSet:
    """Read a trace directory (default: the published dataset shipped with qlambda)."""
    base = Path(directory) if directory is not None else default_traces_dir()
    if not base.is_dir():
        raise ConfigurationError(f"trace directory {base} does not exist")
    quantum_path = base / TRACE_FILES["quantum"]
    if not quantum_path.is_file() and (base / LEGACY_EXEC_TIME).is_file():
        quantum_path = base / LEGACY_EXEC_TIME
    loaded = {
        field: read_samples(base / name)
        for field, name in TRACE_FILES.items()
        if field != "quantum"
    }
    for qubits, counts in loaded["iterations"].items():
        if np.any(counts != np.round(counts)):
            raise ConfigurationError(
                f"{base / TRACE_FILES['iterations']}: iteration counts must be integers "
                f"(n_qubits={qubits})"
            )
    return TraceSet(quantum=read_samples(quantum_path), source=str(base), **loaded)


def normalise_quantum(
    traces: TraceSet,
    qubits: Iterable[int],
    target_means: Mapping[int, float],
    allow_unscaled: bool = False,
) -> TraceSet:
    """Rescale each size's quantum samples so their mean is the target for that size.

    A size without quantum samples of its own borrows the shape of the nearest
    size that has them (ties: the smaller), rescaled to its own target: this is
    what lets the 12..24-qubit scenarios use IBM's per-size estimates although
    only 4..10-qubit circuit timings were recorded.
    """
    measured = sorted(traces.quantum)
    quantum: dict[int, FloatArray] = dict(traces.quantum)
    for size in sorted(set(qubits)):
        if size not in target_means:
            if allow_unscaled and size in traces.quantum:
                continue
            hint = "" if allow_unscaled else " (allow unscaled sizes to keep their raw samples)"
            raise ConfigurationError(
                f"no target mean for {size} qubits; the file covers {sorted(target_means)}{hint}"
            )
        source = size if size in traces.quantum else min(measured, key=lambda m: (abs(m - size), m))
        samples = traces.quantum[source]
        mean = float(samples.mean())
        if mean <= 0:
            raise ConfigurationError(f"quantum samples for {source} qubits have mean 0")
        quantum[size] = samples * (target_means[size] / mean)
    return traces.with_quantum(quantum)
