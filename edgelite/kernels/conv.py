"""Convolutions and matrix products: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
FULLY_CONNECTED, BATCH_MATMUL, CONV_3D.

Float32 only for now. Every kernel's prepare switches on the dtypes of its
inputs (`_dtype_path`) so quantized (int8/uint8/int16) and hybrid (float
input, integer weights) paths can be added next to the float one; today
those raise a clear "not supported yet" error naming the node.

Speed (DESIGN.md): convolutions are im2col + one BLAS GEMM. The im2col
windows are an `as_strided` view over a zero-bordered copy of the input (a
scratch buffer) built once in bind; invoke copies the windows into the
column buffer and calls `np.matmul(..., out=)`. A 1x1 stride-1 convolution
is a plain GEMM on the input itself. Filters are re-laid for the GEMM in
prepare. Depthwise convolutions multiply-accumulate whole [N, OH, OW, C]
planes, one filter tap at a time. Small nodes keep padded inputs (and some
column buffers) in private buffers whose borders / ones are written once.

Compiled tier (numba, `compiled_tier`): CONV_2D/CONV_3D with a constant filter
run compiled_gemm's register-tiled GEMM with the bias and clamp fused (1x1:
on the input itself; 2-D with dilation_w 1: an implicit GEMM over a strided view
of the padded input; else over im2col columns); depthwise convolutions run
compiled.py's kernels (compiled_gemm's vector kernel for 3x3, multiplier 1).
"""
from __future__ import annotations

import abc
import contextlib
import functools
import math
import sys

import numpy as np

from edgelite.format.schema.tflite_tables import ActivationFunctionType, Padding
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext, TensorSpec
from edgelite.kernels.common import (
    ACTIVATION_RANGE,
    _small_bound,
    activation_code,
    as_strided,
    batch_matmul_shapes,
    bound_like,
    conv_output_size,
    largest_divisor,
    maximum_inplace,
    scalar0,
    tiled,
    transposed_copy,
)
from edgelite.kernels.common import clip_ufunc as _clip_ufunc
from edgelite.kernels.registry import register

F32 = np.dtype(np.float32)

# The compiled tier (edgelite/kernels/compiled*.py, numba) serves nodes with at
# least this many output values; below it numba's per-call dispatch (~2 us)
# buys little, and a model made only of such nodes never imports numba
# (~0.5 s import + ~0.5 s first cached kernel load per process). Measured:
# the keyword-spotting fixture (nodes of 4000 values) went from 7.1x LiteRT to
# 2.6x when its nodes moved to this tier (the gate was 4096); the bundled
# digits demo (nodes of <= 2048 values) stays numba-free.
COMPILED_MIN_OUTPUT = 3072
# Kernels that ask for it (`small_ok`) also use the tier from this many outputs on
# once numba is loaded anyway (an earlier, bigger node of this model or of another
# one in this process imported the compiled module): a numba call costs ~0.3-0.5 us
# where such a node makes several ~1 us numpy calls (cnn fixture: its last CONV_2D,
# 4x4x32 outputs, ~7.7 -> ~2.5 us). Models of small nodes alone still never load numba.
COMPILED_SMALL_OUTPUT = 256
# Whether `small_ok` applies at all (the test suite turns it off by default, so which
# tier a small node gets does not depend on what earlier tests imported; the tier tests
# ask for the compiled tier at every size through COMPILED_MIN_OUTPUT instead).
COMPILED_SMALL_NODES = True
_COMPILED_WANTED = None


@contextlib.contextmanager
def numpy_tier_preferred():
    """Within: nodes prepared here run on the numpy tier, unless the environment sets
    EDGELITE_COMPILED (then it decides). For a command that invokes a model once, where
    importing and starting numba (~0.45 s a process, docs/performance.md "Cold start")
    is never paid back."""
    global _COMPILED_WANTED
    import os
    before = _COMPILED_WANTED
    if "EDGELITE_COMPILED" not in os.environ:
        _COMPILED_WANTED = False
    try:
        yield
    finally:
        _COMPILED_WANTED = before


def compiled_tier_if_loaded(output_size: int):
    """compiled_tier for a node that takes the tier at any size once numba is loaded
    anyway (one compiled call beats its few numpy calls): below COMPILED_SMALL_OUTPUT
    too."""
    return compiled_tier(max(output_size, COMPILED_SMALL_OUTPUT), small_ok=True)


def compiled_wanted() -> bool:
    """Whether nodes prepared now may take the compiled tier: numba is there and the
    environment does not say no (EDGELITE_COMPILED), unless numpy_tier_preferred says so."""
    if _COMPILED_WANTED is not None:
        return _COMPILED_WANTED
    import importlib.util
    import os
    off = os.environ.get("EDGELITE_COMPILED", "1").strip().lower() in ("0", "false", "no",
                                                                      "off")
    return not off and importlib.util.find_spec("numba") is not None


def compiled_tier(output_size: int, small_ok: bool = False):
    """The compiled-kernel module if that tier should run a node this big, else None."""
    global _COMPILED_WANTED
    small = (small_ok and COMPILED_SMALL_NODES and output_size >= COMPILED_SMALL_OUTPUT
             and "edgelite.kernels.compiled" in sys.modules)
    if output_size < COMPILED_MIN_OUTPUT and not small:
        return None
    if _COMPILED_WANTED is None:
        _COMPILED_WANTED = compiled_wanted()
    if not _COMPILED_WANTED:
        return None
    from edgelite.kernels import compiled  # imports numba: first use only
    return compiled if compiled.ENABLED else None


# np.einsum without optimize= is this C function behind ~1 us of Python argument
# handling; the depthwise einsum paths call it directly.
try:
    from numpy._core.multiarray import c_einsum as _c_einsum
except ImportError:     # numpy < 2
    try:
        from numpy.core.multiarray import c_einsum as _c_einsum
    except ImportError:
        _c_einsum = np.einsum

_QUANTIZED = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))
_INT_WEIGHTS = (np.dtype(np.int8), np.dtype(np.uint8))


# ---------------------------------------------------------------- shared helpers
def _opt(options, name: str, default):
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def float_activation(ctx: PrepareContext, options) -> tuple[float | None, float | None]:
    """The (low, high) clamp of a fused activation for float kernels.

    LiteRT's CalculateActivationRange only knows RELU, RELU_N1_TO_1 and RELU6:
    a fused TANH or SIGN_BIT is silently ignored by its float conv/pool kernels,
    and we do the same."""
    code = activation_code(options)
    if not 0 <= code <= ActivationFunctionType.SIGN_BIT:
        raise ctx.error(f"unknown fused activation function {code}")
    return ACTIVATION_RANGE.get(code, (None, None))


# (lo, hi) -> common.scalar0 float32 arrays of the bounds: the clip ufunc takes them
# ~0.5 us faster than Python floats, which it converts on every call (4K values:
# 1.75 -> 1.26 us; 512: 1.11 -> 0.57 us)
_CLIP_BOUNDS: dict = {}


def clip_bounds(bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The 0-d float32 array form of a two-sided clamp's (lo, hi)."""
    b = _CLIP_BOUNDS.get(bounds)
    if b is None:
        b = _CLIP_BOUNDS[bounds] = (scalar0(bounds[0], F32), scalar0(bounds[1], F32))
    return b


def clamp_inplace(x: np.ndarray, bounds: tuple[float | None, float | None]) -> None:
    lo, hi = bounds
    if lo is None:
        return
    if hi is None:
        maximum_inplace(x, lo)
    elif x.dtype == F32:
        lo, hi = clip_bounds(bounds)
        _clip_ufunc(x, lo, hi, out=x)     # np.clip's own ufunc, without its ~2 us wrapper
    else:
        _clip_ufunc(x, lo, hi, out=x)


def clamp_op(x: np.ndarray, bounds: tuple[float | None, float | None]):
    """clamp_inplace(x, bounds) with its operands looked up once, for a kernel that
    clamps the same array on every invoke: (ufunc, inputs, out), done by
    ufunc(*inputs, out=out), or None when there is no clamp. Saves the bounds' lookups
    of every call (~0.3 us; a ReLU's same-shape bound array ~1 us). (out goes by
    keyword: numpy 2.4 deprecates a positional out for maximum, with a warning per
    call.)"""
    lo, hi = bounds
    if lo is None:
        return None
    if hi is None:
        b = bound_like(x, lo)
        return np.maximum, (x, _small_bound(x, lo) if b is None else b), x
    if x.dtype == F32:
        lo, hi = clip_bounds(bounds)
    return _clip_ufunc, (x, lo, hi), x


def clamped_copy(src: np.ndarray, dst: np.ndarray, bounds):
    """A function of no arguments doing dst = clamp(src, bounds) in one numpy call (a
    partial: np.copyto, a maximum or a clip with 0-d float32 bounds). (np.positive as
    the copy was 3x slower than np.copyto on a strided 16K-value view.)"""
    lo, hi = bounds
    if lo is None:
        return functools.partial(np.copyto, dst, src)
    if hi is None:
        return functools.partial(np.maximum, src, scalar0(lo, F32), out=dst)
    return functools.partial(_clip_ufunc, src, *clip_bounds(bounds), out=dst)


def _dtype_path(ctx: PrepareContext, x: TensorSpec, w: TensorSpec | None = None) -> str:
    """'float' for the implemented path; a clear error for quantized and hybrid ones."""
    if x.dtype == F32 and (w is None or w.dtype == F32):
        return "float"
    if x.dtype == F32 and w is not None and w.dtype in _INT_WEIGHTS:
        raise ctx.error(f"hybrid {ctx.op_name} (float32 input, {w.dtype} weights) is not "
                        f"supported yet", w)
    if x.dtype in _QUANTIZED:
        raise ctx.error(f"{x.dtype} {ctx.op_name} is not supported yet", x)
    bad = x if x.dtype != F32 else w
    raise ctx.error(f"{ctx.op_name} does not support type {bad.dtype}", bad)


def _check_positive(ctx: PrepareContext, **values: int) -> None:
    for name, v in values.items():
        if v <= 0:
            raise ctx.error(f"{name} must be positive, got {v}")


def _check_bias(ctx: PrepareContext, bias: TensorSpec | None, n: int, dtype=F32) -> None:
    if bias is None:
        return
    ctx.check_dtype(bias, dtype, "bias")
    if bias.size != n:
        raise ctx.error(f"bias has {bias.size} elements, expected {n} (one per output "
                        f"channel)", bias)


def _pad_name(ctx: PrepareContext, padding: int) -> int:
    if padding not in (Padding.SAME, Padding.VALID):
        raise ctx.error(f"unknown padding {padding}")
    return padding


def _same_valid_pads(padding: int, in_size: int, k: int, stride: int, dilation: int,
                     out_size: int) -> tuple[int, int]:
    """(before, after) padding of TFLite's ComputePaddingHeightWidth; `after` is
    what the windows may read past the input (zero when VALID)."""
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    before = total // 2
    return before, total - before


class Epilogue:
    """Bias add and fused clamp, in place, over an output seen as [rows, n].

    A constant bias is tiled r times (r dividing rows) so that each numpy
    inner loop covers r output rows instead of only n values."""

    def __init__(self, bias: TensorSpec | None, bias_input: int, rows: int, n: int, bounds):
        self.rows, self.n, self.bounds = rows, n, bounds
        self.clamp = None       # (bind: clamp_op of the output)
        self.bias_input = bias_input if bias is not None and bias.data is None else None
        r = 1
        if bias is not None and bias.data is not None:
            # the largest r <= 8192 / n dividing rows
            r = largest_divisor(rows, max(1, 8192 // max(n, 1)))
            self.bias = tiled(bias.data, r, F32)
        else:
            self.bias = None
        self.r = r
        # Compiled tier: bias add and clamp in one pass (nothing to do: no call).
        compiled = compiled_tier(rows * n)
        self.fast = compiled is not None and (bias is not None or bounds[0] is not None)
        if self.fast:
            self.bias_act = compiled.bias_act_rows
            self.bias_act_flat = compiled.bias_act_flat
            self.has_bias = bias is not None
            self.bias_c = (np.array(bias.data.reshape(-1), F32) if bias is not None and
                           bias.data is not None else np.zeros(n, F32))
            # a constant (or no) bias tiled to ~2048 values for the flat kernel
            self.bias_flat = (tiled(self.bias_c, max(1, 2048 // max(n, 1)))
                              if self.bias_input is None else None)
            self.lo, self.hi = compiled.float_bounds(bounds)

    def bind(self, out: np.ndarray) -> None:
        self.rows_view = out.reshape(self.rows, self.n)
        self.tiled_view = out.reshape(self.rows // self.r, self.r * self.n)
        # the clamp's operands, looked up once (a ReLU's bound: a same-shape constant
        # array, common.bound_like)
        self.clamp = clamp_op(self.tiled_view, self.bounds)
        self.flat_view = None
        if self.fast and self.bias_flat is not None and out.flags.c_contiguous:
            self.flat_view = out.reshape(-1)

    def clone(self) -> Epilogue:
        """A shallow copy (its constants shared) to bind to another block: copy.copy's
        generic path costs ~7 us, ~95 calls per MobileNetV2 load."""
        twin = Epilogue.__new__(Epilogue)
        twin.__dict__.update(self.__dict__)
        return twin

    def ops(self):
        """run() as a list of (ufunc, inputs, out) to call in order, as
        ufunc(*inputs, out=out), for a kernel's bound closure: None when run() needs the
        invoke's arrays (a bias input) or is the compiled kernel's call."""
        if self.fast or self.bias_input is not None:
            return None
        ops = []
        if self.bias is not None:
            ops.append((np.add, (self.tiled_view, self.bias), self.tiled_view))
        if self.clamp is not None:
            ops.append(self.clamp)
        return ops

    def run(self, ictx: InvokeContext) -> None:
        if self.fast:
            if self.flat_view is not None:
                self.bias_act_flat(self.flat_view, self.bias_flat, self.has_bias, self.lo,
                                   self.hi)
                return
            bias = self.bias_c
            if self.bias_input is not None:
                bias = np.ascontiguousarray(ictx.inputs[self.bias_input].reshape(-1), F32)
            self.bias_act(self.rows_view, bias, self.has_bias, self.lo, self.hi)
            return
        if self.bias is not None:
            np.add(self.tiled_view, self.bias, out=self.tiled_view)
        elif self.bias_input is not None:
            bias = ictx.inputs[self.bias_input].reshape(-1)
            np.add(self.rows_view, bias, out=self.rows_view)
        c = self.clamp
        if c is not None:
            c[0](*c[1], out=c[2])


# A padded input of at most this many bytes lives in a private buffer of its node
# (borders written once at bind) instead of shared scratch (borders rewritten at
# every invoke): one to three numpy calls less per invoke.
_PRIVATE_PAD_BYTES = 64 * 1024
# The planar input of channel-major columns (see _ImageToColumnsConv._setup).
_PRIVATE_PLANAR_BYTES = 256 * 1024
# Private row-major columns with a ones column (see _ImageToColumnsConv._setup).
_PRIVATE_COL_BYTES = 64 * 1024


class PaddedInput:
    """A zero- (or `fill`-) bordered copy of an N-D input, in a scratch buffer.

    The borders are rewritten at every fill because scratch memory is shared
    with other nodes between invokes; the interior is one np.copyto."""

    def __init__(self, in_shape: tuple[int, ...], pads: list[tuple[int, int]], fill: float = 0.0):
        # pads: (before, after) for each axis in order (0 for non-spatial axes).
        self.in_shape = tuple(in_shape)
        self.pads = pads
        self.fill_value = fill
        self.shape = tuple(d + b + a for d, (b, a) in zip(in_shape, pads))
        self.needed = any(b or a for b, a in pads)

    def bind(self, buf: np.ndarray, private: bool = False) -> None:
        """`private`: nothing else writes buf (not shared scratch), so the borders
        are written here once and fill() only copies the interior."""
        self.buf = buf
        inner = tuple(slice(b, b + d) for d, (b, _) in zip(self.in_shape, self.pads))
        self.inner = buf[inner]
        if not self._bind_seams(buf):
            self._bind_planes(buf)
        if private:
            for border in self.borders:
                border.fill(self.fill_value)
            self.borders = []

    def _bind_planes(self, buf: np.ndarray) -> None:
        self.borders = []
        for axis, (b, a) in enumerate(self.pads):
            full = [slice(None)] * buf.ndim
            if b:
                full[axis] = slice(0, b)
                self.borders.append(buf[tuple(full)])
            if a:
                full[axis] = slice(buf.shape[axis] - a, None)
                self.borders.append(buf[tuple(full)])

    def own_buffer(self) -> np.ndarray | None:
        """A private buffer for a small padded input (see _PRIVATE_PAD_BYTES), else None
        (the caller requests scratch)."""
        if not self.needed or math.prod(self.shape) * 4 > _PRIVATE_PAD_BYTES:
            return None
        return np.zeros(self.shape, F32)

    def _bind_seams(self, buf: np.ndarray) -> bool:
        """[N, H, W, C] padded along H and W only, contiguous: the borders as three
        flat runs per image, not four planes: the top rows with the first row's left
        border, the bottom rows with the last row's right border, and the seams (a
        row's right border followed by the next row's left border)."""
        pads = self.pads
        if (len(pads) != 4 or pads[0] != (0, 0) or pads[3] != (0, 0)
                or not buf.flags.c_contiguous or buf.size == 0):
            return False
        n, hp, wp, c = buf.shape
        (pt, pb), (pl, pr) = pads[1], pads[2]
        h = hp - pt - pb
        flat = buf.reshape(n, hp * wp * c)
        head = (pt * wp + pl) * c
        tail = ((pt + h - 1) * wp + wp - pr) * c if h else head
        self.borders = [flat[:, :head], flat[:, tail:]]
        seam = (pr + pl) * c
        if h > 1 and seam:
            first = ((pt * wp) + wp - pr) * c          # row pt's right border
            s0, s1 = flat.strides
            self.borders.append(as_strided(flat[:, first:], shape=(n, h - 1, seam),
                                           strides=(s0, wp * c * s1, s1)))
        self.borders = [b for b in self.borders if b.size]
        return True

    def fill(self, x: np.ndarray) -> None:
        for border in self.borders:
            border.fill(self.fill_value)
        np.copyto(self.inner, x)

    def bound_fill(self):
        """fill() on the buffer bound now, as a function of x: for a kernel's closure
        over one binding, which must keep this buffer's views when a later bind (to
        other arrays) rebinds this object."""
        borders, inner, value, copyto = tuple(self.borders), self.inner, self.fill_value, \
            np.copyto

        def fill(x: np.ndarray) -> None:
            for border in borders:
                border.fill(value)
            copyto(inner, x)
        return fill


def window_view(src: np.ndarray, out_sizes, kernel, strides, dilations) -> np.ndarray:
    """[N, *out_sizes, *kernel, C] view of sliding windows over src [N, *spatial, C]."""
    s = src.strides
    spatial = s[1:-1]
    shape = (src.shape[0], *out_sizes, *kernel, src.shape[-1])
    strides_ = (s[0], *(st * k for st, k in zip(spatial, strides)),
                *(st * d for st, d in zip(spatial, dilations)), s[-1])
    return as_strided(src, shape=shape, strides=strides_, writeable=False)


# A GEMM whose output is larger than this runs in blocks of output rows, each
# finished by its bias + clamp while still in the L2 cache (and, in the compiled
# tier, packed just before): one pass over memory instead of three.
_BLOCK_OUTPUT_BYTES = 1 << 20
_BLOCK_TARGET_BYTES = 160 * 1024
_BLOCK_MIN_ROWS = 256
# Window rows shorter than this many values (KW * C) are copied channel-major when
# the output rows are at least this long.
_SHORT_RUN = 16
# Channel-major columns fold a constant bias into the GEMM (a row of ones).
_FOLD_BIAS = True
# Compiled depthwise 3x3 (multiplier 1): compiled_gemm's vector kernel instead of
# compiled.py's (same values; measured interleaved, 1 thread: 16x16x16 0.45x,
# 112x112x32 0.53x, 28x28x192 0.85x, 14x14x576 0.92x, 7x7x960 0.88x, 56x56x144
# even, stride 2 layers 0.64-0.91x the time).
_DW_VECTOR = True
# The compiled GEMM (compiled_gemm) serves products with at least this many rows
# (below, e.g. a batch-1 classifier, BLAS's GEMV is as fast).
_GEMM_C_MIN_ROWS = 2


def gemm_row_block(rows: int, n: int) -> int:
    """Rows per block of a [rows, n] float32 GEMM output (rows itself: one block)."""
    if rows * n * 4 <= _BLOCK_OUTPUT_BYTES:
        return rows
    return min(rows, max(_BLOCK_MIN_ROWS, _BLOCK_TARGET_BYTES // (4 * max(n, 1))))


class _ImageToColumnsConv(Kernel):
    """Shared N-D (2-D or 3-D) im2col + GEMM convolution machinery.

    Subclasses' prepare calls `_setup(...)`; grouped convolutions run a batched
    GEMM over the groups. Ungrouped ones run in blocks of output rows
    (`gemm_row_block`): GEMM then epilogue per block, so the bias add and clamp
    touch the block while it is in cache."""

    def _setup(self, ctx: PrepareContext, x: TensorSpec, w_const, bias: TensorSpec | None,
               out_spatial, kernel, strides, dilations, pads, groups: int, out_ch: int,
               bounds) -> None:
        n, c = x.shape[0], x.shape[-1]
        self.bounds = bounds
        self.groups = groups
        self.out_shape = (n, *out_spatial, out_ch)
        self.rows = n * math.prod(out_spatial)
        cg = c // groups
        k = math.prod(kernel) * cg
        self.k = k
        self.kernel, self.strides, self.dilations = tuple(kernel), tuple(strides), tuple(dilations)
        self.out_spatial = tuple(out_spatial)
        self.block = max(1, gemm_row_block(self.rows, out_ch) if groups == 1 else self.rows)
        self.block_ranges = [(r0, min(self.rows, r0 + self.block))
                             for r0 in range(0, self.rows, self.block)]
        self.pad = PaddedInput(x.shape, [(0, 0), *pads, (0, 0)])
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        # A 1x1 (1x1x1) stride-1 convolution with no padding is a GEMM on the input itself.
        self.direct = (groups == 1 and all(kk == 1 for kk in kernel)
                       and all(s == 1 for s in strides) and not self.pad.needed)
        # Few input channels (an RGB input layer): a window row is only KW*C values, so
        # the columns are copied channel-major, [K, rows], where every inner run is a
        # row of output pixels; the GEMM reads that buffer transposed (both tiers:
        # 2.2x faster than the row-major copy, and than the compiled pack, at 224x224x3).
        self.transposed = (groups == 1 and not self.direct and kernel[-1] * cg < _SHORT_RUN
                           and out_spatial[-1] >= _SHORT_RUN)
        # Channel-major columns with a constant filter and bias: the bias is one more
        # row of the GEMM (a row of ones under the filter's row of biases) instead of
        # an epilogue pass.
        compiled = compiled_tier(self.rows * out_ch)
        # Compiled tier, constant filter (and bias): the register-tiled GEMM with the
        # bias and clamp fused (compiled_gemm), instead of BLAS then an epilogue pass.
        use_gemm_c = (compiled_tier(self.rows * out_ch, small_ok=True) is not None
                      and groups == 1 and w_const is not None
                      and (bias is None or bias.data is not None)
                      and self.rows >= _GEMM_C_MIN_ROWS)
        self.fold_bias = (_FOLD_BIAS and self.transposed and w_const is not None
                          and bias is not None and bias.data is not None)
        # Numpy tier, small row-major columns, constant filter and bias: a private
        # [rows, K + 1] column buffer whose last column is ones (written once), the bias
        # the filter's last row: no epilogue add (cnn fixture's last conv).
        self.col_own = None
        if (_FOLD_BIAS and compiled is None and not use_gemm_c and not self.transposed
                and not self.direct and groups == 1 and w_const is not None
                and bias is not None and bias.data is not None
                and self.rows * (k + 1) * 4 <= _PRIVATE_COL_BYTES):
            self.col_own = np.ones((self.rows, k + 1), F32)
            self.fold_bias = True
        # Numpy tier, tall windows over few channels (a keyword-spotting model's 10x4 over
        # one channel), one image: the window rows are runs of only KW * C values, so
        # im2col goes in two copies with longer runs. R[ox, r] = padded row r's window
        # row at output column ox (KW * C values), one copy of OW * Hp runs; then output
        # (oy, ox)'s KH * KW * C column values are one contiguous run of R[ox] (rows
        # oy * SH .. + KH), one copy of OW * OH runs. The GEMM's rows then run (ox, oy),
        # and the clamp copies its result into the output seen [OW, OH, O] (kws's first
        # conv: im2col ~7 -> ~3 us).
        self.rowcol = (self.col_own is not None and len(kernel) == 2 and n == 1
                       and dilations[0] == 1 and kernel[0] >= 4
                       and kernel[1] * cg < _SHORT_RUN)
        if self.rowcol:
            hp = x.shape[1] + pads[0][0] + pads[0][1]
            self.rc_buf = np.zeros((out_spatial[1], hp, kernel[1] * c), F32)
            self.rc_res = np.zeros((self.rows, out_ch), F32)
        epi_bias = None if self.fold_bias else bias
        if use_gemm_c:
            # the compiled GEMM fuses bias and clamp: no epilogue runs (building them was
            # ~1-2 ms of MobileNetV2's load)
            self.epilogue = None
            self.block_epilogues = [None] * len(self.block_ranges)
        else:
            self.epilogue = Epilogue(epi_bias, 2, self.rows, out_ch, bounds)
            # one Epilogue per block (each binds its own view), built once per block size
            made: dict[int, Epilogue] = {}
            self.block_epilogues = []
            for r0, r1 in self.block_ranges:
                if r1 - r0 not in made:
                    made[r1 - r0] = Epilogue(epi_bias, 2, r1 - r0, out_ch, bounds)
                self.block_epilogues.append(made[r1 - r0].clone())
        # Compiled tier, 2-D, dilation_w 1: an implicit GEMM over a strided view of the
        # (padded) input, each window row's KW*C values contiguous: no column buffer.
        # (`transposed` and `fold_bias` then only describe the numpy tier's layout.)
        self.implicit = (use_gemm_c and len(kernel) == 2 and not self.direct
                         and dilations[-1] == 1)
        # Compiled tier: each block of columns packed in one pass straight from the input.
        self.pack_c = (compiled is not None and len(kernel) == 2 and groups == 1
                       and not self.direct and not self.transposed and not self.implicit)
        if self.pack_c:
            self.pack = compiled.im2col_rows
            h, wd = x.shape[1:3]
            self.pack_geom = np.array([h, wd, c, *out_spatial, *kernel, *strides, *dilations,
                                       pads[0][0], pads[1][0]], np.int64)
        # Numpy tier, channel-major columns, 2-D, stride 1, a constant bias or none: the
        # input is kept planar, [N, C, Hp, Wp] in a private zero-bordered buffer, and the
        # GEMM computes "wide" output rows of Wp pixels (Wp - OW of them dropped when the
        # clamp copies the result out), so each column row (one tap of one channel) is a
        # single contiguous run of the planar input: one fast copy instead of
        # KH*KW*C*N*OH runs of OW values strided by C (cnn fixture's first conv ~31 ->
        # ~25 us).
        self.planar = None
        self.row_parity = False         # (set by take_row_parity, after every prepare)
        if (self.transposed and not use_gemm_c and len(kernel) == 2
                and tuple(strides) == (1, 1) and (bias is None or self.fold_bias)):
            hp, wp = self.pad.shape[1:3]
            size = n * c * hp * wp + (kernel[1] - 1) * dilations[1]
            if size * 4 <= _PRIVATE_PLANAR_BYTES:
                self.planar = np.zeros(size, F32)
                self.planar_geom = (hp, wp, pads[0][0], pads[1][0])
                self.wide_idx = ctx.request_scratch((n, out_spatial[0], wp, out_ch), F32)
        self.pad_own = None if self.pack_c or self.planar is not None else self.pad.own_buffer()
        self.pad_idx = (ctx.request_scratch(self.pad.shape, F32)
                        if self.pad.needed and not self.pack_c and self.pad_own is None
                        and self.planar is None else None)
        if self.planar is not None:
            self.col_idx = ctx.request_scratch(
                (k + self.fold_bias, n * out_spatial[0] * self.planar_geom[1]), F32)
        elif self.direct or self.implicit:
            self.col_idx = None
        elif self.transposed:
            self.col_idx = ctx.request_scratch((k + self.fold_bias, self.rows), F32)
        elif groups == 1:
            self.col_idx = (None if self.col_own is not None else ctx.request_scratch(
                (self.block if self.pack_c else self.rows, k), F32))
        else:
            self.col_idx = ctx.request_scratch((groups, self.rows, k), F32)
            self.gemm_idx = ctx.request_scratch((groups, self.rows, out_ch // groups), F32)
        self.weights_const = w_const is not None
        if use_gemm_c and not self.fold_bias:
            # only the compiled GEMM reads the filter: it packs its panels straight from
            # a view (no re-laid-out copy first)
            self.wt = None
            wt_plain = self._relayout_view(w_const)
        else:
            self.wt = self._relayout(w_const) if w_const is not None else None
            wt_plain = self.wt
        if self.fold_bias:
            self.wt = np.ascontiguousarray(
                np.vstack([self.wt, bias.data.reshape(1, -1).astype(F32)]), F32)
        self.gemm_c = None
        if use_gemm_c:
            from edgelite.kernels.compiled_gemm import Gemm, conv_rows
            self.conv_rows = conv_rows
            if self.implicit:       # tiles run along one output row
                self.gemm_c = Gemm(wt_plain, None if bias is None else bias.data.reshape(-1),
                                   out_spatial[-1], bounds)
            else:
                self.gemm_c = Gemm(wt_plain if self.wt is None else self.wt,
                                   None if bias is None or self.fold_bias
                                   else bias.data.reshape(-1), self.rows, bounds)

    @abc.abstractmethod
    def _relayout(self, w: np.ndarray) -> np.ndarray:
        """The constant filter re-laid out for this convolution's GEMM."""

    def _relayout_view(self, w: np.ndarray) -> np.ndarray:
        """_relayout's values, as a view where the layout allows one."""
        return self._relayout(w)

    def bind(self, ictx: InvokeContext) -> None:
        self.__dict__.pop("invoke", None)   # (a closure of the last binding: made anew)
        x = ictx.inputs[0]
        self._x = x
        out = ictx.outputs[0]
        self._out = out
        self.ones_row = None        # a row of ones to rewrite before each GEMM
        self.out2d = out.reshape(self.rows, self.out_shape[-1])
        if self.epilogue is not None:
            self.epilogue.bind(out)
        if self.planar is not None:
            self._bind_planar(ictx)
            return
        if self.implicit:
            src = x
            if self.pad.needed:
                self._bind_pad(ictx)
                src = self.pad.buf
            n, c = src.shape[0], src.shape[3]
            s0, s1, s2, s3 = src.strides
            (sh, sw), (dh, _), (kh, kw) = self.strides, self.dilations, self.kernel
            self.a5 = as_strided(src, (n, self.out_spatial[0], kh, self.out_spatial[1], kw * c),
                                 (s0, sh * s1, dh * s1, sw * s2, s3), writeable=False)
            return
        if self.pack_c:
            self.xf = x.reshape(-1)
            self.col = ictx.scratch[self.col_idx]
            self._bind_blocks(lambda r0, r1: self.col[:r1 - r0])
            self.pack_blocks = [(r0, col.reshape(-1), len(col), col, out_b, epi)
                                for r0, col, out_b, epi in self.blocks]
            return
        if self.pad.needed:
            self._bind_pad(ictx)
            src = self.pad.buf
        else:
            src = x
        self.rowcol_bound = (getattr(self, "rowcol", False) and x.flags.c_contiguous
                             and out.flags.c_contiguous)
        if self.rowcol_bound:
            self._bind_rowcol(src, out)
            return
        if self.direct:
            self.col = x.reshape(self.rows, self.k)       # (explicit: an empty batch)
        else:
            win = window_view(src, self.out_spatial, self.kernel, self.strides, self.dilations)
            col = self.col_own if self.col_own is not None else ictx.scratch[self.col_idx]
            if self.transposed:
                nd = len(self.kernel)
                # [N, *out, *kernel, C] -> [*kernel, C, N, *out]; the GEMM's columns are
                # the transposed [rows, K] view of the [K, rows] buffer
                self.win = win.transpose((*range(nd + 1, 2 * nd + 2), *range(nd + 1)))
                self.col_win = col[:self.k].reshape(self.win.shape)
                self.ones_row = col[self.k] if self.fold_bias else None
                self.col = col.T
            elif self.groups == 1:
                self.win = win
                self.col_win = col[:, :self.k].reshape(win.shape)
                self.col = col
            else:
                g = self.groups
                # [N, *out, *kernel, G, Cg] -> [G, N, *out, *kernel, Cg]
                win = win.reshape(*win.shape[:-1], g, -1)
                self.win = np.moveaxis(win, -2, 0)
                self.col_win = col.reshape(self.win.shape)
                self.col = col
                self.gemm = ictx.scratch[self.gemm_idx]
                # the output viewed [G, rows, Og]
                self.out_groups = self.out2d.reshape(self.rows, g,
                                                     self.out_shape[-1] // g).transpose(1, 0, 2)
                return
        self._bind_blocks(lambda r0, r1: self.col[r0:r1])
        self._bind_closure(ictx)

    def _bind_rowcol(self, src: np.ndarray, out: np.ndarray) -> None:
        """The two copies of the row-run im2col (see _setup), the GEMM and the clamped
        copy out, as a closure put in place of invoke."""
        img = src[0]                                    # [Hp, Wp, C]
        si = img.strides
        (sh, sw), (_, dw), (_, kw) = self.strides, self.dilations, self.kernel
        oh, ow = self.out_spatial
        c = img.shape[2]
        r_src = as_strided(img, shape=(ow, img.shape[0], kw, c),
                           strides=(sw * si[1], si[0], dw * si[1], si[2]), writeable=False)
        r_dst = self.rc_buf.reshape(r_src.shape)
        rs = self.rc_buf.strides
        s_src = as_strided(self.rc_buf, shape=(ow, oh, self.k),
                           strides=(rs[0], sh * rs[1], rs[2]), writeable=False)
        s_dst = self.col_own[:, :self.k].reshape(ow, oh, self.k)
        res, cols, wt = self.rc_res, self.col_own, self.wt
        # the clamped copy into the output seen [OW, OH, O]
        put = clamped_copy(res.reshape(ow, oh, -1), out[0].transpose(1, 0, 2), self.bounds)
        fill = self.pad.bound_fill() if self.pad.needed else None
        x0, out0, me = self._x, self._out, self
        copyto, matmul = np.copyto, np.matmul

        def fast(c_: InvokeContext) -> None:
            x = c_.inputs[0]
            if x is not x0 or c_.outputs[0] is not out0:
                _ImageToColumnsConv.invoke(me, c_)
                return
            if fill is not None:
                fill(x)
            copyto(r_dst, r_src)
            copyto(s_dst, s_src)
            matmul(cols, wt, out=res)
            put()
        self.invoke = fast

    def _bind_closure(self, ictx: InvokeContext) -> None:
        """The numpy tier's invoke below for this binding as a closure over its arrays
        (operands as locals, the epilogues' calls listed once: ~0.5-1 us a call less on
        small convolutions), put in place of invoke; any other arrays at invoke go
        through the class's invoke (which binds again). Constant weights, one group,
        plain numpy epilogues."""
        if (not self.weights_const or self.groups != 1 or self.gemm_c is not None
                or self.pack_c or self.implicit
                or type(self).invoke is not _ImageToColumnsConv.invoke):
            return
        blocks = []
        for _, col, out_b, epi in self.blocks:
            ops = epi.ops() if epi is not None else []
            if ops is None:
                return
            blocks.append((col, out_b, tuple(ops)))
        x0, out0, cls_invoke, wt = self._x, self._out, type(self).invoke, self.wt
        # (the padded copy of this binding: self.pad is rebound by a later bind)
        fill = self.pad.bound_fill() if self.pad.needed else None
        copy_win = None if self.direct else (self.col_win, self.win)
        ones, matmul, copyto = self.ones_row, np.matmul, np.copyto
        me = self

        def fast(c: InvokeContext) -> None:
            x = c.inputs[0]
            if x is not x0 or c.outputs[0] is not out0:
                cls_invoke(me, c)
                return
            if fill is not None:
                fill(x)
            if copy_win is not None:
                copyto(*copy_win)
                if ones is not None:
                    ones.fill(1.0)
            for col, out_b, ops in blocks:
                matmul(col, wt, out=out_b)
                for f, a, o in ops:
                    f(*a, out=o)
        self.invoke = fast

    def _bind_pad(self, ictx: InvokeContext) -> None:
        if self.pad_own is not None:
            self.pad.bind(self.pad_own, private=True)
        else:
            self.pad.bind(ictx.scratch[self.pad_idx])

    def _bind_planar(self, ictx: InvokeContext) -> None:
        x = self._x
        n, h, wd, c = x.shape
        hp, wp, pt, pl = self.planar_geom
        (kh, kw), (dh, dw) = self.kernel, self.dilations
        oh, ow = self.out_spatial
        buf = self.planar
        planes = buf[:n * c * hp * wp].reshape(n, c, hp, wp)
        self.planar_dst = planes[:, :, pt:pt + h, pl:pl + wd]
        self.planar_src = x.transpose(0, 3, 1, 2)
        e = buf.strides[0]
        # [KH, KW, C, N, OH*Wp]: tap (ky, kx) of channel c starts at ky*dh*Wp + kx*dw
        self.win = as_strided(buf, (kh, kw, c, n, oh * wp),
                              (dh * wp * e, dw * e, hp * wp * e, c * hp * wp * e, e),
                              writeable=False)
        col = ictx.scratch[self.col_idx]
        self.col_win = col[:self.k].reshape(self.win.shape)
        self.ones_row = col[self.k] if self.fold_bias else None
        self.col = col.T
        wide = ictx.scratch[self.wide_idx]
        self.wide = wide.reshape(-1, wide.shape[-1])
        self.wide_valid = wide[:, :, :ow]
        self.out_dst, self.out_src = self._out, self.wide_valid
        if self.row_parity:
            # rows by parity (take_row_parity): output row y at [y % 2, n, y // 2]
            oc = self._out.shape[-1]
            if not self._out.flags.c_contiguous:
                raise RuntimeError("row-parity output needs a contiguous output array")
            self.out_dst = self._out.reshape(-1).reshape(2, n, oh // 2, ow, oc).transpose(
                1, 2, 0, 3, 4)
            self.out_src = self.wide_valid.reshape(n, oh // 2, 2, ow, oc)
        # the copy out's clamp operands, made once here (the clamp may have moved away)
        lo, hi = self.bounds
        self.out_bounds = (lo if lo is None else scalar0(lo, F32),
                           hi if hi is None else scalar0(hi, F32))
        if self.weights_const and type(self).invoke is _ImageToColumnsConv.invoke:
            self.invoke = self._planar_closure()

    def _planar_closure(self):
        """_invoke_planar for this binding as a closure over its arrays, put in place of
        invoke (other arrays at invoke go through the class's invoke)."""
        x0, out0, cls_invoke, me = self._x, self._out, type(self).invoke, self
        pd, ps, cw, win, wt = (self.planar_dst, self.planar_src, self.col_win, self.win,
                               self.wt)
        ones, col, wide = self.ones_row if self.fold_bias else None, self.col, self.wide
        put = clamped_copy(self.out_src, self.out_dst, self.bounds)
        copyto, matmul = np.copyto, np.matmul

        def fast(c: InvokeContext) -> None:
            if c.inputs[0] is not x0 or c.outputs[0] is not out0:
                cls_invoke(me, c)
                return
            copyto(pd, ps)
            copyto(cw, win)
            if ones is not None:
                ones.fill(1.0)
            matmul(col, wt, out=wide)
            put()
        return fast

    def _invoke_planar(self, ictx: InvokeContext) -> None:
        np.copyto(self.planar_dst, self.planar_src)
        np.copyto(self.col_win, self.win)
        if self.fold_bias:
            self.ones_row.fill(1.0)
        np.matmul(self.col, self.wt, out=self.wide)
        lo, hi = self.out_bounds
        if lo is None:
            np.copyto(self.out_dst, self.out_src)
        elif hi is None:
            np.maximum(self.out_src, lo, out=self.out_dst)
        else:
            _clip_ufunc(self.out_src, lo, hi, out=self.out_dst)

    def take_row_parity(self) -> bool:
        """Store the output rows by parity, [2, N, OH / 2, OW, C] (row y at [y % 2, n,
        y // 2]), for the 2x2 MAX_POOL_2D that alone reads it (runtime/fusion.py): its
        row step then takes the max of two contiguous halves instead of two strided
        views (~4.5 -> ~2 us at 16K values: numpy's ufuncs pay ~2.5 us more on strided
        operands), while this node's copy out of its wide result costs the same (runs
        of OW * C values either way). Numpy tier, planar path, no clamp of its own left
        (the clamp moves first), an even output height; True when taken."""
        if self.planar is None or self.bounds != (None, None) or self.out_spatial[0] % 2:
            return False
        self.row_parity = True
        return True

    def take_clamp(self):
        """Hand this node's clamp to the MAX_POOL_2D that alone reads its output
        (runtime/fusion.py's clamp motion): return the bounds and stop clamping, or None
        when this node cannot. Numpy tier only: its planar path, where the clamp was the
        copy out of the wide result anyway, and epilogues of its own (the compiled GEMM
        fuses the clamp for free)."""
        if self.bounds[0] is None or self.gemm_c is not None or self.pack_c:
            return None
        epis = [e for e in (self.epilogue, *self.block_epilogues) if e is not None]
        if self.planar is None and (not epis or any(e.fast for e in epis)):
            return None
        bounds, self.bounds = self.bounds, (None, None)
        for e in epis:
            e.bounds, e.clamp = (None, None), None
        return bounds

    def _bind_blocks(self, col_rows) -> None:
        """(first row, columns, output rows, epilogue) of each block of output rows."""
        self.blocks = []
        for (r0, r1), epi in zip(self.block_ranges, self.block_epilogues):
            out_b = self.out2d[r0:r1]
            if epi is not None:
                epi.bind(out_b)
            self.blocks.append((r0, col_rows(r0, r1), out_b, epi))

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
            bound = self.__dict__.get("invoke")
            if bound is not None:       # this binding's closure (the row-run path has
                bound(ictx)             # no other form): the same steps
                return
        if not self.weights_const:
            self.wt = self._relayout(ictx.inputs[1])
        wt = self.wt
        matmul = np.matmul
        if self.gemm_c is not None:
            self._invoke_gemm_c(ictx)
            return
        if self.planar is not None:
            self._invoke_planar(ictx)
            return
        if self.pack_c:
            pack, xf, geom = self.pack, self.xf, self.pack_geom
            for r0, colf, n_rows, col, out_b, epi in self.pack_blocks:
                pack(xf, colf, geom, r0, n_rows)
                matmul(col, wt, out=out_b)
                epi.run(ictx)
            return
        if self.pad.needed:
            self.pad.fill(ictx.inputs[0])
        if self.groups == 1:
            if not self.direct:
                np.copyto(self.col_win, self.win)
                if self.ones_row is not None:
                    self.ones_row.fill(1.0)
            for _, col, out_b, epi in self.blocks:
                matmul(col, wt, out=out_b)
                epi.run(ictx)
        else:
            np.copyto(self.col_win, self.win)
            matmul(self.col, wt, out=self.gemm)
            np.copyto(self.out_groups, self.gemm)
            self.epilogue.run(ictx)

    def _invoke_gemm_c(self, ictx: InvokeContext) -> None:
        """The compiled GEMM writes each block's output once, bias and clamp included."""
        g = self.gemm_c
        gemm, args, mr_t, nv_t = g.kernel, g.args, g.mr_t, g.nv_t
        panels, bias, lo, hi, mblk = args
        if self.implicit:
            if self.pad.needed:
                self.pad.fill(ictx.inputs[0])
            self.conv_rows(self.a5, panels, bias, self._out, lo, hi, mr_t, nv_t)
            return
        if self.direct:
            gemm(self.col, panels, bias, self.out2d, lo, hi, mblk, mr_t, nv_t)
            return
        if self.pack_c:
            pack, xf, geom = self.pack, self.xf, self.pack_geom
            for r0, colf, n_rows, col, out_b, _ in self.pack_blocks:
                pack(xf, colf, geom, r0, n_rows)
                gemm(col, panels, bias, out_b, lo, hi, mblk, mr_t, nv_t)
            return
        # numpy im2col (CONV_3D, dilation_w > 1; channel-major columns for few input
        # channels are read transposed, a folded bias included)
        if self.pad.needed:
            self.pad.fill(ictx.inputs[0])
        np.copyto(self.col_win, self.win)
        if self.fold_bias:
            self.ones_row.fill(1.0)
        gemm(self.col, panels, bias, self.out2d, lo, hi, mblk, mr_t, nv_t)


# ---------------------------------------------------------------- CONV_2D
@register("CONV_2D", versions=(1, 8))
class Conv2D(_ImageToColumnsConv):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        if _dtype_path(ctx, x, w) == "float":
            self._prepare_float(ctx, x, w, bias)

    def _prepare_float(self, ctx, x, w, bias) -> None:
        o = ctx.options
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got shape {list(x.shape)}",
                  x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [O, KH, KW, I], got shape "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        oc, kh, kw, ic = w.shape
        _check_positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                        filter_width=kw, output_channels=oc, filter_input_channels=ic)
        ctx.check(c % ic == 0, f"input has {c} channels, not a multiple of the filter's {ic}")
        groups = c // ic
        ctx.check(oc % groups == 0, f"{oc} output channels do not split into {groups} groups")
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _check_positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _pad_name(ctx, _opt(o, "padding", Padding.SAME))
        _check_bias(ctx, bias, oc)
        bounds = float_activation(ctx, o)
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), F32)
        pads = [_same_valid_pads(padding, h, kh, sh, dh, oh),
                _same_valid_pads(padding, wd, kw, sw, dw, ow)]
        self._setup(ctx, x, w.data, bias, (oh, ow), (kh, kw), (sh, sw), (dh, dw), pads, groups,
                    oc, bounds)

    def _relayout_view(self, w: np.ndarray) -> np.ndarray:
        if self.groups == 1:
            return w.reshape(w.shape[0], -1).T
        return self._relayout(w)

    def _relayout(self, w: np.ndarray) -> np.ndarray:
        oc = w.shape[0]
        if self.groups == 1:
            # [O, KH, KW, I] -> [KH*KW*I, O], the im2col column order.
            return transposed_copy(w.reshape(oc, -1))
        g = self.groups
        return np.ascontiguousarray(w.reshape(g, oc // g, -1).transpose(0, 2, 1))


# ---------------------------------------------------------------- CONV_3D
@register("CONV_3D", versions=(1, 1))
class Conv3D(_ImageToColumnsConv):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        if _dtype_path(ctx, x, w) == "float":
            self._prepare_float(ctx, x, w, bias)

    def _prepare_float(self, ctx, x, w, bias) -> None:
        o = ctx.options
        ctx.check(len(x.shape) == 5, f"input must be 5-D [N, D, H, W, C], got shape "
                                     f"{list(x.shape)}", x)
        ctx.check(len(w.shape) == 5, f"filter must be 5-D [KD, KH, KW, I, O], got shape "
                                     f"{list(w.shape)}", w)
        n, d, h, wd, c = x.shape
        kd, kh, kw, ic, oc = w.shape
        _check_positive(ctx, input_depth=d, input_height=h, input_width=wd, input_channels=c,
                        filter_depth=kd, filter_height=kh, filter_width=kw, output_channels=oc)
        ctx.check(c == ic, f"input has {c} channels, the filter expects {ic}", w)
        strides = (_opt(o, "strideD", 1), _opt(o, "strideH", 1), _opt(o, "strideW", 1))
        dil = (_opt(o, "dilationDFactor", 1), _opt(o, "dilationHFactor", 1),
               _opt(o, "dilationWFactor", 1))
        _check_positive(ctx, stride_d=strides[0], stride_h=strides[1], stride_w=strides[2],
                        dilation_d_factor=dil[0], dilation_h_factor=dil[1],
                        dilation_w_factor=dil[2])
        padding = _pad_name(ctx, _opt(o, "padding", Padding.SAME))
        _check_bias(ctx, bias, oc)
        bounds = float_activation(ctx, o)
        sizes, ks = (d, h, wd), (kd, kh, kw)
        outs = tuple(conv_output_size(padding, i, k, s, dl)
                     for i, k, s, dl in zip(sizes, ks, strides, dil))
        ctx.set_output(0, (n, *outs, oc), F32)
        pads = [_same_valid_pads(padding, i, k, s, dl, od)
                for i, k, s, dl, od in zip(sizes, ks, strides, dil, outs)]
        self._setup(ctx, x, w.data, bias, outs, ks, strides, dil, pads, 1, oc, bounds)

    def _relayout(self, w: np.ndarray) -> np.ndarray:
        # [KD, KH, KW, I, O] already is [K, O] in the im2col column order.
        return np.ascontiguousarray(w.reshape(-1, w.shape[-1]))


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D
class PhasedPaddedInput:
    """A bordered copy of an NHWC input, split by stride phase:
    buf[py, px, n, q, r, c] holds padded pixel (q * sh + py, r * sw + px).

    Then every filter tap of a strided convolution reads a plane whose
    (width, channel) block is contiguous, so numpy runs long inner loops."""

    def __init__(self, in_shape, pads, strides, fill: float = 0.0):
        n, h, w, c = in_shape
        (pt, pb), (pl, pr) = pads
        sh, sw = strides
        self.geom = (h, w, pt, pl, sh, sw)
        hq, wq = -(-(h + pt + pb) // sh), -(-(w + pl + pr) // sw)
        self.shape = (sh, sw, n, hq, wq, c)
        self.fill_value = fill

    @staticmethod
    def _range(size, pad, stride, phase):
        """Rows q of a phase that hold input rows: [q_lo, q_hi), first input row."""
        q_lo = max(0, -(-(pad - phase) // stride))
        q_hi = max(q_lo, -(-(pad + size - phase) // stride))
        return q_lo, q_hi, phase + q_lo * stride - pad

    def bind(self, buf: np.ndarray, x: np.ndarray) -> None:
        h, w, pt, pl, sh, sw = self.geom
        self.buf = buf
        self.copies, self.borders = [], []
        for py in range(sh):
            q_lo, q_hi, y0 = self._range(h, pt, sh, py)
            for px in range(sw):
                r_lo, r_hi, x0 = self._range(w, pl, sw, px)
                ph = buf[py, px]
                self.borders += [ph[:, :q_lo], ph[:, q_hi:], ph[:, q_lo:q_hi, :r_lo],
                                 ph[:, q_lo:q_hi, r_hi:]]
                if q_hi > q_lo and r_hi > r_lo:
                    src = x[:, y0:y0 + (q_hi - q_lo - 1) * sh + 1:sh,
                            x0:x0 + (r_hi - r_lo - 1) * sw + 1:sw]
                    self.copies.append((ph[:, q_lo:q_hi, r_lo:r_hi], src))
        self.borders = [v for v in self.borders if v.size]

    def fill(self) -> None:
        for border in self.borders:
            border.fill(self.fill_value)
        for dst, src in self.copies:
            np.copyto(dst, src)

    def plane(self, y: int, x: int, oh: int, ow: int) -> np.ndarray:
        """[N, oh, ow, C] view of padded pixels (y + i * sh, x + j * sw)."""
        sh, sw = self.geom[4], self.geom[5]
        return self.buf[y % sh, x % sw, :, y // sh:y // sh + oh, x // sw:x // sw + ow]


# Output rows per block of the depthwise loop: about this many bytes per block
# array keeps a block's input rows, products and sums in the L2 cache.
_DW_BLOCK_BYTES = 256 * 1024
# The einsum path's domain: measured faster from 14x14x384 down (28x28x192 even), slower
# on MobileNetV2's large early layers.
_DW_EINSUM_MIN_CHANNELS = 64
# The row-run einsum path's domain (output values).
_DW_ROWFLAT_MAX_OUTPUT = 1 << 17
_DW_EINSUM_MAX_PIXELS = 28 * 28


@register("DEPTHWISE_CONV_2D", versions=(1, 7))
class DepthwiseConv2D(Kernel):
    """Whole-plane multiply-accumulate, one filter tap at a time, over blocks of
    output rows sized for the cache. Weights are tiled to [taps, OW, C] so a
    product runs over a whole contiguous output row at once. Small images with
    stride 1 along W (multiplier 1) take one einsum over row runs instead, few
    pixels with many channels one einsum over windows; the compiled tier its
    numba kernels."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), 1)
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        if _dtype_path(ctx, x, w) == "float":
            self._prepare_float(ctx, x, w, bias)

    def _prepare_float(self, ctx, x, w, bias) -> None:
        o = ctx.options
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got shape {list(x.shape)}",
                  x)
        ctx.check(len(w.shape) == 4, f"filter must be 4-D [1, KH, KW, C*M], got shape "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        one, kh, kw, oc = w.shape
        _check_positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                        filter_width=kw, output_channels=oc)
        ctx.check(one == 1, f"filter's first dimension must be 1, got {one}", w)
        ctx.check(oc % c == 0, f"filter has {oc} channels, not a multiple of the input's {c}", w)
        # LiteRT's float kernel takes the multiplier from the shapes, not the option.
        mult = oc // c
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        dh, dw = _opt(o, "dilationHFactor", 1), _opt(o, "dilationWFactor", 1)
        _check_positive(ctx, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
        padding = _pad_name(ctx, _opt(o, "padding", Padding.SAME))
        _check_bias(ctx, bias, oc)
        self.bounds = float_activation(ctx, o)
        oh = conv_output_size(padding, h, kh, sh, dh)
        ow = conv_output_size(padding, wd, kw, sw, dw)
        ctx.set_output(0, (n, oh, ow, oc), F32)
        pads = [_same_valid_pads(padding, h, kh, sh, dh, oh),
                _same_valid_pads(padding, wd, kw, sw, dw, ow)]
        compiled = compiled_tier(n * oh * ow * oc)
        self.fast = compiled is not None
        self.in_hw = (h, wd)
        if self.fast:
            self._prepare_compiled(compiled, w, bias,
                                   (sh, sw, dh, dw, pads[0][0], pads[1][0], mult))
            return
        # Stride 1 along W, multiplier 1, constant filter: every tap's contribution to an
        # output row is one contiguous run of OW * C input values, so one einsum over a
        # [N, OH, KH, KW, OW * C] view of the (padded) input sums all taps with inner loops
        # OW * C long (16x16x16 3x3: ~16 us vs ~45 us for the per-tap loop).
        # Measured on small images; on MobileNetV2's layers it was no better than the
        # per-tap loop (112x112x32) or the window einsum below (7x7x960, 14x14x576).
        self.einsum = (mult == 1 and w.data is not None and c >= _DW_EINSUM_MIN_CHANNELS
                       and n * oh * ow <= _DW_EINSUM_MAX_PIXELS)
        self.rowflat = (mult == 1 and sw == 1 and w.data is not None and not self.einsum
                        and n * oh * ow * oc <= _DW_ROWFLAT_MAX_OUTPUT)
        if self.rowflat:
            self.pad = PaddedInput(x.shape, [(0, 0), *pads, (0, 0)])
            ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
            hp, wp = self.pad.shape[1:3]
            # the view must stay inside the padded buffer
            self.rowflat = (oh - 1) * sh + (kh - 1) * dh < hp and ow + (kw - 1) * dw <= wp
        if self.rowflat:
            # always a copy (private when small): the input is read in place only when
            # C-contiguous
            self.pad_own = self.pad.own_buffer()
            self.pad_idx = (ctx.request_scratch(self.pad.shape, F32) if self.pad_own is None
                            else None)
            self.w_rows = np.ascontiguousarray(
                np.broadcast_to(w.data.reshape(kh, kw, 1, oc), (kh, kw, ow, oc)), F32
            ).reshape(kh, kw, ow * oc)
            self.row_geom = (oh, ow, kh, kw, sh, dh, dw)
            self.epilogue = Epilogue(bias, 2, n * oh * ow, oc, self.bounds)
            return
        # Few pixels, many channels (MobileNet's late layers): one einsum over the windows
        # (each tap's multiply-add in one C loop) beats two numpy passes per tap there.
        if self.einsum:
            self.pad = PaddedInput(x.shape, [(0, 0), *pads, (0, 0)])
            ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
            self.pad_own = self.pad.own_buffer()
            self.pad_idx = (ctx.request_scratch(self.pad.shape, F32)
                            if self.pad.needed and self.pad_own is None else None)
            self.w_taps = np.ascontiguousarray(w.data.reshape(kh, kw, oc), F32)
            self.win_args = ((oh, ow), (kh, kw), (sh, sw), (dh, dw))
            self.epilogue = Epilogue(bias, 2, n * oh * ow, oc, self.bounds)
            return
        self.pad = PhasedPaddedInput(x.shape, pads, (sh, sw))
        ctx.check_bytes(self.pad.shape, np.float32, x, "its padded input")
        self.copy = any(p for pair in pads for p in pair) or sh > 1 or sw > 1
        self.pad_idx = ctx.request_scratch(self.pad.shape, F32) if self.copy else None
        row_bytes = max(1, n * ow * oc * 4)
        self.block_rows = max(1, min(oh, _DW_BLOCK_BYTES // row_bytes))
        self.tmp_idx = ctx.request_scratch((n, self.block_rows, ow, oc), F32)
        self.geom = (oh, ow, kh, kw, dh, dw, c, mult)
        self.weights_const = w.data is not None
        self.taps = self._relayout(w.data) if w.data is not None else None
        self.bias_input = bias is not None and bias.data is None
        self.bias = None
        if bias is not None and bias.data is not None:
            self.bias = self._tile(bias.data.reshape(1, -1))[0]

    def _prepare_compiled(self, compiled, w, bias, geom) -> None:
        """The compiled tier: padding, taps, bias and clamp all inside one kernel."""
        kh, kw, oc = w.shape[1:]
        sh, sw, dh, dw, pt, pl, mult = geom
        self.flat3x3 = (kh, kw, mult) == (3, 3, 1)
        if self.flat3x3:
            self.geom_c = np.array([self.in_hw[0], oc, sh, sw, dh, dw, pt, pl], np.int64)
        else:
            self.geom_c = np.array(geom, np.int64)
        self.lo, self.hi = compiled.float_bounds(self.bounds)
        self.kernel_c = (compiled.depthwise_conv2d_3x3 if self.flat3x3
                         else compiled.depthwise_conv2d)
        if self.flat3x3 and _DW_VECTOR:
            # the explicit 16-lane kernel (same arguments, same sums)
            from edgelite.kernels.compiled_gemm import depthwise_conv2d_3x3
            self.kernel_c = depthwise_conv2d_3x3
        self.weights_const = w.data is not None
        # private writable copies: numba compiles once for writable C-contiguous arrays
        self.w_c = self._weights_c(w.data) if self.weights_const else None
        self.has_bias = bias is not None
        self.bias_input = bias is not None and bias.data is None
        self.bias_c = (np.array(bias.data.reshape(-1), F32) if bias is not None and not
                       self.bias_input else np.zeros(oc, F32))

    def _weights_c(self, w: np.ndarray) -> np.ndarray:
        kh, kw, oc = w.shape[1:]
        return np.array(w.reshape((3, 3 * oc) if self.flat3x3 else (kh, kw, oc)), F32)

    def _bind_compiled(self, x: np.ndarray, out: np.ndarray) -> None:
        if self.flat3x3:
            n, h, wd, c = x.shape
            self.x_c = x.reshape(n * h, wd * c)
            self.out_c = out.reshape(out.shape[0] * out.shape[1], out.shape[2] * out.shape[3])
        else:
            self.x_c, self.out_c = x, out

    def _invoke_compiled(self, ictx: InvokeContext) -> None:
        ins = ictx.inputs
        if ins[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        w = self.w_c
        if w is None:
            w = self._weights_c(ins[1])
        bias = self.bias_c
        if self.bias_input:
            bias = np.ascontiguousarray(ins[2].reshape(-1), F32)
        self.kernel_c(self.x_c, w, bias, self.has_bias, self.out_c, self.geom_c, self.lo,
                      self.hi)

    def _tile(self, w: np.ndarray) -> np.ndarray:
        """[T, C*M] per-tap weights -> [T, OW, C] (M = 1) or [T, C, M]."""
        ow, c, mult = self.geom[1], self.geom[6], self.geom[7]
        if mult == 1:
            return np.ascontiguousarray(np.broadcast_to(w[:, None, :], (w.shape[0], ow, c)))
        return np.ascontiguousarray(w.reshape(w.shape[0], c, mult))

    def _relayout(self, w: np.ndarray) -> np.ndarray:
        return self._tile(w.reshape(-1, w.shape[-1]))

    def bind(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        self._x = x
        out = ictx.outputs[0]
        self._out = out
        if self.fast:
            self._bind_compiled(x, out)
            self.invoke = self._invoke_compiled
            return
        if self.rowflat:
            self._bind_rowflat(ictx, x, out)
            self.invoke = self.rowflat_fast or self._invoke_rowflat
            return
        if self.einsum:
            if self.pad.needed:
                self._bind_pad(ictx)
            self.win = window_view(self.pad.buf if self.pad.needed else x, *self.win_args)
            self.epilogue.bind(out)
            self.invoke = self._invoke_einsum
            return
        oh, ow, kh, kw, dh, dw, c, mult = self.geom
        if self.copy:
            self.pad.bind(ictx.scratch[self.pad_idx], x)
            planes = [self.pad.plane(ky * dh, kx * dw, oh, ow)
                      for ky in range(kh) for kx in range(kw)]
        else:
            planes = [x[:, ky * dh:ky * dh + oh, kx * dw:kx * dw + ow]
                      for ky in range(kh) for kx in range(kw)]
        tmp = ictx.scratch[self.tmp_idx]
        if mult > 1:
            planes = [p[..., None] for p in planes]
            out = out.reshape(*out.shape[:3], c, mult)
            tmp = tmp.reshape(*tmp.shape[:3], c, mult)
        self.blocks = []
        r = self.block_rows
        for r0 in range(0, oh, r):
            r1 = min(oh, r0 + r)
            self.blocks.append((out[:, r0:r1], tmp[:, :r1 - r0], [p[:, r0:r1] for p in planes]))

    def _bind_pad(self, ictx: InvokeContext) -> None:
        if self.pad_own is not None:
            self.pad.bind(self.pad_own, private=True)
        else:
            self.pad.bind(ictx.scratch[self.pad_idx])

    def _bind_rowflat(self, ictx: InvokeContext, x: np.ndarray, out: np.ndarray) -> None:
        oh, ow, kh, kw, sh, dh, dw = self.row_geom
        self._bind_pad(ictx)
        self.copy_in = self.pad.needed or not x.flags.c_contiguous
        src = self.pad.buf if self.copy_in else x
        s = src.strides
        n, c = src.shape[0], src.shape[-1]
        self.rows_win = as_strided(src, shape=(n, oh, kh, kw, ow * c),
                                   strides=(s[0], sh * s[1], dh * s[1], dw * s[2], s[3]),
                                   writeable=False)
        # a private result buffer when the output cannot be viewed [N, OH, OW * C]
        self.rows_res = out if out.flags.c_contiguous else np.empty(out.shape, F32)
        self.rows_out = self.rows_res.reshape(n, oh, ow * c)
        self.epilogue.bind(self.rows_res)
        ops = self.epilogue.ops()
        self.rowflat_fast = (self._rowflat_closure(tuple(ops))
                             if ops is not None and self.rows_res is out else None)

    def _rowflat_closure(self, ops):
        """_invoke_rowflat for this binding as a closure over its arrays (other arrays at
        invoke: _invoke_rowflat, which binds again)."""
        x0, out0, me = self._x, self._out, self
        # (the padded copy of this binding: self.pad is rebound by a later bind)
        fill = self.pad.bound_fill() if self.copy_in else None
        win, w_rows, rows_out = self.rows_win, self.w_rows, self.rows_out
        einsum = _c_einsum

        def fast(c: InvokeContext) -> None:
            x = c.inputs[0]
            if x is not x0 or c.outputs[0] is not out0:
                me._invoke_rowflat(c)       # (binds again)
                return
            if fill is not None:
                fill(x)
            einsum("nykxj,kxj->nyj", win, w_rows, out=rows_out)
            for f, a, o in ops:
                f(*a, out=o)
        return fast

    def _invoke_rowflat(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if x is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.copy_in:
            self.pad.fill(x)
        _c_einsum("nykxj,kxj->nyj", self.rows_win, self.w_rows, out=self.rows_out)
        self.epilogue.run(ictx)
        if self.rows_res is not self._out:
            np.copyto(self._out, self.rows_res)

    def _invoke_einsum(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        if x is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if self.pad.needed:
            self.pad.fill(x)
        _c_einsum("nhwklc,klc->nhwc", self.win, self.w_taps, out=self._out)
        self.epilogue.run(ictx)

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if not self.weights_const:
            self.taps = self._relayout(ictx.inputs[1])
        if self.bias_input:
            self.bias = self._tile(ictx.inputs[2].reshape(1, -1))[0]
        if self.copy:
            self.pad.fill()
        taps, bias, bounds = self.taps, self.bias, self.bounds
        n_taps = len(taps)
        mul, add = np.multiply, np.add
        for acc, tmp, planes in self.blocks:
            mul(planes[0], taps[0], out=acc)
            for t in range(1, n_taps):
                mul(planes[t], taps[t], out=tmp)
                add(acc, tmp, out=acc)
            if bias is not None:
                add(acc, bias, out=acc)
            clamp_inplace(acc, bounds)


# ---------------------------------------------------------------- TRANSPOSE_CONV
@register("TRANSPOSE_CONV", versions=(1, 5))
class TransposeConv(Kernel):
    """Inputs: output_shape (int32 [4]), weights [O, KH, KW, I], input [N, H, W, I],
    optional bias [O]. One GEMM gives every input pixel's [KH, KW, O] contribution;
    they are then scattered (summed) into the output, one filter tap at a time."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((3, 4), 1)
        shape_t, w, x = ctx.input(0), ctx.input(1), ctx.input(2)
        bias = ctx.inputs[3] if len(ctx.inputs) > 3 else None
        if _dtype_path(ctx, x, w) == "float":
            self._prepare_float(ctx, shape_t, w, x, bias)

    def _prepare_float(self, ctx, shape_t, w, x, bias) -> None:
        o = ctx.options
        ctx.check_dtype(shape_t, np.int32, "output_shape")
        ctx.check(len(shape_t.shape) == 1 and shape_t.size == 4,
                  f"output_shape must be a 1-D tensor of 4 values, got shape "
                  f"{list(shape_t.shape)}", shape_t)
        ctx.check(len(x.shape) == 4, f"input must be 4-D [N, H, W, C], got shape {list(x.shape)}",
                  x)
        ctx.check(len(w.shape) == 4, f"weights must be 4-D [O, KH, KW, I], got shape "
                                     f"{list(w.shape)}", w)
        n, h, wd, c = x.shape
        oc, kh, kw, ic = w.shape
        _check_positive(ctx, input_height=h, input_width=wd, input_channels=c, filter_height=kh,
                        filter_width=kw, output_channels=oc)
        ctx.check(c == ic, f"input has {c} channels, the weights expect {ic}", w)
        sh, sw = _opt(o, "strideH", 1), _opt(o, "strideW", 1)
        _check_positive(ctx, stride_h=sh, stride_w=sw)
        self.padding = _pad_name(ctx, _opt(o, "padding", Padding.SAME))
        _check_bias(ctx, bias, oc)
        self.bounds = float_activation(ctx, o)
        self.geom = (n, h, wd, c, oc, kh, kw, sh, sw)
        self.weights_const = w.data is not None
        self.wt = self._relayout(w.data) if w.data is not None else None
        self.bias_spec = bias
        self.epilogue = None
        self.col_idx = ctx.request_scratch((n * h * wd, kh * kw * oc), F32)
        self.out_shape = None
        self.dynamic = shape_t.data is None
        if not self.dynamic:
            self.out_shape = self._check_output_shape(ctx.error, shape_t.data)
            ctx.set_output(0, self.out_shape, F32)
            self.acc_idx = ctx.request_scratch(self._acc_shape(self.out_shape), F32)
        else:
            ctx.set_output_dynamic(0)

    def _check_output_shape(self, error, values) -> tuple[int, ...]:
        n, h, wd, _, oc, kh, kw, sh, sw = self.geom
        shape = tuple(int(v) for v in np.asarray(values).reshape(-1))
        if shape[0] != n or shape[3] != oc or shape[1] <= 0 or shape[2] <= 0:
            raise error(f"output_shape {list(shape)} does not fit batch {n} and {oc} output "
                        f"channels with positive height and width")
        # The input must be what a convolution of the output would produce.
        ih = conv_output_size(self.padding, shape[1], kh, sh)
        iw = conv_output_size(self.padding, shape[2], kw, sw)
        if (ih, iw) != (h, wd):
            raise error(f"output_shape {list(shape)} is inconsistent with the input's "
                        f"{h}x{wd} (a convolution of it would give {ih}x{iw})")
        return shape

    def _acc_shape(self, out_shape) -> tuple[int, ...]:
        n, h, wd, _, oc, kh, kw, sh, sw = self.geom
        self.pads = (_same_valid_pads(self.padding, out_shape[1], kh, sh, 1, h)[0],
                     _same_valid_pads(self.padding, out_shape[2], kw, sw, 1, wd)[0])
        full_h = max((h - 1) * sh + kh, self.pads[0] + out_shape[1])
        full_w = max((wd - 1) * sw + kw, self.pads[1] + out_shape[2])
        return (n, full_h, full_w, oc)

    def _relayout(self, w: np.ndarray) -> np.ndarray:
        # [O, KH, KW, I] -> [I, KH*KW*O]
        return np.ascontiguousarray(w.transpose(3, 1, 2, 0).reshape(w.shape[3], -1))

    def bind(self, ictx: InvokeContext) -> None:
        n, h, wd, c, oc, kh, kw, sh, sw = self.geom
        self._x = ictx.inputs[2]
        self._out = ictx.outputs[0]
        self.x2d = self._x.reshape(n * h * wd, c)
        self.col = ictx.scratch[self.col_idx]
        if self.out_shape is None:      # output_shape known at invoke only
            return
        col6 = self.col.reshape(n, h, wd, kh, kw, oc)
        acc = self._acc_buf if self.dynamic else ictx.scratch[self.acc_idx]
        self.acc = acc
        self.scatter = []
        for ky in range(kh):
            for kx in range(kw):
                dst = acc[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (wd - 1) * sw + 1:sw, :]
                self.scatter.append((dst, col6[:, :, :, ky, kx, :]))
        py, px = self.pads
        self.crop = acc[:, py:py + self.out_shape[1], px:px + self.out_shape[2], :]
        rows = n * self.out_shape[1] * self.out_shape[2]
        if getattr(self, "epilogue", None) is None or self.epilogue.rows != rows:
            self.epilogue = Epilogue(self.bias_spec, 3, rows, oc, self.bounds)
        self.epilogue.bind(self._out)

    def _resize(self, ictx: InvokeContext) -> None:
        """output_shape is a run-time value: check it, size the output and buffers."""
        shape = self._check_output_shape(ictx.error, ictx.inputs[0])
        if shape != self.out_shape:
            self.out_shape = shape
            self._acc_buf = np.empty(self._acc_shape(shape), F32)
        ictx.resize_output(0, shape)
        self.bind(ictx)

    def invoke(self, ictx: InvokeContext) -> None:
        if self.dynamic:
            self._resize(ictx)
        elif ictx.inputs[2] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        if not self.weights_const:
            self.wt = self._relayout(ictx.inputs[1])
        np.matmul(self.x2d, self.wt, out=self.col)
        self.acc.fill(0.0)
        for dst, src in self.scatter:
            np.add(dst, src, out=dst)
        np.copyto(ictx.outputs[0], self.crop)
        self.epilogue.run(ictx)


# ---------------------------------------------------------------- FULLY_CONNECTED
# Rows of input from which a FULLY_CONNECTED copies its weights transposed at prepare.
_FC_COPY_BATCH = 4

@register("FULLY_CONNECTED", versions=(1, 14))
class FullyConnected(Kernel):
    """y = x W^T + b, with x flattened to [size / K, K] as TFLite does."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity((2, 3), (1, 2))
        x, w = ctx.input(0), ctx.input(1)
        bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
        if _dtype_path(ctx, x, w) == "float":
            self._prepare_float(ctx, x, w, bias)

    def _prepare_float(self, ctx, x, w, bias) -> None:
        o = ctx.options
        fmt = _opt(o, "weightsFormat", 0)
        ctx.check(fmt == 0, f"weights format {fmt} (shuffled) is only defined for uint8 weights")
        ctx.check(len(ctx.outputs) == 1, f"expects 1 output, got {len(ctx.outputs)}")
        ctx.check(len(w.shape) == 2, f"weights must be 2-D [units, K], got shape "
                                     f"{list(w.shape)}", w)
        ctx.check(len(x.shape) >= 1, "input must have rank >= 1", x)
        code = activation_code(o)
        ctx.check(code in ACTIVATION_RANGE, f"fused activation {code} is not supported by a "
                                            f"float FULLY_CONNECTED (only NONE, RELU, "
                                            f"RELU_N1_TO_1, RELU6)")
        self.bounds = ACTIVATION_RANGE[code]
        units, k = w.shape
        _check_bias(ctx, bias, units)
        keep = bool(_opt(o, "keepNumDims", False))
        size = x.size
        if k == 0:
            batch = math.prod(x.shape[:-1])
        else:
            # TFLite: batch = size / K (integer division; any rank is flattened).
            batch = size // k
        if keep:
            ctx.check(x.shape[-1] == k, f"keep_num_dims needs the input's last dimension "
                                        f"({x.shape[-1]}) to equal the weights' K ({k})", x)
            out_shape = (*x.shape[:-1], units)
        else:
            out_shape = (batch, units)
        ctx.set_output(0, out_shape, F32)
        self.batch, self.k, self.units = batch, k, units
        self.weights_const = w.data is not None
        # Batch 1 (a GEMV): a transposed view, not a copy: BLAS reads [units, K] weights
        # as [K, units] directly, so the weights stay on the file's map (load is flat in
        # size). From _FC_COPY_BATCH rows on, a contiguous [K, units] copy made here:
        # OpenBLAS's GEMM is ~30% faster on it at the transformer's [64, 128] x [128, N].
        self.wt = None
        if w.data is not None:
            self.wt = (np.ascontiguousarray(w.data.T) if batch >= _FC_COPY_BATCH
                       else w.data.T)
        self.epilogue = Epilogue(bias, 2, batch, units, self.bounds)
        # Compiled tier, constant weights (and bias), a batch of rows: compiled_gemm's
        # register-tiled GEMM, bias and clamp fused (transformer encoder's [64, 128] x
        # [128, 128 | 512] and [64, 512] x [512, 128]: ~0.65-0.8x the time of
        # np.matmul + bias add, measured 1 thread). A single row (a GEMV) stays on BLAS.
        self.gemm_c = None
        if (w.data is not None and k > 0 and batch >= _GEMM_C_MIN_ROWS
                and (bias is None or bias.data is not None)
                and compiled_tier(batch * units) is not None):
            from edgelite.kernels.compiled_gemm import Gemm
            self.gemm_c = Gemm(w.data.T, None if bias is None else bias.data.reshape(-1),
                               batch, self.bounds)

    def bind(self, ictx: InvokeContext) -> None:
        x = ictx.inputs[0]
        self._x = x
        self._out = ictx.outputs[0]
        n = self.batch * self.k
        flat = x.reshape(-1)
        self.x2d = (flat if flat.size == n else flat[:n]).reshape(self.batch, self.k)
        self.out2d = self._out.reshape(self.batch, self.units)
        self.epilogue.bind(self._out)

    def invoke(self, ictx: InvokeContext) -> None:
        if ictx.inputs[0] is not self._x or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        out2d = self.out2d
        if self.gemm_c is not None:
            g = self.gemm_c
            panels, bias, lo, hi, mblk = g.args
            g.kernel(self.x2d, panels, bias, out2d, lo, hi, mblk, g.mr_t, g.nv_t)
            return
        if self.k == 0:
            out2d.fill(0.0)
        else:
            wt = self.wt if self.weights_const else ictx.inputs[1].T
            np.matmul(self.x2d, wt, out=out2d)
        self.epilogue.run(ictx)


# ---------------------------------------------------------------- BATCH_MATMUL
@register("BATCH_MATMUL", versions=(1, 4))
class BatchMatMul(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(2, 1)
        a, b = ctx.input(0), ctx.input(1)
        if _dtype_path(ctx, a, b) == "float":
            self._prepare_float(ctx, a, b)

    def _prepare_float(self, ctx, a, b) -> None:
        o = ctx.options
        self.adj_x = bool(_opt(o, "adjX", False))
        self.adj_y = bool(_opt(o, "adjY", False))
        _, _, batch, rows, _, cols = batch_matmul_shapes(ctx, a, b, self.adj_x, self.adj_y)
        ctx.set_output(0, (*batch, rows, cols), F32)

    def bind(self, ictx: InvokeContext) -> None:
        a, b = ictx.inputs
        self._in = (a, b)
        self._out = ictx.outputs[0]
        self.a = a.swapaxes(-1, -2) if self.adj_x else a
        self.b = b.swapaxes(-1, -2) if self.adj_y else b

    def invoke(self, ictx: InvokeContext) -> None:
        a, b = ictx.inputs
        if a is not self._in[0] or b is not self._in[1] or ictx.outputs[0] is not self._out:
            self.bind(ictx)
        np.matmul(self.a, self.b, out=self._out)
