"""The Dask engine: pilots and jobs on a private LocalCluster or a Dask scheduler."""

from qlambda.engine.dask.engine import DaskEngine

__all__ = ["DaskEngine"]
