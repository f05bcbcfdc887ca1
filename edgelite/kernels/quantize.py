"""Type boundaries: DEQUANTIZE (int8/uint8/int16/float16 -> float32) and QUANTIZE
(float32 -> int8/uint8/int16, and integer requantization between quantized types)."""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from edgelite.kernels.activations import compiled_ops_for, is_quantized, type_name
from edgelite.kernels.base import Kernel, PrepareContext, TensorSpec
from edgelite.kernels.quant import arith
from edgelite.kernels.registry import register

INT32_LIMIT = float(1 << 31)


def _channel_params(ctx: PrepareContext, spec: TensorSpec, what: str):
    """(scale float32 array, zero_point int64 array) shaped to broadcast against the
    tensor: per-tensor -> 0-d, per-channel -> one entry along quantized_dimension."""
    q = spec.quant
    scale = np.asarray(q.scale, np.float32)
    zp = np.asarray(q.zero_point, np.int64)
    if zp.size == 0:
        zp = np.zeros(1, np.int64)
    if scale.size == 1:
        return scale.reshape(()), zp[:1].reshape(())
    rank = len(spec.shape)
    axis = q.quantized_dimension
    ctx.check(0 <= axis < rank, f"{what} quantized_dimension {axis} is out of range for rank "
              f"{rank}", spec)
    ctx.check(spec.shape[axis] == scale.size,
              f"{what} has {scale.size} per-channel scales but dimension {axis} has size "
              f"{spec.shape[axis]}", spec)
    if zp.size != scale.size:
        # LiteRT repeats the first zero point when fewer are given.
        zp = np.full(scale.size, zp[0], np.int64)
    shape = [1] * rank
    shape[axis] = scale.size
    return scale.reshape(shape), zp.reshape(shape)


@register("DEQUANTIZE", versions=(1, 9))
class Dequantize(Kernel):
    """float32(scale * (q - zero_point)): the product of a float32 scale and a small
    integer rounded once to float32, as LiteRT's double (per-tensor) and float
    (per-channel) paths both give. float16 is widened exactly. A constant input
    (float16 or dynamic-range weights) is dequantized once, here in prepare."""

    TYPES = ("INT8", "UINT8", "INT16", "FLOAT16", "INT4", "UINT4", "INT2")
    # Packed sub-byte types: edgelite holds their constants unpacked (one int8/uint8
    # per value, ir.Model.constant), which is what LiteRT unpacks them to.
    PACKED = ("INT4", "UINT4", "INT2")

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        name = type_name(x)
        ctx.check(name in self.TYPES, f"input type {name} is not supported (supported: "
                  f"{', '.join(self.TYPES)})", x)
        ctx.set_output(0, x.shape, np.float32)
        self.scale = self.zero_point = None
        if name != "FLOAT16":
            if is_quantized(x):
                self.scale, self.zero_point = _channel_params(ctx, x, "input")
                ctx.check(self.scale.ndim == 0 or name != "INT16",
                          f"per-channel dequantization of {name} is not supported", x)
            else:
                # No quantization parameters: LiteRT's scale and zero point are 0.
                self.scale, self.zero_point = np.float32(0.0), np.int64(0)
            if name == "INT16":
                ctx.check(int(np.ravel(self.zero_point)[0]) == 0,
                          "int16 input must have zero point 0", x)
            self.zero_point = self.zero_point.astype(np.float32)
        self.constant = None
        if name in self.PACKED:
            ctx.check(x.is_const, f"a non-constant {name} input is not supported", x)
        if x.is_const:
            self.constant = np.empty(x.shape, np.float32)
            data = np.asarray(x.data)
            fast = (compiled_ops_for(data.size) if name == "FLOAT16"
                    and data.dtype == np.float16 and data.flags.c_contiguous else None)
            if fast is not None:
                # float16 weights (MobileNetV2: 3.5 M values) widened in compiled code,
                # ~2x numpy's cast (compiled_ops.half_to_float_bits, the same bits)
                fast.half_to_float_bits(data.reshape(-1).view(np.uint16),
                                        self.constant.reshape(-1).view(np.uint32))
            else:
                self.compute(data, self.constant)

    def compute(self, x, out):
        np.copyto(out, x)
        if self.scale is not None:
            out -= self.zero_point          # exact: |q - zp| < 2^17
            out *= self.scale               # one float32 rounding of the exact product

    def invoke(self, ictx):
        if self.constant is not None:
            np.copyto(ictx.outputs[0], self.constant)
        else:
            self.compute(ictx.inputs[0], ictx.outputs[0])


@register("QUANTIZE", versions=(1, 6))
class Quantize(Kernel):
    """float32 -> int8/uint8/int16: round(x / scale) half away from zero, + zero point,
    clamped, bit-exact with LiteRT's reference kernel on x86: x / scale in float32,
    the rounded value converts to int32 like a C cast (NaN and values beyond int32
    become INT32_MIN) and the zero point is added in wrapping int32 arithmetic
    before clamping. (LiteRT's default kernels round halves to even instead.)

    int8/uint8/int16/int32 -> int8/uint8/int16/int32 (as LiteRT allows): integer
    requantization with MultiplyByQuantizedMultiplier(q - zp_in, in_scale / out_scale)
    + zp_out, clamped; 8- and 16-bit inputs go through a table built in prepare."""

    FLOAT_OUT = ("INT8", "UINT8", "INT16")
    REQUANT: ClassVar[dict[str, tuple[str, ...]]] = {
        "INT8": ("INT8", "UINT8", "INT16"), "UINT8": ("INT8", "UINT8", "INT16"),
        "INT16": ("INT8", "INT16", "INT32"), "INT32": ("INT8", "INT16")}

    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        x = ctx.input(0)
        out = ctx.outputs[0]
        src, dst = type_name(x), type_name(out)
        ctx.check(is_quantized(out), "output has no quantization parameters", out)
        if src == "FLOAT32":
            ctx.check(dst in self.FLOAT_OUT, f"cannot quantize FLOAT32 to {dst} (supported: "
                      f"{', '.join(self.FLOAT_OUT)})", out)
            self._prepare_float(ctx, x, out)
        elif src in self.REQUANT:
            ok = self.REQUANT[src]
            ctx.check(dst in ok, f"cannot requantize {src} to {dst} (supported: "
                      f"{', '.join(ok)})", out)
            self._prepare_requantize(ctx, x, out, src, dst)
        else:
            raise ctx.error(f"input type {src} is not supported (supported: FLOAT32, "
                            f"{', '.join(self.REQUANT)})", x)
        ctx.set_output(0, x.shape)

    # ---- float32 -> integer
    def _prepare_float(self, ctx, x, out):
        self.mode = "float"
        self.lo, self.hi = arith.dtype_range(out.dtype)
        scale, zp = _channel_params(ctx, out, "output")
        self.scale = scale
        self.zero_point = zp.astype(np.float64)
        self.t32 = np.empty(x.shape, np.float32)
        self.t = np.empty(x.shape, np.float64)
        self.half = np.empty(x.shape, np.float64)
        self.mask = np.empty(x.shape, np.bool_)
        self.mask2 = np.empty(x.shape, np.bool_)

    def _invoke_float(self, x, out):
        t, half, mask = self.t, self.half, self.mask
        np.divide(x, self.scale, out=self.t32)          # float32 division
        np.copyto(t, self.t32)
        # std::round: halves away from zero; t + copysign(0.5, t) is exact in float64
        # for |t| < 2^52 and larger values are integers already.
        np.copysign(0.5, t, out=half)
        half += t
        np.trunc(half, out=t)
        # static_cast<int32_t>: anything outside int32 (and NaN) is INT32_MIN on x86.
        np.greater_equal(t, -INT32_LIMIT, out=mask)
        np.less(t, INT32_LIMIT, out=self.mask2)
        mask &= self.mask2
        np.logical_not(mask, out=mask)
        np.copyto(t, -INT32_LIMIT, where=mask)
        t += self.zero_point
        # int32 addition wraps.
        np.greater_equal(t, INT32_LIMIT, out=mask)
        np.subtract(t, 2 * INT32_LIMIT, out=t, where=mask)
        np.less(t, -INT32_LIMIT, out=mask)
        np.add(t, 2 * INT32_LIMIT, out=t, where=mask)
        np.clip(t, self.lo, self.hi, out=t)
        np.copyto(out, t, casting="unsafe")

    # ---- integer -> integer
    def _prepare_requantize(self, ctx, x, out, src, dst):
        self.lo, self.hi = arith.dtype_range(out.dtype)
        ctx.check(is_quantized(x), "input has no quantization parameters", x)
        ctx.check(not x.quant.per_channel and not out.quant.per_channel,
                  "per-channel requantization is not supported", x)
        in_zp, out_zp = x.zero_point, out.zero_point
        if src == "INT16" and dst == "INT16":
            ctx.check(in_zp == 0 and out_zp == 0, "int16 -> int16 requires zero points of 0")
        real = float(np.float64(np.float32(x.scale)) / np.float64(np.float32(out.scale)))
        self.multiplier, self.shift = arith.quantize_multiplier(real)
        self.in_zp, self.out_zp = in_zp, out_zp
        if src == "INT32":
            self.mode = "int32"
            return
        # Every input value's result, indexed by the value's unsigned bit pattern.
        self.mode = "table"
        info = np.iinfo(x.dtype)
        values = np.arange(info.min, info.max + 1, dtype=np.int64)
        results = self._requantize(values)
        unsigned = np.dtype(f"u{x.dtype.itemsize}")
        self.unsigned = unsigned
        table = np.empty(values.size, out.dtype)
        table[values.astype(x.dtype).view(unsigned)] = results
        self.table = table
        # 8-bit to 8-bit where the table is a constant step on the bytes (the same
        # scale, zero points apart, no clamp reached: the uint8 <-> int8 QUANTIZE at a
        # uint8-I/O model's ends, out = q + 128 as bytes): one uint8 add, wrapping,
        # instead of a take (3K values: ~4.5 -> ~0.7 us). The same bits as the table.
        self.byte_step = None
        if x.dtype.itemsize == 1 and out.dtype.itemsize == 1:
            tb = table.view(np.uint8)
            step = int(tb[0])
            if np.array_equal(tb, (np.arange(256) + step).astype(np.uint8)):
                self.mode = "step"
                self.byte_step = np.asarray(np.uint8(step))

    def _requantize(self, q: np.ndarray) -> np.ndarray:
        v = arith.multiply_by_quantized_multiplier(q - self.in_zp, self.multiplier, self.shift)
        return np.clip(v + self.out_zp, self.lo, self.hi)

    def invoke(self, ictx):
        x, out = ictx.inputs[0], ictx.outputs[0]
        if self.mode == "float":
            self._invoke_float(x, out)
        elif self.mode == "step":
            np.add(x.view(np.uint8), self.byte_step, out=out.view(np.uint8))
        elif self.mode == "table":
            np.take(self.table, x.view(self.unsigned), out=out, mode="wrap")
        else:
            np.copyto(out, self._requantize(x.astype(np.int64)), casting="unsafe")
