"""Differential testing against LiteRT (the oracle; a test dependency only).

    outs = run_litert(model_bytes, [x])                 # default kernels
    outs = run_litert(model_bytes, [x], reference=True) # BUILTIN_REF kernels
    err = check_against_litert(model_bytes, [x])        # asserts, returns worst error

Float tolerance (FACTS.md): |edgelite - litert| <= tol * max(1, |litert|).
Integer outputs must be equal (quantized ops: against reference=True).
"""
from __future__ import annotations

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    from ai_edge_litert.interpreter import OpResolverType
except ImportError:  # pragma: no cover - the test extra installs it
    LiteRTInterpreter = None
    OpResolverType = None

import edgelite

FLOAT_TOL = 1e-5


def run_litert(model: bytes, inputs, reference: bool = False, num_threads: int = 1):
    kw = {}
    if reference:
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    it = LiteRTInterpreter(model_content=model, num_threads=num_threads, **kw)
    _resize(it, inputs)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], np.asarray(x))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def run_edgelite(model: bytes, inputs, **kw):
    it = edgelite.Interpreter(model_content=model, **kw)
    _resize(it, inputs)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], np.asarray(x))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _resize(it, inputs):
    for d, x in zip(it.get_input_details(), inputs):
        shape = np.asarray(x).shape
        if tuple(d["shape"]) != tuple(shape):
            it.resize_tensor_input(d["index"], list(shape))


def max_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest |got - want| / max(1, |want|) (floats) or largest |got - want| (ints)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.size == 0:
        return 0.0
    if want.dtype.kind == "c":
        return max(max_error(got.real, want.real), max_error(got.imag, want.imag))
    if want.dtype.kind == "f":
        g, w = got.astype(np.float64), want.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(w)
        same_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
        err = np.abs(g - w) / np.maximum(1.0, np.abs(w))
        err = np.where(both_nan | same_inf, 0.0, err)
        err = np.where(np.isnan(err), np.inf, err)
        return float(err.max())
    if want.dtype.kind == "O":
        return 0.0 if np.array_equal(got, want) else float("inf")
    return float(np.abs(got.astype(np.int64) - want.astype(np.int64)).max())


def check_against_litert(model: bytes, inputs, *, tol: float = FLOAT_TOL, reference: bool = False,
                         int_tol: int = 0) -> float:
    """Run both runtimes, assert shapes/dtypes/values agree; return the worst error."""
    want = run_litert(model, inputs, reference=reference)
    got = run_edgelite(model, inputs, experimental_op_resolver_type="BUILTIN_REF" if reference
                       else None)
    assert len(want) > 0, "the model has no outputs: nothing would be compared"
    assert len(got) == len(want), f"{len(got)} outputs, LiteRT has {len(want)}"
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {i}: shape {g.shape}, LiteRT {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype}, LiteRT {w.dtype}"
        err = max_error(g, w)
        limit = tol if w.dtype.kind in "fc" else int_tol
        assert err <= limit, f"output {i}: error {err} > {limit}\ngot {g.ravel()[:8]}\nwant {w.ravel()[:8]}"
        worst = max(worst, err)
    return worst
