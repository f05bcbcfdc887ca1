"""Op resolution: (op, version) -> kernel class.

Every kernel family module registers its classes with `@register`. The
resolver is one explicit table, like LiteRT's register.cc: each builtin maps
to the kernel class and the (min, max) versions it supports. Custom ops are
registered by name, from Python, with the same contract.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from edgelite.format import ir

# Kernel family modules and what each registers: "OP" (the generic kernel),
# "OP/quantized", "OP/hybrid", "custom:NAME". A resolver imports only the families of
# the (op, variant) pairs it is asked for (a model's): importing all of them costs
# ~40 ms, most of a small model's cold start, and an int8 model needs no float kernel
# family (nor a float model the quantized ones) unless a variant falls back to it.
# tests/kernels/test_registry.py checks this table against what importing every family
# registers.
_FAMILY_OPS: dict[str, tuple[str, ...]] = {
    "conv": ("BATCH_MATMUL", "CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
             "TRANSPOSE_CONV"),
    "pool": ("AVERAGE_POOL_2D", "L2_POOL_2D", "MAX_POOL_2D"),
    "elementwise": ("ADD", "ADD_N", "ATAN2", "DIV", "EQUAL", "FLOOR_DIV", "FLOOR_MOD",
                    "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "LOGICAL_AND",
                    "LOGICAL_NOT", "LOGICAL_OR", "MAXIMUM", "MINIMUM", "MUL", "NOT_EQUAL",
                    "POW", "SELECT", "SELECT_V2", "SQUARED_DIFFERENCE", "SUB"),
    "activations": ("ABS", "CAST", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "HARD_SWISH",
                    "LEAKY_RELU", "LOG", "LOGISTIC", "NEG", "PRELU", "RELU", "RELU6",
                    "RELU_0_TO_1", "RELU_N1_TO_1", "ROUND", "RSQRT", "SIGN", "SIN", "SQRT",
                    "SQUARE", "TANH", "ZEROS_LIKE"),
    "normalization": ("L2_NORMALIZATION", "LOCAL_RESPONSE_NORMALIZATION", "LOG_SOFTMAX",
                      "SOFTMAX"),
    "reduce": ("ARG_MAX", "ARG_MIN", "CUMSUM", "MEAN", "REDUCE_ALL", "REDUCE_ANY",
               "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SUM"),
    "shape": ("BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CONCATENATION",
              "DEPTH_TO_SPACE", "EXPAND_DIMS", "FILL", "MIRROR_PAD", "PACK", "PAD", "PADV2",
              "RANGE", "RANK", "RESHAPE", "REVERSE_V2", "SHAPE", "SLICE", "SPACE_TO_BATCH_ND",
              "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQUEEZE", "STRIDED_SLICE", "TILE",
              "TRANSPOSE", "UNPACK"),
    "resize": ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"),
    "rnn": ("BIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_RNN", "LSTM", "RNN",
            "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN"),
    "detection": ("NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
                  "custom:TFLite_Detection_PostProcess"),
    "quantize": ("DEQUANTIZE", "QUANTIZE"),
    "control_flow": ("CALL", "CALL_ONCE", "IF", "WHILE"),
    "variables": ("ASSIGN_VARIABLE", "READ_VARIABLE", "VAR_HANDLE"),
    "misc": ("DYNAMIC_UPDATE_SLICE", "EMBEDDING_LOOKUP", "GATHER", "GATHER_ND", "ONE_HOT",
             "SCATTER_ND", "TOPK_V2", "UNIQUE", "WHERE"),
    "conv3d_transpose": ("CONV_3D_TRANSPOSE",),
    "extra_numeric": ("BITCAST", "BITWISE_XOR", "BUCKETIZE", "COMPLEX_ABS", "DENSIFY",
                      "DILATE", "FAKE_QUANT", "IMAG", "MATRIX_DIAG", "MATRIX_SET_DIAG",
                      "REAL", "REDUCE_WINDOW", "REVERSE_SEQUENCE", "RFFT2D", "RIGHT_SHIFT",
                      "SEGMENT_SUM", "SPARSE_TO_DENSE", "UNSORTED_SEGMENT_MAX",
                      "UNSORTED_SEGMENT_MIN", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_SUM"),
    "extra_lookup": ("EMBEDDING_LOOKUP_SPARSE", "HASHTABLE", "HASHTABLE_FIND",
                     "HASHTABLE_IMPORT", "HASHTABLE_LOOKUP", "HASHTABLE_SIZE",
                     "LSH_PROJECTION", "MULTINOMIAL", "RANDOM_STANDARD_NORMAL",
                     "RANDOM_UNIFORM", "SKIP_GRAM"),
    "quant.conv": ("BATCH_MATMUL/quantized", "CONV_2D/quantized",
                   "DEPTHWISE_CONV_2D/quantized", "FULLY_CONNECTED/quantized",
                   "TRANSPOSE_CONV/quantized"),
    "quant.pool": ("AVERAGE_POOL_2D/quantized", "MAX_POOL_2D/quantized"),
    "quant.elementwise": ("ADD/quantized", "DIV/quantized", "EQUAL/quantized",
                          "GREATER/quantized", "GREATER_EQUAL/quantized", "LESS/quantized",
                          "LESS_EQUAL/quantized", "MUL/quantized", "NOT_EQUAL/quantized",
                          "PRELU/quantized", "SQUARED_DIFFERENCE/quantized", "SUB/quantized"),
    "quant.activations": ("ABS/quantized", "ELU/quantized", "EXP/quantized", "GELU/quantized",
                          "HARD_SWISH/quantized", "L2_NORMALIZATION/quantized",
                          "LEAKY_RELU/quantized", "LOG/quantized", "LOGISTIC/quantized",
                          "LOG_SOFTMAX/quantized", "RELU/quantized", "RELU6/quantized",
                          "RELU_0_TO_1/quantized", "RELU_N1_TO_1/quantized",
                          "RSQRT/quantized", "SOFTMAX/quantized", "SQRT/quantized",
                          "TANH/quantized"),
    "quant.reduce": ("MEAN/quantized", "REDUCE_PROD/quantized", "SUM/quantized"),
    "quant.misc": ("RESIZE_BILINEAR/quantized",),
    "quant.rnn": ("BIDIRECTIONAL_SEQUENCE_LSTM/hybrid", "BIDIRECTIONAL_SEQUENCE_RNN/hybrid",
                  "LSTM/hybrid", "LSTM/quantized", "RNN/hybrid", "SVDF/hybrid",
                  "SVDF/quantized", "UNIDIRECTIONAL_SEQUENCE_LSTM/hybrid",
                  "UNIDIRECTIONAL_SEQUENCE_LSTM/quantized",
                  "UNIDIRECTIONAL_SEQUENCE_RNN/hybrid"),
    "quant.hybrid": ("BATCH_MATMUL/hybrid", "CONV_2D/hybrid", "DEPTHWISE_CONV_2D/hybrid",
                     "FULLY_CONNECTED/hybrid"),
    "quant.layout": ("CONCATENATION/quantized",),
    "quant.int4": ("EMBEDDING_LOOKUP",),
}
FAMILIES = list(_FAMILY_OPS)
_OP_FAMILIES: dict[str, list[str]] = {}
for _family, _ops in _FAMILY_OPS.items():
    for _op in _ops:
        _OP_FAMILIES.setdefault(_op, []).append(_family)
del _family, _ops, _op

# Which variant of an op a node gets is decided by its tensor types, known
# from the file before any shape is: "quantized" when the first input is an
# int8/uint8/int16 tensor, "hybrid" when a float input meets int8 weights
# (input 1), else the generic (float) kernel. A missing variant falls back to
# the generic kernel, which then explains what it does not support.
_QUANT_TYPES = {ir.TensorType.INT8, ir.TensorType.UINT8, ir.TensorType.INT16}
_WEIGHT_TYPES = {ir.TensorType.INT8, ir.TensorType.UINT8, ir.TensorType.INT4}

# op name -> (kernel class, min version, max version)
BUILTINS: dict[str, tuple[type, int, int]] = {}
QUANTIZED: dict[str, tuple[type, int, int]] = {}
HYBRID: dict[str, tuple[type, int, int]] = {}
CUSTOM: dict[str, tuple[type, int, int]] = {}
_loaded = False


def register(op_name: str, versions: tuple[int, int] = (1, 1), *, custom: bool = False,
             variant: str = "generic") -> Callable:
    """Class decorator: `@register("ADD", versions=(1, 5))`.

    `variant="quantized"` / `"hybrid"` registers the kernel used when the node's
    tensor types say so (see above)."""
    def deco(cls):
        table = CUSTOM if custom else {"generic": BUILTINS, "quantized": QUANTIZED,
                                       "hybrid": HYBRID}[variant]
        table[op_name] = (cls, versions[0], versions[1])
        cls.op_name = op_name
        return cls
    return deco


def _import_family(name: str) -> None:
    try:
        importlib.import_module(f"edgelite.kernels.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"edgelite.kernels.{name}":
            raise


def load_all() -> None:
    """Import every kernel family (all registrations)."""
    global _loaded
    if _loaded:
        return
    for name in FAMILIES:
        _import_family(name)
    _loaded = True


_ops_loaded: set[str] = set()


def load_op(name: str) -> None:
    """Import the kernel families that register `name`: a builtin op name (its generic
    kernel), "OP/quantized" or "OP/hybrid" (that variant), or "custom:" + a custom op's
    name. A variant no family registers imports nothing; every family is imported for
    an op or custom name the table does not know (so that what is missing is missing
    for certain). A family registering an op another one registers too subclasses that
    one's kernel (it imports it first), so the kernel that wins does not depend on the
    order families were imported in."""
    if _loaded or name in _ops_loaded:
        return
    families = _OP_FAMILIES.get(name)
    if families is None:
        if "/" not in name:
            load_all()
        return
    for family in families:
        _import_family(family)
    _ops_loaded.add(name)


# The input whose type decides the variant, where it is not input 0.
_DATA_INPUT = {"TRANSPOSE_CONV": 2}
# The weight input that marks a hybrid node, where it is not input 1 (LSTMs:
# input_to_forget_weights, present even in CIFG models without an input gate).
_WEIGHT_INPUT = {"LSTM": 2, "UNIDIRECTIONAL_SEQUENCE_LSTM": 2, "BIDIRECTIONAL_SEQUENCE_LSTM": 2}


def _quantized(t) -> bool:
    q = t.quantization
    return q is not None and q.scale.size > 0


class OpResolver:
    """Finds kernels. `custom` adds or overrides custom ops (name -> class);
    `only` restricts builtins to a set of op names (selective registration)."""

    def __init__(self, custom: dict[str, type] | None = None, only: set[str] | None = None):
        self.custom = dict(custom or {})
        self.only = only

    def find(self, code: ir.OperatorCode, input_tensors: list | None = None
             ) -> tuple[type | None, str]:
        """(kernel class or None, reason when None); `input_tensors` (ir.Tensor or None
        per input) pick the variant."""
        if code.builtin_code == ir.BuiltinOperator.CUSTOM:
            name = code.custom_code or ""
            if name in self.custom:
                return self.custom[name], ""
            if name not in CUSTOM:      # (one registered from Python needs no import)
                load_op("custom:" + name)
            if name in CUSTOM:
                cls, lo, hi = CUSTOM[name]
                return cls, ""
            return None, f"custom op {name!r} is not registered"
        name = ir.op_name(code.builtin_code)
        if self.only is not None and name not in self.only:
            return None, f"{name} is not in this resolver's selection"
        tensors = list(input_tensors or [])
        data = _DATA_INPUT.get(name, 0)
        first = tensors[data] if len(tensors) > data else None
        w = _WEIGHT_INPUT.get(name, 1)
        weights = tensors[w] if len(tensors) > w else None
        entry = None
        if first is not None and first.type in _QUANT_TYPES and _quantized(first):
            load_op(name + "/quantized")
            entry = QUANTIZED.get(name)
        elif (first is not None and first.type == ir.TensorType.FLOAT32 and weights is not None
              and weights.type in _WEIGHT_TYPES):
            load_op(name + "/hybrid")
            entry = HYBRID.get(name)
        if entry is None:       # the generic kernel (also when the variant has none)
            load_op(name)
            entry = BUILTINS.get(name)
        if entry is None:
            return None, f"builtin op {name} has no edgelite kernel"
        cls, lo, hi = entry
        if not lo <= code.version <= hi:
            return None, f"{name} version {code.version} is not supported (supported: {lo}..{hi})"
        return cls, ""


def supported_ops() -> dict[str, tuple[int, int]]:
    """op name -> (min, max) version over all variants."""
    load_all()
    out: dict[str, tuple[int, int]] = {}
    for table in (BUILTINS, QUANTIZED, HYBRID):
        for name, (_, lo, hi) in table.items():
            a, b = out.get(name, (lo, hi))
            out[name] = (min(a, lo), max(b, hi))
    return dict(sorted(out.items()))


def custom_op(name: str, *, prepare: Callable, invoke: Callable, init: Callable | None = None,
              free: Callable | None = None, versions: tuple[int, int] = (1, 1),
              register_globally: bool = False) -> type:
    """A custom op from plain Python functions, with TFLite's four-function contract.

        init(custom_options: bytes) -> user_data        (optional; once per node)
        prepare(ctx: PrepareContext, user_data) -> None  (set output shapes, validate)
        invoke(ictx: InvokeContext, user_data) -> None   (write ictx.outputs[i])
        free(user_data) -> None                          (optional; when the node goes away)

    Returns a Kernel class; pass it as `Interpreter(custom_ops={name: cls})`, or
    set `register_globally=True` to make every interpreter resolve it.
    """
    from edgelite.kernels.base import Kernel

    class PythonCustomOp(Kernel):
        op_name = name
        _user_data = None
        _initialized = False

        def prepare(self, ctx):
            if not self._initialized:
                if not versions[0] <= ctx.version <= versions[1]:
                    raise ctx.error(f"custom op {name} version {ctx.version} is not supported "
                                    f"(supported: {versions[0]}..{versions[1]})")
                self._user_data = init(ctx.custom_options or b"") if init else None
                self._initialized = True
            prepare(ctx, self._user_data)

        def invoke(self, ictx):
            invoke(ictx, self._user_data)

        def __del__(self):
            if free is not None and self._initialized:
                free(self._user_data)

    PythonCustomOp.__name__ = PythonCustomOp.__qualname__ = f"CustomOp_{name}"
    if register_globally:
        CUSTOM[name] = (PythonCustomOp, versions[0], versions[1])
    return PythonCustomOp
