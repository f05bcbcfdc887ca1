"""Write edgelite/data/demo_float32.tflite: a tiny placeholder classifier.

A 3x3 convolution (stride 2, fused RELU) on a 16x16 RGB image, a fully
connected layer to 10 classes and a softmax, with seeded random weights,
TFLITE_METADATA (description, input normalization, a label file) and the
labels in the associated-files zip. `edgelite demo` inspects and runs it
until the real demo model exists.

    python scripts/make_demo_placeholder.py
"""
from __future__ import annotations

import pathlib

import numpy as np

from edgelite.format.builder import ModelBuilder
from edgelite.format.metadata import (
    METADATA_NAME,
    AssociatedFileInfo,
    ModelMetadataInfo,
    Normalization,
    SubgraphMetadataInfo,
    TensorMetadataInfo,
    append_associated_files,
    encode_metadata,
)

OUT = pathlib.Path(__file__).parents[1] / "edgelite" / "data" / "demo_float32.tflite"
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
          "truck"]


def build() -> bytes:
    rng = np.random.default_rng(2024)
    b = ModelBuilder("edgelite demo placeholder: conv + relu + fully connected + softmax")
    x = b.add_input("image", (1, 16, 16, 3), np.float32)
    w = b.add_constant("conv/filter", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32))
    bias = b.add_constant("conv/bias", (rng.standard_normal(8) * 0.1).astype(np.float32))
    h = b.add_tensor("conv/relu", (1, 8, 8, 8), np.float32)
    b.add_op("CONV_2D", [x, w, bias], [h], padding="SAME", stride_w=2, stride_h=2,
             fused_activation_function="RELU")
    fw = b.add_constant("dense/weights",
                        (rng.standard_normal((10, 512)) * 0.05).astype(np.float32))
    fb = b.add_constant("dense/bias", np.zeros(10, np.float32))
    logits = b.add_tensor("dense/logits", (1, 10), np.float32)
    b.add_op("FULLY_CONNECTED", [h, fw, fb], [logits])
    probs = b.add_tensor("probabilities", (1, 10), np.float32)
    b.add_op("SOFTMAX", [logits], [probs], beta=1.0)
    b.add_output(probs)
    b.add_signature("serving_default", {"image": x}, {"probabilities": probs})
    b.add_metadata("min_runtime_version", b"1.14.0".ljust(16, b"\0"))
    info = ModelMetadataInfo(
        name="edgelite demo classifier (placeholder)",
        description="Random weights: shows what `edgelite inspect` and `edgelite demo` do.",
        version="0.1", author="edgelite", license="Apache-2.0",
        subgraphs=[SubgraphMetadataInfo(
            input_tensors=[TensorMetadataInfo(
                name="image", description="16x16 RGB image", content_type="image",
                color_space="RGB", image_size=(16, 16),
                normalization=Normalization(mean=[127.5], std=[127.5]))],
            output_tensors=[TensorMetadataInfo(
                name="probabilities", description="probability of each of 10 classes",
                content_type="feature",
                associated_files=[AssociatedFileInfo(name="labels.txt",
                                                     description="class names",
                                                     type="TENSOR_AXIS_LABELS")])])])
    b.add_metadata(METADATA_NAME, encode_metadata(info))
    return append_associated_files(b.to_bytes(), {"labels.txt": "\n".join(LABELS).encode()})


def main() -> None:
    data = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
