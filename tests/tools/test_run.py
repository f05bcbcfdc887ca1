"""`edgelite run`: inputs from files, images and random data; outputs, labels, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.format.builder import ModelBuilder
from edgelite.format.writer import save_model
from edgelite.tools import common
from edgelite.tools import run as run_tool
from tests.tools.tool_util import (
    FIXTURES,
    FLOAT_MODEL,
    INT8_MODEL,
    SAMPLES,
    assert_user_error,
    call,
    run_module,
)


@pytest.fixture(scope="module")
def samples():
    with np.load(SAMPLES) as z:
        return z["images"].astype(np.float32), z["labels"]


@pytest.fixture
def digit(tmp_path, samples):
    path = tmp_path / "digit.npy"
    np.save(path, samples[0][0])          # [8, 8, 1]: the batch dimension is added
    return str(path), str(samples[1][0])


def run_json(capsys, *argv) -> dict:
    code, out, err = call(run_tool, [*argv, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_random_inputs_text_output(capsys):
    code, out, err = call(run_tool, [FLOAT_MODEL, "--top-k", "3"], capsys)
    assert code == 0, err
    assert "StatefulPartitionedCall_1:0  [1, 10]  float32" in out
    assert "random (seed 0)" in out
    for word in ("min", "max", "mean", "std", "top 3:"):
        assert word in out


def test_json_stats_and_top_k(capsys, digit):
    path, label = digit
    r = run_json(capsys, FLOAT_MODEL, "--input", f"image={path}", "--top-k", "4")
    (o,) = r["outputs"]
    assert o["shape"] == [1, 10] and o["dtype"] == "float32"
    assert 0 <= o["min"] <= o["mean"] <= o["max"] <= 1
    (row,) = o["top_k"]
    assert len(row) == 4
    assert row[0]["label"] == label
    assert [e["score"] for e in row] == sorted((e["score"] for e in row), reverse=True)
    assert r["inputs"][0]["source"] == path


def test_int8_model_quantizes_float_input_and_dequantizes_scores(capsys, digit):
    path, label = digit
    code, out, err = call(run_tool, [INT8_MODEL, "--input", f"image={path}", "--json"], capsys)
    assert code == 0, err
    assert "quantizing float32 values" in err
    (o,) = json.loads(out)["outputs"]
    assert o["dtype"] == "int8"
    assert o["quantization"]["scale"] == pytest.approx(1 / 256)
    assert 0 <= o["dequantized"]["min"] and o["dequantized"]["max"] <= 1
    top = o["top_k"][0]
    assert top[0]["label"] == label
    assert 0.5 < top[0]["score"] <= 1.0          # dequantized, not the raw int8 value


@pytest.mark.parametrize("key", ["image", "input_0", "serving_default_image:0"])
def test_npz_keys(capsys, tmp_path, samples, key):
    path = tmp_path / "in.npz"
    np.savez(path, **{key: samples[0][:1]})
    r = run_json(capsys, FLOAT_MODEL, "--input", str(path))
    assert r["outputs"][0]["top_k"][0][0]["label"] == str(samples[1][0])


def test_npz_member_with_dynamic_batch(capsys, samples):
    r = run_json(capsys, INT8_MODEL, "--input", f"image={SAMPLES}:images", "--top-k", "1")
    (o,) = r["outputs"]
    assert o["shape"] == [50, 10]
    predicted = [int(row[0]["label"]) for row in o["top_k"]]
    assert np.mean(np.asarray(predicted) == samples[1]) >= 0.9


def test_batch_top_k_text_is_compact(capsys):
    code, out, _ = call(run_tool, [FLOAT_MODEL, "--input", f"image={SAMPLES}:images"], capsys)
    assert code == 0
    assert "top 5 per batch row:" in out
    assert "42 more rows" in out


def test_output_npz_and_signature_names(capsys, tmp_path, digit):
    path, _ = digit
    out_path = tmp_path / "out.npz"
    r = run_json(capsys, FLOAT_MODEL, "--signature", "serving_default", "--input",
                 f"image={path}", "--output", str(out_path))
    assert r["outputs"][0]["name"] == "output_0"
    with np.load(out_path) as z:
        assert z.files == ["output_0"]
        assert z["output_0"].shape == (1, 10)


def test_seed_controls_random_inputs(capsys):
    a = run_json(capsys, FLOAT_MODEL, "--seed", "1")["outputs"][0]
    b = run_json(capsys, FLOAT_MODEL, "--seed", "1")["outputs"][0]
    c = run_json(capsys, FLOAT_MODEL, "--seed", "2")["outputs"][0]
    assert a["mean"] == b["mean"] and a["std"] == b["std"]
    assert a["std"] != c["std"]


def test_random_inputs_match_dtype_and_quantization():
    rng = np.random.default_rng(0)
    q = {"quantization_parameters": {"scales": np.array([0.1], np.float32),
                                     "zero_points": np.array([3])}}
    slot = common.Slot("x", 0, {"name": "x", "shape": np.array([1000]), "dtype": np.int8, **q})
    x = common.random_input(slot, rng)
    assert x.dtype == np.int8 and x.min() < -100 and x.max() > 100
    plain = common.Slot("i", 0, {"name": "i", "shape": np.array([100]), "dtype": np.int32})
    ids = common.random_input(plain, rng)
    assert ids.dtype == np.int32 and 0 <= ids.min() and ids.max() < 10
    f = common.Slot("f", 0, {"name": "f", "shape": np.array([2, 3]), "dtype": np.float32})
    assert common.random_input(f, rng).dtype == np.float32


def test_multi_signature_model(capsys, tmp_path):
    model = str(FIXTURES / "multi_signature.tflite")
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.ones((1, 4), np.float32), y=np.full((1, 4), 2, np.float32))
    r = run_json(capsys, model, "--signature", "mul", "--input", str(path))
    (o,) = r["outputs"]
    from edgelite import Interpreter
    want = Interpreter(model_path=model).get_signature_runner("mul")(
        x=np.ones((1, 4), np.float32), y=np.full((1, 4), 2, np.float32))["product"]
    assert o["name"] == "product" and o["shape"] == [1, 4]
    assert (o["min"], o["max"], o["mean"]) == pytest.approx((want.min(), want.max(), want.mean()))


def test_model_with_two_inputs_needs_names(capsys, tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((1, 6, 8), np.float32))
    code, _, err = call(run_tool, [str(FIXTURES / "mixed_ops_float32.tflite"), "--input",
                                   str(path)], capsys)
    assert_user_error(code, err, "2 inputs", "--input NAME=")
    code, _, err = call(run_tool, [str(FIXTURES / "mixed_ops_float32.tflite"), "--input",
                                   f"seq={path}"], capsys)
    assert code == 0, err


# ---------------------------------------------------------------- mistakes

def test_missing_model(capsys, tmp_path):
    code, _, err = call(run_tool, [tmp_path / "nope.tflite"], capsys)
    assert_user_error(code, err, "model file not found")


def test_not_a_model(capsys, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer at all")
    code, _, err = call(run_tool, [bad], capsys)
    assert_user_error(code, err)


def test_missing_input_file(capsys, tmp_path):
    code, _, err = call(run_tool, [FLOAT_MODEL, "--input", f"image={tmp_path / 'x.npy'}"],
                        capsys)
    assert_user_error(code, err, "input file not found")


def test_bad_input_shape(capsys, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((3, 3), np.float32))
    code, _, err = call(run_tool, [FLOAT_MODEL, "--input", f"image={path}"], capsys)
    assert_user_error(code, err, "needs shape [1, 8, 8, 1]", "got [3, 3]")


@pytest.mark.parametrize("model,value", [(FLOAT_MODEL, np.zeros((1, 8, 8, 1), np.complex64)),
                                         (INT8_MODEL, np.full((1, 8, 8, 1), 1000, np.int64))])
def test_bad_input_dtype(capsys, tmp_path, model, value):
    path = tmp_path / "x.npy"
    np.save(path, value)
    code, _, err = call(run_tool, [model, "--input", f"image={path}"], capsys)
    assert_user_error(code, err, "needs", "data, got")


def test_unknown_input_name(capsys, digit):
    code, _, err = call(run_tool, [FLOAT_MODEL, "--input", f"pixels={digit[0]}"], capsys)
    assert_user_error(code, err, "no input 'pixels'", "serving_default_image:0")


def test_unknown_signature(capsys):
    code, _, err = call(run_tool, [FLOAT_MODEL, "--signature", "nope"], capsys)
    assert_user_error(code, err, "unknown signature 'nope'", "serving_default")


def test_unknown_file_type(capsys, tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("1 2 3")
    code, _, err = call(run_tool, [FLOAT_MODEL, "--input", f"image={path}"], capsys)
    assert_user_error(code, err, "unknown input file type")


def test_negative_top_k(capsys):
    code, _, err = call(run_tool, [FLOAT_MODEL, "--top-k", "-1"], capsys)
    assert_user_error(code, err, "--top-k")


def test_unsupported_op_is_a_clear_error(capsys, tmp_path):
    b = ModelBuilder()
    x = b.add_input("x", [1, 4])
    y = b.add_tensor("y", [1, 4])
    b.add_custom_op("NoSuchOp", [x], [y])
    b.add_output(y)
    path = tmp_path / "custom.tflite"
    save_model(b.build(), str(path))
    code, _, err = call(run_tool, [path], capsys)
    assert_user_error(code, err, "NoSuchOp")


def test_image_input(capsys, tmp_path, samples):
    path = tmp_path / "digit.png"
    if not common.have_pillow():
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
        code, _, err = call(run_tool, [FLOAT_MODEL, "--input", str(path)], capsys)
        assert_user_error(code, err, "needs Pillow", "pip install pillow")
        return
    from PIL import Image
    pixels = (samples[0][0, :, :, 0] * 255).round().astype(np.uint8)
    Image.fromarray(pixels).resize((32, 32)).save(path)
    code, out, err = call(run_tool, [FLOAT_MODEL, "--input", str(path), "--json"], capsys)
    assert code == 0, err
    assert "scaling pixels to [0, 1]" in err
    assert json.loads(out)["outputs"][0]["top_k"][0][0]["label"] == str(samples[1][0])


# ---------------------------------------------------------------- as a module

def test_module_entry_point_and_usage_error():
    ok = run_module("run", FLOAT_MODEL, "--top-k", "1")
    assert ok.returncode == 0, ok.stderr
    assert "top 1:" in ok.stdout
    usage = run_module("run")
    assert usage.returncode == 2
    assert "usage:" in usage.stderr and "Traceback" not in usage.stderr
    missing = run_module("run", "missing.tflite")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "edgelite: error: model file not found: missing.tflite"


def test_help_describes_inputs():
    r = run_module("run", "--help")
    assert r.returncode == 0
    for word in ("--input", "Pillow", "--mean", "--signature", "--top-k", "--json", "--output",
                 "--seed"):
        assert word in r.stdout


def _numba_loaded_by_run(*flags, env_extra=None) -> bool:
    """Whether `edgelite run` on the keyword-spotting fixture (nodes big enough for the
    compiled tier) imports numba, in a fresh process."""
    import os
    code = ("import sys; from edgelite.tools import run; "
            f"code = run.main([{str(FIXTURES / 'kws_int8.tflite')!r}, '--json', *{list(flags)!r}]); "
            "print('NUMBA' if 'numba' in sys.modules else 'NO-NUMBA', code)")
    env = {k: v for k, v in os.environ.items() if k != "EDGELITE_COMPILED"}
    env.update(env_extra or {})
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       check=True, timeout=300)
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0"), r.stdout + r.stderr
    return last.startswith("NUMBA")


def test_run_starts_on_the_numpy_tier_unless_asked():
    """One invoke never pays numba's ~0.45 s start back: `run` prepares on the numpy
    tier; --compiled or EDGELITE_COMPILED=1 asks for the compiled one."""
    import importlib.util
    have_numba = importlib.util.find_spec("numba") is not None
    assert not _numba_loaded_by_run()
    assert _numba_loaded_by_run("--compiled") == have_numba
    assert _numba_loaded_by_run(env_extra={"EDGELITE_COMPILED": "1"}) == have_numba
