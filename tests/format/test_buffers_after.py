"""Weights after the FlatBuffer (Buffer.offset / size), the layout of files over 2 GB:
edgelite writes it on request (and by itself past the 2 GB FlatBuffer limit), reads
it zero-copy, and LiteRT runs what edgelite writes."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
from oracle import run_edgelite, run_litert

import edgelite
from edgelite.format import writer
from edgelite.format.metadata import read_associated_files

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "models"
NAMES = ["cnn_float32", "cnn_int8", "transformer_int8", "lstm_float32", "while_loop"]


def _inputs(data: bytes, seed=0):
    it = edgelite.Interpreter(model_content=data)
    rng = np.random.default_rng(seed)
    xs = []
    for d in it.get_input_details():
        dt = np.dtype(d["dtype"])
        if dt.kind == "f":
            xs.append(rng.standard_normal(d["shape"]).astype(dt))
        else:
            xs.append(rng.integers(-100, 100, d["shape"]).astype(dt))
    return xs


@pytest.mark.parametrize("name", NAMES)
def test_buffers_after_round_trip(name):
    data = (FIXTURES / f"{name}.tflite").read_bytes()
    model = edgelite.load_model(data)
    inline = writer.to_bytes(model)
    after = writer.to_bytes(model, buffers_after=True)
    m2 = edgelite.load_model(after)
    placed = [b for b in m2.buffers if b.size]
    assert placed, "no buffer was placed after the FlatBuffer"
    for b in placed:
        assert b.offset % 16 == 0 and b.offset > 1
    for b1, b2 in zip(model.buffers, m2.buffers):
        assert b1.nbytes == b2.nbytes
        if b1.nbytes:
            assert bytes(np.asarray(b1.data).view(np.uint8)) == bytes(b2.data)
    xs = _inputs(data)
    want = run_edgelite(inline, xs)
    for got in (run_edgelite(after, xs), run_litert(after, xs)):
        for g, w in zip(got, want):
            if w.dtype.kind in "iu":
                # LiteRT's default int8 kernels are not the reference ones (FACTS.md)
                assert np.abs(g.astype(np.int64) - w).max() <= 2
            else:
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    # and it writes back the same model, inline again
    assert writer.to_bytes(m2) == inline


def test_save_model_with_buffers_after_maps_weights(tmp_path):
    data = (FIXTURES / "cnn_float32.tflite").read_bytes()
    path = tmp_path / "m.tflite"
    writer.save_model(edgelite.load_model(data), path, buffers_after=True)
    m = edgelite.load_model(path)
    big = max(m.buffers, key=lambda b: b.nbytes)
    assert big.offset > 1
    assert not big.data.flags.owndata          # a view on the mapped file, not a copy


def test_trailing_zip_stays_last():
    data = (FIXTURES.parent / "extra" / "metadata_example.tflite").read_bytes()
    model = edgelite.load_model(data)
    after = writer.to_bytes(model, buffers_after=True)
    assert model.trailing_bytes and after.endswith(model.trailing_bytes)
    m2 = edgelite.load_model(after)
    assert m2.trailing_bytes == model.trailing_bytes
    files = read_associated_files(data)
    assert files and read_associated_files(after) == files


@pytest.mark.slow
def test_model_over_2gb_is_written_with_buffers_after(tmp_path):
    """A 2.1 GB embedding table: save_model places it after the FlatBuffer by itself;
    edgelite maps it back without copying and LiteRT runs the file."""
    from edgelite.format.builder import ModelBuilder
    rows = (2**31 + 2**26) // 16
    table = np.lib.stride_tricks.as_strided(np.arange(4, dtype=np.float32), (rows, 4), (0, 4))
    b = ModelBuilder("big")
    idx = b.add_input("idx", (3,), np.int32)
    t = b.add_constant("table", np.ascontiguousarray(table))
    y = b.add_tensor("y", (3, 4), np.float32)
    b.add_op("GATHER", [t, idx], [y], axis=0)
    b.add_output(y)
    path = tmp_path / "big.tflite"
    writer.save_model(b.model, path)
    assert path.stat().st_size > 2**31
    m = edgelite.load_model(path)
    assert max(b.offset for b in m.buffers) > 1
    idx = np.array([0, rows // 2, rows - 1], np.int32)
    want = np.tile(np.arange(4, dtype=np.float32), (3, 1))
    from oracle import LiteRTInterpreter
    for cls in (edgelite.Interpreter, LiteRTInterpreter):
        it = cls(model_path=str(path))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], idx)
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), want)
