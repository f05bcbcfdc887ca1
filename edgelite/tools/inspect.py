"""Describe a .tflite model: what `edgelite inspect` prints.

`summarize(model)` gathers everything into plain dicts and lists (what
`--json` prints); `format_summary(summary)` renders it as aligned text tables.
Only the public IR (`edgelite.format.ir`) and metadata decoder are used.
"""
from __future__ import annotations

import collections
import os

import numpy as np

from edgelite.errors import ModelError
from edgelite.format import ir
from edgelite.format.metadata import METADATA_NAME, decode_metadata, read_associated_files

# ---------------------------------------------------------------- gathering

def _quant(t: ir.Tensor) -> dict | None:
    q = t.quantization
    if q is None or not q.is_quantized:
        return None
    out = {"scale": [float(s) for s in q.scale],
           "zero_point": [int(z) for z in q.zero_point],
           "quantized_dimension": int(q.quantized_dimension)}
    if q.min is not None:
        out["min"] = [float(v) for v in q.min]
    if q.max is not None:
        out["max"] = [float(v) for v in q.max]
    return out


def quant_text(q: dict | None) -> str:
    """'0.0235 zp -128', 'per-channel (32) on dim 3', or '-'."""
    if q is None:
        return "-"
    if len(q["scale"]) > 1:
        return f"per-channel ({len(q['scale'])}) on dim {q['quantized_dimension']}"
    zp = q["zero_point"][0] if q["zero_point"] else 0
    return f"{q['scale'][0]:.6g} zp {zp}"


def _tensor(model: ir.Model, index: int, t: ir.Tensor) -> dict:
    buf = model.buffers[t.buffer] if 0 <= t.buffer < len(model.buffers) else None
    nbytes = buf.nbytes if buf is not None and t.buffer > 0 else 0
    return {
        "index": index,
        "name": t.name,
        "shape": list(t.shape),
        "shape_signature": None if t.shape_signature is None else list(t.shape_signature),
        "dtype": t.type_name,
        "quantization": _quant(t),
        "buffer": t.buffer,
        "constant_bytes": nbytes,
        "is_variable": bool(t.is_variable),
        "sparse": t.sparsity is not None,
    }


def _op_text(model: ir.Model, op: ir.Operator) -> str:
    return model.op_name(op)


def _subgraph(model: ir.Model, si: int, sg: ir.Subgraph) -> dict:
    tensors = [_tensor(model, i, t) for i, t in enumerate(sg.tensors)]
    hist: collections.Counter = collections.Counter()
    ops = []
    for oi, op in enumerate(sg.operators):
        code = model.op_code(op)
        hist[(code.name, code.version)] += 1
        ops.append({"index": oi, "op": code.name, "version": code.version,
                    "inputs": list(op.inputs), "outputs": list(op.outputs)})
    return {
        "index": si,
        "name": sg.name,
        "num_tensors": len(sg.tensors),
        "num_operators": len(sg.operators),
        "inputs": [tensors[i] for i in sg.inputs],
        "outputs": [tensors[i] for i in sg.outputs],
        "op_histogram": [{"op": name, "version": v, "count": n}
                         for (name, v), n in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))],
        "operators": ops,
        "tensors": tensors,
    }


def _parameters(model: ir.Model) -> dict:
    """Constant elements and bytes by dtype; a buffer shared by tensors counts once."""
    by_type: dict[str, dict] = {}
    seen: set[int] = set()
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.buffer <= 0 or t.buffer in seen or t.buffer >= len(model.buffers):
                continue
            nbytes = model.buffers[t.buffer].nbytes
            if nbytes == 0:
                continue
            seen.add(t.buffer)
            count = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
            entry = by_type.setdefault(t.type_name, {"dtype": t.type_name, "parameters": 0,
                                                     "bytes": 0, "tensors": 0})
            entry["parameters"] += count
            entry["bytes"] += nbytes
            entry["tensors"] += 1
    rows = sorted(by_type.values(), key=lambda e: -e["bytes"])
    return {"total_parameters": sum(e["parameters"] for e in rows),
            "total_bytes": sum(e["bytes"] for e in rows), "by_dtype": rows}


def _metadata(model: ir.Model, file_bytes: bytes | None) -> tuple[list, dict | None, list]:
    entries = []
    for m in model.metadata:
        size = model.buffers[m.buffer].nbytes if 0 <= m.buffer < len(model.buffers) else 0
        entry = {"name": m.name, "buffer": m.buffer, "bytes": size}
        raw = model.metadata_bytes(m.name)
        if m.name != METADATA_NAME and raw is not None and 0 < len(raw) <= 64:
            text = raw.rstrip(b"\0")
            if text and all(32 <= c < 127 for c in text):
                entry["value"] = text.decode("ascii")
        entries.append(entry)
    files: list = []
    trailing = model.trailing_bytes or b""
    if trailing:
        try:
            files = sorted(read_associated_files(file_bytes if file_bytes is not None
                                                 else trailing).items())
        except ModelError:
            files = []
    raw = model.metadata_bytes(METADATA_NAME)
    decoded = None
    if raw is not None:
        try:
            decoded = _decoded_metadata(decode_metadata(raw), dict(files))
        except ModelError as e:
            decoded = {"error": str(e)}
    return entries, decoded, [{"name": n, "bytes": len(c)} for n, c in files]


def _decoded_metadata(info, files: dict) -> dict:
    def file_info(f) -> dict:
        d = {"name": f.name, "type": f.type, "description": f.description}
        content = files.get(f.name) if f.name else None
        if content is not None and f.type in ("TENSOR_AXIS_LABELS", "TENSOR_VALUE_LABELS"):
            lines = content.decode("utf-8", errors="replace").splitlines()
            d["labels"] = len(lines)
            d["first_labels"] = lines[:5]
        return d

    def tensor_info(t) -> dict:
        return {
            "name": t.name, "description": t.description, "content": t.content_type,
            "normalization": None if t.normalization is None
            else {"mean": list(t.normalization.mean), "std": list(t.normalization.std)},
            "value_range": None if t.value_range is None else list(t.value_range),
            "files": [file_info(f) for f in t.associated_files],
        }

    return {
        "name": info.name, "description": info.description, "version": info.version,
        "author": info.author, "license": info.license,
        "files": [file_info(f) for f in info.associated_files],
        "subgraphs": [{"name": sg.name, "description": sg.description,
                       "inputs": [tensor_info(t) for t in sg.input_tensors],
                       "outputs": [tensor_info(t) for t in sg.output_tensors],
                       "files": [file_info(f) for f in sg.associated_files]}
                      for sg in info.subgraphs],
    }


def summarize(model: ir.Model, path: str | os.PathLike | None = None,
              file_bytes: bytes | None = None) -> dict:
    """Everything `edgelite inspect` shows, as JSON-compatible dicts and lists."""
    size = None
    if file_bytes is not None:
        size = len(file_bytes)
    elif path is not None:
        size = os.path.getsize(path)
    entries, decoded, files = _metadata(model, file_bytes)
    return {
        "path": None if path is None else os.fspath(path),
        "file_size": size,
        "version": model.version,
        "description": model.description,
        "num_subgraphs": len(model.subgraphs),
        "subgraphs": [_subgraph(model, i, sg) for i, sg in enumerate(model.subgraphs)],
        "parameters": _parameters(model),
        "signatures": [{"key": sd.key, "subgraph": sd.subgraph_index,
                        "inputs": dict(sd.inputs), "outputs": dict(sd.outputs)}
                       for sd in model.signature_defs],
        "metadata": entries,
        "tflite_metadata": decoded,
        "associated_files": files,
    }


def op_requirements(model: ir.Model, supported: dict[str, tuple[int, int]],
                    custom_supported: set[str] = frozenset()) -> list[dict]:
    """The (op, version) pairs a model needs with node counts and edgelite support."""
    counts: collections.Counter = collections.Counter()
    custom: dict[tuple[str, int], bool] = {}
    for sg in model.subgraphs:
        for op in sg.operators:
            code = model.op_code(op)
            key = (code.name, code.version)
            counts[key] += 1
            custom[key] = code.builtin_code == ir.BuiltinOperator.CUSTOM
    rows = []
    for (name, version), n in sorted(counts.items()):
        if custom[(name, version)]:
            ok = name in custom_supported
            why = "registered custom op" if ok else "custom op, not registered"
        elif name in supported:
            lo, hi = supported[name]
            ok = lo <= version <= hi
            why = f"versions {lo}..{hi}" if ok else f"edgelite has versions {lo}..{hi}"
        else:
            ok, why = False, "no edgelite kernel"
        rows.append({"op": name, "version": version, "count": n, "custom": custom[(name, version)],
                     "supported": ok, "note": why})
    return rows


# ---------------------------------------------------------------- text

def table(headers: list[str], rows: list[list], right: set[int] = frozenset(),
          indent: str = "  ") -> str:
    """Aligned columns; column numbers in `right` are right-aligned (numbers)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append(indent + "  ".join(parts).rstrip())
        if k == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def shape_text(t: dict) -> str:
    shape = "[" + ", ".join(str(d) for d in t["shape"]) + "]"
    sig = t.get("shape_signature")
    if sig is not None and list(sig) != list(t["shape"]):
        shape += " sig [" + ", ".join(str(d) for d in sig) + "]"
    return shape


def _io_table(tensors: list[dict]) -> str:
    rows = [[t["index"], t["name"], shape_text(t), t["dtype"], quant_text(t["quantization"])]
            for t in tensors]
    return table(["#", "name", "shape", "dtype", "quantization"], rows, right={0}, indent="    ")


def format_summary(s: dict, *, ops: bool = False, tensors: bool = False) -> str:
    out = []
    add = out.append
    if s["path"]:
        add(f"{'Model':<12} {s['path']}")
    if s["file_size"] is not None:
        add(f"{'File size':<12} {human_bytes(s['file_size'])} ({s['file_size']:,} bytes)")
    add(f"{'Version':<12} {s['version']}")
    add(f"{'Description':<12} {s['description'] or '-'}")
    add(f"{'Subgraphs':<12} {s['num_subgraphs']}")
    for sg in s["subgraphs"]:
        add("")
        name = f" {sg['name']!r}" if sg["name"] else ""
        add(f"Subgraph {sg['index']}{name}: {sg['num_operators']} operators, "
            f"{sg['num_tensors']} tensors")
        add("  Inputs")
        add(_io_table(sg["inputs"]) if sg["inputs"] else "    (none)")
        add("  Outputs")
        add(_io_table(sg["outputs"]) if sg["outputs"] else "    (none)")
        if sg["op_histogram"]:
            add("  Operators")
            add(table(["op", "version", "count"],
                      [[h["op"], h["version"], h["count"]] for h in sg["op_histogram"]],
                      right={1, 2}, indent="    "))
        if ops:
            add("  Nodes")
            rows = [[o["index"], o["op"], o["version"],
                     " ".join(str(i) for i in o["inputs"]) + " -> "
                     + " ".join(str(i) for i in o["outputs"])] for o in sg["operators"]]
            add(table(["#", "op", "v", "inputs -> outputs"], rows, right={0, 2}, indent="    ")
                if rows else "    (none)")
        if tensors:
            add("  Tensors")
            rows = [[t["index"], t["name"], shape_text(t), t["dtype"],
                     t["buffer"] if t["constant_bytes"] else "-",
                     human_bytes(t["constant_bytes"]) if t["constant_bytes"] else "-",
                     quant_text(t["quantization"]) + (" variable" if t["is_variable"] else "")]
                    for t in sg["tensors"]]
            add(table(["#", "name", "shape", "dtype", "buffer", "const", "quantization"], rows,
                      right={0, 4, 5}, indent="    "))
    p = s["parameters"]
    add("")
    add(f"Parameters {p['total_parameters']:,} in {human_bytes(p['total_bytes'])} of constants")
    if p["by_dtype"]:
        add(table(["dtype", "parameters", "bytes", "tensors"],
                  [[e["dtype"], f"{e['parameters']:,}", f"{e['bytes']:,}", e["tensors"]]
                   for e in p["by_dtype"]], right={1, 2, 3}))
    add("")
    if s["signatures"]:
        add("Signatures")
        for sd in s["signatures"]:
            add(f"  {sd['key']!r} (subgraph {sd['subgraph']})")
            add("    inputs:  " + ", ".join(f"{k} -> tensor {v}" for k, v in sd["inputs"].items()))
            add("    outputs: " + ", ".join(f"{k} -> tensor {v}" for k, v in sd["outputs"].items()))
    else:
        add("Signatures (none)")
    add("")
    if s["metadata"]:
        add("Metadata")
        add(table(["name", "buffer", "bytes", "value"],
                  [[m["name"], m["buffer"], m["bytes"], m.get("value", "")]
                   for m in s["metadata"]], right={1, 2}))
    else:
        add("Metadata (none)")
    md = s["tflite_metadata"]
    if md is not None:
        add("")
        add(_format_tflite_metadata(md))
    if s["associated_files"]:
        add("")
        add("Associated files")
        add(table(["name", "bytes"], [[f["name"], f["bytes"]] for f in s["associated_files"]],
                  right={1}))
    return "\n".join(out)


def _format_tflite_metadata(md: dict) -> str:
    if "error" in md:
        return f"TFLITE_METADATA: cannot decode: {md['error']}"
    lines = ["TFLITE_METADATA"]
    for key in ("name", "description", "version", "author", "license"):
        if md.get(key):
            lines.append(f"  {key + ':':<13}{md[key]}")

    def files(fs, pad):
        for f in fs:
            extra = f", {f['labels']} labels: {', '.join(f['first_labels'])}" \
                if "labels" in f else ""
            lines.append(f"{pad}file {f['name']} ({f['type']}{extra})")

    files(md["files"], "  ")
    for sg in md["subgraphs"]:
        for kind in ("inputs", "outputs"):
            for t in sg[kind]:
                desc = f": {t['description']}" if t["description"] else ""
                lines.append(f"  {kind[:-1]} {t['name'] or '?'}{desc}")
                if t["content"]:
                    lines.append(f"    content: {t['content']}")
                if t["normalization"]:
                    n = t["normalization"]
                    lines.append(f"    normalization: (x - {n['mean']}) / {n['std']}")
                if t["value_range"]:
                    lines.append(f"    range: {t['value_range']}")
                files(t["files"], "    ")
        files(sg["files"], "  ")
    return "\n".join(lines)


def format_ops(rows: list[dict]) -> str:
    body = table(["op", "version", "nodes", "edgelite", "note"],
                 [[r["op"], r["version"], r["count"], "yes" if r["supported"] else "NO", r["note"]]
                  for r in rows], right={1, 2})
    missing = sum(not r["supported"] for r in rows)
    tail = ("all supported" if not missing
            else f"{missing} of {len(rows)} (op, version) pairs have no edgelite kernel")
    return f"{body}\n\n{len(rows)} (op, version) pairs; {tail}"


def resolver_module(rows: list[dict], model_name: str) -> str:
    """Source of a module building a selective OpResolver with only the model's ops."""
    builtins = sorted({r["op"] for r in rows if not r["custom"]})
    pairs = sorted((r["op"], r["version"]) for r in rows)
    custom = sorted({r["op"] for r in rows if r["custom"]})
    lines = [
        f'"""Selective op resolver for {model_name}.',
        "",
        "Generated by `edgelite ops --write-resolver`: only the kernels this model",
        'needs are resolved; any other builtin op is refused."""',
        "from edgelite.kernels.registry import OpResolver",
        "",
        "# (op, version) pairs the model uses.",
        "OPS = [",
        *[f"    ({name!r}, {v})," for name, v in pairs],
        "]",
        "BUILTIN_OPS = frozenset({",
        *[f"    {name!r}," for name in builtins],
        "})",
        "# Custom ops the model uses: pass their kernels to make_resolver(custom=...).",
        "CUSTOM_OPS = [",
        *[f"    {name!r}," for name in custom],
        "]",
        "",
        "",
        "def make_resolver(custom=None):",
        '    """An OpResolver restricted to this model\'s builtin ops."""',
        "    return OpResolver(custom=custom, only=set(BUILTIN_OPS))",
        "",
    ]
    return "\n".join(lines)
