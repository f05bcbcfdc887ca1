"""Structure-aware fuzzing: damaged fields, not damaged bytes.

test_fuzz.py flips bytes, and most of its mutants stop at the reader (ModelError).
Here the same sources are read into the IR and one or two fields are changed the way a
broken converter or a hand-edited file would change them: a tensor's shape, type or
quantization, an operator's option, an operator's input or output list, its opcode.
The model is written back and run as test_fuzz.run_case does: load, allocate, invoke
on zeros. The outcome may only be success or an `EdgeliteError`, and not one that
merely wraps a kernel's AttributeError / TypeError / IndexError / KeyError (a field a
kernel used without checking it). Mutants the writer refuses (an option value outside
its field's type) are skipped.

Campaigns of 8,000 mutants on each tier (the compiled one forced onto every node) found,
before their fixes: a WHILE output of another type than the loop's state, an int8
FULLY_CONNECTED meeting a zero output scale at invoke, STRIDED_SLICE new-axis bits past
the begin entries, and (compiled tier) an int8 depthwise bind failing on an empty
batch; after them, 8,000 more per tier found nothing. The default run has
600 cases over the sources without WHILE (a mutated WHILE loop can legitimately run for
ever, and each such case costs test_fuzz's 5 s guard); `-m slow` runs 6,000 over all.
"""
from __future__ import annotations

import collections
import zlib

import numpy as np
import pytest

import edgelite
from edgelite.format import ir
from edgelite.format.writer import to_bytes
from tests.format import test_fuzz as F

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TYPES = [ir.TensorType.FLOAT32, ir.TensorType.FLOAT16, ir.TensorType.INT32,
         ir.TensorType.UINT8, ir.TensorType.INT64, ir.TensorType.BOOL, ir.TensorType.INT16,
         ir.TensorType.INT8, ir.TensorType.FLOAT64, ir.TensorType.INT4]
INTS = [0, 1, -1, 2, 3, 4, 7, 100, 1 << 16, 1 << 24, -(1 << 31)]
FLOATS = [0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), 0.5]


def _is_constant(m: ir.Model, t: ir.Tensor) -> bool:
    return bool(t.buffer) and m.buffers[t.buffer].data is not None


def mutate(rng: np.random.Generator, m: ir.Model) -> str | None:
    """Change one field of m in place; what was changed, or None (nothing fitting)."""
    sg = m.subgraphs[rng.integers(len(m.subgraphs))]
    what = rng.integers(7)
    if what <= 2 and sg.tensors:
        t = sg.tensors[rng.integers(len(sg.tensors))]
        if what == 0 and not _is_constant(m, t):
            s = list(t.shape)
            r = rng.integers(4)
            if r == 0 and s:
                s[rng.integers(len(s))] = int(rng.choice([0, 1, 2, 3, 7, 1000]))
            elif r == 1:
                s.append(int(rng.choice([1, 2, 3])))
            elif r == 2 and s:
                s.pop(rng.integers(len(s)))
            else:
                s = s[::-1]
            t.shape, t.shape_signature = tuple(s), None
            return f"tensor {t.name!r} shape {s}"
        if what == 1 and not _is_constant(m, t):
            t.type = int(rng.choice(TYPES))
            return f"tensor {t.name!r} type {t.type}"
        if what == 2:
            if rng.random() < 0.3:
                t.quantization = None
                return f"tensor {t.name!r} quantization None"
            n = int(rng.choice([1, 1, 2, 3]))
            scale = np.array([rng.choice([0.1, 0.0, 2.0, 1e-30, 1e30, -1.0])
                              for _ in range(n)], np.float32)
            zp = np.array([int(rng.choice([0, 1, -1, 127, -128, 255, 300])) for _ in range(n)],
                          np.int64)
            t.quantization = ir.QuantParams(scale=scale, zero_point=zp,
                                            quantized_dimension=int(rng.choice([0, 1, 3, 5])))
            return f"tensor {t.name!r} quantization {scale.tolist()} {zp.tolist()}"
        return None
    if not sg.operators:
        return None
    op = sg.operators[rng.integers(len(sg.operators))]
    if what in (3, 4):
        o = op.options if op.options is not None else op.options2
        fields = [k for k, v in vars(o).items() if isinstance(v, (bool, int, float))] \
            if o is not None else []
        if not fields:
            return None
        k = fields[rng.integers(len(fields))]
        v = getattr(o, k)
        nv = (not v) if isinstance(v, bool) else int(rng.choice(INTS)) if isinstance(v, int) \
            else float(rng.choice(FLOATS))
        setattr(o, k, nv)
        return f"{m.op_name(op)} option {k}={nv}"
    if what == 5:
        lst = op.inputs if rng.random() < 0.7 or not op.outputs else op.outputs
        if not lst:
            return None
        i, r = rng.integers(len(lst)), rng.random()
        if r < 0.4:
            lst[i] = -1
        elif r < 0.7:
            lst.pop(i)
        else:
            lst.append(int(rng.integers(len(sg.tensors))) if lst is op.inputs else lst[i])
        return f"{m.op_name(op)} inputs {list(op.inputs)} outputs {list(op.outputs)}"
    op.opcode_index = int(rng.integers(len(m.operator_codes)))
    return f"operator -> {m.operator_codes[op.opcode_index].name}"


def _has_while(data: bytes) -> bool:
    return F._has_while(edgelite.load_model(data))


def mutants(names, cases: int, seed: int, least: int = 1,
            outcomes: collections.Counter | None = None):
    """(k, source name, what changed, the mutant's bytes) for `cases` draws of a random
    source with `least` to two changes; a draw left unchanged (least >= 1) or that the
    writer refuses (a value outside its field's type) is skipped."""
    rng = np.random.default_rng(seed)
    for k in range(cases):
        name = names[rng.integers(len(names))]
        m = edgelite.load_model(F.SOURCES[name])
        whats = [w for w in (mutate(rng, m) for _ in range(int(rng.integers(least, 3)))) if w]
        if least and not whats:
            continue
        try:
            data = to_bytes(m)
        except (TypeError, ValueError, OverflowError):
            if outcomes is not None:
                outcomes["not writable"] += 1
            continue
        yield k, name, whats, data


def fuzz_ir(names, cases: int, seed: int, outcomes: collections.Counter | None = None) -> list:
    failures = []
    for k, name, whats, data in mutants(names, cases, seed, outcomes=outcomes):
        try:
            outcome = F.run_case(data)
        except (Exception, AssertionError, F.CaseTimeout) as e:  # noqa: BLE001 - the point
            failures.append(f"{name} case {k} {whats}: {type(e).__name__}: {e}")
            outcome = "BUG " + type(e).__name__
        if outcome.endswith(F._UNCHECKED):
            failures.append(f"{name} case {k} {whats}: {outcome}")
        if outcomes is not None:
            outcomes[outcome] += 1
    return failures


WITHOUT_WHILE = sorted(n for n, data in F.SOURCES.items() if not _has_while(data))


@pytest.fixture(scope="module", autouse=True)
def _compiled_kernels_warm():
    F.warm_compiled()


@pytest.fixture(autouse=True)
def _small_arena_limit(monkeypatch):
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", F.ARENA_LIMIT)


def test_sources_without_while_are_most_of_them():
    assert len(WITHOUT_WHILE) >= len(F.SOURCES) - 3


@pytest.mark.parametrize("part", range(3))
def test_ir_mutants_fail_cleanly(part):
    failures = fuzz_ir(WITHOUT_WHILE, 200, zlib.crc32(b"ir") + part)
    assert not failures, "\n".join(failures[:20])


@pytest.mark.slow
@pytest.mark.parametrize("part", range(10))
def test_ir_mutants_fail_cleanly_exhaustive(part):
    failures = fuzz_ir(sorted(F.SOURCES), 600, zlib.crc32(b"ir slow") + part)
    assert not failures, "\n".join(failures[:20])


if __name__ == "__main__":
    import sys
    import time
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    outcomes: collections.Counter = collections.Counter()
    t0 = time.perf_counter()
    failures = fuzz_ir(sorted(F.SOURCES), n, int(sys.argv[2]) if len(sys.argv) > 2 else 1,
                       outcomes)
    print(f"{n} cases in {time.perf_counter() - t0:.1f} s")
    for outcome, count in outcomes.most_common():
        print(f"  {count:7d}  {outcome}")
    print("\n".join(failures) or "no failures")
