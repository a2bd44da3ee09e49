"""A backend kind added by an installed package, without touching qlambda.

``backend_plugin/`` is a distribution of its own (``qlambda-reference-kind``): a kind
on Qiskit's reference primitives, declared under the ``qlambda.backends`` entry point.
The test installs it the way pip lays a package out (its ``.dist-info`` with
``entry_points.txt`` beside its sources on ``sys.path``) for a fresh interpreter, which
then runs jobs on it through the embedded platform: its control plane, its QPU executor
process and its function workers all find the kind through the entry point alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qlambda.core import ConfigurationError
from qlambda.quantum import load_backends
from qlambda.quantum.backends import installed_kinds

PLUGIN = Path(__file__).parent / "backend_plugin"
ROOT = Path(__file__).resolve().parents[2]


def install(site: Path) -> Path:
    """Lay the plugin out in ``site`` as an installed distribution: its package and the
    ``.dist-info`` metadata (``METADATA``, ``entry_points.txt``) pip would write."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, points in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (site / "qlambda_reference_kind").symlink_to(PLUGIN / "qlambda_reference_kind")
    return site


SCRIPT = r"""
import json, sys
import qlambda
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qlambda.core import ConfigurationError
from qlambda.quantum import load_backends
from qlambda.quantum.backends import installed_kinds

out = {"kinds": installed_kinds()}
try:
    load_backends([{"name": "r", "kind": "reference", "colour": "red"}])
except ConfigurationError as error:
    out["unknown_key"] = str(error)


def bell(ctx):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    measured = circuit.measure_all(inplace=False)
    sampled = ctx.sampler("ref").run([(measured, None, 400)]).result()
    value = ctx.estimator("ref").run([(circuit, SparsePauliOp("ZZ"))]).result()[0].data.evs
    backend = ctx.backend("ref")
    return {
        "counts": sampled[0].data.meas.get_counts(),
        "note": sampled.metadata.get("note"),
        "zz": float(value),
        "backend_kind": backend.kind,
        "target_qubits": backend.target.num_qubits,
    }


backends = [{"name": "ref", "kind": "reference", "note": "from a plugin", "seed": 7}]
with qlambda.Client(data_dir=sys.argv[1], workers=1, backends=backends) as client:
    job = client.run(bell)
    out["result"] = job.result(timeout=240)
    out["events"] = [[e.kind.value, e.data] for e in job.events()]
print("RESULT", json.dumps(out))
"""


def test_an_installed_package_adds_a_kind(tmp_path: Path):
    site = install(tmp_path / "site")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT / "src"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert "reference" in out["kinds"] and {"aer", "fake"} <= set(out["kinds"])
    # the kind's own keys are checked by the kind
    assert "unknown key(s) 'colour' for kind 'reference'" in out["unknown_key"]
    assert "note" in out["unknown_key"]
    result = out["result"]
    assert set(result["counts"]) == {"00", "11"} and sum(result["counts"].values()) == 400
    assert result["note"] == "from a plugin"  # made by the plugin's device, in its executor
    assert result["zz"] == pytest.approx(1.0)  # exact: the kind says it is an ideal simulator
    assert result["backend_kind"] == "reference" and result["target_qubits"] == 12
    kinds = [kind for kind, _ in out["events"]]
    assert kinds.count("QPU_FINISHED") == 2
    # what the plugin's device reported of each running task is in the job's events
    news = [data for kind, data in out["events"] if kind == "QPU_VENDOR"]
    assert len(news) == 2
    assert all(d["backend"] == "ref" and d["vendor_status"] == "RUNNING" for d in news)
    assert news[0]["note"] == "from a plugin"


def test_without_the_package_the_kind_is_unknown():
    assert "reference" not in installed_kinds()
    with pytest.raises(ConfigurationError) as caught:
        load_backends([{"name": "r", "kind": "reference"}])
    message = str(caught.value)
    assert "backend 'r': unknown backend kind 'reference'; installed: " in message
    assert "aer, fake" in message and "'qlambda.backends' entry point" in message
