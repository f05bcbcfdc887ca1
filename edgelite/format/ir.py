"""edgelite's intermediate representation of a .tflite model.

Plain data classes: the reader and the builder produce them, the writer, the
interpreter and the tools consume them. Builtin options are the typed
objects of the object API (`Conv2DOptionsT` and friends: format/decode.py's classes
for a model read from a file, the generated module's for one made with the builder);
their fields carry the schema's names in camelCase (`strideW`,
`fusedActivationFunction`...).
Constant data are numpy arrays; for a file that was memory-mapped they are
read-only views on the map, never copies.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgelite.format.schema import tflite_tables as fb

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


class _Record:
    """Plain data: repr and equality over _FIELDS, as a dataclass's. Each class writes
    its own __init__ (a @dataclass costs ~1 ms of code generation at import: these nine
    were a sixth of a small model's cold start)."""
    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (tuple(getattr(self, f) for f in self._FIELDS)
                == tuple(getattr(other, f) for f in self._FIELDS))

    __hash__ = None     # mutable, as a dataclass with eq


class QuantParams(_Record):
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""
    _FIELDS = ("scale", "zero_point", "quantized_dimension", "min", "max", "details",
               "details_type")

    def __init__(self, scale: np.ndarray | None = None, zero_point: np.ndarray | None = None,
                 quantized_dimension: int = 0, min: np.ndarray | None = None,
                 max: np.ndarray | None = None, details: Any = None,
                 details_type: int = 0):
        self.scale = np.zeros(0, np.float32) if scale is None else scale
        self.zero_point = np.zeros(0, np.int64) if zero_point is None else zero_point
        self.quantized_dimension = quantized_dimension
        self.min = min
        self.max = max
        self.details = details          # CustomQuantization / Blockwise... object, or None
        self.details_type = details_type

    @property
    def is_quantized(self) -> bool:
        return self.scale.size > 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


class Tensor(_Record):
    _FIELDS = ("name", "shape", "type", "buffer", "quantization", "is_variable", "sparsity",
               "shape_signature", "has_rank", "variant_tensors", "external_buffer")

    def __init__(self, name: str, shape: tuple[int, ...], type: int = TensorType.FLOAT32,
                 buffer: int = 0, quantization: QuantParams | None = None,
                 is_variable: bool = False, sparsity: Any = None,
                 shape_signature: tuple[int, ...] | None = None, has_rank: bool = False,
                 variant_tensors: list | None = None, external_buffer: int = 0):
        self.name = name
        self.shape = shape
        self.type = type
        self.buffer = buffer
        self.quantization = quantization
        self.is_variable = is_variable
        self.sparsity = sparsity                # SparsityParametersT, kept as read
        self.shape_signature = shape_signature
        self.has_rank = has_rank
        self.variant_tensors = variant_tensors
        self.external_buffer = external_buffer

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self.type)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, str(self.type))


class Buffer(_Record):
    """Bytes of a constant. `data` is a uint8 array (a view on the file when mapped)."""
    _FIELDS = ("data", "offset", "size")

    def __init__(self, data: np.ndarray | None = None, offset: int = 0, size: int = 0):
        self.data = data
        self.offset = offset    # set only in files that store weights after the FlatBuffer
        self.size = size

    @property
    def nbytes(self) -> int:
        return 0 if self.data is None else int(self.data.size)


class OperatorCode(_Record):
    _FIELDS = ("builtin_code", "version", "custom_code", "deprecated_builtin_code")

    def __init__(self, builtin_code: int, version: int = 1, custom_code: str | None = None,
                 deprecated_builtin_code: int = 0):
        self.builtin_code = builtin_code
        self.version = version
        self.custom_code = custom_code
        self.deprecated_builtin_code = deprecated_builtin_code

    @property
    def name(self) -> str:
        if self.builtin_code == BuiltinOperator.CUSTOM:
            return self.custom_code or "CUSTOM"
        return op_name(self.builtin_code)


class Operator(_Record):
    _FIELDS = ("opcode_index", "inputs", "outputs", "options", "options_type",
               "custom_options", "custom_options_format", "mutating_variable_inputs",
               "intermediates", "options2", "options2_type", "large_custom_options_offset",
               "large_custom_options_size", "debug_metadata_index")

    def __init__(self, opcode_index: int, inputs: list[int], outputs: list[int],
                 options: Any = None, options_type: int = 0,
                 custom_options: bytes | None = None, custom_options_format: int = 0,
                 mutating_variable_inputs: list[bool] | None = None,
                 intermediates: list[int] | None = None, options2: Any = None,
                 options2_type: int = 0, large_custom_options_offset: int = 0,
                 large_custom_options_size: int = 0, debug_metadata_index: int = -1):
        self.opcode_index = opcode_index
        self.inputs = inputs
        self.outputs = outputs
        self.options = options                  # typed builtin options object or None
        self.options_type = options_type        # BuiltinOptions union code
        self.custom_options = custom_options
        self.custom_options_format = custom_options_format
        self.mutating_variable_inputs = mutating_variable_inputs
        self.intermediates = [] if intermediates is None else intermediates
        self.options2 = options2
        self.options2_type = options2_type
        self.large_custom_options_offset = large_custom_options_offset
        self.large_custom_options_size = large_custom_options_size
        self.debug_metadata_index = debug_metadata_index


class Subgraph(_Record):
    _FIELDS = ("tensors", "inputs", "outputs", "operators", "name", "debug_metadata_index")

    def __init__(self, tensors: list[Tensor] | None = None, inputs: list[int] | None = None,
                 outputs: list[int] | None = None, operators: list[Operator] | None = None,
                 name: str = "", debug_metadata_index: int = -1):
        self.tensors = [] if tensors is None else tensors
        self.inputs = [] if inputs is None else inputs
        self.outputs = [] if outputs is None else outputs
        self.operators = [] if operators is None else operators
        self.name = name
        self.debug_metadata_index = debug_metadata_index


class SignatureDef(_Record):
    _FIELDS = ("key", "inputs", "outputs", "subgraph_index")

    def __init__(self, key: str, inputs: dict[str, int], outputs: dict[str, int],
                 subgraph_index: int = 0):
        self.key = key
        self.inputs = inputs            # name -> tensor index, in file order
        self.outputs = outputs
        self.subgraph_index = subgraph_index


class Metadata(_Record):
    _FIELDS = ("name", "buffer")

    def __init__(self, name: str, buffer: int):
        self.name = name
        self.buffer = buffer


class Model(_Record):
    _FIELDS = ("version", "operator_codes", "subgraphs", "description", "buffers",
               "metadata_buffer", "metadata", "signature_defs", "external_buffer_groups",
               "external_buffers", "trailing_bytes")

    def __init__(self, version: int = 3, operator_codes: list[OperatorCode] | None = None,
                 subgraphs: list[Subgraph] | None = None, description: str = "",
                 buffers: list[Buffer] | None = None, metadata_buffer: list[int] | None = None,
                 metadata: list[Metadata] | None = None,
                 signature_defs: list[SignatureDef] | None = None,
                 external_buffer_groups: list | None = None,
                 external_buffers: list | None = None, trailing_bytes: bytes = b""):
        self.version = version
        self.operator_codes = [] if operator_codes is None else operator_codes
        self.subgraphs = [] if subgraphs is None else subgraphs
        self.description = description
        self.buffers = [Buffer()] if buffers is None else buffers
        self.metadata_buffer = [] if metadata_buffer is None else metadata_buffer
        self.metadata = [] if metadata is None else metadata
        self.signature_defs = [] if signature_defs is None else signature_defs
        self.external_buffer_groups = [] if external_buffer_groups is None \
            else external_buffer_groups
        self.external_buffers = [] if external_buffers is None else external_buffers
        # What came after the FlatBuffer in the file (e.g. the zip of associated
        # metadata files); the writer appends it again.
        self.trailing_bytes = trailing_bytes

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
