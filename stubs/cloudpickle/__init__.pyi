# Types of the parts of cloudpickle (3.x) that qlambda uses; cloudpickle ships none.
from collections.abc import Callable
from pickle import PickleBuffer
from pickle import loads as loads
from types import ModuleType

def dumps(
    obj: object,
    protocol: int | None = None,
    buffer_callback: Callable[[PickleBuffer], object] | None = None,
) -> bytes: ...
def register_pickle_by_value(module: ModuleType) -> None: ...
def unregister_pickle_by_value(module: ModuleType) -> None: ...
