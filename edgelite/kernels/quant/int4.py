"""Packed sub-byte weights (INT4, INT2) where LiteRT needs more than the int8 kernels.

edgelite holds a constant INT4/INT2 tensor unpacked, one int8 per value
(ir.Model.constant, format/packed.py), which is exactly what LiteRT's kernels
unpack it to before they compute (tensor_utils::UnpackPackedIntToInt8). So
DEQUANTIZE, FULLY_CONNECTED, CONV_2D (int8/int16/hybrid) and DEPTHWISE_CONV_2D
with INT4 weights run through the ordinary int8 kernels; only
EMBEDDING_LOOKUP reads the packed bytes itself, and does so with a quirk we
reproduce here.

EMBEDDING_LOOKUP with an INT4/INT2 table (LiteRT's EvalHybrid, op versions 4
and 5): out[i] = value * scale, where scale is the table's scale (or row
idx's scale when per-row), as float32 (then float16 for a float16 output).
LiteRT starts row idx at byte (idx * cols) / values_per_byte, rounded down,
and unpacks from that byte's low bits: when a row does not fill whole bytes
(odd cols for INT4, cols not a multiple of 4 for INT2) a row starting
mid-byte is read from the start of that byte instead, i.e. shifted to begin
with the previous row's last value(s). We read the same values.

This kernel extends the generic one (kernels/misc.py), which handles every
other table type; it takes over the EMBEDDING_LOOKUP registration because the
registry picks variants by input 0 (the int32 ids), not by the table.
"""
from __future__ import annotations

import numpy as np

from edgelite.format import ir
from edgelite.kernels.misc import EmbeddingLookup as _EmbeddingLookup
from edgelite.kernels.misc import _check_range
from edgelite.kernels.registry import register

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)
_PER_BYTE = {ir.TensorType.INT4: 2, ir.TensorType.INT2: 4}


@register("EMBEDDING_LOOKUP", versions=(1, 5))
class EmbeddingLookup(_EmbeddingLookup):
    def prepare(self, ctx):
        table = ctx.inputs[1] if len(ctx.inputs) > 1 else None
        self.packed = table is not None and table.type in _PER_BYTE
        if not self.packed:
            super().prepare(ctx)
            return
        ctx.check_arity(2, 1)
        ids, out = ctx.input(0), ctx.outputs[0]
        name = ir.TYPE_NAMES[table.type]
        ctx.check(len(ids.shape) == 1, f"lookup ids must be 1-D, have shape {list(ids.shape)}", ids)
        ctx.check_dtype(ids, np.int32, "lookup ids")
        ctx.check(len(table.shape) >= 2, "the table must have rank >= 2", table)
        q = table.quant
        if q is not None and q.details_type:
            raise ctx.error(f"blockwise-quantized {name} EMBEDDING_LOOKUP is not implemented",
                            table)
        ctx.check(out.dtype in (F32, F16), f"an {name} table is looked up into float32 or "
                  f"float16, the output has type {out.dtype}", out)
        ctx.check(table.data is not None, f"the {name} table must be constant", table)
        ctx.check(q is not None and q.scale.size > 0, f"an {name} table needs a scale", table)
        zp = np.asarray(q.zero_point).reshape(-1)
        ctx.check(zp.size == 0 or int(zp[0]) == 0,
                  f"an {name} table needs zero point 0, got {int(zp[0]) if zp.size else 0}",
                  table)
        rows = table.shape[0]
        cols = int(np.prod(table.shape[1:], dtype=np.int64))
        if q.scale.size > 1:
            ctx.check(q.quantized_dimension == 0 and q.scale.size == rows,
                      "per-row scales must run along dimension 0, one per row", table)
            ctx.check(zp.size in (0, 1, rows),
                      f"{zp.size} zero points for {rows} per-row scales", table)
            scales = q.scale.astype(F32).reshape(rows, 1)
        else:
            scales = np.full((rows, 1), q.scale[0], F32)
        # The values LiteRT reads for each row (see the module docstring).
        per_byte = _PER_BYTE[table.type]
        flat = np.asarray(table.data).reshape(-1)
        starts = (np.arange(rows, dtype=np.int64) * cols // per_byte) * per_byte
        values = flat[starts[:, None] + np.arange(cols, dtype=np.int64)[None, :]]
        self.table = (values.astype(F32) * scales).reshape(table.shape)
        self.rows = rows
        shape = (ids.shape[0],) + table.shape[1:]
        ctx.set_output(0, shape, out.dtype)
        self.tmp_id = ctx.request_scratch(shape, F32) if out.dtype == F16 else None

    def bind(self, ictx):
        if not self.packed:
            super().bind(ictx)
        elif self.tmp_id is not None:
            self.tmp = ictx.scratch[self.tmp_id]

    def invoke(self, ictx):
        if not self.packed:
            super().invoke(ictx)
            return
        ids, out = ictx.inputs[0], ictx.outputs[0]
        if out.size == 0:
            return
        _check_range(ictx, ids, self.rows, "embedding lookup id")
        if self.tmp_id is None:
            np.take(self.table, ids, axis=0, out=out, mode="clip")
        else:
            np.take(self.table, ids, axis=0, out=self.tmp, mode="clip")
            np.copyto(out, self.tmp, casting="unsafe")
