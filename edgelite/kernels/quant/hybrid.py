"""Hybrid (dynamic-range) kernels: float32 activations, int8 weights.

LiteRT quantizes the float input on the fly, one "batch row" at a time
(portable_tensor_utils' SymmetricQuantizeFloats, or AsymmetricQuantizeFloats
with a per-row zero point), runs an exact integer GEMM and scales the int32
accumulators back to float. Which quantization, and the order of the float
operations, differ per op; each kernel below follows its LiteRT kernel:

- FULLY_CONNECTED (EvalHybridDense): per row of [batch, K]; symmetric or, with
  asymmetric_quantize_inputs, asymmetric. out = bias; out += float(dot -
  row_sum(w) * offset) * (sf[b] * w_scale[u]) (a per-tensor weight scale is
  folded into sf first). An all-zero input skips the GEMM. Any fused activation.
- CONV_2D, per-tensor weights (or per-channel with all scales equal)
  (EvalHybrid): symmetric per image; out = float(acc) * (sf[b] * w_scale) + bias.
- CONV_2D, per-channel weights (or grouped) (EvalHybridPerChannel): always
  asymmetric per image; out = float(acc) * w_scale[o] * sf[b] + bias.
- DEPTHWISE_CONV_2D (EvalHybridPerChannel; LiteRT runs it as a hybrid kernel,
  it does not dequantize the weights): asymmetric per image;
  out = float(acc) * (w_scale[o] * sf[b]) + bias.
- BATCH_MATMUL (EvalHybrid): per lhs row, symmetric or asymmetric; the offset
  correction is done in float (`total -= row_sum * offset` on an int32 total)
  and out = scale * total. LiteRT's reference indexes the per-row scaling
  factors, offsets and weight row sums of a batch (b0, b1, b2) at
  (b0 + b1 + b2) * rows (each term only where that batch dimension is not 1),
  which is only right when at most one batch dimension exceeds 1; we index the
  same way, so multi-dimensional batches match LiteRT (see test_hybrid.py).

The integer accumulators are exact (float BLAS on integer values, float32 when
provably exact); the float epilogues are numpy float32 operations in LiteRT's
order, so results are normally bit-identical to LiteRT.
"""
from __future__ import annotations

import numpy as np

from edgelite.format import ir
from edgelite.format.schema.tflite_tables import ActivationFunctionType, Padding
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.common import (
    MaximumInplace,
    activation_code,
    batch_matmul_shapes,
    conv_output_size,
    invoke_for_binding,
)
from edgelite.kernels.conv import (
    _FC_COPY_BATCH,
    _clip_ufunc,
    clamp_inplace,
    clip_bounds,
    compiled_tier,
)
from edgelite.kernels.quant.dynamic import (
    OneRow,
    Scratch,
    asymmetric_rows,
    asymmetric_rows_centered,
    symmetric_rows,
)
from edgelite.kernels.quant.qutil import (
    F32,
    I8,
    Padded,
    gemm_float_dtype,
    gemm_float_dtype_for,
    same_valid_pads,
    scales_of,
    window_view,
)
from edgelite.kernels.registry import register

_CLAMPS = {ActivationFunctionType.RELU: (0.0, None), ActivationFunctionType.RELU6: (0.0, 6.0),
           ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0)}


def _opt(options, name: str, default):
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def _positive(ctx: PrepareContext, **values: int) -> None:
    for name, v in values.items():
        if v <= 0:
            raise ctx.error(f"{name} must be positive, got {v}")


def _check_types(ctx: PrepareContext, x, w, out) -> None:
    ctx.check_dtype(x, np.float32, "input")
    if w.dtype != I8:
        raise ctx.error(f"hybrid {ctx.op_name} supports int8 weights only, got {w.dtype}", w)
    ctx.check_dtype(out, np.float32, "output")
    if w.data is None:
        raise ctx.error(f"hybrid {ctx.op_name} needs constant weights", w)


def _float_bias(ctx: PrepareContext, bias, n: int) -> np.ndarray | None:
    if bias is None:
        return None
    ctx.check_dtype(bias, np.float32, "bias")
    if bias.size != n:
        raise ctx.error(f"bias has {bias.size} elements, expected {n}", bias)
    if bias.data is None:
        raise ctx.error(f"hybrid {ctx.op_name} needs a constant bias", bias)
    return np.asarray(bias.data, F32).reshape(-1)


class _Quantizer:
    """The per-invoke input quantization of a [B, K] float32 view: the compiled
    tier's one-pass kernels (compiled_qops.quantize_rows_*) into buffers made here,
    when that tier runs (gated by the input's size: the work is over the input),
    else quant/dynamic.py (OneRow for one row). All give the same bits."""

    def __init__(self, b: int, k: int, asym: bool, size: int):
        self.asym = asym
        tier = compiled_tier(size, small_ok=True) if k else None
        self.cq = None
        # the numpy path's buffers: a OneRow (its own) for one row, else a Scratch
        self.one = OneRow(k, asym) if tier is None and b == 1 and k else None
        self.scratch = Scratch(b, k) if tier is None and self.one is None else None
        if tier is not None:
            from edgelite.kernels import compiled_qops
            self.cq = compiled_qops
            self.q = np.zeros((b, k), F32)
            self.sf = np.zeros(b, F32)
            self.off = np.zeros(b, np.int64)

    def bound_call(self, x: np.ndarray, centered: bool = False):
        """(compiled entry point, its arguments) quantizing this very array x on each
        call (no per-call argument typing), results in self.q / sf / off; None when
        the compiled tier does not run for x."""
        cq = self.cq
        if cq is None or not x.flags.c_contiguous:
            return None
        from edgelite.kernels.compiled_igemm import entry
        if self.asym:
            args = (x, self.q, self.sf, self.off, centered)
            return entry(cq.quantize_rows_asym, args), args
        args = (x, self.q, self.sf)
        return entry(cq.quantize_rows_sym, args), args

    def __call__(self, x: np.ndarray, centered: bool = False):
        """(q, sf, offset or None) for x [B, K]. centered (asymmetric only): q - offset
        per row (dynamic.asymmetric_rows_centered)."""
        cq = self.cq
        if cq is not None and x.flags.c_contiguous:
            if self.asym:
                cq.quantize_rows_asym(x, self.q, self.sf, self.off, centered)
                return self.q, self.sf, self.off
            cq.quantize_rows_sym(x, self.q, self.sf)
            return self.q, self.sf, None
        if self.one is not None:
            return self.one(x, centered)
        if self.asym:
            if centered:
                return asymmetric_rows_centered(x, self.scratch)
            return asymmetric_rows(x, self.scratch)
        q, sf = symmetric_rows(x, self.scratch)
        return q, sf, None


def _clamp(out: np.ndarray, code: int) -> None:
    """CalculateActivationRange (conv kernels): only the clipping activations act."""
    clamp_inplace(out, _CLAMPS.get(code, (None, None)))


class _Clamp:
    """_clamp(out, code) for one node: its operands looked up once (a RELU's maximum
    with a shared 0-d bound, a RELU6's clip ufunc with 0-d bounds, nothing for NONE):
    ~1 us a call less than the generic path on a few hundred values."""
    __slots__ = ("bounds", "relu")

    def __init__(self, code: int):
        lo, hi = _CLAMPS.get(code, (None, None))
        self.relu = MaximumInplace(lo) if lo is not None and hi is None else None
        self.bounds = clip_bounds((lo, hi)) if lo is not None and hi is not None else None

    def __call__(self, out: np.ndarray) -> None:
        if self.relu is not None:
            self.relu(out)
        elif self.bounds is not None:
            _clip_ufunc(out, *self.bounds, out=out)


def _channel_scales(ctx: PrepareContext, w, channels: int, axis: int) -> np.ndarray:
    """Per-channel float32 weight scales [channels] (a single scale broadcast)."""
    s = scales_of(ctx, w, "weights")
    if s.size == 1:
        return np.full(channels, s[0], F32)
    if s.size != channels or w.quant.quantized_dimension != axis:
        raise ctx.error(f"weights have {s.size} scales along dimension "
                        f"{w.quant.quantized_dimension}; expected 1, or {channels} along "
                        f"dimension {axis}", w)
    return s.astype(F32)


# ---------------------------------------------------------------- FULLY_CONNECTED
@register("FULLY_CONNECTED", versions=(1, 14), variant="hybrid")
class HybridFullyConnected(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        _check_types(ctx, x, w, out)
        if w.type == ir.TensorType.INT4:
            # INT4 weights (held unpacked as int8) must be symmetric, as LiteRT checks.
            zp = np.asarray(w.quant.zero_point if w.quant is not None else [])
            ctx.check(not np.any(zp), f"INT4 weights need zero point 0, got {zp.tolist()}", w)
        ctx.check(_opt(o, "weightsFormat", 0) == 0, "shuffled weights are not supported")
        ctx.check(len(w.shape) == 2, f"weights must be 2-D [units, K], got {list(w.shape)}", w)
        units, k = w.shape
        self.code = activation_code(o)
        if not 0 <= self.code <= ActivationFunctionType.SIGN_BIT:
            raise ctx.error(f"unknown fused activation {self.code}")
        self.bias = _float_bias(ctx, bias, units)
        keep = bool(_opt(o, "keepNumDims", False))
        batch = int(np.prod(x.shape[:-1], dtype=np.int64)) if k == 0 else x.size // k
        if keep:
            ctx.check(x.shape[-1] == k, f"keep_num_dims needs the input's last dimension "
                                        f"({x.shape[-1]}) to equal the weights' K ({k})", x)
            out_shape = (*x.shape[:-1], units)
        else:
            out_shape = (batch, units)
        ctx.set_output(0, out_shape, F32)
        self.batch, self.k, self.units = batch, k, units
        self.asym = bool(_opt(o, "asymmetricQuantizeInputs", False))
        wq = np.asarray(w.data, np.int64)
        s = scales_of(ctx, w, "weights")
        if s.size > 1:
            if s.size != w.shape[w.quant.quantized_dimension]:
                raise ctx.error(f"weights have {s.size} scales, dimension "
                                f"{w.quant.quantized_dimension} has "
                                f"{w.shape[w.quant.quantized_dimension]} entries", w)
            ctx.check(s.size == units and w.quant.quantized_dimension == 0,
                      "per-channel weights must be quantized along the units (dimension 0)", w)
            self.pcs, self.w_scale = s.astype(F32), None
        else:
            self.pcs, self.w_scale = None, np.float32(s[0])
        # inputs quantized to [-127, 127] (symmetric) or [-128, 127] (asymmetric, the
        # offset applied after the GEMM)
        self.ft = gemm_float_dtype_for(128 if self.asym else 127, wq, 1)
        # asymmetric, numpy tier: the GEMM reads q - offset (|.| <= 255) when that keeps
        # float32 exact (the offset's row-sum correction then needs no pass)
        self.centered = self.asym and gemm_float_dtype_for(255, wq, 1) == F32
        # A few rows: the [units, K] weights seen transposed, as the float FC's (BLAS's
        # GEMV reads them directly: 2.4 -> 1.5 us at [1, 512] x [512, 10]); more rows: a
        # [K, units] copy. The sums are exact integers in any order.
        self.wt = (np.ascontiguousarray(wq, dtype=self.ft).T if batch < _FC_COPY_BATCH
                   else np.ascontiguousarray(wq.T, dtype=self.ft))
        self.row_sums = wq.sum(axis=1).astype(np.float64)
        self.quantize = _Quantizer(batch, k, self.asym, batch * k)
        self.dot = np.zeros((batch, units), F32)
        # numpy tier, one row, exact float32 GEMM (the usual hybrid FC): OneRow's few
        # calls, the bias added as the sum's first operand (= copy, then +=)
        self.one = None
        if (self.quantize.one is not None
                and (self.centered or (not self.asym and self.ft == F32))):
            self.one = self.quantize.one
            self.base = self.bias if self.bias is not None else np.zeros(units, F32)
            self.scale = np.zeros(units, F32) if self.pcs is not None else np.zeros((), F32)
        self._x = None
        # Compiled tier, small products, a clamping activation (or none): the whole node
        # in one compiled call (compiled_qops.hybrid_fc) instead of ~10 numpy calls.
        self.fused = None
        lo, hi = _CLAMPS.get(self.code, (None, None))
        if (self.code in (0, *_CLAMPS) and k and batch * k * units <= self.FUSED_MAX_MACS
                and self.quantize.cq is not None):
            self.fused = self.quantize.cq.hybrid_fc
            self.w_rows = np.ascontiguousarray(w.data, np.int8)
            self.ws = self.pcs if self.pcs is not None else np.full(units, self.w_scale, F32)
            self.bias_f = self.bias if self.bias is not None else np.zeros(units, F32)
            self.bounds = (np.float32(-np.inf if lo is None else lo),
                           np.float32(np.inf if hi is None else hi))
            self.off = np.zeros(batch, np.int64)
            self.qi = np.zeros(k, np.int32)

    FUSED_MAX_MACS = 1 << 18

    def bind(self, ictx: InvokeContext) -> None:
        self.__dict__.pop("invoke", None)   # (a closure of the last binding: made anew)
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        n = self.batch * self.k
        flat = self._x.reshape(-1)
        self.x2d = (flat if flat.size == n else flat[:n]).reshape(self.batch, self.k)
        self.out2d = self._out.reshape(self.batch, self.units)
        # (OneRow's bound form; x2d is a view of the input when that is contiguous)
        self.one_run = (self.one.runner(self.x2d, self.centered)
                        if self.one is not None and self._x.flags.c_contiguous else None)
        self.fast_run = self._one_row_closure() if self.one_run is not None else None
        if self.fast_run is not None:
            self.invoke = invoke_for_binding(self, HybridFullyConnected.invoke, self.fast_run)
        self.fused_call = None
        if (self.fused is not None and self.x2d.flags.c_contiguous
                and self.out2d.flags.c_contiguous):
            from edgelite.kernels.compiled_igemm import entry
            qz = self.quantize
            args = (self.x2d, qz.q, qz.sf, self.off, self.w_rows, self.row_sums, self.ws,
                    self.bias_f, *self.bounds, self.asym, self.out2d, self.qi)
            # the compiled entry point for these argument types: no per-call typing
            self.fused_call = (entry(self.fused, args), args)

    def _one_row_closure(self):
        """The numpy tier's one-row invoke below as a closure over this binding's arrays
        (the same numpy calls, no attribute lookups: ~1 us a call)."""
        one, run, out, base, dot, wt, scale = (self.one, self.one_run, self.out2d,
                                               self.base, self.dot, self.wt, self.scale)
        q, sf0, code = one.q, one.sf0, self.code
        ws = self.pcs if self.pcs is not None else self.w_scale
        mul, matmul, add, copyto = np.multiply, np.matmul, np.add, np.copyto

        def fast() -> None:
            run()
            if one.all_zero:            # LiteRT skips the GEMM: out = bias
                copyto(out, base)
            else:
                mul(sf0, ws, out=scale)
                matmul(q, wt, out=dot)
                mul(dot, scale, out=dot)
                add(base, dot, out=out)
            if code:
                _fc_activation(out, code)
        return fast

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.fast_run is not None:
            self.fast_run()
            return
        out = self.out2d
        if self.fused_call is not None:
            fn, args = self.fused_call
            fn(*args)
            return
        one = self.one
        if one is not None:
            if self.one_run is not None:
                self.one_run()
                q = one.q
            else:
                q, _sf, _off = one(self.x2d, self.centered)
            if one.all_zero:            # LiteRT skips the GEMM: out = bias
                np.copyto(out, self.base)
            else:
                if self.pcs is not None:
                    np.multiply(one.sf0, self.pcs, out=self.scale)
                else:
                    np.multiply(one.sf0, self.w_scale, out=self.scale)
                dot = self.dot
                np.matmul(q, self.wt, out=dot)
                dot *= self.scale
                np.add(self.base, dot, out=out)
            if self.code:
                _fc_activation(out, self.code)
            return
        if self.bias is not None:
            np.copyto(out, self.bias)
        else:
            out.fill(0.0)
        x = self.x2d
        if self.k and self.batch and x.any():
            centered = self.centered
            q, sf, off = self.quantize(x, centered)
            if self.w_scale is not None:
                scale = (sf * self.w_scale)[:, None]              # float32 * float32
            else:
                scale = sf[:, None] * self.pcs[None, :]
            if centered or (off is None and self.ft == F32 and q.dtype == F32):
                # the float32 GEMM's sums are the exact integers: no float64 round trip
                dot = self.dot
                np.matmul(q, self.wt, out=dot)
                dot *= scale
                out += dot
            else:
                dot = np.matmul(q.astype(self.ft, copy=False), self.wt).astype(np.float64)
                if off is not None:     # exact integers in float64
                    dot -= self.row_sums * float(off[0]) if off.size == 1 else \
                        self.row_sums[None, :] * off[:, None]
                contrib = dot.astype(F32)
                contrib *= scale
                out += contrib
        _fc_activation(out, self.code)


def _fc_activation(out: np.ndarray, code: int) -> None:
    """ApplyActivationToVector: the clipping activations, TANH and SIGN_BIT."""
    if code == ActivationFunctionType.TANH:
        np.tanh(out, out=out)
    elif code == ActivationFunctionType.SIGN_BIT:
        np.copyto(out, np.signbit(out).astype(F32))
    else:
        _clamp(out, code)


# ---------------------------------------------------------------- CONV_2D
@register("CONV_2D", versions=(1, 8), variant="hybrid")
class HybridConv2D(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        _check_types(ctx, x, w, out)
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got {list(x.shape)}", x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [O, KH, KW, I], got "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        oc, kh, kw, ic = w.shape
        _positive(ctx, input_batch=n, input_height=h, input_width=wd, input_channels=c,
                  filter_height=kh, filter_width=kw, output_channels=oc,
                  filter_input_channels=ic)
        ctx.check(c % ic == 0, f"input has {c} channels, not a multiple of the filter's {ic}")
        groups = c // ic
        ctx.check(oc % groups == 0, f"{oc} output channels do not split into {groups} groups")
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _opt(o, "padding", Padding.SAME)
        ctx.check(padding in (Padding.SAME, Padding.VALID), f"unknown padding {padding}")
        self.code = activation_code(o)
        self.clamp = _Clamp(self.code)
        self.bias = _float_bias(ctx, bias, oc)
        s = scales_of(ctx, w, "weights")
        # LiteRT: distinct per-channel scales (or groups) take the per-channel kernel,
        # which quantizes the input asymmetrically; otherwise symmetric, one scale.
        self.per_channel = bool(s.size > 1 and np.any(s != s[0])) or groups != 1
        self.pcs = _channel_scales(ctx, w, oc, 0)
        self.w_scale = np.float32(s[0])
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), F32)
        pads = (same_valid_pads(padding, h, kh, sh, dh, oh),
                same_valid_pads(padding, wd, kw, sw, dw, ow))
        self.groups, self.rows, self.n = groups, n * oh * ow, n
        k = kh * kw * ic
        og = oc // groups
        # the GEMM reads q - offset (per-channel, asymmetric: |.| <= 255) or q (|q| <= 127)
        self.ft = ft = gemm_float_dtype_for(255 if self.per_channel else 127,
                                            np.asarray(w.data).reshape(oc, k), 1)
        wt = np.asarray(w.data, np.int64).reshape(groups, og, k).transpose(0, 2, 1)
        self.wt = np.ascontiguousarray(wt[0] if groups == 1 else wt, dtype=ft)
        self.pad = Padded(x.shape, pads)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        # a small padded copy is the node's own: its border (0) is filled once, at bind,
        # not on every invoke (four fills of an arena buffer other nodes overwrite)
        self.own_pad = np.zeros(self.pad.shape, ft) if x.size <= (1 << 16) else None
        self.pad_idx = None if self.own_pad is not None else \
            ctx.request_scratch(self.pad.shape, ft)
        self.geom = ((oh, ow), (kh, kw), (sh, sw), (dh, dw))
        shape = (self.rows, k) if groups == 1 else (groups, self.rows, k)
        self.col_idx = ctx.request_scratch(shape, ft)
        self.quantize = _Quantizer(n, h * wd * c, self.per_channel, x.size)
        # numpy tier, one image: OneRow's few calls, q written straight into the padded
        # buffer
        self.one = self.quantize.one
        self.scale0 = np.zeros((), F32)
        gshape = (self.rows, oc) if groups == 1 else (groups, self.rows, og)
        self.gemm_idx = ctx.request_scratch(gshape, ft)
        # compiled tier: the scaling, bias and clamp after a float32 GEMM in one call
        # (compiled_qops.hybrid_conv_epilogue) instead of four numpy passes
        self.epi = None
        if self.quantize.cq is not None:
            lo, hi = _CLAMPS.get(self.code, (None, None))
            self.epi_tail = (self.w_scale, self.per_channel,
                             self.bias if self.bias is not None else np.zeros(oc, F32),
                             self.bias is not None,
                             np.float32(-np.inf if lo is None else lo),
                             np.float32(np.inf if hi is None else hi))
            self.epi = self.quantize.cq.hybrid_conv_epilogue
        self._x = None

    def bind(self, ictx: InvokeContext) -> None:
        self.__dict__.pop("invoke", None)   # (a closure of the last binding: made anew)
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        self.pad.bind(self.own_pad if self.own_pad is not None else ictx.scratch[self.pad_idx])
        self.pad.fill_border(0)
        out_hw, kernel, strides, dil = self.geom
        win = window_view(self.pad.buf, out_hw, kernel, strides, dil)
        col = ictx.scratch[self.col_idx]
        if self.groups == 1:
            self.win, self.col_win = win, col.reshape(win.shape)
        else:
            g = self.groups
            win = win.reshape(*win.shape[:-1], g, -1)
            self.win = np.moveaxis(win, -2, 0)
            self.col_win = col.reshape(self.win.shape)
        self.col = col
        self.gemm = ictx.scratch[self.gemm_idx]
        # the output viewed [N, OH*OW, O] (and [G, rows, Og] for groups)
        self.out3 = self._out.reshape(self.n, -1, self._out.shape[-1])
        self.direct = None
        if self.groups == 1 and self.ft == F32 and self._out.flags.c_contiguous:
            self.direct = self._out.reshape(self.rows, -1)
        # (bound to a view of the input: only when the reshape is one, not a copy)
        self.q_call = (self.quantize.bound_call(self._x.reshape(self.n, -1),
                                                centered=self.per_channel)
                       if self._x.flags.c_contiguous else None)
        self.one_run = (self.one.runner(self._x.reshape(1, -1), self.per_channel,
                                        self.pad.inner)
                        if self.one is not None and self._x.flags.c_contiguous else None)
        self.fast_run = (self._one_image_closure()
                         if self.one_run is not None and self.own_pad is not None
                         and self.direct is not None else None)
        if self.fast_run is not None:
            self.invoke = invoke_for_binding(self, HybridConv2D.invoke, self.fast_run)
        self.epi_call = None
        if self.epi is not None and self.direct is not None and self.q_call is not None:
            from edgelite.kernels.compiled_igemm import entry
            args = (self.out3, self.pcs, self.quantize.sf, *self.epi_tail)
            self.epi_call = (entry(self.epi, args), args)

    def _one_image_closure(self):
        """The numpy tier's invoke below for one image (OneRow into the node's own
        padded buffer, a float32 GEMM straight into the output) as a closure over this
        binding's arrays: the same numpy calls without the attribute lookups."""
        run, col_win, win, col, wt, direct = (self.one_run, self.col_win, self.win,
                                              self.col, self.wt, self.direct)
        out, pcs, sf0, bias, clamp = self.out3, self.pcs, self.one.sf0, self.bias, self.clamp
        per_channel, w_scale, scale0 = self.per_channel, self.w_scale, self.scale0
        mul, matmul, add, copyto = np.multiply, np.matmul, np.add, np.copyto
        # the clamp's ufunc and operands for this output (_Clamp's, looked up once)
        lo_op = hi_op = None
        if clamp.relu is not None:
            lo_op, cl = clamp.relu.bound_for(out), np.maximum
        elif clamp.bounds is not None:
            (lo_op, hi_op), cl = clamp.bounds, _clip_ufunc

        def fast() -> None:
            run()
            copyto(col_win, win)
            matmul(col, wt, out=direct)
            if per_channel:             # LiteRT's order: (acc * channel scale) * sf
                mul(out, pcs, out=out)
                mul(out, sf0, out=out)
            else:
                mul(out, mul(sf0, w_scale, out=scale0), out=out)
            if bias is not None:
                add(out, bias, out=out)
            if hi_op is not None:
                cl(out, lo_op, hi_op, out=out)
            elif lo_op is not None:
                cl(out, lo_op, out=out)
        return fast

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.fast_run is not None:
            self.fast_run()
            return
        x = ictx.inputs[0]
        n = self.n
        one = self.one
        # per-channel: the input less its offset (never added: dynamic.py)
        if one is not None:
            if self.own_pad is None:
                self.pad.fill_border(0)
            if self.one_run is not None:
                self.one_run()
            else:
                one(x.reshape(1, -1), self.per_channel, self.pad.inner)
            sf = one.sf
        elif self.q_call is not None:
            fn, args = self.q_call
            fn(*args)
            q, sf = self.quantize.q, self.quantize.sf
        else:
            q, sf, _off = self.quantize(x.reshape(n, -1), centered=self.per_channel)
        if one is None:
            if self.own_pad is None:
                self.pad.fill_border(0)
            np.copyto(self.pad.inner, q.reshape(x.shape))
        np.copyto(self.col_win, self.win)
        out = self.out3
        if self.direct is not None:
            # float32 GEMM sums are the exact integers: straight into the output
            np.matmul(self.col, self.wt, out=self.direct)
            if self.epi_call is not None:
                fn, args = self.epi_call
                fn(*args)
                return
        else:
            np.matmul(self.col, self.wt, out=self.gemm)
            if self.groups == 1:
                acc = self.gemm.reshape(n, -1, self.gemm.shape[-1])
            else:
                g = self.gemm
                acc = np.moveaxis(g, 0, 1).reshape(n, -1, g.shape[0] * g.shape[2])
            np.copyto(out, acc, casting="unsafe")    # float(acc), exact or rounded as C's
        if one is not None:             # 0-d operands: the cheapest scalars for a ufunc
            if self.per_channel:
                out *= self.pcs
                out *= one.sf0
            else:
                out *= np.multiply(one.sf0, self.w_scale, out=self.scale0)
        elif self.per_channel:
            out *= self.pcs
            out *= sf[0] if n == 1 else sf[:, None, None]
        else:
            out *= (sf[0] * self.w_scale) if n == 1 else (sf * self.w_scale)[:, None, None]
        if self.bias is not None:
            out += self.bias
        self.clamp(out)


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
@register("DEPTHWISE_CONV_2D", versions=(1, 7), variant="hybrid")
class HybridDepthwiseConv2D(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        out = ctx.outputs[0]
        o = ctx.options
        _check_types(ctx, x, w, out)
        # LiteRT's hybrid depthwise kernel has no INT4 path (it fails at invoke).
        ctx.check(w.type != ir.TensorType.INT4,
                  "hybrid DEPTHWISE_CONV_2D does not support INT4 weights", w)
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got {list(x.shape)}", x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [1, KH, KW, C*M], got "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        one, kh, kw, oc = w.shape
        _positive(ctx, input_batch=n, input_height=h, input_width=wd, input_channels=c,
                  filter_height=kh, filter_width=kw, output_channels=oc)
        ctx.check(one == 1, f"filter's first dimension must be 1, got {one}", w)
        ctx.check(oc % c == 0, f"filter has {oc} channels, not a multiple of the input's {c}", w)
        mult = oc // c
        dm = _opt(o, "depthMultiplier", 0)
        # LiteRT's hybrid kernel loops over the option's depth_multiplier.
        ctx.check(dm == mult, f"depth_multiplier option is {dm}, but the shapes give {mult}")
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _opt(o, "padding", Padding.SAME)
        ctx.check(padding in (Padding.SAME, Padding.VALID), f"unknown padding {padding}")
        self.code = activation_code(o)
        self.clamp = _Clamp(self.code)
        self.bias = _float_bias(ctx, bias, oc)
        # LiteRT reads one scale per output channel (a single scale is read past its end
        # there; we broadcast it).
        self.pcs = _channel_scales(ctx, w, oc, 3)
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), F32)
        pads = (same_valid_pads(padding, h, kh, sh, dh, oh),
                same_valid_pads(padding, wd, kw, sw, dw, ow))
        self.ft = ft = gemm_float_dtype(kh * kw, 255, 128)
        taps = np.asarray(w.data, np.int64).reshape(kh * kw, c, mult).astype(ft)
        self.taps = taps[:, :, 0] if mult == 1 else taps
        self.mult, self.c, self.n = mult, c, n
        self.pad = Padded(x.shape, pads)
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        self.pad_idx = ctx.request_scratch(self.pad.shape, ft)
        self.accf_idx = ctx.request_scratch((n, oh, ow, oc), ft)
        self.tmp_idx = ctx.request_scratch((n, oh, ow, oc), ft)
        self.geom = (oh, ow, kh, kw, sh, sw, dh, dw)
        # one image: OneRow, q written straight into the padded buffer
        self.one = OneRow(h * wd * c, True) if n == 1 else None
        self._x = None

    def bind(self, ictx: InvokeContext) -> None:
        self._x, self._out = ictx.inputs[0], ictx.outputs[0]
        self.pad.bind(ictx.scratch[self.pad_idx])
        oh, ow, kh, kw, sh, sw, dh, dw = self.geom
        src = self.pad.buf
        self.planes = []
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dh, kx * dw
                p = src[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
                self.planes.append(p if self.mult == 1 else p[..., None])
        shape = self._out.shape if self.mult == 1 else (*self._out.shape[:3], self.c,
                                                        self.mult)
        self.accf = ictx.scratch[self.accf_idx].reshape(shape)
        self.tmp = ictx.scratch[self.tmp_idx].reshape(shape)

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        x = ictx.inputs[0]
        self.pad.fill_border(0)
        if self.one is not None:
            _q, sf, _off = self.one(x.reshape(1, -1), True, self.pad.inner)
        else:
            q, sf, _off = asymmetric_rows_centered(x.reshape(self.n, -1))
            np.copyto(self.pad.inner, q.reshape(x.shape))
        accf, tmp, taps, planes = self.accf, self.tmp, self.taps, self.planes
        np.multiply(planes[0], taps[0], out=accf)
        for t in range(1, len(planes)):
            np.multiply(planes[t], taps[t], out=tmp)
            accf += tmp
        out = ictx.outputs[0]
        np.copyto(out, accf.reshape(out.shape), casting="unsafe")
        scale = (self.pcs[None, :] * sf[:, None]).astype(F32)      # [N, O]
        out *= scale[:, None, None, :]
        if self.bias is not None:
            out += self.bias
        self.clamp(out)


# ---------------------------------------------------------------- BATCH_MATMUL
@register("BATCH_MATMUL", versions=(1, 4), variant="hybrid")
class HybridBatchMatMul(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        a, b = ctx.input(0), ctx.input(1)
        out = ctx.outputs[0]
        o = ctx.options
        _check_types(ctx, a, b, out)
        adj_x, adj_y = bool(_opt(o, "adjX", False)), bool(_opt(o, "adjY", False))
        self.asym = bool(_opt(o, "asymmetricQuantizeInputs", False))
        ea, eb, batch, rows, k, cols = batch_matmul_shapes(ctx, a, b, adj_x, adj_y)
        out_shape = (*batch, rows, cols)
        ctx.set_output(0, out_shape, F32)
        self.adj_x, self.rows, self.k, self.cols = adj_x, rows, k, cols
        self.ea = ea
        s = scales_of(ctx, b, "rhs")
        if s.size > 1:
            qd = b.quant.quantized_dimension
            col_axis = len(b.shape) - (2 if adj_y else 1)
            if s.size != cols or qd != col_axis:
                raise ctx.error(f"per-channel rhs must have one scale per output column "
                                f"({cols}) along dimension {col_axis}, got {s.size} along "
                                f"{qd}", b)
            self.pcs, self.w_scale = s.astype(F32), None
        else:
            self.pcs, self.w_scale = None, np.float32(s[0])
        wq = np.asarray(b.data, np.int64).reshape(eb)
        if adj_y:
            wq = wq.swapaxes(-1, -2)                     # [..., K, C]
        self.ft = gemm_float_dtype_for(128, wq, -2)            # wq [..., K, C]
        self.wf = np.ascontiguousarray(wq, dtype=self.ft)
        # LiteRT's indexing of per-row scales/offsets and weight row sums (see the
        # module docstring): extended to 3 batch dimensions.
        ob = (1,) * (3 - len(batch)) + tuple(batch)
        ia = (1,) * (3 - len(ea[:-2])) + tuple(ea[:-2])
        ib = (1,) * (3 - len(eb[:-2])) + tuple(eb[:-2])
        grid = np.indices(ob).reshape(3, -1)
        s_base = sum(grid[i] * (ia[i] != 1) for i in range(3)) * rows
        w_base = sum(grid[i] * (ib[i] != 1) for i in range(3)) * cols
        self.s_idx = (s_base[:, None] + np.arange(rows)[None, :])             # [OB, rows]
        self.w_idx = (w_base[:, None] + np.arange(cols)[None, :])             # [OB, C]
        self.row_sums = wq.sum(axis=-2).reshape(-1).astype(F32)               # [WB*C]
        self.ob_count = int(np.prod(ob))
        self.out_shape = out_shape
        self._x = None

    def invoke(self, ictx: InvokeContext) -> None:
        a = ictx.inputs[0].reshape(self.ea)
        if self.adj_x:
            a = a.swapaxes(-1, -2)
        lhs = np.ascontiguousarray(a, dtype=F32)                  # [..., rows, K]
        flat = lhs.reshape(-1, self.k)
        if self.asym:
            q, sf, off = asymmetric_rows(flat)
        else:
            (q, sf), off = symmetric_rows(flat), np.zeros(flat.shape[0], np.int64)
        if self.w_scale is not None:
            sf = (sf * self.w_scale).astype(F32)
        dot = np.matmul(q.reshape(lhs.shape).astype(self.ft, copy=False), self.wf)
        ob, rows, cols = self.ob_count, self.rows, self.cols
        total = dot.reshape(ob, rows, cols).astype(F32)
        if self.asym:
            prod = (self.row_sums[self.w_idx][:, None, :]
                    * off.astype(F32)[self.s_idx][:, :, None]).astype(F32)
            total -= prod
        scale = sf[self.s_idx][:, :, None]
        if self.pcs is not None:
            scale = (scale * self.pcs[None, None, :]).astype(F32)
        out = ictx.outputs[0].reshape(ob, rows, cols)
        np.multiply(total, scale, out=out)
