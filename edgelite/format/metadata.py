"""TFLite model metadata: the ``TFLITE_METADATA`` buffer and associated files.

The metadata is a separate FlatBuffer (schema ``schema/metadata.fbs``, file
identifier ``M001``) stored in one of the model's buffers; it describes the
inputs and outputs (image or feature, normalization, value range, stats) and
names associated files (label lists, vocabularies) that TFLite packs in a ZIP
archive appended after the model FlatBuffer.

Decoding validates every offset and vector length against the buffer before
it follows it, so a malformed buffer raises :class:`ModelError` instead of an
IndexError, a hang or a huge allocation. Decoding keeps what a runtime and an
inspector need; process units other than normalization (score calibration,
tokenizers), tensor groups and custom metadata are not kept, so re-encoding
a decoded buffer drops them.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

import flatbuffers

from edgelite.errors import ModelError
from edgelite.format.schema import metadata_generated as fb

FILE_IDENTIFIER = b"M001"
# Name of the model buffer entry ("Model.metadata[i].name") holding the metadata.
METADATA_NAME = "TFLITE_METADATA"

# Total decompressed size read_associated_files accepts: a guard against zip bombs.
MAX_ASSOCIATED_BYTES = 1 << 30


class Normalization(NamedTuple):
    """Input normalization ``(x - mean) / std``, per channel or one value for all."""

    mean: list[float]
    std: list[float]


@dataclass
class AssociatedFileInfo:
    name: str | None = None
    description: str | None = None
    type: str = "UNKNOWN"  # an AssociatedFileType name, e.g. "TENSOR_AXIS_LABELS"
    locale: str | None = None
    version: str | None = None


@dataclass
class TensorMetadataInfo:
    name: str | None = None
    description: str | None = None
    dimension_names: list[str] = field(default_factory=list)
    # "feature", "image", "bounding_box", "audio", or None when not stated.
    content_type: str | None = None
    color_space: str | None = None  # images: "RGB", "GRAYSCALE" or "UNKNOWN"
    image_size: tuple[int, int] | None = None  # images: default (width, height)
    audio: tuple[int, int] | None = None  # audio: (sample_rate, channels)
    normalization: Normalization | None = None
    value_range: tuple[int, int] | None = None  # inclusive (min, max)
    stats_max: list[float] = field(default_factory=list)
    stats_min: list[float] = field(default_factory=list)
    associated_files: list[AssociatedFileInfo] = field(default_factory=list)


@dataclass
class SubgraphMetadataInfo:
    name: str | None = None
    description: str | None = None
    input_tensors: list[TensorMetadataInfo] = field(default_factory=list)
    output_tensors: list[TensorMetadataInfo] = field(default_factory=list)
    associated_files: list[AssociatedFileInfo] = field(default_factory=list)


@dataclass
class ModelMetadataInfo:
    name: str | None = None
    description: str | None = None
    version: str | None = None
    author: str | None = None
    license: str | None = None
    min_parser_version: str | None = None
    subgraphs: list[SubgraphMetadataInfo] = field(default_factory=list)
    associated_files: list[AssociatedFileInfo] = field(default_factory=list)


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


_FILE_TYPES = _enum_names(fb.AssociatedFileType)
_COLOR_SPACES = _enum_names(fb.ColorSpaceType)
_CONTENT_TYPES = {
    fb.ContentProperties.FeatureProperties: "feature",
    fb.ContentProperties.ImageProperties: "image",
    fb.ContentProperties.BoundingBoxProperties: "bounding_box",
    fb.ContentProperties.AudioProperties: "audio",
}


# ---------------------------------------------------------------- decoding

class _Reader:
    """Bounds-checked access to the tables of one FlatBuffer.

    Every table, string and vector costs from a budget proportional to the
    buffer size, so offsets that make tables overlap or repeat cannot turn a
    small buffer into a long decode.
    """

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        self.budget = 2 * self.size + 64

    def spend(self, units: int, where: str) -> None:
        self.budget -= units
        if self.budget < 0:
            raise ModelError(f"metadata: {where}: more elements than the buffer can hold")

    def need(self, pos: int, nbytes: int, where: str) -> None:
        if pos < 0 or nbytes < 0 or pos + nbytes > self.size:
            raise ModelError(
                f"metadata: {where}: offset {pos} (+{nbytes} bytes) "
                f"outside the {self.size}-byte buffer"
            )

    def u32(self, pos: int, where: str) -> int:
        self.need(pos, 4, where)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def table(self, pos: int, where: str) -> _Table:
        self.spend(1, where)
        self.need(pos, 4, where)
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        self.need(vtable, 4, where)
        vt_size, _ = struct.unpack_from("<HH", self.buf, vtable)
        if vt_size < 4 or vt_size % 2:
            raise ModelError(f"metadata: {where}: bad vtable size {vt_size}")
        self.need(vtable, vt_size, where)
        return _Table(self, pos, vtable, vt_size, where)


class _Table:
    def __init__(self, reader: _Reader, pos: int, vtable: int, vt_size: int, where: str) -> None:
        self.r = reader
        self.pos = pos
        self.vtable = vtable
        self.vt_size = vt_size
        self.where = where

    def _field(self, slot: int) -> int:
        """Absolute position of field number ``slot``, or 0 when it is absent."""
        voff = 4 + 2 * slot
        if voff >= self.vt_size:
            return 0
        off = struct.unpack_from("<H", self.r.buf, self.vtable + voff)[0]
        return self.pos + off if off else 0

    def _deref(self, slot: int, what: str) -> int:
        at = self._field(slot)
        if not at:
            return 0
        return at + self.r.u32(at, f"{self.where}.{what}")

    def scalar(self, slot: int, fmt: str, default: float, what: str) -> float:
        at = self._field(slot)
        if not at:
            return default
        self.r.need(at, struct.calcsize(fmt), f"{self.where}.{what}")
        return struct.unpack_from("<" + fmt, self.r.buf, at)[0]

    def string(self, slot: int, what: str) -> str | None:
        at = self._deref(slot, what)
        return self.r_string(at, f"{self.where}.{what}") if at else None

    def r_string(self, at: int, where: str) -> str:
        n = self.r.u32(at, where)
        self.r.need(at + 4, n, where)
        self.r.spend(1, where)
        try:
            return self.r.buf[at + 4 : at + 4 + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelError(f"metadata: {where}: string is not UTF-8 ({e.reason})") from None

    def table(self, slot: int, what: str) -> _Table | None:
        at = self._deref(slot, what)
        return self.r.table(at, f"{self.where}.{what}") if at else None

    def _vector(self, slot: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start of data, length) of a vector field; (0, 0) when absent."""
        at = self._deref(slot, what)
        if not at:
            return 0, 0
        where = f"{self.where}.{what}"
        n = self.r.u32(at, where)
        self.r.need(at + 4, n * elem_size, where)
        self.r.spend(n, where)
        return at + 4, n

    def numbers(self, slot: int, fmt: str, what: str) -> list:
        start, n = self._vector(slot, struct.calcsize(fmt), what)
        return list(struct.unpack_from(f"<{n}{fmt}", self.r.buf, start)) if n else []

    def floats(self, slot: int, what: str) -> list[float]:
        return [float(x) for x in self.numbers(slot, "f", what)]

    def tables(self, slot: int, what: str) -> list[_Table]:
        start, n = self._vector(slot, 4, what)
        out = []
        for i in range(n):
            at = start + 4 * i
            out.append(self.r.table(at + self.r.u32(at, what), f"{self.where}.{what}[{i}]"))
        return out

    def strings(self, slot: int, what: str) -> list[str]:
        start, n = self._vector(slot, 4, what)
        out = []
        for i in range(n):
            at = start + 4 * i
            out.append(self.r_string(at + self.r.u32(at, what), f"{self.where}.{what}[{i}]"))
        return out


# Field numbers below follow the order of the tables in schema/metadata.fbs;
# a union takes two numbers (its type, then its value).

def _associated_file(t: _Table) -> AssociatedFileInfo:
    ftype = int(t.scalar(2, "b", 0, "type"))
    return AssociatedFileInfo(
        name=t.string(0, "name"),
        description=t.string(1, "description"),
        type=_FILE_TYPES.get(ftype, "UNKNOWN"),
        locale=t.string(3, "locale"),
        version=t.string(4, "version"),
    )


def _tensor(t: _Table) -> TensorMetadataInfo:
    info = TensorMetadataInfo(
        name=t.string(0, "name"),
        description=t.string(1, "description"),
        dimension_names=t.strings(2, "dimension_names"),
        associated_files=[_associated_file(a) for a in t.tables(6, "associated_files")],
    )
    content = t.table(3, "content")
    if content is not None:
        kind = int(content.scalar(0, "B", 0, "content_properties_type"))
        props = content.table(1, "content_properties") if kind in _CONTENT_TYPES else None
        if props is not None:
            info.content_type = _CONTENT_TYPES[kind]
            if kind == fb.ContentProperties.ImageProperties:
                space = int(props.scalar(0, "b", 0, "color_space"))
                info.color_space = _COLOR_SPACES.get(space, "UNKNOWN")
                size = props.table(1, "default_size")
                if size is not None:
                    info.image_size = (int(size.scalar(0, "I", 0, "width")),
                                       int(size.scalar(1, "I", 0, "height")))
            elif kind == fb.ContentProperties.AudioProperties:
                info.audio = (int(props.scalar(0, "I", 0, "sample_rate")),
                              int(props.scalar(1, "I", 0, "channels")))
        value_range = content.table(2, "range")
        if value_range is not None:
            info.value_range = (int(value_range.scalar(0, "i", 0, "min")),
                                int(value_range.scalar(1, "i", 0, "max")))
    for unit in t.tables(4, "process_units"):
        kind = int(unit.scalar(0, "B", 0, "options_type"))
        if kind == fb.ProcessUnitOptions.NormalizationOptions and info.normalization is None:
            opts = unit.table(1, "options")
            if opts is not None:
                info.normalization = Normalization(opts.floats(0, "mean"), opts.floats(1, "std"))
    stats = t.table(5, "stats")
    if stats is not None:
        info.stats_max = stats.floats(0, "max")
        info.stats_min = stats.floats(1, "min")
    return info


def _subgraph(t: _Table) -> SubgraphMetadataInfo:
    return SubgraphMetadataInfo(
        name=t.string(0, "name"),
        description=t.string(1, "description"),
        input_tensors=[_tensor(x) for x in t.tables(2, "input_tensor_metadata")],
        output_tensors=[_tensor(x) for x in t.tables(3, "output_tensor_metadata")],
        associated_files=[_associated_file(a) for a in t.tables(4, "associated_files")],
    )


def decode_metadata(buf: bytes | bytearray | memoryview) -> ModelMetadataInfo:
    """Decode a ``TFLITE_METADATA`` buffer; a malformed one raises ModelError."""
    data = bytes(buf)
    if len(data) < 8:
        raise ModelError(f"metadata: buffer of {len(data)} bytes is too short for a FlatBuffer")
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelError(
            f"metadata: file identifier is {data[4:8]!r}, expected {FILE_IDENTIFIER!r}"
        )
    reader = _Reader(data)
    root = reader.table(reader.u32(0, "root offset"), "ModelMetadata")
    return ModelMetadataInfo(
        name=root.string(0, "name"),
        description=root.string(1, "description"),
        version=root.string(2, "version"),
        subgraphs=[_subgraph(s) for s in root.tables(3, "subgraph_metadata")],
        author=root.string(4, "author"),
        license=root.string(5, "license"),
        associated_files=[_associated_file(a) for a in root.tables(6, "associated_files")],
        min_parser_version=root.string(7, "min_parser_version"),
    )


# ---------------------------------------------------------------- encoding

def _enum_value(enum_cls: type, name: str, what: str) -> int:
    value = getattr(enum_cls, name, None) if not name.startswith("_") else None
    if not isinstance(value, int):
        raise ModelError(f"metadata: unknown {what} {name!r}")
    return value


def _associated_file_t(info: AssociatedFileInfo) -> fb.AssociatedFileT:
    t = fb.AssociatedFileT()
    t.name, t.description = info.name, info.description
    t.locale, t.version = info.locale, info.version
    t.type = _enum_value(fb.AssociatedFileType, info.type, "associated file type")
    return t


def _files_t(files: list[AssociatedFileInfo]) -> list[fb.AssociatedFileT] | None:
    return [_associated_file_t(f) for f in files] if files else None


def _tensor_t(info: TensorMetadataInfo) -> fb.TensorMetadataT:
    t = fb.TensorMetadataT()
    t.name, t.description = info.name, info.description
    t.dimensionNames = list(info.dimension_names) or None
    if info.content_type is not None or info.value_range is not None:
        content = fb.ContentT()
        if info.content_type is not None:
            kinds = {v: k for k, v in _CONTENT_TYPES.items()}
            if info.content_type not in kinds:
                raise ModelError(f"metadata: tensor {info.name!r}: "
                                 f"unknown content type {info.content_type!r}")
            kind = kinds[info.content_type]
            if kind == fb.ContentProperties.ImageProperties:
                props = fb.ImagePropertiesT()
                props.colorSpace = _enum_value(fb.ColorSpaceType, info.color_space or "UNKNOWN",
                                               "color space")
                if info.image_size is not None:
                    props.defaultSize = fb.ImageSizeT()
                    props.defaultSize.width, props.defaultSize.height = info.image_size
            elif kind == fb.ContentProperties.AudioProperties:
                props = fb.AudioPropertiesT()
                if info.audio is not None:
                    props.sampleRate, props.channels = info.audio
            elif kind == fb.ContentProperties.BoundingBoxProperties:
                props = fb.BoundingBoxPropertiesT()
            else:
                props = fb.FeaturePropertiesT()
            content.contentPropertiesType, content.contentProperties = kind, props
        if info.value_range is not None:
            content.range = fb.ValueRangeT()
            content.range.min, content.range.max = info.value_range
        t.content = content
    if info.normalization is not None:
        opts = fb.NormalizationOptionsT()
        opts.mean, opts.std = list(info.normalization.mean), list(info.normalization.std)
        unit = fb.ProcessUnitT()
        unit.optionsType, unit.options = fb.ProcessUnitOptions.NormalizationOptions, opts
        t.processUnits = [unit]
    if info.stats_max or info.stats_min:
        t.stats = fb.StatsT()
        t.stats.max = list(info.stats_max) or None
        t.stats.min = list(info.stats_min) or None
    t.associatedFiles = _files_t(info.associated_files)
    return t


def encode_metadata(info: ModelMetadataInfo) -> bytes:
    """Encode metadata as a FlatBuffer with file identifier ``M001``.

    Floats are stored as float32, so values that are not float32-exact come
    back rounded.
    """
    root = fb.ModelMetadataT()
    root.name, root.description, root.version = info.name, info.description, info.version
    root.author, root.license = info.author, info.license
    root.minParserVersion = info.min_parser_version
    root.associatedFiles = _files_t(info.associated_files)
    subgraphs = []
    for sg in info.subgraphs:
        t = fb.SubGraphMetadataT()
        t.name, t.description = sg.name, sg.description
        t.inputTensorMetadata = [_tensor_t(x) for x in sg.input_tensors] or None
        t.outputTensorMetadata = [_tensor_t(x) for x in sg.output_tensors] or None
        t.associatedFiles = _files_t(sg.associated_files)
        subgraphs.append(t)
    root.subgraphMetadata = subgraphs or None
    builder = flatbuffers.Builder(1024)
    builder.Finish(root.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


# ---------------------------------------------------------------- associated files

try:
    from lzma import LZMAError
except ImportError:  # Python built without lzma: zipfile cannot raise it either
    class LZMAError(Exception):  # type: ignore[no-redef]
        pass

# What zipfile and its decompressors raise on a damaged archive.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError, struct.error, UnicodeDecodeError,
               zlib.error, LZMAError)


def read_associated_files(file_bytes: bytes | bytearray | memoryview) -> dict[str, bytes]:
    """The files of the ZIP archive appended to a model, ``{}`` if it has none."""
    stream = io.BytesIO(bytes(file_bytes))
    if not zipfile.is_zipfile(stream):
        return {}
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_ASSOCIATED_BYTES:
                raise ModelError(
                    f"associated files: archive claims {total} bytes uncompressed, "
                    f"more than the {MAX_ASSOCIATED_BYTES}-byte limit"
                )
            for i in infos:
                if not i.is_dir():
                    files[i.filename] = archive.read(i)
    except ModelError:
        raise
    except _ZIP_ERRORS as e:
        raise ModelError(f"associated files: corrupt ZIP archive after the model: {e!r}") from None
    return files


def _archive_start(model_bytes: bytes) -> int | None:
    """Offset of the appended ZIP archive, or None when there is none."""
    stream = io.BytesIO(model_bytes)
    if not zipfile.is_zipfile(stream):
        return None
    try:
        with zipfile.ZipFile(stream) as archive:
            offsets = [i.header_offset for i in archive.infolist()]
            # With no members the archive is just its end record.
            return min(offsets) if offsets else archive.start_dir
    except _ZIP_ERRORS as e:
        raise ModelError(f"associated files: corrupt ZIP archive after the model: {e}") from None


def append_associated_files(model_bytes: bytes | bytearray | memoryview,
                            files: dict[str, bytes]) -> bytes:
    """Append ``files`` as a stored (uncompressed) ZIP archive after the model.

    FlatBuffer offsets are relative to the start, so the model still loads.
    Files already archived in ``model_bytes`` are kept unless ``files``
    replaces them by name.
    """
    data = bytes(model_bytes)
    merged = read_associated_files(data)
    start = _archive_start(data)
    if start is not None:
        data = data[:start]
    merged.update(files)
    out = io.BytesIO()
    out.write(data)
    # Mode "a" on a non-ZIP stream writes the archive after the existing bytes
    # with offsets from the start of the file, as tflite_support does.
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, content in merged.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), bytes(content))
    return out.getvalue()


def label_list(info: ModelMetadataInfo, files: dict[str, bytes], tensor: str = "output",
               index: int = 0, subgraph: int = 0) -> list[str] | None:
    """Labels from the first TENSOR_AXIS_LABELS file of a tensor, if there is one.

    ``tensor`` is "output" or "input"; ``index`` counts the tensors of that
    kind with metadata. Returns None when the tensor has no metadata, no
    label file, or the file is not among ``files``.
    """
    if tensor not in ("input", "output"):
        raise ValueError(f"label_list: tensor must be 'input' or 'output', got {tensor!r}")
    if not 0 <= subgraph < len(info.subgraphs):
        return None
    sg = info.subgraphs[subgraph]
    tensors = sg.output_tensors if tensor == "output" else sg.input_tensors
    if not 0 <= index < len(tensors):
        return None
    for f in tensors[index].associated_files:
        if f.type == "TENSOR_AXIS_LABELS":
            content = files.get(f.name) if f.name is not None else None
            if content is None:
                return None
            try:
                return content.decode("utf-8").splitlines()
            except UnicodeDecodeError as e:
                raise ModelError(
                    f"associated file {f.name!r}: labels are not UTF-8 ({e.reason})") from None
    return None
