"""`edgelite demo`: classify handwritten digits with the two bundled models.

Needs only numpy and flatbuffers: the bundled digits CNN (float32 and full
int8, trained on scikit-learn's 8x8 digits by scripts/train_demo.py) runs on
the 50 bundled labelled samples; the demo prints each model's accuracy,
median latency and its three slowest op types, then the commands to try next.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

import numpy as np

from edgelite.tools import common
from edgelite.tools.common import ToolError

HELP = "classify 50 handwritten digits with the bundled float32 and int8 models"

DESCRIPTION = """\
Run the two bundled models (a small CNN trained on scikit-learn's 8x8 digits,
as float32 and as full int8) on the 50 bundled labelled samples. Prints each
model's accuracy, median latency per image and the three op types that take
the most time (from edgelite's profiler), then commands to try next.
Only numpy and flatbuffers are needed.
"""

MODELS = ("digits_float32.tflite", "digits_int8.tflite")
SAMPLES = "digits_samples.npz"
SHADES = " .:-=+*#%@"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)
    return p


def data_path(name: str) -> str:
    return os.path.join(common.DATA_DIR, name)


def load_samples() -> tuple[np.ndarray, np.ndarray]:
    path = data_path(SAMPLES)
    if not os.path.exists(path):
        raise ToolError(f"the bundled samples are missing: {path} (reinstall edgelite)")
    with np.load(path, allow_pickle=False) as z:
        return z["images"].astype(np.float32), z["labels"].astype(np.int64)


def classify(model_name: str, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-image latency and profile of one bundled model over the samples."""
    path = data_path(model_name)
    _, interp = common.load(path)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    q = common.quant_of(inp)
    if q is not None and np.issubdtype(inp["dtype"], np.integer):
        batch = common.quantize(images, q[0], q[1], inp["dtype"])
    else:
        batch = images.astype(inp["dtype"])

    def predict_all() -> tuple[np.ndarray, list[float]]:
        preds, times = [], []
        for x in batch:
            interp.set_tensor(inp["index"], x[None])
            t0 = time.perf_counter()
            interp.invoke()
            times.append(time.perf_counter() - t0)
            scores = common.dequantize(interp.get_tensor(out["index"]), out)
            preds.append(int(np.argmax(scores)))
        return np.asarray(preds), times

    predict_all()                      # warm-up: first-call costs are not latency
    preds, times = predict_all()
    profiler = interp.enable_profiling()
    predict_all()
    ops = profiler.per_op_type()
    interp.enable_profiling(False)
    correct = int((preds == labels).sum())
    return {"model": model_name, "path": path, "input_dtype": np.dtype(inp["dtype"]).name,
            "correct": correct, "total": int(labels.size),
            "accuracy": correct / max(1, labels.size), "median_ms": 1e3 * float(np.median(times)),
            "top_ops": [{"op": r["op"], "avg_ms": r["avg_ms"], "percent": r["percent"]}
                        for r in ops[:3]],
            "predictions": preds.tolist()}


def ascii_digit(image: np.ndarray) -> list[str]:
    levels = np.clip((image.reshape(8, 8) * (len(SHADES) - 1)).round().astype(int), 0,
                     len(SHADES) - 1)
    return ["".join(SHADES[v] * 2 for v in row) for row in levels]


@common.guarded
def run(args) -> int:
    t_start = time.perf_counter()
    images, labels = load_samples()
    results = [classify(name, images, labels) for name in MODELS]
    agree = int(np.sum(np.asarray(results[0]["predictions"]) ==
                       np.asarray(results[1]["predictions"])))
    elapsed = time.perf_counter() - t_start
    if args.json:
        json.dump({"models": results, "agreement": agree, "seconds": elapsed}, sys.stdout,
                  indent=2)
        print()
        return 0
    print(format_demo(results, images, labels, agree, elapsed))
    return 0


def format_demo(results, images, labels, agree, elapsed) -> str:
    n = int(labels.size)
    lines = [(f"edgelite demo: {n} handwritten digits (8x8, scikit-learn's digits data set) "
             f"classified by the bundled models"), ""]
    pictures = ascii_digit(images[0])
    caption = (f"sample 0: label {labels[0]}, float32 says {results[0]['predictions'][0]}, "
               f"int8 says {results[1]['predictions'][0]}")
    for i, row in enumerate(pictures):
        lines.append(f"  |{row}|" + (f"   {caption}" if i == 3 else ""))
    lines.append("")
    name_w = max(len(r["model"]) for r in results)
    lines.append(f"  {'model':<{name_w}}  {'input':<7}  {'accuracy':>13}  {'median latency':>14}"
                 f"  top 3 ops by time")
    for r in results:
        ops = ", ".join(f"{o['op']} {o['percent']:.0f}%" for o in r["top_ops"])
        acc = f"{r['correct']}/{r['total']} {100 * r['accuracy']:.0f}%"
        lines.append(f"  {r['model']:<{name_w}}  {r['input_dtype']:<7}  {acc:>13}  "
                     f"{r['median_ms']:>11.3f} ms  {ops}")
    lines.append("")
    lines.append(f"  The two models agree on {agree}/{n} samples. (LiteRT scores both models 96%.)")
    lines.append(f"  Latency is per image (batch 1) on this machine; the demo took {elapsed:.1f} s.")
    lines.append("")
    f32 = shlex.quote(results[0]["path"])
    i8 = shlex.quote(results[1]["path"])
    samples = shlex.quote(data_path(SAMPLES))
    lines += ["Try next:",
              f"  edgelite inspect {i8}",
              f"  edgelite run {f32} --input image={samples}:images --top-k 3",
              f"  edgelite benchmark {i8} --enable_op_profiling --report report.html"]
    return "\n".join(lines)


def main(argv=None) -> int:
    return common.module_main(add_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
