"""The variational MaxCut app on real Aer primitives: quality, determinism, resume, errors."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from qiskit.quantum_info import Statevector
from qiskit_aer.primitives import EstimatorV2, SamplerV2

from qlambda.apps.maxcut_problem import cut_value, random_regular_graph
from qlambda.apps.qaoa_maxcut import (
    ANSATZES,
    MaxCutProgress,
    build_ansatz,
    run,
    run_bare,
    solve_maxcut,
)


class SimulatedCrash(Exception):
    """Stands for the worker dying in the middle of a job."""


class LocalContext:
    """The function context's contract on real Aer primitives and an in-memory checkpoint.

    ``crash_at_iteration`` makes the status update of that iteration raise once,
    as a worker death would, so a second call with the same context is the re-run.
    """

    def __init__(self, crash_at_iteration: int | None = None, sampler_seed: int = 11) -> None:
        self.crash_at_iteration = crash_at_iteration
        self.sampler_seed = sampler_seed
        self.statuses: list[str] = []
        self.logs: list[str] = []
        self.checkpoints: list[Any] = []
        self.backends: list[str | None] = []

    def estimator(self, backend: str | None = None) -> EstimatorV2:
        self.backends.append(backend)
        return EstimatorV2()

    def sampler(self, backend: str | None = None) -> SamplerV2:
        self.backends.append(backend)
        return SamplerV2(seed=self.sampler_seed)

    def status(self, text: str) -> None:
        self.statuses.append(text)
        crash = self.crash_at_iteration
        if crash is not None and text.startswith(f"iteration {crash},"):
            self.crash_at_iteration = None
            raise SimulatedCrash(text)

    def log(self, message: str) -> None:
        self.logs.append(message)

    def checkpoint(self, state: Any, *, wait: bool = True) -> None:
        self.checkpoints.append(pickle.loads(pickle.dumps(state)))  # stored, not shared

    def restore(self) -> Any:
        return self.checkpoints[-1] if self.checkpoints else None


def expected_cut(graph, ansatz: str, reps: int, parameters) -> float:
    """<cut> of the ansatz state, from its exact statevector (independent of the estimator)."""
    state = Statevector(build_ansatz(ansatz, graph, reps).assign_parameters(parameters))
    probabilities = state.probabilities_dict()
    return sum(p * cut_value(graph, bits) for bits, p in probabilities.items())


def test_qaoa_p1_finds_a_good_cut_and_reports_it_consistently():
    seen: list[MaxCutProgress] = []
    result = run_bare(8, ansatz="qaoa", reps=1, seed=3, on_iteration=seen.append)
    graph = random_regular_graph(8, 3, seed=3)

    assert result.optimum is not None and result.optimum >= 10
    # p=1 QAOA on 3-regular graphs guarantees 0.6924 at its best angles; a random cut gets 0.5·|E|.
    assert result.approximation_ratio >= 0.6924
    assert -result.energy > 0.5 * graph.number_of_edges() + 1
    assert result.best_cut == result.optimum == cut_value(graph, result.best_bitstring)
    assert sum(result.samples.values()) == result.shots == 1024

    # one estimator call per COBYLA evaluation, each reported once, in order
    assert result.iterations == len(result.history) == len(seen) > 5
    assert [p.iteration for p in seen] == list(range(1, result.iterations + 1))
    assert list(result.history) == [p.energy for p in seen]
    assert result.energy == min(result.history)
    assert result.parameters == seen[-1].best_parameters
    # the reported energy is the state's expected cut, with the documented sign and qubit order
    assert expected_cut(graph, "qaoa", 1, result.parameters) == pytest.approx(-result.energy)


def test_qaoa_samples_the_optimum_on_six_nodes():
    result = run_bare(6, ansatz="qaoa", reps=2, seed=0)
    assert result.best_cut == result.optimum
    assert result.approximation_ratio > 0.75  # p=2 beats p=1's guarantee here


def test_efficient_su2_runs_and_improves_on_its_start():
    result = run_bare(6, ansatz="efficient_su2", reps=1, maxiter=60, seed=1)
    graph = random_regular_graph(6, 3, seed=1)
    assert result.ansatz == "efficient_su2"
    assert len(result.parameters) == 2 * 6 * 2  # RY and RZ per qubit, reps + 1 layers
    assert result.iterations == 60
    assert result.energy < result.history[0]
    assert result.energy >= -result.optimum - 1e-9  # variational: never below the ground energy
    assert 0 < result.best_cut <= result.optimum
    assert expected_cut(graph, "efficient_su2", 1, result.parameters) == pytest.approx(
        -result.energy
    )


def test_same_seed_same_run_and_another_seed_another_run():
    first = run_bare(6, seed=21, maxiter=30)
    again = run_bare(6, seed=21, maxiter=30)
    other = run_bare(6, seed=22, maxiter=30)
    assert first.history == again.history
    assert first.parameters == again.parameters
    assert first.samples == again.samples
    assert (first.edges, first.history) != (other.edges, other.history)


def test_solve_resumes_from_a_progress_snapshot_with_the_same_history_prefix():
    graph = random_regular_graph(8, 3, seed=4)
    stop_at = 7
    snapshots: list[MaxCutProgress] = []

    def stop(progress: MaxCutProgress) -> None:
        snapshots.append(progress)
        if progress.iteration == stop_at:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        solve_maxcut(graph, EstimatorV2(), seed=4, maxiter=40, on_iteration=stop)
    saved = MaxCutProgress.from_state(json.loads(json.dumps(snapshots[-1].to_state())))

    resumed_seen: list[MaxCutProgress] = []
    result = solve_maxcut(
        graph,
        EstimatorV2(),
        seed=4,
        maxiter=40,
        on_iteration=resumed_seen.append,
        initial_state=saved,
    )
    assert result.resumed_from == stop_at
    assert result.history[:stop_at] == saved.history
    assert resumed_seen[0].iteration == stop_at + 1
    assert resumed_seen[0].parameters == saved.best_parameters  # COBYLA restarts at the best
    assert result.iterations == len(result.history) <= 40
    assert result.energy <= saved.best_energy


def test_serverless_run_matches_the_bare_loop():
    ctx = LocalContext()
    answer = run(ctx, nodes=6, seed=5, maxiter=50, backend="qpu-a")
    bare = run_bare(6, seed=5, maxiter=50)

    json.dumps(answer)  # the job result must be JSON-able
    assert answer["history"] == list(bare.history)
    assert answer["edges"] == [list(edge) for edge in bare.edges]
    assert answer["best_cut"] == answer["optimum"]
    assert answer["seed"] == 5 and answer["degree"] == 3 and answer["resumed_from"] == 0
    assert set(ctx.backends) == {"qpu-a"}
    iteration_statuses = [s for s in ctx.statuses if s.startswith("iteration ")]
    assert len(iteration_statuses) == answer["iterations"]
    assert iteration_statuses[0] == f"iteration 1, energy {answer['history'][0]:.4f}"
    assert [c["progress"]["iteration"] for c in ctx.checkpoints] == list(
        range(10, answer["iterations"] + 1, 10)
    )


def test_serverless_run_resumes_after_a_crash_from_its_last_checkpoint():
    ctx = LocalContext(crash_at_iteration=15)
    with pytest.raises(SimulatedCrash):
        run(ctx, nodes=8, maxiter=60, checkpoint_every=10)  # no seed: it draws and saves one
    first_attempt = [s for s in ctx.statuses if s.startswith("iteration ")]
    assert len(first_attempt) == 15 and len(ctx.checkpoints) == 1
    checkpoint = ctx.checkpoints[0]

    ctx.statuses.clear()
    answer = run(ctx, nodes=8, maxiter=60, checkpoint_every=10)
    assert answer["resumed_from"] == 10  # work after the last checkpoint is redone
    assert answer["seed"] == checkpoint["seed"]
    regenerated = random_regular_graph(8, 3, seed=checkpoint["seed"])
    assert answer["edges"] == [list(edge) for edge in regenerated.edges()]
    assert answer["history"][:10] == checkpoint["progress"]["history"]
    assert first_attempt[:10] == [
        f"iteration {i + 1}, energy {e:.4f}" for i, e in enumerate(answer["history"][:10])
    ]
    resumed = [s for s in ctx.statuses if s.startswith("iteration ")]
    assert resumed[0].startswith("iteration 11,")
    assert any("resuming" in line and "iteration 10" in line for line in ctx.logs)


def test_a_checkpoint_of_another_problem_is_refused():
    ctx = LocalContext(crash_at_iteration=12)
    with pytest.raises(SimulatedCrash):
        run(ctx, nodes=6, seed=1, checkpoint_every=10)
    assert len(ctx.checkpoints) == 1
    with pytest.raises(ValueError, match="checkpoint is for"):
        run(ctx, nodes=8, seed=1, checkpoint_every=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ansatz": "vqe"}, "unknown ansatz 'vqe'; accepted: qaoa, efficient_su2"),
        ({"maxiter": 0}, "maxiter must be a positive integer"),
        ({"reps": 0}, "reps must be a positive integer"),
        ({"shots": 1.5}, "shots must be a positive integer"),
    ],
)
def test_bad_solver_options_are_refused_with_what_is_accepted(kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_maxcut(random_regular_graph(4, 3, seed=0), EstimatorV2(), **kwargs)


def test_bad_serverless_arguments_are_refused_before_any_quantum_call():
    ctx = LocalContext()
    with pytest.raises(ValueError, match="nodes \\* degree must be even"):
        run(ctx, nodes=7)
    with pytest.raises(ValueError, match="needs at least 4 nodes"):
        run(ctx, nodes=2)
    with pytest.raises(ValueError, match="accepted: qaoa, efficient_su2"):
        run(ctx, ansatz="EfficientSU2")
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        run(ctx, checkpoint_every=0)
    with pytest.raises(ValueError, match="maxiter must be a positive integer"):
        run(ctx, maxiter=-1)
    assert ctx.backends == [] and ctx.checkpoints == []
    assert ANSATZES == ("qaoa", "efficient_su2")


def test_progress_of_another_circuit_is_refused():
    graph = random_regular_graph(6, 3, seed=0)
    foreign = MaxCutProgress(1, -1.0, (0.1,) * 3, -1.0, (0.1,) * 3, (-1.0,))
    with pytest.raises(ValueError, match="has 3 parameters but the qaoa circuit"):
        solve_maxcut(graph, EstimatorV2(), initial_state=foreign)
    with pytest.raises(ValueError, match="needs keys"):
        MaxCutProgress.from_state({"iteration": 3})
    with pytest.raises(ValueError, match="iteration 2 but 1 energies"):
        MaxCutProgress.from_state({**foreign.to_state(), "iteration": 2})
