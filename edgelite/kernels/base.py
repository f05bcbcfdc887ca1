"""The kernel contract, after TFLite's (init, prepare, invoke, free).

One kernel object per node. `prepare(ctx)` runs once per set of input
shapes: it validates, sets output shapes, and precomputes everything that
depends only on shapes, options and constants (re-laid filters, quantized
multipliers, index arrays), storing it on `self`. `bind(ictx)` (optional)
runs after memory is planned, when the arrays exist: a kernel may keep views
of them. `invoke(ictx)` does only arithmetic, writing into the preallocated
`ictx.outputs[i]` arrays (use `out=`), allocating nothing in steady state.
"""
from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np

from edgelite.errors import OpError
from edgelite.format import ir


class TensorSpec:
    """What prepare sees of one tensor."""

    def __init__(self, index: int, name: str, shape: tuple[int, ...], dtype: np.dtype,
                 type: int, quant: ir.QuantParams | None = None,
                 data: np.ndarray | None = None, is_variable: bool = False,
                 dynamic: bool = False):
        self.index = index
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.type = type                # ir.TensorType code
        self.quant = quant
        self.data = data                # constant value (read-only), or None
        self.is_variable = is_variable
        self.dynamic = dynamic          # shape known only after invoke

    def __repr__(self) -> str:
        return (f"TensorSpec(index={self.index}, name={self.name!r}, shape={self.shape}, "
                f"dtype={self.dtype}, type={self.type})")

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def scale(self) -> float:
        """Per-tensor scale (first scale when per-channel)."""
        return float(self.quant.scale[0]) if self.quant is not None and self.quant.scale.size else 0.0

    @property
    def zero_point(self) -> int:
        q = self.quant
        return int(q.zero_point[0]) if q is not None and q.zero_point.size else 0


class PrepareContext:
    """Everything a kernel may look at while preparing one node."""

    def __init__(self, *, model: ir.Model, subgraph_index: int, op_index: int, op_name: str,
                 version: int, options: Any, custom_options: bytes | None,
                 inputs: list[TensorSpec | None], outputs: list[TensorSpec | None],
                 intermediates: list[TensorSpec] | None = None, runtime: Any = None,
                 num_threads: int = 1, reference: bool = False):
        self.model = model
        self.subgraph_index = subgraph_index
        self.op_index = op_index
        self.op_name = op_name
        self.version = version
        self.options = options
        self.custom_options = custom_options
        self.inputs = inputs
        self.outputs = outputs
        self.intermediates = intermediates or []
        self.runtime = runtime          # the owning subgraph executor (control flow, variables)
        self.num_threads = num_threads
        self.reference = reference      # BUILTIN_REF requested: prefer reference semantics
        self.scratch: list[tuple[tuple[int, ...], np.dtype]] = []

    # ---- locations and errors
    def where(self, tensor: TensorSpec | None = None) -> str:
        s = f"subgraph {self.subgraph_index}, operator {self.op_index} ({self.op_name})"
        if tensor is not None:
            s += f", tensor {tensor.index} {tensor.name!r}"
        return s

    def error(self, message: str, tensor: TensorSpec | None = None) -> OpError:
        return OpError(f"{self.where(tensor)}: {message}")

    def check(self, condition: bool, message: str, tensor: TensorSpec | None = None) -> None:
        if not condition:
            raise self.error(message, tensor)

    def check_arity(self, n_in: int | tuple[int, int], n_out: int | tuple[int, int] = 1) -> None:
        for what, items, want in (("inputs", self.inputs, n_in), ("outputs", self.outputs, n_out)):
            lo, hi = (want, want) if isinstance(want, int) else want
            if not lo <= len(items) <= hi:
                expect = str(lo) if lo == hi else f"{lo} to {hi}"
                raise self.error(f"expects {expect} {what}, got {len(items)}")

    def input(self, i: int) -> TensorSpec:
        """Input i, which must be present (not the -1 'omitted' marker)."""
        if i >= len(self.inputs) or self.inputs[i] is None:
            raise self.error(f"input {i} is required but missing")
        return self.inputs[i]

    def check_dtype(self, spec: TensorSpec, allowed, what: str = "input") -> None:
        allowed = [np.dtype(a) for a in (allowed if isinstance(allowed, (list, tuple)) else [allowed])]
        if spec.dtype not in allowed:
            names = ", ".join(str(a) for a in allowed)
            raise self.error(f"{what} has type {spec.dtype}, expected {names}", spec)

    # ---- outputs
    def set_output(self, i: int, shape, dtype=None) -> None:
        out = self.outputs[i]
        if out is None:
            return
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise self.error(f"computed a negative output shape {list(shape)}", out)
        self.check_bytes(shape, out.dtype if dtype is None else np.dtype(dtype), out)
        out.shape = shape
        out.dynamic = False
        if dtype is not None:
            dt = np.dtype(dtype)
            if out.dtype != dt:
                raise self.error(f"output has type {out.dtype}, the op produces {dt}", out)

    def check_bytes(self, shape, dtype, tensor: TensorSpec | None = None,
                    what: str = "output shape") -> None:
        """Refuse an output (or a kernel's own buffer, `what`) over the interpreter's
        arena limit (EDGELITE_MAX_ARENA_BYTES) when its shape is known, before anything
        is sized by it (a damaged size operand asked a resize for a 3 GB coordinate
        table; a damaged dilation, a depthwise convolution for a 2.7 GB padded input)."""
        limit = getattr(getattr(self.runtime, "runtime", None), "_max_arena_bytes", None)
        if limit is None:
            return
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes > limit:
            raise self.error(f"{what} {list(shape)} needs {nbytes} bytes, over the "
                             f"{limit}-byte arena limit (set EDGELITE_MAX_ARENA_BYTES to "
                             f"raise it)", tensor)

    def set_output_dynamic(self, i: int) -> None:
        """The output's shape depends on input values: set at invoke with resize_output."""
        if self.outputs[i] is not None:
            self.outputs[i].dynamic = True

    def request_scratch(self, shape, dtype=np.float32) -> int:
        """A scratch array live only during this node's invoke; returns its index."""
        self.scratch.append((tuple(int(d) for d in shape), np.dtype(dtype)))
        return len(self.scratch) - 1


class InvokeContext:
    """The arrays of one node, bound once after memory planning. The runtime binds
    C-contiguous arrays only (tests/runtime/test_kernel_arrays.py): most kernels keep
    reshaped views of them from bind, which for a strided array would be copies. A
    caller invoking a kernel on arrays of its own must pass contiguous ones too (a few
    kernels also take strided ones, under test: the float activations, the 8-bit
    binary ops and pools)."""

    __slots__ = ("_resize", "inputs", "outputs", "prepare_ctx", "scratch")

    def __init__(self, inputs, outputs, scratch, prepare_ctx: PrepareContext, resize):
        self.inputs: list[np.ndarray | None] = inputs
        self.outputs: list[np.ndarray | None] = outputs
        self.scratch: list[np.ndarray] = scratch
        self.prepare_ctx = prepare_ctx
        self._resize = resize

    def resize_output(self, i: int, shape) -> np.ndarray:
        """For a dynamic output: give it a shape now; returns the array to fill."""
        arr = self._resize(i, tuple(int(d) for d in shape))
        self.outputs[i] = arr
        return arr

    def error(self, message: str) -> OpError:
        return self.prepare_ctx.error(message)


class Kernel(abc.ABC):
    """Base class: subclasses implement prepare and invoke (and maybe bind).

    Kernel families with shared base classes mark their per-op hooks with
    @abc.abstractmethod, so a class missing one fails when it is instantiated
    (at allocate_tensors), not in the middle of an invoke."""

    # Set by @register: the op name and the (min, max) versions it accepts.
    op_name: str = ""

    def prepare(self, ctx: PrepareContext) -> None:
        raise OpError(f"{type(self).__name__} does not implement prepare")

    def bind(self, ictx: InvokeContext) -> None:
        """Called after memory planning with the node's arrays (optional)."""

    def invoke(self, ictx: InvokeContext) -> None:
        raise OpError(f"{type(self).__name__} does not implement invoke")
