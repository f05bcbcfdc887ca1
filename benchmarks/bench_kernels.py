"""One-op float32 models at real MobileNetV2 layer shapes: edgelite vs LiteRT.

    python benchmarks/bench_kernels.py [--runs 50] [--threads 1]

Both runtimes run in this process with one thread (LiteRT num_threads=1, and
numpy's BLAS limited with threadpoolctl when it is installed), alternating
invokes; the table gives the median invoke time of each and the ratio
edgelite / LiteRT (LiteRT here includes its default XNNPACK delegate), for
each edgelite kernel tier: numpy, and compiled when numba is installed.
Not a test: timings never go in tests.
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
from edgelite.kernels import compiled

try:
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
except ImportError:  # pragma: no cover
    LiteRTInterpreter = None


def conv(name, hw, cin, cout, k, stride, act="RELU6"):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, hw, hw, cin), np.float32)
        w = b.add_constant("w", (rng.standard_normal((cout, k, k, cin)) * 0.1).astype(np.float32))
        bias = b.add_constant("b", rng.standard_normal(cout).astype(np.float32))
        y = b.add_tensor("y", (1, 1, 1, 1), np.float32)
        b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=stride, stride_w=stride,
                 fused_activation_function=act)
        b.add_output(y)
        return b.to_bytes(), (1, hw, hw, cin)
    oh = -(-hw // stride)
    return name, build, 2 * oh * oh * cout * k * k * cin


def depthwise(name, hw, c, stride, act="RELU6"):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, hw, hw, c), np.float32)
        w = b.add_constant("w", rng.standard_normal((1, 3, 3, c)).astype(np.float32))
        bias = b.add_constant("b", rng.standard_normal(c).astype(np.float32))
        y = b.add_tensor("y", (1, 1, 1, 1), np.float32)
        b.add_op("DEPTHWISE_CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=stride,
                 stride_w=stride, depth_multiplier=1, fused_activation_function=act)
        b.add_output(y)
        return b.to_bytes(), (1, hw, hw, c)
    oh = -(-hw // stride)
    return name, build, 2 * oh * oh * c * 9


def fully_connected(name, k, units):
    def build(rng):
        b = ModelBuilder()
        x = b.add_input("x", (1, k), np.float32)
        w = b.add_constant("w", (rng.standard_normal((units, k)) * 0.05).astype(np.float32))
        bias = b.add_constant("b", rng.standard_normal(units).astype(np.float32))
        y = b.add_tensor("y", (1, units), np.float32)
        b.add_op("FULLY_CONNECTED", [x, w, bias], [y])
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
        dt = time.perf_counter() - t0
        return dt

    def result(self):
        return self.it.get_tensor(self.out)


def blas_one_thread(threads: int):
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
    flags = sorted(set(re.findall(r"\b(avx512[a-z_0-9]*|avx_vnni|avx2|fma)\b", text)))
    return " ".join(flags) or "none of avx2/avx512"


def edgelite_runner(model: bytes, threads: int, tier: str) -> Runner:
    """An edgelite interpreter prepared with the given kernel tier."""
    saved = compiled.ENABLED
    compiled.ENABLED = saved and tier == "compiled"
    try:
        return Runner(edgelite.Interpreter(model_content=model, num_threads=threads))
    finally:
        compiled.ENABLED = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="timed invokes per runtime and layer")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if LiteRTInterpreter is None:
        raise SystemExit("ai_edge_litert is not installed (pip install ai-edge-litert)")
    tiers = ["numpy"] + (["compiled"] if compiled.ENABLED else [])
    print(f"CPU flags: {cpu_flags()}")
    print(f"threads: {args.threads}, runs: {args.runs} (median), alternating edgelite / LiteRT;"
          f" compiled tier: {compiled.REASON}")
    if compiled.ENABLED:
        print(f"compiled kernels compiled/loaded in {compiled.warm_up():.2f} s")
    print()
    rng = np.random.default_rng(0)
    head = f"{'layer':34s} {'MFLOP':>7s} {'LiteRT ms':>10s}"
    for t in tiers:
        head += f" {t + ' ms':>12s} {'ratio':>6s} {'GFLOP/s':>7s}"
    head += f" {'max err':>8s}"
    print(head)
    print("-" * len(head))
    with blas_one_thread(args.threads):
        totals = dict.fromkeys([*tiers, "litert"], 0.0)
        for name, build, flops in LAYERS:
            model, shape = build(rng)
            x = rng.standard_normal(shape).astype(np.float32)
            runners = {t: edgelite_runner(model, args.threads, t) for t in tiers}
            runners["litert"] = Runner(LiteRTInterpreter(model_content=model,
                                                         num_threads=args.threads))
            for _ in range(args.warmup):
                for r in runners.values():
                    r.run(x)
            times = {k: [] for k in runners}
            for _ in range(args.runs):
                for k, r in runners.items():
                    times[k].append(r.run(x))
            want = runners["litert"].result()
            err = max(float(np.abs(runners[t].result() - want).max()
                            / max(1.0, np.abs(want).max())) for t in tiers)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            line = f"{name:34s} {flops / 1e6:7.1f} {med['litert']:10.3f}"
            for t in tiers:
                line += (f" {med[t]:12.3f} {med[t] / med['litert']:5.2f}x"
                         f" {flops / med[t] / 1e6:7.1f}")
            print(line + f" {err:8.1e}")
            for k in totals:
                totals[k] += med[k]
        print("-" * len(head))
        line = f"{'total':34s} {'':7s} {totals['litert']:10.3f}"
        for t in tiers:
            line += f" {totals[t]:12.3f} {totals[t] / totals['litert']:5.2f}x {'':7s}"
        print(line)


if __name__ == "__main__":
    main()
