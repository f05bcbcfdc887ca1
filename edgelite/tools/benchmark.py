"""`edgelite benchmark model.tflite`: latency, memory and per-op profile.

The output keeps TFLite `benchmark_model`'s words so scripts that parse it
keep working: "Inference timings in us: Init: ..., First inference: ...,
Warmup (avg): ..., Inference (avg): ..." and the op-profiling tables
"Run Order", "Top by Computation Time" and "Summary by node type".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from edgelite.tools import common
from edgelite.tools.common import ToolError, UsageError

HELP = "measure latency and memory of a model (benchmark_model's output format)"

DESCRIPTION = """\
Benchmark a .tflite model the way TFLite's benchmark_model does: time the
initialization (load + allocate_tensors), the first inference, the warm-up
runs and the steady-state runs (avg, std, min, max, p50, p90, p99), and report
memory (planned arena vs its lower bound, persistent bytes, peak RSS delta).
Timed runs continue until both --num_runs and --min_secs are reached, but stop
after --max_secs. Inputs are seeded random data unless given with --input.

--enable_op_profiling adds per-node timings ("Run Order", "Top by Computation
Time", "Summary by node type"); profiling times every node, which adds a
little overhead to the steady-state numbers.
--compare-litert runs ai_edge_litert's Interpreter (optional, pip install
ai-edge-litert) on the same inputs in the same process, alternating runs, and
prints the latency ratio and the largest output difference.
"""

EPILOG = """\
examples:
  edgelite benchmark model.tflite
  edgelite benchmark model.tflite --num_runs 200 --enable_op_profiling
  edgelite benchmark model.tflite --compare-litert --report report.html
"""

DEFAULT_TOP_NODES = 10


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("benchmark", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="path of the .tflite model")
    p.add_argument("--graph", help="the model path, as benchmark_model spells it")
    p.add_argument("--num_runs", "--num-runs", type=int, default=50, metavar="N",
                   help="minimum number of timed runs (default 50)")
    p.add_argument("--min_secs", "--min-secs", type=float, default=1.0, metavar="S",
                   help="minimum seconds of timed runs (default 1.0)")
    p.add_argument("--max_secs", "--max-secs", type=float, default=150.0, metavar="S",
                   help="stop the timed runs after this many seconds (default 150)")
    p.add_argument("--warmup_runs", "--warmup-runs", type=int, default=1, metavar="N",
                   help="minimum number of warm-up runs, the first inference included "
                        "(default 1)")
    p.add_argument("--warmup_min_secs", "--warmup-min-secs", type=float, default=0.5,
                   metavar="S", help="minimum seconds of warm-up runs (default 0.5)")
    p.add_argument("--num_threads", "--num-threads", type=int, default=-1, metavar="N",
                   help="interpreter threads (default -1: the runtime's choice)")
    p.add_argument("--enable_op_profiling", "--enable-op-profiling", action="store_true",
                   help="time every node and print benchmark_model's profiling tables")
    p.add_argument("--max_profiling_nodes", type=int, default=DEFAULT_TOP_NODES, metavar="N",
                   help="rows of 'Top by Computation Time' (default 10)")
    p.add_argument("--compare-litert", "--compare_litert", action="store_true",
                   help="also run ai_edge_litert on the same inputs, alternating runs")
    p.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]FILE",
                   help="input data (.npy/.npz/image, as for `edgelite run`); others are random")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--signature", metavar="KEY", help="benchmark this SignatureDef")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--report", metavar="REPORT.html",
                   help="write a self-contained HTML report (graph, op times, arena timeline)")
    p.add_argument("--progress", action="store_true",
                   help="show a progress bar on stderr even when it is not a terminal")
    p.set_defaults(func=run)
    return p


# ---------------------------------------------------------------- statistics

def latency_stats(times_s: list[float]) -> dict:
    """Microsecond statistics of a list of durations in seconds."""
    if not times_s:
        return {"count": 0}
    us = np.asarray(times_s, np.float64) * 1e6
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {"count": int(us.size), "first": float(us[0]), "curr": float(us[-1]),
            "min": float(us.min()), "max": float(us.max()), "avg": float(us.mean()),
            "std": float(us.std()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def stats_line(s: dict, percentiles: bool = False) -> str:
    """benchmark_model's 'count=50 first=... curr=... min=... max=... avg=... std=...'."""
    if not s.get("count"):
        return "count=0"
    line = (f"count={s['count']} first={s['first']:.0f} curr={s['curr']:.0f} "
            f"min={s['min']:.0f} max={s['max']:.0f} avg={s['avg']:.0f} std={s['std']:.0f}")
    if percentiles:
        line += f" p50={s['p50']:.0f} p90={s['p90']:.0f} p99={s['p99']:.0f}"
    return line


# ---------------------------------------------------------------- progress

class Progress:
    """A one-line bar on stderr: shown with --progress, or on a terminal once a run is long."""

    def __init__(self, label: str, runs: int, secs: float, forced: bool, stream=None):
        self.stream = stream or sys.stderr
        self.label, self.runs, self.secs = label, max(runs, 1), max(secs, 1e-9)
        self.forced = forced
        self.enabled = forced or _isatty(self.stream)
        self.start = time.perf_counter()
        self.shown = False
        self._last = 0.0

    def update(self, count: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if not self.forced and elapsed < 1.0:
            return      # short runs stay quiet
        if now - self._last < 0.1:
            return
        self._last = now
        frac = min(1.0, count / self.runs, elapsed / self.secs) if self.secs > 1e-6 else \
            min(1.0, count / self.runs)
        width = 30
        fill = int(frac * width)
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {frac:4.0%} "
                          f"{count} runs {elapsed:.1f} s ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def timed_loop(step, min_runs: int, min_secs: float, max_secs: float, progress=None) -> list:
    """Call step() (which returns its duration) until min_runs and min_secs are both reached."""
    times = []
    start = time.perf_counter()
    while True:
        times.append(step())
        elapsed = time.perf_counter() - start
        if progress is not None:
            progress.update(len(times))
        if len(times) >= min_runs and elapsed >= min_secs:
            break
        if elapsed >= max_secs:
            break
    return times


# ---------------------------------------------------------------- profiling tables

def profile_rows(profiler, interp) -> dict:
    """Per-node and per-op-type rows from the profiler, with output shapes and names."""
    shapes = common.op_output_shapes(interp)
    ops = interp._get_ops_details()
    names = {}
    for op in ops:
        outs = [int(t) for t in op["outputs"] if t >= 0]
        names[op["index"]] = interp._get_tensor_details(outs[0])["name"] if outs else ""
    nodes = []
    invokes = profiler.invoke_count()
    for r in profiler.per_node():
        times = profiler.records[(r["subgraph"], r["node"])]
        node = r["node"]
        nodes.append({"subgraph": r["subgraph"], "node": node, "op": r["op"],
                      "first_ms": 1e3 * times[0], "avg_ms": r["avg_ms"], "count": r["count"],
                      "nested": r["nested"],
                      # per invoke: a loop body's node runs many times in one invoke
                      "invoke_ms": r["total_ms"] / invokes,
                      "output_shapes": shapes[node] if r["subgraph"] == 0 and node < len(shapes)
                      else [],
                      "name": names.get(node, "") if r["subgraph"] == 0 else ""})
    # Nested nodes (control-flow bodies) are inside their calling node's time: they get
    # a share of the invoke but do not add to the total or the cdf.
    total = sum(n["invoke_ms"] for n in nodes if not n["nested"]) or 1.0
    cum = 0.0
    for n in nodes:
        n["percent"] = 100 * n["invoke_ms"] / total
        if not n["nested"]:
            cum += n["percent"]
        n["cdf_percent"] = cum
    types = profiler.per_op_type()
    for t in types:
        t["times_called"] = t["nodes"] * invokes
    return {"per_node": nodes, "per_op_type": types, "invokes": invokes}


def _tab_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    # Like benchmark_model: tab-led, right-aligned columns, the name column last and loose.
    def line(cells):
        body = "\t".join(c.rjust(w) for c, w in zip(cells[:-1], widths[:-1]))
        return "\t" + body + "\t" + cells[-1]
    return "\n".join([line(headers)] + [line(r) for r in rows])


def _shape_text(shapes) -> str:
    return ",".join("[" + "x".join(str(d) for d in s) + "]" for s in shapes) or "-"


def format_profile(prof: dict, top: int = DEFAULT_TOP_NODES) -> str:
    nodes = prof["per_node"]
    headers = ["[node]", "[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]",
               "[times called]", "[output shape]", "[Name]"]

    def node_row(n, cdf):
        return [str(n["node"]) if n["subgraph"] == 0 else f"{n['subgraph']}:{n['node']}",
                n["op"], f"{n['first_ms']:.3f}", f"{n['avg_ms']:.3f}", f"{n['percent']:.3f}%",
                f"{cdf:.3f}%", str(n["count"]), _shape_text(n["output_shapes"]), n["name"]]

    out = ["Operator-wise Profiling Info for Regular Benchmark Runs:"]
    out.append("============================== Run Order ==============================")
    out.append(_tab_table(headers, [node_row(n, n["cdf_percent"]) for n in nodes]))
    out.append("")
    out.append("============================== Top by Computation Time "
               "==============================")
    ranked = sorted(nodes, key=lambda n: -n.get("invoke_ms", n["avg_ms"]))[:top]
    rows, cum = [], 0.0
    for n in ranked:
        if not n.get("nested"):
            cum += n["percent"]
        rows.append(node_row(n, cum))
    out.append(_tab_table(headers, rows))
    out.append("")
    out.append("Number of nodes executed: " + str(len(nodes)))
    out.append("============================== Summary by node type "
               "==============================")
    out.append(_tab_table(
        ["[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]", "[times called]"],
        [[t["op"], str(t["nodes"]), f"{t['avg_ms']:.3f}", f"{t['percent']:.3f}%",
          f"{t['cumulative_percent']:.3f}%", str(t["times_called"])]
         for t in prof["per_op_type"]]))
    total_ms = sum(n["avg_ms"] for n in nodes if not n.get("nested"))
    out.append("")
    if any(n.get("nested") for n in nodes):
        out.append("Nodes shown as subgraph:node ran inside a control-flow node (WHILE, IF, "
                   "CALL); their [avg ms] is per execution, [%] their share of an invoke, "
                   "already inside the calling node's time.")
    out.append(f"Timings (microseconds): avg={1e3 * total_ms:.0f} (sum of the nodes' averages)")
    return "\n".join(out)


# ---------------------------------------------------------------- LiteRT comparison

def _load_litert():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ToolError("--compare-litert needs ai_edge_litert, which is not installed "
                        "(pip install ai-edge-litert; wheels exist for CPython 3.10-3.14 on "
                        "Linux x86_64/aarch64, Windows amd64 and macOS arm64)") from None
    return Interpreter


class _LiteRTRunner:
    def __init__(self, cls, path: str, num_threads: int, signature, slots, values):
        self.interp = cls(model_path=path,
                          num_threads=None if num_threads in (None, -1) else num_threads)
        self.signature = signature
        if signature is not None:
            self.runner = self.interp.get_signature_runner(signature)
        else:
            details = self.interp.get_input_details()
            for s in slots:
                arr = values[s.name]
                d = details[s.position]
                if tuple(d["shape"]) != arr.shape:
                    self.interp.resize_tensor_input(d["index"], arr.shape)
            self.interp.allocate_tensors()
        self.slots = slots
        self.set_inputs(values)
        self._last = None

    def set_inputs(self, values) -> None:
        if self.signature is not None:
            self.kwargs = {s.name: values[s.name] for s in self.slots}
            return
        details = self.interp.get_input_details()
        for s in self.slots:
            self.interp.set_tensor(details[s.position]["index"], values[s.name])

    def invoke(self) -> None:
        if self.signature is not None:
            self._last = self.runner(**self.kwargs)
        else:
            self.interp.invoke()

    def outputs(self) -> list[np.ndarray]:
        if self.signature is not None:
            return list(self._last.values())
        return [self.interp.get_tensor(d["index"]) for d in self.interp.get_output_details()]


def compare_litert(args, path, runner, slots, values, progress_forced) -> dict:
    cls = _load_litert()
    try:
        lite = _LiteRTRunner(cls, path, args.num_threads, args.signature, slots, values)
        lite.invoke()   # LiteRT's own first run (delegate set-up) is not timed
    except (ValueError, RuntimeError) as e:
        raise ToolError(f"--compare-litert: LiteRT cannot run this model: {e}") from None
    ours_t, theirs_t = [], []

    def pair():
        t0 = time.perf_counter()
        runner.invoke()
        t1 = time.perf_counter()
        lite.invoke()
        t2 = time.perf_counter()
        ours_t.append(t1 - t0)
        theirs_t.append(t2 - t1)
        return t2 - t0

    progress = Progress("compare", args.num_runs, args.min_secs, progress_forced)
    try:
        timed_loop(pair, args.num_runs, args.min_secs, args.max_secs, progress)
    finally:
        progress.close()
    # Outputs compared on one fresh run each: the timed loop invokes without
    # setting inputs again, as benchmark_model does.
    runner.set_inputs(values)
    runner.invoke()
    lite.set_inputs(values)
    lite.invoke()
    diffs = []
    ours_out = runner.outputs()
    theirs_arrays = lite.outputs()
    for k, (name, ours, detail) in enumerate(ours_out):
        theirs = theirs_arrays[k] if k < len(theirs_arrays) else None
        entry = {"name": name}
        if theirs is None or np.shape(theirs) != np.shape(ours):
            entry["note"] = (f"shape differs: edgelite {list(np.shape(ours))}, LiteRT "
                             f"{list(np.shape(theirs)) if theirs is not None else None}")
        elif ours.dtype.kind in "biuf" and ours.size:
            d = np.abs(ours.astype(np.float64) - np.asarray(theirs, np.float64))
            entry["max_abs_diff"] = float(np.nanmax(d)) if not np.all(np.isnan(d)) else 0.0
            entry["unit"] = "quantized steps" if ours.dtype.kind in "iu" else "absolute"
        diffs.append(entry)
    ours_med = float(np.median(ours_t))
    theirs_med = float(np.median(theirs_t))
    return {"runs": len(ours_t), "edgelite_median_us": 1e6 * ours_med,
            "litert_median_us": 1e6 * theirs_med,
            "ratio": ours_med / theirs_med if theirs_med > 0 else math.inf,
            "outputs": diffs}


# ---------------------------------------------------------------- the command

def _check_args(args) -> str:
    path = args.model or args.graph
    if args.model and args.graph and args.model != args.graph:
        raise UsageError("give the model once: as the positional argument or --graph")
    if not path:
        raise UsageError("no model given: edgelite benchmark model.tflite")
    for flag, value, low in (("--num_runs", args.num_runs, 1), ("--warmup_runs",
                             args.warmup_runs, 1)):
        if value < low:
            raise ToolError(f"{flag} must be >= {low}, got {value}")
    for flag, value in (("--min_secs", args.min_secs), ("--max_secs", args.max_secs),
                        ("--warmup_min_secs", args.warmup_min_secs)):
        if not value >= 0 or math.isinf(value):
            raise ToolError(f"{flag} must be a finite number >= 0, got {value}")
    if args.num_threads < -1 or args.num_threads == 0:
        raise ToolError(f"--num_threads must be -1 or >= 1, got {args.num_threads}")
    return path


@common.guarded
def run(args) -> int:
    path = _check_args(args)
    if args.compare_litert:
        _load_litert()      # fail before spending time on the benchmark
    forced = args.progress
    common.reset_peak_rss()
    rss_start = common.read_proc_status()

    t0 = time.perf_counter()
    model, interp = common.load(path, args.num_threads)
    runner = common.Runner(interp, args.signature)
    init_s = time.perf_counter() - t0
    rss_init = common.read_proc_status()

    info, _ = common.model_metadata(model)
    values, sources = common.gather_inputs(runner.slots, args.input, seed=args.seed, info=info)
    runner.set_inputs(values)
    profiler = interp.enable_profiling() if args.enable_op_profiling else None

    def step():
        t = time.perf_counter()
        runner.invoke()
        return time.perf_counter() - t

    warm = Progress("warm-up", args.warmup_runs, args.warmup_min_secs, forced)
    try:
        warmup = timed_loop(step, args.warmup_runs, args.warmup_min_secs, args.max_secs, warm)
    finally:
        warm.close()
    if profiler is not None:
        profiler.reset()     # the tables describe the steady-state runs only
    bar = Progress("benchmark", args.num_runs, args.min_secs, forced)
    try:
        steady = timed_loop(step, args.num_runs, args.min_secs, args.max_secs, bar)
    finally:
        bar.close()
    rss_end = common.read_proc_status()

    prof = profile_rows(profiler, interp) if profiler is not None else None
    if profiler is not None:
        interp.enable_profiling(False)
    memory = dict(interp.memory_report())
    memory["buffers"] = common.arena_buffers(interp)
    rss = _rss_deltas(rss_start, rss_init, rss_end)
    result = {
        "model": path,
        "num_threads": args.num_threads,
        "inputs": {k: {"shape": list(v.shape), "dtype": v.dtype.name, "source": sources[k]}
                   for k, v in values.items()},
        "init_us": 1e6 * init_s,
        "first_inference_us": 1e6 * warmup[0],
        "warmup": latency_stats(warmup),
        "inference": latency_stats(steady),
        "memory": {k: v for k, v in memory.items() if k != "buffers"} | rss,
    }
    if prof is not None:
        result["profile"] = prof
    if args.compare_litert:
        result["compare_litert"] = compare_litert(args, path, runner, runner.slots, values,
                                                  forced)
    if args.report:
        from edgelite.tools.report import render_model_report
        html = render_model_report(model, profile=prof, memory=memory, benchmark=result,
                                   title=f"edgelite benchmark: {path}")
        try:
            with open(args.report, "w", encoding="utf-8") as f:
                f.write(html)
        except OSError as e:
            raise ToolError(f"cannot write {args.report}: {e.strerror or e}") from None
        result["report"] = args.report

    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(format_result(result, args))
    return 0


def _rss_deltas(start: dict, init: dict, end: dict) -> dict:
    if "VmRSS" not in start or "VmHWM" not in end:
        return {"init_peak_delta_mb": None, "overall_peak_delta_mb": None}
    base = start["VmRSS"]
    return {"rss_start_mb": base / 1024,
            "init_peak_delta_mb": max(0, init.get("VmHWM", base) - base) / 1024,
            "overall_peak_delta_mb": max(0, end["VmHWM"] - base) / 1024}


def format_result(r: dict, args) -> str:
    w, s = r["warmup"], r["inference"]
    lines = [f"Graph: [{r['model']}]",
             f"Num threads: [{r['num_threads']}]",
             f"Loaded model {r['model']}",
             f"Initialized session in {r['init_us'] / 1e3:.3f}ms.",
             (f"Running benchmark for at least {args.warmup_runs} iterations and at least "
             f"{args.warmup_min_secs:g} seconds but terminate if exceeding {args.max_secs:g} "
             f"seconds."),
             stats_line(w),
             "",
             (f"Running benchmark for at least {args.num_runs} iterations and at least "
             f"{args.min_secs:g} seconds but terminate if exceeding {args.max_secs:g} seconds."),
             stats_line(s, percentiles=True),
             "",
             (f"Inference timings in us: Init: {r['init_us']:.0f}, First inference: "
             f"{r['first_inference_us']:.0f}, Warmup (avg): {w['avg']:.0f}, "
             f"Inference (avg): {s['avg']:.0f}"),
             (f"Steady state (ms): avg {s['avg'] / 1e3:.3f}  std {s['std'] / 1e3:.3f}  "
             f"min {s['min'] / 1e3:.3f}  max {s['max'] / 1e3:.3f}  p50 {s['p50'] / 1e3:.3f}  "
             f"p90 {s['p90'] / 1e3:.3f}  p99 {s['p99'] / 1e3:.3f}  ({s['count']} runs)")]
    m = r["memory"]
    ratio = (f", {100 * m['arena_bytes'] / m['lower_bound_bytes']:.0f}% of it"
             if m.get("lower_bound_bytes") else "")
    lines.append(f"Memory: arena {common.human_bytes(m['arena_bytes'])} ({m['arena_bytes']} B; "
                 f"lower bound {m['lower_bound_bytes']} B{ratio}), persistent "
                 f"{m['persistent_bytes']} B, tensors without reuse {m.get('naive_bytes', 0)} B")
    if m.get("overall_peak_delta_mb") is not None:
        lines.append(f"Memory footprint delta from the start of the tool (MB): "
                     f"init={m['init_peak_delta_mb']:.3f} "
                     f"overall={m['overall_peak_delta_mb']:.3f}")
    else:
        lines.append("Memory footprint delta from the start of the tool (MB): n/a "
                     "(no /proc/self/status)")
    if "profile" in r:
        lines.append("")
        lines.append(format_profile(r["profile"], args.max_profiling_nodes))
    c = r.get("compare_litert")
    if c is not None:
        lines.append("")
        lines.append(f"Compared with LiteRT (ai_edge_litert, same process, {c['runs']} "
                     f"alternating runs each):")
        lines.append(f"  edgelite median {c['edgelite_median_us'] / 1e3:.3f} ms, LiteRT median "
                     f"{c['litert_median_us'] / 1e3:.3f} ms: edgelite / LiteRT latency ratio "
                     f"{c['ratio']:.2f}x")
        for o in c["outputs"]:
            if "note" in o:
                lines.append(f"  output {o['name']}: {o['note']}")
            elif "max_abs_diff" in o:
                lines.append(f"  output {o['name']}: largest difference {o['max_abs_diff']:.6g} "
                             f"({o['unit']})")
    if r.get("report"):
        lines.append("")
        lines.append(f"Report written to {r['report']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    return common.module_main(add_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
