"""Replaying what the platform recorded: its traces, under the platform they came from.

Traces alone say what each job did, not how fast jobs arrived or how many workers
and QPUs served them; a workload of seconds-long jobs replayed at the published
scenarios' one job per 10 minutes does nothing worth reading. So ``qlambda traces
export`` and ``qlambda demo`` write, beside the five CSV files, ``platform.json``:
the recorded platform (workers, QPU slots, policy, admission limits) and arrival
stream (mean gap, priorities). :func:`replay_scenario` turns a trace directory into
a scenario on that platform, where every policy can be compared on the same jobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES
from qlambda.sim.scenario import Scenario
from qlambda.sim.traces import load_traces

RECORDING_FILE = "platform.json"  # written by qlambda.platform.traces.export_traces
# Simulated arrivals per replication, and the share of them the warm-up discards.
REPLAY_ARRIVALS = 2000
WARMUP_SHARE = 0.1


@dataclass(frozen=True)
class Recording:
    """The platform and arrival stream a trace was recorded under."""

    workers: int
    qpus: int
    interarrival: float
    priorities: tuple[float, ...] = (1.0,)
    policy: str | None = None
    c_max: int | None = None
    q_max: int | None = None
    jobs: int | None = None

    def __post_init__(self) -> None:
        if self.workers < 1 or self.qpus < 1:
            raise ConfigurationError(
                f"a recording needs workers >= 1 and qpus >= 1, got {self.workers}, {self.qpus}"
            )
        if not self.interarrival > 0:
            raise ConfigurationError(f"interarrival must be > 0 s, got {self.interarrival}")
        object.__setattr__(self, "priorities", tuple(float(p) for p in self.priorities))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / RECORDING_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Recording | None:
        """The recording beside a trace directory's files, or ``None`` if there is none."""
        path = Path(directory) / RECORDING_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigurationError(f"{path} is not valid JSON: {error}") from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "recording") -> Recording:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigurationError(f"{where}: {error}") from None


def replay_scenario(traces: str | Path, assignments: tuple[str, ...] = ()) -> Scenario:
    """A scenario on the recorded platform, every policy, the traces' sizes, raw QPU times.

    ``assignments`` (``KEY=VALUE``, as ``--set``) override it; unless they set
    ``duration`` or ``warmup``, a replication lasts ``REPLAY_ARRIVALS`` mean gaps
    of the slowest arrival rate, the first tenth of it a warm-up.
    """
    directory = Path(traces)
    loaded = load_traces(directory)
    sizes = loaded.sizes()
    if not sizes:
        raise ConfigurationError(f"traces {directory} have no size with samples in every file")
    recording = Recording.load(directory)
    base = Scenario(
        name="replay",
        # classical trace seconds are work at 1e9 operations/s; S=1e9 gives them back
        S=1e9,
        qubits=tuple(sizes),
        policies=tuple(POLICIES),
        target_means=None,  # the recorded QPU times are what the platform measured
        traces=str(directory),
        reps=10,
        C_max=None,
        Q_max=None,
        duration=REPLAY_ARRIVALS * 600.0,
        warmup=REPLAY_ARRIVALS * 600.0 * WARMUP_SHARE,
    )
    if recording is not None:
        base = base.replace(
            C=recording.workers,
            Q=recording.qpus,
            interarrival=recording.interarrival,
            priorities=recording.priorities,
            C_max=recording.c_max,
            Q_max=recording.q_max,
            duration=REPLAY_ARRIVALS * recording.interarrival,
            warmup=REPLAY_ARRIVALS * recording.interarrival * WARMUP_SHARE,
        )
    else:
        given = {text.partition("=")[0].strip() for text in assignments}
        missing = [key for key in ("C", "Q", "interarrival") if key not in given]
        if missing:
            raise ConfigurationError(
                f"{directory} has no {RECORDING_FILE} saying how jobs arrived and what served "
                f"them; give {', '.join(f'--set {k}=...' for k in missing)} (or export the "
                "traces with qlambda traces export, which writes it)"
            )
    scenario = base.override(assignments)
    keys = {text.partition("=")[0].strip().lower() for text in assignments}
    if not keys & {"duration", "warmup"}:
        span = REPLAY_ARRIVALS * max(scenario.interarrival)
        scenario = scenario.replace(duration=span, warmup=span * WARMUP_SHARE)
    return scenario
