"""Conformance of extra_numeric.py against LiteRT: RFFT2D, REVERSE_SEQUENCE,
SEGMENT_SUM, UNSORTED_SEGMENT_{SUM,PROD,MAX,MIN}, MATRIX_DIAG, MATRIX_SET_DIAG,
BUCKETIZE, SPARSE_TO_DENSE, DENSIFY, FAKE_QUANT, BITWISE_XOR, RIGHT_SHIFT,
BITCAST, DILATE, COMPLEX_ABS, REAL, IMAG and REDUCE_WINDOW."""
from __future__ import annotations

import numpy as np
import pytest
from oracle import check_against_litert, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder
from edgelite.format.schema import tflite_generated as fb
from edgelite.kernels.extra_numeric import densify

rng = np.random.default_rng(1234)


def _model(op, inputs, out_shape, out_dtype, **options):
    """A one-op model. `inputs`: list of (name, array, is_constant); None for an omitted
    input. Returns (model bytes, the runtime input arrays in order)."""
    b = ModelBuilder()
    idx, feeds = [], []
    for item in inputs:
        if item is None:
            idx.append(-1)
            continue
        name, value, const = item
        value = np.asarray(value)
        if const:
            idx.append(b.add_constant(name, value))
        else:
            idx.append(b.add_input(name, value.shape, value.dtype))
            feeds.append(value)
    out = b.add_tensor("out", out_shape, out_dtype)
    b.add_op(op, idx, [out], **options)
    b.add_output(out)
    return b.to_bytes(), feeds


def _expect_op_error(model, feeds, op_name, match=None):
    it = edgelite.Interpreter(model_content=model)
    with pytest.raises(edgelite.OpError) as e:
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), feeds):
            it.set_tensor(d["index"], x)
        it.invoke()
    assert op_name in str(e.value), str(e.value)
    if match:
        assert match in str(e.value), str(e.value)


def _randn(shape, dtype=np.float32):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -100), min(info.max, 100)
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


# ====================================================================== RFFT2D

@pytest.mark.parametrize("shape,fft", [
    ((8, 8), (8, 8)), ((2, 8, 8), (8, 8)), ((2, 3, 5, 6), (4, 8)), ((4, 4), (16, 2)),
    ((1, 7, 9), (8, 16)), ((3, 2, 32, 16), (32, 16)), ((5, 3), (2, 4)), ((6, 6), (1, 8)),
    ((5, 1), (8, 2)),
])
@pytest.mark.parametrize("const_len", [True, False])
def test_rfft2d(shape, fft, const_len):
    x = _randn(shape)
    out_shape = shape[:-2] + (fft[0], fft[1] // 2 + 1)
    model, feeds = _model("RFFT2D", [("x", x, False),
                                     ("fft_length", np.array(fft, np.int32), const_len)],
                          out_shape, np.complex64)
    check_against_litert(model, feeds, tol=2e-5)


def test_rfft2d_empty_batch():
    x = np.zeros((0, 4, 4), np.float32)
    model, feeds = _model("RFFT2D", [("x", x, False), ("n", np.array([4, 4], np.int32), True)],
                          (0, 4, 3), np.complex64)
    check_against_litert(model, feeds)
    # With a runtime fft_length the output is dynamic; LiteRT's get_tensor then
    # rejects the empty result ("Invalid tensor size"): shape checked alone.
    model, feeds = _model("RFFT2D", [("x", x, False), ("n", np.array([4, 4], np.int32), False)],
                          (0, 4, 3), np.complex64)
    (got,) = run_edgelite(model, feeds)
    assert got.shape == (0, 4, 3) and got.dtype == np.complex64


@pytest.mark.parametrize("fft", [(4, 1), (1, 1), (2, 1)])
def test_rfft2d_fft_width_1(fft):
    # LiteRT is wrong for fft_length[1] == 1: rdft2d gets a width-1 plane and its
    # reorder step returns e.g. [1-1j, 2] for the column [1, 2] and fft [2, 1]
    # instead of [3, -1]. edgelite computes tf.signal.rfft2d; compared with numpy.
    x = _randn((3, 6, 5))
    model, feeds = _model("RFFT2D", [("x", x, False), ("n", np.array(fft, np.int32), True)],
                          (3, fft[0], 1), np.complex64)
    (got,) = run_edgelite(model, feeds)
    np.testing.assert_allclose(got, np.fft.rfft2(x, s=fft), rtol=1e-5, atol=1e-5)


def test_rfft2d_complex_output_through_the_interpreter():
    x = _randn((8, 8))
    model, feeds = _model("RFFT2D", [("x", x, False), ("n", np.array([8, 8], np.int32), True)],
                          (8, 5), np.complex64)
    (got,) = run_edgelite(model, feeds)
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, np.fft.rfft2(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fft,match", [((6, 8), "powers of two"), ((8, 0), "powers of two")])
def test_rfft2d_errors(fft, match):
    model, feeds = _model("RFFT2D", [("x", _randn((8, 8)), False),
                                     ("n", np.array(fft, np.int32), True)], (8, 5), np.complex64)
    _expect_op_error(model, feeds, "RFFT2D", match)


def test_rfft2d_rejects_rank1_and_wrong_types():
    model, feeds = _model("RFFT2D", [("x", _randn((8,)), False),
                                     ("n", np.array([8, 8], np.int32), True)], (8, 5),
                          np.complex64)
    _expect_op_error(model, feeds, "RFFT2D", "rank >= 2")
    model, feeds = _model("RFFT2D", [("x", _randn((8, 8)), False),
                                     ("n", np.array([8, 8], np.int32), True)], (8, 5),
                          np.float32)
    _expect_op_error(model, feeds, "RFFT2D", "complex64")


# ============================================================ REVERSE_SEQUENCE

@pytest.mark.parametrize("shape,seq_dim,batch_dim", [
    ((4, 3), 0, 1), ((3, 4), 1, 0), ((2, 5, 3), 1, 0), ((2, 5, 3), 1, 2), ((5, 2, 3, 2), 0, 2),
    ((2, 3, 6, 2), 2, 1), ((3, 4, 2), 2, 0),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.int16, np.uint8])
def test_reverse_sequence(shape, seq_dim, batch_dim, dtype):
    x = _randn(shape, dtype)
    lens = rng.integers(0, shape[seq_dim] + 1, size=shape[batch_dim])
    lens[0] = shape[seq_dim]         # LiteRT checks only the first entry against the bound
    for lens_dtype, const in ((np.int32, True), (np.int64, False)):
        model, feeds = _model("REVERSE_SEQUENCE",
                              [("x", x, False), ("lens", lens.astype(lens_dtype), const)],
                              shape, dtype, seq_dim=seq_dim, batch_dim=batch_dim)
        check_against_litert(model, feeds)


def test_reverse_sequence_negative_lengths_copy():
    x = _randn((3, 4))
    model, feeds = _model("REVERSE_SEQUENCE", [("x", x, False),
                                               ("lens", np.array([4, -1, 1], np.int32), False)],
                          (3, 4), np.float32, seq_dim=1, batch_dim=0)
    check_against_litert(model, feeds)


def test_reverse_sequence_errors():
    x = _randn((3, 4))
    # A length past the sequence: LiteRT checks only seq_lengths[0] and reads out of
    # bounds for the others; edgelite rejects every one.
    model, feeds = _model("REVERSE_SEQUENCE", [("x", x, False),
                                               ("lens", np.array([2, 5, 1], np.int32), True)],
                          (3, 4), np.float32, seq_dim=1, batch_dim=0)
    _expect_op_error(model, feeds, "REVERSE_SEQUENCE", "longer than the sequence")
    model, feeds = _model("REVERSE_SEQUENCE", [("x", x, False),
                                               ("lens", np.array([2, 2], np.int32), True)],
                          (3, 4), np.float32, seq_dim=1, batch_dim=0)
    _expect_op_error(model, feeds, "REVERSE_SEQUENCE", "batch dimension")
    model, feeds = _model("REVERSE_SEQUENCE", [("x", x, False),
                                               ("lens", np.array([2, 2, 2], np.int32), True)],
                          (3, 4), np.float32, seq_dim=0, batch_dim=0)
    _expect_op_error(model, feeds, "REVERSE_SEQUENCE", "both")


# ============================================================ SEGMENT_SUM

@pytest.mark.parametrize("ids", [[0], [0, 0, 1, 1, 1, 2], [0, 1, 2, 3], [0, 0, 0, 0],
                                 [0, 1, 1, 2, 3, 3, 3, 4]])
@pytest.mark.parametrize("inner", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("const_ids", [True, False])
def test_segment_sum(ids, inner, dtype, const_ids):
    ids = np.array(ids, np.int32)
    x = _randn((ids.size,) + inner, dtype)
    model, feeds = _model("SEGMENT_SUM", [("x", x, False), ("ids", ids, const_ids)],
                          (int(ids.max()) + 1,) + inner, dtype)
    check_against_litert(model, feeds)


def test_segment_sum_int32_wraps():
    x = np.array([[2**31 - 1], [5], [7]], np.int32)
    model, feeds = _model("SEGMENT_SUM", [("x", x, False),
                                          ("ids", np.array([0, 0, 1], np.int32), True)],
                          (2, 1), np.int32)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("ids,match", [([1, 1, 2], "start at 0"), ([0, 2, 2], "at most 1"),
                                       ([0, 1, 0], "at most 1")])
@pytest.mark.parametrize("const_ids", [True, False])
def test_segment_sum_bad_ids(ids, match, const_ids):
    model, feeds = _model("SEGMENT_SUM", [("x", _randn((3, 2)), False),
                                          ("ids", np.array(ids, np.int32), const_ids)],
                          (3, 2), np.float32)
    _expect_op_error(model, feeds, "SEGMENT_SUM", match)


def test_segment_sum_ids_length_mismatch():
    model, feeds = _model("SEGMENT_SUM", [("x", _randn((3, 2)), False),
                                          ("ids", np.array([0, 1], np.int32), True)],
                          (2, 2), np.float32)
    _expect_op_error(model, feeds, "SEGMENT_SUM", "rows")


# ============================================================ UNSORTED_SEGMENT_*

_UNSORTED = ["UNSORTED_SEGMENT_SUM", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX",
             "UNSORTED_SEGMENT_MIN"]


@pytest.mark.parametrize("op", _UNSORTED)
@pytest.mark.parametrize("data_shape,ids,num", [
    ((6,), [0, 2, 1, 2, 0, 4], 5),           # segment 3 empty: the initial value
    ((5, 3), [3, -1, 0, 3, 1], 4),            # a negative id is dropped
    ((2, 3, 2), [[0, 1, 1], [2, 0, 1]], 3),   # multi-dimensional ids
    ((4, 2), [0, 0, 0, 0], 1),
    ((4, 2), [-1, -1, -1, -1], 2),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("const", [True, False])
def test_unsorted_segment(op, data_shape, ids, num, dtype, const):
    ids = np.array(ids, np.int32)
    x = _randn(data_shape, dtype)
    if dtype == np.int32 and op == "UNSORTED_SEGMENT_PROD":
        x = rng.integers(-5, 6, size=data_shape).astype(np.int32)
    out_shape = (num,) + data_shape[ids.ndim:]
    model, feeds = _model(op, [("x", x, False), ("ids", ids, const),
                               ("num", np.array([num], np.int32), const)], out_shape, dtype)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("op", _UNSORTED)
def test_unsorted_segment_scalar_num_segments(op):
    x = _randn((4, 3))
    model, feeds = _model(op, [("x", x, False), ("ids", np.array([1, 0, 1, 2], np.int32), True),
                               ("num", np.array(3, np.int32), True)], (3, 3), np.float32)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("op", _UNSORTED)
@pytest.mark.parametrize("const", [True, False])
def test_unsorted_segment_id_out_of_range(op, const):
    model, feeds = _model(op, [("x", _randn((3,)), False),
                               ("ids", np.array([0, 3, 1], np.int32), const),
                               ("num", np.array([3], np.int32), const)], (3,), np.float32)
    _expect_op_error(model, feeds, op, "out of range")


def test_unsorted_segment_bad_prefix_and_num():
    model, feeds = _model("UNSORTED_SEGMENT_SUM", [("x", _randn((3, 2)), False),
                                                   ("ids", np.array([0, 1], np.int32), True),
                                                   ("num", np.array([3], np.int32), True)],
                          (3, 2), np.float32)
    _expect_op_error(model, feeds, "UNSORTED_SEGMENT_SUM", "prefix")
    model, feeds = _model("UNSORTED_SEGMENT_SUM", [("x", _randn((3,)), False),
                                                   ("ids", np.array([0, 1, 0], np.int32), True),
                                                   ("num", np.array([-2], np.int32), True)],
                          (3,), np.float32)
    _expect_op_error(model, feeds, "UNSORTED_SEGMENT_SUM", ">= 0")


# ============================================================ MATRIX_DIAG / MATRIX_SET_DIAG

_DIAG_TYPES = [np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64]


@pytest.mark.parametrize("shape", [(1,), (4,), (2, 3), (2, 1, 5), (0, 3)])
@pytest.mark.parametrize("dtype", _DIAG_TYPES)
def test_matrix_diag(shape, dtype):
    x = _randn(shape, dtype)
    model, feeds = _model("MATRIX_DIAG", [("x", x, False)], shape + (shape[-1],), dtype)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (2, 3, 3), (2, 2, 3, 5), (1, 1)])
@pytest.mark.parametrize("dtype", _DIAG_TYPES)
def test_matrix_set_diag(shape, dtype):
    x = _randn(shape, dtype)
    d = _randn(shape[:-2] + (min(shape[-2:]),), dtype)
    model, feeds = _model("MATRIX_SET_DIAG", [("x", x, False), ("d", d, False)], shape, dtype)
    check_against_litert(model, feeds)


def test_matrix_diag_errors():
    model, feeds = _model("MATRIX_DIAG", [("x", np.float32(1.0), False)], (1, 1), np.float32)
    _expect_op_error(model, feeds, "MATRIX_DIAG", "rank >= 1")
    model, feeds = _model("MATRIX_SET_DIAG", [("x", _randn((3, 3)), False),
                                              ("d", _randn((2,)), False)], (3, 3), np.float32)
    _expect_op_error(model, feeds, "MATRIX_SET_DIAG", "diagonal has shape [2]")
    model, feeds = _model("MATRIX_SET_DIAG", [("x", _randn((3,)), False),
                                              ("d", _randn((1,)), False)], (3,), np.float32)
    _expect_op_error(model, feeds, "MATRIX_SET_DIAG", "rank >= 2")


# ============================================================ BUCKETIZE

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("boundaries", [[], [0.0], [-1.0, 0.0, 0.5, 3.0], [1.0, 1.0, 2.0],
                                        [-10.0, 10.0, 16777217.0]])
def test_bucketize(dtype, boundaries):
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal((3, 7)) * 3).astype(dtype)
        x.flat[:4] = [0.0, 0.5, 1.0, np.nan]
    else:
        x = rng.integers(-12, 12, size=(3, 7)).astype(dtype)
        x.flat[0] = 16777217      # rounds to 16777216 in float, as LiteRT compares
    model, feeds = _model("BUCKETIZE", [("x", x, False)], x.shape, np.int32,
                          boundaries=boundaries)
    check_against_litert(model, feeds)


def test_bucketize_errors():
    model, feeds = _model("BUCKETIZE", [("x", _randn((3,)), False)], (3,), np.int32,
                          boundaries=[1.0, 0.0])
    _expect_op_error(model, feeds, "BUCKETIZE", "sorted")
    model, feeds = _model("BUCKETIZE", [("x", _randn((3,), np.int8), False)], (3,), np.int32,
                          boundaries=[0.0])
    _expect_op_error(model, feeds, "BUCKETIZE", "int8")


# ============================================================ SPARSE_TO_DENSE

@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.int8, np.uint8])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("case", ["1d", "2d", "4d", "scalar_value", "scalar_index", "empty"])
@pytest.mark.parametrize("const_shape", [True, False])
def test_sparse_to_dense(dtype, index_dtype, case, const_shape):
    if case == "1d":
        idx, shape, vals = [1, 3, 4], [6], _randn((3,), dtype)
    elif case == "2d":
        idx, shape, vals = [[0, 1], [2, 2], [1, 0], [2, 0]], [3, 3], _randn((4,), dtype)
    elif case == "4d":
        idx, shape, vals = [[0, 1, 0, 2], [1, 0, 1, 1]], [2, 2, 2, 3], _randn((2,), dtype)
    elif case == "scalar_value":
        idx, shape, vals = [[0, 1], [2, 3]], [3, 4], _randn((), dtype)
    elif case == "scalar_index":
        idx, shape, vals = 2, [5], _randn((), dtype)
    else:
        idx, shape, vals = np.zeros((0, 2)), [2, 3], _randn((0,), dtype)
    idx = np.asarray(idx).astype(index_dtype)
    default = np.asarray(7, dtype)
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", idx, False),
                                              ("shape", np.array(shape, index_dtype),
                                               const_shape),
                                              ("vals", vals, False), ("default", default, True)],
                          shape, dtype)
    check_against_litert(model, feeds)


def test_sparse_to_dense_duplicates_last_wins():
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", np.array([1, 1, 3], np.int32), False),
                                              ("shape", np.array([5], np.int32), True),
                                              ("vals", np.array([1, 2, 3], np.float32), False),
                                              ("default", np.float32(0), True)],
                          (5,), np.float32)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("bad", [[[0, 3]], [[-1, 0]]])
def test_sparse_to_dense_index_out_of_range(bad):
    # LiteRT returns kTfLiteError from invoke here.
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", np.array(bad, np.int32), False),
                                              ("shape", np.array([2, 3], np.int32), True),
                                              ("vals", np.array([1], np.float32), False),
                                              ("default", np.float32(0), True)],
                          (2, 3), np.float32)
    _expect_op_error(model, feeds, "SPARSE_TO_DENSE", "out of range")


def test_sparse_to_dense_shape_errors():
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", np.array([[0, 1]], np.int32), False),
                                              ("shape", np.array([2, 3, 4], np.int32), True),
                                              ("vals", np.array([1], np.float32), False),
                                              ("default", np.float32(0), True)],
                          (2, 3, 4), np.float32)
    _expect_op_error(model, feeds, "SPARSE_TO_DENSE", "coordinates")
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", np.array([[0, 1]], np.int32), False),
                                              ("shape", np.array([2, 3], np.int32), True),
                                              ("vals", np.array([1], np.float32), False),
                                              ("default", np.int32(0), True)],
                          (2, 3), np.float32)
    _expect_op_error(model, feeds, "SPARSE_TO_DENSE", "default_value")


# ============================================================ DENSIFY

def _sparse_model(dense: np.ndarray, formats, block=None, then_add=False):
    """A DENSIFY model whose constant input is `dense` stored sparse. `formats`:
    one "D" (DENSE) or "S" (SPARSE_CSR) per traversal level; the traversal order is
    the dimensions in order, then the block dimensions; `block`: {dim: block size}.
    `then_add`: the output is ADD(input x, densified). Returns (model bytes, the
    SparsityParametersT, the stored values)."""
    block = block or {}
    rank = dense.ndim
    block_map = sorted(block)
    outer = [dense.shape[d] // block.get(d, 1) for d in range(rank)]
    level_sizes = outer + [block[d] for d in block_map]
    split, outer_axes, inner_axes = [], [], {}
    for d in range(rank):
        outer_axes.append(len(split))
        if d in block:
            inner_axes[d] = len(split) + 1
            split += [outer[d], block[d]]
        else:
            split.append(dense.shape[d])
    expanded = dense.reshape(split).transpose(outer_axes + [inner_axes[d] for d in block_map])
    dims, nodes = [], [()]
    for level, fmt in enumerate(formats):
        dm = fb.DimensionMetadataT()
        size = level_sizes[level]
        if fmt == "D":
            dm.format = fb.DimensionType.DENSE
            dm.denseSize = size
            nodes = [p + (i,) for p in nodes for i in range(size)]
        else:
            dm.format = fb.DimensionType.SPARSE_CSR
            segs, inds, kept = [0], [], []
            for p in nodes:
                for i in range(size):
                    if np.any(expanded[p + (i,)] != 0):
                        inds.append(i)
                        kept.append(p + (i,))
                segs.append(len(inds))
            for attr, vals in (("arraySegments", segs), ("arrayIndices", inds)):
                vec = fb.Int32VectorT()
                vec.values = vals
                setattr(dm, attr, vec)
                setattr(dm, attr + "Type", fb.SparseIndexVector.Int32Vector)
            nodes = kept
        dims.append(dm)
    values = np.array([expanded[p] for p in nodes], dense.dtype).reshape(-1)
    sp = fb.SparsityParametersT()
    sp.traversalOrder = list(range(rank + len(block_map)))
    sp.blockMap = block_map
    sp.dimMetadata = dims
    b = ModelBuilder()
    t = b.add_constant("sparse", values if values.size else np.zeros(1, dense.dtype))
    b.model.subgraphs[0].tensors[t].shape = dense.shape
    b.model.subgraphs[0].tensors[t].sparsity = sp
    out = b.add_tensor("dense", dense.shape, dense.dtype)
    b.add_op("DENSIFY", [t], [out])
    if then_add:
        x = b.add_input("x", dense.shape, dense.dtype)
        out2 = b.add_tensor("sum", dense.shape, dense.dtype)
        b.add_op("ADD", [x, out], [out2])
        out = out2
    b.add_output(out)
    return b.to_bytes(), sp, values


def _sparse_matrix(shape, dtype, density=0.3):
    x = _randn(shape, dtype)
    x[rng.random(shape) > density] = 0
    return x


_DENSIFY_CASES = [
    ((4, 6), "DS", None), ((4, 6), "SS", None), ((4, 6), "DD", None), ((5,), "S", None),
    ((3, 4, 5), "DSS", None), ((2, 3, 4), "DDS", None),
    ((4, 8), "DSDD", {0: 2, 1: 4}), ((4, 8), "DSD", {1: 4}), ((6, 4), "SDD", {0: 3}),
    ((8, 8), "DSDD", {0: 4, 1: 4}),
]


@pytest.mark.parametrize("shape,formats,block", _DENSIFY_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.float16])
def test_densify_decoder_against_litert(shape, formats, block, dtype):
    """densify() against LiteRT running the DENSIFY model."""
    dense = _sparse_matrix(shape, dtype)
    model, sp, values = _sparse_model(dense, formats, block)
    (want,) = run_litert(model, [], reference=True)   # XNNPACK fails on a lone DENSIFY
    got = densify(shape, np.dtype(dtype), sp, values)
    np.testing.assert_array_equal(want, dense)
    np.testing.assert_array_equal(got, want)


def test_densify_all_zero():
    dense = np.zeros((3, 4), np.float32)
    _, sp, values = _sparse_model(dense, "DS")
    assert values.size == 0
    np.testing.assert_array_equal(densify((3, 4), np.dtype(np.float32), sp, np.zeros(1,
                                  np.float32)), dense)


def test_densify_bad_metadata():
    dense = _sparse_matrix((4, 6), np.float32, 0.5)
    _, sp, values = _sparse_model(dense, "DS")
    sp.dimMetadata[1].arrayIndices.values = [9] * len(sp.dimMetadata[1].arrayIndices.values)
    with pytest.raises(ValueError, match="out of range"):
        densify((4, 6), np.dtype(np.float32), sp, values)
    sp.traversalOrder = [0, 0]
    with pytest.raises(ValueError, match="permutation"):
        densify((4, 6), np.dtype(np.float32), sp, values)


@pytest.mark.parametrize("formats,block", [("DD", None), ("DSDD", {0: 2, 1: 2})])
def test_densify_through_the_interpreter_full_size_buffer(formats, block):
    """Sparse constants whose stored values happen to fill the dense size (all
    levels dense, or every block non-zero) load today; DENSIFY runs end to end."""
    dense = _randn((4, 8))
    model, _, values = _sparse_model(dense, formats, block)
    assert values.size == dense.size
    check_against_litert(model, [], reference=True)   # XNNPACK fails on a lone DENSIFY


def test_densify_feeding_another_op():
    """DENSIFY's output is a constant for the next node (the plan folds it)."""
    dense = _randn((4, 8))
    model, _, _ = _sparse_model(dense, "DSDD", {0: 2, 1: 2}, then_add=True)
    check_against_litert(model, [_randn((4, 8))], reference=True)


@pytest.mark.parametrize("shape,formats,block", _DENSIFY_CASES)
def test_densify_in_the_interpreter(shape, formats, block):
    """Sparse constants smaller than their dense size: the runtime expands them at
    load (runtime/plan.py) and DENSIFY (or any consumer) sees the dense values."""
    dense = _sparse_matrix(shape, np.float32)
    model, _, _ = _sparse_model(dense, formats, block, then_add=True)
    x = _randn(shape)
    (got,) = run_edgelite(model, [x])
    np.testing.assert_array_equal(got, x + dense)
    check_against_litert(model, [x], reference=True)


# ============================================================ FAKE_QUANT

@pytest.mark.parametrize("mn,mx", [(-1.0, 1.0), (0.0, 6.0), (-3.7, 2.2), (-0.1, 0.0),
                                   (0.5, 4.0), (-10.0, -2.0), (-0.0003, 1e-4)])
@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_fake_quant(mn, mx, bits):
    x = (rng.standard_normal((3, 50)) * max(abs(mn), abs(mx))).astype(np.float32)
    x.flat[:6] = [mn, mx, 0.0, mn - 1, mx + 1, (mn + mx) / 2]
    model, feeds = _model("FAKE_QUANT", [("x", x, False)], x.shape, np.float32, min=mn, max=mx,
                          num_bits=bits)
    check_against_litert(model, feeds, tol=1e-6)


def test_fake_quant_half_steps_round_away_from_zero():
    # Inputs exactly on half quantization steps: std::round semantics.
    x = (np.arange(-20, 21, dtype=np.float32) * 0.5 * (2.0 / 255) - 1.0).astype(np.float32)
    model, feeds = _model("FAKE_QUANT", [("x", x, False)], x.shape, np.float32, min=-1.0,
                          max=1.0, num_bits=8)
    check_against_litert(model, feeds, tol=0)


def test_fake_quant_errors():
    model, feeds = _model("FAKE_QUANT", [("x", _randn((3,)), False)], (3,), np.float32,
                          min=-1.0, max=1.0, num_bits=8, narrow_range=True)
    _expect_op_error(model, feeds, "FAKE_QUANT", "narrow_range")
    model, feeds = _model("FAKE_QUANT", [("x", _randn((3,), np.int32), False)], (3,), np.int32,
                          min=-1.0, max=1.0, num_bits=8)
    _expect_op_error(model, feeds, "FAKE_QUANT", "int32")


# ============================================================ BITWISE_XOR / RIGHT_SHIFT

_BIT_TYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32]


def _bits(shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("op", ["BITWISE_XOR", "RIGHT_SHIFT"])
@pytest.mark.parametrize("dtype", _BIT_TYPES)
@pytest.mark.parametrize("sa,sb", [((2, 5), (2, 5)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)),
                                   ((), (3, 2)), ((2, 1, 3, 1), (1, 4, 1, 2)), ((0, 3), (3,))])
def test_bitwise_binary(op, dtype, sa, sb):
    a = _bits(sa, dtype)
    if op == "RIGHT_SHIFT":
        bits = np.dtype(dtype).itemsize * 8
        lo = -3 if np.dtype(dtype).kind == "i" else 0
        b = rng.integers(lo, bits + 4, size=sb).astype(dtype)    # clamped to 0..bits-1
    else:
        b = _bits(sb, dtype)
    out_shape = np.broadcast_shapes(sa, sb)
    model, feeds = _model(op, [("a", a, False), ("b", b, False)], out_shape, dtype)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("op", ["BITWISE_XOR", "RIGHT_SHIFT"])
def test_bitwise_errors(op):
    model, feeds = _model(op, [("a", _bits((3,), np.int32), False),
                               ("b", _bits((3,), np.int16), False)], (3,), np.int32)
    _expect_op_error(model, feeds, op, "int16")
    model, feeds = _model(op, [("a", _randn((3,)), False), ("b", _randn((3,)), False)], (3,),
                          np.float32)
    _expect_op_error(model, feeds, op, "float32")
    model, feeds = _model(op, [("a", _bits((3,), np.int32), False),
                               ("b", _bits((4,), np.int32), False)], (3,), np.int32)
    _expect_op_error(model, feeds, op, "broadcast")


# ============================================================ BITCAST

@pytest.mark.parametrize("src,dst,shape", [
    (np.float32, np.int32, (2, 3)), (np.int32, np.uint8, (2, 3)), (np.uint8, np.int32, (3, 4)),
    (np.float32, np.uint16, (5,)), (np.int16, np.float32, (2, 2)), (np.int64, np.float64, (3,)),
    (np.float64, np.int8, (2,)), (np.int8, np.int64, (1, 8)), (np.uint32, np.float32, ()),
    (np.int32, np.int16, ()), (np.float16, np.int16, (4,)), (np.bool_, np.int8, (3,)),
])
def test_bitcast(src, dst, shape):
    x = _bits(shape, src) if np.dtype(src).kind in "iu" else _randn(shape, src)
    a, b = np.dtype(src).itemsize, np.dtype(dst).itemsize
    out_shape = shape + (a // b,) if a > b else shape[:-1] if a < b else shape
    model, feeds = _model("BITCAST", [("x", x, False)], out_shape, dst)
    want = np.ascontiguousarray(x).reshape(-1).view(dst).reshape(out_shape)
    (got,) = run_edgelite(model, feeds)
    np.testing.assert_array_equal(got.reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))
    check_against_litert(model, feeds)


def test_bitcast_errors():
    model, feeds = _model("BITCAST", [("x", _bits((2, 3), np.uint8), False)], (2,), np.int32)
    _expect_op_error(model, feeds, "BITCAST", "last input dimension")


# ============================================================ DILATE

@pytest.mark.parametrize("shape,dilations", [
    ((3,), (2,)), ((2, 3), (1, 1)), ((2, 3), (3, 2)), ((2, 3, 4), (1, 2, 3)), ((1, 4), (5, 1)),
    ((2, 1, 2, 2, 1), (2, 3, 1, 2, 4)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int32, np.int64, np.uint8,
                                   np.int16, np.float64])
@pytest.mark.parametrize("const", [True, False])
def test_dilate(shape, dilations, dtype, const):
    x = _randn(shape, dtype)
    out_shape = tuple((s - 1) * k + 1 for s, k in zip(shape, dilations))
    model, feeds = _model("DILATE", [("x", x, False),
                                     ("d", np.array(dilations, np.int32), const),
                                     ("pad", np.asarray(3, dtype), True)], out_shape, dtype)
    check_against_litert(model, feeds)


def test_dilate_errors():
    model, feeds = _model("DILATE", [("x", _randn((2, 3)), False),
                                     ("d", np.array([1, 0], np.int32), True),
                                     ("pad", np.float32(0), True)], (2, 3), np.float32)
    _expect_op_error(model, feeds, "DILATE", ">= 1")
    model, feeds = _model("DILATE", [("x", _randn((2, 3)), False),
                                     ("d", np.array([1, 2, 1], np.int32), True),
                                     ("pad", np.float32(0), True)], (2, 5), np.float32)
    _expect_op_error(model, feeds, "DILATE", "one per input dimension")
    model, feeds = _model("DILATE", [("x", _randn((2, 3)), False),
                                     ("d", np.array([1, 2], np.int32), True),
                                     ("pad", np.int32(0), True)], (2, 5), np.float32)
    _expect_op_error(model, feeds, "DILATE", "padding_value")


# ============================================================ COMPLEX_ABS / REAL / IMAG

@pytest.mark.parametrize("op", ["COMPLEX_ABS", "REAL", "IMAG"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4), (0, 2)])
def test_complex_to_real(op, dtype, shape):
    x = _randn(shape, dtype)
    out = np.float32 if dtype == np.complex64 else np.float64
    model, feeds = _model(op, [("x", x, False)], shape, out)
    check_against_litert(model, feeds, tol=1e-6)


@pytest.mark.parametrize("op", ["COMPLEX_ABS", "REAL", "IMAG"])
def test_complex_to_real_errors(op):
    model, feeds = _model(op, [("x", _randn((3,)), False)], (3,), np.float32)
    _expect_op_error(model, feeds, op, "complex64")
    model, feeds = _model(op, [("x", _randn((3,), np.complex64), False)], (3,), np.float64)
    _expect_op_error(model, feeds, op, "expected float32")


def test_rfft2d_then_complex_abs():
    """A complex64 intermediate tensor in the arena, between two ops."""
    b = ModelBuilder()
    x = b.add_input("x", (2, 8, 8))
    n = b.add_constant("n", np.array([8, 8], np.int32))
    c = b.add_tensor("spectrum", (2, 8, 5), np.complex64)
    b.add_op("RFFT2D", [x, n], [c])
    outs = []
    for op in ("COMPLEX_ABS", "REAL", "IMAG"):
        o = b.add_tensor(op.lower(), (2, 8, 5), np.float32)
        b.add_op(op, [c], [o])
        b.add_output(o)
        outs.append(o)
    check_against_litert(b.to_bytes(), [_randn((2, 8, 8))], tol=2e-5)


# ============================================================ REDUCE_WINDOW

_RW_FUNCS = ["ADD", "MUL", "MINIMUM", "MAXIMUM", "ALL", "ANY"]


def _rw_model(x, init, window, strides, dilations, fn, out_shape):
    return _model("REDUCE_WINDOW", [("x", x, False), ("init", np.asarray(init, x.dtype), True),
                                    ("window", np.array(window, np.int64), True),
                                    ("strides", np.array(strides, np.int64), True),
                                    ("dilations", np.array(dilations, np.int64), True)],
                  out_shape, x.dtype, reduce_function=getattr(fb.ReduceWindowFunction, fn))


def _rw_shape(shape, window, strides, dilations):
    out = []
    for s, w, st, d in zip(shape, window, strides, dilations):
        span = (w - 1) * d + 1
        out.append(0 if s < span else (s - span) // st + 1)
    return tuple(out)


@pytest.mark.parametrize("fn", _RW_FUNCS)
@pytest.mark.parametrize("shape,window,strides,dilations", [
    ((6,), (2,), (1,), (1,)), ((5, 6), (2, 3), (1, 2), (1, 1)), ((7, 7), (3, 2), (2, 2), (2, 1)),
    ((1, 6, 6, 2), (1, 3, 3, 1), (1, 2, 2, 1), (1, 1, 1, 1)), ((4, 3), (5, 1), (1, 1), (1, 1)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8, np.bool_])
def test_reduce_window(fn, shape, window, strides, dilations, dtype):
    if dtype == np.bool_:
        x = rng.random(shape) < 0.6
    elif fn == "MUL":
        x = rng.integers(-2, 3, size=shape).astype(dtype)
    else:
        x = _randn(shape, dtype)
    init = {"ADD": 0, "MUL": 1, "MINIMUM": 50, "MAXIMUM": -50, "ALL": 1, "ANY": 0}[fn]
    if dtype == np.bool_:
        init = bool(init) if fn not in ("MINIMUM", "MAXIMUM") else fn == "MINIMUM"
    out_shape = _rw_shape(shape, window, strides, dilations)
    model, feeds = _rw_model(x, init, window, strides, dilations, fn, out_shape)
    check_against_litert(model, feeds, tol=1e-6)


def test_reduce_window_errors():
    x = _randn((4, 4))
    model, feeds = _rw_model(x, 0, (2, 2), (0, 1), (1, 1), "ADD", (4, 3))
    _expect_op_error(model, feeds, "REDUCE_WINDOW", ">= 1")
    model, feeds = _rw_model(x, 0, (2, 2, 1), (1, 1, 1), (1, 1, 1), "ADD", (3, 3))
    _expect_op_error(model, feeds, "REDUCE_WINDOW", "one per input dimension")
    model, feeds = _rw_model(x, 0, (2, 2), (1, 1), (1, 1), "UNSUPPORTED", (3, 3))
    _expect_op_error(model, feeds, "REDUCE_WINDOW", "reduce_function")


# ============================================================ edge cases and re-invokes

def test_segment_sum_empty():
    # LiteRT computes the [0, 3] output but its get_tensor rejects the empty
    # tensor ("Invalid tensor size"); compared with numpy instead.
    model, feeds = _model("SEGMENT_SUM", [("x", np.zeros((0, 3), np.float32), False),
                                          ("ids", np.zeros(0, np.int32), True)],
                          (0, 3), np.float32)
    (got,) = run_edgelite(model, feeds)
    assert got.shape == (0, 3) and got.dtype == np.float32


def test_dilate_empty_input_is_an_error():
    # LiteRT crashes (SIGSEGV) dilating a tensor with a zero dimension; not run here.
    model, feeds = _model("DILATE", [("x", np.zeros((0, 3), np.float32), False),
                                     ("d", np.array([1, 2], np.int32), True),
                                     ("pad", np.float32(1), True)], (0, 5), np.float32)
    _expect_op_error(model, feeds, "DILATE", "empty input")


def _reinvoke(model, runs):
    """Invoke one interpreter of each runtime several times with new inputs (and
    shapes); compare every run."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    mine, theirs = edgelite.Interpreter(model_content=model), LiteRT(model_content=model)
    for feeds in runs:
        outs = []
        for it in (mine, theirs):
            for d, x in zip(it.get_input_details(), feeds):
                it.resize_tensor_input(d["index"], list(np.shape(x)))
            it.allocate_tensors()
            for d, x in zip(it.get_input_details(), feeds):
                it.set_tensor(d["index"], np.asarray(x))
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
        got, want = outs
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dynamic_outputs_follow_new_values():
    f32 = np.float32
    model, _ = _model("SEGMENT_SUM", [("x", _randn((4, 2)), False),
                                      ("ids", np.array([0, 0, 1, 2], np.int32), False)],
                      (3, 2), f32)
    _reinvoke(model, [[_randn((4, 2)), np.array([0, 0, 1, 2], np.int32)],
                      [_randn((4, 2)), np.array([0, 1, 2, 3], np.int32)],
                      [_randn((6, 2)), np.array([0, 0, 0, 0, 1, 1], np.int32)]])
    model, _ = _model("UNSORTED_SEGMENT_MAX", [("x", _randn((4,)), False),
                                               ("ids", np.array([0, 1, 0, 1], np.int32), False),
                                               ("num", np.array([2], np.int32), False)],
                      (2,), f32)
    _reinvoke(model, [[_randn((4,)), np.array([0, 1, 0, 1], np.int32), np.array([2], np.int32)],
                      [_randn((5,)), np.array([3, 1, -1, 1, 0], np.int32),
                       np.array([5], np.int32)]])
    model, _ = _model("SPARSE_TO_DENSE", [("idx", np.array([[0, 1]], np.int32), False),
                                          ("shape", np.array([2, 3], np.int32), False),
                                          ("vals", np.array([1], f32), False),
                                          ("default", f32(0), True)], (2, 3), f32)
    _reinvoke(model, [[np.array([[0, 1]], np.int32), np.array([2, 3], np.int32),
                       np.array([1], f32)],
                      [np.array([[3, 0], [1, 4]], np.int32), np.array([4, 5], np.int32),
                       np.array([2, 5], f32)]])
    model, _ = _model("REVERSE_SEQUENCE", [("x", _randn((3, 4)), False),
                                           ("lens", np.array([1, 2, 3], np.int32), False)],
                      (3, 4), f32, seq_dim=1, batch_dim=0)
    _reinvoke(model, [[_randn((3, 4)), np.array([1, 2, 3], np.int32)],
                      [_randn((3, 4)), np.array([4, 0, 2], np.int32)],
                      [_randn((2, 6)), np.array([6, 5], np.int32)]])
    model, _ = _model("DILATE", [("x", _randn((2, 3)), False),
                                 ("d", np.array([2, 1], np.int32), False),
                                 ("pad", f32(-1), True)], (3, 3), f32)
    _reinvoke(model, [[_randn((2, 3)), np.array([2, 1], np.int32)],
                      [_randn((3, 2)), np.array([1, 3], np.int32)]])
    model, _ = _model("RFFT2D", [("x", _randn((4, 4)), False),
                                 ("n", np.array([4, 4], np.int32), False)], (4, 3), np.complex64)
    _reinvoke(model, [[_randn((4, 4)), np.array([4, 4], np.int32)],
                      [_randn((2, 5, 3)), np.array([8, 2], np.int32)]])


@pytest.mark.parametrize("op", ["UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_MIN",
                                "UNSORTED_SEGMENT_SUM", "UNSORTED_SEGMENT_PROD"])
def test_unsorted_segment_nan_and_inf(op):
    x = np.array([np.nan, 1.0, -np.inf, np.inf, 2.0, np.nan, -3.0], np.float32)
    ids = np.array([0, 0, 1, 1, 2, 3, 3], np.int32)
    model, feeds = _model(op, [("x", x, False), ("ids", ids, True),
                               ("num", np.array([4], np.int32), True)], (4,), np.float32)
    check_against_litert(model, feeds)


@pytest.mark.parametrize("fn", ["MINIMUM", "MAXIMUM", "ADD"])
def test_reduce_window_nan(fn):
    x = _randn((3, 6))
    x[0, 1] = np.nan
    x[2, 4] = np.nan
    model, feeds = _rw_model(x, 0.0, (2, 2), (1, 1), (1, 1), fn, (2, 5))
    check_against_litert(model, feeds)


@pytest.mark.parametrize("dtype", [np.float64, np.int16, np.int64, np.uint8])
@pytest.mark.parametrize("fn", ["ADD", "MAXIMUM", "MINIMUM", "MUL"])
def test_reduce_window_more_types(dtype, fn):
    x = rng.integers(0, 4, size=(2, 5, 4)).astype(dtype) if fn == "MUL" else _randn((2, 5, 4),
                                                                                   dtype)
    model, feeds = _rw_model(x, 1 if fn == "MUL" else 0, (1, 3, 2), (1, 1, 2), (1, 2, 1), fn,
                             _rw_shape((2, 5, 4), (1, 3, 2), (1, 1, 2), (1, 2, 1)))
    check_against_litert(model, feeds)


def test_sparse_to_dense_validate_indices_option_is_ignored():
    # LiteRT ignores validate_indices (unsorted indices are accepted either way).
    model, feeds = _model("SPARSE_TO_DENSE", [("idx", np.array([[2, 1], [0, 0]], np.int32), False),
                                              ("shape", np.array([3, 2], np.int32), True),
                                              ("vals", np.array([4, 5], np.int32), False),
                                              ("default", np.int32(-1), True)],
                          (3, 2), np.int32, validate_indices=True)
    check_against_litert(model, feeds)


def test_bucketize_large_int64():
    x = np.array([-2**62, -1, 0, 2**40, 2**62], np.int64)
    model, feeds = _model("BUCKETIZE", [("x", x, False)], x.shape, np.int32,
                          boundaries=[-1e18, 0.0, 1e12, 1e20])
    check_against_litert(model, feeds)


@pytest.mark.parametrize("op,dtype", [
    (op, dt) for op in ("REVERSE_SEQUENCE", "MATRIX_DIAG", "MATRIX_SET_DIAG", "DILATE")
    for dt in (np.int8, np.uint8)
    if (op, dt) != ("REVERSE_SEQUENCE", np.int8)      # no int8 REVERSE_SEQUENCE in LiteRT
])
def test_quantized_tensors_move_bytes(op, dtype):
    """Quantized int8 / uint8 tensors: these ops move values unchanged (no
    requantization in LiteRT either)."""
    q = (0.5, 3)
    b = ModelBuilder()
    x = b.add_input("x", (2, 3, 3), dtype, quant=q)
    shapes = {"REVERSE_SEQUENCE": (2, 3, 3), "MATRIX_DIAG": (2, 3, 3, 3),
              "MATRIX_SET_DIAG": (2, 3, 3), "DILATE": (3, 5, 3)}
    out = b.add_tensor("out", shapes[op], dtype, quant=q)
    feeds = [_randn((2, 3, 3), dtype)]
    opts = {}
    if op == "REVERSE_SEQUENCE":
        ins = [x, b.add_constant("lens", np.array([2, 3], np.int32))]
        opts = {"seq_dim": 1, "batch_dim": 0}
    elif op == "MATRIX_SET_DIAG":
        d = b.add_input("d", (2, 3), dtype, quant=q)
        ins = [x, d]
        feeds.append(_randn((2, 3), dtype))
    elif op == "DILATE":
        ins = [x, b.add_constant("dil", np.array([2, 2, 1], np.int32)),
               b.add_constant("pad", np.asarray(3, dtype))]
    else:
        ins = [x]
    b.add_op(op, ins, [out], **opts)
    b.add_output(out)
    check_against_litert(b.to_bytes(), feeds)


def test_reverse_sequence_rejects_int8():
    model, feeds = _model("REVERSE_SEQUENCE", [("x", _randn((2, 3), np.int8), False),
                                               ("lens", np.array([1, 2], np.int32), True)],
                          (2, 3), np.int8, seq_dim=1, batch_dim=0)
    _expect_op_error(model, feeds, "REVERSE_SEQUENCE", "int8")
