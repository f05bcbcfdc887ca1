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
    # The runtime and the writer are imported when first used: a user who only runs a
    # model never imports the writer (flatbuffers and the generated schema module,
    # ~17 ms), one who only reads a model pays nothing for the runtime.
    if name == "Interpreter":
        from edgelite.runtime.interpreter import Interpreter
        return Interpreter
    if name in ("save_model", "to_bytes"):
        from edgelite.format import writer
        return getattr(writer, name)
    raise AttributeError(f"module 'edgelite' has no attribute {name!r}")
