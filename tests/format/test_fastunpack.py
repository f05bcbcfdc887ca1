"""format/fastunpack.py decodes Tensor, QuantizationParameters and Operator tables into
exactly what the generated object API makes: every field of every tensor and operator
of every fixture
model (and of models built here with the rare parts: sparsity-free per-channel
quantization, shape signatures, variables, quantization details, external buffers)."""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from edgelite.format import fastunpack
from edgelite.format.reader import _bytes_view
from edgelite.format.schema import tflite_generated as fb

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(glob.glob(str(ROOT / "fixtures" / "models" / "*.tflite")))
FIELDS = ("shape", "type", "buffer", "name", "isVariable", "shapeSignature", "hasRank",
          "externalBuffer", "sparsity", "variantTensors")
QFIELDS = ("min", "max", "scale", "zeroPoint", "detailsType", "quantizedDimension")


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and np.array_equal(a, b))
    if hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        return type(a) is type(b) and all(_same(a.__dict__[k], b.__dict__[k])
                                          for k in a.__dict__)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _check_model(buf) -> int:
    root = fb.Model.GetRootAs(buf, 0)
    count = 0
    for si in range(root.SubgraphsLength()):
        sg = root.Subgraphs(si)
        for ti in range(sg.TensorsLength()):
            acc = sg.Tensors(ti)
            got = fastunpack.tensor_t(acc)
            want = fastunpack._generic_tensor(fb.TensorT, acc)
            for f in FIELDS:
                assert _same(getattr(got, f), getattr(want, f)), (si, ti, f)
            gq, wq = got.quantization, want.quantization
            assert (gq is None) == (wq is None)
            if wq is not None:
                for f in QFIELDS:
                    assert _same(getattr(gq, f), getattr(wq, f)), (si, ti, f)
                assert _same(gq.details, wq.details)
            count += 1
        for oi in range(sg.OperatorsLength()):
            acc = sg.Operators(oi)
            got = fastunpack.operator_t(acc)
            want = fastunpack._generic_operator(fb.OperatorT, acc)
            for k in want.__dict__:
                assert _same(getattr(got, k), getattr(want, k)), (si, oi, k)
    return count


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).name)
def test_fixture_tensors_decode_like_the_object_api(path):
    buf, _keep, _ = _bytes_view(path)
    assert _check_model(buf) > 0


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
    assert _check_model(bytes(builder.Output())) == 3
