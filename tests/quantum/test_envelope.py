"""Sealed requests and results: what the control plane forwards without opening."""

from __future__ import annotations

import pickle

from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.envelope import seal, seal_outcome
from qlambda.quantum.request import estimate_qpu_seconds, make_request
from qlambda.quantum.runtime import BackendRuntime


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit


def test_a_sealed_request_routes_estimates_and_opens_intact():
    request = make_request(
        "estimator", [(bell(), SparsePauliOp(["ZZ", "XX"]))], precision=0.03125, backend="aer"
    )
    envelope = pickle.loads(pickle.dumps(seal(request)))
    assert (envelope.primitive, envelope.backend, envelope.num_qubits) == ("estimator", "aer", 2)
    config = BackendConfig(name="aer", kind="aer", num_qubits=4)
    assert envelope.estimate_seconds(config) == estimate_qpu_seconds(request, config)
    opened = envelope.open()
    assert opened.pubs[0].circuit == bell()
    assert opened.pubs[0].precision == 0.03125


def test_a_sealed_result_opens_to_the_primitive_result():
    config = BackendConfig(name="aer", kind="aer", num_qubits=4, seed=1)
    circuit = bell()
    circuit.measure_all()
    outcome = BackendRuntime(config).execute(make_request("sampler", [circuit], shots=100))
    sealed = pickle.loads(pickle.dumps(seal_outcome(outcome)))
    assert sealed.busy_seconds == outcome.busy_seconds
    assert sealed.open()[0].data.meas.get_counts() == outcome.result[0].data.meas.get_counts()


def test_a_request_crosses_as_data_with_every_field():
    import dataclasses

    import pytest

    from qlambda.engine import protocol
    from qlambda.quantum.envelope import RequestEnvelope

    request = make_request("estimator", [(bell(), SparsePauliOp("ZZ"))], precision=0.0)
    envelope = seal(request)
    data = protocol.unpack_data(protocol.pack_data(envelope.to_data()))
    assert set(data) == {f.name for f in dataclasses.fields(RequestEnvelope)}
    assert RequestEnvelope.from_data(data) == envelope
    assert envelope.needs_exact
    for field, bad in [("num_qubits", -1), ("primitive", "x"), ("payload", "text")]:
        with pytest.raises(ValueError, match="quantum request"):
            RequestEnvelope.from_data({**data, field: bad})


def test_job_tags_travel_as_facts_and_an_envelope_without_them_is_accepted():
    import pytest

    from qlambda.engine import protocol
    from qlambda.quantum.codec import QuantumRequestError
    from qlambda.quantum.envelope import RequestEnvelope

    request = make_request("estimator", [(bell(), SparsePauliOp("ZZ"))], tags=["ghz", "x-1"])
    envelope = seal(request)
    data = protocol.unpack_data(protocol.pack_data(envelope.to_data()))
    assert data["tags"] == ["ghz", "x-1"]
    assert RequestEnvelope.from_data(data).tags == ("ghz", "x-1")
    older = {key: value for key, value in data.items() if key not in ("tags", "mode")}
    assert RequestEnvelope.from_data(older).tags == ()  # a client that predates them
    with pytest.raises(ValueError, match=r"job tags \['a\\tb'\]: 'a\\tb' has a character"):
        RequestEnvelope.from_data({**data, "tags": ["a\tb"]})
    relabelled = RequestEnvelope(**{**envelope.__dict__, "tags": ("other",)})
    with pytest.raises(QuantumRequestError, match=r"routed with tags \['other'\] but holds"):
        relabelled.open()
    assert envelope.open().tags == ("ghz", "x-1")


def test_bad_job_tags_are_refused_saying_what_is_accepted():
    import pytest

    accepted = r"accepted: a list of strings \(at most 8, each 1 to 64 printable characters\)"
    for tags, problem in [
        (["t"] * 9, "9 tags"),
        (["x" * 65], "has 65 characters"),
        ([""], "'' has 0 characters"),
        (["a\nb"], "has a character that is not printable"),
        ("tag", "not a list"),
    ]:
        with pytest.raises(ValueError, match=f"{problem}; {accepted}"):
            make_request("sampler", [bell()], tags=tags)
