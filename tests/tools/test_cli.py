"""The `edgelite` command line: inspect, ops, demo, errors and exit codes.

Conventions (exit codes, stderr, no tracebacks) are checked through real
subprocesses of `python -m edgelite.tools.cli` and the console script; the
per-fixture matrix calls `main()` in-process to stay fast.
"""
from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import edgelite
from edgelite.format import ir
from edgelite.format.builder import ModelBuilder
from edgelite.tools import cli

FIXTURE_DIR = pathlib.Path(__file__).parents[1] / "fixtures" / "models"
FIXTURES = sorted(FIXTURE_DIR.glob("*.tflite"))
ROOT = pathlib.Path(__file__).parents[2]


def run_cli(*args, console_script: bool = False) -> subprocess.CompletedProcess:
    cmd = [shutil.which("edgelite")] if console_script else [sys.executable, "-m",
                                                              "edgelite.tools.cli"]
    return subprocess.run([*cmd, *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def fixture(name: str) -> pathlib.Path:
    p = FIXTURE_DIR / f"{name}.tflite"
    if not p.exists():
        pytest.skip(f"fixture {name} not generated")
    return p


@pytest.fixture(scope="module")
def quantized_model(tmp_path_factory) -> pathlib.Path:
    """A small model with per-tensor and per-channel quantization and a dynamic batch."""
    b = ModelBuilder("cli test model")
    x = b.add_input("x", (1, 6), np.int8, quant=(0.05, 3), shape_signature=(-1, 6))
    w = b.add_constant("w", np.ones((4, 6), np.int8),
                       quant={"scale": [0.1, 0.2, 0.3, 0.4], "zero_point": [0] * 4,
                              "quantized_dimension": 0})
    y = b.add_tensor("y", (1, 4), np.int8, quant=(0.25, -7), shape_signature=(-1, 4))
    b.add_op("FULLY_CONNECTED", [x, w, -1], [y], version=5)
    z = b.add_tensor("z", (1, 4), np.int8, quant=(0.25, -7), shape_signature=(-1, 4))
    b.add_op("RELU", [y], [z], version=2)
    b.add_custom_op("NotARealOp", [z], [b.add_tensor("c", (1, 4), np.int8)])
    b.add_output(z)
    b.add_signature("classify", {"x": x}, {"z": z})
    b.add_metadata("min_runtime_version", b"2.3.0")
    p = tmp_path_factory.mktemp("cli") / "quantized.tflite"
    p.write_bytes(b.to_bytes())
    return p


# ---------------------------------------------------------------- help and conventions

def test_help_lists_subcommands():
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("inspect", "ops", "run", "benchmark", "demo"):
        assert command in r.stdout
    r = run_cli("inspect", "--help")
    assert r.returncode == 0 and "--json" in r.stdout and "--tensors" in r.stdout


@pytest.mark.skipif(shutil.which("edgelite") is None, reason="console script not installed")
def test_console_script():
    r = run_cli("--version", console_script=True)
    assert r.returncode == 0 and r.stdout.startswith("edgelite ")
    r = run_cli("inspect", fixture("cnn_int8"), console_script=True)
    assert r.returncode == 0 and "Subgraph 0" in r.stdout


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["inspect"], ["inspect", "a", "b"],
                                  ["ops", "--write-resolver"], ["inspect", "--nope", "x"]])
def test_usage_errors_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2, r
    assert "usage:" in r.stderr and "error:" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_file_exits_1_without_traceback():
    r = run_cli("inspect", "does/not/exist.tflite")
    assert r.returncode == 1
    assert r.stderr.startswith("edgelite: error: ") and "no such file" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_not_a_tflite_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("definitely not a model\n")
    for command in ("inspect", "ops"):
        r = run_cli(command, p)
        assert r.returncode == 1
        assert r.stderr.startswith("edgelite: error: ") and "not a .tflite file" in r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli("inspect", tmp_path)
    assert r.returncode == 1 and "directory" in r.stderr


@pytest.mark.parametrize("cut", [3, 100])
def test_damaged_model_exits_1(tmp_path, cut):
    p = tmp_path / "damaged.tflite"
    p.write_bytes(fixture("cnn_int8").read_bytes()[:cut])
    r = run_cli("inspect", p)
    assert r.returncode == 1
    assert r.stderr.startswith("edgelite: error: ") and "Traceback" not in r.stderr


def test_unwritable_resolver_path_exits_1(tmp_path):
    r = run_cli("ops", fixture("cnn_int8"), "--write-resolver", tmp_path / "no" / "dir" / "r.py")
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_output_into_a_closed_pipe():
    cmd = (f"{sys.executable} -m edgelite.tools.cli inspect --tensors "
           f"{fixture('transformer_float32')} | head -1")
    r = subprocess.run(cmd, shell=True, check=False, capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert "Traceback" not in r.stderr and r.stdout.startswith("Model")


# ---------------------------------------------------------------- inspect

def test_inspect_text(capsys, quantized_model):
    code, out, err = run_main(capsys, "inspect", quantized_model)
    assert code == 0 and err == ""
    size = quantized_model.stat().st_size
    assert f"{size:,} bytes" in out
    assert "cli test model" in out and "Version      3" in out
    assert "[1, 6] sig [-1, 6]" in out           # shape and shape signature
    assert "INT8" in out and "0.05 zp 3" in out
    assert "FULLY_CONNECTED" in out and "NotARealOp" in out
    assert "'classify' (subgraph 0)" in out and "x -> tensor 0" in out
    assert "min_runtime_version" in out and "2.3.0" in out
    assert "Parameters 24 in 24 B" in out
    # Aligned columns: each table's header and separator line up.
    lines = out.splitlines()
    k = next(i for i, line in enumerate(lines) if line.split()[:3] == ["op", "version", "count"])
    header, rule, row = lines[k], lines[k + 1], lines[k + 2]
    assert len(header) == len(rule) == len(row)      # numbers right-aligned under "count"
    assert row.split()[0] in ("FULLY_CONNECTED", "RELU", "NotARealOp")


def test_inspect_tensors_shows_per_channel(capsys, quantized_model):
    code, out, _ = run_main(capsys, "inspect", "--tensors", quantized_model)
    assert code == 0
    assert "per-channel (4) on dim 0" in out
    assert "Tensors" in out and "'w'" not in out and " w " in out


def test_inspect_ops_lists_every_node(capsys, quantized_model):
    code, out, _ = run_main(capsys, "inspect", "--ops", quantized_model)
    assert code == 0
    assert "0 1 -1 -> 2" in out and "2 -> 3" in out and "3 -> 4" in out


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_inspect_every_fixture(capsys, path):
    code, out, err = run_main(capsys, "inspect", "--ops", "--tensors", path)
    assert code == 0 and err == ""
    model = edgelite.load_model(path)
    for si, sg in enumerate(model.subgraphs):
        assert f"Subgraph {si}" in out
        for i in sg.inputs + sg.outputs:
            assert sg.tensors[i].name in out
        for op in sg.operators:
            assert model.op_name(op) in out


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_inspect_json_every_fixture(capsys, path):
    code, out, _ = run_main(capsys, "inspect", "--json", path)
    assert code == 0
    s = json.loads(out)
    model = edgelite.load_model(path)
    assert s["file_size"] == path.stat().st_size
    assert s["version"] == model.version and s["num_subgraphs"] == len(model.subgraphs)
    for sg_json, sg in zip(s["subgraphs"], model.subgraphs):
        assert [t["index"] for t in sg_json["inputs"]] == sg.inputs
        assert [t["shape"] for t in sg_json["outputs"]] == [list(sg.tensors[i].shape)
                                                             for i in sg.outputs]
        assert sum(h["count"] for h in sg_json["op_histogram"]) == len(sg.operators)
        assert len(sg_json["operators"]) == len(sg.operators)
        assert len(sg_json["tensors"]) == len(sg.tensors)
    assert [sd["key"] for sd in s["signatures"]] == [sd.key for sd in model.signature_defs]
    constant_bytes = {t.buffer: model.buffers[t.buffer].nbytes for sg in model.subgraphs
                      for t in sg.tensors if t.buffer > 0}
    assert s["parameters"]["total_bytes"] == sum(constant_bytes.values())


def test_inspect_json_quantization(capsys):
    _, out, _ = run_main(capsys, "inspect", "--json", fixture("cnn_int8"))
    s = json.loads(out)
    inputs = s["subgraphs"][0]["inputs"]
    assert inputs[0]["dtype"] == "INT8" and len(inputs[0]["quantization"]["scale"]) == 1
    per_channel = [t for t in s["subgraphs"][0]["tensors"]
                   if t["quantization"] and len(t["quantization"]["scale"]) > 1]
    assert per_channel, "cnn_int8 has per-channel weights"
    assert "INT8" in {e["dtype"] for e in s["parameters"]["by_dtype"]}


def test_inspect_multi_signature_and_while(capsys):
    _, out, _ = run_main(capsys, "inspect", fixture("multi_signature"))
    model = edgelite.load_model(fixture("multi_signature"))
    for sd in model.signature_defs:
        assert repr(sd.key) in out
    _, out, _ = run_main(capsys, "inspect", fixture("while_loop"))
    assert "WHILE" in out and "Subgraph 2" in out


METADATA_EXAMPLE = pathlib.Path(__file__).parents[1] / "fixtures" / "extra" / "metadata_example.tflite"


def test_inspect_decodes_tflite_metadata(capsys):
    code, out, _ = run_main(capsys, "inspect", METADATA_EXAMPLE)
    assert code == 0
    assert "TFLITE_METADATA" in out and "normalization: (x - [127.5]) / [127.5]" in out
    assert "labels.txt (TENSOR_AXIS_LABELS, 10 labels: airplane" in out
    code, out, _ = run_main(capsys, "inspect", "--json", METADATA_EXAMPLE)
    md = json.loads(out)["tflite_metadata"]
    assert md["name"].startswith("edgelite demo")
    outputs = md["subgraphs"][0]["outputs"]
    assert outputs[0]["files"][0]["labels"] == 10


# ---------------------------------------------------------------- ops

def test_ops_lists_pairs_and_support(capsys, quantized_model):
    code, out, _ = run_main(capsys, "ops", quantized_model)
    assert code == 0
    assert "FULLY_CONNECTED" in out and "NotARealOp" in out
    assert "custom op, not registered" in out
    code, out, _ = run_main(capsys, "ops", "--json", quantized_model)
    rows = {(r["op"], r["version"]): r for r in json.loads(out)}
    assert set(rows) == {("FULLY_CONNECTED", 5), ("RELU", 2), ("NotARealOp", 1)}
    assert rows[("NotARealOp", 1)]["supported"] is False and rows[("NotARealOp", 1)]["custom"]
    from edgelite.kernels.registry import supported_ops
    ops = supported_ops()
    for (name, version), r in rows.items():
        if not r["custom"]:
            lo, hi = ops.get(name, (1, 0))
            assert r["supported"] == (lo <= version <= hi)


def test_ops_marks_unsupported_versions(capsys, tmp_path):
    b = ModelBuilder()
    x = b.add_input("x", (2,), np.float32)
    y = b.add_tensor("y", (2,), np.float32)
    b.add_op("RELU", [x], [y], version=99)
    b.add_output(y)
    p = tmp_path / "v99.tflite"
    p.write_bytes(b.to_bytes())
    code, out, _ = run_main(capsys, "ops", p)
    assert code == 0
    row = next(line for line in out.splitlines() if line.split()[:1] == ["RELU"])
    assert row.split()[1:4] == ["99", "1", "NO"]


def _import(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"resolver_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["cnn_int8", "transformer_float32", "while_loop"])
def test_write_resolver(tmp_path, name):
    path = fixture(name)
    out = tmp_path / f"{name}_resolver.py"
    r = run_cli("ops", path, "--write-resolver", out)
    assert r.returncode == 0 and f"wrote {out}" in r.stdout
    module = _import(out)
    model = edgelite.load_model(path)
    needed = {(model.op_code(op).name, model.op_code(op).version)
              for sg in model.subgraphs for op in sg.operators}
    assert set(module.OPS) == needed
    resolver = module.make_resolver()
    from edgelite.kernels.registry import supported_ops
    ops = supported_ops()
    for code in model.operator_codes:
        cls, why = resolver.find(code)
        lo, hi = ops.get(code.name, (1, 0))
        if lo <= code.version <= hi:
            assert cls is not None, why
    # Anything the model does not use is refused.
    unused = next(n for n in ops if n not in module.BUILTIN_OPS)
    cls, why = resolver.find(ir.OperatorCode(builtin_code=ir.OP_CODES[unused], version=1))
    assert cls is None and "selection" in why


def test_written_resolver_is_ruff_clean_python(tmp_path, capsys):
    out = tmp_path / "r.py"
    code, _, _ = run_main(capsys, "ops", fixture("cnn_int8"), "--write-resolver", out)
    assert code == 0
    compile(out.read_text(), str(out), "exec")


# ---------------------------------------------------------------- demo

def test_bundled_demo_models_are_small_and_valid():
    data = cli.DEMO_MODEL.parent
    assert sum(f.stat().st_size for f in data.iterdir() if f.is_file()) < 300 * 1024
    for name in ("digits_float32", "digits_int8"):
        model = edgelite.load_model(data / f"{name}.tflite")
        assert model.metadata_bytes("TFLITE_METADATA")


def test_demo_runs_through_the_cli():
    r = run_cli("demo")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "accuracy" in r.stdout and "digits_int8.tflite" in r.stdout


def test_demo_model_matches_litert():
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    x = np.random.default_rng(0).random((1, 8, 8, 1)).astype(np.float32)
    ref = litert.Interpreter(model_path=str(cli.DEMO_MODEL))
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], x)
    ref.invoke()
    want = ref.get_tensor(ref.get_output_details()[0]["index"])
    it = edgelite.Interpreter(model_path=str(cli.DEMO_MODEL))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_inspect_report_writes_html(tmp_path, capsys):
    out = tmp_path / "r.html"
    code, _, _ = run_main(capsys, "inspect", cli.DEMO_MODEL, "--report", str(out))
    assert code == 0
    html = out.read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html


# ---------------------------------------------------------------- extending the CLI

def test_a_new_subcommand_plugs_in(capsys, monkeypatch):
    def add_hello_command(subparsers):
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("name")
        p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)

    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, add_hello_command])
    code, out, _ = run_main(capsys, "hello", "world")
    assert code == 0 and out == "hello world\n"
    assert "hello" in cli.build_parser().format_help()
