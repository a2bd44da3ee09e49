"""Quantum requests and results as data: what crosses to and from a QPU executor.

``requests``: the request format and its checks (see that module); ``observables`` and
``steps``: two of its parts; ``results``: the answer; ``fields``: arrays and checked
fields, the building blocks. Nothing of it is ever unpickled, but for execution-option
steps carried by value to an executor that runs the user's own code.
"""

from qlambda.quantum.codec.fields import FORMAT_VERSION, QuantumRequestError
from qlambda.quantum.codec.requests import (
    MAX_SHOTS,
    RequestLimits,
    check_routing,
    decode_request,
    encode_request,
)
from qlambda.quantum.codec.results import decode_result, encode_result, plain_data

__all__ = [
    "FORMAT_VERSION",
    "MAX_SHOTS",
    "QuantumRequestError",
    "RequestLimits",
    "check_routing",
    "decode_request",
    "decode_result",
    "encode_request",
    "encode_result",
    "plain_data",
]
