"""Lookup, hashing and random ops: HASHTABLE, HASHTABLE_FIND, HASHTABLE_IMPORT,
HASHTABLE_SIZE, HASHTABLE_LOOKUP, EMBEDDING_LOOKUP_SPARSE, LSH_PROJECTION,
SKIP_GRAM, RANDOM_UNIFORM, RANDOM_STANDARD_NORMAL, MULTINOMIAL.

Hash tables are interpreter-wide resources (like resource variables in
variables.py), keyed by the HASHTABLE node's table_id, shared by all
subgraphs and kept across invokes. A table is filled once: LiteRT ignores
every HASHTABLE_IMPORT after the first, and on duplicate keys the first
pair wins (std::unordered_map::insert).

The random ops reproduce LiteRT's numbers: TensorFlow's Philox4x32-10
counter-based generator, seeded with (seed, seed2), with its uint32 ->
float / uint64 -> double mantissa tricks and float Box-Muller. The generator
state lives in the node: it is (re)seeded when the node is prepared and
advances on every invoke. seed == seed2 == 0 means "nondeterministic", as
in LiteRT (seeds from the OS).

LSH_PROJECTION hashes with farmhash's Fingerprint64 (farmhashna::Hash64),
implemented here on numpy uint64 arrays, vectorized over all keys (every key
of one node has the same length).
"""
from __future__ import annotations

import os

import numpy as np

from edgelite.format import ir
from edgelite.format.strings import encode_strings
from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register
from edgelite.kernels.variables import _store as _variable_store

_OBJ = np.dtype(object)
_I32, _I64, _F32 = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float32)


# ============================================================ hash tables

class _Table:
    __slots__ = ("initialized", "key_type", "map", "sorted_keys", "sorted_values", "value_type")

    def __init__(self, key_type: int, value_type: int):
        self.key_type = key_type
        self.value_type = value_type
        self.map: dict = {}
        self.initialized = False
        self.sorted_keys = None        # int64 keys: sorted array for vectorized finds
        self.sorted_values = None


def _tables(runtime) -> dict:
    return runtime._resources.setdefault("__hashtables__", {})


_TYPE_NAME = {ir.TensorType.INT64: "int64", ir.TensorType.STRING: "string"}


def _pair_ok(key_type: int, value_type: int) -> bool:
    return (key_type, value_type) in ((ir.TensorType.INT64, ir.TensorType.STRING),
                                      (ir.TensorType.STRING, ir.TensorType.INT64))


def _pair_name(key_type: int, value_type: int) -> str:
    return (f"{ir.TYPE_NAMES.get(key_type, key_type)} -> "
            f"{ir.TYPE_NAMES.get(value_type, value_type)}")


def _check_handle(ctx, spec) -> None:
    ctx.check(spec.type == ir.TensorType.RESOURCE,
              f"the table handle must be a RESOURCE tensor, got "
              f"{ir.TYPE_NAMES.get(spec.type, spec.type)}", spec)
    ctx.check(spec.shape == (1,), f"the table handle must have shape [1], got {list(spec.shape)}",
              spec)


def _get_table(ictx, tables: dict, what: str) -> tuple[int, _Table]:
    rid = int(ictx.inputs[0].reshape(-1)[0])
    table = tables.get(rid)
    if table is None:
        raise ictx.error(f"{what}: no hash table with id {rid} (no HASHTABLE node created it)")
    return rid, table


def _check_types(ictx, rid: int, table: _Table, key_type: int, value_type: int) -> None:
    if (key_type, value_type) != (table.key_type, table.value_type):
        raise ictx.error(f"hash table {rid} maps {_pair_name(table.key_type, table.value_type)}, "
                         f"the node uses {_pair_name(key_type, value_type)}")


@register("HASHTABLE", versions=(1, 1))
class Hashtable(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(0, 1)
        o = ctx.options
        ctx.check(o is not None, "has no HashtableOptions")
        self.key_type, self.value_type = int(o.keyDtype), int(o.valueDtype)
        ctx.check(_pair_ok(self.key_type, self.value_type),
                  f"supports int64 -> string and string -> int64 tables, got "
                  f"{_pair_name(self.key_type, self.value_type)}")
        out = ctx.outputs[0]
        ctx.check(out.type == ir.TensorType.RESOURCE, "the output must be a RESOURCE tensor", out)
        self.table_id = int(o.tableId)
        self.tables = _tables(ctx.runtime.runtime)
        self.variables = _variable_store(ctx.runtime.runtime)["values"]
        ctx.set_output(0, (1,))

    def invoke(self, ictx):
        ictx.outputs[0][...] = self.table_id
        # LiteRT creates the table if the id is free and otherwise keeps the one there;
        # tables and resource variables share one id space.
        if self.table_id not in self.tables:
            if self.table_id in self.variables:
                raise ictx.error(f"table id {self.table_id} is already a resource variable")
            self.tables[self.table_id] = _Table(self.key_type, self.value_type)


@register("HASHTABLE_IMPORT", versions=(1, 1))
class HashtableImport(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(3, 0)
        _check_handle(ctx, ctx.input(0))
        keys, values = ctx.input(1), ctx.input(2)
        self.key_type, self.value_type = keys.type, values.type
        ctx.check(_pair_ok(keys.type, values.type),
                  f"supports int64 keys with string values and string keys with int64 values, "
                  f"got {_pair_name(keys.type, values.type)}", keys)
        ctx.check(keys.shape == values.shape, f"keys {list(keys.shape)} and values "
                  f"{list(values.shape)} must have the same shape", values)
        self.tables = _tables(ctx.runtime.runtime)

    def invoke(self, ictx):
        rid, table = _get_table(ictx, self.tables, "HASHTABLE_IMPORT")
        _check_types(ictx, rid, table, self.key_type, self.value_type)
        if table.initialized:          # LiteRT: later imports are ignored
            return
        keys = ictx.inputs[1].reshape(-1)
        values = ictx.inputs[2].reshape(-1)
        if self.key_type == ir.TensorType.INT64:
            # First occurrence of each key wins, like unordered_map::insert.
            uniq, first = np.unique(keys, return_index=True)
            table.sorted_keys = uniq.astype(np.int64)
            table.sorted_values = np.array(values[first], dtype=object)
            table.map = dict(zip(uniq.tolist(), table.sorted_values.tolist()))
        else:
            m: dict = {}
            for k, v in zip(keys.tolist(), values.tolist()):
                m.setdefault(bytes(k), int(v))
            table.map = m
        table.initialized = True


@register("HASHTABLE_FIND", versions=(1, 1))
class HashtableFind(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(3, 1)
        _check_handle(ctx, ctx.input(0))
        keys, default, out = ctx.input(1), ctx.input(2), ctx.outputs[0]
        ctx.check(default.type == out.type, f"default value type "
                  f"{ir.TYPE_NAMES.get(default.type)} differs from the output type "
                  f"{ir.TYPE_NAMES.get(out.type)}", default)
        ctx.check(_pair_ok(keys.type, out.type),
                  f"supports int64 keys with string values and string keys with int64 values, "
                  f"got {_pair_name(keys.type, out.type)}", keys)
        ctx.check(default.size >= 1, "the default value tensor is empty", default)
        self.key_type, self.value_type = keys.type, out.type
        self.tables = _tables(ctx.runtime.runtime)
        ctx.set_output(0, keys.shape)

    def invoke(self, ictx):
        rid, table = _get_table(ictx, self.tables, "HASHTABLE_FIND")
        _check_types(ictx, rid, table, self.key_type, self.value_type)
        if not table.initialized:
            raise ictx.error(f"hash table {rid} is used before HASHTABLE_IMPORT initialized it")
        keys = ictx.inputs[1]
        default = ictx.inputs[2].reshape(-1)[0]
        out = ictx.outputs[0]
        if keys.size == 0:
            return
        if self.key_type == ir.TensorType.INT64:
            sk = table.sorted_keys
            if sk.size == 0:
                out[...] = default
                return
            pos = np.searchsorted(sk, keys)
            np.minimum(pos, sk.size - 1, out=pos)
            hit = sk[pos] == keys
            res = table.sorted_values[pos]
            res[~hit] = default
            out[...] = res
        else:
            m = table.map
            d = int(default)
            flat = [m.get(bytes(k), d) for k in keys.reshape(-1).tolist()]
            out[...] = np.asarray(flat, dtype=np.int64).reshape(out.shape)


@register("HASHTABLE_SIZE", versions=(1, 1))
class HashtableSize(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        _check_handle(ctx, ctx.input(0))
        ctx.check_dtype(ctx.outputs[0], _I64, "output")
        self.tables = _tables(ctx.runtime.runtime)
        ctx.set_output(0, (1,))

    def invoke(self, ictx):
        _, table = _get_table(ictx, self.tables, "HASHTABLE_SIZE")
        ictx.outputs[0][0] = len(table.map)


# ============================================================ HASHTABLE_LOOKUP

@register("HASHTABLE_LOOKUP", versions=(1, 1))
class HashtableLookup(Kernel):
    """The old 3-input op: binary search of sorted int32 keys, values copied row by
    row (zeros / empty string and hit 0 where a key is missing)."""

    def prepare(self, ctx):
        ctx.check_arity(3, 2)
        lookup, key, value = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check(len(lookup.shape) == 1, "lookups must be 1-D", lookup)
        ctx.check_dtype(lookup, _I32, "lookups")
        ctx.check(len(key.shape) == 1, "keys must be 1-D", key)
        ctx.check_dtype(key, _I32, "keys")
        ctx.check(len(value.shape) >= 1, "values must have at least 1 dimension", value)
        ctx.check(key.shape[0] == value.shape[0], f"{key.shape[0]} keys but {value.shape[0]} "
                  f"value rows", value)
        self.string = value.type == ir.TensorType.STRING
        if self.string:
            ctx.check(len(value.shape) == 1, "string values must be 1-D", value)
        out, hits = ctx.outputs
        ctx.check(hits.dtype == np.uint8, f"the hits output has type {hits.dtype}, expected uint8",
                  hits)
        ctx.check(out.type == value.type, "the output type differs from the values type", out)
        n = lookup.shape[0]
        ctx.set_output(0, (n,) + tuple(value.shape[1:]))
        ctx.set_output(1, (n,))
        self.num_rows = key.shape[0]
        self.steps = max(1, int(self.num_rows).bit_length())

    def invoke(self, ictx):
        lookup, key, value = ictx.inputs
        out, hits = ictx.outputs
        n = self.num_rows
        if n == 0:
            raise ictx.error("the hash table has no rows")
        # glibc's bsearch (same probes, so the same match among duplicate keys). The
        # kernel's comparator is the int32 difference, but LiteRT's build compares as if
        # it did not wrap (measured: key -2^31 is found among keys up to 2^31 - 1).
        q = lookup.astype(np.int64)
        keys = key.astype(np.int64)
        lo = np.zeros(q.shape, np.int64)
        hi = np.full(q.shape, n, np.int64)
        found = np.full(q.shape, -1, np.int64)
        for _ in range(self.steps + 1):
            active = (lo < hi) & (found < 0)
            if not active.any():
                break
            mid = (lo + hi) >> 1
            diff = q - keys[np.minimum(mid, n - 1)]
            hit = active & (diff == 0)
            found[hit] = mid[hit]
            hi = np.where(active & (diff < 0), mid, hi)
            lo = np.where(active & (diff > 0), mid + 1, lo)
        ok = found >= 0
        hits[...] = ok
        idx = np.where(ok, found, 0)
        if self.string:
            res = value[idx]
            res[~ok] = b""
            out[...] = res
        else:
            rows = value[idx]
            rows[~ok] = 0
            out[...] = rows


# ============================================================ EMBEDDING_LOOKUP_SPARSE

_COMBINER_SUM, _COMBINER_MEAN, _COMBINER_SQRTN = 0, 1, 2


@register("EMBEDDING_LOOKUP_SPARSE", versions=(1, 1))
class EmbeddingLookupSparse(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(5, 1)
        ids, indices, shape, weights, value = (ctx.input(i) for i in range(5))
        ctx.check(len(ids.shape) == 1, "ids must be 1-D", ids)
        ctx.check_dtype(ids, _I32, "ids")
        ctx.check(len(indices.shape) == 2, "indices must be 2-D", indices)
        ctx.check_dtype(indices, _I32, "indices")
        ctx.check(len(shape.shape) == 1, "dense_shape must be 1-D", shape)
        ctx.check_dtype(shape, _I32, "dense_shape")
        ctx.check(len(weights.shape) == 1, "weights must be 1-D", weights)
        ctx.check_dtype(weights, _F32, "weights")
        ctx.check(indices.shape[0] == ids.shape[0], f"{indices.shape[0]} index rows for "
                  f"{ids.shape[0]} ids", indices)
        ctx.check(weights.shape[0] == ids.shape[0], f"{weights.shape[0]} weights for "
                  f"{ids.shape[0]} ids", weights)
        ctx.check(len(value.shape) >= 2, "params must have at least 2 dimensions", value)
        ctx.check_dtype(value, _F32, "params")
        ctx.check_dtype(ctx.outputs[0], _F32, "output")
        ctx.check(shape.shape[0] == indices.shape[1], f"dense_shape has {shape.shape[0]} entries, "
                  f"indices rows have {indices.shape[1]}", shape)
        o = ctx.options
        self.combiner = int(o.combiner) if o is not None else _COMBINER_SUM
        self.rank = indices.shape[1]
        self.emb_shape = tuple(value.shape[1:])
        self.emb = int(np.prod(self.emb_shape, dtype=np.int64))
        self.num_rows = value.shape[0]
        ctx.set_output_dynamic(0)

    def invoke(self, ictx):
        ids, indices, dense_shape, weights, value = ictx.inputs
        n, emb = ids.shape[0], self.emb
        lead = [int(d) for d in dense_shape[: self.rank - 1]]
        if any(d < 0 for d in lead):
            raise ictx.error(f"dense_shape {dense_shape.tolist()} has a negative dimension")
        out = ictx.resize_output(0, tuple(lead) + self.emb_shape)
        out.fill(0)
        if n == 0:
            return
        if ((ids < 0) | (ids >= self.num_rows)).any():
            bad = int(ids[(ids < 0) | (ids >= self.num_rows)][0])
            raise ictx.error(f"index out of bounds: id {bad}, bounds are [0, {self.num_rows - 1}]")
        out_rows = int(np.prod(lead, dtype=np.int64))
        flat = out.reshape(out_rows, emb)
        # Output row of each lookup: row-major over the first rank-1 index columns
        # (the last column is ignored, as in LiteRT).
        bucket = np.zeros(n, np.int64)
        stride = 1
        for k in range(self.rank - 2, -1, -1):
            bucket += indices[:, k].astype(np.int64) * stride
            stride *= lead[k]
        w = weights.astype(np.float32)
        contrib = value.reshape(self.num_rows, emb)[ids] * w[:, None]
        # LiteRT aggregates runs of equal consecutive buckets and finalizes (divides)
        # a run when the bucket changes; rows outside the output are skipped.
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        run_bucket = bucket[starts]
        valid = (bucket >= 0) & (bucket < out_rows)
        if np.unique(run_bucket).size == run_bucket.size:
            np.add.at(flat, bucket[valid], contrib[valid])
            if self.combiner != _COMBINER_SUM:
                self._finalize_runs(flat, bucket, w, starts, run_bucket, out_rows)
        else:
            ends = np.r_[starts[1:], n]
            for s, e, b in zip(starts.tolist(), ends.tolist(), run_bucket.tolist()):
                if not 0 <= b < out_rows:
                    continue
                np.add.at(flat, np.full(e - s, b), contrib[s:e])
                if self.combiner != _COMBINER_SUM:
                    flat[b] /= self._multiplier(w[s:e])

    def _multiplier(self, w: np.ndarray) -> np.float32:
        if self.combiner == _COMBINER_MEAN:
            return np.add.accumulate(w, dtype=np.float32)[-1]
        return np.sqrt(np.add.accumulate(w * w, dtype=np.float32)[-1])

    def _finalize_runs(self, flat, bucket, w, starts, run_bucket, out_rows):
        run_id = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, bucket.size]))
        acc = np.zeros(starts.size, np.float32)
        np.add.at(acc, run_id, w if self.combiner == _COMBINER_MEAN else w * w)
        if self.combiner == _COMBINER_SQRTN:
            acc = np.sqrt(acc)
        ok = (run_bucket >= 0) & (run_bucket < out_rows)
        flat[run_bucket[ok]] /= acc[ok][:, None]


# ============================================================ Philox and distributions

_M32 = 0xFFFFFFFF
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)


class Philox:
    """TensorFlow's PhiloxRandom (4x32, 10 rounds): a 128-bit counter and a 64-bit key."""

    def __init__(self, seed: int, seed2: int):
        seed &= (1 << 64) - 1
        seed2 &= (1 << 64) - 1
        self.key = (seed & _M32, seed >> 32)
        self.counter = seed2 << 64          # counter words 2, 3 from seed2; 0, 1 start at 0

    def skip(self, count: int) -> None:
        self.counter = (self.counter + count) & ((1 << 128) - 1)

    def blocks(self, n: int) -> np.ndarray:
        """The next n outputs of the generator, [n, 4] uint32; advances the counter."""
        if n == 0:
            return np.zeros((0, 4), np.uint32)
        base = self.counter
        lo = np.uint64(base & ((1 << 64) - 1)) + np.arange(n, dtype=np.uint64)
        carry = (lo < np.uint64(base & ((1 << 64) - 1))).astype(np.uint64)
        hi = np.uint64(base >> 64) + carry
        self.skip(n)
        mask = np.uint64(_M32)
        s32 = np.uint64(32)
        c = [lo & mask, lo >> s32, hi & mask, hi >> s32]
        k0, k1 = self.key
        for r in range(10):
            p0 = _PHILOX_M[0] * c[0]
            p1 = _PHILOX_M[1] * c[2]
            c = [(p1 >> s32) ^ c[1] ^ np.uint64(k0), p1 & mask,
                 (p0 >> s32) ^ c[3] ^ np.uint64(k1), p0 & mask]
            if r < 9:
                k0 = (k0 + _PHILOX_W[0]) & _M32
                k1 = (k1 + _PHILOX_W[1]) & _M32
        return np.stack(c, axis=1).astype(np.uint32)

    def uint32s(self, count: int) -> np.ndarray:
        """ceil(count/4) generator outputs flattened (the unused tail is discarded)."""
        return self.blocks(-(-count // 4)).reshape(-1)


def uint32_to_float(x: np.ndarray) -> np.ndarray:
    """[0, 1) float32 from the low 23 bits (the mantissa of a float in [1, 2), minus 1)."""
    return ((x & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)


def uint64_to_double(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    man = ((x0.astype(np.uint64) & np.uint64(0xFFFFF)) << np.uint64(32)) | x1.astype(np.uint64)
    return (man | np.uint64(1023 << 52)).view(np.float64) - 1.0


def box_muller(x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TF's BoxMullerFloat in float32 (logf/sqrtf/sincosf evaluated in double and
    rounded, which is what glibc's float functions return)."""
    u1 = np.maximum(uint32_to_float(x0), np.float32(1.0e-7))
    v1 = (2.0 * np.pi * uint32_to_float(x1).astype(np.float64)).astype(np.float32)
    lg = np.log(u1.astype(np.float64)).astype(np.float32)
    u2 = np.sqrt((np.float32(-2.0) * lg).astype(np.float64)).astype(np.float32)
    v = v1.astype(np.float64)
    s = np.sin(v).astype(np.float32)
    c = np.cos(v).astype(np.float32)
    return s * u2, c * u2


def _to_int32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def _seeds(options) -> tuple[int, int]:
    # The options hold int64 seeds, but LiteRT's TfLiteRandomParams fields are `int`:
    # the seeds are truncated to 32 bits, then sign-extended into Philox's 64-bit seeds.
    seed = _to_int32(int(options.seed)) if options is not None else 0
    seed2 = _to_int32(int(options.seed2)) if options is not None else 0
    if seed == 0 and seed2 == 0:
        seed = int.from_bytes(os.urandom(8), "little")
        seed2 = int.from_bytes(os.urandom(8), "little")
    return seed, seed2


class _RandomFill(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        shape = ctx.input(0)
        ctx.check_dtype(shape, _I32, "shape")
        ctx.check(len(shape.shape) == 1, f"shape must be 1-D, got {list(shape.shape)}", shape)
        out = ctx.outputs[0]
        ctx.check(out.dtype == _F32, f"unsupported output type {out.dtype} (float32 only)", out)
        self.rng = Philox(*_seeds(ctx.options))
        self.static = shape.is_const
        if self.static:
            dims = [int(d) for d in shape.data.reshape(-1)]
            ctx.check(all(d >= 0 for d in dims), f"negative output dimension in {dims}", shape)
            ctx.set_output(0, dims)
        else:
            ctx.set_output_dynamic(0)

    def invoke(self, ictx):
        if self.static:
            out = ictx.outputs[0]
        else:
            dims = [int(d) for d in ictx.inputs[0].reshape(-1)]
            if any(d < 0 for d in dims):
                raise ictx.error(f"negative output dimension in {dims}")
            out = ictx.resize_output(0, dims)
        out.reshape(-1)[...] = self.generate(out.size)


@register("RANDOM_UNIFORM", versions=(1, 1))
class RandomUniform(_RandomFill):
    def generate(self, n: int) -> np.ndarray:
        return uint32_to_float(self.rng.uint32s(n))[:n]


@register("RANDOM_STANDARD_NORMAL", versions=(1, 1))
class RandomStandardNormal(_RandomFill):
    def generate(self, n: int) -> np.ndarray:
        u = self.rng.uint32s(n)
        f0, f1 = box_muller(u[0::2], u[1::2])
        res = np.empty(u.size, np.float32)
        res[0::2], res[1::2] = f0, f1
        return res[:n]


@register("MULTINOMIAL", versions=(1, 1))
class Multinomial(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(2, 1)
        logits, num = ctx.input(0), ctx.input(1)
        ctx.check_dtype(logits, _F32, "logits")
        ctx.check_dtype(num, _I32, "num_samples")
        out = ctx.outputs[0]
        ctx.check(out.dtype in (_I32, _I64), f"unsupported output type {out.dtype} "
                  f"(int32 or int64)", out)
        self.rng = Philox(*_seeds(ctx.options))
        self.static = logits.is_const and num.is_const
        ctx.check(len(logits.shape) == 2, f"logits must be 2-D, got {list(logits.shape)}", logits)
        ctx.check(logits.shape[1] > 0, "logits have no classes", logits)
        ctx.check(len(num.shape) == 0, f"num_samples must be a scalar, got shape "
                  f"{list(num.shape)}", num)
        if self.static:
            ns = int(num.data.reshape(-1)[0])
            ctx.check(ns >= 0, f"num_samples is negative ({ns})", num)
            ctx.set_output(0, (logits.shape[0], ns))
        else:
            ctx.set_output_dynamic(0)

    def invoke(self, ictx):
        logits, num = ictx.inputs
        batch = logits.shape[0]
        ns = int(num.reshape(-1)[0])
        if ns < 0:
            raise ictx.error(f"num_samples is negative ({ns})")
        out = ictx.outputs[0] if self.static else ictx.resize_output(0, (batch, ns))
        rng = self.rng
        draw = Philox(0, 0)
        draw.key, draw.counter = rng.key, rng.counter
        rng.skip(batch * ((ns + 3) // 4 * 4) * 2 * 256)
        if batch * ns == 0:
            return
        u = draw.uint32s(2 * batch * ns)
        r = uint64_to_double(u[0: 2 * batch * ns: 2], u[1: 2 * batch * ns: 2]).reshape(batch, ns)
        lg = logits.astype(np.float64)
        finite = np.isfinite(lg)
        mx = np.where(finite, lg, -np.inf).max(axis=1, keepdims=True)
        mx = np.where(np.isfinite(mx), mx, float(np.finfo(np.float32).min))
        with np.errstate(all="ignore"):
            terms = np.where(finite, np.exp(lg - mx), 0.0)
        cdf = np.cumsum(terms, axis=1)
        to_find = r * cdf[:, -1:]
        for b in range(batch):
            out[b] = np.searchsorted(cdf[b], to_find[b], side="right")


# ============================================================ farmhash Fingerprint64

_U64 = np.uint64
_K0, _K1, _K2 = _U64(0xC3A5C85C97CB3127), _U64(0xB492B66FBE98F273), _U64(0x9AE16A3B2F90404F)


def _rot(v, s: int):
    return (v >> _U64(s)) | (v << _U64(64 - s)) if s else v


def _shift_mix(v):
    return v ^ (v >> _U64(47))


def _hash_len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> _U64(47)
    b = (v ^ a) * mul
    b ^= b >> _U64(47)
    return b * mul


def _fetch64(b: np.ndarray, off: int):
    return np.ascontiguousarray(b[:, off: off + 8]).view("<u8")[:, 0]


def _fetch32(b: np.ndarray, off: int):
    return np.ascontiguousarray(b[:, off: off + 4]).view("<u4")[:, 0].astype(np.uint64)


def _weak32(b, off, a, c):
    w, x, y, z = (_fetch64(b, off + 8 * i) for i in range(4))
    a = a + w
    c = _rot(c + a + z, 21)
    t = a
    a = a + x
    a = a + y
    c = c + _rot(a, 44)
    return a + z, c + t


def fingerprint64(keys: np.ndarray) -> np.ndarray:
    """farmhash Fingerprint64 (farmhashna::Hash64) of each row of a [M, L] uint8 array."""
    keys = np.ascontiguousarray(keys, np.uint8)
    m, n = keys.shape
    ln = _U64(n)
    if n <= 16:
        if n >= 8:
            mul = _K2 + ln * _U64(2)
            a = _fetch64(keys, 0) + _K2
            b = _fetch64(keys, n - 8)
            c = _rot(b, 37) * mul + a
            d = (_rot(a, 25) + b) * mul
            return _hash_len16(c, d, mul)
        if n >= 4:
            mul = _K2 + ln * _U64(2)
            a = _fetch32(keys, 0)
            return _hash_len16(ln + (a << _U64(3)), _fetch32(keys, n - 4), mul)
        if n > 0:
            a = keys[:, 0].astype(np.uint64)
            b = keys[:, n >> 1].astype(np.uint64)
            c = keys[:, n - 1].astype(np.uint64)
            y = a + (b << _U64(8))
            z = ln + (c << _U64(2))
            return _shift_mix(y * _K2 ^ z * _K0) * _K2
        return np.full(m, _K2, np.uint64)
    if n <= 32:
        mul = _K2 + ln * _U64(2)
        a = _fetch64(keys, 0) * _K1
        b = _fetch64(keys, 8)
        c = _fetch64(keys, n - 8) * mul
        d = _fetch64(keys, n - 16) * _K2
        return _hash_len16(_rot(a + b, 43) + _rot(c, 30) + d, a + _rot(b + _K2, 18) + c, mul)
    if n <= 64:
        mul = _K2 + ln * _U64(2)
        a = _fetch64(keys, 0) * _K2
        b = _fetch64(keys, 8)
        c = _fetch64(keys, n - 8) * mul
        d = _fetch64(keys, n - 16) * _K2
        y = _rot(a + b, 43) + _rot(c, 30) + d
        z = _hash_len16(y, a + _rot(b + _K2, 18) + c, mul)
        e = _fetch64(keys, 16) * mul
        f = _fetch64(keys, 24)
        g = (y + _fetch64(keys, n - 32)) * mul
        h = (z + _fetch64(keys, n - 24)) * mul
        return _hash_len16(_rot(e + f, 43) + _rot(g, 30) + h, e + _rot(f + a, 18) + g, mul)
    seed = _U64(81)
    zero = np.zeros(m, np.uint64)
    x = np.full(m, seed, np.uint64)
    y = np.full(m, seed * _K1 + _U64(113), np.uint64)
    z = _shift_mix(y * _K2 + _U64(113)) * _K2
    v0, v1, w0, w1 = zero, zero, zero, zero
    x = x * _K2 + _fetch64(keys, 0)
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    s = 0
    while True:
        x = _rot(x + y + v0 + _fetch64(keys, s + 8), 37) * _K1
        y = _rot(y + v1 + _fetch64(keys, s + 48), 42) * _K1
        x ^= w1
        y = y + v0 + _fetch64(keys, s + 40)
        z = _rot(z + w0, 33) * _K1
        v0, v1 = _weak32(keys, s, v1 * _K1, x + w0)
        w0, w1 = _weak32(keys, s + 32, z + w1, y + _fetch64(keys, s + 16))
        z, x = x, z
        s += 64
        if s == end:
            break
    mul = _K1 + ((z & _U64(0xFF)) << _U64(1))
    s = last64
    w0 = w0 + _U64((n - 1) & 63)
    v0 = v0 + w0
    w0 = w0 + v0
    x = _rot(x + y + v0 + _fetch64(keys, s + 8), 37) * mul
    y = _rot(y + v1 + _fetch64(keys, s + 48), 42) * mul
    x ^= w1 * _U64(9)
    y = y + v0 * _U64(9) + _fetch64(keys, s + 40)
    z = _rot(z + w0, 33) * mul
    v0, v1 = _weak32(keys, s, v1 * mul, x + w0)
    w0, w1 = _weak32(keys, s + 32, z + w1, y + _fetch64(keys, s + 16))
    z, x = x, z
    return _hash_len16(_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z,
                       _hash_len16(v1, w1, mul) + x, mul)


# ============================================================ LSH_PROJECTION

_LSH_SPARSE, _LSH_DENSE = 1, 2


@register("LSH_PROJECTION", versions=(1, 1))
class LshProjection(Kernel):
    def prepare(self, ctx):
        ctx.check_arity((2, 3), 1)
        o = ctx.options
        self.kind = int(o.type) if o is not None else 0
        ctx.check(self.kind in (_LSH_SPARSE, _LSH_DENSE),
                  f"projection type {self.kind} is neither SPARSE (1) nor DENSE (2)")
        hash_, inp = ctx.input(0), ctx.input(1)
        ctx.check(len(hash_.shape) == 2, f"hash functions must be 2-D, got {list(hash_.shape)}",
                  hash_)
        ctx.check_dtype(hash_, _F32, "hash functions")
        ctx.check(hash_.shape[1] <= 32, f"at most 32 bits per hash function, got "
                  f"{hash_.shape[1]}", hash_)
        ctx.check(len(inp.shape) >= 1 and inp.shape[0] >= 1,
                  f"input must have at least one row, got shape {list(inp.shape)}", inp)
        self.weighted = len(ctx.inputs) == 3
        if self.weighted:
            w = ctx.input(2)        # a third input marked omitted fails in LiteRT too
            ctx.check(len(w.shape) == 1, "weights must be 1-D", w)
            ctx.check_dtype(w, _F32, "weights")
            ctx.check(w.shape[0] == inp.shape[0], f"{w.shape[0]} weights for {inp.shape[0]} "
                      f"input rows", w)
        ctx.check_dtype(ctx.outputs[0], _I32, "output")
        self.num_hash, self.num_bits = hash_.shape
        self.string = inp.type == ir.TensorType.STRING
        n = self.num_hash * (self.num_bits if self.kind == _LSH_DENSE else 1)
        ctx.set_output(0, (n,))

    def _items(self, inp: np.ndarray) -> np.ndarray:
        """[rows, item_bytes] uint8: LiteRT splits the tensor's raw bytes evenly by the
        first dimension (for strings, the serialized buffer, header included)."""
        rows = inp.shape[0]
        if self.string:
            raw = np.frombuffer(encode_strings(inp), np.uint8)
        else:
            raw = np.ascontiguousarray(inp).reshape(-1).view(np.uint8)
        item = raw.size // rows
        return raw[: rows * item].reshape(rows, item)

    def invoke(self, ictx):
        seeds = ictx.inputs[0].astype(np.float32).reshape(-1)
        items = self._items(ictx.inputs[1])
        rows, item = items.shape
        nseeds = seeds.size
        keys = np.empty((nseeds, rows, 4 + item), np.uint8)
        keys[:, :, :4] = seeds.view(np.uint8).reshape(nseeds, 1, 4)
        keys[:, :, 4:] = items[None]
        h = fingerprint64(keys.reshape(nseeds * rows, 4 + item)).view(np.int64)
        vals = h.astype(np.float64).reshape(nseeds, rows)
        if self.weighted:
            vals = vals * ictx.inputs[2].astype(np.float64)[None, :]
        # Sequential double sum per seed, as the kernel's loop (cumsum is sequential).
        score = np.cumsum(vals, axis=1)[:, -1]
        bits = (score > 0).astype(np.int64)
        out = ictx.outputs[0]
        if self.kind == _LSH_DENSE:
            out[...] = bits
            return
        nb = self.num_bits
        b = bits.reshape(self.num_hash, nb)
        sig = np.zeros(self.num_hash, np.int64)
        for j in range(nb):
            sig = (sig << 1) | b[:, j]
        # int32 arithmetic as in the kernel (wrapping); 1 << num_bits is computed in int,
        # where x86 masks a shift count of 32 to 0.
        offset = 1 << (nb & 31)
        sig = sig + np.arange(self.num_hash, dtype=np.int64) * offset
        out[...] = ((sig + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


# ============================================================ SKIP_GRAM

_C_SPACE = frozenset(b" \t\n\v\f\r")


def _split_words(s: bytes) -> list[bytes]:
    """The kernel's tokenizer, quirks included: scanning starts at the second byte,
    and a token whose first byte is a space is dropped."""
    words, prev = [], 0
    for i in range(1, len(s)):
        if s[i] in _C_SPACE:
            if i > prev and s[prev] not in _C_SPACE:
                words.append(s[prev:i])
            prev = i + 1
    if len(s) > prev:
        words.append(s[prev:])
    return words


def skip_grams(sentence: bytes, ngram_size: int, max_skip: int, include_all: bool) -> list[bytes]:
    words = _split_words(sentence)
    num = len(words)
    # ngram_size < 0: LiteRT compares the word count with it as size_t (huge): no n-grams.
    if ngram_size <= 0 or num < ngram_size:
        return []
    grams = []
    stack = [0] * ngram_size
    idx = 1
    while idx >= 0:
        step = idx < ngram_size and stack[idx] + 1 < num and (
            idx == 0 or stack[idx] - stack[idx - 1] <= max_skip)
        if step:
            stack[idx] += 1
            idx += 1
            if idx < ngram_size:
                stack[idx] = stack[idx - 1]
        else:
            if idx > 0 and (idx <= ngram_size if include_all else idx == ngram_size):
                grams.append(b" ".join(words[stack[i]] for i in range(idx)))
            idx -= 1
    return grams


@register("SKIP_GRAM", versions=(1, 1))
class SkipGram(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        inp, out = ctx.input(0), ctx.outputs[0]
        ctx.check(inp.type == ir.TensorType.STRING, "input must be a string tensor", inp)
        ctx.check(out.type == ir.TensorType.STRING, "output must be a string tensor", out)
        o = ctx.options
        self.ngram = int(o.ngramSize) if o is not None else 0
        self.max_skip = int(o.maxSkipSize) if o is not None else 0
        self.include_all = bool(o.includeAllNgrams) if o is not None else False
        ctx.check(inp.size >= 1, "the input holds no string", inp)
        ctx.set_output_dynamic(0)

    def invoke(self, ictx):
        inp = ictx.inputs[0]
        if inp.size == 0:
            raise ictx.error("the input holds no string")
        grams = skip_grams(bytes(inp.reshape(-1)[0]), self.ngram, self.max_skip,
                           self.include_all)
        out = ictx.resize_output(0, (len(grams),))
        for i, g in enumerate(grams):
            out[i] = g
