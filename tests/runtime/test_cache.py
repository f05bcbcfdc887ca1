"""The prepared-model cache (runtime/cache.py): a model read back from its cache file
runs exactly as one decoded and prepared, and a cache never makes a load fail.

Every fixture, on both tiers: an interpreter prepared as usual, one that writes the cache
file, and one that reads it back must give the same outputs, bit for bit, invoke by invoke
(the stateful fixtures carry state), and again after an input is resized (which prepares
the read-back kernels anew). Then: what invalidates a file, damaged files, the switches,
and the array aliasing the pickling keeps."""
from __future__ import annotations

import copyreg
import io
import os
import pickle

import numpy as np
import pytest
from fixture_util import NAMES, inputs, model_path

import edgelite
from edgelite.runtime import cache
from edgelite.runtime.interpreter import OpResolverType
from tests.runtime.test_memory_flat import TIERS
from tests.runtime.test_memory_flat import allocated_on as _make

# fixtures whose prepared state is not cached, and why (what cache_status says)
NOT_CACHED = {
    "while_loop": "control flow",
    "stateful_var": "control flow",        # (CALL_ONCE of its initializer)
}


def _inputs_for(name, it):
    xs = inputs(name)
    details = it.get_input_details()
    if len(xs) != len(details):          # (references per signature)
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(d["shape"]).astype(d["dtype"]) for d in details]
    return xs


def _run(it, xs, times=2):
    outs = []
    for _ in range(times):
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        outs.append([it.get_tensor(d["index"]).copy() for d in it.get_output_details()])
    return outs


def _same(a, b, what):
    for step, (x, y) in enumerate(zip(a, b)):
        for k, (u, v) in enumerate(zip(x, y)):
            np.testing.assert_array_equal(u, v, err_msg=f"{what}: invoke {step}, output {k}")


@pytest.mark.parametrize("read", ["whole", "mapped"])
@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", NAMES)
def test_read_back_model_runs_the_same(name, tier, read, monkeypatch, tmp_path):
    # (the fixtures' files are small, read whole unless the threshold says otherwise)
    monkeypatch.setattr(cache, "READ_BELOW", 0 if read == "mapped" else 1 << 40)
    path = model_path(name)
    plain = _make(path, tier, monkeypatch)
    xs = _inputs_for(name, plain)
    want = _run(plain, xs)
    writer = _make(path, tier, monkeypatch, cache_dir=tmp_path)
    reader = _make(path, tier, monkeypatch, cache_dir=tmp_path)
    if name in NOT_CACHED:
        assert NOT_CACHED[name] in writer.cache_status, writer.cache_status
        assert "not written" in reader.cache_status
        assert not os.listdir(tmp_path)
        _same(want, _run(reader, xs), f"{name}/{tier} (not cached)")
        return
    assert writer.cache_status.startswith("prepared and written"), writer.cache_status
    assert reader.cache_status.startswith("loaded from"), reader.cache_status
    _same(want, _run(writer, xs), f"{name}/{tier} writer")
    _same(want, _run(reader, xs), f"{name}/{tier} reader")
    assert reader.memory_report() == plain.memory_report()
    assert reader.arena_buffers() == plain.arena_buffers()
    assert reader.get_tensor_details() is not None
    for a, b in zip(reader.get_tensor_details(), plain.get_tensor_details()):
        assert a["name"] == b["name"] and list(a["shape"]) == list(b["shape"])
    # a second reader of the same file shares nothing writable with the first (the
    # stateful fixtures carry their state on: the first reader goes on as `plain` does)
    again = _make(path, tier, monkeypatch, cache_dir=tmp_path)
    _same(want, _run(again, xs), f"{name}/{tier} second reader")
    _same(_run(plain, xs), _run(reader, xs), f"{name}/{tier} first reader after the second ran")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("name", ["cnn_int8", "cnn_float32", "cnn_uint8io", "kws_int8"])
def test_read_back_model_resizes(name, tier, monkeypatch, tmp_path):
    """An input resized after a read-back prepares the read-back kernels again."""
    path = model_path(name)
    _make(path, tier, monkeypatch, cache_dir=tmp_path)
    reader = _make(path, tier, monkeypatch, cache_dir=tmp_path)
    plain = _make(path, tier, monkeypatch)
    assert reader.cache_status.startswith("loaded from")
    d = reader.get_input_details()[0]
    shape = [3] + list(d["shape"][1:])
    rng = np.random.default_rng(1)
    if np.issubdtype(d["dtype"], np.integer):
        x = rng.integers(-128, 128, shape).astype(d["dtype"])
    else:
        x = rng.standard_normal(shape).astype(d["dtype"])
    for it in (reader, plain):
        it.resize_tensor_input(d["index"], shape)
        it.allocate_tensors()
    xs = [x] + [np.zeros(e["shape"], e["dtype"]) for e in plain.get_input_details()[1:]]
    _same(_run(plain, xs), _run(reader, xs), f"{name}/{tier} resized")


def test_a_resize_before_the_first_allocation_is_not_written(tmp_path):
    it = edgelite.Interpreter(model_path=str(model_path("cnn_float32")), cache_dir=tmp_path)
    d = it.get_input_details()[0]
    it.resize_tensor_input(d["index"], [2] + list(d["shape"][1:]))
    it.allocate_tensors()
    assert "resized" in it.cache_status
    assert not os.listdir(tmp_path)


def _files(d):
    return sorted(os.listdir(d))


def test_what_invalidates_a_cache_file(tmp_path, monkeypatch):
    src = model_path("cnn_int8")
    path = tmp_path / "m.tflite"
    path.write_bytes(src.read_bytes())
    d = tmp_path / "cache"
    xs = inputs("cnn_int8")
    want = _run(_make(path, "numpy", monkeypatch), xs)
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("prepared")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("loaded")
    # the model file changes (same size, new contents and mtime): prepared again
    other = model_path("cnn_uint8io").read_bytes()
    path.write_bytes(other)
    os.utime(path, ns=(1, 1))
    it = _make(path, "numpy", monkeypatch, cache_dir=d)
    assert it.cache_status.startswith("prepared"), it.cache_status
    xs2 = inputs("cnn_uint8io")
    _same(_run(_make(path, "numpy", monkeypatch), xs2), _run(it, xs2), "rewritten model")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("loaded")
    # rewritten in place with the old size and times (as `cp -p` can): its change time
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        f.write(b"\x01")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns
    it = _make(path, "numpy", monkeypatch, cache_dir=d)
    assert it.cache_status.startswith("prepared"), it.cache_status
    # other options: another file
    path.write_bytes(src.read_bytes())
    _make(path, "numpy", monkeypatch, cache_dir=d)
    n = len(_files(d))
    it = _make(path, "numpy", monkeypatch, cache_dir=d, num_threads=2)
    assert it.cache_status.startswith("prepared")
    assert len(_files(d)) == n + 1
    it = _make(path, "numpy", monkeypatch, cache_dir=d,
               experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    assert it.cache_status.startswith("prepared")
    # the environment that changes prepare: another file (each read back after)
    monkeypatch.setenv("EDGELITE_FUSE", "0")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("prepared")
    assert len(_files(d)) == n + 3
    monkeypatch.delenv("EDGELITE_FUSE")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("loaded")
    monkeypatch.setenv("EDGELITE_FUSE", "0")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("loaded")
    monkeypatch.delenv("EDGELITE_FUSE")
    # edgelite's own sources
    monkeypatch.setattr(cache, "_process_key", cache._versions() + "edited")
    assert _make(path, "numpy", monkeypatch, cache_dir=d).cache_status.startswith("prepared")
    it = _make(path, "numpy", monkeypatch, cache_dir=d)
    _same(want, _run(it, xs), "after the invalidations")


def test_switches(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGELITE_CACHE_DIR", raising=False)
    path = str(model_path("cnn_float32"))
    assert edgelite.Interpreter(model_path=path).cache_status.startswith("off")
    monkeypatch.setenv("EDGELITE_CACHE_DIR", str(tmp_path))
    it = edgelite.Interpreter(model_path=path)
    it.allocate_tensors()
    assert it.cache_status.startswith("prepared and written")
    assert edgelite.Interpreter(model_path=path).cache_status.startswith("loaded")
    assert edgelite.Interpreter(model_path=path, cache_dir=False).cache_status.startswith("off")
    it = edgelite.Interpreter(model_content=model_path("cnn_float32").read_bytes())
    assert "file path" in it.cache_status
    it = edgelite.Interpreter(model_path=path, custom_ops={"X": object})
    assert "custom ops" in it.cache_status
    with pytest.raises(edgelite.ModelError, match="cannot open"):
        edgelite.Interpreter(model_path=str(tmp_path / "missing.tflite"))


def test_an_unwritable_cache_directory_does_not_fail_a_load(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    it = edgelite.Interpreter(model_path=str(model_path("cnn_float32")),
                              cache_dir=blocker / "sub")
    it.allocate_tensors()
    assert "not written: cannot write" in it.cache_status
    it.set_tensor(it.get_input_details()[0]["index"], inputs("cnn_float32")[0])
    it.invoke()


@pytest.mark.parametrize("name", ["cnn_int8", "transformer_float32"])
def test_damaged_cache_files_are_ignored_and_rewritten(name, tmp_path, monkeypatch):
    """Truncations, garbage and flipped bytes anywhere before the arrays' bytes (the
    header, the key, the lengths, the pickles, which a CRC guards): the load prepares
    anew, runs right and writes the file again."""
    path = model_path(name)
    xs = _inputs_for(name, _make(path, "numpy", monkeypatch))
    want = _run(_make(path, "numpy", monkeypatch), xs)
    _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
    (f,) = _files(tmp_path)
    good = (tmp_path / f).read_bytes()
    head = len(cache.MAGIC) + 4
    key_len = int.from_bytes(good[len(cache.MAGIC):head], "little")
    state_len, layout_len, data_at = (int.from_bytes(good[head + key_len + 8 * k:
                                                          head + key_len + 8 * k + 8], "little")
                                      for k in range(3))
    end = head + key_len + 28 + state_len + layout_len     # (then padding to data_at)
    rng = np.random.default_rng(0)
    damaged = [b"", good[:10], good[:head + key_len + 5], good[:data_at // 2],
               good[:data_at + 100], bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
               b"x" + good[1:]]
    for pos in rng.integers(0, end, 40).tolist() + [head, head + key_len, head + key_len + 8,
                                                     head + key_len + 24, end - 1]:
        b = bytearray(good)
        b[pos] ^= 0xFF
        damaged.append(bytes(b))
    for k, bad in enumerate(damaged):
        (tmp_path / f).write_bytes(bad)
        it = _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
        assert it.cache_status.startswith("prepared and written"), (k, it.cache_status)
        _same(want, _run(it, xs), f"{name}: damaged file {k}")
        assert (tmp_path / f).read_bytes()[:data_at] == good[:data_at]
    assert state_len and layout_len


def _round_trip(state):
    """(the pickler, the pickle, state read back): pickled as a cache file's state, its
    arrays in a data section of their own."""
    class Ex:
        runtime = None
    f = io.BytesIO()
    p = cache._Pickler(f, Ex(), (0, 0), None)
    p.dump(state)
    data = np.zeros(p.size + 64, np.uint8)
    for off, raw in p.buffers:
        data[off:off + raw.nbytes] = raw
    return p, f.getvalue(), cache._Unpickler(io.BytesIO(f.getvalue()), data, None, None,
                                             None).load()


def test_the_pickling_keeps_views_of_one_array_views_of_one_array():
    """A kernel may keep a buffer and views of it (a padded input and its interior):
    written through one, seen in the other, after a read-back too. Read-only arrays
    stay read-only; empty and object arrays come back as they were."""
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    inner = base[1:3, 1:5]
    zeros = np.zeros((3, 5), np.int32)      # (made anew at load, not written)
    zeros_row = zeros[1]
    flipped = base[::-1, ::2]
    fortran = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    column = fortran[:, 1]
    frozen = np.arange(5, dtype=np.int64)
    frozen.flags.writeable = False
    state = {"base": base, "inner": inner, "flipped": flipped, "fortran": fortran,
             "column": column, "frozen": frozen, "empty": np.zeros((0, 3), np.int8),
             "objects": np.array(["a", None], dtype=object), "scalar": np.float32(2.5),
             "zeros": zeros, "zeros_row": zeros_row}
    p, _, got = _round_trip(state)
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
        assert got[k].dtype == v.dtype
    assert len(p.buffers) == 3            # base, fortran, frozen: one copy each
    got["inner"][0, 1] = 7
    assert got["base"][1, 2] == 7
    assert got["flipped"][2, 1] == 7      # (row 1 counted from the end, column 2 of 0, 2, 4)
    got["column"][2] = -5
    assert got["fortran"][2, 1] == -5
    got["zeros_row"][4] = 9
    assert got["zeros"][1, 4] == 9
    assert not got["frozen"].flags.writeable and got["base"].flags.writeable
    assert got["fortran"].flags.f_contiguous


@pytest.mark.parametrize("generated", [False, True])
def test_plain_objects_come_back_by_their_setter_with_their_cycles(generated, monkeypatch):
    """Kernels, specs, contexts and IR records pickle as a values tuple plus a setter for
    their attribute names (runtime/cache.py, "plain objects"): they come back with the same
    attributes in the same order, objects that refer to themselves (a kernel's invoke is
    its own bound method) or to each other still do. Both setters: the dict update a
    process's first load gets, and the generated function of later loads."""
    from edgelite.format import ir
    from edgelite.kernels.base import TensorSpec
    from edgelite.kernels.elementwise import Add
    monkeypatch.setattr(cache, "_SETTERS", {})
    monkeypatch.setattr(cache, "_ASKED", set())
    t = ir.Tensor("x", (1, 4), quantization=ir.QuantParams(np.ones(1, np.float32),
                                                          np.zeros(1, np.int64)))
    k = Add()
    k.invoke = k.invoke                     # (a bound method of itself)
    k.peer = k
    k.spec = TensorSpec(index=3, name="x", shape=(1, 4), dtype=np.dtype(np.float32), type=0,
                        quant=t.quantization, data=None, is_variable=False)
    k.tensor = t
    more = [ir.Tensor(f"x{i}", (i,)) for i in range(4)]
    state = {"t": t, "k": k, "more": more}
    _, raw, got = _round_trip(state)
    if generated:           # (the second load of these names in the process)
        _, raw, got = _round_trip(state)
        assert cache._SETTERS and all(type(f) is type(_round_trip)
                                      for f in cache._SETTERS.values())
    else:
        assert not cache._SETTERS
    assert cache._plain_class(ir.Tensor) is not None and cache._plain_class(Add) is not None
    assert b"_setter" in raw and b"__dict__" not in raw
    assert list(vars(got["t"])) == list(vars(t)) and got["t"] == t
    assert [vars(a) for a in got["more"]] == [vars(a) for a in more]
    g = got["k"]
    assert type(g) is Add and list(vars(g)) == list(vars(k))
    assert g.peer is g and g.invoke.__self__ is g
    assert g.tensor is got["t"] and g.spec.quant is got["t"].quantization
    assert vars(g.spec) == {**vars(k.spec), "quant": g.spec.quant}


def test_objects_that_pickle_their_own_way_keep_it():
    """Only edgelite's plain classes take the setter form: classes with __slots__, their
    own pickling methods or __setattr__, or a base outside edgelite pickle as before, and
    so does an instance attribute named like one of its class's data descriptors
    (assigning it would call the descriptor; pickle's state dict does not)."""
    from edgelite.errors import OpError
    from edgelite.runtime.arena import _Req

    class Plain:
        pass

    class Slotted:
        __slots__ = ("a",)

    class OwnState:
        def __setstate__(self, state):
            self.__dict__.update(state)

    class OwnSetattr:
        def __setattr__(self, name, value):
            object.__setattr__(self, name, value)

    class WithProperty:
        @property
        def x(self):
            return 1

        @x.setter
        def x(self, value):
            raise AttributeError("read-only")
    for cls in (Plain, Slotted, OwnState, OwnSetattr, WithProperty):
        cls.__module__ = "edgelite.not_a_module"        # (as if edgelite's)
    assert cache._plain_class(Plain) == frozenset()
    assert cache._plain_class(WithProperty) == {"x"}
    for cls in (OpError, _Req, Slotted, OwnState, OwnSetattr, dict, np.ndarray):
        assert cache._plain_class(cls) is None, cls
    p = cache._Pickler(io.BytesIO(), type("Ex", (), {"runtime": None})(), (0, 0), None)
    plain, odd = Plain(), WithProperty()
    plain.x = odd.y = 1
    odd.__dict__["x"] = 2
    assert p.reducer_override(plain)[0] is copyreg.__newobj__
    assert p.reducer_override(odd) is NotImplemented
    err = OpError("subgraph 0, operator 1 (ADD): bad")
    assert str(_round_trip([err])[2][0]) == str(err)


@pytest.mark.parametrize("templates", [True, False])
def test_a_setter_takes_identifiers_only(templates, monkeypatch):
    """A cache file naming attributes that are not identifiers (code, if the generated
    setter's source took them as they come) is refused, and the load prepares as usual.
    A process's first request for a set of names gets a dict update, later ones one
    generated function (from a template per length), each setting the names in order."""
    monkeypatch.setattr(cache, "_SETTERS", {})
    monkeypatch.setattr(cache, "_ASKED", set())
    if not templates:       # (each setter compiled from its source)
        monkeypatch.setattr(cache, "_from_template", lambda keys: None)
    for keys in (("a; import os",), ("a", "b=1"), ("class",), (), ("x", 3), ["a"]):
        for _ in range(2):
            with pytest.raises(pickle.UnpicklingError):
                cache._setter(keys)
    for n in (1, 2, 7, 40, 300):
        keys = tuple(f"k{i}" for i in range(n))
        first, second = cache._setter(keys), cache._setter(keys)
        assert second is cache._setter(keys) and second is not first
        for f in (first, second):
            o = type("O", (), {})()
            f(o, tuple(range(n)))
            assert list(vars(o).items()) == [(k, i) for i, k in enumerate(keys)]


def test_a_foreign_cache_file_is_not_unpickled(tmp_path, monkeypatch):
    """A file whose header does not match is never unpickled; one whose pickle names
    something outside edgelite and numpy is refused."""
    path = model_path("cnn_float32")
    _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
    (f,) = _files(tmp_path)

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    evil = pickle.dumps(Boom())
    with pytest.raises(pickle.UnpicklingError):
        cache._Unpickler(io.BytesIO(evil), None, None, None, None).load()

    class Eval:
        def __reduce__(self):
            return (eval, ("1 + 1",))
    with pytest.raises(pickle.UnpicklingError):
        cache._Unpickler(io.BytesIO(pickle.dumps(Eval())), None, None, None, None).load()
    good = (tmp_path / f).read_bytes()
    (tmp_path / f).write_bytes(good[:len(cache.MAGIC) + 4] + evil)
    it = _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
    assert it.cache_status.startswith("prepared and written")
    assert not (tmp_path / "pwned").exists()


def test_every_environment_variable_is_keyed_or_ignored():
    """An EDGELITE_ variable that changes what prepare makes must be part of the key."""
    import pathlib
    import re
    root = pathlib.Path(edgelite.__file__).parent
    names = set()
    for f in root.rglob("*.py"):
        names |= set(re.findall(r"EDGELITE_[A-Z_]+[A-Z]", f.read_text()))
    assert names, "no variables found"
    assert names <= set(cache.ENV_KEYED) | set(cache.ENV_IGNORED), names


def test_threads_reading_back_at_once_in_fresh_processes(tmp_path):
    """Interpreters built at once in several threads of a fresh process (no kernel module
    imported yet), first writing every fixture's cache file, then, in another process,
    reading them back: no errors, and the outputs of a process without the cache."""
    import json
    import subprocess
    import sys

    from tests.kernels.test_registry import THREADS_CODE
    models = str(model_path("cnn_int8").parent)

    def run(cache_dir):
        env = {k: v for k, v in os.environ.items() if k != "EDGELITE_CACHE_DIR"}
        if cache_dir is not None:
            env["EDGELITE_CACHE_DIR"] = str(cache_dir)
        r = subprocess.run([sys.executable, "-c", THREADS_CODE % models], capture_output=True,
                           text=True, check=True, env=env)
        return json.loads(r.stdout.strip().splitlines()[-1])
    want = run(None)
    for _ in range(2):            # writes, then reads back
        errors, _, same, outs = run(tmp_path)
        assert errors == [] and same
        assert outs == want[3]
    assert len(_files(tmp_path)) == len(NAMES) - len(NOT_CACHED)


def test_the_commands_use_the_cache_directory_of_the_environment(tmp_path, monkeypatch):
    from edgelite.tools import common
    monkeypatch.setenv("EDGELITE_CACHE_DIR", str(tmp_path))
    path = str(model_path("kws_int8"))
    model, it = common.load(path)
    it.allocate_tensors()
    assert it.cache_status.startswith("prepared and written")
    model2, it2 = common.load(path)
    assert it2.cache_status.startswith("loaded from")
    assert [t.name for t in model2.subgraphs[0].tensors] == \
        [t.name for t in model.subgraphs[0].tensors]


def test_a_first_allocation_that_fails_writes_nothing(tmp_path, monkeypatch):
    """A first allocation that fails after its prepared state was taken (here in bind)
    writes no file, and a later one that succeeds does not write the failed one's state
    with its own layout."""
    from edgelite.runtime import plan
    path = str(model_path("cnn_float32"))
    bind = plan.SubgraphExecutor._bind
    calls = []

    def failing_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no memory, this once")
        bind(self)
    monkeypatch.setattr(plan.SubgraphExecutor, "_bind", failing_once)
    it = edgelite.Interpreter(model_path=path, cache_dir=tmp_path)
    with pytest.raises(MemoryError):
        it.allocate_tensors()
    assert it.cache_status.endswith("not written: the first allocate_tensors() failed")
    it.allocate_tensors()
    assert not os.listdir(tmp_path)
    assert it.cache_status.endswith("not written: the first allocate_tensors() failed")
    it.set_tensor(it.get_input_details()[0]["index"], inputs("cnn_float32")[0])
    it.invoke()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_CACHED])
def test_read_back_signature_runners_run_the_same(name, monkeypatch, tmp_path):
    """Every signature of a read-back model (other subgraphs are set up from the read-back
    IR on first use) gives what the plain model's does."""
    path = model_path(name)
    plain = _make(path, "numpy", monkeypatch)
    _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
    reader = _make(path, "numpy", monkeypatch, cache_dir=tmp_path)
    assert reader.cache_status.startswith("loaded from")
    sigs = plain.get_signature_list()
    assert reader.get_signature_list() == sigs
    rng = np.random.default_rng(2)
    for key in sigs:
        a, b = plain.get_signature_runner(key), reader.get_signature_runner(key)
        feeds = {}
        for k, d in a.get_input_details().items():
            if np.issubdtype(d["dtype"], np.integer):
                feeds[k] = rng.integers(-5, 5, d["shape"]).astype(d["dtype"])
            else:
                feeds[k] = rng.standard_normal(d["shape"]).astype(d["dtype"])
        want, got = a(**feeds), b(**feeds)
        assert want.keys() == got.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name}: {key}/{k}")


def test_two_threads_writing_one_file_use_their_own_temporary_files(tmp_path, monkeypatch):
    """Two interpreters of one model loaded at once in two threads both write its file;
    each writes through a temporary file of its own (a shared one, truncated and written
    by both at once, gave read-back models wrong outputs), and the file reads back right."""
    import threading
    path = model_path("kws_int8")
    barrier = threading.Barrier(2, timeout=30)
    save = cache.Entry.save
    temps, replace = [], os.replace

    def save_together(self, ex):
        barrier.wait()               # both have prepared: write at the same time
        save(self, ex)

    def recording_replace(src, dst):
        temps.append(str(src))
        replace(src, dst)
    monkeypatch.setattr(cache.Entry, "save", save_together)
    monkeypatch.setattr(cache.os, "replace", recording_replace)
    errors = []

    def load():
        try:
            edgelite.Interpreter(model_path=str(path), cache_dir=tmp_path).allocate_tensors()
        except Exception as e:       # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(temps) == 2 and temps[0] != temps[1]
    # (undo() would also undo the conftest's settings)
    monkeypatch.setattr(cache.Entry, "save", save)
    monkeypatch.setattr(cache.os, "replace", replace)
    xs = inputs("kws_int8")
    reader = edgelite.Interpreter(model_path=str(path), cache_dir=tmp_path)
    reader.allocate_tensors()
    assert reader.cache_status.startswith("loaded from")
    plain = edgelite.Interpreter(model_path=str(path))
    plain.allocate_tensors()
    _same(_run(plain, xs), _run(reader, xs), "written by two threads")


def test_fused_activations_of_binary_ops_are_cached(tmp_path):
    """A float ADD with RELU6 and integer ADD / SUB with a clamp keep their clamp as a
    partial of a module-level function (they were lambdas, which do not pickle: such a
    model was prepared at every load; found by fuzzing the cache)."""
    from edgelite.format.builder import ModelBuilder
    b = ModelBuilder("clamped binary ops")
    x = b.add_input("x", (2, 8), np.float32)
    i = b.add_input("i", (2, 8), np.int32)
    y = b.add_tensor("y", (2, 8), np.float32)
    b.add_op("ADD", [x, x], [y], fused_activation_function="RELU6")
    j = b.add_tensor("j", (2, 8), np.int32)
    b.add_op("ADD", [i, i], [j], fused_activation_function="RELU")
    k = b.add_tensor("k", (2, 8), np.int32)
    b.add_op("SUB", [j, i], [k], fused_activation_function="RELU_N1_TO_1")
    b.add_output(y)
    b.add_output(k)
    path = tmp_path / "m.tflite"
    path.write_bytes(b.to_bytes())
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 8)).astype(np.float32) * 8,
          rng.integers(-9, 9, (2, 8)).astype(np.int32)]
    runs = []
    for cache_dir in (False, tmp_path / "c", tmp_path / "c"):
        it = edgelite.Interpreter(model_path=str(path), cache_dir=cache_dir)
        it.allocate_tensors()
        runs.append((it.cache_status, _run(it, xs)))
    assert runs[1][0].startswith("prepared and written"), runs[1][0]
    assert runs[2][0].startswith("loaded from"), runs[2][0]
    _same(runs[0][1], runs[2][1], "clamped binary ops")
    assert runs[0][1][0][0].max() == 6 and set(np.unique(runs[0][1][0][1])) <= {-1, 0, 1}


def _outcome(path, cache_dir, seed):
    """(what happened, outputs of two invokes or the error) for a model loaded with
    this cache directory (False: none), and its cache_status."""
    try:
        it = edgelite.Interpreter(model_path=str(path), cache_dir=cache_dir)
        it.allocate_tensors()
        rng = np.random.default_rng(seed)
        for d in it.get_input_details():
            dt = np.dtype(d["dtype"]) if d["dtype"] not in (np.bytes_, np.object_) else None
            if dt is not None and dt.kind in "fiub":
                x = (rng.standard_normal(d["shape"]) if dt.kind == "f"
                     else rng.integers(0, 3, d["shape"]))
                it.set_tensor(d["index"], x.astype(dt))
        outs = []
        for _ in range(2):
            it.invoke()
            outs.append([it.get_tensor(o["index"]).copy() for o in it.get_output_details()])
        return ("ok", outs), it.cache_status
    except edgelite.EdgeliteError as e:
        return ("error", f"{type(e).__name__}: {e}"), None


def _fuzz_cache(cases: int, seed: int, tmp_path) -> list:
    import warnings

    from tests.format.test_fuzz_ir import WITHOUT_WHILE, mutants
    problems = []
    for k, name, whats, data in mutants(WITHOUT_WHILE, cases, seed, least=0):
        path = tmp_path / f"m{k}.tflite"
        path.write_bytes(data)
        d = tmp_path / f"c{k}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain, _ = _outcome(path, False, k)
            written, _ = _outcome(path, d, k)
            read, status = _outcome(path, d, k)
        for what, got in (("writer", written), ("reader", read)):
            if got[0] != plain[0] or (got[0] == "error" and got[1] != plain[1]):
                problems.append(f"{name} {k} {whats} {what}: {got[0]} {got[1]!s:.200} "
                                f"where the plain load gave {plain[0]} {plain[1]!s:.200}")
            elif got[0] == "ok":
                for a, b in zip(got[1], plain[1]):
                    for u, v in zip(a, b):
                        if u.dtype != v.dtype or not np.array_equal(
                                u, v, equal_nan=u.dtype.kind in "fc"):
                            problems.append(f"{name} {k} {whats} {what}: other outputs")
        if read[0] == "ok" and not (status.startswith("loaded") or "control flow" in status):
            problems.append(f"{name} {k} {whats}: not read back: {status}")
    return problems


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_mutated_models_read_back_run_as_prepared(tmp_path, monkeypatch):
    """Models from the structure-aware fuzzer's mutations (tests/format/test_fuzz_ir.py),
    each loaded plain, writing its cache file and reading it back: the same outputs, bit
    for bit, or the same error; every model that runs (but control flow) read back.
    This found the binary ops' lambdas that kept such models out of the cache."""
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", str(64 << 20))
    assert _fuzz_cache(300, 19, tmp_path) == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(4))
def test_mutated_models_read_back_run_as_prepared_exhaustive(seed, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", str(64 << 20))
    assert _fuzz_cache(1500, 100 + seed, tmp_path) == []


def test_a_model_file_replaced_after_the_key_is_not_read_with_the_old_state(tmp_path, monkeypatch):
    """The model file is mapped after its cache file's key was made from its stat; one
    replaced in between (another process writing it) is not read back with the old file's
    prepared state."""
    path = tmp_path / "m.tflite"
    path.write_bytes(model_path("cnn_int8").read_bytes())
    d = tmp_path / "c"
    _make(path, "numpy", monkeypatch, cache_dir=d)
    restore = cache.Entry._restore

    def replaced_first(self, mm, pos, runtime):
        path.write_bytes(model_path("cnn_uint8io").read_bytes())
        return restore(self, mm, pos, runtime)
    monkeypatch.setattr(cache.Entry, "_restore", replaced_first)
    it = _make(path, "numpy", monkeypatch, cache_dir=d)
    assert not it.cache_status.startswith("loaded"), it.cache_status
    assert it.get_input_details()[0]["dtype"] == np.uint8       # (cnn_uint8io's input)
    assert it.model.source_path == str(path)


@pytest.mark.parametrize("tier", TIERS)
def test_a_cache_file_holds_no_uninitialized_buffers(tier, tmp_path, monkeypatch):
    """A kernel's work buffers (invoke writes them before reading) are zeroed at prepare,
    so a cache file does not store their bytes, which are not part of the prepared state:
    they made kws_int8's file 1.1 MB instead of 0.7 and the int8 encoder's cross the 2 MB
    read-whole line from one run to the next (what np.empty held). Here np.empty fills its
    arrays with 0xAB while the fixtures prepare; no array of the data section may be
    mostly that."""
    real_empty = np.empty

    def poisoned(*args, **kwargs):
        a = real_empty(*args, **kwargs)
        if a.dtype != object:
            a.reshape(-1).view(np.uint8)[:] = 0xAB
        return a
    dumped = []
    real_dump = cache._Pickler.dump

    def dump(self, obj):
        real_dump(self, obj)
        dumped.append(self)
    monkeypatch.setattr(cache._Pickler, "dump", dump)
    monkeypatch.setattr(np, "empty", poisoned)
    checked = 0
    for name in NAMES:
        if name in NOT_CACHED:
            continue
        dumped.clear()
        it = _make(model_path(name), tier, monkeypatch, cache_dir=tmp_path / name)
        assert it.cache_status.startswith("prepared and written"), it.cache_status
        for _off, raw in dumped[0].buffers:
            flat = raw.reshape(-1)
            assert np.count_nonzero(flat == 0xAB) <= flat.size // 2, \
                f"{name}: a {flat.size}-byte array of the prepared state was never written"
            checked += 1
    assert checked > 20
