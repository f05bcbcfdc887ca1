"""edgelite: TensorFlow Lite (LiteRT) rebuilt in Python."""
from edgelite.errors import (
    EdgeliteError,
    InterpreterError,
    InvokeError,
    ModelError,
    OpError,
    UnsupportedOpError,
)
from edgelite.format.reader import load_model
from edgelite.format.writer import save_model, to_bytes

__version__ = "0.1.0"

__all__ = [
    "EdgeliteError",
    "Interpreter",
    "InterpreterError",
    "InvokeError",
    "ModelError",
    "OpError",
    "UnsupportedOpError",
    "load_model",
    "save_model",
    "to_bytes",
]


def __getattr__(name):
    # The runtime is imported lazily so format-only users pay nothing for it.
    if name == "Interpreter":
        from edgelite.runtime.interpreter import Interpreter
        return Interpreter
    raise AttributeError(f"module 'edgelite' has no attribute {name!r}")
