"""Layout ops: reshape, transpose, concat/split, slicing, padding, tiling, shape queries.

These ops move values without changing them, so one kernel serves every dtype
(quantized tensors keep their parameters: where LiteRT requires input and
output quantization to match, so do we). Everything that depends on shapes or
constant index inputs (new shapes, begin/end, paddings, multiples, axes) is
resolved in prepare into an output shape and a copy plan: a view transform,
a tuple of slices, or a flat gather index for np.take. When such an input is
not constant, the output is marked dynamic and the same plan is made at
invoke from the values. Invoke is one numpy copy into the preallocated output.

Semantics follow LiteRT's kernels (reshape.cc, strided_slice.cc and
reference/strided_slice.h, pad.cc, mirror_pad.cc, ...): where LiteRT reads
garbage or writes nothing for malformed inputs, we raise an OpError instead.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from edgelite.format.schema.tflite_tables import (
    ActivationFunctionType,
    MirrorPadMode,
    TensorType,
)
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext, TensorSpec
from edgelite.kernels.registry import register

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
_I8, _U8, _I16, _U16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.uint16)
_I32, _U32, _I64, _U64 = np.dtype(np.int32), np.dtype(np.uint32), np.dtype(np.int64), np.dtype(np.uint64)
_BOOL, _STR = np.dtype(np.bool_), np.dtype(object)

# Dtypes LiteRT moves by element size (8/16/32/64 bits).
_BITS = (_F16, _F32, _F64, _I8, _U8, _I16, _U16, _I32, _U32, _I64, _U64, _BOOL)
_BITS_STR = _BITS + (_STR,)
_QUANTIZED = (_I8, _U8, _I16)
_INDEX = (_I32, _I64)


# ---------------------------------------------------------------- helpers

def _check_dtype(ctx: PrepareContext, spec: TensorSpec, allowed, what: str = "input") -> None:
    if spec.dtype not in allowed:
        names = ", ".join(_dtype_name(d) for d in allowed)
        raise ctx.error(f"{what} has type {_dtype_name(spec.dtype)}, {ctx.op_name} supports "
                        f"{names}", spec)


def _dtype_name(dt: np.dtype) -> str:
    return "string" if dt == _STR else str(dt)


def _same_quant(a: TensorSpec, b: TensorSpec) -> bool:
    return a.scale == b.scale and a.zero_point == b.zero_point


def _check_same_quant(ctx: PrepareContext, a: TensorSpec, out: TensorSpec) -> None:
    """LiteRT's check that a layout op keeps quantization: equal scale and zero point."""
    if not _same_quant(a, out):
        raise ctx.error(f"input tensor {a.index} {a.name!r} has quantization (scale "
                        f"{a.scale:g}, zero point {a.zero_point}) but the output has (scale "
                        f"{out.scale:g}, zero point {out.zero_point}); this op does not "
                        f"requantize", out)
    if a.dtype == _I16 and a.zero_point != 0:
        raise ctx.error("int16 quantized tensors must have zero point 0", a)


def _output(ctx: PrepareContext, i: int = 0) -> TensorSpec:
    if i >= len(ctx.outputs) or ctx.outputs[i] is None:
        raise ctx.error(f"output {i} is missing")
    return ctx.outputs[i]


def _check_out_dtype(ctx: PrepareContext, x: TensorSpec, out: TensorSpec) -> None:
    if out.dtype != x.dtype:
        raise ctx.error(f"output has type {_dtype_name(out.dtype)} but the input has "
                        f"{_dtype_name(x.dtype)}", out)


def _ints(arr) -> list[int]:
    return [int(v) for v in np.asarray(arr).reshape(-1)]


def _norm_axis(err, axis: int, rank: int, what: str = "axis") -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise err(f"{what} {axis} is out of range for rank {rank} (valid: {-rank}..{rank - 1})")
    return a


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _flat_index(shape) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)


class _Dynamic(Kernel):
    """Base for kernels whose plan may need input values: prepare resolves it from
    constants when it can, invoke otherwise (caching the last plan by its values)."""

    dynamic = False
    _key = None

    @staticmethod
    def _values(ictx: InvokeContext, indices) -> tuple:
        """The index inputs' values, the cache key of a plan made at invoke (the key
        ends with every input's shape, so a resized input invalidates it too)."""
        values = tuple(tuple(_ints(ictx.inputs[i])) if ictx.inputs[i] is not None else None
                       for i in indices)
        return values + (tuple(None if a is None else a.shape for a in ictx.inputs),)


# ---------------------------------------------------------------- RESHAPE family

def _resolve_reshape(err, in_shape: tuple, requested: list[int], source: str) -> tuple:
    """TFLite's ResolveOutputShape: at most one -1, no other negatives, counts must agree."""
    n_in = math.prod(in_shape)
    nz_in = math.prod(d for d in in_shape if d != 0)
    stretch = -1
    nz_out, n_out = 1, 1
    for i, v in enumerate(requested):
        if v == -1:
            if stretch != -1:
                raise err(f"new shape {_shape_str(requested)} ({source}) has more than one -1")
            stretch = i
            continue
        if v < 0:
            raise err(f"new shape {_shape_str(requested)} ({source}) has a negative dimension")
        if v != 0:
            nz_out *= v
        n_out *= v
    shape = list(requested)
    if stretch != -1:
        if n_in == 0 and n_out != 0:
            shape[stretch] = 0
        else:
            shape[stretch] = nz_in // nz_out if nz_out else 0
        n_out *= shape[stretch]
    if n_out != n_in:
        raise err(f"cannot reshape the input of shape {_shape_str(in_shape)} ({n_in} elements) "
                  f"to {_shape_str(requested)} ({n_out} elements): the new shape comes from "
                  f"{source}. If you resized an input, that shape is pinned by the model; "
                  f"it would need a -1 to follow the input size")
    return tuple(shape)


@register("RESHAPE", versions=(1, 1))
class Reshape(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((1, 2), 1)
        self.alias_input0 = False
        x, out = ctx.input(0), _output(ctx)
        _check_out_dtype(ctx, x, out)
        shape_t = ctx.inputs[1] if len(ctx.inputs) == 2 else None
        # LiteRT takes the shape from input 1 only when it is a rank-1 int32 tensor
        # (an empty one means a scalar); otherwise from options.newShape, where the
        # legacy [0] also means a scalar.
        self.from_tensor = shape_t is not None and len(shape_t.shape) == 1 and shape_t.dtype == _I32
        self.dynamic = False
        if self.from_tensor:
            kind = "constant" if shape_t.is_const else "non-constant"
            self.source = f"{kind} shape tensor {shape_t.index} {shape_t.name!r} (input 1)"
            if not shape_t.is_const:
                self.dynamic = True
                ctx.set_output_dynamic(0)
                return
            requested = _ints(shape_t.data)
        else:
            opt = getattr(ctx.options, "newShape", None)
            requested = [] if opt is None else _ints(opt)
            if len(requested) > 8:
                raise ctx.error(f"new_shape option has {len(requested)} dimensions; at most 8")
            if requested == [0]:
                requested = []
            self.source = f"the new_shape option {_shape_str(requested)}"
        ctx.set_output(0, _resolve_reshape(ctx.error, x.shape, requested, self.source))
        # the runtime may make the output a view of the input (no copy at invoke)
        self.alias_input0 = True

    alias_input0 = False

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            shape = _resolve_reshape(ictx.error, x.shape, _ints(ictx.inputs[1]), self.source)
            out = ictx.resize_output(0, shape)
        else:
            out = ictx.outputs[0]
        np.copyto(out, x.reshape(out.shape))


@register("SQUEEZE", versions=(1, 2))
class Squeeze(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _output(ctx)
        _check_out_dtype(ctx, x, out)
        rank = len(x.shape)
        ctx.check(rank <= 8, f"input has rank {rank}; SQUEEZE supports at most 8", x)
        opt = getattr(ctx.options, "squeezeDims", None)
        dims = [] if opt is None else _ints(opt)
        if not dims:
            drop = {i for i, d in enumerate(x.shape) if d == 1}
        else:
            drop = set()
            for d in dims:
                a = _norm_axis(ctx.error, d, rank, "squeeze dim")
                if x.shape[a] != 1:
                    raise ctx.error(f"cannot squeeze dim {d}: it has size {x.shape[a]}, not 1", x)
                drop.add(a)
        ctx.set_output(0, [d for i, d in enumerate(x.shape) if i not in drop])

    alias_input0 = True    # the runtime may make the output a view of the input

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        np.copyto(out, ictx.inputs[0].reshape(out.shape))


@register("EXPAND_DIMS", versions=(1, 1))
class ExpandDims(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, axis, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_out_dtype(ctx, x, out)
        _check_same_quant(ctx, x, out)
        _check_dtype(ctx, axis, _INDEX, "axis")
        ctx.check(axis.size == 1, f"axis must have one element, it has {axis.size}", axis)
        self.dynamic = not axis.is_const
        self.alias_input0 = not self.dynamic   # the runtime may make the output a view
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            ctx.set_output(0, self._shape(ctx.error, x.shape, _ints(axis.data)[0]))

    @staticmethod
    def _shape(err, shape, axis):
        rank = len(shape)
        a = axis + rank + 1 if axis < 0 else axis
        if not 0 <= a <= rank:
            raise err(f"axis {axis} is out of range for EXPAND_DIMS of a rank-{rank} input "
                      f"(valid: {-rank - 1}..{rank})")
        return shape[:a] + (1,) + shape[a:]

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            out = ictx.resize_output(0, self._shape(ictx.error, x.shape, _ints(ictx.inputs[1])[0]))
        else:
            out = ictx.outputs[0]
        np.copyto(out, x.reshape(out.shape))


# ---------------------------------------------------------------- TRANSPOSE

@register("TRANSPOSE", versions=(1, 9))
class Transpose(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, perm, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, x, _BITS)
        _check_out_dtype(ctx, x, out)
        ctx.check(len(x.shape) <= 8, f"input has rank {len(x.shape)}; TRANSPOSE supports 1-8", x)
        ctx.check(perm.dtype == _I32, f"perm has type {perm.dtype}, expected int32", perm)
        ctx.check(len(perm.shape) == 1, f"perm must be rank 1, it has shape "
                  f"{_shape_str(perm.shape)}", perm)
        ctx.check(perm.shape[0] == len(x.shape), f"perm has {perm.shape[0]} entries but the "
                  f"input has rank {len(x.shape)}", perm)
        self.dynamic = not perm.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self.perm = self._perm(ctx.error, _ints(perm.data), len(x.shape))
        ctx.set_output(0, [x.shape[p] for p in self.perm])

    @staticmethod
    def _perm(err, values, rank):
        perm = []
        for v in values:
            if not -rank <= v < rank:
                raise err(f"perm {values} is out of bounds for rank {rank}")
            perm.append(v + rank if v < 0 else v)
        if sorted(perm) != list(range(rank)):
            raise err(f"perm {values} is not a permutation of 0..{rank - 1}")
        return tuple(perm)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            perm = self._perm(ictx.error, _ints(ictx.inputs[1]), x.ndim)
            out = ictx.resize_output(0, [x.shape[p] for p in perm])
        else:
            perm, out = self.perm, ictx.outputs[0]
        np.copyto(out, x.transpose(perm))


# ---------------------------------------------------------------- CONCATENATION / PACK / UNPACK

_CONCAT_TYPES = (_F32, _F16, _U8, _I8, _I16, _I32, _I64, _BOOL, _U32)


@register("CONCATENATION", versions=(1, 7))
class Concatenation(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) >= 1, "expects at least 1 input, got 0")
        ctx.check_arity((1, 1 << 30), 1)
        ins = [ctx.input(i) for i in range(len(ctx.inputs))]
        out, t0 = _output(ctx), ins[0]
        _check_dtype(ctx, t0, _CONCAT_TYPES)
        rank = len(t0.shape)
        axis = int(getattr(ctx.options, "axis", 0) or 0)
        act = int(getattr(ctx.options, "fusedActivationFunction", 0) or 0)
        if act != ActivationFunctionType.NONE:
            # LiteRT's kernel (and its reference) refuses fused activations here; its XNNPACK
            # delegate silently ignores them. Refusing is the honest choice.
            raise ctx.error(f"fused activation {act} is not supported on CONCATENATION "
                            f"(LiteRT's kernel requires NONE); use a separate activation op")
        for i, t in enumerate(ins):
            if t.dtype != t0.dtype:
                raise ctx.error(f"input {i} has type {_dtype_name(t.dtype)}, input 0 has "
                                f"{_dtype_name(t0.dtype)}", t)
        _check_out_dtype(ctx, t0, out)
        if rank == 0:
            # LiteRT stacks scalars only when every input is constant.
            if axis != 0 or not all(t.is_const for t in ins):
                raise ctx.error("inputs are scalars: concatenation needs rank >= 1 inputs "
                                "(scalars only when all are constant, with axis 0)", t0)
            for i, t in enumerate(ins):
                ctx.check(len(t.shape) == 0, f"input {i} has rank {len(t.shape)}, input 0 has 0", t)
            self.axis = 0
            self.sizes = [1] * len(ins)
            self.scalars = True
            ctx.set_output(0, [len(ins)])
        else:
            self.scalars = False
            self.axis = _norm_axis(ctx.error, axis, rank)
            shape = list(t0.shape)
            total = 0
            for i, t in enumerate(ins):
                if len(t.shape) != rank:
                    raise ctx.error(f"input {i} has rank {len(t.shape)} (shape "
                                    f"{_shape_str(t.shape)}), input 0 has rank {rank} (shape "
                                    f"{_shape_str(t0.shape)})", t)
                for d in range(rank):
                    if d != self.axis and t.shape[d] != t0.shape[d]:
                        raise ctx.error(f"input {i} has shape {_shape_str(t.shape)}, which "
                                        f"differs from input 0's {_shape_str(t0.shape)} in "
                                        f"dimension {d} (concatenating on axis {self.axis})", t)
                total += t.shape[self.axis]
            shape[self.axis] = total
            self.sizes = [t.shape[self.axis] for t in ins]
            ctx.set_output(0, shape)
        if t0.dtype in (_I8, _U8):
            for t in ins:
                if not _same_quant(t, out):
                    raise ctx.error(
                        f"input tensor {t.index} {t.name!r} has quantization (scale {t.scale:g}, "
                        f"zero point {t.zero_point}) different from the output's (scale "
                        f"{out.scale:g}, zero point {out.zero_point}); requantizing "
                        f"CONCATENATION is not implemented yet", t)
        elif t0.dtype == _I16:
            for t in ins + [out]:
                ctx.check(t.zero_point == 0, "int16 quantized tensors must have zero point 0", t)
        self.slices = _split_slices(self.axis, self.sizes)

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        if self.scalars:
            for k, x in enumerate(ictx.inputs):
                out[k] = x
        else:
            for sl, x in zip(self.slices, ictx.inputs):
                np.copyto(out[sl], x)


@register("PACK", versions=(1, 5))
class Pack(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        n = int(getattr(ctx.options, "valuesCount", 0) or 0)
        ctx.check(len(ctx.inputs) == n, f"values_count is {n} but the op has "
                  f"{len(ctx.inputs)} inputs")
        ctx.check(n >= 1, "PACK needs at least one input")
        ctx.check_arity(n, 1)
        ins = [ctx.input(i) for i in range(n)]
        x, out = ins[0], _output(ctx)
        _check_dtype(ctx, x, (_I32, _F32, _U8, _U32, _I8, _I16, _I64))
        rank = len(x.shape)
        axis = int(getattr(ctx.options, "axis", 0) or 0)
        a = axis + rank + 1 if axis < 0 else axis
        if not 0 <= a <= rank:
            raise ctx.error(f"axis {axis} is out of range for packing rank-{rank} inputs "
                            f"(valid: {-rank - 1}..{rank})")
        for i, t in enumerate(ins):
            if t.shape != x.shape or t.dtype != x.dtype:
                raise ctx.error(f"input {i} is {_dtype_name(t.dtype)}{_shape_str(t.shape)}, "
                                f"input 0 is {_dtype_name(x.dtype)}{_shape_str(x.shape)}; all "
                                f"inputs must match", t)
        _check_out_dtype(ctx, x, out)
        for t in ins:
            _check_same_quant(ctx, t, out)
        self.axis = a
        ctx.set_output(0, x.shape[:a] + (n,) + x.shape[a:])
        # The Ellipsis keeps out[...] a view even when it is 0-d.
        self.slices = [(slice(None),) * a + (k, Ellipsis) for k in range(n)]

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        for sl, x in zip(self.slices, ictx.inputs):
            np.copyto(out[sl], x)


@register("UNPACK", versions=(1, 6))
class Unpack(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        num = int(getattr(ctx.options, "num", 0) or 0)
        ctx.check_arity(1, num)
        x = ctx.input(0)
        ctx.check(x.size > 0, f"input has no elements (shape {_shape_str(x.shape)})", x)
        rank = len(x.shape)
        self.axis = _norm_axis(ctx.error, int(getattr(ctx.options, "axis", 0) or 0), rank)
        _check_dtype(ctx, x, (_I32, _F32, _F16, _U8, _I8, _I16, _BOOL))
        if x.shape[self.axis] != num:
            raise ctx.error(f"num is {num} but the input has {x.shape[self.axis]} entries on "
                            f"axis {self.axis} (shape {_shape_str(x.shape)})", x)
        shape = x.shape[:self.axis] + x.shape[self.axis + 1:]
        for i in range(num):
            out = _output(ctx, i)
            _check_out_dtype(ctx, x, out)
            _check_same_quant(ctx, x, out)
            ctx.set_output(i, shape)
        self.slices = [(slice(None),) * self.axis + (k,) for k in range(num)]

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        for sl, out in zip(self.slices, ictx.outputs):
            np.copyto(out, x[sl])


# ---------------------------------------------------------------- SPLIT / SPLIT_V

_SPLIT_TYPES = (_F32, _U8, _I8, _I16, _I32, _I64)


def _split_slices(axis: int, sizes: list[int]) -> list[tuple]:
    bounds = [int(b) for b in np.cumsum([0] + list(sizes))]
    return [(slice(None),) * axis + (slice(a, b),) for a, b in itertools.pairwise(bounds)]


class _SplitBase(_Dynamic):
    def _outputs(self, ctx: PrepareContext, x: TensorSpec, n: int) -> None:
        ctx.check(n >= 1, f"num_splits is {n}; it must be at least 1")
        ctx.check(len(ctx.outputs) == n, f"num_splits is {n} but the op has "
                  f"{len(ctx.outputs)} outputs")
        _check_dtype(ctx, x, _SPLIT_TYPES)
        for i in range(n):
            _check_out_dtype(ctx, x, _output(ctx, i))

    def _set(self, ctx: PrepareContext, x: TensorSpec, plan) -> None:
        self.axis, self.sizes = plan
        for i, s in enumerate(self.sizes):
            shape = list(x.shape)
            shape[self.axis] = s
            ctx.set_output(i, shape)
        self.slices = _split_slices(self.axis, self.sizes)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[self.data_input]
        if self.dynamic:
            key = self._values(ictx, self.value_inputs)
            if key != self._key:
                self.axis, self.sizes = self._plan(ictx.error, x.shape, *key[:-1])
                self.slices = _split_slices(self.axis, self.sizes)
                self._key = key
            outs = []
            for i, s in enumerate(self.sizes):
                shape = list(x.shape)
                shape[self.axis] = s
                outs.append(ictx.resize_output(i, shape))
        else:
            outs = ictx.outputs
        for sl, out in zip(self.slices, outs):
            np.copyto(out, x[sl])


@register("SPLIT", versions=(1, 5))
class Split(_SplitBase):
    data_input = 1
    value_inputs = (0,)

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) == 2, f"expects 2 inputs (axis, input), got {len(ctx.inputs)}")
        axis, x = ctx.input(0), ctx.input(1)
        self.n = int(getattr(ctx.options, "numSplits", 0) or 0)
        ctx.check(axis.dtype == _I32, f"axis (input 0) has type {_dtype_name(axis.dtype)}, "
                  f"expected int32 (SPLIT takes the axis first)", axis)
        self._outputs(ctx, x, self.n)
        ctx.check(axis.size == 1, f"axis must have one element, it has {axis.size}", axis)
        self.dynamic = not axis.is_const
        if self.dynamic:
            for i in range(self.n):
                ctx.set_output_dynamic(i)
        else:
            self._set(ctx, x, self._plan(ctx.error, x.shape, tuple(_ints(axis.data))))

    def _plan(self, err, shape, axis_values):
        axis = _norm_axis(err, axis_values[0], len(shape))
        if shape[axis] % self.n:
            raise err(f"cannot split dimension {axis} of size {shape[axis]} evenly into "
                      f"{self.n} parts")
        return axis, [shape[axis] // self.n] * self.n


@register("SPLIT_V", versions=(1, 3))
class SplitV(_SplitBase):
    data_input = 0
    value_inputs = (1, 2)

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, (1, 1 << 30))
        x, sizes, axis = ctx.input(0), ctx.input(1), ctx.input(2)
        self.n = int(getattr(ctx.options, "numSplits", 0) or 0)
        self._outputs(ctx, x, self.n)
        _check_dtype(ctx, sizes, _INDEX, "size_splits")
        ctx.check(axis.dtype == _I32, f"axis has type {_dtype_name(axis.dtype)}, expected int32",
                  axis)
        ctx.check(axis.size == 1, f"axis must have one element, it has {axis.size}", axis)
        ctx.check(len(sizes.shape) == 1 and sizes.size == self.n,
                  f"size_splits must be a vector of num_splits={self.n} entries, it has shape "
                  f"{_shape_str(sizes.shape)}", sizes)
        self.dynamic = not (sizes.is_const and axis.is_const)
        if self.dynamic:
            for i in range(self.n):
                ctx.set_output_dynamic(i)
        else:
            self._set(ctx, x, self._plan(ctx.error, x.shape, tuple(_ints(sizes.data)),
                                         tuple(_ints(axis.data))))

    def _plan(self, err, shape, size_values, axis_values):
        axis = _norm_axis(err, axis_values[0], len(shape))
        sizes = list(size_values)
        if sizes.count(-1) > 1:
            raise err(f"size_splits {sizes} contains more than one -1")
        if any(s < -1 for s in sizes):
            raise err(f"size_splits {sizes} has a negative size")
        known = sum(s for s in sizes if s != -1)
        if -1 in sizes:
            if known > shape[axis]:
                raise err(f"size_splits {sizes} add up to more than dimension {axis} of size "
                          f"{shape[axis]}")
            sizes[sizes.index(-1)] = shape[axis] - known
        elif known != shape[axis]:
            raise err(f"size_splits {sizes} add up to {known}, not to dimension {axis} of size "
                      f"{shape[axis]}")
        return axis, sizes


# ---------------------------------------------------------------- SLICE / STRIDED_SLICE

@register("SLICE", versions=(1, 8))
class Slice(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, 1)
        x, begin, size, out = ctx.input(0), ctx.input(1), ctx.input(2), _output(ctx)
        _check_dtype(ctx, x, _BITS_STR)
        _check_out_dtype(ctx, x, out)
        _check_dtype(ctx, begin, _INDEX, "begin")
        _check_dtype(ctx, size, _INDEX, "size")
        for t, what in ((begin, "begin"), (size, "size")):
            ctx.check(len(t.shape) == 1, f"{what} must be rank 1, it has shape "
                      f"{_shape_str(t.shape)}", t)
            ctx.check(t.size == len(x.shape), f"{what} has {t.size} entries but the input has "
                      f"rank {len(x.shape)}", t)
        self.dynamic = not (begin.is_const and size.is_const)
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self.slices, shape = self._plan(ctx.error, x.shape, _ints(begin.data), _ints(size.data))
        ctx.set_output(0, shape)

    @staticmethod
    def _plan(err, shape, begin, size):
        slices, out = [], []
        for d, (b, s, n) in enumerate(zip(begin, size, shape)):
            if s < -1:
                raise err(f"size {size} has an invalid entry {s} in dimension {d} "
                          f"(sizes are >= 0, or -1 for 'to the end')")
            if b < 0 or b > n:
                raise err(f"begin {begin} is out of range in dimension {d} of size {n}")
            if s == -1:
                s = n - b
            if b + s > n:
                raise err(f"begin {begin} + size {size} runs past dimension {d} of size {n}")
            slices.append(slice(b, b + s))
            out.append(s)
        return tuple(slices), tuple(out)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            key = self._values(ictx, (1, 2))
            if key != self._key:
                self.slices, self.shape = self._plan(ictx.error, x.shape, *key[:-1])
                self._key = key
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        np.copyto(out, x[self.slices])


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


class _SliceSpec:
    """The effective per-axis parameters of one STRIDED_SLICE (BuildStridedSliceParams)."""

    def __init__(self, opts, rank: int, begin_count: int):
        self.begin_mask = int(getattr(opts, "beginMask", 0) or 0)
        self.end_mask = int(getattr(opts, "endMask", 0) or 0)
        self.ellipsis_mask = int(getattr(opts, "ellipsisMask", 0) or 0)
        self.new_axis_mask = int(getattr(opts, "newAxisMask", 0) or 0)
        self.shrink_mask = int(getattr(opts, "shrinkAxisMask", 0) or 0)
        self.offset = bool(getattr(opts, "offset", False))
        num_add = sum(1 for i in range(begin_count)
                      if _bit(self.new_axis_mask, i) and not _bit(self.ellipsis_mask, i))
        eff = rank + num_add
        ellipsis_axes, new_axes = set(), set()
        ellipsis_start, expanded = eff, 0
        i = 0
        while i < eff:
            if _bit(self.ellipsis_mask, i):
                ellipsis_start = i
                end = max(i + 1, min(i + 1 + num_add + rank - begin_count, eff))
                expanded = end - ellipsis_start - 1
                ellipsis_axes.update(range(i, end))
                i = end
                continue
            if i - expanded >= 0 and _bit(self.new_axis_mask, i - expanded):
                new_axes.add(i)
            i += 1
        # Each effective axis: ("full"|"new"|"index", original index or None).
        self.axes = []
        added_ellipsis = 0
        for i in range(eff):
            if i in ellipsis_axes:
                added_ellipsis = max(0, i - ellipsis_start)
                self.axes.append(("full", None))
            elif i in new_axes:
                self.axes.append(("new", None))
            elif i >= begin_count + expanded:
                self.axes.append(("full", None))
            else:
                self.axes.append(("index", i - added_ellipsis))
        explicit = sum(1 for i in range(begin_count)
                       if not _bit(self.ellipsis_mask, i) and not _bit(self.new_axis_mask, i))
        ellipses = sum(1 for i in range(begin_count) if _bit(self.ellipsis_mask, i))
        self.valid = explicit <= rank and ellipses <= 1

    def eff_shape(self, shape) -> tuple:
        out, k = [], 0
        for kind, _ in self.axes:
            if kind == "new":
                out.append(1)
            else:
                out.append(shape[k])
                k += 1
        return tuple(out)

    def ranges(self, err, shape, begin, end, strides):
        """Per effective axis (start, stop, stride, count, shrink) as LiteRT's
        StartForAxis/EndForAxis compute them."""
        res = []
        for n, (kind, o) in zip(self.eff_shape(shape), self.axes):
            if kind == "new":
                res.append((0, 1, 1, 1, False))
                continue
            if kind == "full":
                res.append((0, n, 1, n, False))
                continue
            stride = strides[o]
            if stride == 0:
                raise err(f"strides {list(strides)} has a zero stride")
            bm, em, shrink = _bit(self.begin_mask, o), _bit(self.end_mask, o), _bit(self.shrink_mask, o)
            start = begin[o]
            if start < 0:
                start += n
            start = min(max(start, 0), n) if stride > 0 else min(max(start, -1), n - 1)
            if bm:
                start = 0 if stride > 0 else n - 1
            if shrink:
                # TF's semantics (one element at `start`); LiteRT writes nothing when the
                # index is out of range, so that is an error here.
                if not 0 <= start < n:
                    raise err(f"shrink_axis index {begin[o]} is out of range for dimension "
                              f"{o} of size {n}")
                res.append((start, start + 1, 1, 1, True))
                continue
            stop = end[o]
            if self.offset:
                stop += start
            if stop < 0:
                stop += n
            stop = min(max(stop, 0), n) if stride > 0 else min(max(stop, -1), n - 1)
            if em:
                stop = n if stride > 0 else -1
            span = stop - start
            if (span < 0) != (stride < 0):
                count = 0
            elif stride < 0:
                count = (-(span + 1)) // (-stride) + 1
            else:
                count = 0 if span == 0 else (span - 1) // stride + 1
            res.append((start, stop, stride, count, False))
        return res

    def offset_shape(self, shape, end, strides) -> tuple:
        """LiteRT's output shape in offset mode: from the end (size) values alone."""
        out = []
        for n, (kind, o) in zip(self.eff_shape(shape), self.axes):
            if kind == "new":
                out.append(1)
            elif kind == "full":
                out.append(n)
            elif not _bit(self.shrink_mask, o):
                size, stride = end[o], strides[o]
                if (size < 0) != (stride < 0):
                    out.append(0)
                elif stride < 0:
                    out.append((-(size + 1)) // (-stride) + 1)
                else:
                    out.append(0 if size == 0 else (size - 1) // stride + 1)
        return tuple(out)


@register("STRIDED_SLICE", versions=(1, 8))
class StridedSlice(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(4, 1)
        x, out = ctx.input(0), _output(ctx)
        begin, end, strides = ctx.input(1), ctx.input(2), ctx.input(3)
        _check_dtype(ctx, x, _BITS_STR)
        _check_out_dtype(ctx, x, out)
        for t, what in ((begin, "begin"), (end, "end"), (strides, "strides")):
            ctx.check(t.dtype == _I32, f"{what} has type {_dtype_name(t.dtype)}, expected "
                      f"int32", t)
            ctx.check(len(t.shape) == 1, f"{what} must be rank 1, it has shape "
                      f"{_shape_str(t.shape)}", t)
        n = begin.size
        ctx.check(end.size == n and strides.size == n, f"begin, end and strides have "
                  f"{begin.size}, {end.size} and {strides.size} entries; they must be equal")
        ctx.check(n <= 31, f"begin has {n} entries; STRIDED_SLICE supports up to 31")
        self.spec = _SliceSpec(ctx.options, len(x.shape), n)
        if not self.spec.valid:
            raise ctx.error(f"begin/end/strides have {n} entries (with masks ellipsis="
                            f"{self.spec.ellipsis_mask}, new_axis={self.spec.new_axis_mask}), "
                            f"which do not fit an input of rank {len(x.shape)}")
        self.eff_shape = self.spec.eff_shape(x.shape)
        # LiteRT reads the input as if it had the effective shape: when new_axis_mask bits
        # past the begin entries leave input dimensions out of it, that is a prefix of
        # the flat input (its first element when every axis is new), not an error
        size = math.prod(self.eff_shape)
        self.eff_size = size if size != x.size else None
        self.offset = self.spec.offset
        shape_known = strides.is_const and (self.offset or (begin.is_const and end.is_const))
        self.dynamic = not shape_known
        self.fixed = begin.is_const and end.is_const and strides.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        if self.offset:
            self.shape = self.spec.offset_shape(x.shape, _ints(end.data), _ints(strides.data))
        if self.fixed:
            self._plan(ctx.error, x.shape, _ints(begin.data), _ints(end.data), _ints(strides.data))
        ctx.set_output(0, self.shape)

    def _plan(self, err, shape, begin, end, strides) -> None:
        ranges = self.spec.ranges(err, shape, begin, end, strides)
        real = tuple(c for (_, _, _, c, shrink) in ranges if not shrink)
        if self.offset:
            self.shape = self.spec.offset_shape(shape, end, strides)
            if real != self.shape:
                raise err(f"offset slice begin={begin}, size={end}, strides={strides} runs "
                          f"outside the input of shape {_shape_str(shape)}")
        else:
            self.shape = real
        sl = []
        for start, stop, stride, _, _ in ranges:
            if stride < 0 and stop < 0:
                stop = None
            sl.append(slice(start, stop, stride))
        self.slices = tuple(sl)
        self.view_shape = tuple(c for (_, _, _, c, _) in ranges)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if not self.fixed:
            key = self._values(ictx, (1, 2, 3))
            if key != self._key:
                self._plan(ictx.error, x.shape, *key[:-1])
                self._key = key
        if self.dynamic:
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        src = (x.reshape(self.eff_shape) if self.eff_size is None
               else x.reshape(-1)[:self.eff_size].reshape(self.eff_shape))
        np.copyto(out.reshape(self.view_shape), src[self.slices])


# ---------------------------------------------------------------- TILE / BROADCAST

@register("TILE", versions=(1, 3))
class Tile(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, mult, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, x, _BITS_STR)
        _check_out_dtype(ctx, x, out)
        _check_dtype(ctx, mult, _INDEX, "multiples")
        ctx.check(mult.size == len(x.shape), f"multiples has {mult.size} entries but the input "
                  f"has rank {len(x.shape)}", mult)
        self.dynamic = not mult.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self._plan(ctx.error, x.shape, _ints(mult.data))
        ctx.set_output(0, self.shape)

    def _plan(self, err, shape, mult) -> None:
        if any(m < 0 for m in mult):
            raise err(f"multiples {mult} must be non-negative")
        self.shape = tuple(d * m for d, m in zip(shape, mult))
        # View the output as (m0, d0, m1, d1, ...) and broadcast the input into it.
        self.out_view = tuple(v for d, m in zip(shape, mult) for v in (m, d))
        self.in_view = tuple(v for d in shape for v in (1, d))

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            key = self._values(ictx, (1,))
            if key != self._key:
                self._plan(ictx.error, x.shape, key[0])
                self._key = key
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        if out.size:
            np.copyto(out.reshape(self.out_view), x.reshape(self.in_view))


@register("BROADCAST_TO", versions=(2, 4))
class BroadcastTo(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, shape, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, x, _BITS)
        _check_out_dtype(ctx, x, out)
        _check_dtype(ctx, shape, _INDEX, "shape")
        ctx.check(len(shape.shape) == 1, f"shape must be rank 1, it has shape "
                  f"{_shape_str(shape.shape)}", shape)
        ctx.check(shape.size <= 8, f"output rank {shape.size} is over BROADCAST_TO's limit of 8",
                  shape)
        self.dynamic = not shape.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            ctx.set_output(0, self._shape(ctx.error, x.shape, _ints(shape.data)))

    @staticmethod
    def _shape(err, in_shape, target):
        if len(in_shape) > len(target) or any(d < 0 for d in target):
            raise err(f"input shape {_shape_str(in_shape)} cannot be broadcast to "
                      f"{_shape_str(target)}")
        ext = len(target) - len(in_shape)
        for i, d in enumerate(in_shape):
            if d != 1 and d != target[ext + i]:
                raise err(f"input shape {_shape_str(in_shape)} cannot be broadcast to "
                          f"{_shape_str(target)} (dimension {i})")
        return tuple(target)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            out = ictx.resize_output(0, self._shape(ictx.error, x.shape, _ints(ictx.inputs[1])))
        else:
            out = ictx.outputs[0]
        np.copyto(out, x)


@register("BROADCAST_ARGS", versions=(1, 1))
class BroadcastArgs(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        a, b, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, a, _INDEX, "shape input 0")
        ctx.check(b.dtype == a.dtype, f"the shape inputs have types {a.dtype} and {b.dtype}", b)
        ctx.check(out.dtype == a.dtype, f"output has type {out.dtype}, the inputs {a.dtype}", out)
        for t in (a, b):
            ctx.check(len(t.shape) == 1, f"shape inputs must be rank 1, this one has shape "
                      f"{_shape_str(t.shape)}", t)
        ctx.set_output(0, [max(a.size, b.size)])
        self.value = None
        if a.is_const and b.is_const:
            self.value = self._compute(ctx.error, _ints(a.data), _ints(b.data), a.dtype)

    @staticmethod
    def _compute(err, s1, s2, dtype):
        n = max(len(s1), len(s2))
        p1, p2 = [1] * (n - len(s1)) + s1, [1] * (n - len(s2)) + s2
        res = []
        for u, v in zip(p1, p2):
            if u == 1:
                res.append(v)
            elif v == 1 or u == v:
                res.append(u)
            else:
                raise err(f"shapes {_shape_str(s1)} and {_shape_str(s2)} are not broadcastable")
        return np.array(res, dtype=dtype)

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        value = self.value
        if value is None:
            a, b = ictx.inputs
            value = self._compute(ictx.error, _ints(a), _ints(b), out.dtype)
        np.copyto(out, value)


# ---------------------------------------------------------------- SHAPE / RANK / FILL / RANGE

@register("SHAPE", versions=(1, 1))
class Shape(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _output(ctx)
        if ctx.options is None:
            dtype = out.dtype   # LiteRT leaves out_type unset here; take the tensor's
        else:
            code = int(ctx.options.outType)
            dtype = {TensorType.INT32: _I32, TensorType.INT64: _I64}.get(code)
            if dtype is None:
                raise ctx.error(f"out_type {code} is not INT32 or INT64")
        ctx.check(dtype in _INDEX, f"output has type {out.dtype}; SHAPE produces int32 or int64",
                  out)
        ctx.set_output(0, [len(x.shape)], dtype)
        self.value = np.array(x.shape, dtype=dtype)

    def invoke(self, ictx: InvokeContext) -> None:
        np.copyto(ictx.outputs[0], self.value)


@register("RANK", versions=(1, 1))
class Rank(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        ctx.set_output(0, [], _I32)
        self.value = np.int32(len(ctx.input(0).shape))

    def invoke(self, ictx: InvokeContext) -> None:
        ictx.outputs[0][...] = self.value


@register("FILL", versions=(1, 5))
class Fill(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        dims, value, out = ctx.input(0), ctx.input(1), _output(ctx)
        ctx.check(len(dims.shape) == 1, f"dims must be rank 1, it has shape "
                  f"{_shape_str(dims.shape)}", dims)
        _check_dtype(ctx, dims, _INDEX, "dims")
        ctx.check(len(value.shape) == 0, f"value must be a scalar, it has shape "
                  f"{_shape_str(value.shape)}", value)
        _check_dtype(ctx, value, _BITS_STR, "value")
        _check_out_dtype(ctx, value, out)
        _check_same_quant(ctx, value, out)
        self.dynamic = not dims.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            ctx.set_output(0, self._shape(ctx.error, _ints(dims.data)))

    @staticmethod
    def _shape(err, dims):
        if any(d < 0 for d in dims):
            raise err(f"dims {dims} must be non-negative")
        return tuple(dims)

    def invoke(self, ictx: InvokeContext) -> None:
        if self.dynamic:
            out = ictx.resize_output(0, self._shape(ictx.error, _ints(ictx.inputs[0])))
        else:
            out = ictx.outputs[0]
        np.copyto(out, ictx.inputs[1])


@register("RANGE", versions=(1, 2))
class Range(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, 1)
        start, limit, delta, out = ctx.input(0), ctx.input(1), ctx.input(2), _output(ctx)
        for t, what in ((start, "start"), (limit, "limit"), (delta, "delta")):
            ctx.check(len(t.shape) == 0, f"{what} must be a scalar, it has shape "
                      f"{_shape_str(t.shape)}", t)
        _check_dtype(ctx, start, (_F32, _I32, _I64), "start")
        for t in (limit, delta):
            ctx.check(t.dtype == start.dtype, f"start, limit and delta must have one type; "
                      f"start is {start.dtype}, this is {t.dtype}", t)
        self.dtype = start.dtype
        self.value = None
        if start.is_const and limit.is_const and delta.is_const:
            self.value = self._compute(ctx.error, start.data, limit.data, delta.data)
            ctx.set_output(0, self.value.shape, self.dtype)
        else:
            ctx.check(out.dtype == self.dtype, f"output has type {out.dtype}, the inputs "
                      f"{self.dtype}", out)
            ctx.set_output_dynamic(0)

    def _compute(self, err, start, limit, delta) -> np.ndarray:
        s, lim, d = (np.asarray(v, self.dtype).reshape(()) for v in (start, limit, delta))
        if d == 0:
            raise err("delta must not be zero")
        if not ((s >= lim and d < 0) or (s <= lim and d > 0)):
            raise err(f"range from {s} to {lim} never ends with delta {d}")
        if self.dtype == _F32:
            # float32 arithmetic, as LiteRT: ceil(|(limit - start) / delta|).
            n = int(np.ceil(np.abs((lim - s) / d)))
            steps = np.full(n, d, dtype=_F32)
            if n:
                steps[0] = s
            # LiteRT accumulates value += delta in float32: a running sum, not start + i*delta.
            return np.add.accumulate(steps, dtype=_F32)
        s, lim, d = int(s), int(lim), int(d)
        n = (abs(lim - s) + abs(d) - 1) // abs(d)
        return (s + d * np.arange(n, dtype=np.int64)).astype(self.dtype)

    def invoke(self, ictx: InvokeContext) -> None:
        if self.value is not None:
            np.copyto(ictx.outputs[0], self.value)
            return
        key = self._values_raw(ictx)
        if key != self._key:
            self._dyn = self._compute(ictx.error, *ictx.inputs)
            self._key = key
        np.copyto(ictx.resize_output(0, self._dyn.shape), self._dyn)

    @staticmethod
    def _values_raw(ictx: InvokeContext) -> tuple:
        return tuple(x.reshape(()).item() for x in ictx.inputs)


# ---------------------------------------------------------------- PAD / PADV2 / MIRROR_PAD

_PAD_TYPES = (_F32, _F16, _U8, _I8, _I16, _I32, _I64, _BOOL)


def _read_paddings(err, values: list[int], rank: int) -> list[tuple[int, int]]:
    pads = [(values[2 * i], values[2 * i + 1]) for i in range(rank)]
    for i, (lo, hi) in enumerate(pads):
        if lo < 0 or hi < 0:
            raise err(f"paddings must be non-negative; dimension {i} has ({lo}, {hi})")
    return pads


def _check_paddings_tensor(ctx: PrepareContext, p: TensorSpec, rank: int, allowed) -> None:
    _check_dtype(ctx, p, allowed, "paddings")
    ctx.check(p.shape == (rank, 2), f"paddings must have shape [{rank}, 2] for a rank-{rank} "
              f"input, it has {_shape_str(p.shape)}", p)


class _PadBase(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, p, out = ctx.input(0), ctx.input(1), _output(ctx)
        cv = ctx.inputs[2] if len(ctx.inputs) == 3 else None
        _check_dtype(ctx, x, _PAD_TYPES)
        _check_out_dtype(ctx, x, out)
        rank = len(x.shape)
        ctx.check(rank <= 5, f"input has rank {rank}; {ctx.op_name} supports at most 5", x)
        _check_paddings_tensor(ctx, p, rank, (_I32, _I64, _I8, _I16, _BOOL))
        quantized = x.dtype in _QUANTIZED and x.quant is not None and x.quant.scale.size > 0
        if cv is not None:
            ctx.check(cv.dtype == x.dtype, f"constant_values has type {cv.dtype}, the input "
                      f"{x.dtype}", cv)
            ctx.check(cv.size == 1, f"constant_values must have one element, it has {cv.size}",
                      cv)
            if quantized or x.dtype == _U8:
                ctx.check(_same_quant(cv, out), "constant_values must have the output's "
                          "quantization", cv)
            self.pad_value = None if not cv.is_const else cv.data.reshape(())
        elif quantized or x.dtype == _U8:
            zp = out.zero_point
            info = np.iinfo(x.dtype)
            ctx.check(info.min <= zp <= info.max, f"output zero point {zp} does not fit "
                      f"{x.dtype}", out)
            self.pad_value = np.array(zp, dtype=x.dtype)   # pad with the real value 0
        else:
            self.pad_value = np.zeros((), dtype=x.dtype)
        self.dynamic = not p.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self._plan(ctx.error, x.shape, _ints(p.data))
        ctx.set_output(0, self.shape)

    def _plan(self, err, shape, values) -> None:
        pads = _read_paddings(err, values, len(shape))
        self.shape = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pads))
        self.inner = tuple(slice(lo, lo + d) for d, (lo, _) in zip(shape, pads))

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            key = self._values(ictx, (1,))
            if key != self._key:
                self._plan(ictx.error, x.shape, key[0])
                self._key = key
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        pad = self.pad_value if self.pad_value is not None else ictx.inputs[2].reshape(())
        if out.size != x.size:
            np.copyto(out, pad)
        np.copyto(out[self.inner], x)


@register("PAD", versions=(1, 6))
class Pad(_PadBase):
    pass


@register("PADV2", versions=(1, 6))
class PadV2(_PadBase):
    pass


@register("MIRROR_PAD", versions=(1, 3))
class MirrorPad(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, p, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, x, _BITS)
        _check_out_dtype(ctx, x, out)
        if x.dtype in _QUANTIZED:
            _check_same_quant(ctx, x, out)
        mode = int(getattr(ctx.options, "mode", 0) or 0)
        if mode not in (MirrorPadMode.REFLECT, MirrorPadMode.SYMMETRIC):
            raise ctx.error(f"unknown mirror pad mode {mode}")
        self.offset = 1 if mode == MirrorPadMode.REFLECT else 0
        _check_paddings_tensor(ctx, p, len(x.shape), _INDEX)
        self.dynamic = not p.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self._plan(ctx.error, x.shape, _ints(p.data))
        ctx.set_output(0, self.shape)

    def _plan(self, err, shape, values) -> None:
        pads = _read_paddings(err, values, len(shape))
        mode = "REFLECT" if self.offset else "SYMMETRIC"
        for i, (d, (lo, hi)) in enumerate(zip(shape, pads)):
            if lo > d - self.offset or hi > d - self.offset:
                raise err(f"{mode} paddings ({lo}, {hi}) of dimension {i} are larger than its "
                          f"size {d} minus {self.offset}")
        self.shape = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pads))
        mode_np = "reflect" if self.offset else "symmetric"
        # A flat gather index: numpy's reflect/symmetric padding of the element indices.
        self.index = np.pad(_flat_index(shape), pads, mode=mode_np) if shape else _flat_index(())

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            key = self._values(ictx, (1,))
            if key != self._key:
                self._plan(ictx.error, x.shape, key[0])
                self._key = key
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        np.take(x.reshape(-1), self.index, out=out, mode="clip")   # clip: unbuffered


# ---------------------------------------------------------------- REVERSE_V2

@register("REVERSE_V2", versions=(1, 4))
class ReverseV2(_Dynamic):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, axis, out = ctx.input(0), ctx.input(1), _output(ctx)
        _check_dtype(ctx, x, (_I32, _F32, _U8, _I8, _I16, _I64, _BOOL, _F16))
        _check_out_dtype(ctx, x, out)
        ctx.check(len(axis.shape) == 1, f"axis must be rank 1, it has shape "
                  f"{_shape_str(axis.shape)}", axis)
        ctx.check(axis.dtype == _I32, f"axis has type {axis.dtype}, expected int32", axis)
        ctx.check(len(x.shape) <= 8, f"input has rank {len(x.shape)}; at most 8", x)
        ctx.check(axis.size <= len(x.shape), f"axis has {axis.size} entries, more than the "
                  f"input rank {len(x.shape)}", axis)
        ctx.set_output(0, x.shape)
        self.slices = None
        if axis.is_const:
            self.slices = self._plan(ctx.error, len(x.shape), _ints(axis.data))

    @staticmethod
    def _plan(err, rank, axes):
        norm = [_norm_axis(err, a, rank) for a in axes]
        if len(set(norm)) != len(norm):
            raise err(f"axis {axes} names a dimension twice")
        return tuple(slice(None, None, -1) if d in norm else slice(None) for d in range(rank))

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        slices = self.slices
        if slices is None:
            key = self._values(ictx, (1,))
            if key != self._key:
                self._dyn = self._plan(ictx.error, x.ndim, key[0])
                self._key = key
            slices = self._dyn
        np.copyto(ictx.outputs[0], x[slices])


# ---------------------------------------------------------------- DEPTH_TO_SPACE / SPACE_TO_DEPTH

_D2S_TYPES = (_F32, _U8, _I8, _I32, _I64)


def _block_size(ctx: PrepareContext) -> int:
    bs = int(getattr(ctx.options, "blockSize", 0) or 0)
    ctx.check(bs > 0, f"block_size is {bs}; it must be positive")
    return bs


@register("DEPTH_TO_SPACE", versions=(1, 2))
class DepthToSpace(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _output(ctx)
        ctx.check(len(x.shape) == 4, f"input must be rank 4 (NHWC), it has shape "
                  f"{_shape_str(x.shape)}", x)
        _check_dtype(ctx, x, _D2S_TYPES)
        _check_out_dtype(ctx, x, out)
        bs = _block_size(ctx)
        n, h, w, c = x.shape
        ctx.check(c % (bs * bs) == 0, f"input depth {c} is not a multiple of block_size^2 = "
                  f"{bs * bs}", x)
        co = c // (bs * bs)
        ctx.set_output(0, (n, h * bs, w * bs, co))
        self.in_view = (n, h, w, bs, bs, co)
        self.out_view = (n, h, bs, w, bs, co)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0].reshape(self.in_view).transpose(0, 1, 3, 2, 4, 5)
        np.copyto(ictx.outputs[0].reshape(self.out_view), x)


@register("SPACE_TO_DEPTH", versions=(1, 2))
class SpaceToDepth(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _output(ctx)
        ctx.check(len(x.shape) == 4, f"input must be rank 4 (NHWC), it has shape "
                  f"{_shape_str(x.shape)}", x)
        _check_dtype(ctx, x, _D2S_TYPES)
        _check_out_dtype(ctx, x, out)
        bs = _block_size(ctx)
        n, h, w, c = x.shape
        ctx.check(h % bs == 0 and w % bs == 0, f"input height {h} and width {w} must be "
                  f"multiples of block_size {bs}", x)
        ctx.set_output(0, (n, h // bs, w // bs, c * bs * bs))
        self.in_view = (n, h // bs, bs, w // bs, bs, c)
        self.out_view = (n, h // bs, w // bs, bs, bs, c)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0].reshape(self.in_view).transpose(0, 1, 3, 2, 4, 5)
        np.copyto(ictx.outputs[0].reshape(self.out_view), x)


# ---------------------------------------------------------------- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND

class _BatchSpaceBase(_Dynamic):
    """Both ops plan one strided block copy per block offset (a handful: prod(block_shape))."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, 1)
        x, block, pc, out = ctx.input(0), ctx.input(1), ctx.input(2), _output(ctx)
        rank = len(x.shape)
        ctx.check(3 <= rank <= 4, f"input must have rank 3 or 4, it has shape "
                  f"{_shape_str(x.shape)}", x)
        _check_dtype(ctx, x, _BITS)
        _check_out_dtype(ctx, x, out)
        if x.dtype in _QUANTIZED:
            _check_same_quant(ctx, x, out)
        m = rank - 2
        ctx.check(block.dtype == _I32, f"block_shape has type {block.dtype}, expected int32", block)
        ctx.check(block.shape == (m,), f"block_shape must have shape [{m}], it has "
                  f"{_shape_str(block.shape)}", block)
        ctx.check(pc.dtype == _I32, f"{self.pc_name} has type {pc.dtype}, expected int32", pc)
        ctx.check(pc.shape == (m, 2), f"{self.pc_name} must have shape [{m}, 2], it has "
                  f"{_shape_str(pc.shape)}", pc)
        # SPACE_TO_BATCH_ND pads quantized tensors with the zero point (the real 0).
        self.pad_value = np.array(out.zero_point if x.dtype in (_I8, _U8, _I16) else 0,
                                  dtype=x.dtype)
        self.dynamic = not (block.is_const and pc.is_const)
        if self.dynamic:
            ctx.set_output_dynamic(0)
            return
        self._plan(ctx.error, x.shape, _ints(block.data), _ints(pc.data))
        ctx.set_output(0, self.shape)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.dynamic:
            key = self._values(ictx, (1, 2))
            if key != self._key:
                self._plan(ictx.error, x.shape, *key[:-1])
                self._key = key
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        if self.fill:
            np.copyto(out, self.pad_value)
        for out_sl, in_sl in self.copies:
            np.copyto(out[out_sl], x[in_sl])


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _block_copies(block, n, outer, size, lo, batch_in_out: bool):
    """Pairs of (space-side slices, batch-side slices), one per block offset.

    Space coordinate s = o * b + r - lo for outer index o and block offset r; only the
    o with 0 <= s < size are copied (the rest is padding, or cropped away)."""
    m = len(block)
    copies = []
    for bi, offs in enumerate(itertools.product(*[range(b) for b in block])):
        batch = slice(bi * n, bi * n + n)
        space_sl, outer_sl = [], []
        for k in range(m):
            b, r = block[k], offs[k]
            o0 = max(0, _ceil_div(lo[k] - r, b))
            o1 = min(outer[k], (size[k] - 1 + lo[k] - r) // b + 1)
            if o1 <= o0:
                break
            s0 = o0 * b + r - lo[k]
            space_sl.append(slice(s0, s0 + (o1 - o0 - 1) * b + 1, b))
            outer_sl.append(slice(o0, o1))
        else:
            space = (slice(None),) + tuple(space_sl)
            blocked = (batch,) + tuple(outer_sl)
            copies.append((blocked, space) if batch_in_out else (space, blocked))
    return copies


@register("SPACE_TO_BATCH_ND", versions=(1, 4))
class SpaceToBatchND(_BatchSpaceBase):
    pc_name = "paddings"

    def _plan(self, err, shape, block, values) -> None:
        m = len(block)
        pads = _read_paddings(err, values, m)
        n, spatial, rest = shape[0], shape[1:1 + m], shape[1 + m:]
        for i, b in enumerate(block):
            if b < 1:
                raise err(f"block_shape {block} must be positive")
            padded = spatial[i] + pads[i][0] + pads[i][1]
            if padded % b:
                raise err(f"padded dimension {i + 1} (size {padded}) is not a multiple of "
                          f"block size {b}")
        outer = [(d + lo + hi) // b for d, (lo, hi), b in zip(spatial, pads, block)]
        self.shape = (n * math.prod(block),) + tuple(outer) + rest
        self.fill = any(lo or hi for lo, hi in pads)
        self.copies = _block_copies(block, n, outer, spatial, [lo for lo, _ in pads], True)


@register("BATCH_TO_SPACE_ND", versions=(1, 4))
class BatchToSpaceND(_BatchSpaceBase):
    pc_name = "crops"

    def _plan(self, err, shape, block, values) -> None:
        m = len(block)
        crops = [(values[2 * i], values[2 * i + 1]) for i in range(m)]
        for i, (lo, hi) in enumerate(crops):
            if lo < 0 or hi < 0:
                raise err(f"crops must be non-negative; dimension {i} has ({lo}, {hi})")
        if any(b < 1 for b in block):
            raise err(f"block_shape {block} must be positive")
        nb, spatial, rest = shape[0], shape[1:1 + m], shape[1 + m:]
        prod = math.prod(block)
        if nb % prod:
            raise err(f"input batch {nb} is not a multiple of the block size product {prod}")
        n = nb // prod
        out_sizes = []
        for i, (d, b, (lo, hi)) in enumerate(zip(spatial, block, crops)):
            if lo + hi > d * b:
                raise err(f"crops ({lo}, {hi}) remove more than dimension {i + 1}'s {d * b} "
                          f"elements")
            out_sizes.append(d * b - lo - hi)
        self.shape = (n,) + tuple(out_sizes) + rest
        self.fill = False
        self.copies = _block_copies(block, n, list(spatial), out_sizes, [lo for lo, _ in crops],
                                    False)
