"""One self-contained HTML report of a model: graph, op times, arena timeline.

`render_model_report(model, profile=None, memory=None)` returns the HTML text
(`edgelite benchmark --report` and `edgelite inspect --report` write it). All
CSS, JavaScript and SVG are inline and nothing is fetched from the network,
so the file can be mailed, archived or opened offline.

Sections (each a <section> with a fixed id): "summary", "graph" (operators in
execution order as a layered DAG, coloured by time when profiling data
exists), "op-chart" (SVG bar chart of time per op type and per node; node
counts without profiling data), "memory-timeline" (SVG: x = step, y = arena
offset, one rectangle per tensor from its first to its last use at its planned
offset) and, with profiling data, "profile" (benchmark_model's tables).
"""
from __future__ import annotations

import colorsys
import html
import math

import numpy as np

from edgelite.errors import EdgeliteError
from edgelite.format import ir

__all__ = ["render_model_report"]

NODE_W, NODE_H, LAYER_GAP, NODE_GAP, MARGIN = 190, 40, 34, 24, 20
OP_COLOURS = {   # op families without timing data: convolutions blue, matmuls green, ...
    "conv": "#9ecae1", "fc": "#a1d99b", "pool": "#fdd0a2", "act": "#fcbba1",
    "shape": "#d9d9d9", "quant": "#dadaeb", "other": "#ffffcc",
}


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _family(op: str) -> str:
    if "CONV" in op:
        return "conv"
    if op in ("FULLY_CONNECTED", "BATCH_MATMUL", "EMBEDDING_LOOKUP") or "LSTM" in op \
            or "RNN" in op:
        return "fc"
    if "POOL" in op or op in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        return "pool"
    if op in ("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "SOFTMAX", "LOG_SOFTMAX",
              "HARD_SWISH", "GELU", "PRELU", "LEAKY_RELU", "ELU"):
        return "act"
    if op in ("RESHAPE", "SHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PACK",
              "UNPACK", "STRIDED_SLICE", "SLICE", "GATHER", "SPLIT", "SPLIT_V", "PAD", "PADV2"):
        return "shape"
    if op in ("QUANTIZE", "DEQUANTIZE"):
        return "quant"
    return "other"


def _heat(frac: float) -> str:
    """Light yellow (no time) to dark red (the slowest node)."""
    f = min(1.0, max(0.0, frac))
    stops = [(255, 247, 188), (254, 196, 79), (236, 112, 20), (153, 52, 4)]
    pos = f * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    t = pos - i
    c = [round(a + (b - a) * t) for a, b in zip(stops[i], stops[i + 1])]
    return "#{:02x}{:02x}{:02x}".format(*tuple(c))


def _is_dark(colour: str) -> bool:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 140


def _buffer_colour(i: int) -> str:
    r, g, b = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.62, 0.55)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _fmt_bytes(n) -> str:
    if n is None:
        return "n/a"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _shape(shape) -> str:
    return "[" + "x".join(str(int(d)) for d in shape) + "]"


# ---------------------------------------------------------------- inputs

def _normalize_profile(profile) -> dict | None:
    """A Profiler, benchmark's profile dict, or a list of per-node rows -> dict."""
    if profile is None:
        return None
    if hasattr(profile, "per_node") and callable(profile.per_node):
        nodes = profile.per_node()
        types = profile.per_op_type()
    elif isinstance(profile, dict):
        nodes = list(profile.get("per_node", []))
        types = list(profile.get("per_op_type", []))
    else:
        nodes, types = list(profile), []
    if not nodes:
        return None
    if not types:
        acc: dict[str, list] = {}
        for n in nodes:
            e = acc.setdefault(n["op"], [0, 0.0])
            e[0] += 1
            e[1] += n["avg_ms"]
        total = sum(e[1] for e in acc.values()) or 1.0
        types, cum = [], 0.0
        for op, (count, ms) in sorted(acc.items(), key=lambda kv: -kv[1][1]):
            cum += 100 * ms / total
            types.append({"op": op, "nodes": count, "avg_ms": ms, "percent": 100 * ms / total,
                          "cumulative_percent": cum})
    total = sum(n["avg_ms"] for n in nodes) or 1.0
    rows = []
    for n in nodes:
        r = dict(n)
        r.setdefault("percent", 100 * n["avg_ms"] / total)
        rows.append(r)
    return {"per_node": rows, "per_op_type": types}


def _memory_from_model(model: ir.Model) -> tuple[dict | None, str | None]:
    """Plan the arena by allocating an interpreter; (memory dict, or None and why)."""
    try:
        from edgelite.runtime.interpreter import Interpreter
        from edgelite.tools.common import arena_buffers
        interp = Interpreter(model=model)
        interp.allocate_tensors()
        mem = dict(interp.memory_report())
        mem["buffers"] = arena_buffers(interp)
        return mem, None
    except (EdgeliteError, ValueError, RuntimeError, TypeError, MemoryError) as e:
        # An unsupported op or a bad model: the rest of the report still renders.
        return None, f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------- graph

def _graph_svg(model: ir.Model, prof: dict | None) -> str:
    sg = model.subgraphs[0]
    n_ops = len(sg.operators)
    producer: dict[int, int] = {}
    for oi, op in enumerate(sg.operators):
        for t in op.outputs:
            if t >= 0:
                producer[t] = oi
    # Graph nodes: ("in", tensor) / ("op", index) / ("out", tensor).
    keys = [("in", t) for t in sg.inputs] + [("op", i) for i in range(n_ops)] \
        + [("out", t) for t in sg.outputs]
    preds: dict[tuple, list[tuple[tuple, int]]] = {k: [] for k in keys}
    input_set = set(sg.inputs)
    for oi, op in enumerate(sg.operators):
        for t in op.inputs:
            if t < 0:
                continue
            if t in producer and producer[t] < oi:
                preds[("op", oi)].append((("op", producer[t]), t))
            elif t in input_set:
                preds[("op", oi)].append((("in", t), t))
    for t in sg.outputs:
        if t in producer:
            preds[("out", t)].append((("op", producer[t]), t))
        elif t in input_set:
            preds[("out", t)].append((("in", t), t))
    layer: dict[tuple, int] = {}
    for k in keys:
        layer[k] = 1 + max((layer[p] for p, _ in preds[k] if p in layer), default=-1)
    layers: dict[int, list[tuple]] = {}
    for k in keys:
        layers.setdefault(layer[k], []).append(k)
    x_of: dict[tuple, float] = {}
    for li in sorted(layers):
        row = layers[li]
        if li > 0:   # barycentre ordering keeps edges short and mostly uncrossed
            row.sort(key=lambda k: (np.mean([x_of[p] for p, _ in preds[k]])
                                    if preds[k] else 0.0))
        for j, k in enumerate(row):
            x_of[k] = j - (len(row) - 1) / 2
    widest = max(len(r) for r in layers.values())
    width = max(widest * (NODE_W + NODE_GAP) + 2 * MARGIN, 420)
    height = len(layers) * (NODE_H + LAYER_GAP) + 2 * MARGIN
    centre = width / 2

    def pos(k):
        return (centre + x_of[k] * (NODE_W + NODE_GAP) - NODE_W / 2,
                MARGIN + layer[k] * (NODE_H + LAYER_GAP))

    times = {}
    if prof is not None:
        for r in prof["per_node"]:
            if r.get("subgraph", 0) == 0:
                times[r["node"]] = r
    slowest = max((r["avg_ms"] for r in times.values()), default=0.0) or 1.0
    out = [(f'<svg class="graph" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'),
           ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#777"/></marker></defs>')]
    for k in keys:
        x2, y2 = pos(k)
        for p, t in preds[k]:
            x1, y1 = pos(p)
            ax, ay = x1 + NODE_W / 2, y1 + NODE_H
            bx, by = x2 + NODE_W / 2, y2
            mid = (ay + by) / 2
            tt = sg.tensors[t]
            out.append(f'<path class="edge" d="M{ax:.1f},{ay:.1f} C{ax:.1f},{mid:.1f} '
                       f'{bx:.1f},{mid:.1f} {bx:.1f},{by - 1:.1f}" marker-end="url(#arrow)">'
                       f'<title>{_esc(tt.name)} {_shape(tt.shape)} {_esc(tt.type_name)}'
                       f'</title></path>')
    for k in keys:
        x, y = pos(k)
        kind, idx = k
        if kind == "op":
            op = sg.operators[idx]
            code = model.op_code(op)
            outs = [sg.tensors[t] for t in op.outputs if t >= 0]
            shape = " ".join(_shape(t.shape) for t in outs[:2])
            r = times.get(idx)
            if r is not None:
                fill = _heat(math.sqrt(r["avg_ms"] / slowest))
                timing = f"{r['avg_ms']:.3f} ms ({r.get('percent', 0):.1f}%)"
            else:
                fill, timing = OP_COLOURS[_family(code.name)], ""
            ins = [sg.tensors[t] for t in op.inputs if t >= 0]
            tip = [f"node {idx}: {code.name} (version {code.version})"]
            if timing:
                tip.append(f"time: {timing}")
            tip += [f"in  {t.name} {_shape(t.shape)} {t.type_name}"
                    + (" (constant)" if t.buffer > 0 and model.constant(t) is not None else "")
                    for t in ins]
            tip += [f"out {t.name} {_shape(t.shape)} {t.type_name}" for t in outs]
            data_t = " ".join(str(t) for t in op.outputs if t >= 0)
            label = f"{idx}  {code.name}"
            sub = shape + (f"  {r['avg_ms']:.3f} ms" if r is not None else "")
            ink = ' style="fill:#fff"' if _is_dark(fill) else ""
            out.append(f'<g class="node op" data-t="{data_t}" data-node="{idx}">'
                       f'<title>{_esc(chr(10).join(tip))}</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" '
                       f'rx="6" fill="{fill}"/>'
                       f'<text x="{x + NODE_W / 2:.1f}" y="{y + 16:.1f}" class="lbl"{ink}>'
                       f'{_esc(_clip(label, 26))}</text>'
                       f'<text x="{x + NODE_W / 2:.1f}" y="{y + 31:.1f}" class="sub"{ink}>'
                       f'{_esc(_clip(sub, 32))}</text></g>')
        else:
            t = sg.tensors[idx]
            word = "input" if kind == "in" else "output"
            out.append(f'<g class="node io" data-t="{idx}"><title>{word} tensor {idx}: '
                       f'{_esc(t.name)} {_shape(t.shape)} {_esc(t.type_name)}</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" '
                       f'rx="18" class="io-rect"/>'
                       f'<text x="{x + NODE_W / 2:.1f}" y="{y + 16:.1f}" class="lbl">{word}: '
                       f'{_esc(_clip(t.name, 18))}</text>'
                       f'<text x="{x + NODE_W / 2:.1f}" y="{y + 31:.1f}" class="sub">'
                       f'{_shape(t.shape)} {_esc(t.type_name)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 1] + "\u2026"


# ---------------------------------------------------------------- bar charts

def _bar_chart(rows: list[tuple[str, float, str]], unit_title: str, css: str) -> str:
    """Horizontal bars: (label, value, text after the bar)."""
    if not rows:
        return '<p class="muted">nothing to chart</p>'
    label_w, bar_w, row_h = 230, 560, 22
    width = label_w + bar_w + 240
    height = len(rows) * row_h + 34
    top = max(v for _, v, _ in rows) or 1.0
    out = [(f'<svg class="bars {css}" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}">')]
    for i, (label, value, text) in enumerate(rows):
        y = 8 + i * row_h
        w = max(1.0, bar_w * value / top)
        out.append(f'<g><title>{_esc(label)}: {_esc(text)}</title>'
                   f'<text x="{label_w - 8}" y="{y + 15}" class="blabel">{_esc(_clip(label, 30))}'
                   f'</text><rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                   f'class="bar"/><text x="{label_w + w + 6:.1f}" y="{y + 15}" class="bval">'
                   f'{_esc(text)}</text></g>')
    axis_y = 8 + len(rows) * row_h + 4
    out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + bar_w}" y2="{axis_y}" '
               f'class="axis"/><text x="{label_w + bar_w}" y="{axis_y + 16}" class="tick" '
               f'text-anchor="end">{_esc(unit_title)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _op_charts(model: ir.Model, prof: dict | None) -> str:
    if prof is None:
        counts: dict[str, int] = {}
        for op in model.subgraphs[0].operators:
            counts[model.op_name(op)] = counts.get(model.op_name(op), 0) + 1
        rows = [(op, float(n), f"{n} node{'s' if n != 1 else ''}")
                for op, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        return ('<p class="muted">No profiling data: showing node counts per op type. Run '
                '<code>edgelite benchmark MODEL --enable_op_profiling --report r.html</code> '
                'for times.</p>' + _bar_chart(rows, "nodes", "counts"))
    types = [(t["op"], t["avg_ms"], (f"{t['avg_ms']:.3f} ms  {t['percent']:.1f}%  "
              f"({t['nodes']} node{'s' if t['nodes'] != 1 else ''})"))
             for t in prof["per_op_type"]]
    nodes = sorted(prof["per_node"], key=lambda r: -r["avg_ms"])[:25]
    node_rows = [(f"{_node_label(r)} {r['op']}", r["avg_ms"],
                  f"{r['avg_ms']:.3f} ms  {r.get('percent', 0):.1f}%") for r in nodes]
    return ("<h3>Summary by node type (avg ms per inference)</h3>"
            + _bar_chart(types, "avg ms per inference", "by-type")
            + f"<h3>Top by Computation Time ({len(node_rows)} slowest nodes)</h3>"
            + _bar_chart(node_rows, "avg ms", "by-node"))


# ---------------------------------------------------------------- memory timeline

def _memory_svg(model: ir.Model, mem: dict) -> str:
    buffers = mem.get("buffers") or []
    arena = int(mem.get("arena_bytes") or 0)
    if not buffers or arena <= 0:
        return '<p class="muted">The arena is empty: no intermediate tensors to plan.</p>'
    sg = model.subgraphs[0]
    index_of = {t.name: i for i, t in enumerate(sg.tensors)}
    last_step = max(b["last"] for b in buffers)
    steps = last_step + 1
    left, top, plot_w, plot_h = 90, 20, 1000, 420
    width, height = left + plot_w + 30, top + plot_h + 60
    sx = plot_w / steps
    sy = plot_h / arena
    out = [(f'<svg class="timeline" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}">'),
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for i, b in enumerate(buffers):
        x = left + b["first"] * sx
        w = (b["last"] - b["first"] + 1) * sx
        y = top + b["offset"] * sy
        h = max(1.0, b["bytes"] * sy)
        scratch = b["name"].startswith("scratch ")
        t = index_of.get(b["name"])
        data_t = f' data-t="{t}"' if t is not None else ""
        fill = "#bbbbbb" if scratch else _buffer_colour(i)
        steps_text = (f"step {b['first']}" if b["first"] == b["last"]
                      else f"steps {b['first']}-{b['last']}")
        out.append(f'<rect class="buf{" scratch" if scratch else ""}"{data_t} x="{x:.2f}" '
                   f'y="{y:.2f}" width="{max(w - 1, 1):.2f}" height="{h:.2f}" fill="{fill}">'
                   f'<title>{_esc(b["name"])}\n{b["bytes"]} bytes at offset {b["offset"]}\n'
                   f'{steps_text}</title></rect>')
    lb = mem.get("lower_bound_bytes")
    if lb:
        y = top + lb * sy
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'class="bound"><title>lower bound {lb} bytes</title></line>'
                   f'<text x="{left + plot_w - 4}" y="{y - 4:.1f}" class="tick" '
                   f'text-anchor="end">lower bound {_fmt_bytes(lb)}</text>')
    every = max(1, math.ceil(steps / 25))
    for s in range(0, steps, every):
        x = left + (s + 0.5) * sx
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="tick" '
                   f'text-anchor="middle">{s}</text>')
    for k in range(5):
        off = arena * k / 4
        y = top + off * sy
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" class="axis"/>'
                   f'<text x="{left - 8}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{_fmt_bytes(off)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 40}" class="axis-title" '
               f'text-anchor="middle">step (0 = inputs set, k = node k-1 runs)</text>')
    out.append(f'<text x="16" y="{top + plot_h / 2}" class="axis-title" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + plot_h / 2})">arena offset</text>')
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- tables

def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td{" class=num" if i in numeric else ""}>{_esc(c)}</td>' for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary(model: ir.Model, mem: dict | None, bench: dict | None) -> str:
    sg = model.subgraphs[0]
    rows = [["subgraphs", len(model.subgraphs)], ["operators (subgraph 0)", len(sg.operators)],
            ["tensors (subgraph 0)", len(sg.tensors)]]
    for label, idxs in (("inputs", sg.inputs), ("outputs", sg.outputs)):
        rows.append([label, ", ".join(f"{sg.tensors[t].name} {_shape(sg.tensors[t].shape)} "
                                      f"{sg.tensors[t].type_name}" for t in idxs)])
    if model.description:
        rows.insert(0, ["description", model.description])
    if mem is not None:
        arena, lb = mem.get("arena_bytes"), mem.get("lower_bound_bytes")
        rows.append(["arena", (f"{_fmt_bytes(arena)} ({arena} B), lower bound "
                              f"{_fmt_bytes(lb)} ({lb} B)")])
        rows.append(["tensors without reuse", f"{_fmt_bytes(mem.get('naive_bytes'))}"])
        rows.append(["persistent", f"{_fmt_bytes(mem.get('persistent_bytes'))}"])
    out = _table(["", ""], rows)
    if bench:
        w, s, m = bench["warmup"], bench["inference"], bench.get("memory", {})
        line = (f"Inference timings in us: Init: {bench['init_us']:.0f}, First inference: "
                f"{bench['first_inference_us']:.0f}, Warmup (avg): {w['avg']:.0f}, "
                f"Inference (avg): {s['avg']:.0f}")
        brows = [["count", s["count"]]] + [[k, f"{s[k] / 1e3:.3f} ms"]
                                            for k in ("avg", "std", "min", "max", "p50", "p90",
                                                      "p99")]
        if m.get("overall_peak_delta_mb") is not None:
            brows.append(["peak RSS delta (init / overall)",
                          (f"{m['init_peak_delta_mb']:.2f} MB / "
                          f"{m['overall_peak_delta_mb']:.2f} MB")])
        c = bench.get("compare_litert")
        if c:
            brows.append(["edgelite / LiteRT latency ratio",
                          (f"{c['ratio']:.2f}x ({c['edgelite_median_us'] / 1e3:.3f} ms vs "
                          f"{c['litert_median_us'] / 1e3:.3f} ms median)")])
            for o in c["outputs"]:
                if "max_abs_diff" in o:
                    brows.append([f"largest difference {o['name']}",
                                  f"{o['max_abs_diff']:.6g} ({o['unit']})"])
        out += f"<h3>Benchmark</h3><pre>{_esc(line)}</pre>" + _table(["steady state", ""], brows)
    return out


def _node_label(r: dict) -> str:
    """'7' for a node of the invoked subgraph, '2:1' for one run by control flow."""
    return f"{r['subgraph']}:{r['node']}" if r.get("nested") else str(r["node"])


def _profile_tables(prof: dict) -> str:
    nodes = prof["per_node"]
    run_order, cum = [], 0.0
    for r in nodes:
        if not r.get("nested"):      # nested nodes' time is inside their caller's
            cum += r.get("percent", 0)
        run_order.append([_node_label(r), r["op"], f"{r['avg_ms']:.3f}", f"{r.get('percent', 0):.2f}%",
                          f"{cum:.2f}%", " ".join(_shape(s) for s in r.get("output_shapes", [])),
                          r.get("name", "")])
    top, cum = [], 0.0
    for r in sorted(nodes, key=lambda r: -r["avg_ms"])[:10]:
        if not r.get("nested"):
            cum += r.get("percent", 0)
        top.append([_node_label(r), r["op"], f"{r['avg_ms']:.3f}", f"{r.get('percent', 0):.2f}%",
                    f"{cum:.2f}%", " ".join(_shape(s) for s in r.get("output_shapes", [])),
                    r.get("name", "")])
    headers = ["node", "node type", "avg ms", "%", "cdf%", "output shape", "name"]
    types = [[t["op"], t["nodes"], f"{t['avg_ms']:.3f}", f"{t['percent']:.2f}%",
              f"{t['cumulative_percent']:.2f}%"] for t in prof["per_op_type"]]
    return ("<h3>Run Order</h3>" + _table(headers, run_order, {0, 2, 3, 4})
            + "<h3>Top by Computation Time</h3>" + _table(headers, top, {0, 2, 3, 4})
            + "<h3>Summary by node type</h3>"
            + _table(["node type", "count", "avg ms", "avg %", "cdf %"], types, {1, 2, 3, 4}))


# ---------------------------------------------------------------- page

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b0bec5}
nav{padding:8px 24px;background:#eceff1;font-size:13px}nav a{margin-right:16px;color:#1565c0}
section{background:#fff;margin:16px 24px;padding:12px 18px;border:1px solid #e0e0e0;
border-radius:6px}
section h2{margin:4px 0 10px;font-size:17px}h3{font-size:14px;margin:14px 0 6px}
.scroll{overflow:auto;max-height:900px;border:1px solid #eee}.scroll svg{display:block;margin:0 auto}
section{overflow-x:auto}table.sortable td:last-child{word-break:break-all;max-width:520px}
table{border-collapse:collapse;font-size:12.5px}th,td{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#f5f5f5;cursor:pointer;user-select:none}
td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f5f5f5;padding:6px 10px;overflow:auto}
.muted{color:#777}code{background:#f1f1f1;padding:1px 4px;border-radius:3px}
svg text{font-family:system-ui,sans-serif}
.graph .lbl{font-size:12px;font-weight:600;text-anchor:middle;fill:#222}
.graph .sub{font-size:10.5px;text-anchor:middle;fill:#444}
.graph rect{stroke:#555;stroke-width:1}.graph .io-rect{fill:#e3f2fd;stroke:#1e88e5}
.graph .edge{fill:none;stroke:#888;stroke-width:1.3}
.graph .node{cursor:pointer}.graph .node.sel rect{stroke:#d500f9;stroke-width:3}
.bars .bar{fill:#5c6bc0}.bars.counts .bar{fill:#90a4ae}.bars.by-node .bar{fill:#ef6c00}
.bars .blabel{font-size:12px;text-anchor:end}.bars .bval{font-size:11.5px;fill:#333}
.axis{stroke:#999}.tick{font-size:11px;fill:#555}.axis-title{font-size:12px;fill:#333}
.timeline .plot{fill:#fcfcfc;stroke:#ccc}.timeline .buf{stroke:#fff;stroke-width:.5;opacity:.92}
.timeline .buf:hover,.timeline .buf.sel{stroke:#d500f9;stroke-width:2;opacity:1}
.timeline .bound{stroke:#c62828;stroke-dasharray:5 4}
.legend span{display:inline-block;width:14px;height:12px;margin:0 4px -2px 12px;
border:1px solid #999}
"""

JS = """
// Click a node in the graph: its output tensors light up in the arena timeline.
document.querySelectorAll('.graph .node').forEach(function(n){
  n.addEventListener('click', function(){
    var on = !n.classList.contains('sel');
    document.querySelectorAll('.sel').forEach(function(e){e.classList.remove('sel');});
    if(!on) return;
    n.classList.add('sel');
    (n.getAttribute('data-t')||'').split(' ').forEach(function(t){
      if(!t) return;
      document.querySelectorAll('.timeline .buf[data-t="'+t+'"]').forEach(function(r){
        r.classList.add('sel');});
    });
  });
});
// Click a table header to sort by that column.
document.querySelectorAll('table.sortable th').forEach(function(th){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var i = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;
    th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){
      var x = a.cells[i].textContent, y = b.cells[i].textContent;
      var fx = parseFloat(x), fy = parseFloat(y);
      if(!isNaN(fx) && !isNaN(fy)) return dir * (fx - fy);
      return dir * x.localeCompare(y);
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""


def render_model_report(model: ir.Model, profile=None, memory=None, *, benchmark=None,
                        title: str | None = None) -> str:
    """The report as one HTML string.

    `profile`: None, a `Profiler`, or `{"per_node": [...], "per_op_type": [...]}`
    (rows as `Profiler.per_node()` / `per_op_type()` give them, optionally with
    `output_shapes` and `name`). `memory`: None (the arena is planned here by
    allocating an Interpreter, when the model's ops are supported) or
    `Interpreter.memory_report()` plus `"buffers"`: [{name, bytes, first, last,
    offset}]. `benchmark`: `edgelite benchmark`'s result dict, for the timings.
    """
    prof = _normalize_profile(profile)
    why = None
    if memory is None:
        memory, why = _memory_from_model(model)
    title = title or "edgelite model report"
    sg = model.subgraphs[0]
    if prof is not None:
        legend = ('<p class="legend">Nodes coloured by average time: '
                  + "".join(f'<span style="background:{_heat(f)}"></span>{label}'
                            for f, label in ((0, "fast"), (0.5, ""), (1, "slowest")))
                  + ". Hover for tensors and times; click a node to see its outputs in the "
                    "arena timeline.</p>")
    else:
        legend = ('<p class="legend">No profiling data: nodes coloured by op family'
                  + "".join(f'<span style="background:{c}"></span>{f}'
                            for f, c in OP_COLOURS.items())
                  + ". Hover for tensors; click a node to see its outputs in the arena "
                    "timeline.</p>")
    if memory is not None:
        mem_html = (f'<p>Arena {_fmt_bytes(memory.get("arena_bytes"))} '
                    f'({memory.get("arena_bytes")} B) for {len(memory.get("buffers") or [])} '
                    f'buffers; lower bound (largest sum of tensors live at one step) '
                    f'{_fmt_bytes(memory.get("lower_bound_bytes"))}; without reuse '
                    f'{_fmt_bytes(memory.get("naive_bytes"))}. One rectangle per tensor, from '
                    f'its first to its last use, at its planned offset (grey: kernel scratch).'
                    f'</p>' + _memory_svg(model, memory))
    else:
        mem_html = (f'<p class="muted">No memory plan: the model could not be allocated '
                    f'({_esc(why)}).</p>')
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1><p>{len(sg.operators)} operators, "
        f"{len(sg.tensors)} tensors"
        + (f", {len(model.subgraphs)} subgraphs (graph of subgraph 0)"
           if len(model.subgraphs) > 1 else "") + " &middot; generated by edgelite</p></header>",
        '<nav><a href="#summary">Summary</a><a href="#graph">Graph</a>'
        '<a href="#op-chart">Op times</a><a href="#memory-timeline">Memory timeline</a>'
        + ('<a href="#profile">Profile tables</a>' if prof is not None else "") + "</nav>",
        f'<section id="summary"><h2>Summary</h2>{_summary(model, memory, benchmark)}</section>',
        (f'<section id="graph"><h2>Graph (execution order)</h2>{legend}'
        f'<div class="scroll">{_graph_svg(model, prof)}</div></section>'),
        f'<section id="op-chart"><h2>Time per op</h2>{_op_charts(model, prof)}</section>',
        f'<section id="memory-timeline"><h2>Memory timeline of the arena</h2>{mem_html}</section>',
    ]
    if prof is not None:
        parts.append(f'<section id="profile"><h2>Profile</h2>{_profile_tables(prof)}</section>')
    parts.append(f"<script>{JS}</script></body></html>")
    return "\n".join(parts)
