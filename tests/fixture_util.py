"""The committed TF-converted fixtures and their LiteRT reference outputs."""
from __future__ import annotations

import json
import pathlib

import numpy as np

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NAMES = [m["name"] for m in MANIFEST]
BY_NAME = {m["name"]: m for m in MANIFEST}


def model_path(name: str) -> pathlib.Path:
    return FIXTURES / "models" / f"{name}.tflite"


def model_bytes(name: str) -> bytes:
    return model_path(name).read_bytes()


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "reference" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def inputs(name: str) -> list[np.ndarray]:
    ref = reference(name)
    return [ref[f"input_{i}"] for i in range(len([k for k in ref if k.startswith("input_")]))]
