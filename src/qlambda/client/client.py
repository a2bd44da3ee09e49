"""``Client()`` starts the embedded platform: no server, no configuration.

```python
client = qlambda.Client()
job = client.run(my_function, priority=2, n=8)
job.result()
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qlambda.core.errors import JobCanceledError, JobDroppedError, JobFailedError
from qlambda.core.events import Event
from qlambda.core.states import JobStatus, parse_status
from qlambda.platform import Function, JobInfo, Platform, PlatformConfig
from qlambda.platform.functions import as_function

_ERRORS = {
    JobStatus.ERROR: JobFailedError,
    JobStatus.CANCELED: JobCanceledError,
    JobStatus.DROPPED: JobDroppedError,
}


class Job:
    """A handle on one job. Cheap to create; every call asks the platform."""

    def __init__(self, platform: Platform, job_id: str) -> None:
        self._platform = platform
        self.id = job_id

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status().value}>"

    def status(self) -> JobStatus:
        return self._platform.info(self.id).status

    def sub_status(self) -> str | None:
        """While RUNNING: CLASSICAL, WAITING_FOR_QPU, EXECUTING_QPU, or the function's own text."""
        return self._platform.info(self.id).sub_status

    def info(self) -> JobInfo:
        return self._platform.info(self.id)

    def done(self) -> bool:
        return self.status().is_final

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has ended (within ``timeout`` seconds)."""
        return self._platform.wait(self.id, timeout)

    def result(self, timeout: float | None = None) -> Any:
        """The function's return value, as soon as the job ends.

        Raises ``JobFailedError`` (with the function's own traceback), ``JobCanceledError``
        or ``JobDroppedError``; ``TimeoutError`` if it has not ended within ``timeout``.
        """
        if not self._platform.wait(self.id, timeout):
            raise TimeoutError(f"job {self.id} has not ended within {timeout} s")
        row = self._platform.result_row(self.id)
        status = JobStatus(row["status"])
        if status is JobStatus.DONE:
            return self._platform.load_result(row)
        raise _ERRORS[status](self.id, status.value, row["reason"] or "", row["traceback"])

    def logs(self) -> str:
        """Everything the function wrote to stdout and stderr, in order."""
        return self._platform.logs(self.id)

    def cancel(self) -> bool:
        """Cancel it if it has not ended; True if this call canceled it."""
        return self._platform.cancel(self.id)

    def events(self) -> list[Event]:
        """Timestamped transitions: submitted, admitted, started, quantum tasks, end."""
        return self._platform.events(self.id)

    def usage(self) -> dict[str, Any]:
        """What its quantum tasks used so far: ``qpu_seconds``, ``cost``, ``tasks``, and
        the same per backend (``backends``); see docs/costs.md."""
        return self._platform.job_usage(self.id)


class Client:
    """The entry point. With no target it runs the platform embedded in this process;
    ``Client("http://host:8000", token=...)`` talks to ``qlambda serve`` with the same API.

    ``engine`` is where jobs run: "local" (warm processes here, the default), "ray" or
    "dask"; with ``engine_address`` they join that cluster, without it a private local
    instance starts. ``backends`` is a list of backend configurations (mappings or
    BackendConfig) or a TOML file; ``config`` a platform TOML file; keywords override both.
    ``retention`` (a ``[retention]`` table as a dict) deletes ended jobs by age and count;
    without it the embedded platform keeps every job.
    """

    def __new__(cls, target: str | None = None, **options: Any) -> Any:
        if target is None:
            return super().__new__(cls)
        from qlambda.client.remote import RemoteClient

        embedded_only = sorted(set(options) - {"token", "timeout", "retry_seconds"})
        if embedded_only:
            raise TypeError(
                f"{', '.join(embedded_only)}: options of the embedded platform; "
                f"a server ({target!r}) takes only token=, timeout= and retry_seconds="
            )
        return RemoteClient(target, **options)

    def __init__(
        self,
        target: str | None = None,
        *,
        config: str | Path | Mapping[str, Any] | None = None,
        data_dir: str | Path | None = None,
        engine: str | None = None,
        engine_address: str | None = None,
        workers: int | None = None,
        max_workers: int | None = None,
        backends: Any = None,
        policy: str | None = None,
        seed: int | None = None,
        c_max: int | None = None,
        q_max: int | None = None,
        retention: Mapping[str, Any] | None = None,
    ) -> None:
        settings = PlatformConfig.build(
            config,
            data_dir=str(data_dir) if data_dir is not None else None,
            engine=engine,
            engine_address=engine_address,
            workers=workers,
            max_workers=max_workers,
            policy=policy,
            seed=seed,
            c_max=c_max,
            q_max=q_max,
            retention=retention,
        )
        if backends is not None:
            settings = settings.with_backends(
                backends if isinstance(backends, list | tuple) else _backends_file(backends)
            )
        self.platform = Platform(settings).start()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the embedded platform. Unfinished jobs are kept and resume next time."""
        self.platform.close()

    def wait_ready(self, timeout: float | None = 120) -> bool:
        """Block until the warm workers and QPU executors have started."""
        return self.platform.wait_ready(timeout)

    def run(
        self,
        function: Function | Callable[..., Any],
        /,
        *,
        priority: float = 1,
        arguments: Mapping[str, Any] | None = None,
        execution_options: list[Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Submit ``function`` with keyword arguments; returns once the job is stored.

        ``execution_options`` (e.g. ``["readout", "zne"]``) are the default options of the
        job's ``ctx.sampler()`` / ``ctx.estimator()``. Use ``arguments={...}`` for argument
        names that clash with ``priority`` or ``execution_options``.
        """
        merged = dict(arguments or {})
        merged.update(kwargs)
        job_id = self.platform.submit(
            as_function(function),
            merged,
            priority=priority,
            execution_options=execution_options,
        )
        return Job(self.platform, job_id)

    def job(self, job_id: str) -> Job:
        self.platform.info(job_id)  # unknown ids raise KeyError
        return Job(self.platform, job_id)

    def jobs(
        self, status: str | JobStatus | list[str] | None = None, limit: int = 100
    ) -> list[Job]:
        """The most recent jobs, newest first, optionally only those in ``status``."""
        statuses = None
        if status is not None:
            values = status if isinstance(status, list) else [status]
            statuses = [parse_status(s).value for s in values]
        return [Job(self.platform, i.id) for i in self.platform.list_jobs(statuses, limit)]

    def backends(self) -> list[dict[str, Any]]:
        """The quantum backends with their queues and utilization."""
        return self.platform.dispatcher.stats()

    def usage(self, since: float | None = None) -> dict[str, Any]:
        """QPU seconds, cost and tasks per user (and per backend) since ``since`` (a time;
        None: all), with each user's quota and what counts against it."""
        return self.platform.usage_report(since=since)


def _backends_file(source: Any) -> list[Any]:
    from qlambda.quantum.config import load_backends

    return load_backends(source)
