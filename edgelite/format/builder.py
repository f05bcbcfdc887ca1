"""Make .tflite models in code.

    b = ModelBuilder()
    x = b.add_input("x", (1, 8, 8, 3), np.float32)
    w = b.add_constant("w", weights)                       # typed numpy array
    y = b.add_tensor("y", (1, 8, 8, 4), np.float32)
    b.add_op("CONV_2D", [x, w, -1], [y], padding="SAME", stride_w=1, stride_h=1,
             fused_activation_function="RELU6")
    b.add_output(y)
    data = b.to_bytes()          # or b.build() -> edgelite.format.ir.Model

Options are given as keyword arguments with the schema's field names
(snake_case, e.g. `stride_w`, `keep_num_dims`); enum values as names
("SAME", "RELU6", "INT32") or ints. Quantization as `quant=(scale, zero_point)`
or `quant=dict(scale=[...], zero_point=[...], quantized_dimension=0)`.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from edgelite.errors import ModelError
from edgelite.format import ir
from edgelite.format.schema import tflite_generated as fb

_OPTIONS_BY_LOWER = {name.lower(): name for name in ir.OPTIONS_NAMES.values() if name != "NONE"}
_OPTIONS2_BY_LOWER = {name.lower(): name for name in ir.OPTIONS2_NAMES.values() if name != "NONE"}
_OPTIONS_EXCEPTIONS = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
    "REDUCE_ANY": "ReducerOptions", "REDUCE_ALL": "ReducerOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "L2_NORMALIZATION": "L2NormOptions", "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions", "RANDOM_UNIFORM": "RandomOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions", "MULTINOMIAL": "RandomOptions",
}
_ENUMS_BY_FIELD = {
    "padding": fb.Padding, "fusedActivationFunction": fb.ActivationFunctionType,
    "mode": fb.MirrorPadMode, "kernelType": fb.LSTMKernelType, "combiner": fb.CombinerType,
    "weightsFormat": fb.FullyConnectedOptionsWeightsFormat,
}


def options_class_name(op_name: str) -> tuple[str | None, int]:
    """(Options class name, 1 or 2 for BuiltinOptions / BuiltinOptions2) for an op name."""
    if op_name in _OPTIONS_EXCEPTIONS:
        return _OPTIONS_EXCEPTIONS[op_name], 1
    key = op_name.replace("_", "").lower() + "options"
    if key in _OPTIONS_BY_LOWER:
        return _OPTIONS_BY_LOWER[key], 1
    if key in _OPTIONS2_BY_LOWER:
        return _OPTIONS2_BY_LOWER[key], 2
    return None, 0


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def make_options(op_name: str, **kwargs) -> tuple[Any, int, int]:
    """(options object, union type code, which union) for an op and keyword options."""
    cls_name, which = options_class_name(op_name)
    if cls_name is None:
        if kwargs:
            raise ModelError(f"{op_name} takes no builtin options, got {sorted(kwargs)}")
        return None, 0, 0
    obj = getattr(fb, cls_name + "T")()
    for key, value in kwargs.items():
        attr = camel(key) if not hasattr(obj, key) else key
        if not hasattr(obj, attr):
            fields = sorted(snake(k) for k in vars(obj))
            raise ModelError(f"{op_name} ({cls_name}) has no option {key!r}; it has {fields}")
        if isinstance(value, str):
            enum = _ENUMS_BY_FIELD.get(attr, fb.TensorType)
            name = value if hasattr(enum, value) else value.upper()
            if not hasattr(enum, name):
                raise ModelError(f"{op_name} option {key}={value!r} is not a value of "
                                 f"{enum.__name__}")
            value = getattr(enum, name)
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        setattr(obj, attr, value)
    union = fb.BuiltinOptions if which == 1 else fb.BuiltinOptions2
    return obj, getattr(union, cls_name), which


def make_quant(quant) -> ir.QuantParams | None:
    if quant is None or isinstance(quant, ir.QuantParams):
        return quant
    if isinstance(quant, tuple):
        scale, zp = quant
        quant = {"scale": scale, "zero_point": zp}
    return ir.QuantParams(
        scale=np.atleast_1d(np.asarray(quant["scale"], np.float32)),
        zero_point=np.atleast_1d(np.asarray(quant.get("zero_point", 0), np.int64)),
        quantized_dimension=int(quant.get("quantized_dimension", 0)),
        min=None if quant.get("min") is None else np.atleast_1d(np.asarray(quant["min"], np.float32)),
        max=None if quant.get("max") is None else np.atleast_1d(np.asarray(quant["max"], np.float32)))


class SubgraphBuilder:
    def __init__(self, model_builder: ModelBuilder, subgraph: ir.Subgraph, index: int):
        self.mb = model_builder
        self.sg = subgraph
        self.index = index

    # ---- tensors
    def add_tensor(self, name: str, shape, dtype=np.float32, quant=None, *,
                   shape_signature=None, is_variable: bool = False, buffer: int = 0) -> int:
        t = ir.Tensor(name=name, shape=tuple(int(d) for d in shape), type=ir.tensor_type_of(dtype),
                      buffer=buffer, quantization=make_quant(quant), is_variable=is_variable,
                      shape_signature=None if shape_signature is None
                      else tuple(int(d) for d in shape_signature))
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def add_input(self, name: str, shape, dtype=np.float32, quant=None, **kw) -> int:
        idx = self.add_tensor(name, shape, dtype, quant, **kw)
        self.sg.inputs.append(idx)
        return idx

    def add_constant(self, name: str, value, dtype=None, quant=None, tensor_type=None,
                     shape=None) -> int:
        """A constant tensor; `tensor_type` ("INT4", ...) overrides the numpy dtype's type.

        INT4/UINT4/INT2: `value` holds the values, packed here as LiteRT reads them;
        or, with `shape` given, `value` is the already-packed uint8 bytes."""
        arr = np.asarray(value, dtype=dtype)
        ttype = ir.tensor_type_of(tensor_type or arr.dtype)
        if ttype == ir.TensorType.STRING:
            from edgelite.format.strings import encode_strings
            raw = np.frombuffer(encode_strings(arr), np.uint8)
        elif ttype in (ir.TensorType.INT4, ir.TensorType.UINT4, ir.TensorType.INT2):
            from edgelite.format.packed import pack_int
            raw = arr.astype(np.uint8).ravel() if shape is not None else pack_int(arr, ttype)
        else:
            raw = np.ascontiguousarray(arr).view(np.uint8).ravel()
        buf = self.mb.add_buffer(raw)
        t = ir.Tensor(name=name, shape=arr.shape if shape is None else tuple(shape), type=ttype,
                      buffer=buf, quantization=make_quant(quant))
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def add_output(self, index: int) -> None:
        self.sg.outputs.append(index)

    def set_inputs(self, indices) -> None:
        self.sg.inputs = list(indices)

    def set_outputs(self, indices) -> None:
        self.sg.outputs = list(indices)

    # ---- operators
    def add_op(self, op: str | int, inputs, outputs, *, version: int = 1, intermediates=(),
               **options) -> int:
        code = ir.OP_CODES[op] if isinstance(op, str) else int(op)
        name = ir.op_name(code)
        obj, utype, which = make_options(name, **options)
        o = ir.Operator(opcode_index=self.mb.opcode(code, version), inputs=list(inputs),
                        outputs=list(outputs), intermediates=list(intermediates))
        if which == 1:
            o.options, o.options_type = obj, utype
        elif which == 2:
            o.options2, o.options2_type = obj, utype
        self.sg.operators.append(o)
        return len(self.sg.operators) - 1

    def add_custom_op(self, custom_code: str, inputs, outputs, custom_options: bytes = b"",
                      *, version: int = 1) -> int:
        o = ir.Operator(opcode_index=self.mb.opcode(fb.BuiltinOperator.CUSTOM, version, custom_code),
                        inputs=list(inputs), outputs=list(outputs),
                        custom_options=bytes(custom_options))
        self.sg.operators.append(o)
        return len(self.sg.operators) - 1


class ModelBuilder(SubgraphBuilder):
    """Builds a Model; itself the builder of subgraph 0 (`add_subgraph` for more)."""

    def __init__(self, description: str = "edgelite builder"):
        self.model = ir.Model(description=description)
        self._codes: dict[tuple, int] = {}
        sg = ir.Subgraph(name="main")
        self.model.subgraphs.append(sg)
        super().__init__(self, sg, 0)

    def add_buffer(self, raw: np.ndarray | bytes) -> int:
        raw = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray)) else raw
        self.model.buffers.append(ir.Buffer(data=np.ascontiguousarray(raw, np.uint8)))
        return len(self.model.buffers) - 1

    def opcode(self, code: int, version: int = 1, custom_code: str | None = None) -> int:
        key = (code, version, custom_code)
        if key not in self._codes:
            self.model.operator_codes.append(
                ir.OperatorCode(builtin_code=code, version=version, custom_code=custom_code))
            self._codes[key] = len(self.model.operator_codes) - 1
        return self._codes[key]

    def add_subgraph(self, name: str = "") -> SubgraphBuilder:
        sg = ir.Subgraph(name=name)
        self.model.subgraphs.append(sg)
        return SubgraphBuilder(self, sg, len(self.model.subgraphs) - 1)

    def add_signature(self, key: str, inputs: dict[str, int], outputs: dict[str, int],
                      subgraph: int = 0) -> None:
        self.model.signature_defs.append(ir.SignatureDef(key, dict(inputs), dict(outputs), subgraph))

    def add_metadata(self, name: str, data: bytes) -> None:
        self.model.metadata.append(ir.Metadata(name, self.add_buffer(data)))

    def build(self) -> ir.Model:
        return self.model

    def to_bytes(self) -> bytes:
        from edgelite.format.writer import to_bytes
        return to_bytes(self.model)
