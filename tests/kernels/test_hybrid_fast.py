"""The hybrid kernels' input quantization in few numpy calls (quant/dynamic.py) is
bit-identical to the whole-array reference (qutil.symmetric_quantize_rows /
asymmetric_quantize_rows, itself checked against LiteRT by test_hybrid.py): values,
scaling factors and zero points, on rows of every kind (mixed signs, one sign,
all zero, constant, rounding ties, tiny values, inf / NaN / huge entries)."""
from __future__ import annotations

import numpy as np
import pytest

from edgelite.kernels.quant.dynamic import asymmetric_rows, symmetric_rows
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
    elif kind == 4:
        x = np.full((b, k), rng.normal())
    elif kind == 5:
        x = rng.integers(-3, 4, (b, k)) * 0.5          # ties after scaling
    elif kind == 6:
        x = rng.normal(0, 1e-30, (b, k))
    else:
        x = rng.normal(0, 1, (b, k))
        if k:
            x.flat[int(rng.integers(0, x.size))] = rng.choice([np.nan, np.inf, -np.inf, 3e38])
    return x.astype(np.float32)


def _same(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("kind", range(8))
def test_dynamic_quantization_equals_reference(kind):
    rng = np.random.default_rng(kind)
    with np.errstate(all="ignore"):
        for _ in range(300):
            x = _rows(kind, rng, int(rng.integers(1, 4)), int(rng.integers(0, 40)))
            for fast, ref in ((symmetric_rows, symmetric_quantize_rows),
                              (asymmetric_rows, asymmetric_quantize_rows)):
                got, want = fast(x), ref(x)
                assert all(_same(g, w) for g, w in zip(got, want)), (fast.__name__, x)
