"""How the engine pickles what it hands a worker (never what a worker sends back).

Plain pickle is tried first because it is the fastest; cloudpickle takes over
for what plain pickle refuses (lambdas, closures) and for whatever refers to the
user's ``__main__`` by name: workers never import the user's script, so those
objects travel by value.
"""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

PROTOCOL = 5


def dumps(obj: Any) -> bytes:
    try:
        data = pickle.dumps(obj, PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return cloudpickle.dumps(obj, PROTOCOL)
    if b"__main__" in data:  # a reference into a script that workers do not have
        return cloudpickle.dumps(obj, PROTOCOL)
    return data


loads = pickle.loads
