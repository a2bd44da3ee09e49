"""Quantum requests and results as data: round trips, and what a QPU executor refuses."""

from __future__ import annotations

import os
import pickle
from copy import deepcopy

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from qlambda.engine.protocol import pack_data, unpack_data
from qlambda.quantum.codec import (
    MAX_SHOTS,
    QuantumRequestError,
    RequestLimits,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
)
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.envelope import RequestEnvelope, seal
from qlambda.quantum.pipeline import PassThrough, register_step, resolve_options, unregister_step
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime

LIMITS = RequestLimits(max_qubits=8)


def ansatz() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(3)
    circuit.ry(a, 0)
    circuit.rz(b, 1)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    return circuit


def measured() -> QuantumCircuit:
    circuit = ansatz()
    circuit.measure_all()
    return circuit


def ghz() -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    return circuit


def round_trip(request, limits: RequestLimits = LIMITS):
    return decode_request(encode_request(request), limits)


def test_an_estimator_request_round_trips_field_by_field():
    values = np.random.default_rng(1).random((4, 2))
    observables = [SparsePauliOp(["ZZI", "XXY"], [0.5, -1.25]), {"0+I": 2.0}]
    circuit = ansatz()
    request = make_request(
        "estimator",
        [(circuit, observables, values[:, None, :]), (circuit, "ZII", [0.5, 0.25])],
        precision=0.01,
        backend="aer",
        options=resolve_options([{"zne": {"scale_factors": [1, 3]}}]),
        optimization_level=2,
    )
    copy = round_trip(request)
    assert (copy.primitive, copy.precision, copy.backend) == ("estimator", 0.01, "aer")
    assert (copy.optimization_level, copy.num_qubits, copy.shots) == (2, 3, None)
    for mine, theirs in zip(request.pubs, copy.pubs, strict=True):
        assert theirs.circuit == mine.circuit
        assert theirs.shape == mine.shape
        assert theirs.precision == mine.precision
        assert theirs.observables.tolist() == mine.observables.tolist()
        assert np.array_equal(theirs.parameter_values.as_array(), mine.parameter_values.as_array())
    assert copy.pubs[0].circuit is copy.pubs[1].circuit  # one circuit, sent and decoded once
    (step,) = copy.options
    assert type(step).__name__ == "ZeroNoiseExtrapolation"
    assert list(step.scale_factors) == [1.0, 3.0]


def test_a_sampler_request_round_trips_with_its_shots():
    request = make_request("sampler", [(measured(), [0.1, 0.2], 77), ghz()], shots=10)
    copy = round_trip(request)
    assert [pub.shots for pub in copy.pubs] == [77, 10]
    assert copy.pubs[1].parameter_values.shape == ()


def test_a_request_carries_its_job_tags_and_an_older_one_without_them_is_accepted():
    request = make_request("sampler", [ghz()], tags=["vqe", "run 7"])
    assert request.tags == ("vqe", "run 7")
    assert round_trip(request).tags == ("vqe", "run 7")
    older = envelope_data(make_request("sampler", [ghz()], mode="session-0123456789ab"))
    del older["tags"], older["mode"]  # what a client made before requests carried them
    copy = decode_request(bad(older), LIMITS)
    assert (copy.tags, copy.mode) == ((), None)


def test_results_round_trip_as_arrays_and_plain_metadata():
    runtime = BackendRuntime(BackendConfig(name="aer", kind="aer", seed=3))
    sampled = runtime.execute(make_request("sampler", [(measured(), [[0.3, 1.0], [2.0, 0.5]])]))
    copy = decode_result(encode_result(sampled.result))
    assert copy[0].data.meas.get_counts() == sampled.result[0].data.meas.get_counts()
    assert copy[0].data.meas.shape == (2,)
    assert type(copy[0]).__name__ == "SamplerPubResult"
    assert copy[0].metadata["shots"] == 1024
    estimated = runtime.execute(make_request("estimator", [(ansatz(), ["ZZI", "IXX"], [0.3, 1.0])]))
    copy = decode_result(encode_result(estimated.result))
    assert np.array_equal(copy[0].data.evs, estimated.result[0].data.evs)
    assert np.array_equal(copy[0].data.stds, estimated.result[0].data.stds)
    copy[0].data.evs[0] = 5.0  # the caller owns what it got
    assert copy.metadata == estimated.result.metadata


def envelope_data(request) -> dict:
    """A request's data as one document to change: its fixed part, the values in place."""
    outer = unpack_data(encode_request(request))
    data = unpack_data(outer["request"])
    for pub, arrays in zip(data["pubs"], outer["values"], strict=True):
        for group, raw in zip(pub["values"]["data"], arrays, strict=True):
            group[1]["data"] = raw
    return {"version": outer["version"], **data}


def bad(data: dict) -> bytes:
    """What :func:`envelope_data` gave, changed, laid out as requests are again."""
    data = deepcopy(data)
    version = data.pop("version")
    values = []
    for pub in data["pubs"]:
        values.append([group[1].pop("data", b"") for group in pub["values"]["data"]])
    return pack_data({"version": version, "request": pack_data(data), "values": values})


def test_a_pickle_is_never_loaded_whatever_it_holds(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(QuantumRequestError, match="not msgpack data"):
        decode_request(pickle.dumps(Payload()), LIMITS)
    envelope = RequestEnvelope("sampler", None, 1, (), pickle.dumps(Payload()))
    with pytest.raises(QuantumRequestError):
        envelope.open(LIMITS)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=1), "format 1; accepted: 2"),
        (lambda d: d.update(primitive="qpe"), "primitive 'qpe'; accepted: sampler, estimator"),
        (lambda d: d.update(extra=1), "expected a mapping of primitive, shots"),
        (lambda d: d.update(shots=0), "shots: must be a whole number from 1 to"),
        (lambda d: d.update(shots=MAX_SHOTS + 1), "shots: must be a whole number"),
        (lambda d: d["pubs"][0].update(shots=True), r"pubs\[0\].shots"),
        (lambda d: d["pubs"][0].update(circuit=3), r"pubs\[0\].circuit"),
        (lambda d: d.update(circuits=[b"QISKIT" + b"\0" * 80]), "circuits"),
        (lambda d: d.update(optimization_level=7), "optimization_level must be one of"),
        (lambda d: d.update(tags=["a"] * 9), r"9 tags; accepted: a list of strings \(at most 8"),
        (lambda d: d.update(tags=["x" * 65]), "has 65 characters; accepted"),
        (lambda d: d.update(tags=[3]), "3 is not a string; accepted"),
        (lambda d: d.update(tags="ab"), "not a list; accepted"),
        (lambda d: d.update(pubs=[]), "pubs: must be a list of 1 to"),
        (lambda d: d["pubs"][0]["values"].update(shape=[2**30]), "parameter-value sets; at most"),
        (
            lambda d: d["pubs"][0]["values"]["data"][0][1].update(data=b"\0" * 3),
            "3 bytes do not hold a float64 array",
        ),
        (
            lambda d: d["pubs"][0]["values"]["data"][0][1].update(
                data=np.array([np.nan, 1.0]).tobytes()
            ),
            "values must be finite numbers",
        ),
        (
            lambda d: d["pubs"][0]["values"]["data"][0][1].update(dtype="|O"),
            "dtype '|O'",
        ),
        (lambda d: d["pubs"][0]["values"]["data"][0].__setitem__(0, ["a"]), "inconsistent"),
        (lambda d: d.update(options=[{"name": "zne", "kwargs": "[1]"}]), "a JSON object"),
        (
            lambda d: d.update(options=[{"name": "rm-rf", "kwargs": "{}"}]),
            "unknown execution option 'rm-rf'; installed here: ddd, readout, twirl, zne",
        ),
        (
            lambda d: d.update(options=[{"name": "zne", "kwargs": '{"bogus": 1}'}]),
            r"has no argument\(s\) bogus",
        ),
    ],
)
def test_malformed_sampler_requests_are_refused_saying_what_is_accepted(change, message):
    data = envelope_data(make_request("sampler", [(measured(), [0.1, 0.2])]))
    change(data)
    with pytest.raises(QuantumRequestError, match=message):
        decode_request(bad(data), LIMITS)


def test_malformed_observables_are_refused():
    request = make_request("estimator", [(ansatz(), "ZZI", [0.1, 0.2])])
    data = envelope_data(request)
    observables = unpack_data(data["pubs"][0]["observables"])
    observables["terms"][0]["indices"]["data"] = np.array([9, 1], dtype=np.uint32).tobytes()
    data["pubs"][0]["observables"] = pack_data(observables)
    with pytest.raises(QuantumRequestError, match="not an observable"):
        decode_request(bad(data), LIMITS)
    observables["num_qubits"] = 2
    observables["terms"][0]["indices"]["data"] = np.array([0, 1], dtype=np.uint32).tobytes()
    data["pubs"][0]["observables"] = pack_data(observables)
    with pytest.raises(QuantumRequestError, match="observables of 2 qubits for a circuit of 3"):
        decode_request(bad(data), LIMITS)


def test_circuits_wider_than_the_backend_are_refused_before_they_are_parsed():
    request = make_request("sampler", [QuantumCircuit(9, 1)])
    with pytest.raises(
        QuantumRequestError, match=r"circuits\[0\]: a circuit of 9 qubits; at most 8"
    ):
        round_trip(request)


def test_the_facts_a_request_was_routed_by_must_match_its_content():
    envelope = seal(make_request("sampler", [ghz()]))
    narrower = RequestEnvelope(**{**envelope.__dict__, "num_qubits": 1})
    with pytest.raises(
        QuantumRequestError, match="routed as 1 qubits wide but its circuits need 3"
    ):
        narrower.open(LIMITS)
    other = RequestEnvelope(**{**envelope.__dict__, "primitive": "estimator"})
    with pytest.raises(QuantumRequestError, match="routed as a estimator request"):
        other.open(LIMITS)
    assert envelope.open(LIMITS).num_qubits == 3


def test_a_step_of_the_user_s_own_crosses_only_to_an_executor_that_runs_user_code():
    @register_step("negate-here")
    class Negate(PassThrough):
        name = "negate-here"

    try:
        request = make_request(
            "estimator", [(ansatz(), "ZZI", [0.1, 0.2])], options=resolve_options(["negate-here"])
        )
        with pytest.raises(
            QuantumRequestError,
            match=r"'negate-here' is code of the job's own.*on it: ddd, readout, twirl, zne",
        ):
            round_trip(request)
        (step,) = round_trip(request, RequestLimits(max_qubits=8, allow_code=True)).options
        assert step.name == "negate-here"
        # a step object passed as it is travels the same way
        request = make_request("estimator", [(ansatz(), "ZZI", [0.1, 0.2])], options=(Negate(),))
        with pytest.raises(QuantumRequestError, match="code of the job's own"):
            round_trip(request)
    finally:
        unregister_step("negate-here")


def test_an_installed_option_whose_arguments_are_not_json_crosses_only_by_value():
    request = make_request(
        "estimator",
        [(ansatz(), "ZZI", [0.1, 0.2])],
        options=resolve_options([{"zne": {"scale_factors": np.array([1.0, 3.0])}}]),
    )
    with pytest.raises(QuantumRequestError, match="'zne' is code of the job's own"):
        round_trip(request)
    assert round_trip(request, RequestLimits(max_qubits=8, allow_code=True)).options


def test_a_circuit_that_expands_past_the_operation_limit_is_refused():
    from qiskit.circuit import Gate

    inner = QuantumCircuit(1)
    inner.h(0)
    gate = Gate("g0", 1, [])
    gate.definition = inner
    for level in range(1, 12):  # 2048 operations once expanded
        body = QuantumCircuit(1)
        body.append(gate, [0])
        body.append(gate, [0])
        gate = Gate(f"g{level}", 1, [])
        gate.definition = body
    circuit = QuantumCircuit(1, 1)
    circuit.append(gate, [0])
    circuit.measure(0, 0)
    with pytest.raises(QuantumRequestError, match="expands to more than 1000 operations"):
        round_trip(make_request("sampler", [circuit]), RequestLimits(max_operations=1000))
    assert round_trip(make_request("sampler", [circuit]), RequestLimits(max_operations=3000))
    looped = QuantumCircuit(1, 1)
    with looped.for_loop(range(10**7)):
        looped.h(0)
    with pytest.raises(QuantumRequestError, match="expands to more than"):
        round_trip(make_request("sampler", [looped]), RequestLimits(max_operations=10**6))


def test_numpy_numbers_in_a_request_cross_as_plain_numbers():
    request = make_request("sampler", [ghz()], shots=np.int64(50), optimization_level=np.int64(1))
    copy = round_trip(request)
    assert (copy.shots, copy.optimization_level, copy.pubs[0].shots) == (50, 1, 50)


def test_the_shots_of_a_sampler_request_are_bounded_in_all():
    values = np.zeros((1000, 2))
    request = make_request("sampler", [(measured(), values, 200_000)])
    with pytest.raises(QuantumRequestError, match="200000000 shots in all"):
        round_trip(request)
    assert round_trip(request, RequestLimits(max_total_shots=200_000_000)).pubs[0].shots == 200_000


def test_the_control_plane_queues_no_request_larger_than_an_executor_takes():
    from qlambda.quantum.envelope import MAX_REQUEST_BYTES

    data = seal(make_request("sampler", [ghz()])).to_data()
    data["payload"] = b"\0" * (MAX_REQUEST_BYTES + 1)
    with pytest.raises(ValueError, match="bytes; at most 268435456"):
        RequestEnvelope.from_data(data)


def test_a_request_s_fixed_part_is_decoded_once_and_its_values_every_time():
    from qlambda.quantum.codec import requests

    circuit = ansatz()
    first = round_trip(make_request("estimator", [(circuit, "ZZI", [0.1, 0.2])]))
    again = round_trip(make_request("estimator", [(circuit, "ZZI", [0.7, 0.9])]))
    assert again.pubs[0].circuit is first.pubs[0].circuit  # the fixed part, kept
    assert np.array_equal(again.pubs[0].parameter_values.as_array(circuit.parameters), [0.7, 0.9])
    assert np.array_equal(first.pubs[0].parameter_values.as_array(circuit.parameters), [0.1, 0.2])
    # what the fixed part holds is its content, never what came before in its place
    circuit.rz(Parameter("c"), 2)
    changed = round_trip(make_request("estimator", [(circuit, "ZZI", [0.1, 0.2, 0.3])]))
    assert changed.pubs[0].circuit.num_parameters == 3
    other = round_trip(make_request("estimator", [(ansatz(), "XXI", [0.1, 0.2])]))
    assert dict(other.pubs[0].observables.ravel()[0]) == {"XXI": 1.0}
    assert len(requests._templates) >= 3


def test_a_fixed_part_accepted_under_some_limits_is_checked_again_under_others():
    payload = encode_request(make_request("sampler", [ghz()]))
    assert decode_request(payload, RequestLimits(max_qubits=8)).num_qubits == 3
    with pytest.raises(QuantumRequestError, match="a circuit of 3 qubits; at most 2"):
        decode_request(payload, RequestLimits(max_qubits=2))


def test_values_that_do_not_fit_the_fixed_part_are_refused():
    outer = unpack_data(encode_request(make_request("sampler", [(measured(), [0.1, 0.2])])))
    for values, message in (
        ([], "one list of parameter-value arrays per PUB"),
        ([[]], "one array of bytes per group"),
        ([[b"\0" * 24]], "24 bytes do not hold a float64 array of shape"),
        ([["text"]], "data must be bytes"),
    ):
        with pytest.raises(QuantumRequestError, match=message):
            decode_request(pack_data({**outer, "values": values}), LIMITS)
    with pytest.raises(QuantumRequestError, match="expected a mapping of version, request"):
        decode_request(pack_data({**outer, "key": b"\0" * 16}), LIMITS)
