"""Direct decoding of the most numerous tables of a .tflite file, Tensor,
QuantizationParameters and Operator, into the generated object API's TensorT /
QuantizationParametersT / OperatorT.

The generated `InitFromObj` reads every field through FlatBuffers' generic Python
accessors (a vtable lookup and a typed read per field, ~120 calls per tensor): two
thirds of `load_model` on MobileNetV2. Here each table's vtable is read once and its
fields with precompiled structs; vectors become the same zero-copy numpy views the
object API makes. Tables with rarely used parts (sparsity, variant tensors,
quantization details) take the generated path. The reader verifies the whole buffer
first, so every offset read here is in bounds. `install()` makes TensorT.InitFromObj
use this; tests/format/test_fastunpack.py checks field-by-field equality with the
generated code on every fixture.
"""
from __future__ import annotations

import struct

import numpy as np
from flatbuffers.table import Table

from edgelite.format.schema import tflite_generated as fb

_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_I8 = struct.Struct("<b").unpack_from
_VT: dict[int, struct.Struct] = {}

_generic_tensor = fb.TensorT.InitFromObj.__func__
_generic_quant = fb.QuantizationParametersT.InitFromObj.__func__
_generic_operator = fb.OperatorT.InitFromObj.__func__


def _fields(b, pos: int) -> tuple:
    """The field offsets of the table at `pos` (0 for an absent field)."""
    vt = pos - _I32(b, pos)[0]
    n = (_U16(b, vt)[0] - 4) >> 1
    st = _VT.get(n)
    if st is None:
        st = _VT[n] = struct.Struct(f"<{n}H")
    return st.unpack_from(b, vt + 4)


def _vector(b, at: int, dtype: str) -> np.ndarray:
    """The vector whose uoffset is at byte `at`, as a read-only view."""
    v = at + _U32(b, at)[0]
    return np.frombuffer(b, dtype=np.dtype(dtype), count=_U32(b, v)[0], offset=v + 4)


def quantization_t(q) -> fb.QuantizationParametersT:
    """QuantizationParametersT of a QuantizationParameters accessor."""
    b, pos = q._tab.Bytes, q._tab.Pos
    f = _fields(b, pos)
    n = len(f)
    if n > 4 and f[4] and b[pos + f[4]] != 0:
        return _generic_quant(fb.QuantizationParametersT, q)      # has details
    t = fb.QuantizationParametersT()
    if n > 0 and f[0]:
        t.min = _vector(b, pos + f[0], "<f4")
    if n > 1 and f[1]:
        t.max = _vector(b, pos + f[1], "<f4")
    if n > 2 and f[2]:
        t.scale = _vector(b, pos + f[2], "<f4")
    if n > 3 and f[3]:
        t.zeroPoint = _vector(b, pos + f[3], "<i8")
    if n > 6 and f[6]:
        t.quantizedDimension = _I32(b, pos + f[6])[0]
    return t


def tensor_t(tensor) -> fb.TensorT:
    """TensorT of a Tensor accessor (the generated code's result, field by field)."""
    b, pos = tensor._tab.Bytes, tensor._tab.Pos
    f = _fields(b, pos) + (0,) * 11
    if f[6] or f[9]:
        return _generic_tensor(fb.TensorT, tensor)          # sparsity / variant tensors
    t = fb.TensorT()
    if f[0]:
        t.shape = _vector(b, pos + f[0], "<i4")
    if f[1]:
        t.type = _I8(b, pos + f[1])[0]
    if f[2]:
        t.buffer = _U32(b, pos + f[2])[0]
    if f[3]:
        s = pos + f[3] + _U32(b, pos + f[3])[0]
        t.name = bytes(b[s + 4:s + 4 + _U32(b, s)[0]])
    if f[4]:
        t.quantization = quantization_t(tensor.Quantization())
    if f[5]:
        t.isVariable = bool(b[pos + f[5]])
    if f[7]:
        t.shapeSignature = _vector(b, pos + f[7], "<i4")
    if f[8]:
        t.hasRank = bool(b[pos + f[8]])
    if f[10]:
        t.externalBuffer = _U32(b, pos + f[10])[0]
    return t


_U8 = struct.Struct("<B").unpack_from
_U64 = struct.Struct("<Q").unpack_from


def _union(b, at: int):
    """The union table whose uoffset is at byte `at` (what the accessors hand the
    generated *Creator functions)."""
    return Table(b, at + _U32(b, at)[0])


def operator_t(op) -> fb.OperatorT:
    """OperatorT of an Operator accessor: its own fields read directly, its builtin
    options (small tables of many types) through the generated *Creator functions."""
    b, pos = op._tab.Bytes, op._tab.Pos
    f = _fields(b, pos) + (0,) * 14
    t = fb.OperatorT()
    if f[0]:
        t.opcodeIndex = _U32(b, pos + f[0])[0]
    if f[1]:
        t.inputs = _vector(b, pos + f[1], "<i4")
    if f[2]:
        t.outputs = _vector(b, pos + f[2], "<i4")
    if f[3]:
        t.builtinOptionsType = _U8(b, pos + f[3])[0]
    t.builtinOptions = fb.BuiltinOptionsCreator(
        t.builtinOptionsType, _union(b, pos + f[4]) if f[4] else None)
    if f[5]:
        t.customOptions = _vector(b, pos + f[5], "<u1")
    if f[6]:
        t.customOptionsFormat = _I8(b, pos + f[6])[0]
    if f[7]:
        t.mutatingVariableInputs = _vector(b, pos + f[7], "?")
    if f[8]:
        t.intermediates = _vector(b, pos + f[8], "<i4")
    if f[9]:
        t.largeCustomOptionsOffset = _U64(b, pos + f[9])[0]
    if f[10]:
        t.largeCustomOptionsSize = _U64(b, pos + f[10])[0]
    if f[11]:
        t.builtinOptions2Type = _U8(b, pos + f[11])[0]
    t.builtinOptions2 = fb.BuiltinOptions2Creator(
        t.builtinOptions2Type, _union(b, pos + f[12]) if f[12] else None)
    if f[13]:
        t.debugMetadataIndex = _I32(b, pos + f[13])[0]
    return t


def install() -> None:
    """Make the object API's TensorT / OperatorT.InitFromObj decode directly
    (idempotent)."""
    fb.TensorT.InitFromObj = classmethod(lambda cls, tensor: tensor_t(tensor))
    fb.OperatorT.InitFromObj = classmethod(lambda cls, op: operator_t(op))
