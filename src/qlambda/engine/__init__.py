"""Engines run tasks on workers: local processes now, behind a small interface."""

from qlambda.engine.base import Engine, TaskFuture, TaskMessage, TaskSpec
from qlambda.engine.channel import Channel, current_channel

__all__ = ["Channel", "Engine", "TaskFuture", "TaskMessage", "TaskSpec", "current_channel"]
