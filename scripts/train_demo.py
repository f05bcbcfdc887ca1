"""Train the bundled demo classifier and write it as float32 and int8 .tflite.

The data are the 1,797 8x8 handwritten digits that scikit-learn ships (real
scans, 10 classes). A small CNN is trained with TensorFlow, converted with
TensorFlow's own converter (float32, and full-integer int8 with a
representative dataset), and written with label metadata into
edgelite/data/, together with 50 held-out labelled samples.

TensorFlow and scikit-learn are needed only here (never by edgelite):
    /path/to/venv-with-tensorflow/bin/python scripts/train_demo.py
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "edgelite" / "data"
SEED = 0


def main() -> int:
    import tensorflow as tf
    from sklearn.datasets import load_digits

    tf.keras.utils.set_random_seed(SEED)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]      # [N, 8, 8, 1] in [0, 1]
    y = digits.target.astype(np.int32)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    n_test = 360
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]

    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="image"),
        tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        tf.keras.layers.Conv2D(32, 1, activation="relu"),
        tf.keras.layers.MaxPooling2D(2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(10),
        tf.keras.layers.Softmax(name="probs"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=25, batch_size=64, verbose=0,
              validation_data=(x_test, y_test))
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"keras test accuracy: {acc:.4f} on {n_test} held-out digits")

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    float_model = conv.convert()

    def representative():
        for i in range(0, 300, 3):
            yield [x_train[i:i + 1]]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    int8_model = conv.convert()

    sys.path.insert(0, str(ROOT))
    from edgelite.format.metadata import (
        AssociatedFileInfo,
        ModelMetadataInfo,
        SubgraphMetadataInfo,
        TensorMetadataInfo,
        append_associated_files,
        encode_metadata,
    )
    from edgelite.format.reader import load_model
    from edgelite.format.writer import to_bytes
    labels = "\n".join(str(d) for d in range(10)).encode()

    def with_metadata(data: bytes, kind: str) -> bytes:
        info = ModelMetadataInfo(
            name=f"edgelite digits classifier ({kind})",
            description="Classifies 8x8 grayscale handwritten digits (scikit-learn's digits "
                        "set) into 0-9. Trained by scripts/train_demo.py.",
            version="1", author="edgelite", license="Apache-2.0",
            subgraphs=[SubgraphMetadataInfo(
                name="digits",
                input_tensors=[TensorMetadataInfo(
                    name="image", description="8x8 grayscale digit, values in [0, 1] "
                    "(raw 0-16 pixel counts divided by 16)", content_type="image")],
                output_tensors=[TensorMetadataInfo(
                    name="probs", description="probability of each digit",
                    associated_files=[AssociatedFileInfo(
                        name="labels.txt", description="digit names",
                        type="TENSOR_AXIS_LABELS")])])])
        model = load_model(data)
        buf = len(model.buffers)
        from edgelite.format import ir
        model.buffers.append(ir.Buffer(data=np.frombuffer(encode_metadata(info), np.uint8)))
        model.metadata.append(ir.Metadata("TFLITE_METADATA", buf))
        return append_associated_files(to_bytes(model), {"labels.txt": labels})

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "digits_float32.tflite").write_bytes(with_metadata(float_model, "float32"))
    (OUT / "digits_int8.tflite").write_bytes(with_metadata(int8_model, "int8"))
    samples = 50
    np.savez_compressed(OUT / "digits_samples.npz", images=x_test[:samples],
                        labels=y_test[:samples])
    for f in sorted(OUT.glob("digits_*")):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
