"""Quantized CONCATENATION: inputs whose quantization differs from the output's.

LiteRT requantizes only uint8 CONCATENATION (reference_ops::ConcatenationWithScaling):
an input with the output's scale and zero point is copied; another one maps every
value q to round(q * scale + bias) + output zero point, clamped to [0, 255], in float32
with scale = input_scale * (1 / output_scale) and bias = -input_zero_point * scale.
A uint8 input has 256 values, so prepare builds that map as a table per input and
invoke is one `np.take` per input into its slice of the output.

int8 CONCATENATION and PACK of any type refuse differing quantization in LiteRT's
prepare (there is no reference result to match), and so do we, with the reason. Nodes
whose quantization agrees take the generic kernels of kernels/shape.py unchanged.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import ActivationFunctionType
from edgelite.kernels.quant.fixedpoint import round_half_away_f32
from edgelite.kernels.registry import register
from edgelite.kernels.shape import (
    Concatenation,
    _norm_axis,
    _same_quant,
    _shape_str,
    _split_slices,
)

U8 = np.dtype(np.uint8)


def requantize_table_u8(in_scale: float, in_zp: int, out_scale: float,
                        out_zp: int) -> np.ndarray:
    """ConcatenationWithScaling's per-value map for one uint8 input (float32 maths)."""
    f = np.float32
    scale = f(f(in_scale) * f(f(1.0) / f(out_scale)))
    bias = f(f(-in_zp) * scale)
    q = np.arange(256, dtype=np.float32)
    r = round_half_away_f32(((q * scale).astype(np.float32) + bias).astype(np.float32))
    return np.clip(r.astype(np.int64) + out_zp, 0, 255).astype(np.uint8)


@register("CONCATENATION", versions=(1, 7), variant="quantized")
class QuantConcatenation(Concatenation):
    """The generic kernel when every input has the output's quantization, uint8
    requantization (per-input tables) otherwise."""

    def prepare(self, ctx):
        ins = [ctx.input(i) for i in range(len(ctx.inputs))]
        out = ctx.outputs[0] if ctx.outputs else None
        self.tables = None
        if (not ins or out is None or out.dtype != U8 or any(t.dtype != U8 for t in ins)
                or len(ins[0].shape) == 0 or all(_same_quant(t, out) for t in ins)):
            if ins and out is not None and ins[0].dtype == np.int8:
                for t in ins:
                    if not _same_quant(t, out):
                        raise ctx.error(
                            f"input tensor {t.index} {t.name!r} has quantization (scale "
                            f"{t.scale:g}, zero point {t.zero_point}) but the output has "
                            f"(scale {out.scale:g}, zero point {out.zero_point}); requantizing "
                            f"int8 CONCATENATION is not supported (LiteRT's int8 kernel "
                            f"refuses it; only uint8 requantizes)", t)
            super().prepare(ctx)
            return
        self._prepare_requantize(ctx, ins, out)

    def _prepare_requantize(self, ctx, ins, out):
        act = int(getattr(ctx.options, "fusedActivationFunction", 0) or 0) \
            if ctx.options is not None else 0
        if act != ActivationFunctionType.NONE:
            raise ctx.error(f"fused activation {act} is not supported on CONCATENATION "
                            f"(LiteRT's kernel requires NONE)")
        t0 = ins[0]
        rank = len(t0.shape)
        axis = _norm_axis(ctx.error, int(getattr(ctx.options, "axis", 0) or 0), rank)
        shape = list(t0.shape)
        for i, t in enumerate(ins):
            if len(t.shape) != rank:
                raise ctx.error(f"input {i} has rank {len(t.shape)} (shape "
                                f"{_shape_str(t.shape)}), input 0 has rank {rank}", t)
            for d in range(rank):
                if d != axis and t.shape[d] != t0.shape[d]:
                    raise ctx.error(f"input {i} has shape {_shape_str(t.shape)}, which differs "
                                    f"from input 0's {_shape_str(t0.shape)} in dimension {d} "
                                    f"(concatenating on axis {axis})", t)
        for t in ins + [out]:
            ctx.check(t.quant is not None and t.quant.scale is not None
                      and t.quant.scale.size > 0, "uint8 tensors must be quantized", t)
        shape[axis] = sum(t.shape[axis] for t in ins)
        ctx.set_output(0, shape)
        self.scalars = False
        self.axis = axis
        self.sizes = [t.shape[axis] for t in ins]
        self.slices = _split_slices(axis, self.sizes)
        so, zo = float(np.float32(out.scale)), out.zero_point
        self.tables = [None if _same_quant(t, out) else
                       requantize_table_u8(float(np.float32(t.scale)), t.zero_point, so, zo)
                       for t in ins]

    def invoke(self, ictx):
        if self.tables is None:
            super().invoke(ictx)
            return
        out = ictx.outputs[0]
        for sl, x, table in zip(self.slices, ictx.inputs, self.tables):
            if table is None:
                np.copyto(out[sl], x)
            else:
                np.take(table, x, out=out[sl], mode="clip")
