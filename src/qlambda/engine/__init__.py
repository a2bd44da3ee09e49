"""Engines run tasks on workers: local processes, Ray or Dask, behind one small interface."""

from qlambda.engine.base import Engine, TaskFuture, TaskMessage, TaskSpec
from qlambda.engine.channel import Channel, current_channel

__all__ = ["Channel", "Engine", "TaskFuture", "TaskMessage", "TaskSpec", "current_channel"]
