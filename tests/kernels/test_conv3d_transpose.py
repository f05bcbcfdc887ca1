"""CONV_3D_TRANSPOSE (edgelite/kernels/conv3d_transpose.py) against LiteRT."""
from __future__ import annotations

import itertools
import random
import zlib

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.errors import EdgeliteError
from edgelite.format.builder import ModelBuilder
from edgelite.kernels.common import conv_output_size


def _out_size(padding, in_size, k, s, dil):
    """The largest output size whose convolution gives in_size (as TF's output_shape)."""
    pad = 0 if padding == "SAME" else 1
    for cand in range(in_size * s + (k - 1) * dil, 0, -1):
        if conv_output_size(pad, cand, k, s, dil) == in_size:
            return cand
    raise AssertionError("no output size")


def model(n, dhw, ic, oc, ks, strides, dil, padding, bias, act, *, dynamic=False, seed=0):
    rng = np.random.default_rng(seed)
    out_sp = tuple(_out_size(padding, dhw[i], ks[i], strides[i], dil[i]) for i in range(3))
    out_shape = np.array((n, *out_sp, oc), np.int32)
    b = ModelBuilder("conv3d transpose")
    shape_t = b.add_input("output_shape", (5,), np.int32) if dynamic else \
        b.add_constant("output_shape", out_shape)
    w = b.add_constant("w", rng.normal(0, 0.5, (*ks, oc, ic)).astype(np.float32))
    x = b.add_input("x", (n, *dhw, ic), np.float32)
    ins = [shape_t, w, x]
    if bias:
        ins.append(b.add_constant("bias", rng.normal(0, 0.5, oc).astype(np.float32)))
    y = b.add_tensor("y", tuple(int(v) for v in out_shape), np.float32)
    b.add_op("CONV_3D_TRANSPOSE", ins, [y], padding=padding, stride_d=strides[0],
             stride_h=strides[1], stride_w=strides[2], dilation_d_factor=dil[0],
             dilation_h_factor=dil[1], dilation_w_factor=dil[2],
             fused_activation_function=act)
    b.add_output(y)
    inputs = ([out_shape] if dynamic else []) + \
        [rng.normal(size=(n, *dhw, ic)).astype(np.float32)]
    return b.to_bytes(), inputs


GRID = list(itertools.product(
    [(1, (2, 3, 3), 2, 3), (2, (3, 2, 4), 3, 2)],          # n, dhw, ic, oc
    [(2, 2, 2), (1, 3, 2), (3, 1, 3)],                      # kernel
    [(1, 1, 1), (2, 2, 2), (1, 2, 3)],                      # strides
    [(1, 1, 1), (2, 1, 2)],                                  # dilations
    ["SAME", "VALID"], [False, True], ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
DEFAULT = random.Random(0).sample(GRID, 40)


def _run(case, dynamic=False):
    (n, dhw, ic, oc), ks, strides, dil, padding, bias, act = case
    data, inputs = model(n, dhw, ic, oc, ks, strides, dil, padding, bias, act,
                         dynamic=dynamic, seed=zlib.crc32(repr(case).encode()) % 1000)
    check_against_litert(data, inputs)


@pytest.mark.parametrize("case", DEFAULT, ids=str)
def test_conv3d_transpose(case):
    _run(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", GRID, ids=str)
def test_conv3d_transpose_full_grid(case):
    _run(case)


@pytest.mark.parametrize("case", DEFAULT[:6], ids=str)
def test_conv3d_transpose_output_shape_at_run_time(case):
    _run(case, dynamic=True)


def test_inconsistent_output_shape_is_an_error():
    data, inputs = model(1, (2, 2, 2), 2, 3, (2, 2, 2), (2, 2, 2), (1, 1, 1), "SAME", True,
                         "NONE", dynamic=True)
    it = edgelite.Interpreter(model_content=data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.array([1, 9, 4, 4, 3], np.int32))
    it.set_tensor(it.get_input_details()[1]["index"], inputs[1])
    with pytest.raises(EdgeliteError, match=r"operator 0 \(CONV_3D_TRANSPOSE\).*inconsistent"):
        it.invoke()
