"""Pilot tasks that reach their pilot's QPUs.

A task function with a parameter named ``ctx`` receives a :class:`TaskContext`: the
pilot's QPUs as Qiskit primitives (``ctx.sampler()``, ``ctx.estimator()``,
``ctx.backend(name)``, the Cirq sampler and the PennyLane device), whose calls cross the
task's channel back to the pilot and wait in the same dispatcher queues as the pilot's
own ``pilot.sampler()`` calls. While a task waits on a QPU its cpu is lent to other
tasks, as a job's is.

```python
def energy(theta, ctx):
    return ctx.estimator().run([(circuit, observable, [theta])]).result()[0].data.evs

future = pilot.submit(energy, 0.3)
```
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qlambda.engine.base import TaskMessage
from qlambda.engine.channel import Channel, current_channel
from qlambda.platform.dispatcher import answer
from qlambda.platform.functions import CONTEXT_PARAMETER
from qlambda.platform.quantum_access import ChannelAccess, describe_backends, using_access
from qlambda.quantum.envelope import RequestEnvelope

if TYPE_CHECKING:
    from qlambda.platform.pilot import Pilot


class TaskContext(ChannelAccess):
    """What a pilot task receives as ``ctx``: its pilot's QPUs."""

    def __init__(self, pilot_id: str, task_name: str, channel: Channel) -> None:
        self.pilot_id = pilot_id
        self.task_name = task_name
        self._channel = channel

    def log(self, message: str) -> None:
        """A timestamped line on the task's stderr."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"[{stamp}] {self.task_name}: {message}", file=sys.stderr, flush=True)


def run_pilot_task(
    fn: Callable[..., Any],
    pilot_id: str,
    task_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Runs in the worker: ``fn(*args, **kwargs)`` with the task's context as ``ctx``."""
    channel = current_channel()
    if channel is None:
        raise RuntimeError("a pilot task with a context runs inside an engine worker")
    ctx = TaskContext(pilot_id, task_name, channel)
    if CONTEXT_PARAMETER in kwargs:
        raise TypeError(
            f"argument {CONTEXT_PARAMETER!r} is reserved: the pilot passes the task's context"
        )
    with using_access(ctx):
        return fn(*args, **{**kwargs, CONTEXT_PARAMETER: ctx})


class PilotTaskRequests:
    """Answers the requests of a pilot's tasks: quantum calls and backend descriptions.

    The task's code is the pilot owner's own (a pilot runs one user's code), but its
    payloads are still checked for their kind before anything acts on them."""

    def __init__(self, pilot: Pilot) -> None:
        self._pilot = pilot

    def handle(self, message: TaskMessage) -> None:
        reply = message.reply
        if reply is None:
            return  # one-way notes (a task's start) need no answer
        try:
            if message.kind == "quantum":
                envelope = RequestEnvelope.from_data(message.payload)
                task = self._pilot.dispatcher.submit(envelope, job_id=self._pilot.id, pin=False)
                task.future.add_done_callback(lambda future: answer(reply, future))
            elif message.kind == "backend" and isinstance(message.payload, str):
                # a device's target may need its executor: never wait on the engine's thread
                name = message.payload
                threading.Thread(
                    target=self._describe, args=(name, reply), name="describe-backend", daemon=True
                ).start()
            elif message.kind == "backends" and message.payload is None:
                reply(True, describe_backends(self._pilot.dispatcher))
            else:
                raise ValueError(
                    f"unknown request {message.kind!r} from a pilot task; a task's context "
                    "sends 'quantum', 'backend' and 'backends' requests"
                )
        except Exception as exc:
            reply(False, exc)

    def _describe(self, name: str, reply: Callable[[bool, Any], None]) -> None:
        try:
            description = self._pilot._describe_backend(name)
        except Exception as exc:
            reply(False, exc)
            return
        reply(True, description)
