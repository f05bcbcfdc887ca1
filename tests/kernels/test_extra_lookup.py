"""Conformance of extra_lookup.py against LiteRT: the resource hash tables
(HASHTABLE, HASHTABLE_IMPORT, HASHTABLE_FIND, HASHTABLE_SIZE), HASHTABLE_LOOKUP,
EMBEDDING_LOOKUP_SPARSE, LSH_PROJECTION, SKIP_GRAM and the Philox random ops
(RANDOM_UNIFORM, RANDOM_STANDARD_NORMAL, MULTINOMIAL)."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.kernels.extra_lookup import Philox, skip_grams

try:
    from ai_edge_litert.interpreter import Interpreter as LiteRT
except ImportError:  # pragma: no cover
    LiteRT = None

OBJ = object


def _expect_op_error(model, op_name, inputs=(), match=None):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError) as e:
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], x)
        it.invoke()
    assert op_name in str(e.value), str(e.value)
    if match:
        assert match in str(e.value), str(e.value)


# ================================================================ hash tables

def _table_model(key_dtype, keys, values, query_shape, default, *, table_id=3, imports=1,
                 import_values2=None, with_size=True, find=True):
    value_dtype = "STRING" if key_dtype == "INT64" else "INT64"
    b = ModelBuilder()
    res = b.add_tensor("res", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [res], table_id=table_id, key_dtype=key_dtype,
             value_dtype=value_dtype)
    k = b.add_constant("keys", keys)
    v = b.add_constant("values", values)
    for i in range(imports):
        vi = v if i == 0 or import_values2 is None else b.add_constant("values2", import_values2)
        b.add_op("HASHTABLE_IMPORT", [res, k, vi], [])
    outs = []
    if find:
        q = b.add_input("query", query_shape, np.int64 if key_dtype == "INT64" else OBJ)
        d = b.add_constant("default", default)
        out = b.add_tensor("found", query_shape, np.asarray(default).dtype)
        b.add_op("HASHTABLE_FIND", [res, q, d], [out])
        outs.append(out)
    if with_size:
        sz = b.add_tensor("size", (1,), np.int64)
        b.add_op("HASHTABLE_SIZE", [res], [sz])
        outs.append(sz)
    for o in outs:
        b.add_output(o)
    return b.to_bytes()


INT_TABLES = [  # keys, values (duplicate keys: the first pair wins)
    ([1, 5, 7, 5], [b"a", b"bb", b"", b"dup"]),
    ([-(2 ** 63), 2 ** 63 - 1, 0], [b"min", b"max", b"zero"]),
    ([42], [b"only"]),
    (list(range(100, 0, -3)), [f"v{i}".encode() for i in range(34)]),
]


@pytest.mark.parametrize("table", range(len(INT_TABLES)))
@pytest.mark.parametrize("qshape", [(6,), (2, 3), (1,), (0,)])
def test_hashtable_int64_to_string(table, qshape):
    keys, values = INT_TABLES[table]
    rng = np.random.default_rng(table)
    pool = np.array(keys + [-1, 3, 2 ** 40], np.int64)
    q = rng.choice(pool, size=qshape).astype(np.int64)
    m = _table_model("INT64", np.array(keys, np.int64), np.array(values, OBJ), qshape,
                     np.array([b"<missing>"], OBJ))
    check_against_litert(m, [q])


STR_TABLES = [
    ([b"x", b"yy", b"x"], [4, 9, 10]),
    ([b"", b"a b", "\u00e9t\u00e9".encode(), b"z" * 40], [-(2 ** 63), 2 ** 63 - 1, 0, 7]),
]


@pytest.mark.parametrize("table", range(len(STR_TABLES)))
@pytest.mark.parametrize("qshape", [(5,), (2, 2)])
def test_hashtable_string_to_int64(table, qshape):
    keys, values = STR_TABLES[table]
    rng = np.random.default_rng(table)
    pool = keys + [b"nope", b"X", b"x "]
    q = np.array([pool[i] for i in rng.integers(0, len(pool), int(np.prod(qshape)))],
                 OBJ).reshape(qshape)
    m = _table_model("STRING", np.array(keys, OBJ), np.array(values, np.int64), qshape,
                     np.array([-1, 99], np.int64))     # only the first default is used
    check_against_litert(m, [q])


def test_hashtable_second_import_ignored():
    # LiteRT ignores every import after the first (the table is already initialized).
    m = _table_model("INT64", np.array([1, 2], np.int64), np.array([b"a", b"b"], OBJ), (3,),
                     np.array([b"-"], OBJ), imports=2,
                     import_values2=np.array([b"A", b"B"], OBJ))
    q = np.array([1, 2, 3], np.int64)
    check_against_litert(m, [q])


def test_hashtable_persists_across_invokes_and_size_only():
    m = _table_model("STRING", np.array([b"a", b"b", b"c"], OBJ), np.array([1, 2, 3], np.int64),
                     None, None, find=False)
    it = edgelite.Interpreter(model_content=m)
    it.allocate_tensors()
    ref = LiteRT(model_content=m)
    ref.allocate_tensors()
    for _ in range(3):
        it.invoke()
        ref.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        want = ref.get_tensor(ref.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def test_hashtable_size_before_import():
    b = ModelBuilder()
    res = b.add_tensor("res", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [res], table_id=0, key_dtype="STRING", value_dtype="INT64")
    sz = b.add_tensor("size", (1,), np.int64)
    b.add_op("HASHTABLE_SIZE", [res], [sz])
    b.add_output(sz)
    b.add_output(res)
    m = b.to_bytes()
    got, want = run_edgelite(m, []), run_litert(m, [])
    np.testing.assert_array_equal(got[0], want[0])      # an empty table has size 0
    assert got[0].dtype == want[0].dtype


def test_hashtable_find_before_import_is_an_error():
    # LiteRT: "hashtable need to be initialized before using" (invoke fails).
    m = _table_model("INT64", np.array([1], np.int64), np.array([b"a"], OBJ), (2,),
                     np.array([b"-"], OBJ), imports=0, with_size=False)
    q = np.array([1, 2], np.int64)
    with pytest.raises(RuntimeError):
        run_litert(m, [q])
    _expect_op_error(m, "HASHTABLE_FIND", [q], match="before HASHTABLE_IMPORT")


def test_hashtable_bad_types_are_errors():
    # key/value types other than int64<->string: LiteRT fails at prepare.
    b = ModelBuilder()
    res = b.add_tensor("res", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [res], table_id=1, key_dtype="INT32", value_dtype="STRING")
    b.add_output(res)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "HASHTABLE", match="int64 -> string")
    # import with values of the wrong type
    b = ModelBuilder()
    res = b.add_tensor("res", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [res], table_id=1, key_dtype="INT64", value_dtype="STRING")
    k = b.add_constant("k", np.array([1, 2], np.int64))
    v = b.add_constant("v", np.array([1, 2], np.int64))
    b.add_op("HASHTABLE_IMPORT", [res, k, v], [])
    b.add_output(res)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "HASHTABLE_IMPORT", match="int64 keys with string values")
    # keys and values of different shapes
    b = ModelBuilder()
    res = b.add_tensor("res", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [res], table_id=1, key_dtype="INT64", value_dtype="STRING")
    k = b.add_constant("k", np.array([1, 2, 3], np.int64))
    v = b.add_constant("v", np.array([b"a", b"b"], OBJ))
    b.add_op("HASHTABLE_IMPORT", [res, k, v], [])
    b.add_output(res)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "HASHTABLE_IMPORT", match="same shape")


def test_hashtable_find_uses_table_of_other_types_is_error():
    # Two tables with different ids; the find names the string-keyed table with int64 keys.
    b = ModelBuilder()
    r1 = b.add_tensor("r1", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [r1], table_id=1, key_dtype="STRING", value_dtype="INT64")
    k = b.add_constant("k", np.array([b"a"], OBJ))
    v = b.add_constant("v", np.array([1], np.int64))
    b.add_op("HASHTABLE_IMPORT", [r1, k, v], [])
    q = b.add_input("q", (1,), np.int64)
    d = b.add_constant("d", np.array([b"-"], OBJ))
    out = b.add_tensor("out", (1,), OBJ)
    b.add_op("HASHTABLE_FIND", [r1, q, d], [out])
    b.add_output(out)
    m = b.to_bytes()
    q = np.array([1], np.int64)
    with pytest.raises(RuntimeError):
        run_litert(m, [q])
    _expect_op_error(m, "HASHTABLE_FIND", [q], match="maps STRING -> INT64")


# ================================================================ HASHTABLE_LOOKUP

def _lookup_model(keys, values, nq):
    b = ModelBuilder()
    q = b.add_input("lookup", (nq,), np.int32)
    k = b.add_constant("keys", np.asarray(keys, np.int32))
    v = b.add_constant("values", values)
    out = b.add_tensor("out", (1,), np.asarray(values).dtype)
    hits = b.add_tensor("hits", (1,), np.uint8)
    b.add_op("HASHTABLE_LOOKUP", [q, k, v], [out, hits])
    b.add_output(out)
    b.add_output(hits)
    return b.to_bytes()


@pytest.mark.parametrize("vshape,dtype", [((6,), np.float32), ((6, 3), np.int32),
                                          ((6, 2, 2), np.uint8), ((6,), np.int64),
                                          ((6, 4), np.int8)])
def test_hashtable_lookup(vshape, dtype):
    rng = np.random.default_rng(7)
    keys = np.array([-40, -3, 0, 2, 2, 90], np.int32)     # sorted, one duplicate
    values = (rng.standard_normal(vshape) * 20).astype(dtype)
    q = np.array([2, 90, -40, 5, 0, -3, 1000, 2, -41], np.int32)
    check_against_litert(_lookup_model(keys, values, q.size), [q])


def test_hashtable_lookup_strings_and_extreme_keys():
    keys = np.array([-2 ** 31, -1, 7, 2 ** 31 - 1], np.int32)
    values = np.array([b"lo", b"minus one", b"seven", b"hi"], OBJ)
    q = np.array([2 ** 31 - 1, -2 ** 31, 7, 8, -1, 0], np.int32)
    check_against_litert(_lookup_model(keys, values, q.size), [q])


def test_hashtable_lookup_many_keys_and_empty_query():
    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(-1000, 1000, 300)).astype(np.int32)
    values = rng.standard_normal((keys.size, 3)).astype(np.float32)
    q = rng.integers(-1100, 1100, 200).astype(np.int32)
    check_against_litert(_lookup_model(keys, values, q.size), [q])
    check_against_litert(_lookup_model(keys, values, 0), [np.zeros(0, np.int32)])


def test_hashtable_lookup_errors():
    b = ModelBuilder()
    q = b.add_input("lookup", (2,), np.int32)
    k = b.add_constant("keys", np.array([1, 2, 3], np.int32))
    v = b.add_constant("values", np.zeros((2, 2), np.float32))
    out = b.add_tensor("out", (1,), np.float32)
    hits = b.add_tensor("hits", (1,), np.uint8)
    b.add_op("HASHTABLE_LOOKUP", [q, k, v], [out, hits])
    b.add_output(out)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [np.array([1, 2], np.int32)])
    _expect_op_error(m, "HASHTABLE_LOOKUP", match="3 keys but 2 value rows")


# ================================================================ EMBEDDING_LOOKUP_SPARSE

def _els_model(ids, indices, dense_shape, weights, params, combiner):
    b = ModelBuilder()
    i0 = b.add_input("ids", ids.shape, np.int32)
    i1 = b.add_input("indices", indices.shape, np.int32)
    i2 = b.add_constant("dense_shape", dense_shape)
    i3 = b.add_input("weights", weights.shape, np.float32)
    i4 = b.add_constant("params", params)
    out = b.add_tensor("out", (1,), np.float32)
    b.add_op("EMBEDDING_LOOKUP_SPARSE", [i0, i1, i2, i3, i4], [out], combiner=combiner)
    b.add_output(out)
    return b.to_bytes()


ELS_CASES = [  # (indices rows, dense_shape, params shape)
    ([[0, 0], [0, 1], [1, 0], [2, 3]], [3, 4], (10, 5)),
    ([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 2, 0], [1, 2, 1]], [2, 3, 2], (6, 2, 3)),
    ([[0], [1], [2]], [3], (4, 3)),                         # rank 1: one output row
    ([[1, 0], [0, 0], [1, 1], [0, 2]], [2, 3], (5, 4)),     # unsorted: revisited buckets
    ([[0, 0], [3, 0], [5, 0]], [2, 1], (4, 2)),             # rows past the output: skipped
    ([[0, 0]], [1, 1], (1, 1)),
]


def _els_case(case, combiner):
    rows, dense, pshape = ELS_CASES[case]
    rng = np.random.default_rng(case)
    indices = np.array(rows, np.int32)
    n = indices.shape[0]
    ids = rng.integers(0, pshape[0], n).astype(np.int32)
    weights = rng.uniform(0.2, 3.0, n).astype(np.float32)
    params = rng.standard_normal(pshape).astype(np.float32)
    m = _els_model(ids, indices, np.array(dense, np.int32), weights, params, combiner)
    return m, [ids, indices, weights], params


ELS_PAST_OUTPUT = 4


@pytest.mark.parametrize("case,combiner", [
    (c, k) for c in range(len(ELS_CASES)) for k in ("SUM", "MEAN", "SQRTN")
    if c != ELS_PAST_OUTPUT or k == "SUM"])   # see test_embedding_lookup_sparse_past_output
def test_embedding_lookup_sparse(case, combiner):
    m, feeds, _ = _els_case(case, combiner)
    check_against_litert(m, feeds)


@pytest.mark.parametrize("combiner", ["MEAN", "SQRTN"])
def test_embedding_lookup_sparse_past_output(combiner):
    # Lookups whose row lies past the output: LiteRT's SUM skips them (tested above), but
    # MEAN/SQRTN then divide a slice past the end of the output buffer (heap corruption:
    # measured, the pytest process aborted in the next test; not every time in a fresh
    # process). edgelite skips them for every combiner; checked against a numpy reference.
    m, feeds, params = _els_case(ELS_PAST_OUTPUT, combiner)
    ids, indices, weights = feeds
    want = np.zeros((2, params.shape[1]), np.float32)
    for b in range(2):
        sel = indices[:, 0] == b
        if sel.any():
            w = weights[sel]
            div = w.sum() if combiner == "MEAN" else np.sqrt((w * w).sum())
            want[b] = (params[ids[sel]] * w[:, None]).sum(0) / div
    got = run_edgelite(m, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_embedding_lookup_sparse_out_of_range_id():
    ids = np.array([0, 7], np.int32)
    indices = np.array([[0, 0], [1, 0]], np.int32)
    weights = np.ones(2, np.float32)
    m = _els_model(ids, indices, np.array([2, 1], np.int32), weights,
                   np.zeros((4, 2), np.float32), "SUM")
    with pytest.raises(RuntimeError):
        run_litert(m, [ids, indices, weights])
    _expect_op_error(m, "EMBEDDING_LOOKUP_SPARSE", [ids, indices, weights],
                     match="id 7, bounds are [0, 3]")


def test_embedding_lookup_sparse_shape_errors():
    ids = np.array([0, 1], np.int32)
    indices = np.array([[0, 0], [1, 0]], np.int32)
    weights = np.ones(3, np.float32)
    m = _els_model(ids, indices, np.array([2, 1], np.int32), weights,
                   np.zeros((4, 2), np.float32), "SUM")
    _expect_op_error(m, "EMBEDDING_LOOKUP_SPARSE", match="3 weights for 2 ids")


# ================================================================ random ops

def _random_model(op, shape, seed, seed2, *, const_shape=True):
    b = ModelBuilder()
    if const_shape:
        s = b.add_constant("shape", np.array(shape, np.int32))
    else:
        s = b.add_input("shape", (len(shape),), np.int32)
    out = b.add_tensor("out", shape if const_shape else (1,) * len(shape), np.float32)
    b.add_op(op, [s], [out], seed=seed, seed2=seed2)
    b.add_output(out)
    return b.to_bytes()


def _run_both(model, feeds, invokes):
    """The outputs of each invoke from LiteRT and edgelite, on one interpreter each."""
    res = []
    for cls in (LiteRT, edgelite.Interpreter):
        it = cls(model_content=model)
        it.allocate_tensors()
        outs = []
        for _ in range(invokes):
            for d, x in zip(it.get_input_details(), feeds):
                it.set_tensor(d["index"], x)
            it.invoke()
            outs.append(np.array(it.get_tensor(it.get_output_details()[0]["index"])))
        res.append(outs)
    return res


# LiteRT's RANDOM_STANDARD_NORMAL fills pairs and, for an odd element count, writes one
# float past the output buffer; the odd sizes here have static (arena) outputs, where that
# lands in padding. No odd-size normal case with a dynamic (malloc'd) output is run.
RANDOM_CASES = [  # shape, seed, seed2
    ((7,), 1, 2), ((3, 5), 123456789012, -5), ((9,), 0, 7), ((2, 2, 2), -1, 0), ((1,), 5, 5),
    ((0,), 3, 4), ((4, 1), 2 ** 31 - 1, -2 ** 31), ((), 11, 12), ((5,), 2 ** 32 + 7, -(2 ** 40) - 1),
]


@pytest.mark.parametrize("op", ["RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL"])
@pytest.mark.parametrize("case", range(len(RANDOM_CASES)))
def test_random_exact(op, case):
    shape, seed, seed2 = RANDOM_CASES[case]
    want, got = _run_both(_random_model(op, shape, seed, seed2), [], 3)
    for w, g in zip(want, got):    # the generator advances between invokes
        assert g.shape == w.shape and g.dtype == w.dtype
        if op == "RANDOM_UNIFORM":
            np.testing.assert_array_equal(g, w)
        else:
            # float log/sin/cos: a few ulp apart (test_random_standard_normal_large_sample)
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_random_dynamic_shape():
    m = _random_model("RANDOM_UNIFORM", (2, 3), 4, 5, const_shape=False)
    want, got = _run_both(m, [np.array([2, 3], np.int32)], 2)
    for w, g in zip(want, got):
        assert g.shape == w.shape == (2, 3)
        np.testing.assert_array_equal(g, w)


def test_random_standard_normal_large_sample():
    # The Philox bits are exact (RANDOM_UNIFORM matches bit for bit); Box-Muller's float
    # logf/sinf/cosf are not reproducible from numpy. Measured on 50,000 values (seed 17, 3):
    # 49,245 equal, 642 one ulp off, 112 two, 1 three (|diff| <= 2.4e-7); computing in
    # float32 numpy or all in double matches worse (11,121 / 17,640 values differ).
    want, got = _run_both(_random_model("RANDOM_STANDARD_NORMAL", (50000,), 17, 3), [], 1)
    w, g = want[0], got[0]
    ulps = np.abs(g.view(np.int32).astype(np.int64) - w.view(np.int32).astype(np.int64))
    assert ulps.max() <= 4
    assert (ulps > 0).mean() < 0.03
    # and the distribution is standard normal
    assert abs(g.mean()) < 0.02 and abs(g.std() - 1) < 0.02


@pytest.mark.parametrize("seeds", [(0, 0), (2 ** 32, 2 ** 33)])   # both truncate to 0
def test_random_unseeded_is_nondeterministic_and_uniform(seeds):
    m = _random_model("RANDOM_UNIFORM", (20000,), *seeds)
    a = run_edgelite(m, [])[0]
    b = run_edgelite(m, [])[0]
    assert not np.array_equal(a, b)
    assert not np.array_equal(run_litert(m, [])[0], run_litert(m, [])[0])
    assert a.min() >= 0 and a.max() < 1
    hist = np.histogram(a, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - 2000) < 200)


def test_random_errors():
    b = ModelBuilder()
    s = b.add_constant("shape", np.array([2, 3], np.int32))
    out = b.add_tensor("out", (2, 3), np.int32)
    b.add_op("RANDOM_UNIFORM", [s], [out], seed=1, seed2=2)
    b.add_output(out)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "RANDOM_UNIFORM", match="float32 only")
    b = ModelBuilder()
    s = b.add_constant("shape", np.array([[2, 3]], np.int32))
    out = b.add_tensor("out", (2, 3), np.float32)
    b.add_op("RANDOM_STANDARD_NORMAL", [s], [out], seed=1, seed2=2)
    b.add_output(out)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "RANDOM_STANDARD_NORMAL", match="shape must be 1-D")


def test_philox_known_answer():
    # Random123's published known-answer vectors for philox4x32-10 (TF's PhiloxRandom
    # is that generator with the counter's low words first and the key from the seed).
    g = Philox(0, 0)
    assert g.blocks(1)[0].tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    g = Philox(0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
    g.counter = (1 << 128) - 1
    assert g.blocks(1)[0].tolist() == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def _multinomial_model(logits, ns, seed, seed2, out_dtype, const=True):
    b = ModelBuilder()
    if const:
        lg = b.add_constant("logits", logits)
        n = b.add_constant("n", np.array(ns, np.int32))
    else:
        lg = b.add_input("logits", logits.shape, np.float32)
        n = b.add_input("n", (), np.int32)
    out = b.add_tensor("out", (logits.shape[0], max(ns, 0)), out_dtype)
    b.add_op("MULTINOMIAL", [lg, n], [out], seed=seed, seed2=seed2)
    b.add_output(out)
    return b.to_bytes()


MULTINOMIAL_CASES = [  # logits, num_samples, const inputs
    (np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32), 7, True),
    (np.array([[0, -np.inf, 1, np.nan, 2]], np.float32), 9, True),
    (np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32), 5, False),
    (np.array([[100, 0], [0, 100], [1, 1]], np.float32), 13, True),
    (np.array([[-np.inf, -np.inf]], np.float32), 3, True),    # no finite logit: class 2
    (np.zeros((2, 3), np.float32), 0, True),
    (np.random.default_rng(2).standard_normal((1, 40)).astype(np.float32) * 3, 33, False),
]


@pytest.mark.parametrize("case", range(len(MULTINOMIAL_CASES)))
@pytest.mark.parametrize("out_dtype", [np.int64, np.int32])
def test_multinomial_exact(case, out_dtype):
    logits, ns, const = MULTINOMIAL_CASES[case]
    m = _multinomial_model(logits, ns, 5, 9 + case, out_dtype, const)
    feeds = [] if const else [logits, np.array(ns, np.int32)]
    want, got = _run_both(m, feeds, 3)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_multinomial_errors():
    m = _multinomial_model(np.zeros((2, 3), np.float32), 4, 1, 2, np.float32)
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "MULTINOMIAL", match="int32 or int64")
    m = _multinomial_model(np.zeros((2, 3), np.float32), -1, 1, 2, np.int64, const=False)
    _expect_op_error(m, "MULTINOMIAL", [np.zeros((2, 3), np.float32), np.array(-1, np.int32)],
                     match="negative")


# ================================================================ LSH_PROJECTION

def _lsh_model(hashes, x_shape, x_dtype, weights, kind):
    b = ModelBuilder()
    h = b.add_constant("hash", hashes)
    xi = b.add_input("x", x_shape, x_dtype)
    ins = [h, xi]
    if weights is not None:
        ins.append(b.add_constant("w", weights))
    out = b.add_tensor("out", (1,), np.int32)
    b.add_op("LSH_PROJECTION", ins, [out], type=kind)
    b.add_output(out)
    return b.to_bytes()


LSH_INPUTS = [((5,), np.float32), ((3, 2), np.int32), ((4, 5), np.float32), ((2, 3), np.int8),
              ((3, 7), np.float32), ((2, 50), np.int32), ((1,), np.uint8), ((2,), np.int8),
              ((2, 3, 3), np.int64), ((3, 15), np.uint8)]   # keys of 5..404 bytes


@pytest.mark.parametrize("kind", [1, 2], ids=["sparse", "dense"])
@pytest.mark.parametrize("bits", [(3, 2), (4, 8), (2, 31), (1, 1)])
@pytest.mark.parametrize("inp", range(len(LSH_INPUTS)))
@pytest.mark.parametrize("weighted", [False, True])
def test_lsh_projection(kind, bits, inp, weighted):
    shape, dtype = LSH_INPUTS[inp]
    rng = np.random.default_rng(inp * 7 + bits[1])
    hashes = rng.standard_normal(bits).astype(np.float32)
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    w = rng.standard_normal(shape[0]).astype(np.float32) if weighted else None
    check_against_litert(_lsh_model(hashes, shape, dtype, w, kind), [x])


@pytest.mark.parametrize("kind", [1, 2])
def test_lsh_projection_strings(kind):
    # LiteRT hashes the string tensor's serialized buffer split evenly by rows.
    rng = np.random.default_rng(5)
    hashes = rng.standard_normal((3, 4)).astype(np.float32)
    x = np.array([b"hello", b"", b"a longer string with words", b"x"], OBJ)
    check_against_litert(_lsh_model(hashes, x.shape, OBJ, None, kind), [x])


def test_lsh_projection_32_bits():
    # 32 bits per function: the signature fills the int32 and LiteRT computes the
    # function offset 1 << 32 in int (x86 masks the count: offset 1).
    rng = np.random.default_rng(9)
    hashes = rng.standard_normal((3, 32)).astype(np.float32)
    x = rng.standard_normal((4,)).astype(np.float32)
    check_against_litert(_lsh_model(hashes, x.shape, np.float32, None, 1), [x])


def test_lsh_projection_errors():
    hashes = np.zeros((2, 33), np.float32)
    m = _lsh_model(hashes, (3,), np.float32, None, 1)
    with pytest.raises(RuntimeError):
        run_litert(m, [np.zeros(3, np.float32)])
    _expect_op_error(m, "LSH_PROJECTION", match="at most 32 bits")
    m = _lsh_model(np.zeros((2, 3), np.float32), (3,), np.float32,
                   np.ones(2, np.float32), 2)
    with pytest.raises(RuntimeError):
        run_litert(m, [np.zeros(3, np.float32)])
    _expect_op_error(m, "LSH_PROJECTION", match="2 weights for 3 input rows")


# ================================================================ SKIP_GRAM

def _skip_gram_model(ngram, max_skip, include_all):
    b = ModelBuilder()
    x = b.add_input("x", (1,), OBJ)
    out = b.add_tensor("out", (1,), OBJ)
    b.add_op("SKIP_GRAM", [x], [out], ngram_size=ngram, max_skip_size=max_skip,
             include_all_ngrams=include_all)
    b.add_output(out)
    return b.to_bytes()


SENTENCES = [b"the quick brown fox jumps over", b"a b c d e", b"one", b"", b"  spaced   out\twords\n",
             b" leading space dropped", b"trailing  ", b"x y"]


@pytest.mark.parametrize("ngram,max_skip,include_all",
                         [(1, 0, False), (2, 0, False), (2, 1, False), (3, 2, False),
                          (2, 0, True), (3, 1, True), (4, 3, True), (6, 0, False),
                          (0, 1, True), (-1, 0, False)])    # no n-grams
@pytest.mark.parametrize("sentence", range(len(SENTENCES)))
def test_skip_gram(ngram, max_skip, include_all, sentence):
    x = np.array([SENTENCES[sentence]], OBJ)
    check_against_litert(_skip_gram_model(ngram, max_skip, include_all), [x])


def test_skip_gram_reference():
    assert skip_grams(b"a b c", 2, 1, False) == [b"a b", b"a c", b"b c"]
    # depth-first: an n-gram is emitted when the stack unwinds, longest first
    assert skip_grams(b"a b c", 2, 0, True) == [b"a b", b"a", b"b c", b"b", b"c"]


def test_skip_gram_errors():
    b = ModelBuilder()
    x = b.add_input("x", (1,), np.int32)
    out = b.add_tensor("out", (1,), OBJ)
    b.add_op("SKIP_GRAM", [x], [out], ngram_size=2)
    b.add_output(out)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [np.zeros(1, np.int32)])
    _expect_op_error(m, "SKIP_GRAM", match="string tensor")


# ================================================================ more edge cases

def test_hashtable_two_tables_and_scalar_handle_tensors():
    # Converter models declare the handles with shape []; HASHTABLE resizes them to [1].
    b = ModelBuilder()
    r1 = b.add_tensor("r1", (), "RESOURCE")
    r2 = b.add_tensor("r2", (), "RESOURCE")
    b.add_op("HASHTABLE", [], [r1], table_id=7, key_dtype="INT64", value_dtype="STRING")
    b.add_op("HASHTABLE", [], [r2], table_id=8, key_dtype="STRING", value_dtype="INT64")
    b.add_op("HASHTABLE_IMPORT", [r1, b.add_constant("k1", np.array([1, 2], np.int64)),
                                  b.add_constant("v1", np.array([b"one", b"two"], OBJ))], [])
    b.add_op("HASHTABLE_IMPORT", [r2, b.add_constant("k2", np.array([b"one"], OBJ)),
                                  b.add_constant("v2", np.array([1], np.int64))], [])
    q = b.add_input("q", (3,), np.int64)
    names = b.add_tensor("names", (3,), OBJ)
    b.add_op("HASHTABLE_FIND", [r1, q, b.add_constant("d1", np.array([b"?"], OBJ))], [names])
    back = b.add_tensor("back", (3,), np.int64)
    b.add_op("HASHTABLE_FIND", [r2, names, b.add_constant("d2", np.array([0], np.int64))],
             [back])
    s1 = b.add_tensor("s1", (1,), np.int64)
    s2 = b.add_tensor("s2", (1,), np.int64)
    b.add_op("HASHTABLE_SIZE", [r1], [s1])
    b.add_op("HASHTABLE_SIZE", [r2], [s2])
    for t in (names, back, s1, s2):
        b.add_output(t)
    check_against_litert(b.to_bytes(), [np.array([2, 1, 5], np.int64)])


def test_hashtable_find_empty_default_is_error():
    m = _table_model("INT64", np.array([1], np.int64), np.array([b"a"], OBJ), (2,),
                     np.zeros(0, OBJ), with_size=False)
    _expect_op_error(m, "HASHTABLE_FIND", match="default value tensor is empty")


def test_hashtable_lookup_unsorted_keys():
    # Keys must be sorted; with unsorted keys LiteRT's bsearch misses some: same probes here.
    keys = np.array([9, 1, 5, 3, 7, 2, 8], np.int32)
    values = np.arange(7, dtype=np.float32) + 0.5
    q = np.arange(0, 11, dtype=np.int32)
    check_against_litert(_lookup_model(keys, values, q.size), [q])


def test_embedding_lookup_sparse_no_lookups():
    ids = np.zeros(0, np.int32)
    indices = np.zeros((0, 2), np.int32)
    weights = np.zeros(0, np.float32)
    m = _els_model(ids, indices, np.array([3, 2], np.int32), weights,
                   np.ones((4, 2), np.float32), "MEAN")
    check_against_litert(m, [ids, indices, weights])


def test_lsh_projection_omitted_weight_input():
    # A third input marked omitted (-1): LiteRT fails to prepare ("Tensor at index 2 was
    # optional but was expected"); so does edgelite.
    rng = np.random.default_rng(4)
    b = ModelBuilder()
    h = b.add_constant("hash", rng.standard_normal((3, 4)).astype(np.float32))
    x = b.add_input("x", (5, 2), np.float32)
    out = b.add_tensor("out", (1,), np.int32)
    b.add_op("LSH_PROJECTION", [h, x, -1], [out], type=1)
    b.add_output(out)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [np.zeros((5, 2), np.float32)])
    _expect_op_error(m, "LSH_PROJECTION", match="input 2 is required")


def test_hashtable_id_taken_by_a_resource_variable():
    # LiteRT keeps variables and tables in one resource map: HASHTABLE fails to invoke.
    b = ModelBuilder()
    vh = b.add_tensor("vh", (1,), "RESOURCE")
    b.add_op("VAR_HANDLE", [], [vh], container=b"", shared_name=b"v")      # id 0
    b.add_op("ASSIGN_VARIABLE", [vh, b.add_constant("init", np.array([1.0], np.float32))], [])
    r = b.add_tensor("r", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [r], table_id=0, key_dtype="INT64", value_dtype="STRING")
    sz = b.add_tensor("size", (1,), np.int64)
    b.add_op("HASHTABLE_SIZE", [r], [sz])
    b.add_output(sz)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    _expect_op_error(m, "HASHTABLE", match="already a resource variable")


def test_hashtable_initialized_by_call_once_subgraph():
    # The converter's layout: CALL_ONCE runs an init subgraph that creates and fills the
    # table; the main subgraph's HASHTABLE (same id) finds it, across invokes.
    b = ModelBuilder()
    init = b.add_subgraph("init")
    r0 = init.add_tensor("r", (), "RESOURCE")
    init.add_op("HASHTABLE", [], [r0], table_id=5, key_dtype="STRING", value_dtype="INT64")
    init.add_op("HASHTABLE_IMPORT", [r0, init.add_constant("k", np.array([b"a", b"b"], OBJ)),
                                     init.add_constant("v", np.array([10, 20], np.int64))], [])
    b.add_op("CALL_ONCE", [], [], init_subgraph_index=1)
    r = b.add_tensor("r", (), "RESOURCE")
    b.add_op("HASHTABLE", [], [r], table_id=5, key_dtype="STRING", value_dtype="INT64")
    q = b.add_input("q", (3,), OBJ)
    out = b.add_tensor("out", (3,), np.int64)
    b.add_op("HASHTABLE_FIND", [r, q, b.add_constant("d", np.array([-1], np.int64))], [out])
    b.add_output(out)
    m = b.to_bytes()
    x = np.array([b"b", b"c", b"a"], OBJ)
    want, got = _run_both(m, [x], 2)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype


def test_assign_variable_onto_a_hash_table_id():
    # The other direction: a table holds id 0, then ASSIGN_VARIABLE writes to id 0.
    # LiteRT fails to invoke (one resource map); so does edgelite, naming the op.
    b = ModelBuilder()
    r = b.add_tensor("r", (1,), "RESOURCE")
    b.add_op("HASHTABLE", [], [r], table_id=0, key_dtype="INT64", value_dtype="STRING")
    vh = b.add_tensor("vh", (1,), "RESOURCE")
    b.add_op("VAR_HANDLE", [], [vh], container=b"", shared_name=b"v")      # id 0
    b.add_op("ASSIGN_VARIABLE", [vh, b.add_constant("init", np.array([1.0], np.float32))], [])
    sz = b.add_tensor("size", (1,), np.int64)
    b.add_op("HASHTABLE_SIZE", [r], [sz])
    b.add_output(sz)
    m = b.to_bytes()
    with pytest.raises(RuntimeError):
        run_litert(m, [])
    with pytest.raises(edgelite.OpError, match=r"operator 2 \(ASSIGN_VARIABLE\).*hash table"):
        it = edgelite.Interpreter(model_content=m)
        it.allocate_tensors()
        it.invoke()
