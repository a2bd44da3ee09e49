"""Backend configuration: TOML files, mappings, objects, and a clear message for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlambda.core import ConfigurationError
from qlambda.quantum.config import (
    DEFAULT_AER_QUBITS,
    BackendConfig,
    default_backends,
    fake_device_names,
    load_backends,
    resolve_fake_device,
)

EXAMPLE = """
[[backend]]
name = "aer"
kind = "aer"
concurrency = 2
seed = 5

[[backend]]
name = "torino"
kind = "fake"
device = "fake_torino"
emulate_qpu_time = true
time_scale = 0.01
"""


def test_loads_a_toml_file(tmp_path: Path):
    path = tmp_path / "backends.toml"
    path.write_text(EXAMPLE)
    aer, torino = load_backends(path)
    assert aer == BackendConfig(
        name="aer", kind="aer", concurrency=2, seed=5, num_qubits=DEFAULT_AER_QUBITS
    )
    assert torino.device == "FakeTorino"
    assert torino.num_qubits == 133
    assert torino.emulate_qpu_time and torino.time_scale == 0.01
    assert load_backends(str(path)) == [aer, torino]


def test_loads_a_mapping_and_a_list():
    mapping = {"backend": [{"name": "small", "kind": "aer", "num_qubits": 16}]}
    (small,) = load_backends(mapping)
    assert small.num_qubits == 16
    assert load_backends([small, {"name": "k", "kind": "fake", "device": "kolkata"}])[1] == (
        BackendConfig(name="k", kind="fake", device="FakeKolkataV2", num_qubits=27)
    )


def test_default_is_one_ideal_simulator():
    (backend,) = default_backends()
    assert backend.name == "aer" and backend.kind == "aer"
    assert backend.num_qubits == DEFAULT_AER_QUBITS and not backend.emulate_qpu_time


@pytest.mark.parametrize("alias", ["FakeTorino", "fake_torino", "torino", "TORINO"])
def test_fake_device_aliases(alias: str):
    assert resolve_fake_device(alias) == "FakeTorino"


def test_v2_suffix_is_optional():
    assert resolve_fake_device("FakeKolkata") == resolve_fake_device("FakeKolkataV2")
    assert "FakeBrisbane" in fake_device_names()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a", "kind": "qpu"}, "unknown backend kind 'qpu'; installed: aer, fake, ibm"),
        (
            {"name": "a", "kind": "aer", "shots": 5},
            "unknown key(s) 'shots' for kind 'aer'; accepted: name, kind",
        ),
        ({"kind": "aer"}, "missing required key(s) name"),
        ({"name": "f", "kind": "fake"}, "needs a 'device', e.g. 'FakeTorino'; available: "),
        ({"name": "f", "kind": "fake", "device": "nowhere"}, "unknown fake device 'nowhere'"),
        ({"name": "a", "kind": "aer", "device": "torino"}, "'device' applies only to kinds with"),
        ({"name": "a", "kind": "aer", "concurrency": 0}, "concurrency is 0; accepted: 1 or more"),
        ({"name": "f", "kind": "fake", "device": "torino", "concurrency": 2}, "one task at a"),
        ({"name": "a", "kind": "aer", "time_scale": 0}, "time_scale is 0; accepted: a number > 0"),
        ({"name": "a", "kind": "aer", "time_scale": "x"}, "time_scale must be a finite number"),
        ({"name": "a", "kind": "aer", "num_qubits": 2.5}, "num_qubits must be an integer"),
        ({"name": "a", "kind": "aer", "emulate_qpu_time": "yes"}, "emulate_qpu_time must be a"),
        ({"name": "a", "kind": "aer", "optimization_level": 4}, "accepted: 0 to 3"),
        ({"name": "a", "kind": "aer", "overhead_seconds": -1}, "accepted: a number >= 0"),
        (
            {"name": "f", "kind": "fake", "device": "kolkata", "num_qubits": 30},
            "num_qubits 30 exceeds the 27 qubits of FakeKolkataV2; accepted: 1 to 27",
        ),
    ],
)
def test_each_mistake_has_its_message(entry: dict, message: str):
    with pytest.raises(ConfigurationError) as caught:
        load_backends([entry])
    assert message in str(caught.value)


def test_unknown_fake_device_lists_the_available_ones():
    with pytest.raises(ConfigurationError, match=r"available: .*FakeTorino"):
        load_backends([{"name": "f", "kind": "fake", "device": "Fakeland"}])


def test_duplicate_names_are_rejected():
    with pytest.raises(ConfigurationError, match="duplicate backend name 'aer'"):
        load_backends([{"name": "aer", "kind": "aer"}, {"name": "aer", "kind": "aer"}])


def test_document_level_mistakes(tmp_path: Path):
    with pytest.raises(ConfigurationError, match=r"unknown top-level key.*'backends'"):
        load_backends({"backends": {"aer": {"kind": "aer"}}})
    with pytest.raises(ConfigurationError, match=r"write \[\[backend\]\], not \[backend\]"):
        load_backends({"backend": {"name": "aer", "kind": "aer"}})
    with pytest.raises(ConfigurationError, match="no backends configured"):
        load_backends([])
    with pytest.raises(ConfigurationError, match="not found"):
        load_backends(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[backend]\nname=")
    with pytest.raises(ConfigurationError, match=r"broken\.toml"):
        load_backends(broken)
    with pytest.raises(ConfigurationError, match="accepted: a TOML file path"):
        load_backends(42)  # type: ignore[arg-type]
