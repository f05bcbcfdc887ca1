"""TFLITE_METADATA: encode/decode, associated files, labels, malformed input."""
from __future__ import annotations

import io
import random
import struct
import zipfile

import flatbuffers
import pytest

from edgelite.errors import ModelError
from edgelite.format.metadata import (
    AssociatedFileInfo,
    ModelMetadataInfo,
    Normalization,
    SubgraphMetadataInfo,
    TensorMetadataInfo,
    append_associated_files,
    decode_metadata,
    encode_metadata,
    label_list,
    read_associated_files,
)
from edgelite.format.schema import metadata_generated as fb

FILE_TYPES = ["UNKNOWN", "DESCRIPTIONS", "TENSOR_AXIS_LABELS", "TENSOR_VALUE_LABELS",
              "TENSOR_AXIS_SCORE_CALIBRATION", "VOCABULARY", "SCANN_INDEX_FILE"]


def full_metadata() -> ModelMetadataInfo:
    """Every field the dataclasses carry, with float32-exact floats."""
    image = TensorMetadataInfo(
        name="image", description="RGB photo, 0..255", dimension_names=["batch", "h", "w", "c"],
        content_type="image", color_space="RGB", image_size=(224, 192),
        normalization=Normalization(mean=[127.5, 127.0, 126.5], std=[127.5, 64.0, 0.25]),
        value_range=(-128, 127), stats_max=[1.0, 2.0, 3.0], stats_min=[-1.0, -2.0, -3.0],
        associated_files=[AssociatedFileInfo(name="mean.bin", type="UNKNOWN")])
    audio = TensorMetadataInfo(name="wave", content_type="audio", audio=(16000, 2))
    boxes = TensorMetadataInfo(name="boxes", content_type="bounding_box", value_range=(0, 1))
    scores = TensorMetadataInfo(
        name="scores", description="probabilities", content_type="feature",
        stats_max=[1.0], stats_min=[0.0],
        associated_files=[
            AssociatedFileInfo(name="labels_fr.txt", description="étiquettes",
                               type="TENSOR_AXIS_LABELS", locale="fr", version="2"),
            AssociatedFileInfo(name="labels.txt", type="TENSOR_AXIS_LABELS", locale="en"),
        ])
    return ModelMetadataInfo(
        name="mobilenet ✓", description="classifies images", version="v1.2", author="edgelite",
        license="Apache-2.0", min_parser_version="1.0.0",
        subgraphs=[
            SubgraphMetadataInfo(
                name="main", description="the only subgraph",
                input_tensors=[image, audio], output_tensors=[boxes, scores],
                associated_files=[AssociatedFileInfo(name=f"f{i}.txt", type=t)
                                  for i, t in enumerate(FILE_TYPES)]),
            SubgraphMetadataInfo(name="second"),
        ],
        associated_files=[AssociatedFileInfo(name="README", description="about",
                                              type="DESCRIPTIONS")])


# ---------------------------------------------------------------- round trip

def test_round_trip_all_fields():
    info = full_metadata()
    buf = encode_metadata(info)
    assert buf[4:8] == b"M001"
    assert decode_metadata(buf) == info
    assert decode_metadata(memoryview(buf)) == info
    assert decode_metadata(bytearray(buf)) == info


def test_round_trip_empty():
    assert decode_metadata(encode_metadata(ModelMetadataInfo())) == ModelMetadataInfo()
    info = ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo(
        input_tensors=[TensorMetadataInfo()], output_tensors=[TensorMetadataInfo(name="")])])
    assert decode_metadata(encode_metadata(info)) == info


def test_generated_reader_agrees():
    """The generated FlatBuffers accessors see what encode_metadata wrote."""
    buf = encode_metadata(full_metadata())
    assert fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buf, 0)
    root = fb.ModelMetadataT.InitFromPackedBuf(buf)
    assert root.name == "mobilenet ✓".encode()
    image = root.subgraphMetadata[0].inputTensorMetadata[0]
    assert image.content.contentPropertiesType == fb.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == fb.ColorSpaceType.RGB
    unit = image.processUnits[0]
    assert unit.optionsType == fb.ProcessUnitOptions.NormalizationOptions
    assert list(unit.options.mean) == [127.5, 127.0, 126.5]
    assert list(unit.options.std) == [127.5, 64.0, 0.25]
    labels = root.subgraphMetadata[0].outputTensorMetadata[1].associatedFiles[0]
    assert labels.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS


def test_normalization_and_value_range():
    tensor = TensorMetadataInfo(name="x", content_type="image", color_space="GRAYSCALE",
                                normalization=Normalization([0.0], [255.0]), value_range=(0, 255))
    info = ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo(input_tensors=[tensor])])
    back = decode_metadata(encode_metadata(info)).subgraphs[0].input_tensors[0]
    assert back.normalization == Normalization([0.0], [255.0])
    mean, std = back.normalization
    assert (mean, std) == ([0.0], [255.0])
    assert back.value_range == (0, 255)
    assert back.color_space == "GRAYSCALE"
    assert back.content_type == "image"


def test_floats_are_stored_as_float32():
    tensor = TensorMetadataInfo(normalization=Normalization([0.1], [0.2]))
    info = ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo(input_tensors=[tensor])])
    back = decode_metadata(encode_metadata(info)).subgraphs[0].input_tensors[0].normalization
    assert back.mean == [struct.unpack("<f", struct.pack("<f", 0.1))[0]]


def test_decode_keeps_known_parts_of_richer_metadata():
    """Score calibration, tensor groups, custom metadata are skipped, not errors."""
    norm = fb.NormalizationOptionsT()
    norm.mean, norm.std = [1.0], [2.0]
    calib = fb.ScoreCalibrationOptionsT()
    calib.defaultScore = 0.5
    units = []
    for kind, options in [(fb.ProcessUnitOptions.ScoreCalibrationOptions, calib),
                          (fb.ProcessUnitOptions.NormalizationOptions, norm)]:
        unit = fb.ProcessUnitT()
        unit.optionsType, unit.options = kind, options
        units.append(unit)
    tensor = fb.TensorMetadataT()
    tensor.name, tensor.processUnits = "t", units
    group = fb.TensorGroupT()
    group.name, group.tensorNames = "g", ["t"]
    custom = fb.CustomMetadataT()
    custom.name, custom.data = "c", [1, 2, 3]
    sg = fb.SubGraphMetadataT()
    sg.inputTensorMetadata, sg.inputTensorGroups, sg.customMetadata = [tensor], [group], [custom]
    sg.outputProcessUnits = units
    root = fb.ModelMetadataT()
    root.name, root.subgraphMetadata = "rich", [sg]
    builder = flatbuffers.Builder(0)
    builder.Finish(root.Pack(builder), file_identifier=b"M001")
    info = decode_metadata(bytes(builder.Output()))
    assert info.name == "rich"
    assert info.subgraphs[0].input_tensors[0].normalization == Normalization([1.0], [2.0])


def test_encode_rejects_unknown_names():
    for tensor in [TensorMetadataInfo(content_type="video"),
                   TensorMetadataInfo(content_type="image", color_space="CMYK"),
                   TensorMetadataInfo(associated_files=[AssociatedFileInfo(type="LABELS")])]:
        info = ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo(input_tensors=[tensor])])
        with pytest.raises(ModelError):
            encode_metadata(info)


# ---------------------------------------------------------------- associated files

def test_labels_in_appended_zip():
    info = full_metadata()
    meta = encode_metadata(info)
    # The metadata buffer stands in for a model: both are FlatBuffers read from offset 0.
    packed = append_associated_files(meta, {"labels.txt": b"cat\ndog\nbird\n",
                                            "labels_fr.txt": b"chat\nchien\noiseau\n"})
    assert packed.startswith(meta)
    assert decode_metadata(packed) == info  # the zip after the FlatBuffer is ignored
    files = read_associated_files(packed)
    assert set(files) == {"labels.txt", "labels_fr.txt"}
    # First TENSOR_AXIS_LABELS file of output 1 is the French one.
    assert label_list(info, files, "output", 1) == ["chat", "chien", "oiseau"]
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())


def test_label_list_absent_cases():
    info = full_metadata()
    assert label_list(info, {}, "output", 1) is None  # file not packed
    assert label_list(info, {"labels_fr.txt": b"a\n"}, "output", 0) is None  # no label file
    assert label_list(info, {"labels_fr.txt": b"a\n"}, "output", 5) is None  # no such tensor
    assert label_list(info, {"labels_fr.txt": b"a\n"}, "input", 0) is None  # UNKNOWN type only
    assert label_list(ModelMetadataInfo(), {}) is None
    with pytest.raises(ValueError):
        label_list(info, {}, "middle")
    with pytest.raises(ModelError):
        label_list(info, {"labels_fr.txt": b"\xff\xfe"}, "output", 1)


def test_label_list_input_tensor():
    tensor = TensorMetadataInfo(associated_files=[
        AssociatedFileInfo(name="vocab", type="VOCABULARY"),
        AssociatedFileInfo(name="axis", type="TENSOR_AXIS_LABELS")])
    info = ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo(input_tensors=[tensor])])
    assert label_list(info, {"axis": b"r\r\ng\r\nb"}, "input", 0) == ["r", "g", "b"]


def test_read_associated_files_without_zip():
    assert read_associated_files(encode_metadata(full_metadata())) == {}
    assert read_associated_files(b"") == {}


def test_append_replaces_and_keeps_files():
    meta = encode_metadata(ModelMetadataInfo(name="m"))
    once = append_associated_files(meta, {"a.txt": b"1", "b.txt": b"2"})
    twice = append_associated_files(once, {"b.txt": b"22", "c.txt": b"3"})
    assert read_associated_files(twice) == {"a.txt": b"1", "b.txt": b"22", "c.txt": b"3"}
    assert twice.startswith(meta)
    assert decode_metadata(twice).name == "m"
    with zipfile.ZipFile(io.BytesIO(twice)) as archive:  # one archive, no stale duplicates
        assert sorted(archive.namelist()) == ["a.txt", "b.txt", "c.txt"]
    assert read_associated_files(append_associated_files(meta, {})) == {}


def test_appended_zip_has_absolute_offsets():
    """tflite_support opens the zip with zipfile on the whole file, as we do."""
    packed = append_associated_files(b"\x08\x00\x00\x00TFL3" + bytes(24), {"x": b"y"})
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.read("x") == b"y"


def test_corrupt_zip_raises_model_error():
    meta = encode_metadata(ModelMetadataInfo(name="m"))
    packed = append_associated_files(meta, {"labels.txt": b"cat\ndog\n" * 20})
    data_at = packed.index(b"cat\ndog")
    flipped = bytearray(packed)
    flipped[data_at] ^= 0xFF  # CRC mismatch
    with pytest.raises(ModelError):
        read_associated_files(bytes(flipped))
    central = packed.rindex(b"PK\x01\x02")
    broken = bytearray(packed)
    broken[central + 1] ^= 0xFF  # damaged central directory entry
    with pytest.raises(ModelError):
        read_associated_files(bytes(broken))
    for cut in range(len(meta) + 1, len(packed) - 1, 7):
        try:
            read_associated_files(packed[:cut])
        except ModelError:
            pass


def test_zip_bomb_is_refused(monkeypatch):
    from edgelite.format import metadata

    packed = append_associated_files(b"model", {"big": bytes(5000)})
    monkeypatch.setattr(metadata, "MAX_ASSOCIATED_BYTES", 4096)
    with pytest.raises(ModelError, match="limit"):
        read_associated_files(packed)


# ---------------------------------------------------------------- malformed metadata

def decodes_or_model_error(buf: bytes) -> None:
    try:
        info = decode_metadata(buf)
    except ModelError:
        return
    assert isinstance(info, ModelMetadataInfo)


def test_wrong_identifier():
    buf = bytearray(encode_metadata(full_metadata()))
    buf[4:8] = b"TFL3"
    with pytest.raises(ModelError, match="identifier"):
        decode_metadata(bytes(buf))
    with pytest.raises(ModelError):
        decode_metadata(b"")
    with pytest.raises(ModelError):
        decode_metadata(b"\x00\x00\x00\x00M001")


def test_every_truncation():
    buf = encode_metadata(full_metadata())
    for cut in range(len(buf)):
        decodes_or_model_error(buf[:cut])
    with pytest.raises(ModelError):
        decode_metadata(buf[: len(buf) // 2])


@pytest.mark.parametrize("seed", range(300))
def test_random_byte_flips(seed):
    rng = random.Random(seed)
    buf = bytearray(encode_metadata(full_metadata()))
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(8, len(buf))  # keep the identifier: damage the tables
        buf[pos] = rng.randrange(256) if rng.random() < 0.5 else buf[pos] ^ (1 << rng.randrange(8))
    decodes_or_model_error(bytes(buf))


@pytest.mark.parametrize("seed", range(50))
def test_random_garbage_with_identifier(seed):
    rng = random.Random(1000 + seed)
    body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    decodes_or_model_error(struct.pack("<I", rng.randrange(64)) + b"M001" + body)


def test_huge_vector_length_is_refused():
    buf = bytearray(encode_metadata(ModelMetadataInfo(subgraphs=[SubgraphMetadataInfo()])))
    root = fb.ModelMetadata.GetRootAs(bytes(buf), 0)
    vec_field = root._tab.Pos + root._tab.Offset(10)  # subgraph_metadata
    vec = vec_field + struct.unpack_from("<I", buf, vec_field)[0]
    struct.pack_into("<I", buf, vec, 0xFFFFFFF0)
    with pytest.raises(ModelError, match="subgraph_metadata"):
        decode_metadata(bytes(buf))


def test_shared_offsets_cannot_blow_up_decoding():
    """A vector repeating one offset many times, nested twice, stays bounded."""
    builder = flatbuffers.Builder(0)
    name = builder.CreateString("t")
    fb.TensorMetadataStart(builder)
    fb.TensorMetadataAddName(builder, name)
    tensor = fb.TensorMetadataEnd(builder)
    fb.SubGraphMetadataStartInputTensorMetadataVector(builder, 2000)
    for _ in range(2000):
        builder.PrependUOffsetTRelative(tensor)
    tensors = builder.EndVector()
    fb.SubGraphMetadataStart(builder)
    fb.SubGraphMetadataAddInputTensorMetadata(builder, tensors)
    subgraph = fb.SubGraphMetadataEnd(builder)
    fb.ModelMetadataStartSubgraphMetadataVector(builder, 2000)
    for _ in range(2000):
        builder.PrependUOffsetTRelative(subgraph)
    subgraphs = builder.EndVector()
    fb.ModelMetadataStart(builder)
    fb.ModelMetadataAddSubgraphMetadata(builder, subgraphs)
    builder.Finish(fb.ModelMetadataEnd(builder), file_identifier=b"M001")
    buf = bytes(builder.Output())
    assert len(buf) < 20000  # but it describes 4 million tensors
    with pytest.raises(ModelError, match="more elements"):
        decode_metadata(buf)


def test_invalid_utf8_string():
    buf = bytearray(encode_metadata(ModelMetadataInfo(name="abcdef")))
    at = buf.index(b"abcdef")
    buf[at] = 0xFF
    with pytest.raises(ModelError, match="UTF-8"):
        decode_metadata(bytes(buf))
