"""``qlambda app ...``: the mini-apps, run as a user would at an 80-column terminal."""

from __future__ import annotations

from tests.cli.test_cli import qlambda


def test_app_cut_prints_a_table_that_fits_and_writes_its_figure(tmp_path, assert_fits):
    figure = tmp_path / "cut.png"
    done = qlambda(
        "app", "cut", "--qubits", "6", "--subcircuit-qubits", "3", "--reps", "1",
        "--shots", "512", "--data-dir", str(tmp_path / "data"), "--figure", str(figure),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Circuit cutting against a full simulation" in done.stdout
    assert_fits(done.stdout)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_app_cut_refuses_subcircuits_as_wide_as_the_circuit(tmp_path):
    done = qlambda("app", "cut", "--qubits", "6", "--subcircuit-qubits", "6")
    assert done.returncode != 0
    assert "narrower than the circuit's 6 qubits" in done.stderr
    bad = qlambda("app", "cut", "--subcircuit-qubits", "four")
    assert bad.returncode != 0 and "comma-separated integers" in bad.stderr


def test_app_ensemble_returns_every_result_and_prints_throughput(tmp_path, assert_fits):
    figure = tmp_path / "ensemble.png"
    done = qlambda(
        "app", "ensemble", "--circuits", "4,8", "--qubits", "4", "--shots", "64",
        "--mode", "workers", "--figure", str(figure),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "8/8" in done.stdout and "bare tasks/s" in done.stdout
    assert_fits(done.stdout)
    assert figure.read_bytes().startswith(b"\x89PNG")
    bad = qlambda("app", "ensemble", "--circuits", "0")
    assert bad.returncode != 0 and "integers >= 1" in bad.stderr


def test_app_qml_trains_on_one_and_two_workers_and_prints_the_speed_up(tmp_path, assert_fits):
    figure = tmp_path / "qml.png"
    done = qlambda(
        "app", "qml", "--train-samples", "24", "--steps", "2", "--workers", "1,2",
        "--data-dir", str(tmp_path / "data"), "--figure", str(figure),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "speed-up over W=1" in done.stdout and "logistic regression" in done.stdout
    lines = [line.split() for line in done.stdout.splitlines()]
    assert [row[0] for row in lines if row and row[0] in ("1", "2") and len(row) == 9] == [
        "1",
        "2",
    ]
    assert_fits(done.stdout)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_app_qml_refuses_bad_options_with_what_is_accepted():
    done = qlambda("app", "qml", "--classes", "3,3")
    assert done.returncode != 0 and "two different digits" in done.stderr
    done = qlambda("app", "qml", "--workers", "0")
    assert done.returncode != 0 and "integers >= 1" in done.stderr


def test_app_vqe_workload_exports_traces_and_compares_them(tmp_path, assert_fits):
    figure, traces = tmp_path / "vqe.png", tmp_path / "traces"
    done = qlambda(
        "app", "vqe-workload", "--sizes", "4", "--runs", "2", "--maxiter", "10",
        "--shots", "100", "--data-dir", str(tmp_path / "data"), "--traces", str(traces),
        "--figure", str(figure),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "qlambda against the published traces, n_qubits 4" in done.stdout
    for field in ("pre (s)", "cost_time (ms)", "num_iterations", "post (s)", "sampling"):
        assert field in done.stdout
    assert_fits(done.stdout)
    assert sorted(p.name for p in traces.glob("*.csv")) == [
        "cost_time.csv", "exec_time.csv", "num_iterations.csv", "post.csv", "pre.csv",
    ]  # fmt: skip
    assert figure.read_bytes().startswith(b"\x89PNG")
    bad = qlambda("app", "vqe-workload", "--sizes", "5")
    assert bad.returncode != 0 and "even sizes of 4 or more" in bad.stderr
    bad = qlambda("app", "vqe-workload", "--sizes", "26")
    assert bad.returncode != 0 and "no samples for [26] qubits" in bad.stderr
