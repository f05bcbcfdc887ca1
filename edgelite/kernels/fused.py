"""Kernels for chains of builtin ops that the runtime fuses (runtime/fusion.py).

They are not registered for any operator code: the executor creates them when
it recognizes a chain in a prepared graph. Inputs and outputs are the chain's
(constants included); the contract is Kernel's (prepare / bind / invoke).

- `LayerNorm`: TensorFlow's lowered LayerNormalization (MEAN, SQUARED_DIFFERENCE,
  MEAN, ADD eps, RSQRT, MUL gamma, MUL, MUL, SUB from beta, ADD) over the last
  axis: y = (x - mean) * (gamma / sqrt(var + eps)) + beta. The unfused chain
  computes x * g + (beta - mean * g) with g = gamma / sqrt(var + eps); the two
  are equal in exact arithmetic and agree within float32 rounding (the fused
  form is the more accurate one: no cancellation between x * g and mean * g).
  numpy tier: 10 numpy calls over [rows, C] instead of ~25; compiled tier: one
  numba pass per row (compiled_ops.layer_norm_f32).
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.activations import compiled_ops_for
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext

F32 = np.dtype(np.float32)


class LayerNorm(Kernel):
    op_name = "LAYER_NORM"
    TILED = 1 << 16       # gamma and beta tiled to [rows, C] up to this many values

    def __init__(self, epsilon: float):
        self.eps = np.float32(epsilon)

    def prepare(self, ctx: PrepareContext) -> None:
        x, gamma, beta = ctx.inputs
        c = x.shape[-1]
        self.c, self.rows = c, x.size // c
        self.gamma = np.ascontiguousarray(np.asarray(gamma.data, F32).reshape(c))
        self.beta = np.ascontiguousarray(np.asarray(beta.data, F32).reshape(c))
        compiled_ops = compiled_ops_for(x.size)
        self.compiled = compiled_ops.layer_norm_f32 if compiled_ops is not None else None
        if self.compiled is None:
            ctx.request_scratch((self.rows, c), F32)     # x - mean
            ctx.request_scratch((self.rows, 1), F32)     # mean
            ctx.request_scratch((self.rows, 1), F32)     # var, then 1 / std
            # The row means as one GEMV with a column of 1 / C (a row reduction over
            # short rows is numpy's slow case: ~1.3 us for 16 x 32, against ~0.95); gamma
            # and beta tiled to [rows, C] when small, so their passes run without
            # broadcasting (~1.05 -> ~0.47 us at 16 x 32)
            self.inv_col = np.full((c, 1), 1.0 / c, F32)
            if self.rows * c <= self.TILED:
                self.gamma = np.ascontiguousarray(np.broadcast_to(self.gamma, (self.rows, c)))
                self.beta = np.ascontiguousarray(np.broadcast_to(self.beta, (self.rows, c)))
        ctx.set_output(0, x.shape, F32)

    def bind(self, ictx: InvokeContext) -> None:
        self.x2 = ictx.inputs[0].reshape(self.rows, self.c)
        self.out2 = ictx.outputs[0].reshape(self.rows, self.c)
        if self.compiled is None:
            self.d, self.mean, self.k = ictx.scratch
            self.invoke = self._invoke_numpy
        else:
            self.invoke = self._invoke_compiled

    def _invoke_compiled(self, ictx: InvokeContext) -> None:
        self.compiled(self.x2, self.gamma, self.beta, self.eps, self.out2)

    def _invoke_numpy(self, ictx: InvokeContext) -> None:
        x, d, out, mean, k = self.x2, self.d, self.out2, self.mean, self.k
        np.matmul(x, self.inv_col, out=mean)
        np.subtract(x, mean, out=d)
        np.multiply(d, d, out=out)
        np.matmul(out, self.inv_col, out=k)
        k += self.eps
        np.sqrt(k, out=k)
        np.reciprocal(k, out=k)
        np.multiply(d, k, out=out)
        out *= self.gamma
        out += self.beta

    invoke = _invoke_numpy


def make_kernel(group) -> Kernel:
    """The kernel object for a fusion.FusedGroup."""
    if group.name == "LAYER_NORM":
        return LayerNorm(group.options["epsilon"])
    raise ValueError(f"no fused kernel named {group.name}")
