"""Write edgelite's IR as a .tflite FlatBuffer (identifier TFL3)."""
from __future__ import annotations

import os

import flatbuffers
import numpy as np

from edgelite.format import ir
from edgelite.format.decode import to_generated
from edgelite.format.schema import tflite_generated as fb


class _AlignedBufferT(fb.BufferT):
    """A Buffer whose bytes start 16-byte aligned (the schema's force_align),
    so numpy views on a mapped file are aligned for every dtype."""

    def Pack(self, builder):
        data = None
        if self.data is not None and len(self.data):
            raw = np.ascontiguousarray(self.data).view(np.uint8).ravel()
            builder.StartVector(1, raw.size, 16)
            builder.head = builder.head - raw.size
            builder.Bytes[builder.head:builder.head + raw.size] = raw.tobytes()
            data = builder.EndVector()
        fb.BufferStart(builder)
        if data is not None:
            fb.BufferAddData(builder, data)
        if self.offset:
            fb.BufferAddOffset(builder, self.offset)
        if self.size:
            fb.BufferAddSize(builder, self.size)
        return fb.BufferEnd(builder)


def _ivec(values) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


def _quant_t(q: ir.QuantParams | None):
    if q is None:
        return None
    t = fb.QuantizationParametersT()
    t.scale = [float(s) for s in q.scale] if q.scale.size else None
    t.zeroPoint = [int(z) for z in q.zero_point] if q.zero_point.size else None
    t.min = None if q.min is None else [float(v) for v in q.min]
    t.max = None if q.max is None else [float(v) for v in q.max]
    t.quantizedDimension = int(q.quantized_dimension)
    t.details, t.detailsType = to_generated(q.details), int(q.details_type)
    return t


def to_model_t(model: ir.Model, placements: list[tuple[int, int]] | None = None
               ) -> fb.ModelT:
    """The object tree of the model; with `placements` ((offset, size) per buffer,
    (0, 0) for an empty one) the buffers' bytes are not inlined but located there."""
    mt = fb.ModelT()
    mt.version = int(model.version)
    mt.description = model.description or None
    mt.operatorCodes = []
    for oc in model.operator_codes:
        t = fb.OperatorCodeT()
        t.builtinCode = int(oc.builtin_code)
        # Old readers look only at the byte field: 127 means "see builtin_code".
        t.deprecatedBuiltinCode = min(int(oc.builtin_code), 127)
        t.customCode = oc.custom_code
        t.version = int(oc.version)
        mt.operatorCodes.append(t)
    mt.buffers = []
    for i, b in enumerate(model.buffers):
        t = _AlignedBufferT()
        if placements is None:
            # Weights read from after the FlatBuffer are written back inline.
            t.data = b.data
            t.offset = t.size = 0
        else:
            t.data = None
            t.offset, t.size = placements[i]
        mt.buffers.append(t)
    mt.subgraphs = []
    for sg in model.subgraphs:
        st = fb.SubGraphT()
        st.name = sg.name or None
        st.inputs, st.outputs = _ivec(sg.inputs), _ivec(sg.outputs)
        st.debugMetadataIndex = int(sg.debug_metadata_index)
        st.tensors = []
        for tensor in sg.tensors:
            tt = fb.TensorT()
            tt.shape = _ivec(tensor.shape)
            tt.type = int(tensor.type)
            tt.buffer = int(tensor.buffer)
            tt.name = tensor.name
            tt.quantization = _quant_t(tensor.quantization)
            tt.isVariable = bool(tensor.is_variable)
            tt.sparsity = to_generated(tensor.sparsity)
            tt.shapeSignature = _ivec(tensor.shape_signature)
            tt.hasRank = bool(tensor.has_rank)
            tt.variantTensors = to_generated(tensor.variant_tensors)
            tt.externalBuffer = int(tensor.external_buffer)
            st.tensors.append(tt)
        st.operators = []
        for op in sg.operators:
            ot = fb.OperatorT()
            ot.opcodeIndex = int(op.opcode_index)
            ot.inputs, ot.outputs = _ivec(op.inputs), _ivec(op.outputs)
            ot.builtinOptionsType = int(op.options_type)
            ot.builtinOptions = to_generated(op.options)
            ot.builtinOptions2Type = int(op.options2_type)
            ot.builtinOptions2 = to_generated(op.options2)
            ot.customOptions = (np.frombuffer(op.custom_options, np.uint8)
                                if op.custom_options is not None else None)
            ot.customOptionsFormat = int(op.custom_options_format)
            ot.mutatingVariableInputs = op.mutating_variable_inputs
            ot.intermediates = _ivec(op.intermediates) or None
            ot.debugMetadataIndex = int(op.debug_metadata_index)
            st.operators.append(ot)
        mt.subgraphs.append(st)
    mt.metadataBuffer = _ivec(model.metadata_buffer) or None
    mt.metadata = []
    for m in model.metadata:
        t = fb.MetadataT()
        t.name, t.buffer = m.name, int(m.buffer)
        mt.metadata.append(t)
    mt.signatureDefs = []
    for sd in model.signature_defs:
        t = fb.SignatureDefT()
        t.signatureKey = sd.key
        t.subgraphIndex = int(sd.subgraph_index)
        t.inputs, t.outputs = [], []
        for src, dst in ((sd.inputs, t.inputs), (sd.outputs, t.outputs)):
            for name, idx in src.items():
                m = fb.TensorMapT()
                m.name, m.tensorIndex = name, int(idx)
                dst.append(m)
        mt.signatureDefs.append(t)
    mt.externalBufferGroups = to_generated(model.external_buffer_groups) or None
    mt.externalBuffers = to_generated(model.external_buffers) or None
    return mt


# A FlatBuffer cannot exceed 2 GB (32-bit offsets): beyond this many bytes of
# buffers, their data goes after it, located by Buffer.offset/size (as LiteRT's
# converter writes large models).
_INLINE_LIMIT = 2**31 - 2**24
_ALIGN = 16


def _pack(model: ir.Model, placements) -> bytes:
    inline = sum(b.nbytes for b in model.buffers) if placements is None else 0
    builder = flatbuffers.Builder(max(1024, inline + 65536))
    root = to_model_t(model, placements).Pack(builder)
    builder.Finish(root, file_identifier=b"TFL3")
    return bytes(builder.Output())


def _chunks(model: ir.Model, buffers_after: bool | None):
    """The file as a list of byte chunks (the FlatBuffer, then any weights placed after
    it, then the trailing associated-files zip)."""
    total = sum(b.nbytes for b in model.buffers)
    if buffers_after is None:
        buffers_after = total >= _INLINE_LIMIT
    trailing = [model.trailing_bytes] if model.trailing_bytes else []
    if not buffers_after:
        return [_pack(model, None), *trailing]

    def placements_after(start: int) -> list[tuple[int, int]]:
        out, pos = [], start
        for b in model.buffers:
            n = b.nbytes
            if not n:
                out.append((0, 0))
                continue
            pos = -(-pos // _ALIGN) * _ALIGN
            out.append((pos, n))
            pos += n
        return out
    # Offsets are absolute file positions and the FlatBuffer's size does not depend on
    # their values (fixed-width fields, all present): pack once with placeholders to
    # learn its size, then with the real offsets.
    probe = placements_after(2**40)
    head_len = len(_pack(model, probe))
    placements = placements_after(-(-head_len // _ALIGN) * _ALIGN)
    head = _pack(model, placements)
    if len(head) != head_len:
        raise AssertionError("FlatBuffer size changed with the buffer offsets")
    chunks, pos = [head], len(head)
    for b, (off, n) in zip(model.buffers, placements):
        if not n:
            continue
        chunks.append(b"\0" * (off - pos))
        chunks.append(memoryview(np.ascontiguousarray(b.data).view(np.uint8).reshape(-1)))
        pos = off + n
    return chunks + trailing


def to_bytes(model: ir.Model, *, buffers_after: bool | None = None) -> bytes:
    """Serialize the IR to .tflite bytes (plus any trailing associated-files zip).

    buffers_after: place the buffers' bytes after the FlatBuffer (Buffer.offset /
    size) instead of inside it; None (default) does so only when they would not
    fit in a FlatBuffer's 2 GB. Readers (edgelite, LiteRT) accept both."""
    return b"".join(_chunks(model, buffers_after))


def save_model(model: ir.Model, path: str | os.PathLike, *,
               buffers_after: bool | None = None) -> None:
    """Write the model to `path`; see to_bytes for buffers_after. Chunks are written
    one by one, so a model over 2 GB is not joined in memory."""
    with open(path, "wb") as f:
        f.writelines(_chunks(model, buffers_after))
