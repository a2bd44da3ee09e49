"""Trace directories, target-mean normalisation, and where the default dataset comes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qlambda.core import ConfigurationError
from qlambda.sim.traces import (
    IBM_ESTIMATES_FILE,
    TRACE_FILES,
    TRACES_ENV,
    default_traces_dir,
    load_traces,
    normalise_quantum,
    read_target_means,
)


def write_traces(directory: Path, sizes=(4, 6), rows=3) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for field, name in TRACE_FILES.items():
        lines = [f"n_qubits,{field}"]
        for q in sizes:
            for _ in range(rows):
                value = int(rng.integers(5, 20)) if field == "iterations" else rng.uniform(0.1, 2)
                lines.append(f"{q},{value}")
        (directory / name).write_text("\n".join(lines) + "\n")
    return directory


def test_published_dataset_ships_with_the_package_and_is_combined():
    traces = load_traces()
    # v1.0.0 files cover 4..24 qubits; the quantum samples only 4..10 (v98709f3)
    assert sorted(traces.pre) == list(range(4, 25, 2))
    assert sorted(traces.quantum) == [4, 6, 8, 10]
    assert traces.sizes() == [4, 6, 8, 10]
    assert all(len(v) == 20 for v in traces.iterations.values())


def test_environment_variable_overrides_the_default(tmp_path, monkeypatch):
    write_traces(tmp_path / "mine")
    monkeypatch.setenv(TRACES_ENV, str(tmp_path / "mine"))
    assert default_traces_dir() == tmp_path / "mine"
    assert load_traces().sizes() == [4, 6]
    monkeypatch.setenv(TRACES_ENV, str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match=TRACES_ENV):
        default_traces_dir()


def test_a_directory_in_the_platform_format_loads(tmp_path):
    traces = load_traces(write_traces(tmp_path))
    assert traces.sizes() == [4, 6]
    assert len(traces.quantum[6]) == 3


def test_bad_files_are_reported_with_their_location(tmp_path):
    base = write_traces(tmp_path)
    (base / "pre.csv").write_text("qubits,pre\n4,1.0\n")
    with pytest.raises(ConfigurationError, match="n_qubits"):
        load_traces(base)
    (base / "pre.csv").write_text("n_qubits,pre\n4,abc\n")
    with pytest.raises(ConfigurationError, match=r"pre.csv:2"):
        load_traces(base)
    (base / "pre.csv").unlink()
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_traces(base)


def test_target_means_last_row_wins(tmp_path):
    path = tmp_path / "estimates.csv"
    path.write_text("1,4,a,1.0\n2,6,a,2.0\n3,4,b,3.0\n")
    assert read_target_means(path) == {4: 3.0, 6: 2.0}
    published = read_target_means(default_traces_dir() / IBM_ESTIMATES_FILE)
    assert set(range(4, 25, 2)) <= set(published)


def test_normalisation_sets_each_size_mean_to_its_target():
    traces = load_traces()
    targets = {4: 3.0, 6: 4.0, 12: 5.0}
    scaled = normalise_quantum(traces, [4, 6, 12], targets)
    for size, target in targets.items():
        assert scaled.quantum[size].mean() == pytest.approx(target)
    # 12 qubits borrows the shape of the nearest measured size (10)
    ratio = scaled.quantum[12] / traces.quantum[10]
    assert np.allclose(ratio, ratio[0])
    assert 12 in scaled.sizes()


def test_sizes_without_a_target_are_errors_unless_allowed():
    traces = load_traces()
    with pytest.raises(ConfigurationError, match="no target mean for 6 qubits"):
        normalise_quantum(traces, [4, 6], {4: 3.0})
    kept = normalise_quantum(traces, [4, 6], {4: 3.0}, allow_unscaled=True)
    np.testing.assert_array_equal(kept.quantum[6], traces.quantum[6])
    with pytest.raises(ConfigurationError, match="no target mean for 12"):
        normalise_quantum(traces, [12], {4: 3.0}, allow_unscaled=True)


def test_missing_sizes_are_named():
    with pytest.raises(ConfigurationError, match=r"\[12\] qubits; available: \[4, 6, 8, 10\]"):
        load_traces().require([4, 12])


def test_the_published_dataset_is_package_data(monkeypatch):
    """Inside the package, with its README, and every file listed for installation."""
    import tomllib

    import qlambda
    from qlambda.sim.traces import BUNDLED_DATASET

    monkeypatch.delenv(TRACES_ENV, raising=False)
    package = Path(qlambda.__file__).parent
    assert default_traces_dir() == BUNDLED_DATASET
    assert BUNDLED_DATASET.is_relative_to(package)
    notice = (BUNDLED_DATASET / "README.md").read_text()
    assert "Copyright (c) 2024 Claudio Cicconetti" in notice
    assert "ccicconetti/serverless_quantum_sim" in notice
    pyproject = package.parents[1] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    installed = {path for pattern in patterns["qlambda"] for path in package.glob(pattern)}
    shipped = {path for path in BUNDLED_DATASET.rglob("*") if path.is_file()}
    assert len(shipped) == 12  # README, 6 files of v1.0.0 and IBM estimates, 5 older ones
    assert shipped <= installed
