"""Qiskit Serverless's API on qlambda: a Serverless function file and the script that
uploads and runs it work with their import line changed.

The function file (``source_files/pattern.py``), run as a job::

    from qlambda.compat.serverless import get_arguments, save_result, distribute_task, get

    @distribute_task()
    def sample(circuit):                       # a child task on the platform's workers
        ...

    arguments = get_arguments()                # the job's arguments
    results = get([sample(c) for c in arguments["circuits"]])
    save_result({"counts": results})           # the job's result

The client (a notebook)::

    from qlambda.compat.serverless import LocalClient, ServerlessClient, QiskitFunction

    client = ServerlessClient(host="http://127.0.0.1:8000", token=TOKEN)  # qlambda serve
    client = LocalClient()                                                  # or embedded
    client.upload(QiskitFunction(title="pattern", entrypoint="pattern.py",
                                 working_dir="./source_files/"))
    job = client.run("pattern", arguments={"circuits": circuits})
    job.status()     # QUEUED, RUNNING (RUNNING: WAITING_FOR_QPU, ...), DONE, ERROR, CANCELED
    job.result()     # what the function saved
    job.logs()

Inside the function, Qiskit-Runtime-style primitives built on a backend go through the
platform's queue: ``from qlambda.runtime import QiskitRuntimeService, SamplerV2`` (for
``qiskit_ibm_runtime``'s), ``QiskitRuntimeService().backend(name)`` is the platform's
backend, and ``SamplerV2(mode=backend)`` runs each call as a quantum task. Arguments and
results travel as Qiskit Runtime's JSON (circuits, arrays, observables, primitive
results). The full mapping: docs/coming-from-qiskit-serverless.md.
"""

from __future__ import annotations

import base64
import builtins
import contextvars
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlambda.core.errors import JobCanceledError, JobDroppedError, JobFailedError
from qlambda.core.states import JobStatus
from qlambda.platform.functions import Function, remember_source

__all__ = [
    "IBMServerlessClient",
    "Job",
    "LocalClient",
    "QiskitFunction",
    "QiskitServerlessException",
    "ServerlessClient",
    "distribute_task",
    "get",
    "get_arguments",
    "is_running_in_serverless",
    "put",
    "run_program",
    "save_result",
    "update_status",
]

ENTRY_MODULE = "_qlambda_serverless_main.py"
SKIPPED_DIRECTORIES = {"__pycache__", ".git", ".ipynb_checkpoints", ".venv", "venv"}
TARGET_KEYS = ("cpu", "gpu", "mem", "resources", "env_vars", "pip")


class QiskitServerlessException(Exception):
    """A function that failed or was stopped, or a call qlambda cannot honour."""


# ------------------------------------------------------------------ in the function
@dataclass
class _ProgramRun:
    ctx: Any
    arguments: dict[str, Any]
    saved: bool = False
    result: Any = None


_running: contextvars.ContextVar[_ProgramRun | None] = contextvars.ContextVar(
    "qlambda_serverless_program", default=None
)


def is_running_in_serverless() -> bool:
    """True inside a function run by a client of this module."""
    return _running.get() is not None


def get_arguments() -> dict[str, Any]:
    """The arguments the job was run with; ``{}`` outside a job (a function file run
    directly with ``python``), as Qiskit Serverless does."""
    run = _running.get()
    return {} if run is None else dict(run.arguments)


def save_result(result: Any) -> bool:
    """Store ``result`` as the job's result (what ``job.result()`` returns). It must be
    JSON, or what Qiskit Runtime's JSON encodes (circuits, arrays, primitive results).
    Outside a job nothing is stored and this returns False."""
    run = _running.get()
    if run is None:
        return False
    run.result = _to_json(result, "save_result")
    run.saved = True
    return True


def update_status(status: str) -> bool:
    """Report the function's stage (``Job.MAPPING``, ``Job.WAITING_QPU``, ...): the job's
    sub-status, read back as ``RUNNING: <stage>``."""
    run = _running.get()
    if run is None:
        return False
    run.ctx.status(str(status))
    return True


class _TaskReference:
    """What calling a ``distribute_task`` function returns; :func:`get` reads it."""

    def __init__(self, future: Any) -> None:
        self._future = future

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "running"
        return f"<task reference {state}>"

    def result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout)


def _finished(value: Any = None, error: BaseException | None = None) -> Future[Any]:
    future: Future[Any] = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


def distribute_task(
    target: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., _TaskReference]]:
    """A decorator: calling the function runs it as a child task on the platform's
    workers and returns a reference at once; :func:`get` waits for its value.

    ``target``: ``cpu`` (each child task gets one worker cpu: values above 1 are
    accepted and not reserved), ``gpu`` (refused where there is no GPU), ``mem``,
    ``env_vars`` and ``pip`` (refused: functions run with the workers' packages).
    Outside a job the task runs at once, in this process."""
    _check_target(target)

    def decorate(fn: Callable[..., Any]) -> Callable[..., _TaskReference]:
        def submit(*args: Any, **kwargs: Any) -> _TaskReference:
            run = _running.get()
            ctx = None if run is None else run.ctx
            if ctx is not None and hasattr(ctx, "submit"):
                return _TaskReference(ctx.submit(fn, *args, **kwargs))
            try:
                return _TaskReference(_finished(fn(*args, **kwargs)))
            except Exception as exc:
                return _TaskReference(_finished(error=exc))

        submit.__name__ = getattr(fn, "__name__", "task")
        submit.__doc__ = fn.__doc__
        submit.__wrapped__ = fn  # type: ignore[attr-defined]
        return submit

    return decorate


def _check_target(target: Mapping[str, Any] | None) -> None:
    if target is None:
        return
    if not isinstance(target, Mapping):
        raise TypeError(f"target is a dict such as {{'cpu': 1}}, got {target!r}")
    unknown = sorted(set(target) - set(TARGET_KEYS))
    if unknown:
        raise QiskitServerlessException(
            f"unknown target key(s) {', '.join(unknown)}; accepted: {', '.join(TARGET_KEYS)}"
        )
    if target.get("gpu"):
        from qlambda.compat.pilot_quantum import gpus_on_this_machine

        if not gpus_on_this_machine():
            raise QiskitServerlessException(
                f"target gpu={target['gpu']}: the platform's workers have no GPU here (no "
                "/dev/nvidia* device); ask for none"
            )
    if target.get("pip") or target.get("env_vars"):
        raise QiskitServerlessException(
            "target pip and env_vars are not honoured: child tasks run with the workers' "
            "installed packages and environment; declare dependencies on the QiskitFunction, "
            "which the platform checks against its workers"
        )


def get(references: Any, timeout: float | None = None) -> Any:
    """The value of a task reference, or the values of a list of them, in order."""
    if isinstance(references, list | tuple):
        return [get(reference, timeout) for reference in references]
    if isinstance(references, _TaskReference):
        return references.result(timeout)
    raise TypeError(
        f"get takes what a distribute_task function or put returned, got "
        f"{type(references).__name__}"
    )


def put(value: Any) -> _TaskReference:
    """A reference to ``value`` that :func:`get` reads (the object stays in this job)."""
    return _TaskReference(_finished(value))


def run_program(
    ctx: Any,
    path: str,
    source: str,
    arguments: Mapping[str, Any],
    *,
    encoded: bool = False,
    env_vars: Mapping[str, str] | None = None,
) -> Any:
    """Run a Serverless function file as a job: its top-level code, with ``arguments``
    (JSON-encoded as a client sends them over HTTP when ``encoded``); returns what it
    saved with :func:`save_result` (None if nothing)."""
    values = {k: _from_json(v) for k, v in arguments.items()} if encoded else dict(arguments)
    run = _ProgramRun(ctx, values)
    folder = os.path.dirname(path)
    if folder and folder not in sys.path:
        sys.path.insert(0, folder)  # the function's sibling modules import
    remember_source(path, source)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    with _environment(env_vars or {}):
        token = _running.set(run)
        try:
            exec(compile(source, path, "exec"), namespace)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise RuntimeError(f"the function exited with status {exc.code}") from None
        finally:
            _running.reset(token)
    return run.result if run.saved else None


class _environment:
    """``env_vars`` set while the function runs, the worker's own put back after."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {str(k): str(v) for k, v in values.items()}
        self._before: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self._values.items():
            self._before[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self._before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class ServerlessProgram:
    """A function file as the embedded platform runs it (travels by reference to this
    module, with its source captured at upload)."""

    path: str
    source: str
    env_vars: tuple[tuple[str, str], ...] = ()

    def __call__(self, ctx: Any, **arguments: Any) -> Any:
        return run_program(ctx, self.path, self.source, arguments, env_vars=dict(self.env_vars))


def _entry_module(entrypoint: str, env_vars: Mapping[str, str]) -> str:
    """The module a server runs: it finds the function file next to itself."""
    return (
        '"""Runs a Qiskit Serverless function file as a qlambda job."""\n\n'
        "import os\n\n"
        "from qlambda.compat.serverless import run_program\n\n"
        f"ENTRYPOINT = {entrypoint!r}\n"
        f"ENV_VARS = {dict(env_vars)!r}\n\n\n"
        "def main(ctx, **arguments):\n"
        "    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ENTRYPOINT)\n"
        "    with open(path, encoding='utf-8') as file:\n"
        "        source = file.read()\n"
        "    return run_program(ctx, path, source, arguments, encoded=True, env_vars=ENV_VARS)\n"
    )


# ------------------------------------------------------------------ JSON as Runtime's
def _to_json(value: Any, what: str) -> Any:
    from qiskit_ibm_runtime import RuntimeEncoder

    try:
        return json.loads(json.dumps(value, cls=RuntimeEncoder))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what}: {exc}; accepted: JSON values and what Qiskit Runtime's JSON encodes "
            "(circuits, numpy arrays, observables, primitive results)"
        ) from None


def _from_json(value: Any) -> Any:
    from qiskit_ibm_runtime import RuntimeDecoder

    return json.loads(json.dumps(value), cls=RuntimeDecoder)


# ------------------------------------------------------------------ the client side
@dataclass
class QiskitFunction:
    """A function file to upload: ``title``, its ``entrypoint`` file in ``working_dir``.

    ``dependencies`` are PEP 508 requirements the platform's workers must satisfy
    (checked at upload); ``env_vars`` are set while it runs. ``image`` (a custom
    container) is refused: qlambda runs functions on its warm workers."""

    title: str
    provider: str | None = None
    entrypoint: str | None = None
    working_dir: str = "./"
    env_vars: dict[str, str] | None = None
    dependencies: list[str] | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] | None = None
    image: str | None = None
    _client: Any = field(default=None, repr=False, compare=False)

    def run(self, **kwargs: Any) -> Job:
        """Run it with keyword arguments (a function got from a client)."""
        if self._client is None:
            raise QiskitServerlessException(
                f"function {self.title!r} is not uploaded: upload it with client.upload(...) "
                "and run what that returns, or client.run(title, arguments={...})"
            )
        client: BaseClient = self._client
        return client.run(self, arguments=kwargs)

    def jobs(self, limit: int = 10, offset: int = 0) -> list[Job]:
        """Its most recent jobs, newest first."""
        if self._client is None:
            raise QiskitServerlessException(f"function {self.title!r} is not uploaded")
        client: BaseClient = self._client
        return client.jobs(limit=limit, offset=offset, function=self)

    get_jobs = jobs


class Job:
    """A function's job, as Qiskit Serverless's ``Job``."""

    MAPPING = "MAPPING"
    OPTIMIZING_HARDWARE = "OPTIMIZING_FOR_HARDWARE"
    WAITING_QPU = "WAITING_FOR_QPU"
    EXECUTING_QPU = "EXECUTING_QPU"
    POST_PROCESSING = "POST_PROCESSING"
    STAGES = (MAPPING, OPTIMIZING_HARDWARE, WAITING_QPU, EXECUTING_QPU, POST_PROCESSING)
    TERMINAL = ("DONE", "ERROR", "CANCELED")

    def __init__(self, job: Any) -> None:
        self._job = job
        self.job_id: str = job.id

    def __repr__(self) -> str:
        return f"<Job | {self.job_id}>"

    def status(self) -> str:
        """QUEUED, RUNNING (``RUNNING: <stage>`` while waiting for or executing on a QPU,
        or at a stage the function reported), DONE, ERROR or CANCELED."""
        info = self._job.info()
        return serverless_status(info.status, info.sub_status)

    def in_terminal_state(self) -> bool:
        return self.status() in self.TERMINAL

    def wait_for_final_state(self, timeout: float | None = None) -> str:
        """Block until the job ends (``TimeoutError`` after ``timeout``); its status."""
        if not self._job.wait(timeout):
            raise TimeoutError(f"job {self.job_id} has not ended within {timeout} s")
        return self.status()

    def result(
        self, wait: bool = True, cadence: float = 5, verbose: bool = False, maxwait: float = 0
    ) -> Any:
        """What the function saved with ``save_result`` (None if nothing), once the job
        ends (``wait``; ``maxwait`` seconds at most, 0: no limit). A job that failed or
        was stopped raises :class:`QiskitServerlessException` with its reason."""
        del cadence, verbose  # the wait is one held request, not polling
        if not wait and not self._job.done():
            return None
        try:
            value = self._job.result(timeout=maxwait or None)
        except (JobFailedError, JobCanceledError, JobDroppedError) as exc:
            raise QiskitServerlessException(str(exc)) from exc
        return None if value is None else _from_json(value)

    def error_message(self) -> str:
        """Why it failed, with the function's traceback; "" if it did not."""
        try:
            self._job.result(timeout=0)
        except (JobFailedError, JobCanceledError, JobDroppedError) as exc:
            return str(exc)
        except TimeoutError:
            return ""
        return ""

    def logs(self) -> str:
        """Everything the function printed, in order."""
        logs: str = self._job.logs()
        return logs

    def stop(self, service: Any = None) -> bool:
        """Stop it (its quantum tasks too); True if this call stopped it."""
        del service
        stopped: bool = self._job.cancel()
        return stopped

    cancel = stop


def serverless_status(status: JobStatus, sub_status: str | None) -> str:
    """A qlambda job state as Qiskit Serverless names it."""
    if status is JobStatus.RUNNING:
        return f"RUNNING: {sub_status}" if sub_status in Job.STAGES else "RUNNING"
    if status is JobStatus.DROPPED:  # refused by admission control: it never ran
        return "ERROR"
    return status.value


class BaseClient:
    """What :class:`LocalClient` and :class:`ServerlessClient` share, over a
    ``qlambda.Client`` (embedded, or talking to ``qlambda serve``)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._functions: dict[str, QiskitFunction] = {}

    def __enter__(self) -> BaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    # -- functions
    def upload(self, program: QiskitFunction) -> QiskitFunction:
        """Register the function file (with its folder) under its title; returns it,
        ready to ``run``."""
        if not isinstance(program, QiskitFunction):
            raise TypeError(f"upload takes a QiskitFunction, got {type(program).__name__}")
        if program.image is not None:
            raise QiskitServerlessException(
                f"image {program.image!r}: qlambda runs functions on its warm workers, not in "
                "custom containers; give entrypoint= and working_dir= instead"
            )
        if not program.entrypoint:
            raise QiskitServerlessException(
                "a QiskitFunction needs entrypoint='file.py' (a file in working_dir)"
            )
        folder = Path(program.working_dir)
        entry = folder / program.entrypoint
        if not entry.is_file():
            raise QiskitServerlessException(
                f"entrypoint {program.entrypoint!r} is not a file in working_dir {str(folder)!r}"
            )
        self._register(program, folder.resolve(), entry.resolve())
        uploaded = QiskitFunction(
            **{k: v for k, v in vars(program).items() if k != "_client"}, _client=self
        )
        self._functions[program.title] = uploaded
        return uploaded

    def _register(self, program: QiskitFunction, folder: Path, entry: Path) -> None:
        raise NotImplementedError

    def functions(self) -> builtins.list[QiskitFunction]:
        """The functions uploaded through this client."""
        return list(self._functions.values())

    list = functions

    def function(self, title: str, provider: str | None = None) -> QiskitFunction:
        del provider
        if title not in self._functions:
            raise QiskitServerlessException(
                f"no function {title!r}; uploaded: {', '.join(self._functions) or 'none'}"
            )
        return self._functions[title]

    get = function

    # -- jobs
    def run(
        self,
        program: QiskitFunction | str,
        provider: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        config: Any = None,
    ) -> Job:
        """Run an uploaded function (by title or as returned by ``upload``)."""
        del provider
        if config is not None:
            raise QiskitServerlessException(
                "config (workers, autoscaling) is the platform's: qlambda runs a job on "
                "its warm workers; leave config out"
            )
        title = program.title if isinstance(program, QiskitFunction) else str(program)
        self.function(title)  # unknown titles raise, listing the uploaded ones
        return Job(self._submit(title, dict(arguments or {})))

    def _submit(self, title: str, arguments: dict[str, Any]) -> Any:
        raise NotImplementedError

    def job(self, job_id: str) -> Job:
        return Job(self.client.job(job_id))

    get_job_by_id = job

    def jobs(
        self, limit: int = 10, offset: int = 0, function: QiskitFunction | None = None, **_: Any
    ) -> builtins.list[Job]:
        """The most recent jobs, newest first (only ``function``'s if given)."""
        wanted = None if function is None else function.title
        found = [
            job
            for job in self.client.jobs(limit=limit + offset + 1000 if wanted else limit + offset)
            if wanted is None or job.info().function == wanted
        ]
        return [Job(job) for job in found[offset : offset + limit]]

    get_jobs = jobs

    def status(self, job_id: str) -> str:
        return self.job(job_id).status()

    def result(self, job_id: str) -> Any:
        return self.job(job_id).result()

    def logs(self, job_id: str) -> str:
        return self.job(job_id).logs()

    def stop(self, job_id: str, service: Any = None) -> bool:
        return self.job(job_id).stop(service)


class LocalClient(BaseClient):
    """Runs functions on the embedded platform (``qlambda.Client()``); keywords go to it
    (``data_dir=``, ``backends=``, ``workers=``, ...)."""

    def __init__(self, **options: Any) -> None:
        import qlambda

        super().__init__(qlambda.Client(**options))

    def _register(self, program: QiskitFunction, folder: Path, entry: Path) -> None:
        if program.dependencies:
            from qlambda.gateway.uploads import check_dependencies

            try:
                check_dependencies(list(program.dependencies))
            except ValueError as exc:
                raise QiskitServerlessException(str(exc)) from None
        source = entry.read_text(encoding="utf-8")
        env = tuple(sorted((program.env_vars or {}).items()))
        self._programs = getattr(self, "_programs", {})
        self._programs[program.title] = Function(
            name=program.title, callable=ServerlessProgram(str(entry), source, env)
        )

    def _submit(self, title: str, arguments: dict[str, Any]) -> Any:
        return self.client.run(self._programs[title], arguments=arguments)


class ServerlessClient(BaseClient):
    """Runs functions on ``qlambda serve`` at ``host`` (or ``$ENV_GATEWAY_PROVIDER_HOST``,
    ``$QLAMBDA_URL``) with ``token`` (or ``$ENV_GATEWAY_PROVIDER_TOKEN``,
    ``$QLAMBDA_TOKEN``). ``name``, ``version``, ``instance`` and ``channel`` are accepted
    as Qiskit Serverless's and change nothing here."""

    def __init__(
        self,
        name: str | None = None,
        host: str | None = None,
        version: str | None = None,
        token: str | None = None,
        instance: str | None = None,
        channel: str = "ibm_quantum_platform",
    ) -> None:
        from qlambda.client.remote import RemoteClient

        del version, instance, channel
        self.name = name
        host = host or os.environ.get("ENV_GATEWAY_PROVIDER_HOST") or os.environ.get("QLAMBDA_URL")
        token = (
            token or os.environ.get("ENV_GATEWAY_PROVIDER_TOKEN") or os.environ.get("QLAMBDA_TOKEN")
        )
        if not host:
            raise QiskitServerlessException(
                "no host: give host='http://server:8000' (a qlambda serve), or set "
                "ENV_GATEWAY_PROVIDER_HOST or QLAMBDA_URL; LocalClient() runs functions "
                "embedded, without a server"
            )
        super().__init__(RemoteClient(host, token=token))

    def _register(self, program: QiskitFunction, folder: Path, entry: Path) -> None:
        entry_module = _entry_module(
            entry.relative_to(folder).as_posix(), dict(program.env_vars or {})
        )
        archive = _zip_folder(folder, entry_module)
        body = {
            "name": program.title,
            "kind": "zip",
            "content": base64.b64encode(archive).decode(),
            "entrypoint": f"{ENTRY_MODULE}:main",
            "dependencies": list(program.dependencies or []),
        }
        self.client.request("POST", "/functions", json=body)

    def _submit(self, title: str, arguments: dict[str, Any]) -> Any:
        encoded = {key: _to_json(value, f"argument {key!r}") for key, value in arguments.items()}
        return self.client.run(title, arguments=encoded)

    def function(self, title: str, provider: str | None = None) -> QiskitFunction:
        """An uploaded function; one uploaded earlier (another session) is found on the
        server by its title."""
        if title not in self._functions:
            names = {row["name"] for row in self.client.request("GET", "/functions")}
            if title in names:
                self._functions[title] = QiskitFunction(title=title, _client=self)
        return super().function(title, provider)

    get = function

    def jobs(
        self, limit: int = 10, offset: int = 0, function: QiskitFunction | None = None, **_: Any
    ) -> builtins.list[Job]:
        """The most recent jobs, newest first (only ``function``'s if given: the server
        filters them)."""
        title = None if function is None else function.title
        found = self.client.jobs(limit=limit, offset=offset, function=title)
        return [Job(job) for job in found]

    get_jobs = jobs


class IBMServerlessClient(ServerlessClient):
    """As :class:`ServerlessClient`: qlambda has no IBM-hosted service, so ``host`` (or
    ``$ENV_GATEWAY_PROVIDER_HOST``, ``$QLAMBDA_URL``) names the ``qlambda serve`` to use."""

    def __init__(
        self,
        token: str | None = None,
        name: str | None = None,
        instance: str | None = None,
        channel: str = "ibm_quantum_platform",
        *,
        host: str | None = None,
    ) -> None:
        super().__init__(name=name, host=host, token=token, instance=instance, channel=channel)


def _zip_folder(folder: Path, entry_module: str) -> bytes:
    """``folder``'s files (no caches, no version control) and the module that runs the
    function, as one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(folder):
            archive.write(path, path.relative_to(folder).as_posix())
        archive.writestr(ENTRY_MODULE, entry_module)
    return buffer.getvalue()


def _files(folder: Path) -> Iterator[Path]:
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(d for d in directories if d not in SKIPPED_DIRECTORIES)
        for name in sorted(files):
            if name != ENTRY_MODULE and not name.endswith(".pyc"):
                yield Path(root) / name
