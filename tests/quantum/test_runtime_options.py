"""IBM-Runtime-style options on the platform's primitives: the names qiskit_ibm_runtime
uses, what they map to, and a clear error for every one qlambda cannot honour."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.runtime_options import (
    EstimatorOptions,
    RuntimeOptionError,
    SamplerOptions,
)


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


def test_ibm_documentation_lines_set_the_options(aer_submit):
    sampler = PlatformSamplerV2(aer_submit)
    sampler.options.default_shots = 10_000
    assert sampler.run([bell()]).result()[0].data.meas.num_shots == 10_000
    estimator = PlatformEstimatorV2(aer_submit)
    estimator.options.resilience_level = 1
    estimator.options.default_shots = 400
    result = estimator.run([(bell(False), "ZZ")]).result()
    assert result[0].metadata["execution_options"] == ["readout"]
    assert aer_submit.requests[-1].pubs[0].precision == pytest.approx(0.05)  # 1/sqrt(400)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"resilience_level": 0}, []),
        ({"resilience_level": 1}, ["readout"]),
        (
            {"resilience_level": 2},
            [
                "readout",
                {
                    "zne": {
                        "scale_factors": [1.0, 3.0, 5.0],
                        "extrapolation": "exponential",
                        "folding": "random",
                    }
                },
            ],
        ),
        ({"resilience_level": 2, "resilience": {"measure_mitigation": False}}, ["zne"]),
        ({"resilience_level": 1, "resilience": {"measure_mitigation": False}}, []),
        (
            {"resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 2, 3]}}},
            ["zne"],
        ),
        (
            {"dynamical_decoupling": {"enable": True, "sequence_type": "XY4"}},
            [{"ddd": {"rule": "xyxy"}}],
        ),
        (
            {"dynamical_decoupling": {"enable": True, "sequence_type": "XpXm"}},
            [{"ddd": {"rule": "xx"}}],
        ),
        ({"twirling": {"enable_gates": True, "num_randomizations": 8}}, ["twirl"]),
        ({"default_shots": 100}, None),  # no mitigation option: the listed options apply
    ],
)
def test_resilience_maps_to_execution_options(settings, expected):
    wanted = EstimatorOptions(**settings).execution_options()
    if expected is None or expected == []:
        assert wanted == expected
    else:
        names = [next(iter(o)) if isinstance(o, dict) else o for o in wanted]
        assert names == [next(iter(o)) if isinstance(o, dict) else o for o in expected]
        if isinstance(expected[-1], dict) and "ddd" in expected[-1]:
            assert wanted == expected


def test_zne_extrapolators_map_to_linear_or_richardson():
    options = EstimatorOptions(resilience={"zne_mitigation": True})
    options.resilience.zne.noise_factors = [1, 2, 3]
    options.resilience.zne.extrapolator = "polynomial_degree_2"
    assert options.execution_options() == [
        {
            "zne": {
                "scale_factors": [1.0, 2.0, 3.0],
                "extrapolation": "richardson",
                "folding": "random",
            }
        }
    ]
    options.resilience.zne.extrapolator = ["linear"]
    assert options.execution_options()[0]["zne"]["extrapolation"] == "linear"
    options.resilience.zne.extrapolator = ("exponential", "linear")  # IBM's default
    assert options.execution_options()[0]["zne"]["extrapolation"] == "exponential"
    options.resilience.zne.extrapolator = "polynomial_degree_3"  # needs 4 factors
    with pytest.raises(RuntimeOptionError, match=r"does not fit 3 noise factors; accepted: "):
        options.execution_options()


def test_constructor_and_attribute_styles_agree():
    by_attribute = EstimatorOptions()
    by_attribute.resilience.zne_mitigation = True
    by_attribute.default_precision = 0.01
    by_attribute.environment.job_tags = ["a"]
    by_dict = EstimatorOptions(
        resilience={"zne_mitigation": True}, default_precision=0.01, environment={"job_tags": ["a"]}
    )
    assert by_attribute == by_dict
    by_update = EstimatorOptions()
    by_update.update(resilience={"zne_mitigation": True}, default_precision=0.01)
    by_update.environment = {"job_tags": ["a"]}
    assert by_update == by_dict


def test_explicit_execution_options_and_ibm_mitigation_are_not_mixed(aer_submit):
    estimator = PlatformEstimatorV2(aer_submit, options=["readout"])
    estimator.options.resilience_level = 2
    with pytest.raises(RuntimeOptionError, match="accepted: one or the other"):
        estimator.run([(bell(False), "ZZ")])
    # a job's default options give way to the IBM-style ones
    defaults = PlatformEstimatorV2(aer_submit, options=["zne"], strict_options=False)
    defaults.options.resilience_level = 1
    assert [step.name for step in defaults.steps] == ["readout"]


UNSUPPORTED = [
    # (options kind, path, value, what the message says)
    ("estimator", "resilience_levle", 1, r"unknown option options.resilience_levle; accepted: "),
    ("estimator", "resilience_level", 3, r"accepted: 0 \(none\), 1 \(readout mitigation\)"),
    ("estimator", "default_precision", 0, r"accepted: a finite number > 0"),
    ("estimator", "seed_estimator", 1, r"options.seed_estimator is not supported"),
    ("estimator", "resilience.pec_mitigation", True, r"no probabilistic error cancellation"),
    ("estimator", "resilience.pec.max_overhead", 10, r"no probabilistic error cancellation"),
    ("estimator", "resilience.zne.amplifier", "pea", r"accepted: 'gate_folding'"),
    ("estimator", "resilience.zne.extrapolator", "double_exponential", r"fits an exponential"),
    ("estimator", "resilience.zne.extrapolator", ["linear", "exponential"], r"accepted: one of"),
    ("estimator", "resilience.zne.noise_factors", [1], r"at least two distinct numbers >= 1"),
    ("estimator", "resilience.zne.extrapolated_noise_factors", [0, 1], r"not supported"),
    ("estimator", "resilience.measure_noise_learning.num_randomizations", 8, r"learns no"),
    ("estimator", "resilience.layer_noise_learning.max_layers_to_learn", 2, r"learns no"),
    ("estimator", "resilience.zne_mitigaton", True, r"accepted: measure_mitigation, "),
    ("estimator", "twirling.enable_gates", "yes", r"accepted: True or False"),
    ("estimator", "twirling.enable_measure", True, r"accepted: False \(qlambda does not twirl"),
    ("sampler", "twirling.num_randomizations", 0, r"accepted: a positive integer or 'auto'"),
    ("sampler", "twirling.strategy", "active-accum", r"accepted: 'active' \(qlambda twirls"),
    ("sampler", "dynamical_decoupling.sequence_type", "XYXY", r"accepted: 'XX', 'XpXm', 'XY4'"),
    ("sampler", "dynamical_decoupling.scheduling_method", "asap", r"accepted: 'alap'"),
    ("sampler", "dynamical_decoupling.enable", "yes", r"accepted: True or False"),
    ("sampler", "execution.init_qubits", False, r"accepted: True"),
    ("sampler", "execution.rep_delay", 0.0001, r"rep_delay_seconds"),
    ("sampler", "execution.meas_type", "kerneled", r"accepted: 'classified'"),
    ("sampler", "environment.private", True, r"accepted: False"),
    ("sampler", "environment.job_tags", "tag", r"not a list; accepted: a list of strings"),
    ("sampler", "environment.job_tags", ["t"] * 9, r"9 tags; accepted: .*at most 8, each 1 to 64"),
    ("estimator", "environment.job_tags", ["x" * 65], r"has 65 characters; accepted: a list"),
    ("estimator", "environment.job_tags", ["a\tb"], r"not printable; accepted: a list of"),
    ("sampler", "simulator.seed_simulator", 1, r"choose one with ctx.backend\(name\)"),
    ("sampler", "max_execution_time", 60, r"task_timeout_seconds"),
    ("sampler", "experimental", {"x": 1}, r"no experimental"),
    ("sampler", "default_shots", 0, r"accepted: a positive integer"),
    ("sampler", "resilience_level", 1, r"unknown option options.resilience_level; accepted: "),
]


@pytest.mark.parametrize(("kind", "path", "value", "message"), UNSUPPORTED)
def test_each_unsupported_option_says_which_and_what_is_accepted(kind, path, value, message):
    options = EstimatorOptions() if kind == "estimator" else SamplerOptions()
    *groups, name = path.split(".")
    node = options
    for group in groups:
        node = getattr(node, group)
    with pytest.raises(RuntimeOptionError, match=message) as raised:
        setattr(node, name, value)
    assert f"options.{path}" in str(raised.value)
    # the constructor style fails the same way
    nested: dict = {name: value}
    for group in reversed(groups):
        nested = {group: nested}
    with pytest.raises(RuntimeOptionError, match=message):
        (EstimatorOptions if kind == "estimator" else SamplerOptions)(**nested)


def test_reading_an_unknown_option_is_an_attribute_error():
    options = SamplerOptions()
    assert options.default_shots is not None and not options.default_shots  # Unset
    with pytest.raises(AttributeError, match=r"unknown option options\.defualt_shots"):
        _ = options.defualt_shots


def test_qiskit_ibm_runtime_options_objects_are_taken_as_set(aer_submit):
    from qiskit_ibm_runtime.options import EstimatorOptions as IBMEstimatorOptions

    ibm = IBMEstimatorOptions()
    ibm.resilience_level = 1
    ibm.default_shots = 400
    estimator = PlatformEstimatorV2(aer_submit)
    estimator.options = ibm
    assert estimator.options.resilience_level == 1
    assert [step.name for step in estimator.steps] == ["readout"]
    assert estimator.default_precision == pytest.approx(0.05)
    ibm.twirling.enable_measure = True
    with pytest.raises(RuntimeOptionError, match=r"options.twirling.enable_measure = True"):
        estimator.options = ibm
