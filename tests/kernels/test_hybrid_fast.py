"""The hybrid kernels' input quantization in few numpy calls (quant/dynamic.py) is
bit-identical to the whole-array reference (qutil.symmetric_quantize_rows /
asymmetric_quantize_rows, itself checked against LiteRT by test_hybrid.py): values,
scaling factors and zero points, on rows of every kind (mixed signs, one sign,
all zero, constant, rounding ties, tiny values, inf / NaN / huge entries)."""
from __future__ import annotations

import numpy as np
import pytest

from edgelite.kernels.quant.dynamic import (
    OneRow,
    Scratch,
    asymmetric_rows,
    asymmetric_rows_centered,
    symmetric_rows,
)
from edgelite.kernels.quant.qutil import asymmetric_quantize_rows, symmetric_quantize_rows


def _rows(kind: int, rng, b: int, k: int) -> np.ndarray:
    if kind == 0:
        x = rng.normal(0, 1, (b, k))
    elif kind == 1:
        x = rng.uniform(0, 5, (b, k))
    elif kind == 2:
        x = -rng.uniform(0, 5, (b, k))
    elif kind == 3:
        x = np.zeros((b, k))
        x[..., ::2] = -0.0                              # both zeros: all zero
    elif kind == 4:
        x = np.full((b, k), rng.normal())
    elif kind == 5:
        x = rng.integers(-3, 4, (b, k)) * 0.5          # ties after scaling
    elif kind == 8:
        # ranges whose float32 width overflows to inf (and nearly does)
        x = rng.choice(np.array([-3.4e38, 3.4e38, -1.7e38, 1.7e38, 1.0, -2.0]), (b, k))
    elif kind == 6:
        x = rng.normal(0, 1e-30, (b, k))
        x[..., ::3] = -0.0
    elif kind == 9:
        # subnormal ranges: a zero float32 scale (asymmetric: 1 / 0 = inf), huge 1 / scale
        x = rng.normal(0, 1e-44, (b, k)).astype(np.float32)
        x[..., ::2] = 0.0
    else:
        x = rng.normal(0, 1, (b, k))
        if k:
            x.flat[int(rng.integers(0, x.size))] = rng.choice([np.nan, np.inf, -np.inf, 3e38])
    return x.astype(np.float32)


def _same(a, b) -> bool:
    """Equal dtype, shape and bits (the sign of zero included; any NaN equals any NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    nan = np.isnan(a)
    bits = a.view(np.int32 if a.dtype.itemsize == 4 else np.int64)
    other = b.view(bits.dtype)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(bits[~nan], other[~nan]))


@pytest.mark.parametrize("kind", range(10))
def test_dynamic_quantization_equals_reference(kind):
    rng = np.random.default_rng(kind)
    with np.errstate(all="ignore"):
        for _ in range(300):
            x = _rows(kind, rng, int(rng.integers(1, 4)), int(rng.integers(0, 40)))
            scratch = Scratch(*x.shape)
            for fast, ref in ((symmetric_rows, symmetric_quantize_rows),
                              (asymmetric_rows, asymmetric_quantize_rows)):
                want = ref(x)
                for got in (fast(x), fast(x, scratch)):     # fresh arrays, then buffers
                    assert all(_same(g, w) for g, w in zip(got, want)), (fast.__name__, x)
            # the centered form: q - offset, the same scaling factors and offsets
            q, sf, off = asymmetric_quantize_rows(x)
            for got in (asymmetric_rows_centered(x), asymmetric_rows_centered(x, scratch)):
                assert _same(got[1], sf) and _same(got[2], off), x
                assert _same(got[0], q - off.astype(np.float32)[:, None]), x


@pytest.mark.parametrize("kind", range(10))
def test_one_row_equals_reference(kind):
    """OneRow (batch 1, argmin / argmax, round as trunc(2v) - trunc(v)) gives the
    reference's bits, zero signs included, in its own buffer or into a given array of
    another shape, on rows of every kind at scales from 1e-30 to 1e30 (most of the
    rows take its fast path, all-zero rows included; NaN, inf and subnormal ranges the
    general one); so does its bound form, OneRow.runner."""
    rng = np.random.default_rng(200 + kind)
    calls = {"all": 0, "general": 0}
    with np.errstate(all="ignore"):
        for _ in range(300):
            k = int(rng.integers(1, 300))
            x = _rows(kind, rng, 1, k)
            if rng.random() < 0.3:
                x *= np.float32(10.0 ** int(rng.integers(-30, 31)))
            for asym in (False, True):
                one = OneRow(k, asym)
                general = one._general

                def counted(*args, general=general):
                    calls["general"] += 1
                    return general(*args)
                one._general = counted
                if asym:
                    q, sf, off = asymmetric_quantize_rows(x)
                else:
                    (q, sf), off = symmetric_quantize_rows(x), None
                for centered in ((False, True) if asym else (False,)):
                    want = q - off.astype(np.float32)[:, None] if centered else q
                    for out in (None, np.empty((1, k, 1), np.float32)):
                        got = one(x, centered, out)
                        assert got[0] is (one.q if out is None else out)
                        assert _same(got[0].reshape(1, k), want), (asym, centered, x)
                        assert _same(got[1], sf) and (off is None) == (got[2] is None)
                        assert off is None or _same(got[2], off)
                        assert one.all_zero == (not x.any())
                        calls["all"] += 1
                        # OneRow.runner: the same bits from its bound closure
                        dst = one.q if out is None else out
                        run = one.runner(x, centered, out)
                        dst.fill(np.nan)
                        one.sf.fill(np.nan)
                        one.off.fill(99)
                        one.all_zero = None
                        run()
                        calls["all"] += 1
                        assert _same(dst.reshape(1, k), want), ("runner", asym, centered, x)
                        assert _same(one.sf, sf) and (off is None or _same(one.off, off))
                        assert one.all_zero == (not x.any())
    fast = calls["all"] - calls["general"]
    # a NaN or inf in most rows / float32-overflowing or subnormal ranges
    if kind in (7, 8, 9):
        assert calls["general"] > 0
    assert fast > (60 if kind in (6, 7, 8, 9) else 3000), calls


def test_trunc_difference_is_c_round():
    """OneRow's rounding, trunc(2v) - trunc(v), equals C's round() on every half
    n + 0.5 with |n| < 512, the float32 values either side of each, the smallest
    values and a random sample of float32 bit patterns up to 2^24."""
    halves = np.arange(-512, 512, dtype=np.float32) + np.float32(0.5)
    near = np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                           np.nextafter(halves, np.float32(-np.inf))])
    sample = np.random.default_rng(1).integers(0, 0x4B800000, 1 << 18,
                                               dtype=np.uint32).view(np.float32)
    tiny = np.array([0.0, -0.0, 1e-45, -1e-45, 0.49999997, -0.49999997], np.float32)
    v = np.concatenate([near, sample, -sample, tiny])
    w = v.astype(np.float64)
    want = (np.trunc(w + np.copysign(0.5, w)) + 0.0).astype(np.float32)
    got = np.trunc(v + v) - np.trunc(v)
    assert _same(got, want)


@pytest.mark.skipif(not __import__("edgelite.kernels.compiled", fromlist=["ENABLED"]).ENABLED,
                    reason="numba not installed: no compiled kernels to compare")
@pytest.mark.parametrize("kind", range(9))
def test_compiled_quantization_equals_numpy_tier(kind):
    """compiled_qops.quantize_rows_sym / _asym (and its centered form) give the numpy
    tier's bits, on rows short and long (the range's vectorized loop and its
    remainder)."""
    from edgelite.kernels import compiled_qops as cq
    rng = np.random.default_rng(100 + kind)
    with np.errstate(all="ignore"):
        for i in range(300):
            k = int(rng.integers(1, 40)) if i % 3 else int(rng.integers(40, 300))
            x = _rows(kind, rng, int(rng.integers(1, 4)), k)
            b = x.shape[0]
            q, sf, off = np.empty_like(x), np.empty(b, np.float32), np.empty(b, np.int64)
            cq.quantize_rows_asym(x, q, sf, off, False)
            assert all(_same(g, w) for g, w in zip((q, sf, off), asymmetric_rows(x))), x
            cq.quantize_rows_asym(x, q, sf, off, True)
            assert all(_same(g, w) for g, w in zip((q, sf, off),
                                                   asymmetric_rows_centered(x))), x
            cq.quantize_rows_sym(x, q, sf)
            assert all(_same(g, w) for g, w in zip((q, sf), symmetric_rows(x))), x


@pytest.mark.parametrize("tier", ["numpy", "compiled"])
def test_hybrid_model_tiers_equal(tier, monkeypatch):
    """cnn_dynamic_range (hybrid CONV_2D and FULLY_CONNECTED): the compiled tier takes
    the compiled quantizer, and the model's output agrees with the numpy tier (within
    float tolerance: its float convolutions take the compiled float kernels too; the
    quantizers themselves are compared bit for bit above)."""
    from pathlib import Path

    import edgelite
    from edgelite.kernels import compiled, conv
    if tier == "compiled" and not compiled.ENABLED:
        pytest.skip("numba not installed")
    path = Path(__file__).parents[1] / "fixtures" / "models" / "cnn_dynamic_range.tflite"
    x = np.random.default_rng(5).normal(size=(1, 32, 32, 3)).astype(np.float32)

    def run(on: bool):
        monkeypatch.setattr(compiled, "ENABLED", on)
        monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0 if on else conv.COMPILED_MIN_OUTPUT)
        it = edgelite.Interpreter(model_path=str(path))
        it.allocate_tensors()
        monkeypatch.undo()
        used = [k.quantize.cq is not None for k in it._main.kernels if hasattr(k, "quantize")]
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"]), used
    got, used = run(tier == "compiled")
    want, _ = run(False)
    assert used and all(used) == (tier == "compiled")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_nudged_rint_is_c_round_at_every_half_and_its_neighbours():
    """_round_rows rounds as rint(float64(v) * (1 + 2^-30)): equal to C's round()
    (trunc(v + copysign(0.5, v)), exact in float64) on every half n + 0.5 with
    |n| < 512, the float32 values on either side of each, the smallest values, and a
    random sample of float32 bit patterns (the development check covered every float32
    with |v| <= 512)."""
    from edgelite.kernels.quant.dynamic import _NO_OFFSET, _round_rows
    halves = np.arange(-512, 512, dtype=np.float32) + np.float32(0.5)
    near = np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                           np.nextafter(halves, np.float32(-np.inf))])
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 0x44000000, 1 << 18, dtype=np.uint32).view(np.float32)
    tiny = np.array([0.0, -0.0, 1e-45, -1e-45, 0.49999997, -0.49999997], np.float32)
    v = np.concatenate([near, sample, -sample, tiny]).astype(np.float32)
    w = v.astype(np.float64)
    want = np.clip(np.trunc(w + np.copysign(0.5, w)) + 0.0, -1e9, 1e9).astype(np.float32)
    got = _round_rows(v[None, :], _NO_OFFSET, -1e9, 1e9)[0]
    assert _same(got, want)
