"""The HTML report: its sections, self-containment, and that it parses."""
from __future__ import annotations

import html.parser
import re

import numpy as np
import pytest

from edgelite import Interpreter, load_model
from edgelite.format.builder import ModelBuilder
from edgelite.tools import common
from edgelite.tools.report import render_model_report
from tests.tools.tool_util import FIXTURES, FLOAT_MODEL, INT8_MODEL

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source",
        "track", "wbr"}


class Checker(html.parser.HTMLParser):
    """Collects ids, classes and checks that every element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.count: dict[str, int] = {}
        self.errors: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for cls in (a.get("class") or "").split():
            self.count[cls] = self.count.get(cls, 0) + 1
        self.count[tag] = self.count.get(tag, 0) + 1
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.urls.append(a[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def check(text: str) -> Checker:
    c = Checker()
    c.feed(text)
    c.close()
    assert not c.errors, c.errors[:5]
    assert not c.stack, c.stack
    assert "http://" not in text and "https://" not in text
    assert not c.urls, c.urls               # no external files of any kind
    assert text.startswith("<!DOCTYPE html>")
    return c


@pytest.fixture(scope="module")
def profiled():
    interp = Interpreter(model_path=FLOAT_MODEL)
    interp.allocate_tensors()
    profiler = interp.enable_profiling()
    x = np.random.default_rng(0).random((1, 8, 8, 1), np.float32)
    for _ in range(3):
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
    mem = dict(interp.memory_report())
    mem["buffers"] = common.arena_buffers(interp)
    return interp, profiler, mem


def test_sections_without_profile_or_memory():
    model = load_model(FLOAT_MODEL)
    c = check(render_model_report(model))
    assert {"summary", "graph", "op-chart", "memory-timeline"} <= c.ids
    assert "profile" not in c.ids
    assert c.count["op"] == len(model.subgraphs[0].operators)     # one graph node per operator
    assert c.count["svg"] >= 3                                      # graph, chart, timeline
    assert c.count.get("buf", 0) > 0                                # arena planned on the fly
    assert c.count["edge"] >= len(model.subgraphs[0].operators)


def test_with_profiler_and_memory(profiled):
    interp, profiler, mem = profiled
    text = render_model_report(interp.model, profile=profiler, memory=mem)
    c = check(text)
    assert {"graph", "op-chart", "memory-timeline", "profile"} <= c.ids
    for words in ("Run Order", "Top by Computation Time", "Summary by node type"):
        assert words in text
    assert c.count["buf"] == len(mem["buffers"])       # one rectangle per arena buffer
    assert c.count["bar"] >= 2 * 9                     # per op type and per node
    # Nodes are coloured by time: the slowest one gets the darkest heat colour.
    assert "#993404" in text
    for b in mem["buffers"]:
        assert f"{b['bytes']} bytes at offset {b['offset']}" in text


def test_memory_rectangles_follow_the_plan(profiled):
    interp, _, mem = profiled
    text = render_model_report(interp.model, memory=mem)
    rects = re.findall(r'<rect class="buf[^"]*"(?: data-t="\d+")? x="([\d.]+)" y="([\d.]+)" '
                       r'width="([\d.]+)" height="([\d.]+)"', text)
    assert len(rects) == len(mem["buffers"])
    # y grows with the planned offset; x with the first step.
    by_offset = sorted(zip(mem["buffers"], rects), key=lambda br: br[0]["offset"])
    ys = [float(r[1]) for _, r in by_offset]
    assert ys == sorted(ys)
    by_first = sorted(zip(mem["buffers"], rects), key=lambda br: br[0]["first"])
    xs = [float(r[0]) for _, r in by_first]
    assert xs == sorted(xs)


def test_profile_as_rows_and_benchmark_summary(profiled):
    interp, profiler, mem = profiled
    rows = {"per_node": profiler.per_node(), "per_op_type": profiler.per_op_type()}
    bench = {"init_us": 1000.0, "first_inference_us": 500.0,
             "warmup": {"avg": 400.0}, "inference": {"count": 10, "avg": 300.0, "std": 1.0,
                                                    "min": 290.0, "max": 320.0, "p50": 300.0,
                                                    "p90": 310.0, "p99": 319.0},
             "memory": {}}
    text = render_model_report(interp.model, profile=rows, memory=mem, benchmark=bench,
                               title="my <model>")
    check(text)
    assert ("Inference timings in us: Init: 1000, First inference: 500, Warmup (avg): 400, "
            "Inference (avg): 300") in text
    assert "<title>my &lt;model&gt;</title>" in text


def test_int8_and_branching_graph():
    model = load_model(str(FIXTURES / "transformer_int8.tflite"))
    text = render_model_report(model)
    c = check(text)
    assert c.count["op"] == len(model.subgraphs[0].operators)
    # Q, K and V projections sit side by side in one layer: the graph is wider than one node.
    width = int(re.search(r'<svg class="graph" width="(\d+)"', text).group(1))
    assert width > 3 * 190
    check(render_model_report(load_model(INT8_MODEL)))


def test_names_are_escaped():
    model = load_model(FLOAT_MODEL)
    model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].name = '<script>alert("x")</script>'
    text = render_model_report(model)
    check(text)
    assert '<script>alert("x")' not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)" in text


def test_unplannable_model_still_renders():
    b = ModelBuilder()
    x = b.add_input("x", [1, 4])
    y = b.add_tensor("y", [1, 4])
    b.add_custom_op("NoSuchOp", [x], [y])
    b.add_output(y)
    text = render_model_report(b.build())
    c = check(text)
    assert {"graph", "op-chart", "memory-timeline"} <= c.ids
    assert "No memory plan" in text and "NoSuchOp" in text


def test_empty_arena():
    b = ModelBuilder()
    x = b.add_input("x", [1, 4])
    b.add_output(x)
    c = check(render_model_report(b.build(), memory={"arena_bytes": 0, "buffers": []}))
    assert "memory-timeline" in c.ids
