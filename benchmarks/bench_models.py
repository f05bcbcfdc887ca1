"""Whole-model latency: edgelite vs LiteRT in the same process, alternating runs.

    python benchmarks/bench_models.py [models...] [--runs 20] [--threads 1]

Without arguments: every fixture in tests/fixtures/models plus the MobileNetV2
files in benchmarks/models/ (made by `tests/fixtures/make_fixtures.py --large`,
which needs TensorFlow). Prints medians and the ratio edgelite / LiteRT
(LiteRT with its default delegate, XNNPACK, and with BUILTIN_REF for quantized
models, the kernels edgelite is bit-exact with).

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them;
FACTS.md explains how they slow numpy's GEMM on some machines.
"""
from __future__ import annotations

import argparse
import glob
import os
import pathlib
import statistics
import time

import numpy as np

import edgelite

ROOT = pathlib.Path(__file__).resolve().parent.parent


def random_inputs(details, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for d in details:
        dt = np.dtype(d["dtype"])
        shape = tuple(d["shape"])
        if dt.kind == "f":
            xs.append(rng.standard_normal(shape).astype(dt))
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            lo, hi = max(info.min, -128), min(info.max, 127)
            xs.append(rng.integers(lo, hi + 1, shape).astype(dt))
        else:
            xs.append(np.zeros(shape, dt))
    return xs


def time_invokes(it, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        it.invoke()
        out.append(time.perf_counter() - t)
    return out


def bench(path: str, runs: int, threads: int) -> dict:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    ours = edgelite.Interpreter(model_path=path, num_threads=threads)
    ours.allocate_tensors()
    xs = random_inputs(ours.get_input_details())
    runtimes = {"edgelite": ours,
                "litert": Interpreter(model_path=path, num_threads=threads)}
    quantized = any(np.dtype(d["dtype"]).kind in "iu" for d in ours.get_input_details())
    if quantized:
        runtimes["litert_ref"] = Interpreter(
            model_path=path, num_threads=threads,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    for name, it in runtimes.items():
        if name != "edgelite":
            it.allocate_tensors()
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        time_invokes(it, 2)
    times = {k: [] for k in runtimes}
    for _ in range(max(1, runs // 5)):
        for k, it in runtimes.items():
            times[k] += time_invokes(it, 5)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    models = args.models or sorted(glob.glob(str(ROOT / "tests/fixtures/models/*.tflite"))) + \
        sorted(glob.glob(str(ROOT / "benchmarks/models/*.tflite")))
    print(f"threads={args.threads} runs={args.runs} "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    print(f"{'model':32s} {'edgelite ms':>12s} {'LiteRT ms':>10s} {'ratio':>7s} "
          f"{'LiteRT ref ms':>14s} {'ratio':>7s}")
    for m in models:
        name = pathlib.Path(m).stem
        try:
            r = bench(m, args.runs, args.threads)
        except Exception as e:  # report and go on: one broken model must not hide the rest
            print(f"{name:32s} error: {type(e).__name__}: {str(e)[:90]}")
            continue
        ref = r.get("litert_ref")
        ref_cols = f"{ref:14.3f} {r['edgelite'] / ref:6.2f}x" if ref else ""
        print(f"{name:32s} {r['edgelite']:12.3f} {r['litert']:10.3f} "
              f"{r['edgelite'] / r['litert']:6.2f}x {ref_cols}", flush=True)


if __name__ == "__main__":
    main()
