"""Less common numeric ops: RFFT2D, REVERSE_SEQUENCE, SEGMENT_SUM, the
UNSORTED_SEGMENT_{SUM,PROD,MAX,MIN} family, MATRIX_DIAG, MATRIX_SET_DIAG,
BUCKETIZE, SPARSE_TO_DENSE, DENSIFY, FAKE_QUANT, BITWISE_XOR, RIGHT_SHIFT,
BITCAST, DILATE, COMPLEX_ABS, REAL, IMAG and REDUCE_WINDOW.

Semantics follow LiteRT's kernels (tflite/kernels/<op>.cc); where LiteRT reads
out of bounds on bad input (an index past the output, a seq_length longer than
the sequence) edgelite raises an OpError naming the node instead.

Outputs whose shape depends on input values (SEGMENT_SUM, UNSORTED_SEGMENT_*,
SPARSE_TO_DENSE, RFFT2D, DILATE) are static when those inputs are constants
and dynamic otherwise, as in LiteRT.
"""
from __future__ import annotations

import abc
import math

import numpy as np

from edgelite.format import ir
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext, TensorSpec
from edgelite.kernels.common import broadcast_shape
from edgelite.kernels.registry import register

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
_I8, _I16, _I32, _I64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
_U8, _U16, _U32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32)
_BOOL, _C64, _C128 = np.dtype(np.bool_), np.dtype(np.complex64), np.dtype(np.complex128)


def _out(ctx: PrepareContext, i: int = 0) -> TensorSpec:
    if i >= len(ctx.outputs) or ctx.outputs[i] is None:
        raise ctx.error(f"output {i} is missing")
    return ctx.outputs[i]


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _types(dtypes) -> str:
    return ", ".join(str(d) for d in dtypes)


def _check_type(ctx: PrepareContext, spec: TensorSpec, allowed, what: str) -> None:
    if spec.dtype not in allowed:
        raise ctx.error(f"{what} has type {spec.dtype}; {ctx.op_name} supports {_types(allowed)}",
                        spec)


def _check_same(ctx: PrepareContext, a: TensorSpec, b: TensorSpec, what: str) -> None:
    if a.dtype != b.dtype:
        raise ctx.error(f"{what} has type {b.dtype} but the input has type {a.dtype}", b)


# ====================================================================== RFFT2D

def _power_of_two(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


@register("RFFT2D")
class Rfft2d(Kernel):
    """tf.signal.rfft2d over the last two dimensions, zero-padded or cropped to
    fft_length (both powers of two, as LiteRT's fft2d requires); computed in
    double like LiteRT's rdft2d and stored as complex64."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, n, out = ctx.input(0), ctx.input(1), _out(ctx)
        _check_type(ctx, x, (_F32,), "input")
        ctx.check(len(x.shape) >= 2, f"input must have rank >= 2, it has shape "
                  f"{_shape_str(x.shape)}", x)
        ctx.check(n.dtype == _I32, f"fft_length has type {n.dtype}, expected int32", n)
        ctx.check(n.shape == (2,), f"fft_length must have shape [2], got {_shape_str(n.shape)}",
                  n)
        ctx.check(out.dtype == _C64, f"output has type {out.dtype}, expected complex64", out)
        self.lengths = None
        if n.is_const:
            self.lengths = self._lengths(ctx.error, n.data)
            ctx.set_output(0, x.shape[:-2] + (self.lengths[0], self.lengths[1] // 2 + 1))
        else:
            ctx.set_output_dynamic(0)

    @staticmethod
    def _lengths(err, data) -> tuple[int, int]:
        fh, fw = (int(v) for v in np.asarray(data).reshape(-1))
        if not (_power_of_two(fh) and _power_of_two(fw)):
            raise err(f"fft_length [{fh}, {fw}]: both must be powers of two")
        return fh, fw

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        out = ictx.outputs[0]
        lengths = self.lengths
        if lengths is None:
            lengths = self._lengths(ictx.error, ictx.inputs[1])
            out = ictx.resize_output(0, x.shape[:-2] + (lengths[0], lengths[1] // 2 + 1))
        if out.size == 0:
            return
        if x.size == 0:       # empty input plane (a zero H or W): padded with zeros
            out.fill(0)
            return
        out[...] = np.fft.rfft2(x.astype(np.float64), s=lengths, axes=(-2, -1))


# ============================================================ REVERSE_SEQUENCE

@register("REVERSE_SEQUENCE")
class ReverseSequence(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, lens, out = ctx.input(0), ctx.input(1), _out(ctx)
        _check_type(ctx, x, (_F32, _U8, _I16, _I32, _I64), "input")
        _check_same(ctx, x, out, "output")
        ctx.check(lens.dtype in (_I32, _I64), f"seq_lengths has type {lens.dtype}, expected "
                  f"int32 or int64", lens)
        ctx.check(len(lens.shape) == 1, f"seq_lengths must be rank 1, it has shape "
                  f"{_shape_str(lens.shape)}", lens)
        rank = len(x.shape)
        seq_dim = int(getattr(ctx.options, "seqDim", 0) or 0)
        batch_dim = int(getattr(ctx.options, "batchDim", 0) or 0)
        ctx.check(0 <= seq_dim < rank, f"seq_dim {seq_dim} is out of range for rank {rank}", x)
        ctx.check(0 <= batch_dim < rank, f"batch_dim {batch_dim} is out of range for rank "
                  f"{rank}", x)
        ctx.check(seq_dim != batch_dim, f"seq_dim and batch_dim are both {seq_dim}")
        ctx.check(lens.shape[0] == x.shape[batch_dim],
                  f"seq_lengths has {lens.shape[0]} entries but the input's batch dimension "
                  f"{batch_dim} has size {x.shape[batch_dim]}", lens)
        self.seq_dim, self.batch_dim = seq_dim, batch_dim
        self.rank = rank
        self.seq_size = x.shape[seq_dim]
        ctx.set_output(0, x.shape)
        self.index = None
        self._key = None
        if lens.is_const:
            self.index = self._index(ctx.error, lens.data)

    def _index(self, err, lens) -> np.ndarray:
        lens = np.asarray(lens).reshape(-1).astype(np.int64)
        if lens.size and lens.max() > self.seq_size:
            raise err(f"seq_lengths has {int(lens.max())}, longer than the sequence dimension "
                      f"{self.seq_dim} of size {self.seq_size}")
        pos = np.arange(self.seq_size, dtype=np.int64)[None, :]
        length = lens[:, None]
        # LiteRT: positions < length are reversed, the rest copied (a length <= 1,
        # negative ones included, copies the whole sequence).
        src = np.where(pos < length, length - 1 - pos, pos).astype(np.intp)   # [batch, seq]
        if self.batch_dim > self.seq_dim:
            src = src.T
        shape = [1] * self.rank
        shape[self.batch_dim] = src.shape[self.batch_dim > self.seq_dim]
        shape[self.seq_dim] = self.seq_size
        return src.reshape(shape)

    def invoke(self, ictx: InvokeContext) -> None:
        x, out = ictx.inputs[0], ictx.outputs[0]
        index = self.index
        if index is None:
            key = ictx.inputs[1].tobytes()
            if key != self._key:
                self._dyn = self._index(ictx.error, ictx.inputs[1])
                self._key = key
            index = self._dyn
        if out.size == 0:
            return
        idx = np.broadcast_to(index, x.shape[:self.seq_dim] + (self.seq_size,)
                              + x.shape[self.seq_dim + 1:])
        out[...] = np.take_along_axis(x, idx, axis=self.seq_dim)


# ============================================================ SEGMENT_SUM

@register("SEGMENT_SUM")
class SegmentSum(Kernel):
    """Sorted segment sum: segment_ids start at 0 and step by 0 or 1."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, ids, out = ctx.input(0), ctx.input(1), _out(ctx)
        _check_type(ctx, x, (_F32, _I32), "data")
        _check_same(ctx, x, out, "output")
        ctx.check(ids.dtype == _I32, f"segment_ids has type {ids.dtype}, expected int32", ids)
        ctx.check(len(x.shape) >= 1, "data must have rank >= 1, it is a scalar", x)
        ctx.check(len(ids.shape) == 1, f"segment_ids must be rank 1, it has shape "
                  f"{_shape_str(ids.shape)}", ids)
        ctx.check(ids.shape[0] == x.shape[0], f"segment_ids has {ids.shape[0]} entries but data "
                  f"has {x.shape[0]} rows", ids)
        self.inner = x.shape[1:]
        self.plan = None
        if ids.is_const:
            self.plan = self._plan(ctx.error, ids.data)
            ctx.set_output(0, (self.plan[0],) + self.inner)
        else:
            ctx.set_output_dynamic(0)

    @staticmethod
    def _plan(err, ids) -> tuple[int, np.ndarray]:
        ids = np.asarray(ids).reshape(-1).astype(np.int64)
        if ids.size == 0:
            return 0, np.zeros(0, np.intp)
        if ids[0] != 0:
            raise err(f"segment_ids must start at 0, the first is {int(ids[0])}")
        steps = np.diff(ids)
        bad = np.flatnonzero((steps != 0) & (steps != 1))
        if bad.size:
            i = int(bad[0]) + 1
            raise err(f"segment_ids must be sorted and increase by at most 1: entry {i} is "
                      f"{int(ids[i])} after {int(ids[i - 1])}")
        starts = np.concatenate(([0], np.flatnonzero(steps) + 1)).astype(np.intp)
        return int(ids[-1]) + 1, starts

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if self.plan is None:
            n, starts = self._plan(ictx.error, ictx.inputs[1])
            out = ictx.resize_output(0, (n,) + self.inner)
        else:
            (n, starts), out = self.plan, ictx.outputs[0]
        if out.size == 0:
            return
        # int32 sums wrap like LiteRT's WrappingAdd.
        np.add.reduceat(x, starts, axis=0, out=out, dtype=x.dtype)


# ============================================================ UNSORTED_SEGMENT_*

class _UnsortedSegment(Kernel):
    ufunc: np.ufunc

    @staticmethod
    @abc.abstractmethod
    def initial(dtype: np.dtype):
        """The reduction's identity for `dtype` (empty segments get it)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, 1)
        x, ids, num, out = ctx.input(0), ctx.input(1), ctx.input(2), _out(ctx)
        _check_type(ctx, x, (_F32, _I32), "data")
        _check_same(ctx, x, out, "output")
        ctx.check(ids.dtype == _I32, f"segment_ids has type {ids.dtype}, expected int32", ids)
        ctx.check(num.dtype == _I32, f"num_segments has type {num.dtype}, expected int32", num)
        ctx.check(num.shape in ((), (1,)), f"num_segments must be a scalar or have shape [1], "
                  f"got {_shape_str(num.shape)}", num)
        k = len(ids.shape)
        ctx.check(k <= len(x.shape) and x.shape[:k] == ids.shape,
                  f"segment_ids shape {_shape_str(ids.shape)} must be a prefix of the data "
                  f"shape {_shape_str(x.shape)}", ids)
        self.inner = x.shape[k:]
        self.n_ids = math.prod(ids.shape)
        self.init = self.initial(x.dtype)
        self.ids = None
        self.num = None
        if num.is_const:
            self.num = self._num(ctx.error, num.data)
            ctx.set_output(0, (self.num,) + self.inner)
        else:
            ctx.set_output_dynamic(0)
        if ids.is_const and self.num is not None:
            self.ids = self._ids(ctx.error, ids.data, self.num)

    @staticmethod
    def _num(err, data) -> int:
        n = int(np.asarray(data).reshape(-1)[0])
        if n < 0:
            raise err(f"num_segments is {n}; it must be >= 0")
        return n

    @staticmethod
    def _ids(err, ids, num: int) -> tuple[np.ndarray, np.ndarray | None]:
        ids = np.asarray(ids).reshape(-1)
        if ids.size and int(ids.max()) >= num:
            raise err(f"segment_ids has {int(ids.max())}, out of range for num_segments {num}")
        keep = ids >= 0          # negative ids are dropped, as in LiteRT
        if keep.all():
            return ids.astype(np.intp), None
        return ids[keep].astype(np.intp), keep

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        num = self.num
        if num is None:
            num = self._num(ictx.error, ictx.inputs[2])
            out = ictx.resize_output(0, (num,) + self.inner)
        else:
            out = ictx.outputs[0]
        ids, keep = self.ids if self.ids is not None else self._ids(ictx.error, ictx.inputs[1], num)
        if out.size == 0:
            return
        out.fill(self.init)
        if ids.size == 0:
            return
        rows = x.reshape(self.n_ids, -1)
        if keep is not None:
            rows = rows[keep]
        self.ufunc.at(out.reshape(num, -1), ids, rows)


@register("UNSORTED_SEGMENT_SUM")
class UnsortedSegmentSum(_UnsortedSegment):
    ufunc = np.add

    @staticmethod
    def initial(dtype):
        return 0


@register("UNSORTED_SEGMENT_PROD")
class UnsortedSegmentProd(_UnsortedSegment):
    ufunc = np.multiply

    @staticmethod
    def initial(dtype):
        return 1


# std::max / std::min against an accumulator that is never NaN: a NaN input is
# skipped, which is what fmax / fmin do.
@register("UNSORTED_SEGMENT_MAX")
class UnsortedSegmentMax(_UnsortedSegment):
    ufunc = np.fmax

    @staticmethod
    def initial(dtype):
        return np.finfo(dtype).min if dtype.kind == "f" else np.iinfo(dtype).min


@register("UNSORTED_SEGMENT_MIN")
class UnsortedSegmentMin(_UnsortedSegment):
    ufunc = np.fmin

    @staticmethod
    def initial(dtype):
        return np.finfo(dtype).max if dtype.kind == "f" else np.iinfo(dtype).max


# ============================================================ MATRIX_DIAG / MATRIX_SET_DIAG

_DIAG_TYPES = (_F32, _I8, _U8, _I16, _I32, _I64)


@register("MATRIX_DIAG")
class MatrixDiag(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        _check_type(ctx, x, _DIAG_TYPES, "input")
        _check_same(ctx, x, out, "output")
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1, it is a scalar", x)
        n = x.shape[-1]
        ctx.set_output(0, x.shape + (n,))
        self.diag = np.arange(n)

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        out.fill(0)
        out[..., self.diag, self.diag] = ictx.inputs[0]


@register("MATRIX_SET_DIAG")
class MatrixSetDiag(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        x, d, out = ctx.input(0), ctx.input(1), _out(ctx)
        _check_type(ctx, x, _DIAG_TYPES, "input")
        _check_same(ctx, x, d, "diagonal")
        _check_same(ctx, x, out, "output")
        ctx.check(len(x.shape) >= 2, f"input must have rank >= 2, it has shape "
                  f"{_shape_str(x.shape)}", x)
        n = min(x.shape[-2], x.shape[-1])
        want = x.shape[:-2] + (n,)
        # LiteRT does not check the diagonal's shape (it reads batch * min(rows, cols)
        # values); edgelite requires TensorFlow's shape.
        ctx.check(d.shape == want, f"diagonal has shape {_shape_str(d.shape)}, expected "
                  f"{_shape_str(want)} for an input of shape {_shape_str(x.shape)}", d)
        ctx.set_output(0, x.shape)
        self.diag = np.arange(n)

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        np.copyto(out, ictx.inputs[0])
        out[..., self.diag, self.diag] = ictx.inputs[1]


# ============================================================ BUCKETIZE

@register("BUCKETIZE")
class Bucketize(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        _check_type(ctx, x, (_F32, _F64, _I32, _I64), "input")
        bounds = getattr(ctx.options, "boundaries", None)
        bounds = np.asarray([] if bounds is None else bounds, np.float32).reshape(-1)
        ctx.check(bool(np.all(bounds[1:] >= bounds[:-1])) and not np.isnan(bounds).any(),
                  f"boundaries must be sorted, got {bounds.tolist()}")
        ctx.check(out.dtype == _I32, f"output has type {out.dtype}, expected int32", out)
        ctx.set_output(0, x.shape)
        # std::upper_bound compares `value < boundary` in C++'s usual arithmetic
        # conversions: int32 / int64 / float values against float boundaries in
        # float, double values in double.
        self.value_type = _F64 if x.dtype == _F64 else _F32
        self.bounds = bounds.astype(self.value_type)

    def invoke(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if x.dtype != self.value_type:
            x = x.astype(self.value_type)
        ictx.outputs[0][...] = np.searchsorted(self.bounds, x, side="right")


# ============================================================ SPARSE_TO_DENSE

@register("SPARSE_TO_DENSE", versions=(1, 3))
class SparseToDense(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(4, 1)
        idx, shape, values, default = (ctx.input(i) for i in range(4))
        out = _out(ctx)
        ctx.check(idx.dtype in (_I32, _I64), f"indices has type {idx.dtype}, expected int32 or "
                  f"int64", idx)
        ctx.check(shape.dtype in (_I32, _I64), f"output_shape has type {shape.dtype}, expected "
                  f"int32 or int64", shape)
        _check_type(ctx, values, (_I32, _I64, _I8, _U8, _F32), "values")
        _check_same(ctx, values, default, "default_value")
        _check_same(ctx, values, out, "output")
        ctx.check(len(idx.shape) < 3, f"indices must have rank 0, 1 or 2, it has shape "
                  f"{_shape_str(idx.shape)}", idx)
        ctx.check(len(shape.shape) == 1, f"output_shape must be rank 1, it has shape "
                  f"{_shape_str(shape.shape)}", shape)
        ctx.check(len(values.shape) < 2, f"values must be a scalar or rank 1, it has shape "
                  f"{_shape_str(values.shape)}", values)
        ctx.check(default.size == 1, f"default_value must have one element, it has "
                  f"{default.size}", default)
        if len(idx.shape) < 2:
            n_idx, depth = idx.size, 1
        else:
            n_idx, depth = idx.shape
        ctx.check(shape.size == depth, f"output_shape has {shape.size} entries, but each index "
                  f"has {depth} coordinates", shape)
        ctx.check(depth <= 4, f"indices have {depth} coordinates; at most 4 are supported", idx)
        if len(values.shape) == 1:
            ctx.check(values.shape[0] == n_idx, f"values has {values.shape[0]} entries but there "
                      f"are {n_idx} indices", values)
        self.n_idx, self.depth = n_idx, depth
        self.scalar = len(values.shape) == 0
        self.shape = None
        if shape.is_const:
            self.shape = self._shape(ctx.error, shape.data)
            ctx.set_output(0, self.shape)
        else:
            ctx.set_output_dynamic(0)

    @staticmethod
    def _shape(err, data) -> tuple[int, ...]:
        dims = tuple(int(v) for v in np.asarray(data).reshape(-1))
        if any(d < 0 for d in dims):
            raise err(f"output_shape {_shape_str(dims)} has a negative dimension")
        return dims

    def invoke(self, ictx: InvokeContext) -> None:
        idx, _, values, default = ictx.inputs
        if self.shape is None:
            shape = self._shape(ictx.error, ictx.inputs[1])
            out = ictx.resize_output(0, shape)
        else:
            shape, out = self.shape, ictx.outputs[0]
        out.fill(default.reshape(-1)[0])
        if self.n_idx == 0:
            return
        coords = idx.reshape(self.n_idx, self.depth).astype(np.int64)
        bad = np.flatnonzero(((coords < 0) | (coords >= np.asarray(shape, np.int64))).any(axis=1))
        if bad.size:
            i = int(bad[0])
            raise ictx.error(f"index {i} {coords[i].tolist()} is out of range for the output "
                             f"shape {_shape_str(shape)}")
        flat = np.ravel_multi_index(tuple(coords.T), shape) if shape else np.zeros(
            self.n_idx, np.intp)
        # Duplicate indices: the last value wins, as in LiteRT's sequential writes.
        out.reshape(-1)[flat] = values.reshape(-1)[0] if self.scalar else values


# ============================================================ DENSIFY

def _index_vector(vec) -> np.ndarray:
    values = getattr(vec, "values", None)
    return np.zeros(0, np.int64) if values is None else np.asarray(values, np.int64).reshape(-1)


def densify(shape, dtype, sparsity, values: np.ndarray) -> np.ndarray:
    """The dense array of a sparse constant (TACO-style `sparsity` as read from the
    file: traversal_order, block_map, dim_metadata with DENSE / SPARSE_CSR levels),
    as LiteRT's FormatConverter::SparseToDense builds it.

    Raises ValueError on inconsistent metadata."""
    shape = tuple(int(d) for d in shape)
    rank = len(shape)
    order = [int(v) for v in (sparsity.traversalOrder if sparsity.traversalOrder is not None
                              else range(rank))]
    block_map = [int(v) for v in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    dims = list(sparsity.dimMetadata) if sparsity.dimMetadata is not None else []
    n_levels = rank + len(block_map)
    if len(order) != n_levels or len(dims) != n_levels:
        raise ValueError(f"traversal_order has {len(order)} entries and dim_metadata "
                         f"{len(dims)}; a rank-{rank} tensor with {len(block_map)} block "
                         f"dimensions needs {n_levels}")
    if sorted(order[:rank]) != list(range(rank)) or sorted(order[rank:]) != list(
            range(rank, n_levels)):
        raise ValueError(f"traversal_order {order} is not a permutation of the dimensions")
    if any(not 0 <= b < rank for b in block_map) or len(set(block_map)) != len(block_map):
        raise ValueError(f"block_map {block_map} names a dimension out of range or twice")
    block_sizes = {}
    for j, d in enumerate(block_map):
        bs = int(dims[order.index(rank + j)].denseSize)
        if bs <= 0 or shape[d] % bs:
            raise ValueError(f"block size {bs} does not divide dimension {d} of size {shape[d]}")
        block_sizes[d] = bs
    # Walk the levels in traversal order: `pos` is each node's position in the
    # level (for the last level, the index into the values), `coord` its
    # coordinate per expanded dimension.
    pos = np.zeros(1, np.int64)
    coords = np.zeros((n_levels, 1), np.int64)
    for level, dim in enumerate(order):
        meta = dims[level]
        if meta.format == 0:      # DENSE
            size = int(meta.denseSize)
            if size < 0:
                raise ValueError(f"level {level}: dense_size {size} is negative")
            pos = (pos[:, None] * size + np.arange(size)).reshape(-1)
            coords = np.repeat(coords, size, axis=1)
            coords[dim] = np.tile(np.arange(size), coords.shape[1] // max(size, 1))
        else:                     # SPARSE_CSR
            seg = _index_vector(meta.arraySegments)
            ind = _index_vector(meta.arrayIndices)
            if seg.size < (int(pos.max()) + 2 if pos.size else 1):
                raise ValueError(f"level {level}: array_segments has {seg.size} entries, too "
                                 f"few for {pos.size} parents")
            start, stop = seg[pos], seg[pos + 1]
            counts = stop - start
            if (counts < 0).any() or (seg.size and (seg.min() < 0 or seg.max() > ind.size)):
                raise ValueError(f"level {level}: array_segments is not a valid CSR segment list")
            total = int(counts.sum())
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            pos = np.repeat(start, counts) + offsets
            coords = np.repeat(coords, counts, axis=1)
            coords[dim] = ind[pos]
    flat_values = np.asarray(values).reshape(-1)
    if pos.size and (pos.min() < 0 or pos.max() >= flat_values.size):
        raise ValueError(f"the sparse tensor needs {int(pos.max()) + 1} values, its buffer has "
                         f"{flat_values.size}")
    dense_coords = []
    for d in range(rank):
        c = coords[d]
        if d in block_sizes:
            c = c * block_sizes[d] + coords[rank + block_map.index(d)]
        dense_coords.append(c)
    if any(((c < 0) | (c >= s)).any() for c, s in zip(dense_coords, shape)):
        raise ValueError(f"a sparse index is out of range for the shape {list(shape)}")
    dense = np.zeros(shape, dtype)
    if pos.size:
        dense[tuple(dense_coords)] = flat_values[pos]
    return dense


@register("DENSIFY")
class Densify(Kernel):
    """Expands a sparse constant once, at prepare; the output is then a constant
    (the plan folds it, so nothing runs at invoke)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        _check_type(ctx, x, (_F32, _F16, _I8), "input")
        _check_same(ctx, x, out, "output")
        tensor = ctx.model.subgraphs[ctx.subgraph_index].tensors[x.index]
        ctx.check(tensor.sparsity is not None, "input is not a sparse tensor (no sparsity "
                  "parameters)", x)
        buf = ctx.model.buffers[tensor.buffer].data if 0 < tensor.buffer < len(
            ctx.model.buffers) else None
        ctx.check(buf is not None and np.asarray(buf).size > 0,
                  "input must be a constant tensor", x)
        raw = np.asarray(buf, np.uint8).reshape(-1)
        ctx.check(raw.size % x.dtype.itemsize == 0, f"constant buffer of {raw.size} bytes is not "
                  f"a whole number of {x.dtype} values", x)
        try:
            self.constant = densify(x.shape, x.dtype, tensor.sparsity, raw.view(x.dtype))
        except ValueError as e:
            raise ctx.error(f"bad sparsity parameters: {e}", x) from None
        ctx.set_output(0, x.shape)

    def invoke(self, ictx: InvokeContext) -> None:
        np.copyto(ictx.outputs[0], self.constant)


# ============================================================ FAKE_QUANT

def _round_half_away(v: np.ndarray) -> np.ndarray:
    v64 = v.astype(np.float64)
    return np.trunc(v64 + np.copysign(0.5, v64))


@register("FAKE_QUANT", versions=(1, 2))
class FakeQuant(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        _check_type(ctx, x, (_F32,), "input")
        _check_same(ctx, x, out, "output")
        o = ctx.options
        ctx.check(not bool(getattr(o, "narrowRange", False)),
                  "narrow_range FakeQuant is not supported at runtime (LiteRT rejects it too)")
        bits = int(getattr(o, "numBits", 0) or 0)
        ctx.check(1 <= bits <= 16, f"num_bits is {bits}; it must be 1..16")
        rmin = np.float32(getattr(o, "min", 0.0) or 0.0)
        rmax = np.float32(getattr(o, "max", 0.0) or 0.0)
        # NudgeQuantizationRange, in float32 like LiteRT.
        qmin, qmax = np.float32(0), np.float32((1 << bits) - 1)
        with np.errstate(all="ignore"):
            scale = np.float32((rmax - rmin) / (qmax - qmin))
            zp_from_min = np.float32(qmin - rmin / scale)
            if zp_from_min < qmin:
                zp = qmin
            elif zp_from_min > qmax:
                zp = qmax
            else:
                zp = np.float32(_round_half_away(np.asarray(zp_from_min)))
            # static_cast<uint16_t>: fine for the 1..16 bits allowed here.
            zp = np.float32(int(zp) & 0xFFFF) if np.isfinite(zp) else np.float32(0)
            self.nudged_min = np.float32((qmin - zp) * scale)
            self.nudged_max = np.float32((qmax - zp) * scale)
            self.scale = scale
            self.inv_scale = np.float32(np.float32(1.0) / scale)
        ctx.set_output(0, x.shape)

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        np.maximum(ictx.inputs[0], self.nudged_min, out=out)
        np.minimum(out, self.nudged_max, out=out)
        out -= self.nudged_min
        out *= self.inv_scale
        out[...] = _round_half_away(out)
        out *= self.scale
        out += self.nudged_min


# ============================================================ BITWISE_XOR / RIGHT_SHIFT

_BIT_TYPES = (_I8, _U8, _I16, _U16, _I32, _U32)


class _BitwiseBinary(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        a, b, out = ctx.input(0), ctx.input(1), _out(ctx)
        _check_type(ctx, a, _BIT_TYPES, "input 0")
        _check_same(ctx, a, b, "input 1")
        _check_same(ctx, a, out, "output")
        shape = broadcast_shape(a.shape, b.shape)
        ctx.check(shape is not None, f"input shapes {_shape_str(a.shape)} and "
                  f"{_shape_str(b.shape)} do not broadcast")
        ctx.set_output(0, shape)
        self.bits = a.dtype.itemsize * 8


@register("BITWISE_XOR")
class BitwiseXor(_BitwiseBinary):
    def invoke(self, ictx: InvokeContext) -> None:
        np.bitwise_xor(ictx.inputs[0], ictx.inputs[1], out=ictx.outputs[0])


@register("RIGHT_SHIFT")
class RightShift(_BitwiseBinary):
    """x >> y with y clamped to 0..bits-1 (LiteRT's guard against undefined
    shifts); arithmetic for signed types."""

    def invoke(self, ictx: InvokeContext) -> None:
        y = np.clip(ictx.inputs[1], 0, self.bits - 1)
        np.right_shift(ictx.inputs[0], y, out=ictx.outputs[0])


# ============================================================ BITCAST

_NOT_BITCASTABLE = (ir.TensorType.STRING, ir.TensorType.RESOURCE, ir.TensorType.VARIANT,
                    ir.TensorType.INT4, ir.TensorType.UINT4, ir.TensorType.INT2)


@register("BITCAST")
class Bitcast(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        for spec, what in ((x, "input"), (out, "output")):
            ctx.check(spec.type not in _NOT_BITCASTABLE,
                      f"{what} has type {ir.TYPE_NAMES.get(spec.type, spec.type)}, which has "
                      f"no fixed byte size", spec)
        a, b = x.dtype.itemsize, out.dtype.itemsize
        if a > b:
            shape = x.shape + (a // b,)
        elif a < b:
            ctx.check(len(x.shape) >= 1 and x.shape[-1] == b // a,
                      f"bitcasting {x.dtype} to {out.dtype} needs the last input dimension to "
                      f"be {b // a}, the input has shape {_shape_str(x.shape)}", x)
            shape = x.shape[:-1]
        else:
            shape = x.shape
        ctx.set_output(0, shape)
        self.dtype = out.dtype

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        np.copyto(out, np.ascontiguousarray(ictx.inputs[0]).reshape(-1).view(self.dtype)
                  .reshape(out.shape))


# ============================================================ DILATE

@register("DILATE")
class Dilate(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(3, 1)
        x, dil, pad, out = ctx.input(0), ctx.input(1), ctx.input(2), _out(ctx)
        ctx.check(len(x.shape) > 0, "input must have rank >= 1, it is a scalar", x)
        ctx.check(x.type not in _NOT_BITCASTABLE, f"input has type "
                  f"{ir.TYPE_NAMES.get(x.type, x.type)}, which DILATE does not support", x)
        _check_same(ctx, x, out, "output")
        _check_same(ctx, x, pad, "padding_value")
        ctx.check(pad.size == 1, f"padding_value must have one element, it has {pad.size}", pad)
        ctx.check(dil.dtype == _I32, f"dilations has type {dil.dtype}, expected int32", dil)
        ctx.check(dil.shape == (len(x.shape),), f"dilations must have shape [{len(x.shape)}] "
                  f"(one per input dimension), got {_shape_str(dil.shape)}", dil)
        self.in_shape = x.shape
        self.dilations = None
        if dil.is_const:
            self.dilations = self._dilations(ctx.error, dil.data)
            ctx.set_output(0, self._out_shape(ctx.error, self.dilations))
        else:
            ctx.set_output_dynamic(0)

    @staticmethod
    def _dilations(err, data) -> tuple[int, ...]:
        d = tuple(int(v) for v in np.asarray(data).reshape(-1))
        if any(v < 1 for v in d):
            raise err(f"dilations {list(d)} must all be >= 1")
        return d

    def _out_shape(self, err, dilations) -> tuple[int, ...]:
        if any(s == 0 for s in self.in_shape):
            raise err(f"cannot dilate the empty input of shape {_shape_str(self.in_shape)}")
        return tuple((s - 1) * k + 1 for s, k in zip(self.in_shape, dilations))

    def invoke(self, ictx: InvokeContext) -> None:
        dilations = self.dilations
        if dilations is None:
            dilations = self._dilations(ictx.error, ictx.inputs[1])
            out = ictx.resize_output(0, self._out_shape(ictx.error, dilations))
        else:
            out = ictx.outputs[0]
        out.fill(ictx.inputs[2].reshape(-1)[0])
        out[tuple(slice(None, None, k) for k in dilations)] = ictx.inputs[0]


# ============================================================ complex: COMPLEX_ABS, REAL, IMAG

class _ComplexToReal(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(1, 1)
        x, out = ctx.input(0), _out(ctx)
        _check_type(ctx, x, (_C64, _C128), "input")
        want = _F32 if x.dtype == _C64 else _F64
        ctx.check(out.dtype == want, f"output has type {out.dtype}, expected {want} for a "
                  f"{x.dtype} input", out)
        ctx.set_output(0, x.shape)


@register("COMPLEX_ABS")
class ComplexAbs(_ComplexToReal):
    def invoke(self, ictx: InvokeContext) -> None:
        np.abs(ictx.inputs[0], out=ictx.outputs[0])


@register("REAL")
class Real(_ComplexToReal):
    def invoke(self, ictx: InvokeContext) -> None:
        np.copyto(ictx.outputs[0], ictx.inputs[0].real)


@register("IMAG")
class Imag(_ComplexToReal):
    def invoke(self, ictx: InvokeContext) -> None:
        np.copyto(ictx.outputs[0], ictx.inputs[0].imag)


# ============================================================ REDUCE_WINDOW

# ReduceWindowFunction: UNSUPPORTED, ADD, MUL, MINIMUM, MAXIMUM, ALL, ANY.
_RW_NAMES = {1: "ADD", 2: "MUL", 3: "MINIMUM", 4: "MAXIMUM", 5: "ALL", 6: "ANY"}


def _rw_add(acc, v):
    np.add(acc, v, out=acc)


def _rw_mul(acc, v):
    np.multiply(acc, v, out=acc)


# LiteRT's Min / Max: `a <= b ? a : b` / `a >= b ? a : b` with the accumulator as a.
def _rw_min(acc, v):
    np.copyto(acc, v, where=~(acc <= v))


def _rw_max(acc, v):
    np.copyto(acc, v, where=~(acc >= v))


def _rw_all(acc, v):
    np.copyto(acc, (acc != 0) & (v != 0), casting="unsafe")


def _rw_any(acc, v):
    np.copyto(acc, (acc != 0) | (v != 0), casting="unsafe")


def _rw_step(fn: int):
    """The accumulate step (module-level functions: a prepared kernel pickles)."""
    return {1: _rw_add, 2: _rw_mul, 3: _rw_min, 4: _rw_max, 5: _rw_all}.get(fn, _rw_any)


@register("REDUCE_WINDOW")
class ReduceWindow(Kernel):
    """The deprecated TFLite REDUCE_WINDOW (no padding, no base dilation): each
    output element folds init_value with its window's elements in row-major
    order, like LiteRT's StridedReduce."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x, init, wdim, wstr, wdil = (ctx.input(i) for i in range(5))
        out = _out(ctx)
        _check_type(ctx, x, (_BOOL, _I8, _I16, _I32, _I64, _U8, _F32, _F64), "input")
        _check_same(ctx, x, out, "output")
        _check_same(ctx, x, init, "init_value")
        ctx.check(init.size == 1, f"init_value must have one element, it has {init.size}", init)
        rank = len(x.shape)
        ctx.check(1 <= rank <= 6, f"input has rank {rank}; REDUCE_WINDOW supports 1 to 6", x)
        params = []
        for spec, what in ((wdim, "window_dimensions"), (wstr, "window_strides"),
                           (wdil, "window_dilations")):
            ctx.check(spec.is_const, f"{what} must be a constant tensor", spec)
            ctx.check(spec.dtype == _I64, f"{what} has type {spec.dtype}, expected int64", spec)
            ctx.check(spec.size == rank, f"{what} has {spec.size} entries, expected one per "
                      f"input dimension ({rank})", spec)
            vals = [int(v) for v in np.asarray(spec.data).reshape(-1)]
            ctx.check(all(v >= 1 for v in vals), f"{what} {vals} must all be >= 1", spec)
            params.append(vals)
        self.window, self.strides, self.dilations = params
        fn = int(getattr(ctx.options, "reduceFunction", 0) or 0)
        ctx.check(fn in _RW_NAMES, f"reduce_function {fn} is not supported")
        self.step = _rw_step(fn)
        shape = []
        for s, w, st, d in zip(x.shape, self.window, self.strides, self.dilations):
            span = (w - 1) * d + 1
            shape.append(0 if s < span else (s - span) // st + 1)
        self.out_shape = tuple(shape)
        ctx.set_output(0, self.out_shape)
        # One strided view per window element, in row-major window order.
        self.offsets = [tuple(int(i) * d for i, d in zip(np.unravel_index(k, self.window),
                                                        self.dilations))
                        for k in range(math.prod(self.window))]
        self.bool = x.dtype == _BOOL

    def invoke(self, ictx: InvokeContext) -> None:
        out = ictx.outputs[0]
        if out.size == 0:
            return
        x = ictx.inputs[0]
        acc = out.view(np.int8) if self.bool else out
        if self.bool:
            x = x.view(np.int8)
        acc.fill(ictx.inputs[1].reshape(-1).view(acc.dtype)[0] if self.bool
                 else ictx.inputs[1].reshape(-1)[0])
        for off in self.offsets:
            view = x[tuple(slice(o, o + (n - 1) * st + 1, st)
                           for o, n, st in zip(off, self.out_shape, self.strides))]
            self.step(acc, view)
