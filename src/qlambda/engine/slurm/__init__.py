"""SLURM pilots: a placeholder batch job whose agent runs the pilot's engine."""

from qlambda.engine.slurm.engine import SlurmEngine

__all__ = ["SlurmEngine"]
