"""How messages cross the pipe between the engine and its workers.

Plain pickle is tried first because it is the fastest; cloudpickle takes over
for what plain pickle refuses (lambdas, closures, classes defined in __main__).
"""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

PROTOCOL = 5


def dumps(obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return cloudpickle.dumps(obj, PROTOCOL)


loads = pickle.loads
