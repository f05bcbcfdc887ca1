"""kws_float32's arithmetic alone in numpy, against LiteRT: what a numpy tier has left.

kws_float32 (a DS-CNN keyword spotter: CONV_2D 10x4/2, then twice DEPTHWISE 3x3 +
1x1 CONV_2D, AVERAGE_POOL_2D, FULLY_CONNECTED, SOFTMAX; ~0.6 M MACs) is the one
issue-7 row whose numpy-tier miss (<= 4x LiteRT) is not explained by
requantization. This script builds the model from its own weights as plain numpy
calls on buffers laid out ahead of time (checked against LiteRT's output), and times,
in one process, alternating, medians:

  LiteRT (XNNPACK, 1 thread) and edgelite's numpy tier;
  arithmetic calls only: the six calls that do the model's multiply-adds (the three
      convolution GEMMs, each depthwise layer as one einsum over its rows' flat width x
      channel lanes, the FC) and the softmax's exp: what a numpy tier would cost if
      every copy, bias, ReLU, pooling and dispatch were free;
  plain calls: the whole model as 19 straightforward numpy calls around those (not
      tuned as edgelite's kernels are: it shows what the glue costs when done plainly).

The 4x target minus the arithmetic calls is the time left for the at least ten
other calls the model needs (the im2col copy, two depthwise biases, five ReLUs,
pooling, the softmax's max and sum).

    python benchmarks/floor_kws.py [--runs 3000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

try:        # numpy's C einsum without np.einsum's Python argument handling (~1-2 us a call)
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:
    _einsum = np.einsum

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "models", "kws_float32.tflite")
F32 = np.float32
GRAPH = ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D",
         "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"]


def weights(path: str) -> list[tuple[str, list[np.ndarray]]]:
    """(op name, [constant inputs]) per operator, from edgelite's reader."""
    import edgelite
    m = edgelite.load_model(path)
    sg = m.subgraphs[0]
    return [(m.op_name(op), [np.array(m.constant(sg.tensors[i])) for i in op.inputs[1:] if i >= 0])
            for op in sg.operators]


class Plain:
    """kws_float32 in plain numpy calls on prepared buffers (see the module docstring)."""

    def __init__(self, ops):
        names = [n for n, _ in ops]
        if names != GRAPH:
            sys.exit(f"not the kws_float32 graph this script is written for: {names}")
        (w0, b0), (dw1, db1), (p1, pb1), (dw2, db2), (p2, pb2) = (ops[i][1] for i in range(5))
        wfc = ops[6][1][0]
        e = np.dtype(F32).itemsize
        # conv0: 49 x 10 x 1 input, 10 x 4 filter, stride 2, SAME: pads 4 / 5 rows, 1 / 1
        # columns; the input lives inside its padded buffer (no padding copy)
        self.xp = np.zeros((58, 12), F32)
        self.x = self.xp[4:53, 1:11]
        self.win = as_strided(self.xp, (25, 5, 10, 4), (2 * 12 * e, 2 * e, 12 * e, e))
        self.col0 = np.ones((125, 41), F32)            # last column: the bias's ones
        self.col0_win = self.col0[:, :40].reshape(25, 5, 10, 4)
        self.w0 = np.concatenate([w0.reshape(32, 40).T, b0[None]]).astype(F32)
        self.g0 = np.empty((125, 32), F32)
        # depthwise layers: [27, 7, 32] zero-bordered inputs read as [25 rows, 3, 3, 160]
        self.pads, self.flat, self.wl, self.bl = [], [], [], []
        rs = 7 * 32 * e
        for w, b in ((dw1, db1), (dw2, db2)):
            pad = np.zeros((27, 7, 32), F32)
            self.pads.append(pad)
            self.flat.append(as_strided(pad, (25, 3, 3, 160), (rs, rs, 32 * e, e)))
            self.wl.append(np.ascontiguousarray(
                np.broadcast_to(w[0][:, :, None, :], (3, 3, 5, 32))).reshape(3, 3, 160))
            self.bl.append(np.ascontiguousarray(np.broadcast_to(b, (25, 5, 32))).reshape(25, 160))
        self.dw_out = np.empty((25, 160), F32)
        # pointwise layers: the depthwise output beside a ones column (bias folded)
        self.pw_in = np.ones((125, 33), F32)
        self.pw_w = [np.concatenate([p.reshape(32, 32).T, pb[None]]).astype(F32)
                     for p, pb in ((p1, pb1), (p2, pb2))]
        self.pw_out = np.empty((125, 32), F32)
        self.ones = np.ones((1, 125), F32)
        self.pool = np.empty((1, 32), F32)
        self.wfc = np.ascontiguousarray(wfc.T / F32(125))   # the mean folded into the FC
        self.logits = np.empty((1, 12), F32)

    def run(self) -> None:
        copyto, matmul, maximum, einsum, add = np.copyto, np.matmul, np.maximum, _einsum, np.add
        copyto(self.col0_win, self.win)                                 # im2col
        matmul(self.col0, self.w0, out=self.g0)                         # conv0 + bias
        maximum(self.g0.reshape(25, 5, 32), 0, out=self.pads[0][1:26, 1:6])
        for k in range(2):
            einsum("hijl,ijl->hl", self.flat[k], self.wl[k], out=self.dw_out)
            add(self.dw_out, self.bl[k], out=self.dw_out)
            maximum(self.dw_out.reshape(125, 32), 0, out=self.pw_in[:, :32])
            matmul(self.pw_in, self.pw_w[k], out=self.pw_out)           # pointwise + bias
            dst = self.pads[1][1:26, 1:6] if k == 0 else self.pw_out.reshape(25, 5, 32)
            maximum(self.pw_out.reshape(25, 5, 32), 0, out=dst)
        matmul(self.ones, self.pw_out, out=self.pool)                   # pool (sum)
        matmul(self.pool, self.wfc, out=self.logits)                    # FC (/ 125)
        z = self.logits
        np.subtract(z, z.max(), out=z)
        np.exp(z, out=z)
        z /= z.sum()

    def arithmetic(self) -> None:
        """run()'s multiply-adds and exp alone, on the same buffers."""
        matmul, einsum = np.matmul, _einsum
        matmul(self.col0, self.w0, out=self.g0)
        for k in range(2):
            einsum("hijl,ijl->hl", self.flat[k], self.wl[k], out=self.dw_out)
            matmul(self.pw_in, self.pw_w[k], out=self.pw_out)
        matmul(self.pool, self.wfc, out=self.logits)
        np.exp(self.logits, out=self.logits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--runs", type=int, default=3000, help="invokes per runtime per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not os.path.exists(args.model):
        sys.exit(f"{args.model} is missing: make it with tests/fixtures/make_fixtures.py --large")
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    from ai_edge_litert.interpreter import Interpreter

    import edgelite
    from edgelite.kernels import compiled
    compiled.ENABLED = False                      # edgelite's numpy tier
    plain = Plain(weights(args.model))
    lite = Interpreter(model_path=args.model, num_threads=1)
    lite.allocate_tensors()
    ours = edgelite.Interpreter(model_path=args.model, num_threads=1)
    ours.allocate_tensors()
    rng = np.random.default_rng(0)
    lin, lout = lite.get_input_details()[0]["index"], lite.get_output_details()[0]["index"]
    oin, oout = ours.get_input_details()[0]["index"], ours.get_output_details()[0]["index"]
    worst = 0.0
    for _ in range(5):
        x = rng.standard_normal((1, 49, 10, 1)).astype(F32)
        lite.set_tensor(lin, x)
        lite.invoke()
        ours.set_tensor(oin, x)
        ours.invoke()
        plain.x[...] = x[0, :, :, 0]
        plain.run()
        ref = lite.get_tensor(lout)
        worst = max(worst, float(np.abs(plain.logits - ref).max()),
                    float(np.abs(ours.get_tensor(oout) - ref).max()))
    if worst > 1e-5:
        sys.exit(f"the numpy calls' output differs from LiteRT's by {worst:.2e}: not this model")

    def per_call(fn, n):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n

    rows = {"LiteRT (XNNPACK, 1 thread)": lite.invoke, "edgelite numpy tier": ours.invoke,
            "arithmetic calls only (7)": plain.arithmetic, "plain calls (19)": plain.run}
    times = {k: [] for k in rows}
    for _ in range(args.rounds):
        for k, fn in rows.items():
            per_call(fn, args.runs // 10)                 # (warm this runtime's caches)
            times[k].append(per_call(fn, args.runs))
    base = statistics.median(times["LiteRT (XNNPACK, 1 thread)"])
    arith = statistics.median(times["arithmetic calls only (7)"])
    print(f"kws_float32, medians of {args.rounds} rounds of {args.runs} invokes; outputs within "
          f"{worst:.1e} of LiteRT's")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"  {k:28s} {m * 1e6:7.1f} us  {m / base:5.2f}x")
    print(f"  the issue-7 target, 4x LiteRT, {4 * base * 1e6:.1f} us, leaves "
          f"{(4 * base - arith) * 1e6:.1f} us beside the arithmetic for every other call")


if __name__ == "__main__":
    main()
