"""`edgelite benchmark`: benchmark_model's words, statistics, profiling tables, errors.

Only the shape of the output is tested, never the timings themselves.
"""
from __future__ import annotations

import io
import json
import re
import sys

import pytest

from edgelite.tools import benchmark
from tests.tools.tool_util import (
    FIXTURES,
    FLOAT_MODEL,
    INT8_MODEL,
    assert_user_error,
    call,
    run_module,
)

QUICK = ["--num_runs", "3", "--min_secs", "0", "--warmup_min_secs", "0"]


def bench_json(capsys, *argv) -> dict:
    code, out, err = call(benchmark, [*argv, *QUICK, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_benchmark_model_words(capsys):
    code, out, err = call(benchmark, [FLOAT_MODEL, *QUICK], capsys)
    assert code == 0, err
    m = re.search(r"Inference timings in us: Init: (\d+), First inference: (\d+), "
                  r"Warmup \(avg\): (\d+), Inference \(avg\): (\d+)", out)
    assert m, out
    assert re.search(r"count=\d+ first=\d+ curr=\d+ min=\d+ max=\d+ avg=\d+ std=\d+ "
                     r"p50=\d+ p90=\d+ p99=\d+", out)
    assert "Initialized session in" in out
    assert "Running benchmark for at least 3 iterations" in out
    assert "Memory footprint delta from the start of the tool (MB): init=" in out
    assert "lower bound" in out and "persistent" in out
    assert "Run Order" not in out


def test_json_statistics(capsys):
    r = bench_json(capsys, FLOAT_MODEL)
    s = r["inference"]
    assert s["count"] >= 3
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert s["min"] <= s["avg"] <= s["max"]
    assert r["init_us"] > 0 and r["first_inference_us"] > 0
    assert r["warmup"]["count"] >= 1
    mem = r["memory"]
    assert mem["arena_bytes"] >= mem["lower_bound_bytes"] > 0
    assert mem["persistent_bytes"] == 0
    if sys.platform.startswith("linux"):
        assert mem["overall_peak_delta_mb"] >= 0


def test_run_counts_follow_num_runs_and_min_secs(capsys):
    code, out, err = call(benchmark, [FLOAT_MODEL, "--num_runs", "7", "--min_secs", "0",
                                      "--warmup_runs", "2", "--warmup_min_secs", "0", "--json"],
                          capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["inference"]["count"] == 7 and r["warmup"]["count"] == 2
    r = bench_json(capsys, FLOAT_MODEL, "--min_secs", "0.2")
    assert r["inference"]["count"] >= 3


def test_op_profiling_tables(capsys):
    code, out, err = call(benchmark, [INT8_MODEL, *QUICK, "--enable_op_profiling"], capsys)
    assert code == 0, err
    for title in ("Run Order", "Top by Computation Time", "Summary by node type"):
        assert f"============================== {title} ==============================" in out
    assert "[node type]" in out and "[avg ms]" in out and "[cdf%]" in out
    summary = out.split("Summary by node type")[1]
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "MAX_POOL_2D"):
        assert op in summary
    assert "[1x8x8x16]" in out          # output shapes in the node tables


def test_profile_json_is_consistent(capsys):
    r = bench_json(capsys, FLOAT_MODEL, "--enable_op_profiling")
    prof = r["profile"]
    nodes = prof["per_node"]
    assert [n["node"] for n in nodes] == list(range(11))
    assert sum(n["percent"] for n in nodes) == pytest.approx(100)
    assert nodes[-1]["cdf_percent"] == pytest.approx(100)
    types = prof["per_op_type"]
    assert [t["avg_ms"] for t in types] == sorted((t["avg_ms"] for t in types), reverse=True)
    assert types[-1]["cumulative_percent"] == pytest.approx(100)
    conv = next(t for t in types if t["op"] == "CONV_2D")
    assert conv["nodes"] == 2
    assert all(n["count"] == r["inference"]["count"] for n in nodes)


def test_report_is_written(capsys, tmp_path):
    path = tmp_path / "report.html"
    code, out, err = call(benchmark, [FLOAT_MODEL, *QUICK, "--enable_op_profiling",
                                      "--report", path], capsys)
    assert code == 0, err
    assert f"Report written to {path}" in out
    text = path.read_text()
    for section in ('id="graph"', 'id="op-chart"', 'id="memory-timeline"', 'id="profile"'):
        assert section in text
    assert "Inference timings in us" in text


def test_graph_flag_and_signature(capsys):
    r = bench_json(capsys, "--graph", FLOAT_MODEL, "--signature", "serving_default")
    assert r["model"] == FLOAT_MODEL


def test_multi_input_model_with_dynamic_ops(capsys):
    r = bench_json(capsys, str(FIXTURES / "mixed_ops_float32.tflite"), "--enable_op_profiling")
    assert len(r["inputs"]) == 2
    assert r["profile"]["per_node"]


def test_compare_litert(capsys):
    pytest.importorskip("ai_edge_litert.interpreter")
    code, out, err = call(benchmark, [FLOAT_MODEL, *QUICK, "--compare-litert", "--json"],
                          capsys)
    assert code == 0, err
    c = json.loads(out)["compare_litert"]
    assert c["runs"] >= 3 and c["ratio"] > 0
    (o,) = c["outputs"]
    assert o["unit"] == "absolute" and o["max_abs_diff"] < 1e-4
    code, out, err = call(benchmark, [INT8_MODEL, *QUICK, "--compare-litert"], capsys)
    assert code == 0, err
    assert "edgelite / LiteRT latency ratio" in out
    assert "(quantized steps)" in out


def test_compare_litert_not_installed(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    code, out, err = call(benchmark, [FLOAT_MODEL, *QUICK, "--compare-litert"], capsys)
    assert_user_error(code, err, "ai_edge_litert", "not installed", "pip install ai-edge-litert")
    assert out == ""          # it fails before benchmarking


def test_progress_bar_only_when_asked(capsys):
    code, _, err = call(benchmark, [FLOAT_MODEL, *QUICK, "--progress"], capsys)
    assert code == 0
    assert "benchmark [" in err and "runs" in err
    code, _, err = call(benchmark, [FLOAT_MODEL, *QUICK], capsys)
    assert code == 0
    assert "benchmark [" not in err       # stderr is not a terminal here


def test_progress_quiet_on_short_tty_runs():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    bar = benchmark.Progress("benchmark", 10, 0.0, forced=False, stream=stream)
    bar.update(5)
    bar.close()
    assert stream.getvalue() == ""        # under a second: no bar
    bar = benchmark.Progress("benchmark", 10, 0.0, forced=True, stream=stream)
    bar.update(5)
    bar.close()
    assert "[###############" in stream.getvalue()


def test_latency_stats():
    s = benchmark.latency_stats([0.001, 0.002, 0.003, 0.004])
    assert s["count"] == 4 and s["first"] == pytest.approx(1000) and s["curr"] == 4000
    assert s["avg"] == pytest.approx(2500) and s["p50"] == pytest.approx(2500)
    assert benchmark.stats_line(s).startswith("count=4 first=1000 curr=4000 min=1000 max=4000")


# ---------------------------------------------------------------- mistakes

def test_missing_model(capsys, tmp_path):
    code, _, err = call(benchmark, [tmp_path / "nope.tflite", *QUICK], capsys)
    assert_user_error(code, err, "model file not found")


@pytest.mark.parametrize("flags,words", [
    (["--num_runs", "0"], "--num_runs must be >= 1"),
    (["--warmup_runs", "0"], "--warmup_runs must be >= 1"),
    (["--min_secs", "-1"], "--min_secs"),
    (["--max_secs", "nan"], "--max_secs"),
    (["--num_threads", "0"], "--num_threads"),
    (["--signature", "nope"], "unknown signature"),
])
def test_bad_values(capsys, flags, words):
    code, _, err = call(benchmark, [FLOAT_MODEL, *flags], capsys)
    assert_user_error(code, err, words)


def test_unwritable_report(capsys, tmp_path):
    code, _, err = call(benchmark, [FLOAT_MODEL, *QUICK, "--report",
                                    tmp_path / "no" / "such" / "dir" / "r.html"], capsys)
    assert_user_error(code, err, "cannot write")


def test_usage_errors_exit_2(capsys):
    code, _, err = call(benchmark, [], capsys)
    assert code == 2 and "no model given" in err
    with pytest.raises(SystemExit) as e:
        call(benchmark, [FLOAT_MODEL, "--num_runs", "many"], capsys)
    assert e.value.code == 2


def test_module_entry_point():
    r = run_module("benchmark", FLOAT_MODEL, *QUICK)
    assert r.returncode == 0, r.stderr
    assert "Inference timings in us: Init: " in r.stdout
    r = run_module("benchmark", "--help")
    assert r.returncode == 0
    for flag in ("--num_runs", "--min_secs", "--warmup_runs", "--num_threads",
                 "--enable_op_profiling", "--compare-litert", "--json", "--report",
                 "--progress"):
        assert flag in r.stdout


def test_profile_shows_nodes_inside_control_flow(capsys):
    """LiteRT's op profile shows a WHILE as one opaque row; edgelite also shows the nodes
    of its cond and body subgraphs, per execution and as a share of the invoke, without
    counting their time twice."""
    r = bench_json(capsys, str(FIXTURES / "while_loop.tflite"), "--enable_op_profiling")
    prof = r["profile"]
    top = [n for n in prof["per_node"] if not n["nested"]]
    nested = [n for n in prof["per_node"] if n["nested"]]
    assert [n["op"] for n in top] == ["WHILE"]
    assert {n["subgraph"] for n in nested} == {1, 2}
    assert {"FULLY_CONNECTED", "TANH", "LOGICAL_AND"} <= {n["op"] for n in nested}
    invokes = prof["invokes"]
    assert top[0]["count"] == invokes
    # per invoke the cond runs once more than the body (the last test ends the loop)
    cond = {n["count"] for n in nested if n["subgraph"] == 1}
    body = {n["count"] for n in nested if n["subgraph"] == 2}
    assert len(cond) == len(body) == 1
    assert cond.pop() == body.pop() + invokes
    assert sum(n["percent"] for n in top) == pytest.approx(100)
    assert sum(n["percent"] for n in nested) < 100      # inside the WHILE's time
    assert [t["op"] for t in prof["per_op_type"]] == ["WHILE"]
    code, out, err = call(benchmark, [str(FIXTURES / "while_loop.tflite"), *QUICK,
                                      "--enable_op_profiling"], capsys)
    assert code == 0, err
    assert re.search(r"\s2:1\s+FULLY_CONNECTED", out)
    assert "ran inside a control-flow node" in out
