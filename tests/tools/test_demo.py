"""`edgelite demo`: the bundled digits models classify the bundled samples."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

from edgelite.tools import common, demo
from tests.tools.tool_util import ROOT, assert_user_error, call, run_module


def test_demo_output(capsys):
    code, out, err = call(demo, [], capsys)
    assert code == 0, err
    assert "digits_float32.tflite" in out and "digits_int8.tflite" in out
    # LiteRT scores both bundled models 48/50; edgelite must agree.
    assert out.count("48/50 96%") == 2
    assert out.count(" ms  ") >= 2
    assert "top 3 ops by time" in out
    assert "Try next:" in out
    commands = [line.strip() for line in out.splitlines() if line.startswith("  edgelite ")]
    assert [c.split()[1] for c in commands] == ["inspect", "run", "benchmark"]
    for c in commands:
        assert os.path.exists(shlex.split(c)[2])     # the bundled model paths are real


def test_demo_json(capsys):
    code, out, err = call(demo, ["--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    f32, i8 = r["models"]
    assert f32["input_dtype"] == "float32" and i8["input_dtype"] == "int8"
    assert f32["accuracy"] == i8["accuracy"] == 0.96
    for m in (f32, i8):
        assert len(m["top_ops"]) == 3
        assert m["median_ms"] > 0
        assert m["top_ops"][0]["percent"] >= m["top_ops"][1]["percent"] >= \
            m["top_ops"][2]["percent"]
    assert r["agreement"] >= 45


def test_suggested_run_command_works(capsys):
    from edgelite.tools import run as run_tool
    code, out, err = call(run_tool, [common.DATA_DIR + "/digits_float32.tflite", "--input",
                                     f"image={common.DATA_DIR}/digits_samples.npz:images",
                                     "--top-k", "3"], capsys)
    assert code == 0, err
    assert "top 3 per batch row:" in out


def test_missing_samples_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(common, "DATA_DIR", str(tmp_path))
    code, _, err = call(demo, [], capsys)
    assert_user_error(code, err, "bundled samples are missing")


def test_needs_neither_litert_nor_pillow():
    # Both are made unimportable: the demo must not need them.
    code = ("import sys; sys.modules['ai_edge_litert'] = None; sys.modules['PIL'] = None; "
            "from edgelite.tools import demo; rc = demo.main([]); "
            "assert rc == 0, rc; print('OK', sorted(m for m in sys.modules "
            "if m.startswith(('ai_edge_litert.', 'PIL.'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert "OK []" in r.stdout


def test_module_entry_point():
    r = run_module("demo")
    assert r.returncode == 0, r.stderr
    assert "96%" in r.stdout
    r = run_module("demo", "--help")
    assert r.returncode == 0 and "bundled" in r.stdout
    r = run_module("demo", "--bogus")
    assert r.returncode == 2
