"""The platform's digital twin: run the embedded platform, simulate the same, compare.

``qlambda twin`` runs a Poisson stream of variational jobs on the embedded platform,
records what happened, gives the simulator the same jobs and configuration, and
prints how far the simulated job times, drop probability and QPU utilisation are
from the measured ones.
"""
