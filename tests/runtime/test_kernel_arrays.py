"""The runtime hands kernels C-contiguous arrays only, which the kernels' bind-time views
rely on (a kernel keeps `x.reshape(...)` views of its arrays from bind; for a strided
array that reshape would be a copy, stale at the next invoke). Checked on every fixture,
with and without every tensor preserved, including nested subgraphs (WHILE bodies)."""
import numpy as np
import pytest
from fixture_util import NAMES, inputs, model_path

import edgelite


def _executors(ex):
    yield ex
    for child in getattr(ex, "children", {}).values():
        yield from _executors(child)


def _arrays(ex):
    for fn, ictx in ex._steps or ():
        if ictx is None:
            continue
        for kind, arrs in (("input", ictx.inputs), ("output", ictx.outputs),
                           ("scratch", ictx.scratch)):
            for k, a in enumerate(arrs):
                if isinstance(a, np.ndarray):
                    yield f"{kind} {k} of {getattr(fn, '__qualname__', fn)}", a


@pytest.mark.parametrize("preserve", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_runtime_binds_contiguous_arrays(name, preserve):
    it = edgelite.Interpreter(model_path=str(model_path(name)),
                              experimental_preserve_all_tensors=preserve)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs(name)):
        it.set_tensor(d["index"], x)
    it.invoke()
    seen = 0
    for top in list(it._executors.values()):
        for ex in _executors(top):
            for what, a in _arrays(ex):
                assert a.flags.c_contiguous, f"{name}: {what} is strided {a.strides}"
                seen += 1
    assert seen > 0
