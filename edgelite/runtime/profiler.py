"""Per-node timing. The interpreter's fast path has no hook at all: invoking
with a profiler attached switches to a separate, timed loop."""
from __future__ import annotations

from collections import defaultdict


class Profiler:
    def __init__(self):
        self.records: dict[tuple[int, int], list[float]] = defaultdict(list)
        self.op_names: dict[tuple[int, int], str] = {}

    def record(self, subgraph: int, node: int, op_name: str, seconds: float) -> None:
        self.records[(subgraph, node)].append(seconds)
        self.op_names[(subgraph, node)] = op_name

    def reset(self) -> None:
        self.records.clear()

    def per_node(self) -> list[dict]:
        """One row per node: subgraph, node, op, count, avg_ms, total_ms."""
        rows = []
        for key, times in self.records.items():
            rows.append({"subgraph": key[0], "node": key[1], "op": self.op_names[key],
                         "count": len(times), "avg_ms": 1e3 * sum(times) / len(times),
                         "total_ms": 1e3 * sum(times)})
        rows.sort(key=lambda r: (r["subgraph"], r["node"]))
        return rows

    def per_op_type(self) -> list[dict]:
        """One row per op type, sorted by time: op, nodes, avg_ms (per invoke), percent, cum."""
        by_op: dict[str, list] = defaultdict(lambda: [0, 0.0, 0])
        invokes = max((len(t) for t in self.records.values()), default=1)
        for key, times in self.records.items():
            entry = by_op[self.op_names[key]]
            entry[0] += 1
            entry[1] += sum(times)
        total = sum(e[1] for e in by_op.values()) or 1.0
        rows = sorted(({"op": op, "nodes": e[0], "avg_ms": 1e3 * e[1] / invokes,
                        "percent": 100 * e[1] / total} for op, e in by_op.items()),
                      key=lambda r: -r["avg_ms"])
        cum = 0.0
        for r in rows:
            cum += r["percent"]
            r["cumulative_percent"] = cum
        return rows
