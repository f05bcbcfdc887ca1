"""The registry's table of kernel families, and resolution that imports only them.

Each check runs in a fresh interpreter: the families already imported in the test
process would hide a missing entry.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgelite.format import ir


def _run(code: str):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


_RECORD = """
import json, sys
from edgelite.kernels import registry
seen = []
orig = registry.register
def register(op_name, versions=(1, 1), *, custom=False, variant="generic"):
    deco = orig(op_name, versions, custom=custom, variant=variant)
    def wrapped(cls):
        module = sys._getframe(1).f_globals["__name__"].replace("edgelite.kernels.", "")
        key = ("custom:" + op_name if custom else
               op_name if variant == "generic" else f"{op_name}/{variant}")
        seen.append([module, key, "custom" if custom else variant,
                     cls.__module__ + "." + cls.__qualname__,
                     [b.__module__ + "." + b.__qualname__ for b in cls.__mro__]])
        return deco(cls)
    return wrapped
registry.register = register
registry.load_all()
print(json.dumps([seen, {k: list(v) for k, v in registry._FAMILY_OPS.items()}]))
"""


def test_family_table_is_what_the_families_register():
    seen, table = _run(_RECORD)
    found: dict[str, set] = {}
    for module, op, *_ in seen:
        found.setdefault(module, set()).add(op)
    assert set(found) <= set(table), f"families missing from the table: {set(found) - set(table)}"
    for family, ops in table.items():
        assert set(ops) == found.get(family, set()), (
            f"registry._FAMILY_OPS[{family!r}] should be {tuple(sorted(found.get(family, ())))}")
    for ops in table.values():
        for op in ops:
            assert op.startswith("custom:") or op.split("/")[0] in ir.OP_CODES, op
            assert "/" not in op or op.split("/")[1] in ("quantized", "hybrid"), op


def test_an_op_registered_twice_extends_the_first_kernel():
    """Then the later family imported the earlier one, and which kernel wins does not
    depend on the order the resolver imported families in."""
    seen, _ = _run(_RECORD)
    first: dict[tuple, list] = {}
    for _, op, variant, cls, mro in seen:
        key = op
        if key in first:
            assert first[key][0] in mro, f"{op} ({variant}): {cls} does not extend {first[key][0]}"
        first[key] = [cls, mro]


def test_resolution_imports_only_what_the_model_needs():
    # one ADD node: the elementwise family, not the LSTMs or the detection ops
    code = """
import json, sys
import numpy as np
from edgelite.format.builder import ModelBuilder
import edgelite
b = ModelBuilder("one add")
x = b.add_input("x", (1, 4), np.float32)
y = b.add_tensor("y", (1, 4), np.float32)
b.add_op("ADD", [x, x], [y])
b.add_output(y)
it = edgelite.Interpreter(model_content=b.to_bytes())
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.arange(4, dtype=np.float32)[None])
it.invoke()
out = it.get_tensor(it.get_output_details()[0]["index"]).tolist()
print(json.dumps([out, sorted(m for m in sys.modules if m.startswith("edgelite.kernels."))]))
"""
    out, modules = _run(code)
    assert out == [[0.0, 2.0, 4.0, 6.0]]
    assert "edgelite.kernels.elementwise" in modules
    # (and a float ADD needs no quantized family)
    for absent in ("rnn", "detection", "extra_lookup", "control_flow", "quant.rnn",
                   "quant.elementwise", "quant.hybrid"):
        assert f"edgelite.kernels.{absent}" not in modules, absent


@pytest.mark.parametrize("seed", [0, 1])
def test_each_op_resolves_as_with_every_family_imported(seed):
    """Ops loaded one at a time, in a random order, get the kernels a full import gives."""
    code = f"""
import json, random
from edgelite.kernels import registry
ops = [op for ops in registry._FAMILY_OPS.values() for op in ops]
random.Random({seed}).shuffle(ops)
tables = {{"generic": registry.BUILTINS, "quantized": registry.QUANTIZED,
          "hybrid": registry.HYBRID}}
def entry_of(key):
    if key.startswith("custom:"):
        entry = registry.CUSTOM.get(key[7:])
    else:
        op, _, variant = key.partition("/")
        entry = tables[variant or "generic"].get(op)
    return entry and entry[0].__module__ + "." + entry[0].__qualname__
lazy = {{}}
for key in ops:
    registry.load_op(key)
    lazy[key] = entry_of(key)
registry.load_all()
full = {{key: entry_of(key) for key in lazy}}
print(json.dumps([lazy, full]))
"""
    lazy, full = _run(code)
    assert lazy == full


# Interpreters of every fixture built at once, twice each, in threads of a fresh process:
# prints [errors, how many ran, whether the two of each agree, [((model, k), output)]]
THREADS_CODE = """
import glob, json, threading
import numpy as np
import edgelite
models = sorted(glob.glob(%r + "/*.tflite"))
outs, errors = {}, []
def run(key, path):
    try:
        it = edgelite.Interpreter(model_path=path)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.ones(d["shape"], d["dtype"]))
        it.invoke()
        outs[key] = it.get_tensor(it.get_output_details()[0]["index"]).tolist()
    except Exception as e:
        errors.append(f"{path}: {e!r}")
threads = [threading.Thread(target=run, args=((p, i), p)) for i in range(2) for p in models]
for t in threads:
    t.start()
for t in threads:
    t.join()
same = all(outs[(p, 0)] == outs[(p, 1)] for p in models if (p, 0) in outs and (p, 1) in outs)
print(json.dumps([errors, len(outs), same, sorted(outs.items())]))
"""


def test_threads_resolving_at_once_in_a_fresh_process():
    """Interpreters built at the same time in several threads, in a process that has
    imported no kernel family yet (lazy imports, decode's lazily built table plans),
    run and agree with one built alone."""
    import pathlib
    models = str(pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "models")
    errors, count, same, _ = _run(THREADS_CODE % models)
    assert errors == []
    assert count >= 2 and same
