"""Read a .tflite file into edgelite's IR.

The file is memory-mapped and verified before anything is decoded, so a bad
file can only ever produce a ModelError naming the bad place. Constant
buffers become read-only numpy views on the map: loading a 100 MB model reads
only its graph, not its weights.
"""
from __future__ import annotations

import math
import mmap
import os
import struct

import numpy as np

from edgelite.errors import ModelError
from edgelite.format import ir
from edgelite.format.decode import Decoded, _Malformed, decode_model
from edgelite.format.fbs import load_schema, verify

MAX_DIM = 2**31 - 1
MAX_RANK = 16
MAX_TENSOR_BYTES = 2**63


def _bytes_view(source):
    """(buffer, keepalive, path) for a path or a bytes-like object."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as e:
            raise ModelError(f"cannot open model file {path!r}: {e.strerror}") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ModelError(f"model file {path!r} is empty")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return mm, mm, path
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return source, source, None
    if isinstance(source, np.ndarray):
        return source.tobytes(), None, None
    raise ModelError(f"cannot read a model from {type(source).__name__}: give a path or bytes")


def _str(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", errors="replace") if isinstance(b, (bytes, bytearray)) else str(b)


def _int_list(v) -> list[int]:
    if v is None or isinstance(v, int):
        return []
    return v.tolist() if isinstance(v, np.ndarray) else [int(x) for x in v]


def _scales_ok(scale: np.ndarray) -> bool:
    """Every scale finite and >= 0 (NaN fails both comparisons)."""
    if scale.size == 1:
        return 0.0 <= float(scale[0]) < math.inf
    return not scale.size or bool(scale.min() >= 0) and bool(scale.max() < math.inf)


# the (read-only, shared) arrays of a quantization table without scales / zero points:
# TensorFlow writes one for every float tensor
_NO_SCALE = np.zeros(0, np.float32)
_NO_SCALE.flags.writeable = False
_NO_ZERO_POINT = np.zeros(0, np.int64)
_NO_ZERO_POINT.flags.writeable = False


def _quant(q: Decoded | None, where, shape) -> ir.QuantParams | None:
    """where(): the tensor's place for an error message (made only on an error)."""
    if q is None:
        return None
    scale = q.scale
    scale = _NO_SCALE if scale is None or isinstance(scale, int) else np.asarray(scale, np.float32)
    zp = q.zeroPoint
    zp = _NO_ZERO_POINT if zp is None or isinstance(zp, int) else np.asarray(zp, np.int64)
    qmin = None if q.min is None or isinstance(q.min, int) else np.asarray(q.min, np.float32)
    qmax = None if q.max is None or isinstance(q.max, int) else np.asarray(q.max, np.float32)
    qp = ir.QuantParams(scale=scale, zero_point=zp, quantized_dimension=int(q.quantizedDimension),
                        min=qmin, max=qmax, details=q.details, details_type=int(q.detailsType))
    if scale.size <= 1 and zp.size <= 1 and _scales_ok(scale):
        return qp               # per-tensor (or none): nothing more to check
    return _checked_quant(qp, where(), shape)


def _checked_quant(qp: ir.QuantParams, where: str, shape) -> ir.QuantParams:
    """qp after the checks of per-channel parameters and of the scales' values."""
    scale, zp = qp.scale, qp.zero_point
    if scale.size and not _scales_ok(scale):
        bad = scale[~(np.isfinite(scale) & (scale >= 0))][0]
        raise ModelError(f"{where}: quantization scale {bad} is not a finite, non-negative number")
    if scale.size and zp.size and zp.size != scale.size:
        raise ModelError(f"{where}: quantization has {scale.size} scales but {zp.size} zero points")
    if scale.size > 1:
        qd = qp.quantized_dimension
        if not 0 <= qd < len(shape):
            raise ModelError(f"{where}: quantized_dimension {qd} is outside rank {len(shape)}")
        if shape[qd] != scale.size:
            raise ModelError(f"{where}: {scale.size} per-channel scales for dimension {qd} "
                             f"of size {shape[qd]}")
    return qp


def load_model(source) -> ir.Model:
    """Read a .tflite model from a path or bytes; returns `edgelite.format.ir.Model`."""
    buf, keepalive, path = _bytes_view(source)
    what = f"model file {path!r}" if path else "model buffer"
    n = len(buf)
    if n >= 8 and bytes(buf[4:8]) == b"TFL3":
        try:
            mt = decode_model(buf, n)     # checks as it decodes
        except (_Malformed, IndexError, struct.error, ValueError, TypeError, OverflowError):
            mt = None
    else:
        mt = None
    if mt is None:
        # Not a sound TFL3 FlatBuffer: the verifier says where and why.
        verify(load_schema("tflite.fbs"), buf, n, what=what)
        raise ModelError(f"{what}: cannot decode FlatBuffer")     # the two disagree
    model = _convert(mt, buf, n, what)
    model._keepalive = keepalive  # the map must outlive every view on it
    model.source_path = path
    _validate(model, what)
    return model


def _convert(mt: Decoded, buf, n: int, what: str) -> ir.Model:
    model = ir.Model(version=int(mt.version), description=_str(mt.description))
    model.buffers = []
    for bi, bt in enumerate(mt.buffers or []):
        b = ir.Buffer(offset=int(bt.offset), size=int(bt.size))
        if bt.data is not None and not isinstance(bt.data, int):
            b.data = bt.data  # np.frombuffer view, zero-copy
        elif b.offset > 1:
            if b.offset + b.size > n:
                raise ModelError(f"{what}: buffer {bi} claims bytes [{b.offset}, "
                                 f"{b.offset + b.size}) of a {n}-byte file")
            b.data = np.frombuffer(buf, dtype=np.uint8, count=b.size, offset=b.offset)
        model.buffers.append(b)
    if not model.buffers:
        model.buffers = [ir.Buffer()]
    for oc in mt.operatorCodes or []:
        dep = int(oc.deprecatedBuiltinCode)
        code = max(int(oc.builtinCode), dep)
        model.operator_codes.append(ir.OperatorCode(
            builtin_code=code, version=int(oc.version),
            custom_code=_str(oc.customCode) if oc.customCode is not None else None,
            deprecated_builtin_code=dep))
    for si, st in enumerate(mt.subgraphs or []):
        sg = ir.Subgraph(name=_str(st.name), inputs=_int_list(st.inputs),
                         outputs=_int_list(st.outputs),
                         debug_metadata_index=int(st.debugMetadataIndex))
        for ti, tt in enumerate(st.tensors or []):
            shape = tuple(_int_list(tt.shape))

            def where(si=si, ti=ti, name=tt.name):
                return f"subgraph {si}, tensor {ti} {_str(name)!r}"
            sig = tt.shapeSignature
            t = ir.Tensor(
                name=_str(tt.name), shape=shape, type=int(tt.type), buffer=int(tt.buffer),
                quantization=_quant(tt.quantization, where, shape),
                is_variable=bool(tt.isVariable), sparsity=tt.sparsity,
                shape_signature=None if sig is None or isinstance(sig, int) else tuple(_int_list(sig)),
                has_rank=bool(tt.hasRank), variant_tensors=tt.variantTensors,
                external_buffer=int(tt.externalBuffer))
            sg.tensors.append(t)
        for ot in st.operators or []:
            custom = ot.customOptions
            op = ir.Operator(
                opcode_index=int(ot.opcodeIndex), inputs=_int_list(ot.inputs),
                outputs=_int_list(ot.outputs), options=ot.builtinOptions,
                options_type=int(ot.builtinOptionsType),
                custom_options=None if custom is None or isinstance(custom, int) else bytes(custom),
                custom_options_format=int(ot.customOptionsFormat),
                mutating_variable_inputs=None if ot.mutatingVariableInputs is None
                or isinstance(ot.mutatingVariableInputs, int)
                else [bool(x) for x in ot.mutatingVariableInputs],
                intermediates=_int_list(ot.intermediates),
                options2=ot.builtinOptions2, options2_type=int(ot.builtinOptions2Type),
                large_custom_options_offset=int(ot.largeCustomOptionsOffset),
                large_custom_options_size=int(ot.largeCustomOptionsSize),
                debug_metadata_index=int(ot.debugMetadataIndex))
            if op.large_custom_options_offset > 1:
                lo, sz = op.large_custom_options_offset, op.large_custom_options_size
                if lo + sz > n:
                    raise ModelError(f"{what}: subgraph {si}, operator {len(sg.operators)}: "
                                     f"custom options [{lo}, {lo + sz}) beyond a {n}-byte file")
                op.custom_options = bytes(buf[lo:lo + sz])
            sg.operators.append(op)
        model.subgraphs.append(sg)
    model.metadata_buffer = _int_list(mt.metadataBuffer)
    model.metadata = [ir.Metadata(_str(m.name), int(m.buffer)) for m in mt.metadata or []]
    for sd in mt.signatureDefs or []:
        model.signature_defs.append(ir.SignatureDef(
            key=_str(sd.signatureKey),
            inputs={_str(m.name): int(m.tensorIndex) for m in sd.inputs or []},
            outputs={_str(m.name): int(m.tensorIndex) for m in sd.outputs or []},
            subgraph_index=int(sd.subgraphIndex)))
    model.external_buffer_groups = mt.externalBufferGroups or []
    model.external_buffers = mt.externalBuffers or []
    # Trailing bytes (e.g. a zip of associated files) start after the last
    # byte the FlatBuffer uses; only the metadata zip convention needs them.
    start = _appended_zip_start(buf, n)
    if start is not None and start >= _flat_end(model.buffers, buf):
        model.trailing_bytes = bytes(buf[start:n])
    return model


def _flat_end(buffers: list, buf) -> int:
    """Where the model's bytes end: past the last buffer's data (inside the FlatBuffer
    or at an offset past it). Asked only when an appended zip was found."""
    base = np.frombuffer(buf, dtype=np.uint8, count=1).__array_interface__["data"][0]
    end = 0
    for b in buffers:
        if b.data is not None:      # (a view of buf, inline or at the buffer's offset)
            end = max(end, _array_end(b.data, base))
    return end


def _appended_zip_start(buf, n: int) -> int | None:
    """Where a zip archive appended to the FlatBuffer starts (TFLite's metadata
    convention for associated files), from its end-of-central-directory record."""
    tail_from = max(0, n - (65536 + 22))
    tail = bytes(buf[tail_from:n])
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        return None
    cd_size, cd_offset = struct.unpack_from("<II", tail, eocd + 12)
    # Offsets inside the archive are relative to its own start (a zip written
    # separately, then appended) or to the file start (zipfile in append mode).
    cd_start = tail_from + eocd - cd_size
    relative = cd_start - cd_offset
    candidates = [relative]
    # The first central-directory entry names its local header relative to the same
    # origin: this also finds an archive whose offsets counted from the start of the
    # file it was first appended to, after that file's FlatBuffer changed size.
    if 0 <= cd_start and cd_start + 46 <= n and bytes(buf[cd_start:cd_start + 4]) == b"PK\x01\x02":
        candidates.append(relative + struct.unpack_from("<I", bytes(buf[cd_start + 42:cd_start + 46]))[0])
    if 0 <= cd_offset and cd_offset + 46 <= n and bytes(buf[cd_offset:cd_offset + 4]) == b"PK\x01\x02":
        candidates.append(struct.unpack_from("<I", bytes(buf[cd_offset + 42:cd_offset + 46]))[0])
    for start in candidates:
        if 8 <= start < n and bytes(buf[start:start + 4]) == b"PK\x03\x04":
            return start
    return None


def _array_end(arr: np.ndarray, base: int) -> int:
    """Where the view `arr` ends, as an offset in the buffer whose address is base."""
    return arr.__array_interface__["data"][0] - base + arr.nbytes


_CONTROL_FLOW_FIELDS = {
    "WhileOptionsT": ("condSubgraphIndex", "bodySubgraphIndex"),
    "IfOptionsT": ("thenSubgraphIndex", "elseSubgraphIndex"),
    "CallOnceOptionsT": ("initSubgraphIndex",),
    "CallOptionsT": ("subgraph",),
}


_CONTROL_FLOW_OPTIONS = {"WHILE": "WhileOptionsT", "IF": "IfOptionsT",
                         "CALL_ONCE": "CallOnceOptionsT", "CALL": "CallOptionsT"}


def _validate(model: ir.Model, what: str) -> None:
    nbuf = len(model.buffers)
    nsub = len(model.subgraphs)
    if nsub == 0:
        raise ModelError(f"{what}: the model has no subgraphs")
    for ci, oc in enumerate(model.operator_codes):
        if oc.builtin_code < 0:
            raise ModelError(f"{what}: operator code {ci} has negative builtin code {oc.builtin_code}")
        if oc.version < 1:
            raise ModelError(f"{what}: operator code {ci} ({oc.name}) has version {oc.version}")
    for si, sg in enumerate(model.subgraphs):
        nt = len(sg.tensors)
        for ti, t in enumerate(sg.tensors):
            where = f"{what}: subgraph {si}, tensor {ti} {t.name!r}"
            if t.type not in ir.NUMPY_DTYPES:
                raise ModelError(f"{where}: unknown tensor type {t.type}")
            if len(t.shape) > MAX_RANK:
                raise ModelError(f"{where}: rank {len(t.shape)} exceeds {MAX_RANK}")
            for d in t.shape:
                if d < 0 or d > MAX_DIM:
                    raise ModelError(f"{where}: shape {list(t.shape)} has invalid dimension {d}")
            _check_byte_size(t, where)
            if t.shape_signature is not None:
                if len(t.shape_signature) != len(t.shape):
                    raise ModelError(f"{where}: shape_signature {list(t.shape_signature)} and "
                                     f"shape {list(t.shape)} differ in rank")
                if any(d < -1 for d in t.shape_signature):
                    raise ModelError(f"{where}: shape_signature {list(t.shape_signature)} is invalid")
            if not 0 <= t.buffer < nbuf:
                raise ModelError(f"{where}: buffer index {t.buffer} is outside [0, {nbuf})")
            data = model.buffers[t.buffer].data
            if t.buffer > 0 and data is not None and data.size:
                _check_constant_size(t, int(data.size), where)
        for name, idx in (("input", sg.inputs), ("output", sg.outputs)):
            for i in idx:
                if not 0 <= i < nt:
                    raise ModelError(f"{what}: subgraph {si}: {name} tensor index {i} is outside "
                                     f"[0, {nt})")
        produced_by: dict[int, int] = {}
        for oi, op in enumerate(sg.operators):
            if not 0 <= op.opcode_index < len(model.operator_codes):
                raise ModelError(f"{what}: subgraph {si}, operator {oi}: opcode index "
                                 f"{op.opcode_index} is outside [0, {len(model.operator_codes)})")
            name = model.op_name(op)
            where = f"{what}: subgraph {si}, operator {oi} ({name})"
            for i in op.inputs + op.intermediates:
                if not -1 <= i < nt:
                    raise ModelError(f"{where}: input tensor index {i} is outside [0, {nt})")
            for i in op.outputs:
                if not -1 <= i < nt:
                    raise ModelError(f"{where}: output tensor index {i} is outside [0, {nt})")
                if i >= 0:
                    if i in produced_by:
                        raise ModelError(f"{where}: tensor {i} {sg.tensors[i].name!r} is also "
                                         f"written by operator {produced_by[i]}")
                    produced_by[i] = oi
            for i in op.inputs:
                if i >= 0 and produced_by.get(i, -1) >= oi:
                    raise ModelError(f"{where}: reads tensor {i} {sg.tensors[i].name!r} that "
                                     f"operator {produced_by[i]} writes at or after it: the "
                                     f"graph has a cycle or is out of order")
            expected = _CONTROL_FLOW_OPTIONS.get(name)
            if expected and op.options is not None and type(op.options).__name__ != expected:
                raise ModelError(f"{where}: has {type(op.options).__name__[:-1]}, expected "
                                 f"{expected[:-1]}")
            fields = _CONTROL_FLOW_FIELDS.get(type(op.options).__name__, ())
            for fname in fields:
                target = int(getattr(op.options, fname))
                if not 0 <= target < nsub:
                    raise ModelError(f"{where}: {fname} {target} is outside [0, {nsub})")
                if target == si:
                    raise ModelError(f"{where}: {fname} calls its own subgraph {si} (recursion)")
        # An op reading a tensor that a later op writes was caught above; a
        # read of a produced tensor before production is the same error.
        for oi, op in enumerate(sg.operators):
            for i in op.inputs:
                if i >= 0 and i in produced_by and produced_by[i] > oi:
                    raise ModelError(f"{what}: subgraph {si}, operator {oi} "
                                     f"({model.op_name(op)}): reads tensor {i} "
                                     f"{sg.tensors[i].name!r} before operator {produced_by[i]} "
                                     f"writes it: the operators are out of order")
    for k, sd in enumerate(model.signature_defs):
        if not 0 <= sd.subgraph_index < nsub:
            raise ModelError(f"{what}: signature {k} {sd.key!r} names subgraph "
                             f"{sd.subgraph_index} of {nsub}")
        nt = len(model.subgraphs[sd.subgraph_index].tensors)
        for name, idx in list(sd.inputs.items()) + list(sd.outputs.items()):
            if not 0 <= idx < nt:
                raise ModelError(f"{what}: signature {sd.key!r} maps {name!r} to tensor {idx}, "
                                 f"outside [0, {nt})")
    for m in model.metadata:
        if not 0 <= m.buffer < nbuf:
            raise ModelError(f"{what}: metadata {m.name!r} names buffer {m.buffer} of {nbuf}")
    for b in model.metadata_buffer:
        if not 0 <= b < nbuf:
            raise ModelError(f"{what}: metadata_buffer names buffer {b} of {nbuf}")


def _check_byte_size(t: ir.Tensor, where: str) -> None:
    # LiteRT rejects such tensors at load ("BytesRequired number of elements
    # overflowed"); later layers may then compute sizes in int64 safely.
    count = 1
    for d in t.shape:
        count *= d
    dt = ir.NUMPY_DTYPES.get(t.type)
    nbytes = count * (dt.itemsize if dt is not None else 1)
    if nbytes >= MAX_TENSOR_BYTES:
        raise ModelError(f"{where}: shape {list(t.shape)} has {count} elements; its byte size "
                         f"overflows 64 bits")


def _check_constant_size(t: ir.Tensor, nbytes: int, where: str) -> None:
    if t.type in (ir.TensorType.STRING, ir.TensorType.RESOURCE, ir.TensorType.VARIANT):
        return
    count = 1
    for d in t.shape:
        count *= d
    if t.sparsity is not None:
        return
    itemsize = ir.NUMPY_DTYPES[t.type].itemsize
    # Sub-byte types are read packed; like LiteRT, a longer buffer is accepted.
    if t.type in (ir.TensorType.INT4, ir.TensorType.UINT4):
        ok = nbytes >= (count + 1) // 2
    elif t.type == ir.TensorType.INT2:
        ok = nbytes >= (count + 3) // 4
    else:
        ok = nbytes == count * itemsize
    if not ok:
        raise ModelError(f"{where}: constant buffer has {nbytes} bytes but shape "
                         f"{list(t.shape)} of {t.type_name} needs {count * itemsize}")
