"""`edgelite run model.tflite`: run a model once and show what comes out.

Inputs come from `--input NAME=file.npy|file.npz|image.png` (images need
Pillow, which is optional) or are seeded random data that suits each input's
dtype and quantization. Prints every output's shape, dtype and statistics and,
for classifiers whose metadata has a label file, the top-k labels.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from edgelite.tools import common
from edgelite.tools.common import ToolError

HELP = "run a model once on given or random inputs and summarize its outputs"

DESCRIPTION = """\
Run a .tflite model once and print each output's name, shape, dtype and
min/max/mean/std; for classifiers with a label file in their metadata, the
top-k labels with scores (int outputs dequantized).

Inputs (every input not given gets seeded random data suited to its dtype
and quantization):
  --input NAME=x.npy       one array for the input NAME (a tensor or signature
                           input name, input_0, input_1, ... or 0, 1, ...)
  --input x.npz            one array per input, keyed by input name or input_N
  --input NAME=x.npz:KEY   the array KEY of an archive
  --input NAME=photo.png   an image (PNG/JPEG/... needs Pillow, an optional
                           dependency: pip install pillow), resized to the
                           input and normalized with the model's metadata
                           normalization, else --mean/--std, else to [0, 1]
Float arrays given to a quantized integer input are quantized with its
scale and zero point; a missing batch dimension of 1 is added.
"""

EPILOG = """\
examples:
  edgelite run model.tflite
  edgelite run model.tflite --input image=digit.npy --top-k 3
  edgelite run model.tflite --input photo.jpg --mean 127.5 --std 127.5
  edgelite run model.tflite --signature serving_default --json --output out.npz
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="path of the .tflite model")
    p.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]FILE",
                   help="input data: .npy, .npz or an image (repeatable)")
    p.add_argument("--signature", metavar="KEY",
                   help="run this SignatureDef (inputs and outputs use its names)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--mean", metavar="M[,M...]",
                   help="image normalization mean, used when the model has no metadata")
    p.add_argument("--std", metavar="S[,S...]",
                   help="image normalization std, used when the model has no metadata")
    p.add_argument("--top-k", type=int, default=5, metavar="K",
                   help="labels to show for classifier outputs (default 5, 0 for none)")
    p.add_argument("--output", "-o", metavar="OUT.npz", help="save the outputs to an .npz file")
    p.add_argument("--num_threads", "--num-threads", type=int, default=None, metavar="N",
                   help="threads for the interpreter")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--compiled", action="store_true",
                   help="use the compiled kernels when numba is installed (default: the "
                        "numpy tier, which starts ~0.45 s sooner; one invoke never pays "
                        "numba's start back; EDGELITE_COMPILED, when set, decides)")
    p.set_defaults(func=run)
    return p


def _stats(arr: np.ndarray) -> dict:
    if arr.size == 0 or arr.dtype.kind not in "biuf":
        return {"min": None, "max": None, "mean": None, "std": None}
    a = arr.astype(np.float64)
    finite = a[np.isfinite(a)]
    out = {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()),
           "std": float(a.std())}
    if finite.size != a.size:
        out["non_finite"] = int(a.size - finite.size)
    return out


def _top_k(scores: np.ndarray, labels: list[str], k: int) -> list[list[dict]]:
    """Top-k per batch row: [{"index", "label", "score"}]."""
    rows = scores.reshape(-1, scores.shape[-1]) if scores.ndim else scores.reshape(1, -1)
    k = min(k, rows.shape[-1])
    out = []
    for row in rows:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([{"index": int(i), "label": labels[i] if i < len(labels) else str(i),
                     "score": float(row[i])} for i in order])
    return out


MAX_ROWS_SHOWN = 8


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.6g}"


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


@common.guarded
def run(args) -> int:
    if args.top_k < 0:
        raise ToolError(f"--top-k must be >= 0, got {args.top_k}")
    mean = common.parse_floats(args.mean, "--mean")
    std = common.parse_floats(args.std, "--std")
    if args.compiled:
        return _run(args, mean, std)
    from edgelite.kernels.conv import numpy_tier_preferred
    with numpy_tier_preferred():
        return _run(args, mean, std)


def _run(args, mean, std) -> int:
    model, interp = common.load(args.model, args.num_threads)
    info, files = common.model_metadata(model)
    runner = common.Runner(interp, args.signature)
    values, sources = common.gather_inputs(runner.slots, args.input, seed=args.seed, info=info,
                                           mean=mean, std=std)
    runner.set_inputs(values)
    t0 = time.perf_counter()
    runner.invoke()
    elapsed_ms = 1e3 * (time.perf_counter() - t0)
    outputs = runner.outputs()

    result = {
        "model": args.model,
        "signature": args.signature,
        "invoke_ms": elapsed_ms,
        "inputs": [{"name": s.name, "shape": list(values[s.name].shape),
                    "dtype": values[s.name].dtype.name, "source": sources[s.name]}
                   for s in runner.slots],
        "outputs": [],
    }
    for position, (name, arr, detail) in enumerate(outputs):
        entry = {"name": name, "shape": list(arr.shape), "dtype": arr.dtype.name, **_stats(arr)}
        q = common.quant_of(detail)
        if q is not None and arr.dtype.kind in "iu":
            entry["quantization"] = {"scale": q[0], "zero_point": q[1]}
            entry["dequantized"] = _stats(common.dequantize(arr, detail))
        labels = common.output_labels(info, files, position)
        if labels and args.top_k and arr.size and arr.shape[-1:] == (len(labels),):
            entry["top_k"] = _top_k(common.dequantize(arr, detail), labels, args.top_k)
        result["outputs"].append(entry)

    if args.output:
        arrays = {name: arr for name, arr, _ in outputs}
        try:
            np.savez(args.output, **arrays)
        except OSError as e:
            raise ToolError(f"cannot write {args.output}: {e.strerror or e}") from None
        result["saved_to"] = args.output

    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(_format(result))
    return 0


def _format(r: dict) -> str:
    lines = [f"model: {r['model']}" + (f"  signature: {r['signature']}" if r["signature"] else "")]
    lines.append("inputs:")
    for i in r["inputs"]:
        lines.append(f"  {i['name']}  {_shape_text(i['shape'])}  {i['dtype']}  from {i['source']}")
    lines.append(f"invoke: {r['invoke_ms']:.3f} ms")
    lines.append("outputs:")
    for o in r["outputs"]:
        lines.append(f"  {o['name']}  {_shape_text(o['shape'])}  {o['dtype']}  "
                     f"min {_num(o['min'])}  max {_num(o['max'])}  "
                     f"mean {_num(o['mean'])}  std {_num(o['std'])}"
                     + (f"  ({o['non_finite']} non-finite)" if o.get("non_finite") else ""))
        if "dequantized" in o:
            d, q = o["dequantized"], o["quantization"]
            lines.append(f"    dequantized (scale {q['scale']:.6g}, zero point "
                         f"{q['zero_point']}): min {_num(d['min'])}  max {_num(d['max'])}  "
                         f"mean {_num(d['mean'])}  std {_num(d['std'])}")
        top = o.get("top_k", [])
        if len(top) == 1:
            lines.append(f"    top {len(top[0])}:")
            width = max(len(e["label"]) for e in top[0])
            for e in top[0]:
                lines.append(f"      {e['label']:<{width}}  {e['score']:.4f}  (index {e['index']})")
        elif top:
            lines.append(f"    top {len(top[0])} per batch row:")
            for b, row in enumerate(top[:MAX_ROWS_SHOWN]):
                lines.append(f"      {b}: " + ", ".join(f"{e['label']} {e['score']:.4f}"
                                                     for e in row))
            if len(top) > MAX_ROWS_SHOWN:
                lines.append(f"      ... {len(top) - MAX_ROWS_SHOWN} more rows (see --json or "
                             f"--output)")
    if r.get("saved_to"):
        lines.append(f"saved outputs to {r['saved_to']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    return common.module_main(add_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
