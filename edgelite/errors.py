"""edgelite's exceptions: one hierarchy, and every message names the place.

Subclassing the builtin types LiteRT raises (ValueError for bad arguments,
RuntimeError for failed invokes) keeps code written for LiteRT working.
"""
from __future__ import annotations


class EdgeliteError(Exception):
    """Base class of every error edgelite raises on purpose."""


class ModelError(EdgeliteError, ValueError):
    """The model file or IR is malformed: names the subgraph/tensor/operator."""


class OpError(EdgeliteError, RuntimeError):
    """An operator failed to prepare or invoke (bad shapes, dtypes, options, indices)."""


class UnsupportedOpError(OpError):
    """The model uses operators no registered kernel implements."""


class InterpreterError(EdgeliteError, ValueError):
    """The Interpreter API was used wrongly (bad tensor index, shape, dtype, phase)."""


class InvokeError(EdgeliteError, RuntimeError):
    """The interpreter is in a state where it cannot invoke (not allocated, busy)."""


def where(subgraph: int | None = None, op: int | None = None, op_name: str | None = None,
          tensor: int | None = None, tensor_name: str | None = None) -> str:
    """Format a location like 'subgraph 0, operator 12 (ADD), tensor 7 "x"'."""
    parts = []
    if subgraph is not None:
        parts.append(f"subgraph {subgraph}")
    if op is not None:
        parts.append(f"operator {op}" + (f" ({op_name})" if op_name else ""))
    if tensor is not None:
        parts.append(f"tensor {tensor}" + (f" {tensor_name!r}" if tensor_name else ""))
    return ", ".join(parts)
