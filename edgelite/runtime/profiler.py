"""Per-node timing. The interpreter's fast path has no hook at all: invoking
with a profiler attached switches to a separate, timed loop.

Nodes of subgraphs run by control flow (WHILE bodies, IF branches, CALL) are
recorded too, as *nested*: once per execution (a loop body's node may run many
times per invoke), and their time is already inside the calling node's, so the
per-op-type summary and the percentages count top-level nodes only."""
from __future__ import annotations

from collections import defaultdict


class Profiler:
    def __init__(self):
        self.records: dict[tuple[int, int], list[float]] = defaultdict(list)
        self.op_names: dict[tuple[int, int], str] = {}
        self.nested: set[tuple[int, int]] = set()
        self.invokes = 0          # counted by the interpreter

    def record(self, subgraph: int, node: int, op_name: str, seconds: float,
               nested: bool = False) -> None:
        self.records[(subgraph, node)].append(seconds)
        self.op_names[(subgraph, node)] = op_name
        if nested:
            self.nested.add((subgraph, node))

    def reset(self) -> None:
        self.records.clear()
        self.nested.clear()
        self.invokes = 0

    def invoke_count(self) -> int:
        """Invokes profiled: the interpreter's count, else the most any top-level node ran."""
        return self.invokes or max((len(t) for k, t in self.records.items()
                                    if k not in self.nested), default=1) or 1

    def per_node(self) -> list[dict]:
        """One row per node: subgraph, node, op, count (executions), avg_ms (per
        execution), total_ms, nested (run by a control-flow node)."""
        rows = []
        for key, times in self.records.items():
            rows.append({"subgraph": key[0], "node": key[1], "op": self.op_names[key],
                         "count": len(times), "avg_ms": 1e3 * sum(times) / len(times),
                         "total_ms": 1e3 * sum(times), "nested": key in self.nested})
        rows.sort(key=lambda r: (r["subgraph"], r["node"]))
        return rows

    def per_op_type(self) -> list[dict]:
        """One row per op type of the top-level nodes, sorted by time: op, nodes,
        avg_ms (per invoke), percent, cum."""
        by_op: dict[str, list] = defaultdict(lambda: [0, 0.0, 0])
        invokes = self.invoke_count()
        for key, times in self.records.items():
            if key in self.nested:
                continue
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
