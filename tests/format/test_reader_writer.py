"""read -> write -> read is lossless, writing is idempotent, LiteRT agrees.

Models: every fixture in tests/fixtures/models (globbed at test time), models
made with ModelBuilder, and the small real models LiteRT ships when a
developer machine has them in /tmp/lrt_models (CI does not).
"""
from __future__ import annotations

import glob
import mmap
import pathlib

import flatbuffers
import numpy as np
import pytest

import edgelite
from edgelite.errors import ModelError
from edgelite.format import ir
from edgelite.format.builder import ModelBuilder
from edgelite.format.reader import load_model
from edgelite.format.writer import save_model, to_bytes, to_model_t

FIXTURE_DIR = pathlib.Path(__file__).parents[1] / "fixtures" / "models"
FIXTURES = sorted(FIXTURE_DIR.glob("*.tflite"))
LITERT_MODELS = sorted(pathlib.Path(p) for p in glob.glob("/tmp/lrt_models/*.tflite"))


# ---------------------------------------------------------------- structural comparison

def assert_same(a, b, path: str = "model", *, ignore: frozenset = frozenset()) -> None:
    """Recursively compare two IR objects: IR records field by field, generated
    `XxxT` option objects by vars(), numpy arrays by value (NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        aa, bb = np.asarray(a), np.asarray(b)
        assert aa.shape == bb.shape, f"{path}: shape {aa.shape} != {bb.shape}"
        nan_ok = aa.dtype.kind in "fc" and bb.dtype.kind in "fc"
        assert np.array_equal(aa, bb, equal_nan=nan_ok), f"{path}: {aa!r} != {bb!r}"
        return
    if isinstance(a, ir._Record):
        assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
        for name in a._FIELDS:
            if name in ignore:
                continue
            assert_same(getattr(a, name), getattr(b, name), f"{path}.{name}", ignore=ignore)
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]", ignore=ignore)
        return
    if isinstance(a, dict):
        assert isinstance(b, dict), f"{path}: dict vs {type(b).__name__}"
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]", ignore=ignore)
        return
    if a is None or b is None or isinstance(a, (int, float, str, bytes, bool)):
        if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
            return
        assert a == b, f"{path}: {a!r} != {b!r}"
        return
    # A generated object (Conv2DOptionsT, SparsityParametersT, ...): no __eq__.
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    va, vb = vars(a), vars(b)
    assert list(va) == list(vb), f"{path}: fields {list(va)} != {list(vb)}"
    for k in va:
        assert_same(va[k], vb[k], f"{path}.{k}", ignore=ignore)


# Where weights stood in the file is not part of the model: weights read from
# after the FlatBuffer (Buffer.offset/size) are written back inline.
LOCATION_FIELDS = frozenset({"offset", "size", "large_custom_options_offset",
                             "large_custom_options_size"})
# The writer normalizes OperatorCode.deprecated_builtin_code to
# min(builtin_code, 127), as TFLite's converter does; some LiteRT tools write 0
# there for CUSTOM. The effective code, max() of the two, is what must survive.
NORMALIZED_FIELDS = frozenset({"deprecated_builtin_code"})


def assert_models_equal(a: ir.Model, b: ir.Model) -> None:
    assert_same(a, b, ignore=LOCATION_FIELDS | NORMALIZED_FIELDS)
    for k, (ca, cb) in enumerate(zip(a.operator_codes, b.operator_codes)):
        assert ca.builtin_code == cb.builtin_code, f"operator_codes[{k}]"
        assert cb.deprecated_builtin_code in (min(cb.builtin_code, 127), ca.deprecated_builtin_code)


def test_assert_same_notices_differences():
    m1 = load_model(_builder_models()["conv_relu"])
    m2 = load_model(_builder_models()["conv_relu"])
    assert_models_equal(m1, m2)
    m2.subgraphs[0].operators[0].options.strideW = 2
    with pytest.raises(AssertionError, match="strideW"):
        assert_models_equal(m1, m2)
    m3 = load_model(_builder_models()["conv_relu"])
    m3.buffers[1].data = m3.buffers[1].data.copy()
    m3.buffers[1].data[0] ^= 1
    with pytest.raises(AssertionError, match=r"buffers\[1\]"):
        assert_models_equal(m1, m3)
    m4 = load_model(_builder_models()["conv_relu"])
    m4.subgraphs[0].tensors[0].shape_signature = (1, 8, 8, 3)
    with pytest.raises(AssertionError, match="shape_signature"):
        assert_models_equal(m1, m4)


# ---------------------------------------------------------------- builder-made models

def _builder_models() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}

    b = ModelBuilder("conv relu")
    x = b.add_input("x", (1, 8, 8, 3), np.float32, shape_signature=(-1, 8, 8, 3))
    w = b.add_constant("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    bias = b.add_constant("bias", rng.standard_normal(4).astype(np.float32))
    y = b.add_tensor("y", (1, 8, 8, 4), np.float32, shape_signature=(-1, 8, 8, 4))
    b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
             fused_activation_function="RELU6", version=1)
    z = b.add_tensor("z", (1, 8, 8, 4), np.float32)
    b.add_op("RELU", [y], [z])
    b.add_output(z)
    b.add_signature("serving_default", {"x": x}, {"z": z})
    out["conv_relu"] = b.to_bytes()

    b = ModelBuilder("quantized per-channel")
    x = b.add_input("x", (1, 6), np.int8, quant=(0.05, 3))
    w = b.add_constant("w", rng.integers(-127, 128, (4, 6)).astype(np.int8),
                       quant={"scale": [0.1, 0.2, 0.3, 0.4], "zero_point": [0, 0, 0, 0],
                                  "quantized_dimension": 0})
    bias = b.add_constant("bias", rng.integers(-100, 100, 4).astype(np.int32),
                          quant={"scale": [0.005, 0.01, 0.015, 0.02], "zero_point": [0] * 4})
    y = b.add_tensor("y", (1, 4), np.int8, quant={"scale": [0.7], "zero_point": [-5],
                                                      "min": [-10.0], "max": [9.0]})
    b.add_op("FULLY_CONNECTED", [x, w, bias], [y], version=5, keep_num_dims=False)
    b.add_output(y)
    out["fc_int8_per_channel"] = b.to_bytes()

    b = ModelBuilder("while loop, two subgraphs, metadata, custom op, odd types")
    i0 = b.add_input("i", (), np.int32)
    acc = b.add_input("acc", (2,), np.float32)
    i_out = b.add_tensor("i_out", (), np.int32)
    acc_out = b.add_tensor("acc_out", (2,), np.float32)
    cond = b.add_subgraph("cond")
    ci = cond.add_input("i", (), np.int32)
    ca = cond.add_input("acc", (2,), np.float32)
    lim = cond.add_constant("limit", np.int32(3))
    cflag = cond.add_tensor("flag", (), np.bool_)
    cond.add_op("LESS", [ci, lim], [cflag])
    cond.add_output(cflag)
    del ca
    body = b.add_subgraph("body")
    bi = body.add_input("i", (), np.int32)
    ba = body.add_input("acc", (2,), np.float32)
    one = body.add_constant("one", np.int32(1))
    half = body.add_constant("half", np.array([0.5, 1.5], np.float32))
    bi2 = body.add_tensor("i2", (), np.int32)
    ba2 = body.add_tensor("acc2", (2,), np.float32)
    body.add_op("ADD", [bi, one], [bi2])
    body.add_op("ADD", [ba, half], [ba2])
    body.add_output(bi2)
    body.add_output(ba2)
    b.add_op("WHILE", [i0, acc], [i_out, acc_out], cond_subgraph_index=1,
             body_subgraph_index=2)
    s = b.add_constant("names", np.array([b"ab", b"", b"xyz"], dtype=object))
    s_out = b.add_tensor("names_out", (3,), np.bytes_)
    b.add_custom_op("MyCustom", [s], [s_out], custom_options=b"\x01\x02\x03")
    b.add_constant("int4_w", np.array([[1, -2, 3], [-8, 7, 0]], np.int8), tensor_type="INT4")
    b.add_constant("f16", np.array([1.5, -2.25], np.float16))
    b.add_constant("i64", np.array([2**40, -1], np.int64))
    b.add_constant("flags", np.array([True, False, True]))
    b.add_tensor("state", (2,), np.float32, is_variable=True)
    b.add_output(i_out)
    b.add_output(acc_out)
    b.add_output(s_out)
    b.add_signature("run", {"i": i0, "acc": acc}, {"i_out": i_out, "acc_out": acc_out})
    b.add_metadata("min_runtime_version", b"1.14.0\0\0\0\0\0\0\0\0\0\0")
    b.add_metadata("note", bytes(range(256)))
    out["while_custom_metadata"] = b.to_bytes()
    return out


BUILDER_MODELS = _builder_models()


def _all_sources():
    cases = [pytest.param(p, id=f"fixture-{p.stem}") for p in FIXTURES]
    cases += [pytest.param(name, id=f"builder-{name}") for name in BUILDER_MODELS]
    cases += [pytest.param(p, id=f"litert-{p.stem}") for p in LITERT_MODELS]
    return cases


def _data(source) -> bytes:
    if isinstance(source, pathlib.Path):
        return source.read_bytes()
    return BUILDER_MODELS[source]


def test_fixtures_present():
    # The fixtures are committed; if this fails the glob above found nothing.
    assert FIXTURES, f"no fixtures in {FIXTURE_DIR}"


# ---------------------------------------------------------------- lossless and idempotent

@pytest.mark.parametrize("source", _all_sources())
def test_read_write_read_is_lossless(source):
    data = _data(source)
    m1 = load_model(data)
    written = to_bytes(m1)
    m2 = load_model(written)
    assert_models_equal(m1, m2)


@pytest.mark.parametrize("source", _all_sources())
def test_write_is_idempotent(source):
    once = to_bytes(load_model(_data(source)))
    twice = to_bytes(load_model(once))
    assert once == twice


@pytest.mark.parametrize("source", _all_sources())
def test_path_and_bytes_give_the_same_model(source, tmp_path):
    data = _data(source)
    p = tmp_path / "m.tflite"
    p.write_bytes(data)
    m_path = load_model(p)
    m_str = load_model(str(p))
    m_bytes = load_model(data)
    assert_same(m_path, m_bytes)
    assert_same(m_str, m_bytes)
    assert m_path.source_path == str(p)


def test_save_model_writes_to_bytes(tmp_path):
    m = load_model(BUILDER_MODELS["conv_relu"])
    p = tmp_path / "out.tflite"
    save_model(m, p)
    assert p.read_bytes() == to_bytes(m)
    edgelite.save_model(m, str(p))
    assert_models_equal(load_model(p), m)


def test_builder_model_fields_survive():
    m = load_model(BUILDER_MODELS["while_custom_metadata"])
    assert m.description.startswith("while loop")
    assert [sg.name for sg in m.subgraphs] == ["main", "cond", "body"]
    sg = m.subgraphs[0]
    names = [t.name for t in sg.tensors]
    assert m.constant(sg.tensors[names.index("names")]).tolist() == [b"ab", b"", b"xyz"]
    assert m.constant(sg.tensors[names.index("int4_w")]).tolist() == [[1, -2, 3], [-8, 7, 0]]
    assert sg.tensors[names.index("int4_w")].type == ir.TensorType.INT4
    assert m.constant(sg.tensors[names.index("f16")]).tolist() == [1.5, -2.25]
    assert m.constant(sg.tensors[names.index("i64")]).tolist() == [2**40, -1]
    assert sg.tensors[names.index("state")].is_variable
    custom = next(op for op in sg.operators if m.op_name(op) == "MyCustom")
    assert custom.custom_options == b"\x01\x02\x03"
    loop = next(op for op in sg.operators if m.op_name(op) == "WHILE")
    assert (loop.options.condSubgraphIndex, loop.options.bodySubgraphIndex) == (1, 2)
    assert m.metadata_bytes("note") == bytes(range(256))
    assert m.signature_defs[0].key == "run"
    assert list(m.signature_defs[0].outputs) == ["i_out", "acc_out"]
    q = load_model(BUILDER_MODELS["fc_int8_per_channel"]).subgraphs[0].tensors
    assert q[1].quantization.scale.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert q[3].quantization.min.tolist() == [-10.0] and q[3].quantization.max.tolist() == [9.0]
    assert q[3].quantization.zero_point.tolist() == [-5]
    c = load_model(BUILDER_MODELS["conv_relu"]).subgraphs[0].tensors[0]
    assert c.shape == (1, 8, 8, 3) and c.shape_signature == (-1, 8, 8, 3)


def test_trailing_zip_of_associated_files_survives():
    from edgelite.format.metadata import append_associated_files, read_associated_files
    data = append_associated_files(BUILDER_MODELS["conv_relu"], {"labels.txt": b"cat\ndog\n"})
    m = load_model(data)
    assert m.trailing_bytes[:2] == b"PK"
    rewritten = to_bytes(m)
    assert read_associated_files(rewritten) == {"labels.txt": b"cat\ndog\n"}
    assert_models_equal(m, load_model(rewritten))


# ---------------------------------------------------------------- zero-copy

def _mapped_base(arr: np.ndarray):
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_constants_are_read_only_views_on_the_map(path):
    m = load_model(path)
    mm = m._keepalive
    assert isinstance(mm, mmap.mmap)
    whole = np.frombuffer(mm, np.uint8)
    seen = 0
    for sg in m.subgraphs:
        for t in sg.tensors:
            data = m.buffers[t.buffer].data
            if t.buffer == 0 or data is None or data.size == 0:
                continue
            assert not data.flags.writeable
            assert np.shares_memory(data, whole), f"buffer {t.buffer} of {t.name!r} was copied"
            assert _mapped_base(data) is mm
            if t.type in (ir.TensorType.STRING, ir.TensorType.INT4, ir.TensorType.INT2,
                          ir.TensorType.UINT4):
                continue
            value = m.constant(t)
            assert not value.flags.writeable
            assert np.shares_memory(value, whole)
            seen += 1
    if "int8" in path.stem or "float" in path.stem:
        assert seen > 0


def test_constants_from_a_path_cannot_be_written(tmp_path):
    p = tmp_path / "m.tflite"
    p.write_bytes(BUILDER_MODELS["conv_relu"])
    m = load_model(p)
    w = m.constant(m.subgraphs[0].tensors[1])
    with pytest.raises(ValueError):
        w[0, 0, 0, 0] = 1.0
    assert p.read_bytes() == BUILDER_MODELS["conv_relu"]


# ---------------------------------------------------------------- large-buffer form

def _large_buffer_form(data: bytes) -> bytes:
    """Rewrite a model so that every non-empty buffer lives after the FlatBuffer
    (Buffer.offset/size), as LiteRT's converter does for models over 2 GB."""
    m = load_model(data)
    payloads = [None if b.data is None or b.data.size == 0 else b.data.tobytes()
                for b in m.buffers]

    def pack(offsets):
        mt = to_model_t(m)
        for bt, payload, off in zip(mt.buffers, payloads, offsets):
            if payload is not None:
                bt.data, bt.offset, bt.size = None, off, len(payload)
        builder = flatbuffers.Builder(1024)
        builder.Finish(mt.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    head = pack([1 << 40] * len(payloads))     # same size as the final head
    pos = (len(head) + 15) // 16 * 16
    offsets, blob = [], bytearray()
    for payload in payloads:
        offsets.append(pos + len(blob) if payload is not None else 0)
        if payload is not None:
            blob += payload + b"\0" * (-len(payload) % 16)
    final = pack(offsets)
    assert len(final) == len(head)
    return final + b"\0" * (pos - len(final)) + bytes(blob)


@pytest.mark.parametrize("name", ["cnn_float32", "cnn_int8", "while_loop"])
def test_large_buffer_form_is_read(name, tmp_path):
    path = FIXTURE_DIR / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"fixture {name} not generated")
    original = path.read_bytes()
    outside = _large_buffer_form(original)
    p = tmp_path / "outside.tflite"
    p.write_bytes(outside)
    m = load_model(p)
    assert any(b.offset > 1 for b in m.buffers)
    whole = np.frombuffer(m._keepalive, np.uint8)
    for b in m.buffers:
        if b.offset > 1:
            assert b.data.size == b.size
            assert np.shares_memory(b.data, whole) and not b.data.flags.writeable
    assert_models_equal(load_model(original), m)
    # Written back inline, it is the same model.
    assert to_bytes(m) == to_bytes(load_model(original))
    _assert_litert_agrees(original, outside)


def test_large_buffer_beyond_the_file_is_a_model_error():
    data = _large_buffer_form(BUILDER_MODELS["conv_relu"])
    with pytest.raises(ModelError, match=r"buffer \d+ claims bytes"):
        load_model(data[:-100])


# ---------------------------------------------------------------- LiteRT runs the rewritten file

def _random_input(rng, shape, dtype):
    shape = [max(int(d), 1) for d in shape]
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype in (np.int32, np.int64, np.uint32, np.uint64):
        return rng.integers(0, 3, shape).astype(dtype)  # often indices or counts
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    raise NotImplementedError(f"no random input of dtype {dtype}")


def _litert_outputs(data: bytes, seed: int = 0) -> dict:
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=data, num_threads=1)
    rng = np.random.default_rng(seed)
    results = {}
    signatures = it.get_signature_list()
    if signatures:
        for key in sorted(signatures):
            runner = it.get_signature_runner(key)
            inputs = {name: _random_input(rng, d["shape"], d["dtype"])
                      for name, d in runner.get_input_details().items()}
            for name, value in runner(**inputs).items():
                results[f"{key}/{name}"] = value
        return results
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], _random_input(rng, d["shape"], d["dtype"]))
    it.invoke()
    for k, d in enumerate(it.get_output_details()):
        results[str(k)] = it.get_tensor(d["index"])
    return results


def _assert_litert_agrees(original: bytes, rewritten: bytes) -> None:
    want = _litert_outputs(original)
    got = _litert_outputs(rewritten)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k], equal_nan=got[k].dtype.kind == "f"), k


# LiteRT's own test models on which ai-edge-litert 2.3.0 aborts the process.
LITERT_ABORTS = {"blockwise_quantized"}


def _litert_cases():
    cases = [pytest.param(p, id=f"fixture-{p.stem}") for p in FIXTURES]
    cases += [pytest.param("conv_relu", id="builder-conv_relu"),
              pytest.param("fc_int8_per_channel", id="builder-fc_int8_per_channel")]
    cases += [pytest.param(p, id=f"litert-{p.stem}") for p in LITERT_MODELS]
    return cases


@pytest.mark.parametrize("source", _litert_cases())
def test_rewritten_file_runs_identically_in_litert(source):
    pytest.importorskip("ai_edge_litert.interpreter")
    original = _data(source)
    if isinstance(source, pathlib.Path) and source.parent != FIXTURE_DIR:
        if source.stem in LITERT_ABORTS:
            pytest.skip("LiteRT aborts the process on this model")
        # LiteRT's own test models: some need NPUs or custom ops it lacks.
        try:
            _litert_outputs(original)
        except (RuntimeError, ValueError, NotImplementedError) as e:
            pytest.skip(f"LiteRT cannot run the original: {str(e)[:80]}")
    _assert_litert_agrees(original, to_bytes(load_model(original)))
