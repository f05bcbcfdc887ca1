"""CONV_3D_TRANSPOSE (float32), as LiteRT's conv3d_transpose.cc.

Inputs: output_shape (int32 [5]), filter [KD, KH, KW, O, I], input [N, D, H, W, I],
optional bias [O]; Conv3DOptions (padding, strides, dilations, fused activation).
The output shape must be one whose convolution (same padding, strides and
dilations) gives the input's spatial size; the padding is the one that
convolution would use.

One GEMM gives every input voxel's contribution to every filter tap
([N*D*H*W, I] x [I, KD*KH*KW*O]); the taps are then summed into a bordered
accumulator, one strided slice per tap, and the output is its crop plus the
bias, clamped. A constant output_shape makes everything static (buffers in the
arena); a computed one is read at invoke.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import Padding
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import conv_output_size
from edgelite.kernels.conv import (
    _check_bias,
    _check_positive,
    _dtype_path,
    _opt,
    _pad_name,
    _same_valid_pads,
    clamp_inplace,
    float_activation,
)
from edgelite.kernels.registry import register

F32 = np.dtype(np.float32)


@register("CONV_3D_TRANSPOSE", versions=(1, 1))
class Conv3DTranspose(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((3, 4), 1)
        shape_t, w, x = ctx.input(0), ctx.input(1), ctx.input(2)
        bias = ctx.inputs[3] if len(ctx.inputs) > 3 else None
        _dtype_path(ctx, x, w)
        o = ctx.options
        ctx.check_dtype(shape_t, np.int32, "output_shape")
        ctx.check(len(shape_t.shape) == 1 and shape_t.size == 5,
                  f"output_shape must be a 1-D tensor of 5 values, got shape "
                  f"{list(shape_t.shape)}", shape_t)
        ctx.check(len(x.shape) == 5, f"input must be 5-D [N, D, H, W, C], got shape "
                  f"{list(x.shape)}", x)
        ctx.check(len(w.shape) == 5, f"filter must be 5-D [KD, KH, KW, O, I], got shape "
                  f"{list(w.shape)}", w)
        n, d, h, wd, c = x.shape
        kd, kh, kw, oc, ic = w.shape
        _check_positive(ctx, input_depth=d, input_height=h, input_width=wd, input_channels=c,
                        filter_depth=kd, filter_height=kh, filter_width=kw, output_channels=oc)
        ctx.check(c == ic, f"input has {c} channels, the filter expects {ic}", w)
        self.strides = (_opt(o, "strideD", 1), _opt(o, "strideH", 1), _opt(o, "strideW", 1))
        self.dil = (_opt(o, "dilationDFactor", 1), _opt(o, "dilationHFactor", 1),
                    _opt(o, "dilationWFactor", 1))
        _check_positive(ctx, stride_d=self.strides[0], stride_h=self.strides[1],
                        stride_w=self.strides[2], dilation_d_factor=self.dil[0],
                        dilation_h_factor=self.dil[1], dilation_w_factor=self.dil[2])
        self.padding = _pad_name(ctx, _opt(o, "padding", Padding.SAME))
        _check_bias(ctx, bias, oc)
        self.bounds = float_activation(ctx, o)
        self.geom = (n, d, h, wd, c, oc, (kd, kh, kw))
        self.wt = self._relayout(w.data) if w.data is not None else None
        self.has_bias = bias is not None
        self.col_idx = ctx.request_scratch((n * d * h * wd, kd * kh * kw * oc), F32)
        self.dynamic = shape_t.data is None
        self.out_shape = None
        self._bound = None
        if self.dynamic:
            ctx.set_output_dynamic(0)
        else:
            self.out_shape = self._check_output_shape(ctx.error, shape_t.data)
            ctx.set_output(0, self.out_shape, F32)
            self.acc_idx = ctx.request_scratch(self._acc_shape(self.out_shape), F32)

    @staticmethod
    def _relayout(w: np.ndarray) -> np.ndarray:
        # [KD, KH, KW, O, I] -> [I, KD*KH*KW*O]
        return np.ascontiguousarray(w.transpose(4, 0, 1, 2, 3).reshape(w.shape[4], -1),
                                    dtype=F32)

    def _check_output_shape(self, error, values) -> tuple[int, ...]:
        n, d, h, wd, _, oc, ks = self.geom
        shape = tuple(int(v) for v in np.asarray(values).reshape(-1))
        if min(shape) < 0:
            raise error(f"output_shape {list(shape)} has a negative dimension")
        if shape[0] != n or shape[4] != oc:
            raise error(f"output_shape {list(shape)} does not fit batch {n} and {oc} output "
                        f"channels")
        # The input must be what a convolution of the output would produce.
        conv = tuple(conv_output_size(self.padding, shape[1 + i], ks[i], self.strides[i],
                                      self.dil[i]) for i in range(3))
        if conv != (d, h, wd):
            raise error(f"output_shape {list(shape)} is inconsistent with the input's "
                        f"{d}x{h}x{wd} (a convolution of it would give "
                        f"{conv[0]}x{conv[1]}x{conv[2]})")
        return shape

    def _acc_shape(self, out_shape) -> tuple[int, ...]:
        n, d, h, wd, _, oc, ks = self.geom
        ins = (d, h, wd)
        self.pads = tuple(_same_valid_pads(self.padding, out_shape[1 + i], ks[i],
                                           self.strides[i], self.dil[i], ins[i])[0]
                          for i in range(3))
        full = tuple(max((ins[i] - 1) * self.strides[i] + (ks[i] - 1) * self.dil[i] + 1,
                         self.pads[i] + out_shape[1 + i]) for i in range(3))
        return (n, *full, oc)

    def _bind(self, col: np.ndarray, acc: np.ndarray, out: np.ndarray) -> None:
        n, d, h, wd, _, oc, (kd, kh, kw) = self.geom
        (sd, sh, sw), (dd, dh, dw) = self.strides, self.dil
        col8 = col.reshape(n, d, h, wd, kd, kh, kw, oc)
        self.scatter = []
        for a in range(kd):
            for b in range(kh):
                for e in range(kw):
                    dst = acc[:, a * dd:a * dd + (d - 1) * sd + 1:sd,
                              b * dh:b * dh + (h - 1) * sh + 1:sh,
                              e * dw:e * dw + (wd - 1) * sw + 1:sw, :]
                    self.scatter.append((dst, col8[:, :, :, :, a, b, e, :]))
        pd, ph, pw = self.pads
        s = self.out_shape
        self.crop = acc[:, pd:pd + s[1], ph:ph + s[2], pw:pw + s[3], :]
        self.acc, self.col = acc, col
        self._bound = (col, acc, out)

    def invoke(self, ictx: InvokeContext) -> None:
        x, out = ictx.inputs[2], ictx.outputs[0]
        col = ictx.scratch[self.col_idx]
        if self.dynamic:
            shape = self._check_output_shape(ictx.error, ictx.inputs[0])
            if shape != self.out_shape:
                self.out_shape = shape
                self._acc_buf = np.empty(self._acc_shape(shape), F32)
            out = ictx.resize_output(0, shape)
            acc = self._acc_buf
        else:
            acc = ictx.scratch[self.acc_idx]
        bound = self._bound
        if bound is None or bound[0] is not col or bound[1] is not acc or bound[2] is not out:
            self._bind(col, acc, out)
        wt = self.wt if self.wt is not None else self._relayout(ictx.inputs[1])
        np.matmul(x.reshape(-1, x.shape[-1]), wt, out=col)
        acc.fill(0)
        for dst, src in self.scatter:
            dst += src
        np.copyto(out, self.crop)
        if self.has_bias:
            out += ictx.inputs[3].reshape(-1)
        clamp_inplace(out, self.bounds)
