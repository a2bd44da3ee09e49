"""Circuit execution ensembles: every circuit's result comes back once, and is its own."""

from __future__ import annotations

import pytest

import qlambda
from qlambda.apps import circuit_execution
from qlambda.apps.circuit_execution import (
    check_results,
    expected_bits,
    run_bare,
    run_on_backends,
    run_on_workers,
    simulate,
)
from qlambda.core.events import EventKind
from qlambda.pilot import PilotDescription, PilotManager

QPUS = [{"name": name, "kind": "aer", "num_qubits": 6} for name in ("qpu-a", "qpu-b")]


@pytest.mark.parametrize("index", [0, 5, 37])
def test_every_shot_of_a_mirror_circuit_reads_its_index(index):
    counts = simulate(5, index, reps=2, shots=256, seed=3)
    assert counts == {expected_bits(5, index): 256}
    assert expected_bits(5, 37) == "00101"  # 37 mod 32, qubit 0 last


def test_a_result_given_to_the_wrong_circuit_is_not_counted_correct():
    results = [{expected_bits(4, i): 10} for i in range(4)]
    assert check_results(results, 4, 10) == 4
    results[1], results[2] = results[2], results[1]
    assert check_results(results, 4, 10) == 2


@pytest.fixture(scope="module")
def pilot():
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="local", cores=2, qpus=QPUS))
        pilot.engine.wait_ready(120)
        yield pilot


def test_an_ensemble_over_two_backends_returns_every_result_once(pilot):
    seen = []
    summary, results = run_on_backends(
        pilot, 12, 5, ["qpu-a", "qpu-b"], shots=128, on_progress=lambda d, t: seen.append(d)
    )
    assert summary.correct == summary.circuits == len(results) == 12
    assert seen == list(range(1, 13))
    completed = {row["backend"]: row["completed"] for row in pilot.dispatcher.stats()}
    assert completed["qpu-a"] >= 6 and completed["qpu-b"] >= 6


def test_an_ensemble_over_the_pilots_workers_matches_the_bare_baseline(pilot):
    ours, results = run_on_workers(pilot, 8, 4, shots=64)
    bare, baseline = run_bare(8, 4, workers=2, shots=64)
    assert ours.correct == bare.correct == 8
    assert results == baseline
    assert ours.workers == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"circuits": 0}, "circuits must be"),
        ({"qubits": 1}, "qubits must be an integer >= 2"),
        ({"shots": -1}, "shots must be"),
        ({"backends": []}, "non-empty list of names"),
    ],
)
def test_bad_ensembles_are_refused_before_any_task(kwargs, message):
    arguments = {"circuits": 4, "qubits": 4, "backends": ["auto"], **kwargs}
    with pytest.raises(ValueError, match=message):
        run_on_backends(None, **arguments)  # type: ignore[arg-type]


def test_the_serverless_ensemble_is_one_quantum_task_per_circuit(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1, backends=QPUS, seed=1) as client:
        assert client.wait_ready(180)
        job = client.run(circuit_execution.run, circuits=6, qubits=4, shots=64)
        result = job.result(300)
        finished = [e for e in job.events() if e.kind == EventKind.QPU_FINISHED]
    assert result["correct"] == result["circuits"] == len(finished) == 6
