"""The `edgelite` command line.

    edgelite inspect model.tflite [--ops] [--tensors] [--json]
    edgelite ops model.tflite [--json] [--write-resolver resolver.py]
    edgelite run model.tflite [--input NAME=x.npy] [--top-k K] [--output out.npz]
    edgelite benchmark model.tflite [--enable_op_profiling] [--compare-litert] [--report r.html]
    edgelite demo

Each subcommand is added by one `add_<name>_command(subparsers)` function
listed in COMMANDS; it registers its arguments and sets `func(args) -> int`.
To add a command, write such a function and append it to COMMANDS.

Exit codes: 0 ok, 1 error (bad model, missing file...), 2 usage error.
User mistakes print "edgelite: error: ..." to stderr, without a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from collections.abc import Callable

import numpy as np

from edgelite.errors import EdgeliteError

PROG = "edgelite"
DEMO_MODEL = pathlib.Path(__file__).parents[1] / "data" / "digits_float32.tflite"


class UserError(Exception):
    """A mistake the user can fix: printed without a traceback, exit code 1."""


def _read_model(path: str):
    """(model, file bytes) for a path, with errors a person understands."""
    from edgelite.format.reader import load_model
    p = pathlib.Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file")
    if p.is_dir():
        raise UserError(f"{path}: is a directory, not a .tflite file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror}") from None
    if len(data) >= 8 and data[4:8] != b"TFL3":
        raise UserError(f"{path}: not a .tflite file (file identifier {data[4:8]!r}, "
                        f"expected b'TFL3')")
    return load_model(p), data


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------- inspect

def cmd_inspect(args) -> int:
    from edgelite.tools.inspect import format_summary, summarize
    model, data = _read_model(args.model)
    summary = summarize(model, args.model, data)
    if args.report:
        from edgelite.tools.report import render_model_report
        pathlib.Path(args.report).write_text(render_model_report(model), encoding="utf-8")
        print(f"wrote {args.report}", file=sys.stderr)
    if args.json:
        _print_json(summary)
    else:
        print(format_summary(summary, ops=args.ops, tensors=args.tensors))
    return 0


def add_inspect_command(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect", help="describe a .tflite model",
        description="Print a model's size, version, description, each subgraph's inputs and "
                    "outputs (shape, shape signature, dtype, quantization), an op histogram, "
                    "parameter counts and weight bytes by dtype, signatures and metadata "
                    "(including decoded TFLITE_METADATA and associated files).")
    p.add_argument("model", help="path of the .tflite file")
    p.add_argument("--ops", action="store_true", help="also list every node: index, op, "
                   "inputs -> outputs")
    p.add_argument("--tensors", action="store_true", help="also print every tensor")
    p.add_argument("--json", action="store_true",
                   help="print everything (nodes and tensors included) as JSON")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML report: the graph and the arena's "
                        "memory timeline")
    p.set_defaults(func=cmd_inspect)


# ---------------------------------------------------------------- ops

def _custom_registered() -> set[str]:
    from edgelite.kernels import registry
    registry.load_all()
    return set(registry.CUSTOM)


def cmd_ops(args) -> int:
    from edgelite.kernels.registry import supported_ops
    from edgelite.tools.inspect import format_ops, op_requirements, resolver_module
    model, _ = _read_model(args.model)
    rows = op_requirements(model, supported_ops(), _custom_registered())
    if args.write_resolver:
        out = pathlib.Path(args.write_resolver)
        try:
            out.write_text(resolver_module(rows, os.path.basename(args.model)))
        except OSError as e:
            raise UserError(f"{out}: cannot write: {e.strerror}") from None
    if args.json:
        _print_json(rows)
    else:
        print(format_ops(rows))
        if args.write_resolver:
            print(f"\nwrote {args.write_resolver}: make_resolver() resolves only these ops")
    return 0


def add_ops_command(subparsers) -> None:
    p = subparsers.add_parser(
        "ops", help="list the (op, version) pairs a model needs and edgelite's support",
        description="List every (op, version) pair the model uses with its node count, and "
                    "whether edgelite has a kernel for it.")
    p.add_argument("model", help="path of the .tflite file")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--write-resolver", metavar="OUT.py",
                   help="write a Python module whose make_resolver() builds an OpResolver "
                        "restricted to these ops (selective registration)")
    p.set_defaults(func=cmd_ops)


# ---------------------------------------------------------------- the parser

def _tool(module: str) -> Callable:
    def register(subparsers) -> None:
        import importlib
        importlib.import_module(f"edgelite.tools.{module}").add_parser(subparsers)
    return register


COMMANDS: list[Callable] = [add_inspect_command, add_ops_command, _tool("run"),
                            _tool("benchmark"), _tool("demo")]


def build_parser() -> argparse.ArgumentParser:
    from edgelite import __version__
    parser = argparse.ArgumentParser(
        prog=PROG, description="edgelite: inspect and run TensorFlow Lite (.tflite) models "
                               "in pure Python.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)          # exits with 2 on usage errors
    try:
        return int(args.func(args) or 0)
    except (UserError, EdgeliteError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:                 # `edgelite inspect m.tflite | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the final flush
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
