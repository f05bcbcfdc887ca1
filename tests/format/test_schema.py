"""edgelite's own TFLite schema against LiteRT's, and the verifier on real files.

The oracle is the generated schema module the `ai_edge_litert` wheel ships
(`ai_edge_litert/schema_py_generated.py`); it is imported here only.
"""
from __future__ import annotations

import glob
import inspect
import pathlib

import numpy as np
import pytest

from edgelite.errors import ModelError
from edgelite.format import ir
from edgelite.format.builder import ModelBuilder
from edgelite.format.fbs import load_schema, verify
from edgelite.format.schema import tflite_generated as fb

litert_schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

FIXTURES = sorted((pathlib.Path(__file__).parents[1] / "fixtures" / "models").glob("*.tflite"))
# Small real models LiteRT ships; present on development machines only.
LITERT_MODELS = sorted(pathlib.Path(p) for p in glob.glob("/tmp/lrt_models/*.tflite"))

# Fields LiteRT's schema has and ours does not (they would have to be appended
# at the end of their tables, and their values would be dropped when edgelite
# rewrites a file). None today; a new divergence fails the test.
KNOWN_MISSING_FIELDS: dict[str, list[str]] = {}


def _enums(module) -> dict[str, dict[str, int]]:
    out = {}
    for name, cls in vars(module).items():
        if not inspect.isclass(cls) or cls.__module__ != module.__name__:
            continue
        if hasattr(cls, "InitFromObj") or hasattr(cls, "GetRootAs") or hasattr(cls, "Init"):
            continue
        values = {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}
        if values:
            out[name] = values
    return out


def _object_classes(module) -> dict[str, type]:
    return {name: cls for name, cls in vars(module).items()
            if inspect.isclass(cls) and name.endswith("T") and hasattr(cls, "InitFromObj")}


# ---------------------------------------------------------------- enums

def test_builtin_operator_has_210_values_without_gaps():
    values = sorted(vars(fb.BuiltinOperator)[k] for k in ir.OP_CODES)
    assert values == list(range(210))
    assert len(ir.OP_NAMES) == 210
    assert ir.OP_NAMES[0] == "ADD" and ir.OP_NAMES[32] == "CUSTOM"
    assert ir.OP_NAMES[127] == "PLACEHOLDER_FOR_GREATER_OP_CODES"


@pytest.mark.parametrize("name, value", [
    ("FLOAT32", 0), ("FLOAT16", 1), ("INT32", 2), ("UINT8", 3), ("INT64", 4), ("STRING", 5),
    ("BOOL", 6), ("INT16", 7), ("COMPLEX64", 8), ("INT8", 9), ("FLOAT64", 10),
    ("COMPLEX128", 11), ("UINT64", 12), ("RESOURCE", 13), ("VARIANT", 14), ("UINT32", 15),
    ("UINT16", 16), ("INT4", 17), ("BFLOAT16", 18), ("INT2", 19), ("UINT4", 20),
    ("FLOAT8_E4M3FN", 21), ("FLOAT8_E5M2", 22),
])
def test_tensor_type_published_values(name, value):
    assert getattr(fb.TensorType, name) == value
    assert ir.TYPE_NAMES[value] == name


def test_every_tensor_type_has_a_storage_dtype_entry():
    assert set(ir.TYPE_NAMES) == set(ir.NUMPY_DTYPES)


def test_enum_sets_match_litert():
    ours, theirs = _enums(fb), _enums(litert_schema)
    assert set(ours) == set(theirs), (set(ours) ^ set(theirs))
    assert len(ours) >= 15


@pytest.mark.parametrize("enum_name", sorted(_enums(litert_schema)))
def test_enum_matches_litert(enum_name):
    ours = _enums(fb).get(enum_name)
    theirs = _enums(litert_schema)[enum_name]
    assert ours is not None, f"enum {enum_name} is missing from edgelite's schema"
    missing = {k: v for k, v in theirs.items() if k not in ours}
    extra = {k: v for k, v in ours.items() if k not in theirs}
    changed = {k: (ours[k], theirs[k]) for k in ours.keys() & theirs.keys() if ours[k] != theirs[k]}
    assert not missing and not extra and not changed, (missing, extra, changed)


# ---------------------------------------------------------------- tables

def test_table_sets_match_litert():
    ours, theirs = _object_classes(fb), _object_classes(litert_schema)
    assert set(ours) == set(theirs), (set(ours) ^ set(theirs))


@pytest.mark.parametrize("cls_name", sorted(_object_classes(litert_schema)))
def test_table_fields_match_litert(cls_name):
    """Same fields in the same (wire) order with the same defaults."""
    ours = vars(getattr(fb, cls_name)())
    theirs = vars(getattr(litert_schema, cls_name)())
    known = KNOWN_MISSING_FIELDS.get(cls_name, [])
    expected = {k: v for k, v in theirs.items() if k not in known}
    assert list(ours) == list(expected), f"{cls_name}: {list(ours)} vs LiteRT {list(theirs)}"
    assert ours == expected
    # A known gap must be at the end of the table, or the wire ids would shift.
    assert list(theirs)[len(ours):] == known


def test_builtin_options_union_maps_to_tables():
    for name in ir.OPTIONS_NAMES.values():
        if name != "NONE":
            assert hasattr(fb, name + "T"), name
    for name in ir.OPTIONS2_NAMES.values():
        if name != "NONE":
            assert hasattr(fb, name + "T"), name


def test_litert_reads_what_our_schema_writes():
    """Objects packed with our generated code decode with LiteRT's."""
    b = ModelBuilder()
    x = b.add_input("x", (1, 4), np.float32)
    w = b.add_constant("w", np.arange(12, dtype=np.float32).reshape(3, 4))
    y = b.add_tensor("y", (1, 3), np.float32)
    b.add_op("FULLY_CONNECTED", [x, w, -1], [y], fused_activation_function="RELU",
             keep_num_dims=True)
    b.add_output(y)
    data = b.to_bytes()
    m = litert_schema.ModelT.InitFromObj(litert_schema.Model.GetRootAs(data, 0))
    op = m.subgraphs[0].operators[0]
    assert op.builtinOptionsType == litert_schema.BuiltinOptions.FullyConnectedOptions
    assert op.builtinOptions.keepNumDims is True
    assert op.builtinOptions.fusedActivationFunction == litert_schema.ActivationFunctionType.RELU
    assert m.subgraphs[0].tensors[w].name == b"w"


# ---------------------------------------------------------------- the verifier

def _real_files():
    return FIXTURES + LITERT_MODELS


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_verifier_accepts_real_file(path):
    data = path.read_bytes()
    verify(load_schema("tflite.fbs"), data, what=path.name)


def test_verifier_accepts_builder_models():
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.int8, quant=(0.5, -1))
    y = b.add_tensor("y", (2, 3), np.int8, quant=(0.5, -1))
    b.add_op("RELU", [x], [y])
    b.add_output(y)
    b.add_signature("serving_default", {"x": x}, {"y": y})
    b.add_metadata("note", b"hello")
    verify(load_schema("tflite.fbs"), b.to_bytes())


def test_schema_parses_every_table_of_the_generated_module():
    schema = load_schema("tflite.fbs")
    assert schema.root == "Model" and schema.identifier == "TFL3"
    for cls_name in _object_classes(fb):
        assert cls_name[:-1] in schema.tables, cls_name


def test_verifier_rejects_wrong_identifier():
    b = ModelBuilder()
    x = b.add_input("x", (1,), np.float32)
    b.add_output(x)
    data = bytearray(b.to_bytes())
    data[4:8] = b"XXXX"
    with pytest.raises(ModelError, match="identifier"):
        verify(load_schema("tflite.fbs"), bytes(data))
