"""Pilots: ``PilotManager``, ``PilotDescription``, ``Pilot`` (see qlambda.platform.pilot)."""

from qlambda.platform.pilot import Pilot, PilotDescription, PilotManager

__all__ = ["Pilot", "PilotDescription", "PilotManager"]
