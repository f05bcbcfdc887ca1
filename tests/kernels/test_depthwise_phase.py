"""The numpy tier's quantized DEPTHWISE_CONV_2D with stride 2 along the width: the
padded copy stored by column parity (two strided copies of the input, border views per
parity), each tap's plane then contiguous along the output row and multiplied by the
row-tiled weights. Checked against LiteRT's reference kernels (BUILTIN_REF) for both
parities of the left padding, odd and even widths, both tap paths (int16 pairs and the
float fallback), uint8, row stride 1 and 2, row dilation, inputs at their extremes."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from kernels.test_quant_conv import check
from kernels.test_speed_paths_quant_conv import _dw_model

import edgelite
from edgelite.kernels import compiled

I8, U8 = np.int8, np.uint8


CASES = [
    # (x_shape, kernel hw, padding, stride_h, dilation_h, act, zi, dtype, weights)
    ((1, 41, 41, 24), (3, 3), "SAME", 2, 1, "RELU6", -128, I8, "random"),   # left pad 1
    ((1, 40, 40, 24), (3, 3), "SAME", 2, 1, "NONE", -7, I8, "random"),      # left pad 0
    ((1, 33, 34, 16), (3, 3), "VALID", 2, 1, "RELU", 3, I8, "random"),
    ((2, 19, 30, 12), (3, 3), "SAME", 1, 1, "NONE", 0, I8, "random"),       # rows stride 1
    ((1, 30, 31, 16), (2, 2), "VALID", 2, 1, "RELU6", -128, I8, "random"),  # even kernel
    ((1, 36, 35, 16), (3, 3), "SAME", 2, 2, "NONE", 9, I8, "random"),       # row dilation
    ((1, 41, 41, 24), (3, 3), "SAME", 2, 1, "NONE", -1, I8, "unpaired"),    # float taps
    ((1, 41, 40, 24), (3, 3), "SAME", 2, 1, "RELU6", 128, U8, "random"),    # uint8
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_depthwise_stride2_parity_copy_against_litert(case, monkeypatch):
    monkeypatch.setattr(compiled, "ENABLED", False)
    xs, (kh, kw), padding, sh, dh, act, zi, dtype, kind = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    c = xs[-1]
    if dtype == I8:
        w = rng.integers(-127, 128, (1, kh, kw, c)).astype(I8)
        if kind == "unpaired":
            w.reshape(-1, c)[0, 1] = w.reshape(-1, c)[1, 1] = -128
    else:
        w = rng.integers(0, 256, (1, kh, kw, c)).astype(U8)
    model = _dw_model(w, xs, rng, zi, padding, dh, act, dtype, stride=(sh, 2), dil_w=1)
    info = np.iinfo(dtype)
    vals = np.array([info.min, info.max, info.min + 1, 0 if dtype == I8 else 128, 3, 100],
                    dtype)
    check(model, [rng.choice(vals, xs)])
    check(model, [rng.integers(int(info.min), int(info.max) + 1, xs).astype(dtype)])
    it = edgelite.Interpreter(model_content=model)
    it.allocate_tensors()
    k = it._main.kernels[0]
    assert k.fast is None and k.phase and k.tiled
    assert k.i16 == (dtype == I8 and kind == "random")
    # twice in a row and after a second input: the border stays right (arena reuse)
    x = rng.integers(int(info.min), int(info.max) + 1, xs).astype(dtype)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    first = it.get_tensor(it.get_output_details()[0]["index"]).copy()
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), first)
