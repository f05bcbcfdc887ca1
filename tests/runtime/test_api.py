"""The Interpreter API behaves like LiteRT's: same detail dicts, same errors (clearer)."""
import threading

import numpy as np
import pytest
from fixture_util import NAMES, model_path
from oracle import LiteRTInterpreter

import edgelite
from edgelite.format.builder import ModelBuilder


def _compare_details(a: dict, b: dict, where: str):
    assert set(a) == set(b), f"{where}: keys {sorted(a)} vs LiteRT {sorted(b)}"
    for key, va in a.items():
        vb = b[key]
        if key == "quantization_parameters":
            for k in vb:
                assert np.array_equal(np.asarray(va[k]), np.asarray(vb[k])), f"{where}: {k}"
                assert np.asarray(va[k]).dtype == np.asarray(vb[k]).dtype, f"{where}: {k} dtype"
        elif isinstance(vb, np.ndarray):
            assert np.array_equal(va, vb) and va.dtype == vb.dtype, f"{where}: {key} {va} vs {vb}"
        elif key == "quantization":
            assert va[1] == vb[1] and np.float32(va[0]) == np.float32(vb[0]), f"{where}: {key}"
        elif key == "sparsity_parameters":
            assert (va == {}) == (vb == {}), f"{where}: sparsity"
        else:
            assert va == vb, f"{where}: {key} {va!r} vs LiteRT {vb!r}"


@pytest.mark.parametrize("name", NAMES)
def test_details_match_litert(name):
    ours = edgelite.Interpreter(model_path=str(model_path(name)))
    theirs = LiteRTInterpreter(model_path=str(model_path(name)))
    for a, b in zip(ours.get_input_details(), theirs.get_input_details()):
        _compare_details(a, b, f"{name} input {b['name']}")
    for a, b in zip(ours.get_output_details(), theirs.get_output_details()):
        _compare_details(a, b, f"{name} output {b['name']}")
    assert len(ours.get_input_details()) == len(theirs.get_input_details())
    assert len(ours.get_output_details()) == len(theirs.get_output_details())
    assert ours.get_signature_list() == theirs.get_signature_list()
    assert ours.num_subgraphs() == theirs.num_subgraphs()
    # Every tensor LiteRT lists, with the same details.
    ours_t = {d["index"]: d for d in ours.get_tensor_details()}
    for d in theirs.get_tensor_details():
        _compare_details(ours_t[d["index"]], d, f"{name} tensor {d['index']} {d['name']}")
    # Signature runner details too.
    for key in theirs.get_signature_list():
        ra, rb = ours.get_signature_runner(key), theirs.get_signature_runner(key)
        for n, d in rb.get_input_details().items():
            _compare_details(ra.get_input_details()[n], d, f"{name} sig {key} input {n}")
        for n, d in rb.get_output_details().items():
            _compare_details(ra.get_output_details()[n], d, f"{name} sig {key} output {n}")


@pytest.mark.parametrize("name", NAMES)
def test_ops_details_match_litert_reference(name):
    from oracle import OpResolverType
    theirs = LiteRTInterpreter(model_path=str(model_path(name)),
                               experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    theirs.allocate_tensors()
    ours = edgelite.Interpreter(model_path=str(model_path(name)))
    a, b = ours._get_ops_details(), theirs._get_ops_details()
    assert [d["op_name"] for d in a] == [d["op_name"] for d in b]
    for da, db in zip(a, b):
        assert np.array_equal(da["inputs"], db["inputs"])
        assert np.array_equal(da["outputs"], db["outputs"])


def _add_model(shape=(2, 3), signature=True, dyn=False):
    b = ModelBuilder()
    sig = tuple(-1 if dyn else d for d in shape)
    x = b.add_input("x", shape, np.float32, shape_signature=sig)
    y = b.add_input("y", shape, np.float32, shape_signature=sig)
    z = b.add_tensor("z", shape, np.float32, shape_signature=sig)
    b.add_op("ADD", [x, y], [z])
    b.add_output(z)
    if signature:
        b.add_signature("serving_default", {"x": x, "y": y}, {"z": z})
    return b.to_bytes()


def test_invoke_before_allocate_is_an_error():
    it = edgelite.Interpreter(model_content=_add_model())
    with pytest.raises(edgelite.InvokeError, match="allocate_tensors"):
        it.invoke()
    with pytest.raises(RuntimeError):   # LiteRT raises RuntimeError-like errors here too
        it.invoke()


def test_set_tensor_wrong_dtype_and_shape():
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    with pytest.raises(edgelite.InterpreterError, match="FLOAT64 but expected type FLOAT32"):
        it.set_tensor(0, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Dimension mismatch.*resize_tensor_input"):
        it.set_tensor(0, np.zeros((2, 4), np.float32))
    with pytest.raises(edgelite.InterpreterError, match="outside"):
        it.set_tensor(99, np.zeros((2, 3), np.float32))


def test_unknown_signature_lists_known_ones():
    it = edgelite.Interpreter(model_content=_add_model())
    with pytest.raises(ValueError, match="'serving_default'"):
        it.get_signature_runner("nope")


def test_signature_runner_and_resize():
    it = edgelite.Interpreter(model_content=_add_model(dyn=True))
    run = it.get_signature_runner()
    out = run(x=np.ones((4, 5), np.float32), y=np.full((4, 5), 2, np.float32))
    assert out["z"].shape == (4, 5) and np.all(out["z"] == 3)


def test_resize_strict_only_unknown_dims():
    it = edgelite.Interpreter(model_content=_add_model())
    with pytest.raises(edgelite.InterpreterError, match="only its -1 dimensions"):
        it.resize_tensor_input(0, [4, 3], strict=True)
    it2 = edgelite.Interpreter(model_content=_add_model(dyn=True))
    it2.resize_tensor_input(0, [4, 3], strict=True)
    it2.resize_tensor_input(1, [4, 3], strict=True)
    it2.allocate_tensors()
    it2.set_tensor(0, np.ones((4, 3), np.float32))
    it2.set_tensor(1, np.ones((4, 3), np.float32))
    it2.invoke()
    assert it2.get_tensor(it2.get_output_details()[0]["index"]).shape == (4, 3)


def test_resize_then_invoke_without_allocate_is_an_error():
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    it.resize_tensor_input(0, [5, 3])
    with pytest.raises(edgelite.InvokeError):
        it.invoke()


def test_tensor_view_and_get_tensor_copy():
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    view = it.tensor(0)
    view()[...] = 1.0
    it.tensor(1)()[...] = 2.0
    it.invoke()
    out = it.get_tensor(2)
    assert np.all(out == 3)
    out[...] = 0    # a copy: the interpreter's tensor is untouched
    assert np.all(it.get_tensor(2) == 3)


def test_tensor_accessor_keeps_its_interpreter():
    """As LiteRT's: the function tensor() returns holds the interpreter, so it still
    reads the live array after the caller's own reference is gone (the interpreter is
    freed, and its executors taken apart, only when nothing holds it)."""
    import weakref
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    it.set_tensor(0, np.ones((2, 3), np.float32))
    it.set_tensor(1, np.ones((2, 3), np.float32))
    it.invoke()
    out = it.tensor(2)
    gone = weakref.ref(it)
    del it
    assert gone() is not None
    assert np.all(out() == 2)
    del out
    assert gone() is None


def test_concurrent_invoke_on_one_interpreter_raises():
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    it._lock.acquire()     # simulate another thread in the middle of invoke
    try:
        with pytest.raises(edgelite.InvokeError, match="another thread"):
            it.invoke()
    finally:
        it._lock.release()


def test_separate_interpreters_in_threads():
    data = _add_model()
    errors, results = [], {}

    def work(k):
        try:
            it = edgelite.Interpreter(model_content=data, num_threads=1)
            it.allocate_tensors()
            for _ in range(200):
                it.set_tensor(0, np.full((2, 3), k, np.float32))
                it.set_tensor(1, np.full((2, 3), k, np.float32))
                it.invoke()
                results.setdefault(k, set()).add(float(it.get_tensor(2)[0, 0]))
        except Exception as e:  # noqa: BLE001 - any failure in a thread is reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == {k: {2.0 * k} for k in range(4)}


def test_unsupported_ops_listed_at_allocate():
    b = ModelBuilder()
    x = b.add_input("x", (2,), np.float32)
    y = b.add_tensor("y", (2,), np.float32)
    z = b.add_tensor("z", (2,), np.float32)
    b.add_custom_op("MyMissingOp", [x], [y])
    b.add_custom_op("OtherMissing", [y], [z])
    b.add_output(z)
    it = edgelite.Interpreter(model_content=b.to_bytes())
    with pytest.raises(edgelite.UnsupportedOpError) as e:
        it.allocate_tensors()
    msg = str(e.value)
    assert "2 node(s)" in msg and "operator 0 (MyMissingOp" in msg
    assert "operator 1 (OtherMissing" in msg
    assert "'y'" in msg and "'z'" in msg


def test_custom_op_four_function_contract():
    from edgelite.kernels.registry import custom_op
    calls = []

    def init(opts):
        calls.append("init")
        return {"scale": float(opts.decode() or 1)}

    def prepare(ctx, data):
        calls.append("prepare")
        ctx.set_output(0, ctx.input(0).shape)

    def invoke(ictx, data):
        np.multiply(ictx.inputs[0], data["scale"], out=ictx.outputs[0])

    def free(data):
        calls.append("free")

    Scale = custom_op("Scale", init=init, prepare=prepare, invoke=invoke, free=free)
    b = ModelBuilder()
    x = b.add_input("x", (3,), np.float32)
    y = b.add_tensor("y", (3,), np.float32)
    b.add_custom_op("Scale", [x], [y], custom_options=b"2.5")
    b.add_output(y)
    it = edgelite.Interpreter(model_content=b.to_bytes(), custom_ops={"Scale": Scale})
    it.allocate_tensors()
    it.set_tensor(0, np.array([1, 2, 3], np.float32))
    it.invoke()
    assert it.get_tensor(1).tolist() == [2.5, 5.0, 7.5]
    assert calls == ["init", "prepare"]
    del it
    import gc
    gc.collect()
    assert calls[-1] == "free"


def test_memory_stays_flat_over_many_invokes():
    import tracemalloc
    it = edgelite.Interpreter(model_content=_add_model())
    it.allocate_tensors()
    for _ in range(100):
        it.invoke()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(20000):
        it.invoke()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 20000, f"memory grew by {growth} bytes over 20000 invokes"


def test_inputs_survive_invoke():
    # A second invoke without set_tensor must see the same inputs (LiteRT keeps
    # graph inputs out of arena reuse).
    from fixture_util import inputs as fixture_inputs
    it = edgelite.Interpreter(model_path=str(model_path("cnn_float32")))
    it.allocate_tensors()
    x = fixture_inputs("cnn_float32")[0]
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    first = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.array_equal(it.get_tensor(it.get_input_details()[0]["index"]), x)
    it.invoke()
    assert np.array_equal(it.get_tensor(it.get_output_details()[0]["index"]), first)


def test_arena_buffers_are_public():
    it = edgelite.Interpreter(model_path=str(model_path("cnn_float32")))
    it.allocate_tensors()
    bufs = it.arena_buffers()
    assert bufs and all({"name", "bytes", "first", "last", "offset"} <= set(b) for b in bufs)
    assert max(b["offset"] + b["bytes"] for b in bufs) == it.memory_report()["arena_bytes"]


def test_num_threads_sets_the_blas_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    it = edgelite.Interpreter(model_content=_add_model(), num_threads=1)
    it.allocate_tensors()
    it.invoke()
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)


def test_signature_runner_is_as_quiet_as_invoke():
    # LOG of 0 and of a negative number: -inf and nan, as LiteRT gives, without numpy
    # RuntimeWarnings from either entry point.
    import warnings
    b = ModelBuilder()
    x = b.add_input("x", (3,), np.float32)
    y = b.add_tensor("y", (3,), np.float32)
    b.add_op("LOG", [x], [y])
    b.add_output(y)
    b.add_signature("serving_default", {"x": x}, {"y": y})
    it = edgelite.Interpreter(model_content=b.to_bytes())
    xs = np.array([0.0, -1.0, 1.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = it.get_signature_runner()(x=xs)["y"]
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], xs)
        it.invoke()
    assert out[0] == -np.inf and np.isnan(out[1]) and out[2] == 0
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), out)
