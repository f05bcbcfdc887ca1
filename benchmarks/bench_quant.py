"""One-op int8 models at MobileNetV2 layer shapes: edgelite vs LiteRT (default
kernels and the reference kernels, BUILTIN_REF).

    python benchmarks/bench_quant.py [--runs 30] [--ref-runs 5] [--threads 1]

Per-channel int8 CONV_2D / DEPTHWISE_CONV_2D and int8 FULLY_CONNECTED with
realistic quantization parameters (input zero point != 0, fused RELU6). All
three interpreters live in this process with one thread (LiteRT num_threads=1,
numpy's BLAS limited with threadpoolctl when installed); invokes alternate and
the table gives medians and the ratios edgelite / LiteRT-default and
edgelite / LiteRT-reference, plus whether edgelite's output equals BUILTIN_REF's
bit for bit and the largest difference (in quantized steps) from the default
kernels. LiteRT's default int8 path is its built-in kernels plus the XNNPACK
delegate. Not a test: timings never go in tests.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import time

import numpy as np

import edgelite
from edgelite.format.builder import ModelBuilder

try:
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    from ai_edge_litert.interpreter import OpResolverType
except ImportError:  # pragma: no cover
    LiteRTInterpreter = None

I8 = np.int8


def _quant_weights(rng, shape, axis):
    n = shape[axis]
    scales = list(10.0 ** rng.uniform(-3, -2, n))
    w = rng.integers(-127, 128, shape).astype(I8)
    return w, {"scale": scales, "zero_point": [0] * n, "quantized_dimension": axis}


def conv(name, hw, cin, cout, k, stride, act="RELU6"):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, hw, hw, cin), I8, quant={"scale": [0.02], "zero_point": [-5]})
        w, q = _quant_weights(rng, (cout, k, k, cin), 0)
        bias = rng.integers(-2000, 2000, cout).astype(np.int32)
        y = b.add_tensor("y", (1, 1, 1, 1), I8,
                         quant={"scale": [0.05 * np.sqrt(k * k * cin / 32)], "zero_point": [-128]})
        b.add_op("CONV_2D", [x, b.add_constant("w", w, quant=q), b.add_constant("b", bias)], [y],
                 version=3, padding="SAME", stride_h=stride, stride_w=stride,
                 fused_activation_function=act)
        b.add_output(y)
        return b.to_bytes(), (1, hw, hw, cin)
    oh = -(-hw // stride)
    return name, build, 2 * oh * oh * cout * k * k * cin


def depthwise(name, hw, c, stride, act="RELU6"):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, hw, hw, c), I8, quant={"scale": [0.02], "zero_point": [-5]})
        w, q = _quant_weights(rng, (1, 3, 3, c), 3)
        bias = rng.integers(-2000, 2000, c).astype(np.int32)
        y = b.add_tensor("y", (1, 1, 1, 1), I8, quant={"scale": [0.03], "zero_point": [-128]})
        b.add_op("DEPTHWISE_CONV_2D",
                 [x, b.add_constant("w", w, quant=q), b.add_constant("b", bias)], [y],
                 version=3, padding="SAME", stride_h=stride, stride_w=stride,
                 depth_multiplier=1, fused_activation_function=act)
        b.add_output(y)
        return b.to_bytes(), (1, hw, hw, c)
    oh = -(-hw // stride)
    return name, build, 2 * oh * oh * c * 9


def fully_connected(name, k, units):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, k), I8, quant={"scale": [0.02], "zero_point": [-5]})
        w, q = _quant_weights(rng, (units, k), 0)
        q = {"scale": [q["scale"][0]], "zero_point": [0]}
        bias = rng.integers(-2000, 2000, units).astype(np.int32)
        y = b.add_tensor("y", (1, units), I8, quant={"scale": [0.4], "zero_point": [3]})
        b.add_op("FULLY_CONNECTED", [x, b.add_constant("w", w, quant=q),
                                     b.add_constant("b", bias)], [y], version=4)
        b.add_output(y)
        return b.to_bytes(), (1, k)
    return name, build, 2 * k * units


LAYERS = [
    conv("CONV_2D 224x224x3 -> 32, 3x3 s2", 224, 3, 32, 3, 2),
    depthwise("DEPTHWISE 112x112x32, 3x3 s1", 112, 32, 1),
    conv("CONV_2D 112x112x32 -> 16, 1x1", 112, 32, 16, 1, 1, act="NONE"),
    depthwise("DEPTHWISE 112x112x96, 3x3 s2", 112, 96, 2),
    conv("CONV_2D 56x56x144 -> 24, 1x1", 56, 144, 24, 1, 1, act="NONE"),
    depthwise("DEPTHWISE 56x56x144, 3x3 s1", 56, 144, 1),
    conv("CONV_2D 28x28x32 -> 192, 1x1", 28, 32, 192, 1, 1),
    depthwise("DEPTHWISE 14x14x384, 3x3 s1", 14, 384, 1),
    depthwise("DEPTHWISE 7x7x960, 3x3 s1", 7, 960, 1),
    conv("CONV_2D 7x7x320 -> 1280, 1x1", 7, 320, 1280, 1, 1),
    fully_connected("FULLY_CONNECTED 1280 -> 1000", 1280, 1000),
]


class Runner:
    def __init__(self, interp):
        self.it = interp
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def run(self, x) -> float:
        self.it.set_tensor(self.inp, x)
        t0 = time.perf_counter()
        self.it.invoke()
        return time.perf_counter() - t0

    def result(self):
        return self.it.get_tensor(self.out)


def blas_threads(threads: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("(threadpoolctl not installed: numpy's BLAS uses its default thread count)")
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "unknown"
    flags = sorted(set(re.findall(r"\b(avx512[a-z_]*|avx_vnni|avx2|fma)\b", text)))
    return " ".join(flags) or "none of avx2/avx512"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="timed invokes (edgelite, default)")
    ap.add_argument("--ref-runs", type=int, default=5, help="timed invokes of BUILTIN_REF")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if LiteRTInterpreter is None:
        raise SystemExit("ai_edge_litert is not installed (pip install ai-edge-litert)")
    print(f"CPU flags: {cpu_flags()}")
    print(f"threads: {args.threads}; medians of {args.runs} runs ({args.ref_runs} for "
          f"BUILTIN_REF), alternating\n")
    rng = np.random.default_rng(0)
    head = (f"{'layer (int8)':34s} {'MOPs':>7s} {'edgelite':>9s} {'LiteRT':>8s} {'REF':>9s}"
            f" {'/LiteRT':>8s} {'/REF':>6s} {'=REF':>5s} {'dDef':>5s}")
    print(head + "\n" + " " * 43 + "(ms)      (ms)      (ms)")
    print("-" * len(head))
    totals = [0.0, 0.0, 0.0]
    with blas_threads(args.threads):
        for name, build, ops in LAYERS:
            model, shape = build(rng)
            x = rng.integers(-128, 128, shape).astype(I8)
            e = Runner(edgelite.Interpreter(model_content=model, num_threads=args.threads))
            d = Runner(LiteRTInterpreter(model_content=model, num_threads=args.threads))
            r = Runner(LiteRTInterpreter(
                model_content=model, num_threads=args.threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF))
            for _ in range(args.warmup):
                e.run(x)
                d.run(x)
            r.run(x)
            te, td, tr = [], [], []
            for i in range(args.runs):
                te.append(e.run(x))
                td.append(d.run(x))
                if i < args.ref_runs:
                    tr.append(r.run(x))
            exact = np.array_equal(e.result(), r.result())
            d_def = int(np.abs(e.result().astype(int) - d.result().astype(int)).max())
            me, md, mr = (statistics.median(t) * 1e3 for t in (te, td, tr))
            for j, v in enumerate((me, md, mr)):
                totals[j] += v
            print(f"{name:34s} {ops / 1e6:7.1f} {me:9.3f} {md:8.3f} {mr:9.3f} {me / md:8.2f}"
                  f" {me / mr:6.2f} {'yes' if exact else 'NO':>5s} {d_def:5d}")
    print("-" * len(head))
    me, md, mr = totals
    print(f"{'total':34s} {'':7s} {me:9.3f} {md:8.3f} {mr:9.3f} {me / md:8.2f} {me / mr:6.2f}")


if __name__ == "__main__":
    main()
