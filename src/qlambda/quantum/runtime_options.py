"""The options of IBM Runtime's SamplerV2 and EstimatorV2, as qlambda honours them.

Code written for ``qiskit_ibm_runtime`` sets ``sampler.options.default_shots = 10_000``,
``estimator.options.resilience_level = 2`` or passes ``options={...}`` to the primitive.
These classes accept the same names, in the same tree (``options.resilience.zne.
noise_factors``), attribute by attribute or from nested dicts, and turn the ones that ask
for error mitigation into the platform's execution options
(:mod:`qlambda.quantum.pipeline`):

* ``resilience_level`` 1, or ``resilience.measure_mitigation``: ``readout`` (the
  backend's calibrated readout errors; IBM uses TREX, a twirled readout correction);
* ``resilience_level`` 2, or ``resilience.zne_mitigation``: ``zne`` as well (gate
  folding at ``resilience.zne.noise_factors``, extrapolated by ``resilience.zne.
  extrapolator``); unlike IBM's level 2, without gate twirling;
* ``twirling.enable_gates``: ``twirl`` (Pauli twirling of two-qubit gates, Qiskit's
  ``pauli_twirl_2q_gates``, the shots split over ``twirling.num_randomizations`` copies);
* ``dynamical_decoupling.enable``: ``ddd`` (mitiq's rules: ``XX`` and ``XpXm`` -> ``xx``,
  ``XY4`` -> ``xyxy``), inserted in idle moments rather than timed delays.

An option qlambda cannot honour, an unknown or misspelt name, and a value of the wrong
kind raise :class:`RuntimeOptionError` at the line that sets it, naming the option and
what is accepted. Every rule is in ``docs/backends.md``.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar


class RuntimeOptionError(ValueError):
    """An IBM-Runtime-style option qlambda does not know, or cannot honour."""


class _UnsetType:
    """The value of an option nobody set (as ``qiskit_ibm_runtime``'s ``Unset``)."""

    _instance: ClassVar[_UnsetType | None] = None

    def __new__(cls) -> _UnsetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unset"

    def __bool__(self) -> bool:
        return False


Unset = _UnsetType()

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Leaf:
    """One option: ``check(path, value)`` returns the value to keep or raises."""

    check: Check


def _fail(path: str, value: Any, accepted: str) -> RuntimeOptionError:
    return RuntimeOptionError(f"option {path} = {value!r} is not accepted; accepted: {accepted}")


def _boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, value, "True or False")
    return value


def _only(*allowed: Any, why: str) -> Leaf:
    """An option qlambda honours only at the listed values (IBM's defaults, usually)."""

    def check(path: str, value: Any) -> Any:
        if value is Unset or any(value == a and type(value) is type(a) for a in allowed):
            return value
        shown = ", ".join(repr(a) for a in allowed)
        raise _fail(path, value, f"{shown} ({why})")

    return Leaf(check)


def _one_of(*allowed: str, refused: Mapping[str, str] | None = None) -> Leaf:
    refused = dict(refused or {})

    def check(path: str, value: Any) -> Any:
        if value in refused:
            raise _fail(path, value, f"{', '.join(map(repr, allowed))} ({refused[value]})")
        if not isinstance(value, str) or value not in allowed:
            raise _fail(path, value, ", ".join(map(repr, allowed)))
        return value

    return Leaf(check)


def _refused(why: str) -> Leaf:
    """An option qlambda cannot honour at any value."""

    def check(path: str, value: Any) -> Any:
        if value is Unset:
            return value
        raise RuntimeOptionError(f"option {path} is not supported: {why}")

    return Leaf(check)


def _positive_int(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 1:
        raise _fail(path, value, "a positive integer")
    return int(value)


def _shots_or_none(path: str, value: Any) -> int | None:
    return None if value is None else _positive_int(path, value)


def _precision(path: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(float(value))
        or not float(value) > 0
    ):
        raise _fail(path, value, "a finite number > 0, e.g. 0.015625 (4096 shots)")
    return float(value)


def _resilience_level(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value not in (0, 1, 2):
        raise _fail(path, value, "0 (none), 1 (readout mitigation), 2 (readout + ZNE)")
    return int(value)


def _noise_factors(path: str, value: Any) -> tuple[float, ...]:
    accepted = "a list of at least two distinct numbers >= 1, e.g. [1, 3, 5]"
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(path, value, accepted)
    factors = []
    for factor in value:
        if isinstance(factor, bool) or not isinstance(factor, Real) or not float(factor) >= 1:
            raise _fail(path, value, accepted)
        factors.append(float(factor))
    if len(factors) < 2 or len(set(factors)) != len(factors):
        raise _fail(path, value, accepted)
    return tuple(factors)


EXTRAPOLATORS = (
    "exponential",
    "linear",
    "polynomial_degree_1",
    "polynomial_degree_<len(noise_factors) - 1>",
    "['exponential', 'linear']",
)
"""What ``resilience.zne.extrapolator`` accepts: ``A exp(-x/tau)`` (falling back to a line
when the values do not share a sign: IBM's default pair), a straight line, or the
polynomial through every point (Richardson's extrapolation)."""

_POLYNOMIAL_ONLY = (
    "qlambda's ZNE fits an exponential, a line, or the polynomial through every noise factor"
)


def _extrapolator(path: str, value: Any) -> str:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, Sequence) and all(isinstance(name, str) for name in names):
        names = list(names)
        if names == ["exponential", "linear"]:
            return "exponential"  # the first that succeeds: exactly what 'exponential' does
        if len(names) == 1:
            name = names[0]
            if name in ("linear", "exponential") or (
                name.startswith("polynomial_degree_") and name[-1:].isdigit()
            ):
                return name
            if name in ("double_exponential", "fallback"):
                raise _fail(path, value, f"{', '.join(EXTRAPOLATORS)} ({_POLYNOMIAL_ONLY})")
    raise _fail(path, value, f"one of {', '.join(EXTRAPOLATORS)}")


def _job_tags(path: str, value: Any) -> list[str] | None:
    """Checked where they are set: each task carries them (``QuantumRequest.tags``)."""
    from qlambda.quantum.request import TAGS_ACCEPTED, tags_problem

    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        problem: str | None = "not a list"
    else:
        problem = tags_problem(list(value))
    if problem is not None:
        raise RuntimeOptionError(
            f"option {path} = {reprlib.repr(value)} is not accepted: {problem}; "
            f"accepted: {TAGS_ACCEPTED}, or None"
        )
    return list(value)


class OptionGroup:
    """A node of the options tree: options by name, groups of options inside.

    ``fields`` maps each name to a :class:`Leaf` or to the :class:`OptionGroup` subclass of
    its sub-options. An option nobody set reads :data:`Unset`.
    """

    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {}

    def __init__(self, _path: str = "options", **values: Any) -> None:
        object.__setattr__(self, "_path", _path)
        object.__setattr__(self, "_values", {})
        for name, spec in self.fields.items():
            if isinstance(spec, type):
                self._values[name] = spec(f"{_path}.{name}")
        self.update(**values)

    _path: str
    _values: dict[str, Any]

    def _unknown(self, name: str) -> RuntimeOptionError:
        return RuntimeOptionError(
            f"unknown option {self._path}.{name}; accepted: {', '.join(self.fields) or 'none'}"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        if name in self.fields:
            return Unset
        raise AttributeError(str(self._unknown(name)))

    def __setattr__(self, name: str, value: Any) -> None:
        spec = self.fields.get(name)
        if spec is None:
            raise self._unknown(name)
        path = f"{self._path}.{name}"
        if isinstance(spec, type):
            group = spec(path)
            if isinstance(value, OptionGroup):
                value = value.to_dict()
            if not isinstance(value, Mapping):
                raise _fail(path, value, f"a mapping of its options ({', '.join(spec.fields)})")
            group.update(**value)
            self._values[name] = group
        elif value is Unset:
            self._values.pop(name, None)
        else:
            self._values[name] = spec.check(path, value)

    def update(self, **values: Any) -> None:
        """Set several options; a mapping for a group updates the options inside it."""
        for name, value in values.items():
            spec = self.fields.get(name)
            if isinstance(spec, type) and isinstance(value, Mapping):
                group = getattr(self, name)
                group.update(**value)
            else:
                setattr(self, name, value)

    def is_set(self, name: str) -> bool:
        value = self._values.get(name, Unset)
        return value.any_set() if isinstance(value, OptionGroup) else value is not Unset

    def any_set(self) -> bool:
        return any(self.is_set(name) for name in self.fields)

    def to_dict(self) -> dict[str, Any]:
        """The options that were set, nested."""
        out: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, OptionGroup):
                if value.any_set():
                    out[name] = value.to_dict()
            else:
                out[name] = value
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OptionGroup)
            and type(other) is type(self)
            and (self.to_dict() == other.to_dict())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({inner})"


_NO_MEASURE_TWIRLING = (
    "qlambda does not twirl measurements; resilience.measure_mitigation corrects readout "
    "errors with the backend's calibration"
)


def _randomizations(path: str, value: Any) -> int | str:
    if value == "auto":
        return "auto"
    try:
        return _positive_int(path, value)
    except RuntimeOptionError:
        raise _fail(path, value, "a positive integer or 'auto'") from None


class DynamicalDecouplingOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "enable": Leaf(_boolean),
        # XpXm differs from XX in the phase of its second pulse only, which a gate-level
        # noise model does not see: it runs as XX
        "sequence_type": _one_of("XX", "XpXm", "XY4"),
        "extra_slack_distribution": _only(
            "middle", why="sequences fill idle moments, not timed slack"
        ),
        "scheduling_method": _only("alap", why="sequences fill idle moments, not timed slack"),
        "skip_reset_qubits": _only(False, why="every idle window is filled"),
    }


class TwirlingOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "enable_gates": Leaf(_boolean),
        "enable_measure": _only(False, why=_NO_MEASURE_TWIRLING),
        "num_randomizations": Leaf(_randomizations),
        "shots_per_randomization": Leaf(_randomizations),
        "strategy": _one_of(
            "active",
            refused={
                other: "qlambda twirls the qubits of each two-qubit gate (Qiskit's "
                "pauli_twirl_2q_gates)"
                for other in ("active-accum", "active-circuit", "all")
            },
        ),
    }


_REP_DELAY = (
    "a simulated QPU's delay between shots is its backend's rep_delay_seconds, set in the "
    "backend configuration (it shapes the emulated QPU time)"
)


class ExecutionOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "init_qubits": _only(True, why="every shot starts from the ground state"),
        "rep_delay": _refused(_REP_DELAY),
    }


class SamplerExecutionOptions(ExecutionOptions):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        **ExecutionOptions.fields,
        "meas_type": _only("classified", why="simulated devices return classified bits only"),
    }


class EnvironmentOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "log_level": _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        "job_tags": Leaf(_job_tags),
        "private": _only(False, why="the platform keeps a job's results by its retention rules"),
    }


_SIMULATOR = (
    "the platform's backends are configured simulators (qlambda.toml [[backend]] tables); "
    "choose one with ctx.backend(name)"
)


class SimulatorOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "noise_model": _refused(_SIMULATOR),
        "seed_simulator": _refused(_SIMULATOR + "; a backend's seed is its 'seed' key"),
        "coupling_map": _refused(_SIMULATOR),
        "basis_gates": _refused(_SIMULATOR),
    }


_NO_LEARNING = "qlambda's readout mitigation uses the backend's calibration, it learns no noise"


class MeasureNoiseLearningOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "num_randomizations": _refused(_NO_LEARNING),
        "shots_per_randomization": _refused(_NO_LEARNING),
    }


_NO_LAYER_LEARNING = "qlambda learns no layer noise (it serves PEC and PEA, which it lacks)"


class LayerNoiseLearningOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "max_layers_to_learn": _refused(_NO_LAYER_LEARNING),
        "shots_per_randomization": _refused(_NO_LAYER_LEARNING),
        "num_randomizations": _refused(_NO_LAYER_LEARNING),
        "layer_pair_depths": _refused(_NO_LAYER_LEARNING),
    }


_NO_PEC = "qlambda has no probabilistic error cancellation; use zne_mitigation"


class PecOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "max_overhead": _refused(_NO_PEC),
        "noise_gain": _refused(_NO_PEC),
    }


class ZneOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "amplifier": _one_of(
            "gate_folding",
            refused={
                "gate_folding_front": "qlambda folds gates chosen at random",
                "gate_folding_back": "qlambda folds gates chosen at random",
                "pea": "qlambda has no probabilistic error amplification",
            },
        ),
        "noise_factors": Leaf(_noise_factors),
        "extrapolator": Leaf(_extrapolator),
        "extrapolated_noise_factors": _refused(
            "qlambda returns the value extrapolated to zero noise only"
        ),
    }


class ResilienceOptions(OptionGroup):
    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "measure_mitigation": Leaf(_boolean),
        "measure_noise_learning": MeasureNoiseLearningOptions,
        "zne_mitigation": Leaf(_boolean),
        "zne": ZneOptions,
        "pec_mitigation": _only(False, why=_NO_PEC),
        "pec": PecOptions,
        "layer_noise_learning": LayerNoiseLearningOptions,
        "layer_noise_model": _only(None, why=_NO_LAYER_LEARNING),
    }


_MAX_TIME = (
    "a quantum task's time limit is its backend's task_timeout_seconds, a job's its "
    "function's timeout"
)
_EXPERIMENTAL = "qlambda has no experimental primitive options"

_COMMON: dict[str, Leaf | type[OptionGroup]] = {
    "dynamical_decoupling": DynamicalDecouplingOptions,
    "twirling": TwirlingOptions,
    "environment": EnvironmentOptions,
    "simulator": SimulatorOptions,
    "max_execution_time": _refused(_MAX_TIME),
    "experimental": _refused(_EXPERIMENTAL),
}


class PrimitiveOptions(OptionGroup):
    """What both primitives' options share: the execution options they ask for."""

    def execution_options(self) -> list[Any] | None:
        """The platform's execution options these options ask for, outermost first; None
        when no mitigation option was set (the primitive's own list then applies)."""
        decoupling = self.dynamical_decoupling
        if not self._mitigation_set():
            return None
        options: list[Any] = [*self._mitigation()]
        twirling = self.twirling
        if twirling.enable_gates is True:
            arguments = {
                name: getattr(twirling, name)
                for name in ("num_randomizations", "shots_per_randomization")
                if twirling.is_set(name)
            }
            options.append({"twirl": arguments} if arguments else "twirl")
        if decoupling.enable is True:
            rule = {"XX": "xx", "XpXm": "xx", "XY4": "xyxy"}[decoupling.sequence_type or "XX"]
            options.append({"ddd": {"rule": rule}})
        return options

    def _mitigation_set(self) -> bool:
        return bool(
            self.dynamical_decoupling.is_set("enable") or self.twirling.is_set("enable_gates")
        )

    def _mitigation(self) -> list[Any]:
        return []

    @property
    def job_tags(self) -> list[str]:
        return list(self.environment.job_tags or [])


class SamplerOptions(PrimitiveOptions):
    """``qiskit_ibm_runtime.options.SamplerOptions``, as qlambda honours them."""

    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "default_shots": Leaf(_positive_int),
        **_COMMON,
        "execution": SamplerExecutionOptions,
    }


class EstimatorOptions(PrimitiveOptions):
    """``qiskit_ibm_runtime.options.EstimatorOptions``, as qlambda honours them."""

    fields: ClassVar[dict[str, Leaf | type[OptionGroup]]] = {
        "default_precision": Leaf(_precision),
        "default_shots": Leaf(_shots_or_none),
        "resilience_level": Leaf(_resilience_level),
        "seed_estimator": _refused(
            "an estimate's randomness comes from its backend's seed (the 'seed' key)"
        ),
        "resilience": ResilienceOptions,
        **_COMMON,
        "execution": ExecutionOptions,
    }

    def _mitigation_set(self) -> bool:
        resilience = self.resilience
        return bool(
            super()._mitigation_set()
            or self.is_set("resilience_level")
            or resilience.is_set("measure_mitigation")
            or resilience.is_set("zne_mitigation")
        )

    def _mitigation(self) -> list[Any]:
        level = self.resilience_level or 0
        resilience = self.resilience
        measure = resilience.measure_mitigation
        zne = resilience.zne_mitigation
        options: list[Any] = []
        if measure is True or (measure is Unset and level >= 1):
            options.append("readout")
        if zne is True or (zne is Unset and level >= 2):
            options.append({"zne": zne_arguments(resilience.zne)})
        return options

    def precision(self) -> float | None:
        """The default precision these options set (``default_shots`` wins, as in IBM
        Runtime: precision ``1/sqrt(shots)``); None: not set."""
        shots = self.default_shots
        if shots:
            return 1.0 / math.sqrt(shots)
        precision = self.default_precision
        return None if precision is Unset else float(precision)


def zne_arguments(zne: ZneOptions) -> dict[str, Any]:
    """The ``zne`` execution option's arguments for IBM-style ZNE options."""
    factors = zne.noise_factors or (1.0, 3.0, 5.0)
    extrapolator = zne.extrapolator or "exponential"  # IBM's default: exponential, else linear
    richardson = f"polynomial_degree_{len(factors) - 1}"
    if extrapolator in ("linear", "polynomial_degree_1"):
        extrapolation = "linear"
    elif extrapolator == "exponential":
        extrapolation = "exponential"
    elif extrapolator == richardson:
        extrapolation = "richardson"
    else:
        raise RuntimeOptionError(
            f"option options.resilience.zne.extrapolator = {extrapolator!r} does not fit "
            f"{len(factors)} noise factors; accepted: 'exponential', 'linear', "
            "'polynomial_degree_1' or "
            f"{richardson!r} (the polynomial through every noise factor)"
        )
    return {"scale_factors": list(factors), "extrapolation": extrapolation, "folding": "random"}


def _set_values(values: dict[str, Any]) -> dict[str, Any]:
    """The options a ``qiskit_ibm_runtime`` options object has set (its ``Unset`` and empty
    groups left out)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith("_") or type(value).__name__ == "UnsetType":
            continue
        if isinstance(value, dict):
            value = _set_values(value)
            if not value:
                continue
        out[name] = value
    return out


def make_options(kind: type[PrimitiveOptions], given: Any) -> PrimitiveOptions:
    """Options of ``kind`` from what a primitive's ``options=`` received: None, a nested
    dict, options of the same kind (copied), or ``qiskit_ibm_runtime``'s options object
    (what it set)."""
    if given is None:
        return kind()
    if isinstance(given, kind):
        return kind(**given.to_dict())
    if isinstance(given, Mapping):
        return kind(**given)
    if dataclasses.is_dataclass(given) and type(given).__module__.startswith("qiskit_ibm_runtime"):
        return kind(**_set_values(dataclasses.asdict(given)))  # type: ignore[arg-type]
    raise RuntimeOptionError(
        f"options must be a dict such as {{'default_shots': 4096}} or a {kind.__name__}; "
        f"got {type(given).__name__}"
    )
