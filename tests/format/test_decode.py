"""format/decode.py decodes a .tflite buffer into exactly what the generated object API
makes (`ModelT.InitFromObj`): every field of every table of every fixture model, and of a
model built here with the rare parts (per-channel quantization, shape signatures,
variables, quantization details, external buffers, custom options). And it accepts and
rejects the same buffers as the verifier (`fbs.verify`) on seeded mutations."""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from edgelite.errors import ModelError
from edgelite.format import decode
from edgelite.format.fbs import load_schema, verify
from edgelite.format.reader import _bytes_view
from edgelite.format.schema import tflite_generated as fb

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(glob.glob(str(ROOT / "fixtures" / "models" / "*.tflite")))


def _same(a, b, path: str) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), path     # NaN-safe
        return
    if hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        # decode's classes (decode.Decoded) carry the generated classes' names
        assert type(a).__name__ == type(b).__name__, path
        assert a.__dict__.keys() == b.__dict__.keys(), path
        for k in a.__dict__:
            _same(a.__dict__[k], b.__dict__[k], f"{path}.{k}")
        return
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
        return
    assert type(a) is type(b) and a == b, (path, a, b)


def _check_model(buf) -> fb.ModelT:
    got = decode.decode_model(buf, len(buf))
    _same(got, fb.ModelT.InitFromObj(fb.Model.GetRootAs(buf, 0)), "Model")
    return got


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).name)
def test_fixture_tensors_decode_like_the_object_api(path):
    buf, _keep, _ = _bytes_view(path)
    assert _check_model(buf).subgraphs


def test_rare_tensor_fields_decode_like_the_object_api():
    from edgelite.format.builder import ModelBuilder
    b = ModelBuilder()
    x = b.add_input("x", (1, 4, 4, 3), np.int8,
                    quant={"scale": [0.5], "zero_point": [-3]})
    w = b.add_constant("w", np.ones((2, 1, 1, 3), np.int8),
                       quant={"scale": [0.1, 0.2], "zero_point": [0, 0],
                              "quantized_dimension": 0})
    y = b.add_tensor("y", (1, 4, 4, 2), np.int8, quant={"scale": [0.25], "zero_point": [1]})
    b.add_op("CONV_2D", [x, w], [y], padding="SAME", stride_h=1, stride_w=1)
    b.add_output(y)
    model = b.to_bytes()
    # the same model with a variable, a shape signature, has_rank, an external buffer
    # index and quantization min / max / details, set through the object API
    mt = fb.ModelT.InitFromObj(fb.Model.GetRootAs(model, 0))
    t0 = mt.subgraphs[0].tensors[0]
    t0.isVariable, t0.hasRank, t0.externalBuffer = True, True, 7
    t0.shapeSignature = np.array([-1, 4, 4, 3], np.int32)
    t0.quantization.min = np.array([-1.5], np.float32)
    t0.quantization.max = np.array([2.5], np.float32)
    t1 = mt.subgraphs[0].tensors[1]
    t1.quantization.detailsType = fb.QuantizationDetails.CustomQuantization
    t1.quantization.details = fb.CustomQuantizationT()
    t1.quantization.details.custom = np.array([1, 2, 3], np.uint8)
    op = mt.subgraphs[0].operators[0]
    op.intermediates = np.array([1], np.int32)
    op.mutatingVariableInputs = np.array([True, False], np.bool_)
    op.debugMetadataIndex, op.largeCustomOptionsOffset, op.largeCustomOptionsSize = 3, 1, 0
    op.customOptions = np.array([7, 8, 9], np.uint8)
    op.customOptionsFormat = 0
    import flatbuffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(mt.Pack(builder), file_identifier=b"TFL3")
    got = _check_model(bytes(builder.Output()))
    assert got.subgraphs[0].tensors[1].quantization.details.custom.tolist() == [1, 2, 3]


def _flip(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        at = int(rng.integers(0, len(b)))
        how = int(rng.integers(0, 3))
        if how == 0:
            b[at] ^= 1 << int(rng.integers(0, 8))
        elif how == 1:
            b[at] = 0xFF
        else:
            b[at:at + 4] = int(rng.choice([0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 8])).to_bytes(4, "little")
    return bytes(b[:len(data)])


@pytest.mark.parametrize("path", MODELS[:6], ids=lambda p: Path(p).name)
def test_decode_and_verify_agree_on_mutants(path):
    """Each mutant is either accepted by both (and then decodes like the object API) or
    rejected by both: the one-pass decoder checks what the verifier checks."""
    data = Path(path).read_bytes()
    rng = np.random.default_rng(11)
    schema = load_schema("tflite.fbs")
    rejected = 0
    for _ in range(150):
        m = _flip(rng, data)
        try:
            verify(schema, m, len(m))
            ok_verify = True
        except ModelError:
            ok_verify = False
        try:
            got = decode.decode_model(m, len(m))
        except (decode._Malformed, IndexError, ValueError):
            got = None
        assert (got is not None) == ok_verify
        if got is None:
            rejected += 1
        else:
            _same(got, fb.ModelT.InitFromObj(fb.Model.GetRootAs(m, 0)), "Model")
    assert 0 < rejected < 150


def test_a_bad_file_is_still_explained_by_path():
    from edgelite.format.reader import load_model
    data = bytearray(Path(MODELS[0]).read_bytes())
    root = int.from_bytes(data[0:4], "little")
    data[root:root + 4] = (0x7FFFFFF0).to_bytes(4, "little")     # the root's vtable offset
    with pytest.raises(ModelError, match="malformed FlatBuffer at Model"):
        load_model(bytes(data))


def test_tables_module_is_what_gen_schema_writes():
    """schema/tflite_tables.py (the enums and object-API defaults decode reads) is the
    text scripts/gen_schema.py makes from the generated module, so the two agree."""
    import importlib.util

    from edgelite.format.schema import tflite_tables
    spec = importlib.util.spec_from_file_location("gen_schema",
                                                  ROOT.parent / "scripts" / "gen_schema.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert Path(tflite_tables.__file__).read_text() == gen.tables_source(fb)


def test_decoded_objects_pack_as_the_generated_ones():
    """decode's classes carry no Pack: the writer turns them into the generated
    objects, fields and nested tables included."""
    buf, _keep, _ = _bytes_view(MODELS[0])
    mt = decode.decode_model(buf, len(buf))
    gen = decode.to_generated(mt)
    assert type(gen) is fb.ModelT
    _same(gen, mt, "Model")
    op = gen.subgraphs[0].operators[0]
    assert op.builtinOptions is None or type(op.builtinOptions).__module__ == fb.__name__


def test_running_a_model_imports_neither_flatbuffers_nor_the_generated_module():
    import json
    import subprocess
    import sys
    code = """
import json, sys
import numpy as np
import edgelite
it = edgelite.Interpreter(model_path=sys.argv[1])
it.allocate_tensors()
for d in it.get_input_details():
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
it.invoke()
print(json.dumps(sorted(m for m in sys.modules
                        if m.startswith("flatbuffers") or m.endswith("tflite_generated"))))
"""
    for path in MODELS[:3]:
        r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                           check=True)
        assert json.loads(r.stdout.strip().splitlines()[-1]) == [], path


def test_decoded_objects_pickle():
    """A decoded options object pickles (its class is found by name, made if need be)."""
    import pickle
    buf, _keep, _ = _bytes_view(MODELS[0])
    mt = decode.decode_model(buf, len(buf))
    opts = [op.builtinOptions for op in mt.subgraphs[0].operators if op.builtinOptions]
    back = pickle.loads(pickle.dumps(opts))
    _same(back, opts, "options")


def test_stored_schema_is_the_parsed_text():
    """fbs.load_schema("tflite.fbs") reads the parse stored in tflite_tables.py: the same
    schema as parsing tflite.fbs now."""
    from edgelite.format import fbs
    stored = fbs.load_schema("tflite.fbs")
    text = (Path(fbs.__file__).parent / "schema" / "tflite.fbs").read_text()
    parsed = fbs.parse_schema(text)
    for attr in ("root", "identifier", "enums", "unions", "tables"):
        assert getattr(stored, attr) == getattr(parsed, attr), attr
