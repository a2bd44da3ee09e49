"""The published traces' VQE workload on qlambda: exported traces and their comparison."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import qlambda
from qlambda.apps import vqe_workload
from qlambda.apps.vqe_workload import (
    FIELDS,
    compare,
    comparison_table,
    export,
    parse_sizes,
    plot_comparison,
    published_sizes,
    run_workload,
)

MAXITER = 20


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """Two tiny jobs of 4 qubits, run and exported once for the module."""
    data_dir = tmp_path_factory.mktemp("vqe")
    seen = []
    backends = [{"name": "aer", "kind": "aer"}]
    with qlambda.Client(data_dir=data_dir, workers=1, backends=backends, seed=2) as client:
        assert client.wait_ready(180)
        results = run_workload(
            client, [4], 2, maxiter=MAXITER, shots=256, on_job=lambda *a: seen.append(a[:3])
        )
    traces = data_dir / "traces"
    written, sampling = export(data_dir, traces)
    return results, seen, traces, written, sampling


def rows_of(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_the_jobs_run_one_after_another_as_the_published_ones(workload):
    results, seen, *_ = workload
    assert seen == [(1, 2, 4), (2, 2, 4)]
    assert [r["ansatz"] for r in results] == ["efficient_su2"] * 2
    assert [r["seed"] for r in results] == [0, 1]  # two instances, not one twice
    assert all(r["nodes"] == 4 and r["reps"] == 1 for r in results)


def test_the_exported_traces_have_the_published_fields_and_plausible_values(workload):
    results, _, traces, written, sampling = workload
    for field in FIELDS:
        rows = rows_of(written[field])
        assert rows[0] == ["n_qubits", field]
        assert [row[0] for row in rows[1:]] == ["4", "4"]
    values = {
        field: [float(r[1]) for r in rows_of(traces / f"{field}.csv")[1:]] for field in FIELDS
    }
    # every estimator call is one quantum task, and the final sampling one more
    assert values["num_iterations"] == [r["iterations"] + 1 for r in results]
    assert all(0 < v < 10 for v in values["pre"])  # warm workers: no interpreter start
    assert all(0 < v < 1 for v in values["cost_time"])
    assert all(0 <= v < 10 for v in values["post"])
    assert sampling.shape == (2, 2) and list(sampling[:, 0]) == [4, 4]
    assert np.all(sampling[:, 1] > 0)


def test_the_comparison_has_a_row_per_field_and_a_table_that_fits(workload, tmp_path):
    _, _, traces, _, sampling = workload
    rows, sizes = compare(traces, sampling=sampling)
    assert sizes == [4]
    assert [row.field for row in rows] == [*FIELDS, "sampling"]
    by_field = {row.field: row for row in rows}
    assert all(row.published_count == 20 and row.measured_count == 2 for row in rows)
    assert all(0.0 <= row.ks <= 1.0 for row in rows)
    # the published jobs spent 13-15 s in Qiskit Serverless before their first circuit
    assert by_field["pre"].published[0] > 10 > by_field["pre"].measured[0]
    assert by_field["pre"].ks == 1.0
    assert by_field["num_iterations"].measured[0] == MAXITER + 1
    table = comparison_table(rows, sizes)
    assert all(len(line) <= 80 for line in table.splitlines())
    for field in (*FIELDS, "sampling"):
        assert any(line.startswith(field) for line in table.splitlines())
    figure = plot_comparison(traces, sizes, tmp_path / "cdf.png", sampling=sampling)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_traces_without_a_size_in_common_are_refused(workload, tmp_path):
    _, _, traces, _, _ = workload
    other = tmp_path / "other"
    other.mkdir()
    for field in FIELDS:
        (other / f"{field}.csv").write_text(f"n_qubits,{field}\n6,1\n")
    with pytest.raises(ValueError, match="none in common"):
        compare(traces, other)


def test_sizes_are_even_and_the_published_ones_are_known():
    assert parse_sizes("4-12") == [4, 6, 8, 10, 12]
    assert parse_sizes("8,4,4") == [4, 8]
    for bad in ("5", "2", "four", "", "4-3"):
        with pytest.raises(ValueError, match="even sizes of 4 or more"):
            parse_sizes(bad)
    assert published_sizes() == list(range(4, 25, 2))
    assert vqe_workload.PUBLISHED_MAXITER == 1500


def test_bad_workloads_are_refused_before_any_job():
    with pytest.raises(ValueError, match="runs must be"):
        run_workload(None, [4], 0)
    with pytest.raises(ValueError, match="at least one problem size"):
        run_workload(None, [], 1)
