"""Mutated and malformed model files: edgelite errors, never crashes or hangs.

Seeded mutations (byte flips, 0x00/0xFF overwrites, truncations, huge
lengths written over small words) of the fixture files and of builder-made
models. For every mutant, `edgelite.load_model` and, when it loads, an
Interpreter allocating and invoking on zero inputs, may only succeed or raise
an `edgelite.EdgeliteError`. Each case has a 5 s wall-clock guard.

The default run has >= 2000 cases; `-m slow` runs ten times more. Run this file
as a script to print the outcome table: `python tests/format/test_fuzz.py [N]`.
"""
from __future__ import annotations

import collections
import math
import os
import pathlib
import signal
import sys
import threading
import time
import zlib

import numpy as np
import pytest

import edgelite
from edgelite.errors import EdgeliteError, ModelError
from edgelite.format.builder import ModelBuilder
from edgelite.format.writer import to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FIXTURE_DIR = pathlib.Path(__file__).parents[1] / "fixtures" / "models"
DEFAULT_CASES = 2000
SLOW_CASES = 20000
CASE_SECONDS = 5.0
# Mutants may claim tensors of many GB; the interpreter must refuse them, not
# try (its limit is read when an Interpreter is made). The fixtures need well
# under 1 MB; 16 MB also keeps a mutant's valid-but-huge compute (a 32x55840
# image through a hybrid conv took 29 s) out of the 5 s guard.
ARENA_LIMIT = str(16 << 20)
HUGE_WORDS = (0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x10000000, 0x0000FFFF, 0x00010000)


# ---------------------------------------------------------------- sources

def _builder_sources() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    out = {}
    b = ModelBuilder("fuzz: conv + fc")
    x = b.add_input("x", (1, 6, 6, 2), np.float32)
    w = b.add_constant("w", rng.standard_normal((3, 3, 3, 2)).astype(np.float32))
    bias = b.add_constant("b", rng.standard_normal(3).astype(np.float32))
    y = b.add_tensor("y", (1, 3, 3, 3), np.float32)
    b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=2, stride_h=2,
             fused_activation_function="RELU")
    fw = b.add_constant("fw", rng.standard_normal((4, 27)).astype(np.float32))
    z = b.add_tensor("z", (1, 4), np.float32)
    b.add_op("FULLY_CONNECTED", [y, fw, -1], [z])
    b.add_output(z)
    b.add_signature("serving_default", {"x": x}, {"z": z})
    out["builder_conv_fc"] = b.to_bytes()

    b = ModelBuilder("fuzz: int8 depthwise")
    x = b.add_input("x", (1, 5, 5, 4), np.int8, quant=(0.1, 2))
    w = b.add_constant("w", rng.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8),
                       quant={"scale": [0.01, 0.02, 0.03, 0.04], "zero_point": [0] * 4,
                              "quantized_dimension": 3})
    bias = b.add_constant("b", rng.integers(-50, 50, 4).astype(np.int32),
                          quant={"scale": [0.001, 0.002, 0.003, 0.004], "zero_point": [0] * 4})
    y = b.add_tensor("y", (1, 5, 5, 4), np.int8, quant=(0.2, -3))
    b.add_op("DEPTHWISE_CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
             depth_multiplier=1, version=3)
    b.add_output(y)
    out["builder_int8_depthwise"] = b.to_bytes()

    b = ModelBuilder("fuzz: while")
    i0 = b.add_input("i", (), np.int32)
    i_out = b.add_tensor("i_out", (), np.int32)
    cond = b.add_subgraph("cond")
    ci = cond.add_input("i", (), np.int32)
    lim = cond.add_constant("limit", np.int32(4))
    flag = cond.add_tensor("flag", (), np.bool_)
    cond.add_op("LESS", [ci, lim], [flag])
    cond.add_output(flag)
    body = b.add_subgraph("body")
    bi = body.add_input("i", (), np.int32)
    one = body.add_constant("one", np.int32(1))
    bo = body.add_tensor("i2", (), np.int32)
    body.add_op("ADD", [bi, one], [bo])
    body.add_output(bo)
    b.add_op("WHILE", [i0], [i_out], cond_subgraph_index=1, body_subgraph_index=2)
    b.add_output(i_out)
    out["builder_while"] = b.to_bytes()
    return out


def _sources() -> dict[str, bytes]:
    out = {p.stem: p.read_bytes() for p in sorted(FIXTURE_DIR.glob("*.tflite"))}
    out.update(_builder_sources())
    return out


SOURCES = _sources()


# ---------------------------------------------------------------- mutations

def mutate(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    """One seeded mutation of `data` and a description of it."""
    buf = bytearray(data)
    n = len(buf)
    kind = int(rng.integers(4))
    if kind == 0:
        flips = []
        for _ in range(int(rng.integers(1, 9))):
            pos, mask = int(rng.integers(n)), int(rng.integers(1, 256))
            buf[pos] ^= mask
            flips.append(f"{pos}^{mask:#x}")
        return bytes(buf), "flip " + " ".join(flips)
    if kind == 1:
        start, length = int(rng.integers(n)), int(rng.integers(1, 65))
        fill = 0xFF if rng.integers(2) else 0x00
        end = min(n, start + length)
        buf[start:end] = bytes([fill]) * (end - start)
        return bytes(buf), f"fill [{start}, {end}) with {fill:#04x}"
    if kind == 2:
        cut = int(rng.integers(n))
        return bytes(buf[:cut]), f"truncate at {cut}"
    # A huge value over a 4-byte word; small words are likely lengths, offsets
    # or indices, so they are chosen three times in four.
    words = np.frombuffer(bytes(buf[: n // 4 * 4]), "<u4")
    small = np.flatnonzero(words < 4096)
    if small.size and rng.integers(4):
        pos = int(rng.choice(small)) * 4
    else:
        pos = int(rng.integers(n // 4)) * 4
    value = int(rng.choice(HUGE_WORDS)) if rng.integers(3) else int(rng.integers(2**31, 2**32))
    buf[pos:pos + 4] = value.to_bytes(4, "little")
    return bytes(buf), f"word at {pos} = {value:#x}"


# ---------------------------------------------------------------- one case

class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so no `except Exception` swallows it."""


class _Alarm:
    """SIGALRM after `seconds` (main thread on POSIX); elsewhere timing is checked after."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = hasattr(signal, "setitimer") and \
            threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.start = time.perf_counter()
        return self

    def _fire(self, *_):
        raise CaseTimeout

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        self.elapsed = time.perf_counter() - self.start
        return False


def _has_while(model) -> bool:
    return any(model.op_name(op) == "WHILE" for sg in model.subgraphs for op in sg.operators)


def run_case(data: bytes) -> str:
    """Outcome name: 'ran', an EdgeliteError class name, 'ModelError' ..., or
    'WHILE timeout'. Any other exception propagates."""
    with _Alarm(CASE_SECONDS) as alarm:
        try:
            model = edgelite.load_model(data)
        except EdgeliteError as e:
            return type(e).__name__
        except CaseTimeout:
            raise AssertionError("load_model took over 5 s") from None
    if alarm.elapsed > CASE_SECONDS:
        raise AssertionError(f"load_model took {alarm.elapsed:.1f} s")
    with _Alarm(CASE_SECONDS) as alarm:
        try:
            it = edgelite.Interpreter(model_content=data)
            it.allocate_tensors()
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
        except EdgeliteError as e:
            cause = e.__cause__
            if cause is not None and not isinstance(cause, (EdgeliteError, CaseTimeout)):
                if f": {type(cause).__name__}: " not in str(e):
                    # the runtime named the likely cause (a zero point, a scale, ...)
                    return f"{type(e).__name__} (explained {type(cause).__name__})"
                # A kernel raised a bare exception that the runtime wrapped.
                return f"{type(e).__name__} (wrapped {type(cause).__name__})"
            return type(e).__name__
        except CaseTimeout:
            # A mutated loop bound makes a valid model that loops for a very
            # long time; LiteRT would run it too. Anything else is a hang.
            if _has_while(model):
                return "WHILE timeout"
            raise AssertionError("allocate/invoke took over 5 s") from None
    if alarm.elapsed > CASE_SECONDS and not _has_while(model):
        raise AssertionError(f"allocate/invoke took {alarm.elapsed:.1f} s")
    return "ran"


# Wrapped errors that mean a kernel did not check what it used (an omitted tensor or
# option: None, a missing input or output: an index): bugs, unlike a wrapped
# MemoryError or ZeroDivisionError that a damaged value can cause.
_UNCHECKED = tuple(f"(wrapped {t})" for t in ("AttributeError", "TypeError", "IndexError",
                                              "KeyError"))


def fuzz_source(name: str, cases: int, outcomes: collections.Counter | None = None) -> list:
    """Run `cases` mutants of one source; returns the failures (reproducers)."""
    data = SOURCES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    failures = []
    for k in range(cases):
        mutant, what = mutate(rng, data)
        try:
            outcome = run_case(mutant)
        except (Exception, AssertionError, CaseTimeout) as e:  # noqa: BLE001 - the point
            failures.append(f"{name} case {k} ({what}): {type(e).__name__}: {e}")
            outcome = "BUG " + type(e).__name__
        if outcome.endswith(_UNCHECKED):
            # a kernel used a missing tensor or option it never checked for
            failures.append(f"{name} case {k} ({what}): {outcome}")
        if outcomes is not None:
            outcomes[outcome] += 1
    return failures


@pytest.fixture(scope="module", autouse=True)
def _compiled_kernels_warm():
    warm_compiled()


def warm_compiled():
    """Load the optional compiled tier before the 5 s per-case guard starts.

    A mutant can make a node big enough for the numba kernels; their one-time
    compile (~5 s with an empty cache, as on a fresh clone) is not a hang. So
    every source runs once, unmutated, with the size threshold at 0, which
    compiles each kernel signature these models can reach; and every compiled
    module's warm_up() compiles the rest (a mutated geometry can pick another
    kernel variant, e.g. the int8 im2col GEMM instead of the direct convolution)."""
    from edgelite.kernels import compiled, conv
    if not compiled.ENABLED:
        return
    compiled.warm_up_all()
    saved = conv.COMPILED_MIN_OUTPUT
    conv.COMPILED_MIN_OUTPUT = 0
    try:
        for data in SOURCES.values():
            it = edgelite.Interpreter(model_content=data)
            it.allocate_tensors()
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
    finally:
        conv.COMPILED_MIN_OUTPUT = saved


@pytest.fixture(autouse=True)
def _small_arena_limit(monkeypatch):
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", ARENA_LIMIT)


def _per_source(total: int) -> int:
    return math.ceil(total / len(SOURCES))


def test_case_budget():
    assert len(SOURCES) >= 3
    assert _per_source(DEFAULT_CASES) * len(SOURCES) >= DEFAULT_CASES


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_mutants_fail_cleanly(name):
    failures = fuzz_source(name, _per_source(DEFAULT_CASES))
    assert not failures, "\n".join(failures[:20])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_mutants_fail_cleanly_exhaustive(name):
    failures = fuzz_source(name + "", _per_source(SLOW_CASES))
    assert not failures, "\n".join(failures[:20])


def test_mutations_are_reproducible():
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    data = SOURCES["builder_conv_fc"]
    for _ in range(50):
        assert mutate(rng1, data) == mutate(rng2, data)


def test_alarm_interrupts_a_hang():
    if not _Alarm(1).armed:
        pytest.skip("no SIGALRM here")
    with pytest.raises(CaseTimeout), _Alarm(0.05):
        while True:
            pass


# ---------------------------------------------------------------- hand-made malformed files

def _add_model() -> ModelBuilder:
    b = ModelBuilder("malformed")
    x = b.add_input("x", (2, 3), np.float32)
    c = b.add_constant("c", np.ones((2, 3), np.float32))
    y = b.add_tensor("y", (2, 3), np.float32)
    b.add_op("ADD", [x, c], [y])
    b.add_output(y)
    return b


def _load_error(model_or_bytes) -> str:
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else to_bytes(model_or_bytes)
    with pytest.raises(ModelError) as info:
        edgelite.load_model(data)
    # The interpreter refuses it with the same error.
    with pytest.raises(ModelError):
        edgelite.Interpreter(model_content=data)
    return str(info.value)


def test_wrong_file_identifier():
    data = bytearray(to_bytes(_add_model().build()))
    data[4:8] = b"ABCD"
    msg = _load_error(bytes(data))
    assert "identifier" in msg and "ABCD" in msg and "TFL3" in msg


@pytest.mark.parametrize("size", [0, 3, 7])
def test_truncated_header(size):
    data = to_bytes(_add_model().build())[:size]
    assert "too short" in _load_error(data)


def test_truncated_body():
    data = to_bytes(_add_model().build())
    msg = _load_error(data[: len(data) // 2])
    assert "malformed FlatBuffer" in msg and "past the end" in msg


def test_not_a_tflite_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not a model at all")
    with pytest.raises(ModelError, match="identifier"):
        edgelite.load_model(p)
    with pytest.raises(ModelError, match="cannot open"):
        edgelite.load_model(tmp_path / "missing.tflite")


def test_tensor_buffer_index_out_of_range():
    m = _add_model().build()
    m.subgraphs[0].tensors[1].buffer = 99
    msg = _load_error(m)
    assert "subgraph 0, tensor 1 'c'" in msg and "buffer index 99" in msg


def test_operator_input_index_out_of_range():
    m = _add_model().build()
    m.subgraphs[0].operators[0].inputs = [0, 7]
    msg = _load_error(m)
    assert "subgraph 0, operator 0 (ADD)" in msg and "input tensor index 7" in msg


def test_operator_output_index_out_of_range():
    m = _add_model().build()
    m.subgraphs[0].operators[0].outputs = [-5]
    msg = _load_error(m)
    assert "subgraph 0, operator 0 (ADD)" in msg and "output tensor index -5" in msg


def test_subgraph_input_index_out_of_range():
    m = _add_model().build()
    m.subgraphs[0].inputs = [0, 12]
    msg = _load_error(m)
    assert "subgraph 0" in msg and "input tensor index 12" in msg


def test_opcode_index_out_of_range():
    m = _add_model().build()
    m.subgraphs[0].operators[0].opcode_index = 4
    msg = _load_error(m)
    assert "subgraph 0, operator 0" in msg and "opcode index 4" in msg


def test_negative_shape():
    m = _add_model().build()
    m.subgraphs[0].tensors[0].shape = (2, -3)
    msg = _load_error(m)
    assert "subgraph 0, tensor 0 'x'" in msg and "invalid dimension -3" in msg


def test_absurd_shape_is_refused_without_allocating():
    m = _add_model().build()
    m.subgraphs[0].tensors[0].shape = (2**31 - 1,) * 4
    start = time.perf_counter()
    msg = _load_error(m)
    assert time.perf_counter() - start < 2
    assert "subgraph 0, tensor 0 'x'" in msg and "overflows" in msg


def test_large_but_representable_shape_is_refused_by_the_interpreter(monkeypatch):
    b = ModelBuilder()
    x = b.add_input("x", (2**20, 2**20), np.float32)
    y = b.add_tensor("y", (2**20, 2**20), np.float32)
    b.add_op("RELU", [x], [y])
    b.add_output(y)
    data = b.to_bytes()
    edgelite.load_model(data)       # a valid file: 4 TB tensors are not a format error
    with pytest.raises(EdgeliteError):
        edgelite.Interpreter(model_content=data).allocate_tensors()


def test_shape_signature_rank_mismatch():
    m = _add_model().build()
    m.subgraphs[0].tensors[0].shape_signature = (-1, 3, 1)
    msg = _load_error(m)
    assert "subgraph 0, tensor 0 'x'" in msg and "differ in rank" in msg


def test_op_consuming_its_own_output():
    m = _add_model().build()
    m.subgraphs[0].operators[0].inputs = [2, 1]
    msg = _load_error(m)
    assert "subgraph 0, operator 0 (ADD)" in msg and "tensor 2 'y'" in msg and "cycle" in msg


def test_two_ops_writing_one_tensor():
    b = _add_model()
    b.add_op("RELU", [0], [2])
    msg = _load_error(b.build())
    assert "subgraph 0, operator 1 (RELU)" in msg and "also written by operator 0" in msg


def test_ops_out_of_order():
    b = ModelBuilder()
    x = b.add_input("x", (2,), np.float32)
    y = b.add_tensor("y", (2,), np.float32)
    z = b.add_tensor("z", (2,), np.float32)
    b.add_op("RELU", [y], [z])
    b.add_op("RELU", [x], [y])
    b.add_output(z)
    msg = _load_error(b.build())
    assert "subgraph 0, operator 0 (RELU)" in msg and "tensor 1 'y'" in msg


def _while_model(cond: int, body: int) -> bytes:
    b = ModelBuilder()
    x = b.add_input("x", (), np.int32)
    y = b.add_tensor("y", (), np.int32)
    b.add_op("WHILE", [x], [y], cond_subgraph_index=cond, body_subgraph_index=body)
    b.add_output(y)
    sub = b.add_subgraph("body")
    i = sub.add_input("i", (), np.int32)
    sub.add_output(i)
    return b.to_bytes()


def test_while_pointing_at_a_nonexistent_subgraph():
    msg = _load_error(_while_model(cond=5, body=1))
    assert "subgraph 0, operator 0 (WHILE)" in msg and "condSubgraphIndex 5" in msg
    msg = _load_error(_while_model(cond=1, body=-2))
    assert "subgraph 0, operator 0 (WHILE)" in msg and "bodySubgraphIndex -2" in msg


def test_while_calling_its_own_subgraph():
    msg = _load_error(_while_model(cond=0, body=1))
    assert "subgraph 0, operator 0 (WHILE)" in msg and "recursion" in msg


def test_while_with_options_of_another_op():
    b = ModelBuilder()
    x = b.add_input("x", (), np.int32)
    y = b.add_tensor("y", (), np.int32)
    b.add_op("WHILE", [x], [y], cond_subgraph_index=1, body_subgraph_index=1)
    b.add_output(y)
    sub = b.add_subgraph("body")
    sub.add_output(sub.add_input("i", (), np.int32))
    m = b.build()
    from edgelite.format.builder import make_options
    m.subgraphs[0].operators[0].options, m.subgraphs[0].operators[0].options_type, _ = \
        make_options("CALL", subgraph=1)
    msg = _load_error(m)
    assert "subgraph 0, operator 0 (WHILE)" in msg and "CallOptions" in msg


def test_constant_buffer_size_does_not_match_shape():
    m = _add_model().build()
    m.subgraphs[0].tensors[1].shape = (2, 4)
    msg = _load_error(m)
    assert "subgraph 0, tensor 1 'c'" in msg and "24 bytes" in msg and "needs 32" in msg


def test_unknown_tensor_type():
    m = _add_model().build()
    m.subgraphs[0].tensors[0].type = 77
    msg = _load_error(m)
    assert "subgraph 0, tensor 0 'x'" in msg and "unknown tensor type 77" in msg


def test_per_channel_scales_do_not_match_dimension():
    b = ModelBuilder()
    b.add_constant("w", np.ones((3, 2), np.int8),
                   quant={"scale": [0.1, 0.2], "zero_point": [0, 0], "quantized_dimension": 0})
    x = b.add_input("x", (1,), np.float32)
    b.add_output(x)
    msg = _load_error(b.build())
    assert "subgraph 0, tensor 0 'w'" in msg and "per-channel" in msg


def test_signature_names_a_missing_tensor():
    b = _add_model()
    b.add_signature("serving_default", {"x": 0}, {"y": 40})
    msg = _load_error(b.build())
    assert "signature 'serving_default'" in msg and "tensor 40" in msg


def test_model_without_subgraphs():
    m = _add_model().build()
    m.subgraphs = []
    assert "no subgraphs" in _load_error(m)


# ---------------------------------------------------------------- as a script

def main(argv: list[str]) -> int:
    total = int(argv[1]) if len(argv) > 1 else DEFAULT_CASES
    os.environ["EDGELITE_MAX_ARENA_BYTES"] = ARENA_LIMIT
    import warnings
    warnings.simplefilter("ignore", RuntimeWarning)
    outcomes: collections.Counter = collections.Counter()
    failures = []
    start = time.perf_counter()
    for name in sorted(SOURCES):
        failures += fuzz_source(name, _per_source(total), outcomes)
    print(f"{sum(outcomes.values())} cases in {time.perf_counter() - start:.1f} s")
    for outcome, n in outcomes.most_common():
        print(f"  {n:7d}  {outcome}")
    for f in failures[:50]:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
