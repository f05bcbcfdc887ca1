"""Helpers shared by kernel families: padding, fused activations, broadcasting."""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided as _np_as_strided

# The clip ufunc itself, for every kernel: np.clip's Python wrapper costs ~3-9 us a call
try:
    from numpy._core.umath import clip as clip_ufunc
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as clip_ufunc

from edgelite.format.schema.tflite_tables import ActivationFunctionType, Padding

# (low, high) bounds of each fused activation in float.
ACTIVATION_RANGE = {
    ActivationFunctionType.NONE: (None, None),
    ActivationFunctionType.RELU: (0.0, None),
    ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0),
    ActivationFunctionType.RELU6: (0.0, 6.0),
}


# Constant arrays for the bound of a one-sided clamp (ReLU): numpy's maximum / minimum
# take their SIMD loop only with two contiguous array operands; with a scalar (or a
# broadcast) bound they run a scalar loop, 2.2-3x slower on float32 from 4K values up
# (numpy 2.4, measured: 64K values 21 -> 9.5 us).
_BOUNDS: dict = {}
BOUND_MIN_SIZE = 4096


def as_strided(x: np.ndarray, shape=None, strides=None, subok: bool = False,
               writeable: bool = True) -> np.ndarray:
    """numpy.lib.stride_tricks.as_strided, ~8x cheaper (~0.5 us against ~4) for a
    C-contiguous x whose view stays inside it: made by the ndarray constructor over x's
    own bytes (numpy checks the extent). Kernels make dozens of these views at every bind
    (~70 for MobileNetV2 int8's depthwise bands). Anything else goes to numpy's."""
    if (type(x) is np.ndarray and x.flags.c_contiguous and shape is not None
            and strides is not None and not subok):
        try:
            v = np.ndarray(shape, x.dtype, x, 0, strides)
        except (TypeError, ValueError, BufferError):
            pass
        else:
            if not writeable and v.flags.writeable:
                v.flags.writeable = False
            return v
    return _np_as_strided(x, shape, strides, subok, writeable)


def bound_like(x: np.ndarray, value) -> np.ndarray | None:
    """A read-only array of `value` with the shape and dtype of the C-contiguous float
    array x (a view of a shared constant buffer), or None when x is small, strided or
    not floating (then a scalar bound is as fast)."""
    if x.size < BOUND_MIN_SIZE or x.dtype.kind != "f" or not x.flags.c_contiguous:
        return None
    key = (x.dtype.str, float(value))
    buf = _BOUNDS.get(key)
    if buf is None or buf.size < x.size:
        buf = np.full(max(x.size, 1 << 16), value, x.dtype)
        buf.flags.writeable = False
        _BOUNDS[key] = buf
    return buf[:x.size].reshape(x.shape)


_SCALARS: dict = {}


def scalar0(value, dtype) -> np.ndarray:
    """A read-only 0-d array of `value` as `dtype`, shared: a ufunc takes it faster than
    a Python float, which it converts on every call (a maximum of 512 float32 values:
    0.93 -> 0.62 us; the clip ufunc likewise)."""
    key = (np.dtype(dtype).str, float(value))
    a = _SCALARS.get(key)
    if a is None:
        a = np.asarray(np.dtype(dtype).type(value))
        a.setflags(write=False)
        _SCALARS[key] = a
    return a


def negative(x: np.ndarray, out: np.ndarray) -> None:
    """out = -x (float or signed integer x), also for strided arrays: numpy 2.4's
    np.negative returns wrong values when its operands' stride is 16 bytes (32-bit
    types) or 64 bytes (64-bit types) (measured with numpy 2.4.6 on AVX-512: e.g. the
    column x[:, 1] of a [B, 4] float32 array read as if contiguous), so anything but
    contiguous arrays is negated as x * -1, the same exact negation (signed zeros,
    infinities and integer wrap-around included)."""
    if x.flags.c_contiguous and out.flags.c_contiguous:
        np.negative(x, out=out)
    else:
        np.multiply(x, scalar0(-1, x.dtype), out=out)


def _small_bound(x: np.ndarray, lo):
    """The bound operand of max(x, lo) when bound_like declines: a 0-d array of x's
    float dtype, else lo itself."""
    return scalar0(lo, x.dtype) if x.dtype.kind == "f" else lo


def maximum_inplace(x: np.ndarray, lo) -> None:
    """x = max(x, lo) in place, through bound_like when that is faster."""
    b = bound_like(x, lo)
    np.maximum(x, _small_bound(x, lo) if b is None else b, out=x)


def invoke_for_binding(kernel, cls_invoke, run):
    """An invoke for the kernel's current binding (its _x / _out): run() when the
    arrays handed in are the bound ones, else cls_invoke(kernel, ictx) (the class's
    invoke, which binds again). A kernel puts it in place of its invoke at bind, and the
    executor's step then calls it directly."""
    x0, out0 = kernel._x, kernel._out

    def fast(ictx) -> None:
        if ictx.inputs[0] is not x0 or ictx.outputs[0] is not out0:
            cls_invoke(kernel, ictx)
            return
        run()
    return fast


class MaximumInplace:
    """maximum_inplace(x, lo) for one call site: the bound of the last x is kept, so
    a kernel called on the same output array every invoke looks it up once (bound_like
    costs ~1.3 us a call, as much as the maximum of 4K values)."""
    __slots__ = ("bound", "lo", "x")

    def __init__(self, lo):
        self.lo, self.x, self.bound = lo, None, lo

    def __call__(self, x: np.ndarray) -> None:
        np.maximum(x, self.bound_for(x), out=x)

    def bound_for(self, x: np.ndarray):
        """The second operand of the maximum for x (looked up when x is new)."""
        if x is not self.x:
            b = bound_like(x, self.lo)
            self.x, self.bound = x, (_small_bound(x, self.lo) if b is None else b)
        return self.bound


def activation_code(options) -> int:
    return int(getattr(options, "fusedActivationFunction", 0) or 0) if options is not None else 0


def check_activation(ctx, code: int) -> None:
    if code not in ACTIVATION_RANGE and code not in (ActivationFunctionType.TANH,
                                                      ActivationFunctionType.SIGN_BIT):
        raise ctx.error(f"unknown fused activation {code}")


def apply_activation(x: np.ndarray, code: int) -> None:
    """Apply a fused activation in place (float arrays)."""
    if code == ActivationFunctionType.NONE:
        return
    if code in ACTIVATION_RANGE:
        lo, hi = ACTIVATION_RANGE[code]
        if hi is None:
            maximum_inplace(x, lo)
        else:
            # the clip ufunc with 0-d bounds: np.clip's Python wrapper costs ~9 us a call
            clip_ufunc(x, scalar0(lo, x.dtype), scalar0(hi, x.dtype), out=x)
    elif code == ActivationFunctionType.TANH:
        np.tanh(x, out=x)
    elif code == ActivationFunctionType.SIGN_BIT:
        np.copyto(x, np.signbit(x).astype(x.dtype))


def tiled(v: np.ndarray, reps: int, dtype=None) -> np.ndarray:
    """np.tile(v.reshape(-1), reps) (cast to dtype when given) in one broadcast copy:
    np.tile's Python steps cost ~4 us a call, ~200 calls per MobileNetV2 load."""
    v = np.asarray(v).reshape(-1)
    out = np.empty((reps, v.size), v.dtype if dtype is None else dtype)
    out[...] = v
    return out.reshape(-1)


def largest_divisor(n: int, limit: int) -> int:
    """The largest divisor of n that is <= limit (>= 1), in O(sqrt(n)) steps (every
    number divides 0)."""
    if n <= 0:
        return limit
    best = 1
    for i in range(1, math.isqrt(n) + 1):
        if n % i == 0:
            if n // i <= limit:
                return max(n // i, best)
            if i <= limit:
                best = i
    return best


def transposed_copy(w: np.ndarray, dtype=None) -> np.ndarray:
    """A C-contiguous copy of w.T for a 2-D w (cast to dtype when given), made 64 rows
    of w at a time: each block's reads and writes stay in cache, where one strided
    copy of a large matrix is not (MobileNetV2's float convolution filters, 2.1 M
    values: ~3.0 -> ~1.6 ms at load)."""
    rows, cols = w.shape
    out = np.empty((cols, rows), w.dtype if dtype is None else dtype)
    for r0 in range(0, rows, 64):
        out[:, r0:r0 + 64] = w[r0:r0 + 64].T
    return out


def conv_output_size(padding: int, in_size: int, filter_size: int, stride: int,
                     dilation: int = 1) -> int:
    """TFLite's ComputeOutSize."""
    eff = (filter_size - 1) * dilation + 1
    if stride <= 0:
        return 0
    if padding == Padding.SAME:
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride if in_size >= eff else 0


def conv_padding(padding: int, in_size: int, filter_size: int, stride: int, dilation: int,
                 out_size: int) -> tuple[int, int]:
    """(pad_before, pad_after) as TFLite's ComputePaddingHeightWidth (offset goes after)."""
    eff = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    before = total // 2
    return before, total - before


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy-style broadcast result shape, or None when the shapes are incompatible."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def batch_matmul_shapes(ctx, a, b, adj_x: bool, adj_y: bool):
    """BATCH_MATMUL's shape rules, shared by its float, quantized and hybrid kernels.

    Validates ranks (2-5), batch broadcasting and the inner dimension; returns
    (ea, eb, batch, rows, k, cols) where ea / eb are the operand shapes padded with
    leading 1s to a common rank and batch is the broadcast batch shape.
    """
    for t, what in ((a, "lhs"), (b, "rhs")):
        ctx.check(2 <= len(t.shape) <= 5, f"{what} must have rank 2 to 5, got shape "
                                          f"{list(t.shape)}", t)
    rank = max(len(a.shape), len(b.shape))
    ea = (1,) * (rank - len(a.shape)) + tuple(a.shape)
    eb = (1,) * (rank - len(b.shape)) + tuple(b.shape)
    batch = []
    for da, db in zip(ea[:-2], eb[:-2]):
        if da != db and da != 1 and db != 1:
            raise ctx.error(f"batch dimensions of {list(a.shape)} and {list(b.shape)} do not "
                            f"broadcast")
        batch.append(db if da == 1 else da)
    rows, k = (ea[-1], ea[-2]) if adj_x else (ea[-2], ea[-1])
    kb, cols = (eb[-1], eb[-2]) if adj_y else (eb[-2], eb[-1])
    ctx.check(k == kb, f"inner dimensions differ: lhs {list(a.shape)} (adj_x={adj_x}) "
                       f"and rhs {list(b.shape)} (adj_y={adj_y})")
    return ea, eb, tuple(batch), rows, k, cols
