"""edgelite's intermediate representation of a .tflite model.

Plain dataclasses: the reader and the builder produce them, the writer, the
interpreter and the tools consume them. Builtin options are the typed
objects of the generated schema module (`Conv2DOptionsT` and friends); their
fields carry the schema's names (`stride_w`, `fused_activation_function`...).
Constant data are numpy arrays; for a file that was memory-mapped they are
read-only views on the map, never copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgelite.format.schema import tflite_generated as fb

TensorType = fb.TensorType
BuiltinOperator = fb.BuiltinOperator
ActivationFunctionType = fb.ActivationFunctionType
Padding = fb.Padding
BuiltinOptions = fb.BuiltinOptions
BuiltinOptions2 = fb.BuiltinOptions2


def _names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


OP_NAMES: dict[int, str] = _names(BuiltinOperator)
OP_CODES: dict[str, int] = {v: k for k, v in OP_NAMES.items()}
TYPE_NAMES: dict[int, str] = _names(TensorType)
TYPE_CODES: dict[str, int] = {v: k for k, v in TYPE_NAMES.items()}
ACTIVATION_NAMES: dict[int, str] = _names(ActivationFunctionType)
OPTIONS_NAMES: dict[int, str] = _names(BuiltinOptions)
OPTIONS2_NAMES: dict[int, str] = _names(BuiltinOptions2)

# numpy storage dtype of each TensorType. Packed and exotic types are stored
# as raw bytes of the width the file uses (INT4: int8 storage, two per byte
# when packed; BFLOAT16: uint16 bits; FLOAT8: uint8 bits).
NUMPY_DTYPES: dict[int, np.dtype | None] = {
    TensorType.FLOAT32: np.dtype(np.float32),
    TensorType.FLOAT16: np.dtype(np.float16),
    TensorType.INT32: np.dtype(np.int32),
    TensorType.UINT8: np.dtype(np.uint8),
    TensorType.INT64: np.dtype(np.int64),
    TensorType.STRING: np.dtype(object),
    TensorType.BOOL: np.dtype(np.bool_),
    TensorType.INT16: np.dtype(np.int16),
    TensorType.COMPLEX64: np.dtype(np.complex64),
    TensorType.INT8: np.dtype(np.int8),
    TensorType.FLOAT64: np.dtype(np.float64),
    TensorType.COMPLEX128: np.dtype(np.complex128),
    TensorType.UINT64: np.dtype(np.uint64),
    TensorType.RESOURCE: np.dtype(np.int32),   # a resource id
    TensorType.VARIANT: None,
    TensorType.UINT32: np.dtype(np.uint32),
    TensorType.UINT16: np.dtype(np.uint16),
    TensorType.INT4: np.dtype(np.int8),
    TensorType.BFLOAT16: np.dtype(np.uint16),
    TensorType.INT2: np.dtype(np.int8),
    TensorType.UINT4: np.dtype(np.uint8),
    TensorType.FLOAT8_E4M3FN: np.dtype(np.uint8),
    TensorType.FLOAT8_E5M2: np.dtype(np.uint8),
}
_DTYPE_TO_TYPE = {
    np.dtype(np.float32): TensorType.FLOAT32, np.dtype(np.float16): TensorType.FLOAT16,
    np.dtype(np.int32): TensorType.INT32, np.dtype(np.uint8): TensorType.UINT8,
    np.dtype(np.int64): TensorType.INT64, np.dtype(np.bool_): TensorType.BOOL,
    np.dtype(np.int16): TensorType.INT16, np.dtype(np.complex64): TensorType.COMPLEX64,
    np.dtype(np.int8): TensorType.INT8, np.dtype(np.float64): TensorType.FLOAT64,
    np.dtype(np.complex128): TensorType.COMPLEX128, np.dtype(np.uint64): TensorType.UINT64,
    np.dtype(np.uint32): TensorType.UINT32, np.dtype(np.uint16): TensorType.UINT16,
    np.dtype(object): TensorType.STRING,
}


def numpy_dtype(tensor_type: int) -> np.dtype:
    dt = NUMPY_DTYPES.get(tensor_type)
    if dt is None:
        raise KeyError(f"tensor type {TYPE_NAMES.get(tensor_type, tensor_type)} has no numpy dtype")
    return dt


def tensor_type_of(dtype) -> int:
    """TensorType for a numpy dtype (or a TensorType name like 'int8')."""
    if isinstance(dtype, str) and dtype.upper() in TYPE_CODES:
        return TYPE_CODES[dtype.upper()]
    dt = np.dtype(dtype)
    if dt.kind in "SU":
        return TensorType.STRING
    return _DTYPE_TO_TYPE[dt]


def op_name(code: int) -> str:
    return OP_NAMES.get(code, f"UNKNOWN_OP_{code}")


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    zero_point: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    quantized_dimension: int = 0
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    details: Any = None          # CustomQuantization / Blockwise... object, or None
    details_type: int = 0

    @property
    def is_quantized(self) -> bool:
        return self.scale.size > 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    type: int = TensorType.FLOAT32
    buffer: int = 0
    quantization: QuantParams | None = None
    is_variable: bool = False
    sparsity: Any = None             # SparsityParametersT, kept as read
    shape_signature: tuple[int, ...] | None = None
    has_rank: bool = False
    variant_tensors: list | None = None
    external_buffer: int = 0

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self.type)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, str(self.type))


@dataclass
class Buffer:
    """Bytes of a constant. `data` is a uint8 array (a view on the file when mapped)."""
    data: np.ndarray | None = None
    offset: int = 0     # set only in files that store weights after the FlatBuffer
    size: int = 0

    @property
    def nbytes(self) -> int:
        return 0 if self.data is None else int(self.data.size)


@dataclass
class OperatorCode:
    builtin_code: int
    version: int = 1
    custom_code: str | None = None
    deprecated_builtin_code: int = 0

    @property
    def name(self) -> str:
        if self.builtin_code == BuiltinOperator.CUSTOM:
            return self.custom_code or "CUSTOM"
        return op_name(self.builtin_code)


@dataclass
class Operator:
    opcode_index: int
    inputs: list[int]
    outputs: list[int]
    options: Any = None               # typed builtin options object or None
    options_type: int = 0             # BuiltinOptions union code
    custom_options: bytes | None = None
    custom_options_format: int = 0
    mutating_variable_inputs: list[bool] | None = None
    intermediates: list[int] = field(default_factory=list)
    options2: Any = None
    options2_type: int = 0
    large_custom_options_offset: int = 0
    large_custom_options_size: int = 0
    debug_metadata_index: int = -1


@dataclass
class Subgraph:
    tensors: list[Tensor] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)
    name: str = ""
    debug_metadata_index: int = -1


@dataclass
class SignatureDef:
    key: str
    inputs: dict[str, int]        # name -> tensor index, in file order
    outputs: dict[str, int]
    subgraph_index: int = 0


@dataclass
class Metadata:
    name: str
    buffer: int


@dataclass
class Model:
    version: int = 3
    operator_codes: list[OperatorCode] = field(default_factory=list)
    subgraphs: list[Subgraph] = field(default_factory=list)
    description: str = ""
    buffers: list[Buffer] = field(default_factory=lambda: [Buffer()])
    metadata_buffer: list[int] = field(default_factory=list)
    metadata: list[Metadata] = field(default_factory=list)
    signature_defs: list[SignatureDef] = field(default_factory=list)
    external_buffer_groups: list = field(default_factory=list)
    external_buffers: list = field(default_factory=list)
    # What came after the FlatBuffer in the file (e.g. the zip of associated
    # metadata files); the writer appends it again.
    trailing_bytes: bytes = b""

    # ---- convenience used by every later layer
    def op_code(self, op: Operator) -> OperatorCode:
        return self.operator_codes[op.opcode_index]

    def op_name(self, op: Operator) -> str:
        return self.operator_codes[op.opcode_index].name

    def constant(self, tensor: Tensor) -> np.ndarray | None:
        """The tensor's constant value as a typed numpy array, or None.

        For a mapped file the array is a read-only view on the file.
        """
        if tensor.buffer <= 0 or tensor.buffer >= len(self.buffers):
            return None
        buf = self.buffers[tensor.buffer].data
        if buf is None or buf.size == 0:
            return None
        if tensor.type == TensorType.STRING:
            from edgelite.format.strings import decode_strings
            return decode_strings(bytes(buf), tensor.shape)
        dt = tensor.dtype
        if tensor.type in (TensorType.INT4, TensorType.INT2, TensorType.UINT4):
            from edgelite.format.packed import unpack_int
            return unpack_int(buf, tensor.type, tensor.shape)
        count = int(np.prod(tensor.shape, dtype=np.int64)) if tensor.shape else 1
        return np.frombuffer(buf, dtype=dt, count=count).reshape(tensor.shape)

    def metadata_bytes(self, name: str) -> bytes | None:
        for m in self.metadata:
            if m.name == name and 0 <= m.buffer < len(self.buffers):
                data = self.buffers[m.buffer].data
                return b"" if data is None else data.tobytes()
        return None
