"""``qlambda app cut``, run as a user would at an 80-column terminal."""

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
