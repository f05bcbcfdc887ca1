"""Index and data-movement ops: GATHER, GATHER_ND, SCATTER_ND, ONE_HOT, WHERE,
TOPK_V2, EMBEDDING_LOOKUP, UNIQUE, DYNAMIC_UPDATE_SLICE.

Semantics follow LiteRT's kernels (gather.cc, gather_nd.cc, scatter_nd.cc,
one_hot.cc, where.cc, topk_v2.cc, embedding_lookup.cc, unique.cc,
dynamic_update_slice.cc). Index values are checked at invoke: an index out of
range raises an OpError naming the node instead of reading out of bounds.
"""
from __future__ import annotations

import numpy as np

from edgelite.format import ir
from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register

F16, F32, I8, U8, I16, I32, I64, BOOL, U32, OBJ = (np.dtype(t) for t in (
    np.float16, np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_,
    np.uint32, object))
_TYPE_BY_CODE = {ir.TensorType.INT32: I32, ir.TensorType.INT64: I64}


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _check_range(where, idx: np.ndarray, limit, what: str = "index") -> None:
    """Every idx in [0, limit) (limit may be an array broadcast over the last axis)."""
    if idx.size == 0:
        return
    if not np.ndim(limit):
        # ufunc reductions and scalar compares: idx.min() / np.any cost ~2-3 us each
        if np.minimum.reduce(idx, axis=None) >= 0 and np.maximum.reduce(idx, axis=None) < limit:
            return
        lo = hi = None
    else:
        lo = idx.min(axis=tuple(range(idx.ndim - 1)))
        hi = idx.max(axis=tuple(range(idx.ndim - 1)))
    if lo is None or np.any(lo < 0) or np.any(hi >= limit):
        bad = idx[(idx < 0) | (idx >= limit)].reshape(-1)[0]
        raise where.error(f"{what} {int(bad)} is out of range [0, {limit})"
                          if not np.ndim(limit) else
                          f"{what} {int(bad)} is out of range for dimensions {list(limit)}")


# ---------------------------------------------------------------- GATHER
@register("GATHER", versions=(1, 8))
class Gather(Kernel):
    DTYPES = (F32, F16, I8, U8, I16, I32, I64, BOOL, OBJ)

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, idx = ctx.input(0), ctx.input(1)
        ctx.check_dtype(idx, [I16, I32, I64], "positions tensor")
        if x.type == ir.TensorType.INT4:
            raise ctx.error("INT4 GATHER is not implemented", x)
        ctx.check_dtype(x, list(self.DTYPES))
        if x.dtype == OBJ:
            ctx.check(len(x.shape) == 1, "a string input must be 1-D", x)
        o = ctx.options
        axis = int(o.axis) if o is not None else 0
        batch_dims = int(o.batchDims) if o is not None else 0
        rank, irank = len(x.shape), len(idx.shape)
        if axis < 0:
            axis += rank
        ctx.check(0 <= axis < rank, f"axis {axis} is out of range for an input of rank {rank}")
        if batch_dims < 0:
            batch_dims += irank
        ctx.check(batch_dims <= axis, f"batch_dims {batch_dims} must be <= axis {axis}")
        ctx.check(0 <= batch_dims < rank and batch_dims <= irank,
                  f"batch_dims {batch_dims} is out of range")
        for i in range(batch_dims):
            ctx.check(x.shape[i] == idx.shape[i],
                      f"batch dimension {i} differs: input {x.shape[i]}, positions {idx.shape[i]}")
        out_shape = x.shape[:axis] + idx.shape[batch_dims:] + x.shape[axis + 1:]
        ctx.set_output(0, out_shape, x.dtype)
        batch = _prod(x.shape[:batch_dims])
        outer = _prod(x.shape[batch_dims:axis])
        self.axis_size = x.shape[axis]
        inner = _prod(x.shape[axis + 1:])
        k = _prod(idx.shape[batch_dims:])
        # Row r of the (rows, inner) input view that output row (b, o, j) reads:
        # (b * outer + o) * axis_size + positions[b, j].
        self.base = (np.arange(batch * outer, dtype=np.int64) * self.axis_size).reshape(
            batch, outer, 1)
        self.idx_view = (batch, 1, k)
        self.in_view = (batch * outer * self.axis_size, inner)
        self.out_view = (batch * outer * k, inner)
        self.rows_id = ctx.request_scratch((batch, outer, k), I64)
        # Constant in-range positions: the input rows are known now (out-of-range
        # constants keep the invoke-time check and its error, as LiteRT's Eval).
        self.const_rows = None
        if idx.is_const and idx.data.size and 0 <= idx.data.min() and \
                idx.data.max() < self.axis_size:
            self.const_rows = (self.base + idx.data.reshape(self.idx_view)).reshape(-1)

    def bind(self, ictx):
        self.rows = ictx.scratch[self.rows_id]

    def invoke(self, ictx):
        x, idx, out = ictx.inputs[0], ictx.inputs[1], ictx.outputs[0]
        if out.size == 0:
            return
        rows = self.const_rows
        if rows is None:
            _check_range(ictx, idx, self.axis_size, "gather index")
            np.add(self.base, idx.reshape(self.idx_view), out=self.rows)
            rows = self.rows.reshape(-1)
        np.take(x.reshape(self.in_view), rows, axis=0, out=out.reshape(self.out_view),
                mode="clip")


# ---------------------------------------------------------------- GATHER_ND
@register("GATHER_ND", versions=(1, 6))
class GatherNd(Kernel):
    DTYPES = (F32, F16, I8, U8, I16, I32, I64, BOOL, OBJ)

    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        x, idx = ctx.input(0), ctx.input(1)
        ctx.check_dtype(x, list(self.DTYPES))
        ctx.check_dtype(idx, [I16, I32, I64], "indices tensor")
        rank, irank = len(x.shape), len(idx.shape)
        ctx.check(rank >= 1, "params must be at least a vector", x)
        ctx.check(irank >= 1, "indices must be at least a vector", idx)
        nd = idx.shape[-1]
        ctx.check(0 <= nd <= rank, f"index depth {nd} must be in [0, params rank {rank}]", idx)
        out_shape = idx.shape[:-1] + x.shape[nd:]
        ctx.set_output(0, out_shape, x.dtype)
        self.dims = np.array(x.shape[:nd], np.int64)
        strides = np.ones(nd, np.int64)
        for j in range(nd - 2, -1, -1):
            strides[j] = strides[j + 1] * x.shape[j + 1]
        self.strides = strides
        self.nd = nd
        n_slices = _prod(idx.shape[:-1])
        self.in_view = (_prod(x.shape[:nd]), _prod(x.shape[nd:]))
        self.out_view = (n_slices, self.in_view[1])
        self.idx_view = (n_slices, nd)
        self.rows_id = ctx.request_scratch((n_slices,), I64)

    def bind(self, ictx):
        self.rows = ictx.scratch[self.rows_id]

    def invoke(self, ictx):
        x, idx, out = ictx.inputs[0], ictx.inputs[1], ictx.outputs[0]
        if out.size == 0:
            return
        idx2 = idx.reshape(self.idx_view)
        if self.nd == 0:
            self.rows[...] = 0
        else:
            _check_range(ictx, idx2, self.dims, "gather_nd index")
            np.matmul(idx2.astype(np.int64, copy=False), self.strides, out=self.rows)
        np.take(x.reshape(self.in_view), self.rows, axis=0, out=out.reshape(self.out_view),
                mode="clip")


# ---------------------------------------------------------------- SCATTER_ND
@register("SCATTER_ND", versions=(1, 1))
class ScatterNd(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(3, 1)
        idx, upd, shape = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check_dtype(upd, [F32, U8, BOOL, I8, I64, I32], "updates")
        ctx.check(idx.dtype == shape.dtype, "indices and shape must have the same type")
        ctx.check_dtype(idx, I32, "indices")
        self.idx_shape, self.upd_shape = idx.shape, upd.shape
        self.dynamic = not shape.is_const
        self.shape = None
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            self._plan(ctx, shape.shape, shape.data)
            ctx.set_output(0, self.shape, upd.dtype)

    def _plan(self, where, shape_shape, shape_data):
        ishape, ushape = self.idx_shape, self.upd_shape
        if not (len(ishape) >= 1 and len(ushape) >= 1 and len(shape_shape) == 1):
            raise where.error("indices and updates must be at least 1-D and shape 1-D")
        shape = tuple(int(v) for v in np.asarray(shape_data).reshape(-1))
        if any(d < 0 for d in shape):
            raise where.error(f"output shape {list(shape)} has a negative dimension")
        outer = len(ishape) - 1
        nd = ishape[-1]
        ok = ishape[:outer] == ushape[:outer] and len(ushape) - outer == len(shape) - nd \
            and tuple(ushape[outer:]) == shape[nd:] and nd <= len(shape)
        if not ok:
            raise where.error(f"indices {list(ishape)}, updates {list(ushape)} and output shape "
                              f"{list(shape)} do not fit together")
        self.shape = shape
        self.nd = nd
        self.dims = np.array(shape[:nd], np.int64)
        strides = np.ones(nd, np.int64)
        for j in range(nd - 2, -1, -1):
            strides[j] = strides[j + 1] * shape[j + 1]
        self.strides = strides
        n_slices = _prod(ishape[:outer])
        self.idx_view = (n_slices, nd)
        self.upd_view = (n_slices, _prod(shape[nd:]))
        self.out_view = (_prod(shape[:nd]), _prod(shape[nd:]))

    def invoke(self, ictx):
        idx, upd = ictx.inputs[0], ictx.inputs[1]
        if self.dynamic:
            shape = ictx.inputs[2]
            if self.shape is None or tuple(shape.reshape(-1).tolist()) != self.shape:
                self._plan(ictx, shape.shape, shape)
            out = ictx.resize_output(0, self.shape)
        else:
            out = ictx.outputs[0]
        out.fill(0)
        if out.size == 0 or upd.size == 0:
            return
        idx2 = idx.reshape(self.idx_view)
        _check_range(ictx, idx2, self.dims, "scatter_nd index")
        rows = idx2.astype(np.int64) @ self.strides if self.nd else \
            np.zeros(self.idx_view[0], np.int64)
        dst = out.reshape(self.out_view)
        src = upd.reshape(self.upd_view)
        if out.dtype == BOOL:
            np.logical_or.at(dst, rows, src)
        else:
            np.add.at(dst, rows, src)      # duplicates accumulate, in index order


# ---------------------------------------------------------------- ONE_HOT
@register("ONE_HOT", versions=(1, 1))
class OneHot(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(4, 1)
        idx, depth, on, off = (ctx.input(i) for i in range(4))
        dtype = on.dtype
        # LiteRT's prepare accepts int16 but its eval has no int16 case (it fails at invoke).
        ctx.check(dtype in (F32, I32, I64, I8, U8, BOOL),
                  f"on/off values of type {dtype} are not supported", on)
        ctx.check_dtype(idx, [I32, I64], "indices")
        ctx.check_dtype(depth, I32, "depth")
        # LiteRT's parser leaves axis at 0 when the options table is missing.
        axis = int(ctx.options.axis) if ctx.options is not None else 0
        out_rank = len(idx.shape) + 1
        self.axis = out_rank - 1 if axis == -1 else axis
        ctx.check(0 <= self.axis < out_rank, f"axis {axis} is out of range for output rank "
                                             f"{out_rank}")
        ctx.check(depth.size == 1 and on.size == 1 and off.size == 1,
                  "depth, on_value and off_value must have one element each")
        ctx.check(off.dtype == dtype, f"off_value has type {off.dtype}, on_value {dtype}", off)
        self.idx_shape = idx.shape
        self.dtype = dtype
        self.dynamic = not depth.is_const
        self.depth = None
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            self._plan(ctx, depth.data)
            ctx.set_output(0, self.out_shape, dtype)

    def _plan(self, where, depth):
        d = int(np.asarray(depth).reshape(-1)[0])
        if d < 0:
            raise where.error(f"depth must be >= 0, got {d}")
        self.depth = d
        a = self.axis
        self.out_shape = self.idx_shape[:a] + (d,) + self.idx_shape[a:]
        prefix = _prod(self.idx_shape[:a])
        suffix = _prod(self.idx_shape[a:])
        self.idx_view = (prefix, 1, suffix)
        self.out_view = (prefix, d, suffix)
        self.classes = np.arange(d, dtype=np.int32).reshape(1, d, 1)
        self.mask = np.empty(self.out_view, BOOL)

    def invoke(self, ictx):
        idx, on, off = ictx.inputs[0], ictx.inputs[2], ictx.inputs[3]
        if self.dynamic:
            d = int(ictx.inputs[1].reshape(-1)[0])
            if d != self.depth:
                self._plan(ictx, d)
            out = ictx.resize_output(0, self.out_shape)
        else:
            out = ictx.outputs[0]
        if out.size == 0:
            return
        # LiteRT compares static_cast<int>(index) with each class.
        ix = idx.reshape(self.idx_view)
        if ix.dtype != I32:
            ix = ix.astype(I32)
        np.equal(ix, self.classes, out=self.mask)
        o = out.reshape(self.out_view)
        o.fill(off.reshape(-1)[0])
        np.copyto(o, on.reshape(-1)[0], where=self.mask)


# ---------------------------------------------------------------- WHERE
@register("WHERE", versions=(1, 2))
class Where(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        cond = ctx.input(0)
        ctx.check_dtype(cond, [BOOL, F32, I64, I32, I8, U8, U32], "condition")
        ctx.check(ctx.outputs[0].dtype == I64, "output must be int64", ctx.outputs[0])
        ctx.check(len(cond.shape) > 0, "condition must have rank > 0", cond)
        if cond.is_const:
            self.const = np.argwhere(cond.data).astype(I64)
            ctx.set_output(0, self.const.shape, I64)
        else:
            self.const = None
            ctx.set_output_dynamic(0)

    def invoke(self, ictx):
        if self.const is not None:
            np.copyto(ictx.outputs[0], self.const)
            return
        coords = np.argwhere(ictx.inputs[0])
        np.copyto(ictx.resize_output(0, coords.shape), coords, casting="unsafe")


# ---------------------------------------------------------------- TOPK_V2
@register("TOPK_V2", versions=(1, 3))
class TopKV2(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(2, 2)
        x, k = ctx.input(0), ctx.input(1)
        ctx.check_dtype(x, [F32, U8, I8, I16, I32, I64])
        ctx.check_dtype(k, [I32, I16], "k tensor")
        ctx.check(k.size == 1, f"k must have one element, has {k.size}", k)
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1", x)
        vals, inds = ctx.outputs
        ctx.check(vals is not None and vals.dtype == x.dtype,
                  "values output must have the input's type", vals)
        ctx.check(inds is not None and inds.dtype in (I32, I16),
                  "indices output must be int32 or int16", inds)
        self.in_shape = x.shape
        self.dynamic = not k.is_const
        if self.dynamic:
            ctx.set_output_dynamic(0)
            ctx.set_output_dynamic(1)
        else:
            self.k = self._k(ctx, k.data)
            shape = x.shape[:-1] + (self.k,)
            ctx.set_output(0, shape, x.dtype)
            ctx.set_output(1, shape)

    def _k(self, where, value) -> int:
        k = int(np.asarray(value).reshape(-1)[0])
        if k > self.in_shape[-1]:
            raise where.error(f"k = {k} is larger than the last dimension {self.in_shape[-1]}")
        return max(k, 0)

    def invoke(self, ictx):
        x = ictx.inputs[0]
        if self.dynamic:
            k = self._k(ictx, ictx.inputs[1])
            shape = self.in_shape[:-1] + (k,)
            vals, inds = ictx.resize_output(0, shape), ictx.resize_output(1, shape)
        else:
            k, (vals, inds) = self.k, ictx.outputs
        if vals.size == 0:
            return
        n = x.shape[-1]
        # Descending by value, lower index first among equals: a stable ascending
        # sort of the reversed row, read backwards.
        order = np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        order = np.subtract(n - 1, order)
        np.copyto(inds, order, casting="unsafe")
        np.copyto(vals, np.take_along_axis(x, order, axis=-1))


# ---------------------------------------------------------------- EMBEDDING_LOOKUP
@register("EMBEDDING_LOOKUP", versions=(1, 5))
class EmbeddingLookup(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        ids, table = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        ctx.check(len(ids.shape) == 1, f"lookup ids must be 1-D, have shape {list(ids.shape)}", ids)
        ctx.check_dtype(ids, I32, "lookup ids")
        ctx.check(len(table.shape) >= 2, "the table must have rank >= 2", table)
        if table.quant is not None and table.quant.details_type:
            raise ctx.error("blockwise-quantized EMBEDDING_LOOKUP is not implemented", table)
        if table.type in (ir.TensorType.INT4, ir.TensorType.INT2):
            raise ctx.error(f"{ir.TYPE_NAMES[table.type]} EMBEDDING_LOOKUP is not implemented",
                            table)
        self.hybrid = table.dtype != out.dtype and out.dtype in (F32, F16)
        self.scales = None
        if self.hybrid:
            ctx.check(table.dtype in (I8, U8), f"a hybrid lookup needs an int8/uint8 table, "
                                               f"got {table.dtype}", table)
            q = table.quant
            ctx.check(q is not None and q.scale.size > 0, "a hybrid table needs a scale", table)
            ctx.check(q.zero_point.size == 0 or int(q.zero_point[0]) == 0,
                      "a hybrid table needs zero point 0", table)
            if q.scale.size > 1:
                ctx.check(q.quantized_dimension == 0 and q.scale.size == table.shape[0],
                          "per-row scales must run along dimension 0, one per row", table)
                self.scales = q.scale.astype(F32).reshape(-1, *([1] * (len(table.shape) - 1)))
            else:
                self.scales = np.full((table.shape[0],) + (1,) * (len(table.shape) - 1),
                                      np.float32(q.scale[0]), F32)
        else:
            ctx.check(table.dtype == out.dtype,
                      f"output has type {out.dtype}, the table {table.dtype}", out)
        self.rows = table.shape[0]
        ctx.set_output(0, (ids.shape[0],) + table.shape[1:], out.dtype)
        if self.hybrid:
            shape = (ids.shape[0],) + table.shape[1:]
            self.tmp_ids = (ctx.request_scratch(shape, I8), ctx.request_scratch(shape, F32))

    def bind(self, ictx):
        if self.hybrid:
            self.rows8, self.tmp = (ictx.scratch[i] for i in self.tmp_ids)

    def invoke(self, ictx):
        ids, table, out = ictx.inputs[0], ictx.inputs[1], ictx.outputs[0]
        if out.size == 0:
            return
        _check_range(ictx, ids, self.rows, "embedding lookup id")
        if not self.hybrid:
            np.take(table, ids, axis=0, out=out, mode="clip")
            return
        # LiteRT reads the table as int8 even when it is uint8.
        np.take(table.view(I8), ids, axis=0, out=self.rows8, mode="clip")
        np.multiply(self.rows8, np.take(self.scales, ids, axis=0), out=self.tmp)
        np.copyto(out, self.tmp, casting="unsafe")


# ---------------------------------------------------------------- UNIQUE
@register("UNIQUE", versions=(1, 1))
class Unique(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 2)
        x = ctx.input(0)
        ctx.check_dtype(x, [I8, I16, I32, I64, F32, U8])
        code = int(ctx.options.idxOutType) if ctx.options is not None else ir.TensorType.INT32
        want = _TYPE_BY_CODE.get(code)
        ctx.check(want is not None, f"idx_out_type must be INT32 or INT64, got "
                                    f"{ir.TYPE_NAMES.get(code, code)}")
        ctx.check(ctx.outputs[0].dtype == x.dtype, "unique output must have the input's type",
                  ctx.outputs[0])
        ctx.check(ctx.outputs[1].dtype == want,
                  f"index output has type {ctx.outputs[1].dtype}, idx_out_type says {want}",
                  ctx.outputs[1])
        ctx.check(len(x.shape) == 1, f"input must be 1-D, has shape {list(x.shape)}", x)
        ctx.set_output_dynamic(0)
        ctx.set_output(1, x.shape, want)

    def invoke(self, ictx):
        x, inds = ictx.inputs[0], ictx.outputs[1]
        if x.size == 0:
            ictx.resize_output(0, (0,))
            return
        _, first, inverse = np.unique(x, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")       # unique values by first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        np.copyto(inds, rank[inverse.reshape(-1)], casting="unsafe")
        out = ictx.resize_output(0, (order.size,))
        np.take(x, first[order], out=out)


# ---------------------------------------------------------------- DYNAMIC_UPDATE_SLICE
@register("DYNAMIC_UPDATE_SLICE", versions=(1, 6))
class DynamicUpdateSlice(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(3, 1)
        x, upd, start = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check(len(start.shape) == 1 and start.shape[0] == len(x.shape),
                  f"start indices must have shape [{len(x.shape)}], have {list(start.shape)}",
                  start)
        ctx.check(len(upd.shape) == len(x.shape),
                  f"update rank {len(upd.shape)} differs from operand rank {len(x.shape)}", upd)
        ctx.check(all(u <= d for u, d in zip(upd.shape, x.shape)),
                  f"update shape {list(upd.shape)} exceeds operand shape {list(x.shape)}", upd)
        ctx.check(x.dtype == upd.dtype, f"update has type {upd.dtype}, operand {x.dtype}", upd)
        ctx.check_dtype(start, [I32, I64], "start indices")
        ctx.check(len(x.shape) <= 8, "rank above 8 is not supported", x)
        if x.type == ir.TensorType.INT4:
            raise ctx.error("INT4 DYNAMIC_UPDATE_SLICE is not implemented", x)
        ctx.check(x.dtype != OBJ, "string tensors are not supported", x)
        ctx.set_output(0, x.shape, x.dtype)
        self.limit = np.array([d - u for d, u in zip(x.shape, upd.shape)], np.int64)
        self.upd_shape = upd.shape

    def invoke(self, ictx):
        x, upd, start, out = (*ictx.inputs, ictx.outputs[0])
        if x is not out:
            np.copyto(out, x)
        if upd.size == 0:
            return
        # LiteRT clamps each start index into [0, dim - update_dim].
        s = np.minimum(np.maximum(start.astype(np.int64), 0), self.limit).tolist()
        out[tuple(slice(b, b + n) for b, n in zip(s, self.upd_shape))] = upd
