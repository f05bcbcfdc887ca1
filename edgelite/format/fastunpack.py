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


_U8 = struct.Struct("<B").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_BOOL = struct.Struct("<?").unpack_from

# (field index in the vtable, TensorT / ... attribute, a scalar's unpacker or a vector's
# dtype), as in tflite.fbs (a union takes two indices: its type, then its table)
_QUANT = ((0, "min", "<f4"), (1, "max", "<f4"), (2, "scale", "<f4"),
          (3, "zeroPoint", "<i8"), (6, "quantizedDimension", _I32))
_TENSOR = ((0, "shape", "<i4"), (1, "type", _I8), (2, "buffer", _U32),
           (5, "isVariable", _BOOL), (7, "shapeSignature", "<i4"), (8, "hasRank", _BOOL),
           (10, "externalBuffer", _U32))
_OPERATOR = ((0, "opcodeIndex", _U32), (1, "inputs", "<i4"), (2, "outputs", "<i4"),
             (3, "builtinOptionsType", _U8), (5, "customOptions", "<u1"),
             (6, "customOptionsFormat", _I8), (7, "mutatingVariableInputs", "?"),
             (8, "intermediates", "<i4"), (9, "largeCustomOptionsOffset", _U64),
             (10, "largeCustomOptionsSize", _U64), (11, "builtinOptions2Type", _U8),
             (13, "debugMetadataIndex", _I32))


def _read(t, b, pos: int, f: tuple, spec) -> None:
    """Set t's attributes from the fields of the table at `pos` present in `spec` (an
    absent field keeps the object API's default)."""
    for i, attr, kind in spec:
        x = f[i]
        if x:
            setattr(t, attr, _vector(b, pos + x, kind) if isinstance(kind, str)
                    else kind(b, pos + x)[0])


def _union(b, at: int):
    """The union table whose uoffset is at byte `at` (what the accessors hand the
    generated *Creator functions)."""
    return Table(b, at + _U32(b, at)[0])


def quantization_t(q) -> fb.QuantizationParametersT:
    """QuantizationParametersT of a QuantizationParameters accessor."""
    b, pos = q._tab.Bytes, q._tab.Pos
    f = _fields(b, pos) + (0,) * 7
    if f[4] and b[pos + f[4]] != 0:
        return _generic_quant(fb.QuantizationParametersT, q)      # has details
    t = fb.QuantizationParametersT()
    _read(t, b, pos, f, _QUANT)
    return t


def tensor_t(tensor) -> fb.TensorT:
    """TensorT of a Tensor accessor (the generated code's result, field by field)."""
    b, pos = tensor._tab.Bytes, tensor._tab.Pos
    f = _fields(b, pos) + (0,) * 11
    if f[6] or f[9]:
        return _generic_tensor(fb.TensorT, tensor)          # sparsity / variant tensors
    t = fb.TensorT()
    _read(t, b, pos, f, _TENSOR)
    if f[3]:
        s = pos + f[3] + _U32(b, pos + f[3])[0]
        t.name = bytes(b[s + 4:s + 4 + _U32(b, s)[0]])
    if f[4]:
        t.quantization = quantization_t(tensor.Quantization())
    return t


def operator_t(op) -> fb.OperatorT:
    """OperatorT of an Operator accessor: its own fields read directly, its builtin
    options (small tables of many types) through the generated *Creator functions."""
    b, pos = op._tab.Bytes, op._tab.Pos
    f = _fields(b, pos) + (0,) * 14
    t = fb.OperatorT()
    _read(t, b, pos, f, _OPERATOR)
    t.builtinOptions = fb.BuiltinOptionsCreator(
        t.builtinOptionsType, _union(b, pos + f[4]) if f[4] else None)
    t.builtinOptions2 = fb.BuiltinOptions2Creator(
        t.builtinOptions2Type, _union(b, pos + f[12]) if f[12] else None)
    return t


def install() -> None:
    """Make the object API's TensorT / OperatorT.InitFromObj decode directly
    (idempotent)."""
    fb.TensorT.InitFromObj = classmethod(lambda cls, tensor: tensor_t(tensor))
    fb.OperatorT.InitFromObj = classmethod(lambda cls, op: operator_t(op))
