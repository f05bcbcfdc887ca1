"""Differential fuzz of the compiled tier against the numpy tier.

Random chains CONV_2D -> DEPTHWISE_CONV_2D -> CONV_2D 1x1 -> pool -> RESHAPE ->
FULLY_CONNECTED, float32 and int8 (per-channel weights), with random geometry:
kernel sizes, strides, dilations, paddings, depth multipliers, channel counts on
and off the compiled kernels' vector widths (16, 32, ...), fused activations,
batch 1-2. Every node runs on the compiled tier (COMPILED_MIN_OUTPUT = 0) and on
the numpy tier, with `experimental_preserve_all_tensors=True` so every tensor has
its own arena bytes: **every** tensor of the compiled run must equal the numpy
run's (int8: bit for bit; float: within 1e-5 relative). A kernel writing outside
its output (the register-tiled and LLVM-IR kernels run without bounds checks)
would corrupt a neighbouring tensor and fail here. A few cases per dtype also go
to LiteRT (int8: its reference kernels, bit for bit).

Default run: 24 chains per dtype; `-m slow`: 400.
"""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels import compiled

pytestmark = pytest.mark.skipif(not compiled.ENABLED, reason="numba not installed: "
                                "there is no compiled tier to compare")

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
DEFAULT, SLOW = 24, 400


def _channels(rng) -> int:
    return int(rng.choice([1, 3, 5, 8, 16, 17, 24, 32, 40, 48, 64]))


def _out(padding, n, k, s, d):
    eff = (k - 1) * d + 1
    return -(-n // s) if padding == "SAME" else (n - eff + s) // s if n >= eff else 0


def _geometry(rng, h, w):
    """A kernel size / stride / dilation / padding with a non-empty output."""
    for _ in range(20):
        kh, kw = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 3, 4]))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        d = (int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2])))
        pad = str(rng.choice(["SAME", "VALID"]))
        if _out(pad, h, kh, s[0], d[0]) > 0 and _out(pad, w, kw, s[1], d[1]) > 0:
            return kh, kw, s, d, pad
    return 1, 1, (1, 1), (1, 1), "SAME"


class Chain:
    """Builds one random model; int8 tensors get scales that keep values in range."""

    def __init__(self, seed: int, dtype, always_bias: bool = False):
        self.rng = rng = np.random.default_rng(seed)
        self.always_bias = always_bias      # LiteRT refuses a CONV_2D without bias
        self.dtype = dtype
        self.b = ModelBuilder()
        n = int(rng.integers(1, 3))
        h, w, c = int(rng.integers(1, 20)), int(rng.integers(1, 20)), _channels(rng)
        self.shape = (n, h, w, c)
        self.scale = 0.05
        self.x = self.b.add_input("x", self.shape, dtype, quant=self._q(self.scale, 3))
        self.t = self.x
        self.n_ops = 0

    def _q(self, scale, zp):
        return {"scale": [scale], "zero_point": [zp]} if self.dtype == np.int8 else None

    def _new(self, shape, k_sum: int):
        """An output tensor; int8: its scale from the accumulation length."""
        rng = self.rng
        if self.dtype == np.int8:
            self.scale = self.scale * 0.02 * np.sqrt(max(k_sum, 1)) * float(rng.uniform(0.5, 3))
            q = self._q(self.scale, int(rng.integers(-20, 20)))
        else:
            q = None
        self.n_ops += 1
        return self.b.add_tensor(f"t{self.n_ops}", shape, self.dtype, quant=q)

    def _weights(self, shape, axis):
        rng, oc = self.rng, shape[axis]
        if self.dtype == np.int8:
            w = rng.integers(-127, 128, shape).astype(np.int8)
            scales = list(10.0 ** rng.uniform(-2.5, -1.5, oc))
            wq = {"scale": scales, "zero_point": [0] * oc, "quantized_dimension": axis}
            wt = self.b.add_constant(f"w{self.n_ops}", w, quant=wq)
            bias = rng.integers(-3000, 3000, oc).astype(np.int32)
            bq = {"scale": [self.scale * v for v in scales], "zero_point": [0] * oc,
                  "quantized_dimension": 0}
        else:
            fan_in = int(np.prod(shape)) // oc if axis == 0 else int(np.prod(shape[1:3]))
            wt = self.b.add_constant(f"w{self.n_ops}",     # sums of order 1, as trained nets
                                     rng.normal(0, fan_in ** -0.5, shape).astype(np.float32))
            bias = rng.normal(0, 0.5, oc).astype(np.float32)
            bq = None
        ins = [self.t, wt]
        if self.always_bias or rng.random() < 0.8:
            ins.append(self.b.add_constant(f"b{self.n_ops}", bias, quant=bq))
        return ins

    def conv(self, kh, kw, s, d, pad, oc):
        n, h, w, c = self.shape
        ins = self._weights((oc, kh, kw, c), 0)
        self.shape = (n, _out(pad, h, kh, s[0], d[0]), _out(pad, w, kw, s[1], d[1]), oc)
        y = self._new(self.shape, kh * kw * c)
        self.b.add_op("CONV_2D", ins, [y], version=3 if self.dtype == np.int8 else 1,
                      padding=pad, stride_h=s[0], stride_w=s[1], dilation_h_factor=d[0],
                      dilation_w_factor=d[1], fused_activation_function=str(self.rng.choice(ACTS)))
        self.t = y

    def depthwise(self, kh, kw, s, d, pad, mult):
        n, h, w, c = self.shape
        ins = self._weights((1, kh, kw, c * mult), 3)
        self.shape = (n, _out(pad, h, kh, s[0], d[0]), _out(pad, w, kw, s[1], d[1]), c * mult)
        y = self._new(self.shape, kh * kw)
        self.b.add_op("DEPTHWISE_CONV_2D", ins, [y], version=3 if self.dtype == np.int8 else 1,
                      padding=pad, stride_h=s[0], stride_w=s[1], dilation_h_factor=d[0],
                      dilation_w_factor=d[1], depth_multiplier=mult,
                      fused_activation_function=str(self.rng.choice(ACTS)))
        self.t = y

    def pool(self):
        n, h, w, c = self.shape
        op = str(self.rng.choice(["MAX_POOL_2D", "AVERAGE_POOL_2D"]))
        k = (min(h, 2), min(w, 2))
        self.shape = (n, -(-h // k[0]), -(-w // k[1]), c)
        y = self.b.add_tensor(f"p{self.n_ops}", self.shape, self.dtype,
                              quant=self._q(self.scale, 0) if self.dtype == np.int8 else None)
        if self.dtype == np.int8:        # pools keep their input's quantization
            self.b.model.subgraphs[0].tensors[y].quantization = \
                self.b.model.subgraphs[0].tensors[self.t].quantization
        self.b.add_op(op, [self.t], [y], padding="SAME", stride_h=k[0], stride_w=k[1],
                      filter_height=k[0], filter_width=k[1])
        self.t = y

    def fully_connected(self, units):
        n = self.shape[0]
        flat = int(np.prod(self.shape[1:]))
        shape_t = self.b.add_constant(f"s{self.n_ops}", np.array([n, flat], np.int32))
        r = self.b.add_tensor(f"r{self.n_ops}", (n, flat), self.dtype)
        self.b.model.subgraphs[0].tensors[r].quantization = \
            self.b.model.subgraphs[0].tensors[self.t].quantization
        self.b.add_op("RESHAPE", [self.t, shape_t], [r])
        self.t = r
        self.shape = (units, flat)
        ins = self._weights((units, flat), 0)
        if self.dtype == np.int8:        # FULLY_CONNECTED takes per-tensor weight scales
            for t in ins[1:]:
                q = self.b.model.subgraphs[0].tensors[t].quantization
                q.scale, q.zero_point = q.scale[:1].copy(), q.zero_point[:1].copy()
        self.shape = (n, units)
        y = self._new(self.shape, flat)
        self.b.add_op("FULLY_CONNECTED", ins, [y], version=4 if self.dtype == np.int8 else 1,
                      fused_activation_function=str(self.rng.choice(ACTS[:3])))
        self.t = y

    def build(self) -> bytes:
        rng = self.rng
        _, h, w, _ = self.shape
        self.conv(*_geometry(rng, h, w), _channels(rng))
        _, h, w, _ = self.shape
        kh, kw, s, d, pad = _geometry(rng, h, w)
        if rng.random() < 0.5:       # MobileNet's 3x3 (the compiled 3x3 kernels' case)
            kh, kw, pad = 3, 3, "SAME"
        self.depthwise(kh, kw, s, d, pad, int(rng.choice([1, 1, 1, 2])))
        self.conv(1, 1, (1, 1), (1, 1), "SAME", _channels(rng))
        if rng.random() < 0.6:
            self.pool()
        self.fully_connected(int(rng.integers(1, 20)))
        self.b.add_output(self.t)
        return self.b.to_bytes()

    def inputs(self):
        rng = self.rng
        shape = self.b.model.subgraphs[0].tensors[self.x].shape
        if self.dtype == np.int8:
            return [rng.integers(-128, 128, shape).astype(np.int8)]
        return [rng.normal(0, 1, shape).astype(np.float32)]


def _run_all_tensors(model: bytes, inputs, tier: str) -> dict[str, np.ndarray]:
    from edgelite.kernels import conv
    saved = compiled.ENABLED, conv.COMPILED_MIN_OUTPUT
    compiled.ENABLED, conv.COMPILED_MIN_OUTPUT = tier == "compiled", 0
    try:
        it = edgelite.Interpreter(model_content=model, experimental_preserve_all_tensors=True)
        it.allocate_tensors()
    finally:
        compiled.ENABLED, conv.COMPILED_MIN_OUTPUT = saved
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_tensor_details()}


def _compare(seed: int, dtype, litert: bool) -> None:
    chain = Chain(seed, dtype, always_bias=litert)
    try:
        model = chain.build()
    except ValueError:
        pytest.fail(f"seed {seed}: builder refused the chain")
    xs = chain.inputs()
    got = _run_all_tensors(model, xs, "compiled")
    want = _run_all_tensors(model, xs, "numpy")
    assert got.keys() == want.keys()
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, name
        if w.dtype.kind == "f":
            scale = max(1.0, float(np.abs(w).max(initial=0.0)))
            err = float(np.abs(g.astype(np.float64) - w).max(initial=0.0)) / scale
            assert err <= 1e-5, f"seed {seed}, tensor {name!r}: relative error {err:.2e}"
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"seed {seed}, tensor {name!r}")
    if litert:
        check_against_litert(model, xs, reference=dtype == np.int8)


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["float32", "int8"])
@pytest.mark.parametrize("seed", range(DEFAULT))
def test_compiled_tier_fuzz(seed, dtype):
    _compare(seed, dtype, litert=seed % 6 == 0)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["float32", "int8"])
@pytest.mark.parametrize("seed", range(DEFAULT, DEFAULT + SLOW))
def test_compiled_tier_fuzz_slow(seed, dtype):
    _compare(seed, dtype, litert=seed % 20 == 0)
