"""Whole-model latency: edgelite (each kernel tier) vs LiteRT in one process, alternating.

    python benchmarks/bench_models.py [models...] [--runs 40] [--threads 1]
                                      [--profile] [--check] [--tiers numpy,compiled]

Without arguments: every fixture in tests/fixtures/models plus the MobileNetV2,
transformer-encoder and kws_float32 files in benchmarks/models/ (made by
`tests/fixtures/make_fixtures.py --large`, which needs TensorFlow). For each model it builds one edgelite interpreter per
kernel tier ("numpy"; "compiled" when numba is installed, see
edgelite/kernels/compiled.py), LiteRT with its default delegate (XNNPACK) and,
for quantized models, LiteRT's BUILTIN_REF kernels (those edgelite is
bit-exact with); then runs them in rounds of 5 invokes each, round-robin,
and prints medians and ratios edgelite / LiteRT-XNNPACK (and, last, the ratios
of the fastest runs: on a shared machine other processes' time slices inflate
the medians of longer runs more).

Also printed: the CPU's AVX flags, the one-time compile/load cost of the
compiled tier, the largest output error (float: relative to LiteRT-XNNPACK;
integer: in quantized steps from LiteRT's reference kernels, 0 when
bit-exact), and the GEMM floor of each model: the median time of its CONV_2D /
FULLY_CONNECTED GEMMs alone (float32 np.matmul at the same [M, K] x [K, N]
shapes), what the numpy path cannot go below on one thread (for int8 models:
the floor of exact integer GEMMs done in float32 BLAS).
`--profile` adds edgelite's per-op-type breakdown per tier. `--check`
exits non-zero when an issue-7 target is missed.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them
(they are printed); FACTS.md explains how they slow numpy's GEMM on some
machines.
"""
from __future__ import annotations

import argparse
import glob
import os
import pathlib
import re
import statistics
import sys
import time

import numpy as np

import edgelite
from edgelite.kernels import compiled

ROOT = pathlib.Path(__file__).resolve().parent.parent

# issue 7 targets: (numpy tier, compiled tier) ratio to LiteRT-XNNPACK, by model-name pattern
TARGETS_1T = [("mobilenet_v2_float", (3.0, 1.2)), ("mobilenet_v2_int8", (6.0, 1.5)),
              ("transformer_encoder", (2.5, 1.5)), ("cnn_", (4.0, 3.0)), ("kws", (4.0, 3.0))]
TARGETS_2T = [("mobilenet_v2_float32", (3.5, 1.5))]

# Quantized models and their float twins (the same graph and layers, float32, no
# requantization): what edgelite's numpy tier takes on the twin is a floor for the
# quantized model there, since that tier runs integer layers as float GEMMs plus exact
# requantization passes. --check prints the twin's numpy time as a ratio to LiteRT's
# time on the quantized model when both were measured in the run.
FLOAT_TWINS = {"cnn_int8": "cnn_float32", "cnn_uint8io": "cnn_float32",
               "cnn_dynamic_range": "cnn_float32", "kws_int8": "kws_float32"}


def cpu_flags() -> str:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = sorted(set(re.findall(r"\b(avx512[a-z_0-9]*|avx_vnni|avx2|fma)\b", text)))
    return " ".join(flags) or "none of avx2/avx512"


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


MAX_RUNS = 2000


def time_invokes(it, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        it.invoke()
        out.append(time.perf_counter() - t)
    return out


def blas_threads(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def edgelite_interpreter(path: str, threads: int, tier: str):
    """An edgelite interpreter whose kernels were prepared with the given tier."""
    saved = compiled.ENABLED
    compiled.ENABLED = saved and tier == "compiled"
    try:
        it = edgelite.Interpreter(model_path=path, num_threads=threads)
        it.allocate_tensors()
    finally:
        compiled.ENABLED = saved
    return it


def gemm_floor_ms(it, threads: int, reps: int = 30) -> tuple[float, float] | None:
    """Median time of the model's CONV_2D / FULLY_CONNECTED GEMMs alone, as float32
    np.matmul at the same [M, K] x [K, N] shapes. For a float model that is what the
    numpy path cannot go below; for an int8 model it is the floor of computing its
    exact integer GEMMs through float32 BLAS (the values are exact integers there)."""
    ex = it._main            # benchmark-only peek at the plan: shapes after prepare
    shapes = []
    for op in ex.sg.operators:
        name = ex.model.op_name(op)
        if name not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        w, y = ex.specs[op.inputs[1]], ex.specs[op.outputs[0]]
        n_out = w.shape[0]
        k = int(np.prod(w.shape[1:]))
        shapes.append((int(np.prod(y.shape)) // n_out, k, n_out))
    if not shapes:
        return None
    rng = np.random.default_rng(0)
    bufs = [(rng.standard_normal((m, k)).astype(np.float32),
             rng.standard_normal((k, n)).astype(np.float32), np.empty((m, n), np.float32))
            for m, k, n in shapes]
    totals = []
    with blas_threads(threads):
        for _ in range(reps):
            t = time.perf_counter()
            for a, b, c in bufs:
                np.matmul(a, b, out=c)
            totals.append(time.perf_counter() - t)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    med = statistics.median(totals)
    return med * 1e3, flops / med / 1e9


def bench(path: str, runs: int, threads: int, tiers: list[str], profile: bool,
          min_time: float = 0.0) -> dict:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    runtimes = {}
    for tier in tiers:
        runtimes[tier] = edgelite_interpreter(path, threads, tier)
    first = next(iter(runtimes.values()))
    xs = random_inputs(first.get_input_details())
    runtimes["litert"] = Interpreter(model_path=path, num_threads=threads)
    quantized = any(np.dtype(d["dtype"]).kind in "iu" for d in first.get_input_details())
    if quantized:
        runtimes["litert_ref"] = Interpreter(
            model_path=path, num_threads=threads,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    for name, it in runtimes.items():
        if name.startswith("litert"):
            it.allocate_tensors()
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        time_invokes(it, 3)
    # At least min_time seconds of invokes per runtime: a small model's 40 runs last
    # ~4 ms, where one burst of the machine's noise moves the median; more samples
    # (the same for every runtime) only steady it.
    slowest = max(min(time_invokes(it, 3)) for it in runtimes.values())
    runs = max(runs, min(MAX_RUNS, int(min_time / max(slowest, 1e-6))))
    times = {k: [] for k in runtimes}
    for _ in range(max(1, runs // 5)):
        for k, it in runtimes.items():
            times[k] += time_invokes(it, 5)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    med["runs"] = len(times["litert"])
    med["min"] = {k: min(v) * 1e3 for k, v in times.items()}
    outs = {k: it.get_tensor(it.get_output_details()[0]["index"]) for k, it in runtimes.items()}
    if quantized:
        # integer outputs: the largest difference in quantized steps from LiteRT's
        # reference kernels (the ones edgelite is bit-exact with; 0 expected)
        ref = outs["litert_ref"].astype(np.float64)
        med["err"] = {k: float(np.abs(outs[k].astype(np.float64) - ref).max()) for k in tiers}
    else:
        ref = outs["litert"].astype(np.float64)
        med["err"] = {k: float(np.abs(outs[k].astype(np.float64) - ref).max()
                               / max(1.0, float(np.abs(ref).max()))) for k in tiers}
    med["floor"] = gemm_floor_ms(first, threads)
    if profile:
        med["profile"] = {}
        for tier in tiers:
            it = runtimes[tier]
            prof = it.enable_profiling()
            time_invokes(it, max(10, runs // 2))
            med["profile"][tier] = prof.per_op_type()
            it.enable_profiling(False)
    return med


def target_for(name: str, threads: int):
    table = TARGETS_1T if threads == 1 else TARGETS_2T
    for pattern, target in table:
        if pattern in name:
            return target
    return None


def twin_floor(name: str, tier: str | None, results: dict) -> str:
    """For a missed numpy-tier target of a quantized model whose float twin ran too:
    the twin's numpy time as a ratio to LiteRT's time on this model (a floor, see
    FLOAT_TWINS); else ""."""
    twin = results.get(FLOAT_TWINS.get(name, ""))
    if tier != "numpy" or twin is None or "numpy" not in twin:
        return ""
    return (f" (its float twin {FLOAT_TWINS[name]}, no requantization: numpy tier "
            f"{twin['numpy']:.3f} ms = {twin['numpy'] / results[name]['litert']:.2f}x "
            f"LiteRT's time on {name})")


def resolve_model(m: str) -> str:
    """A path as given, or a bare name ("kws_int8") looked up among the fixtures and
    benchmark models."""
    if os.path.exists(m):
        return m
    for d in ("tests/fixtures/models", "benchmarks/models"):
        p = ROOT / d / (m if m.endswith(".tflite") else m + ".tflite")
        if p.exists():
            return str(p)
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--runs", type=int, default=40, help="invokes per runtime, at least")
    ap.add_argument("--min-time", type=float, default=0.5,
                    help="seconds of invokes per runtime, at least (more runs for fast "
                         f"models, up to {MAX_RUNS})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiers", default="numpy,compiled",
                    help="comma-separated edgelite tiers to run (numpy, compiled)")
    ap.add_argument("--profile", action="store_true", help="per-op-type breakdown per tier")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    tiers = [t for t in args.tiers.split(",") if t]
    if "compiled" in tiers and not compiled.ENABLED:
        print(f"(compiled tier unavailable: {compiled.REASON})")
        tiers.remove("compiled")
    models = args.models or sorted(glob.glob(str(ROOT / "tests/fixtures/models/*.tflite"))) + \
        sorted(glob.glob(str(ROOT / "benchmarks/models/*.tflite")))
    models = [resolve_model(m) for m in models]
    print(f"CPU flags: {cpu_flags()}; {os.cpu_count()} CPUs")
    print(f"threads={args.threads} runs>={args.runs} min-time={args.min_time}s "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '-')}")
    if "compiled" in tiers:
        costs = compiled.warm_up_all()
        print(f"compiled tier: {compiled.REASON}; compile/load of its kernels: "
              f"{sum(costs.values()):.2f} s (" +
              ", ".join(f"{k} {v:.2f}" for k, v in costs.items()) + "; cached: ~1-2 s)")
    head = f"{'model':30s} {'LiteRT ms':>9s}"
    for t in tiers:
        head += f" {t + ' ms':>12s} {'ratio':>6s}"
    head += (f" {'LiteRT ref ms':>13s}  {'max err':>11s}  {'GEMM floor':>18s}  min-ratios"
             f"{'':{max(0, 6 * len(tiers) - 10)}s}   runs")
    print(head)
    missed = []
    results = {}
    for m in models:
        name = pathlib.Path(m).stem
        try:
            r = bench(m, args.runs, args.threads, tiers, args.profile, args.min_time)
        except Exception as e:  # noqa: BLE001 -- report and go on: one broken model must not hide the rest
            print(f"{name:30s} error: {type(e).__name__}: {str(e)[:90]}")
            missed.append((name, None, f"{name}: not measured ({type(e).__name__})"))
            continue
        line = f"{name:30s} {r['litert']:9.3f}"
        target = target_for(name, args.threads)
        results[name] = r
        for t in tiers:
            ratio = r[t] / r["litert"]
            line += f" {r[t]:12.3f} {ratio:5.2f}x"
            if target is not None:
                want = target[0] if t == "numpy" else target[1]
                if ratio > want:
                    missed.append((name, t, f"{name} {t}: {ratio:.2f}x > {want}x"))
        ref = r.get("litert_ref")
        line += f" {ref:13.3f}" if ref else f" {'':13s}"
        err = max(r["err"].values())
        line += "  " + (f"{int(err):>5d} steps" if r.get("litert_ref") else f"{err:11.1e}")
        if r["floor"]:
            ms, gflops = r["floor"]
            line += f"  {ms:7.3f} ms {gflops:5.1f} GF/s"
        else:
            line += f"  {'':18s}"
        mins = r["min"]
        line += "  " + " ".join(f"{mins[t] / mins['litert']:.2f}x" for t in tiers)
        line += f"  {r['runs']:5d}"
        print(line, flush=True)
        for tier, rows in r.get("profile", {}).items():
            print(f"    {tier} tier, per op type:")
            for row in rows:
                print(f"      {row['op']:24s} {row['nodes']:4d} nodes {row['avg_ms']:8.3f} ms "
                      f"{row['percent']:5.1f}%")
    if args.check:
        lines = [text + twin_floor(name, tier, results) for name, tier, text in missed]
        print("targets missed:\n  " + "\n  ".join(lines) if lines else "all targets met")
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
