"""Arena bytes vs the lower bound vs the naive sum, for every fixture model.

    python benchmarks/memory_report.py [models...]
"""
from __future__ import annotations

import glob
import pathlib
import sys

import edgelite

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    models = sys.argv[1:] or sorted(glob.glob(str(ROOT / "tests/fixtures/models/*.tflite")))
    print(f"{'model':28s} {'arena':>10s} {'lower bound':>12s} {'naive':>10s} "
          f"{'arena/bound':>12s} {'persistent':>11s}")
    for m in models:
        it = edgelite.Interpreter(model_path=m)
        it.allocate_tensors()
        r = it.memory_report()
        ratio = r["arena_bytes"] / max(1, r["lower_bound_bytes"])
        print(f"{pathlib.Path(m).stem:28s} {r['arena_bytes']:10d} {r['lower_bound_bytes']:12d} "
              f"{r['naive_bytes']:10d} {ratio:12.3f} {r['persistent_bytes']:11d}")


if __name__ == "__main__":
    main()
