"""Per-node invoke overhead: a chain of 100 tiny ADDs, edgelite vs LiteRT.

    python benchmarks/bench_overhead.py [--nodes 100] [--runs 2000]

Prints the median invoke time of each runtime (same process, alternating
batches) and the per-node overhead in microseconds.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import edgelite
from edgelite.format.builder import ModelBuilder


def chain_model(n: int, shape=(1, 4)) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", shape, np.float32)
    prev = x
    for i in range(n):
        y = b.add_tensor(f"y{i}", shape, np.float32)
        b.add_op("ADD", [prev, x], [y])
        prev = y
    b.add_output(prev)
    return b.to_bytes()


def timed(it, runs: int) -> float:
    t = time.perf_counter()
    for _ in range(runs):
        it.invoke()
    return (time.perf_counter() - t) / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    data = chain_model(args.nodes)
    ours = edgelite.Interpreter(model_content=data, num_threads=1)
    ours.allocate_tensors()
    ours.set_tensor(0, np.ones((1, 4), np.float32))
    runtimes = {"edgelite": ours}
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        ref = Interpreter(model_content=data, num_threads=1,
                          experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        ref.allocate_tensors()
        ref.set_tensor(0, np.ones((1, 4), np.float32))
        runtimes["LiteRT (builtin kernels)"] = ref
    except ImportError:
        pass
    times = {k: [] for k in runtimes}
    for it in runtimes.values():
        timed(it, 100)
    for _ in range(args.rounds):
        for k, it in runtimes.items():
            times[k].append(timed(it, args.runs))
    print(f"chain of {args.nodes} ADD nodes on [1, 4] float32, median of {args.rounds} rounds "
          f"x {args.runs} invokes")
    print(f"{'runtime':28s} {'invoke us':>10s} {'per node us':>12s}")
    for k, v in times.items():
        med = statistics.median(v)
        print(f"{k:28s} {med * 1e6:10.1f} {med * 1e6 / args.nodes:12.2f}")
    if len(times) == 2:
        a, b = (statistics.median(v) for v in times.values())
        print(f"ratio edgelite / LiteRT: {a / b:.1f}x")


if __name__ == "__main__":
    main()
