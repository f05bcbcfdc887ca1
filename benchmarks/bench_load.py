"""Model load time and memory: edgelite vs LiteRT, 1 MB vs ~100 MB of weights.

edgelite memory-maps the file and hands out read-only numpy views of the
weights, so `edgelite.load_model(path)` should cost the same for 1 MB and
100 MB of weights: it reads the graph, not the weights.

For each model size a fresh child process measures, one after the other in
that same process:
  1. edgelite.load_model(path)                       (time, VmRSS growth)
  2. edgelite.Interpreter(model_path=...) + allocate_tensors()
  3. ai_edge_litert Interpreter(model_path=...) + allocate_tensors()
Times are the best of --repeat runs; RSS growth is that of the first run
(read from /proc/self/status). A fresh process per size keeps one
measurement's pages out of the next.

    python benchmarks/bench_load.py [--mb 100] [--repeat 5]

`--cold A.tflite B.tflite ...` measures a cold start instead: for each model, fresh
processes (--repeat of them per runtime, alternating, after one unmeasured run each
that fills the bytecode and numba caches) each time the runtime's import (numpy is
imported first and not counted: both runtimes need it), construct + allocate_tensors,
and the first invoke; medians, and the total's ratio to LiteRT's. This is what a script
or command that loads a model once pays. The children run with
PYTHONDONTWRITEBYTECODE unset, so imports read compiled bytecode as an installed
package's do.

`--models A.tflite B.tflite ...` measures real models instead, in this process: for
LiteRT (XNNPACK, 1 thread) and each edgelite tier, the best of --repeat runs of
construct + allocate_tensors ("load") and of the first invoke after it (LiteRT and
edgelite both leave some preparation to the first invoke), and the ratio of
load + first invoke to LiteRT's.

Both modes also measure each tier with the prepared-model cache ("+cache": cache_dir /
EDGELITE_CACHE_DIR, a temporary directory the first, unmeasured load fills): the load
then reads the prepared model back instead of decoding and preparing it.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

LAYERS = 4


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_model(path: str, weight_mb: float) -> int:
    """A chain of FULLY_CONNECTED layers (n x n float32 weights) holding ~weight_mb MB."""
    from edgelite.format.builder import ModelBuilder
    n = int((weight_mb * 2**20 / 4 / LAYERS) ** 0.5)
    rng = np.random.default_rng(0)
    b = ModelBuilder(f"bench_load: {LAYERS} FULLY_CONNECTED layers of {n}x{n} float32")
    x = b.add_input("x", (1, n), np.float32)
    for k in range(LAYERS):
        w = b.add_constant(f"w{k}", rng.standard_normal((n, n), dtype=np.float32) * (1 / n**0.5))
        bias = b.add_constant(f"b{k}", np.zeros(n, np.float32))
        y = b.add_tensor(f"h{k}", (1, n), np.float32)
        b.add_op("FULLY_CONNECTED", [x, w, bias], [y],
                 fused_activation_function="RELU" if k < LAYERS - 1 else "NONE")
        x = y
    b.add_output(x)
    data = b.to_bytes()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def _timed(fn, repeat: int):
    """(best seconds, RSS growth in KB of the first call, result of the first call)."""
    before = rss_kb()
    t0 = time.perf_counter()
    first = fn()
    best = time.perf_counter() - t0
    grown = rss_kb() - before
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best, grown, first


def measure(path: str, repeat: int) -> dict:
    """Runs in the child process."""
    import edgelite
    out = {}
    t, kb, model = _timed(lambda: edgelite.load_model(path), repeat)
    n_const = sum(b.nbytes for b in model.buffers)
    out["edgelite load_model"] = (t, kb)

    def el_interp():
        it = edgelite.Interpreter(model_path=path)
        it.allocate_tensors()
        return it
    try:
        t, kb, it = _timed(el_interp, repeat)
        out["edgelite Interpreter+allocate"] = (t, kb)
        it.set_tensor(it.get_input_details()[0]["index"],
                      np.ones(it.get_input_details()[0]["shape"], np.float32))
        t0 = time.perf_counter()
        it.invoke()
        out["edgelite first invoke"] = (time.perf_counter() - t0, None)
    except edgelite.EdgeliteError as e:
        out["edgelite Interpreter+allocate"] = (None, f"not available: {e}")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        out["LiteRT Interpreter+allocate"] = (None, "ai_edge_litert not installed")
        return {"weights": n_const, "rows": out}

    def lrt_interp():
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
        return it
    t, kb, it = _timed(lrt_interp, repeat)
    out["LiteRT Interpreter+allocate"] = (t, kb)
    it.set_tensor(it.get_input_details()[0]["index"],
                  np.ones(it.get_input_details()[0]["shape"], np.float32))
    t0 = time.perf_counter()
    it.invoke()
    out["LiteRT first invoke"] = (time.perf_counter() - t0, None)
    return {"weights": n_const, "rows": out}


def measure_models(paths: list[str], repeat: int) -> None:
    import edgelite
    from edgelite.kernels import compiled
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        sys.exit("--models needs ai_edge_litert (the comparison runtime)")
    enabled = compiled.ENABLED
    tiers = [("numpy", False)] + ([("compiled", True)] if enabled else [])
    cache_dir = tempfile.mkdtemp(prefix="edgelite-bench-cache-")
    # each tier as usual, then with the prepared-model cache read back (written by an
    # unmeasured load first)
    runtimes = ([("LiteRT", None, None)] + [(n, t, None) for n, t in tiers]
                + [(n + "+cache", t, cache_dir) for n, t in tiers])
    print(f"best of {repeat}; load = construct + allocate_tensors; ratios: load / LiteRT's "
          f"load (the issue-7 target is <= 2x), then (load + first invoke) / LiteRT's; "
          f"decode = edgelite.load_model alone (reading the graph, part of every tier's load)")
    for path in paths:
        row = []
        base = base_load = None
        decode = _timed(functools.partial(edgelite.load_model, path), repeat)[0]
        for name, tier, cdir in runtimes:
            loads, firsts = [], []
            label = name
            if cdir is not None:
                compiled.ENABLED = tier
                edgelite.Interpreter(model_path=path, cache_dir=cdir).allocate_tensors()
            it = None
            for _ in range(repeat):
                it = None     # (the last one's teardown is not part of this load)
                t0 = time.perf_counter()
                if tier is None:
                    it = Interpreter(model_path=path, num_threads=1)
                else:
                    compiled.ENABLED = tier
                    it = edgelite.Interpreter(model_path=path, cache_dir=cdir or False)
                it.allocate_tensors()
                if cdir is not None and not it.cache_status.startswith("loaded"):
                    label = f"{name} ({it.cache_status})"

                t1 = time.perf_counter()
                for d in it.get_input_details():
                    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
                it.invoke()
                loads.append(t1 - t0)
                firsts.append(time.perf_counter() - t1)
            load, first = min(loads), min(firsts)
            total = load + first
            if base is None:
                base, base_load = total, load
            row.append(f"{label} {load * 1e3:.1f} + {first * 1e3:.1f} ms"
                       + ("" if tier is None else
                          f" ({load / base_load:.1f}x, {total / base:.1f}x)"))
        compiled.ENABLED = enabled
        print(f"{os.path.basename(path)}: " + "; ".join(row)
              + f"; decode {decode * 1e3:.1f} ms ({decode / base_load:.1f}x LiteRT's load)")
    shutil.rmtree(cache_dir, ignore_errors=True)



_COLD_CHILD = """
import json, sys, time
import numpy as np
path, runtime = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if runtime == "LiteRT":
    from ai_edge_litert.interpreter import Interpreter
    t1 = time.perf_counter()
    it = Interpreter(model_path=path, num_threads=1)
else:
    import edgelite
    t1 = time.perf_counter()
    it = edgelite.Interpreter(model_path=path)
it.allocate_tensors()
t2 = time.perf_counter()
for d in it.get_input_details():
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
it.invoke()
t3 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""


def measure_cold(paths: list[str], repeat: int) -> None:
    import statistics

    try:
        import numba  # noqa: F401
        tiers = [("numpy", "0"), ("compiled", "1")]
    except ImportError:
        tiers = [("numpy", "0")]
    runtimes = [("LiteRT", None)] + tiers + [(name + "+cache", flag) for name, flag in tiers]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "EDGELITE_CACHE_DIR")}
    cache_dir = tempfile.mkdtemp(prefix="edgelite-bench-cache-")

    def run(path, name, flag):
        e = dict(env, EDGELITE_COMPILED=flag) if flag is not None else env
        if name.endswith("+cache"):
            e = dict(e, EDGELITE_CACHE_DIR=cache_dir)
        r = subprocess.run([sys.executable, "-c", _COLD_CHILD, path, name], env=e,
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])
    print(f"cold start, median of {repeat} fresh processes per runtime: import (after "
          f"numpy) + construct and allocate_tensors + first invoke, ms; ratio of the total "
          f"to LiteRT's")
    for path in paths:
        for name, flag in runtimes:
            run(path, name, flag)                   # fills the bytecode / numba caches
        times: dict[str, list] = {name: [] for name, _ in runtimes}
        for _ in range(repeat):
            for name, flag in runtimes:
                times[name].append(run(path, name, flag))
        row, base = [], None
        for name, _ in runtimes:
            parts = [statistics.median(t[i] for t in times[name]) * 1e3 for i in range(3)]
            total = statistics.median(sum(t) for t in times[name]) * 1e3
            base = base or total
            row.append(f"{name} {parts[0]:.0f} + {parts[1]:.1f} + {parts[2]:.1f} = "
                       f"{total:.0f} ms" + ("" if name == "LiteRT" else f" ({total / base:.1f}x)"))
        print(f"{os.path.basename(path)}: " + "; ".join(row))
    shutil.rmtree(cache_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100, help="weights of the big model in MB")
    ap.add_argument("--small-mb", type=float, default=1, help="weights of the small model in MB")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", nargs="+", help="measure these .tflite files instead")
    ap.add_argument("--cold", nargs="+", help="measure a cold start of these .tflite files")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold:
        measure_cold(args.cold, args.repeat)
        return
    if args.models:
        measure_models(args.models, args.repeat)
        return
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, mb in (("small", args.small_mb), ("big", args.mb)):
            path = os.path.join(tmp, f"{label}.tflite")
            size = make_model(path, mb)
            r = subprocess.run([sys.executable, __file__, "--child", path,
                                "--repeat", str(args.repeat)],
                               capture_output=True, text=True, check=True)
            results[label] = (size, json.loads(r.stdout.strip().splitlines()[-1]))
    small_size, small = results["small"]
    big_size, big = results["big"]
    print(f"files: small {small_size / 2**20:.1f} MB, big {big_size / 2**20:.1f} MB "
          f"(float32 FULLY_CONNECTED weights); best of {args.repeat}; RSS growth of the first run")
    header = (f"{'step':<32}{'small ms':>10}{'big ms':>10}{'big/small':>11}"
              f"{'small RSS MB':>14}{'big RSS MB':>12}")
    print(header)
    print("-" * len(header))
    for step in big["rows"]:
        ts, ks = small["rows"].get(step, (None, None))
        tb, kb = big["rows"][step]
        if tb is None:
            print(f"{step:<32}{kb}")
            continue
        ratio = f"{tb / ts:.2f}x" if ts else "-"

        def mb(k):
            return f"{k / 1024:.1f}" if isinstance(k, int) else "-"
        print(f"{step:<32}{ts * 1e3:>10.2f}{tb * 1e3:>10.2f}{ratio:>11}{mb(ks):>14}{mb(kb):>12}")


if __name__ == "__main__":
    main()
