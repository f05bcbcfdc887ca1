"""Helpers shared by kernel families: padding, fused activations, broadcasting."""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_generated import ActivationFunctionType, Padding

# (low, high) bounds of each fused activation in float.
ACTIVATION_RANGE = {
    ActivationFunctionType.NONE: (None, None),
    ActivationFunctionType.RELU: (0.0, None),
    ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0),
    ActivationFunctionType.RELU6: (0.0, 6.0),
}


def activation_code(options) -> int:
    return int(getattr(options, "fusedActivationFunction", 0) or 0) if options is not None else 0


def check_activation(ctx, code: int) -> None:
    if code not in ACTIVATION_RANGE and code not in (ActivationFunctionType.TANH,
                                                      ActivationFunctionType.SIGN_BIT):
        raise ctx.error(f"unknown fused activation {code}")


def apply_activation(x: np.ndarray, code: int) -> None:
    """Apply a fused activation in place (float arrays)."""
    if code == ActivationFunctionType.NONE:
        return
    if code in ACTIVATION_RANGE:
        lo, hi = ACTIVATION_RANGE[code]
        if hi is None:
            np.maximum(x, lo, out=x)
        else:
            np.clip(x, lo, hi, out=x)
    elif code == ActivationFunctionType.TANH:
        np.tanh(x, out=x)
    elif code == ActivationFunctionType.SIGN_BIT:
        np.copyto(x, np.signbit(x).astype(x.dtype))


def conv_output_size(padding: int, in_size: int, filter_size: int, stride: int,
                     dilation: int = 1) -> int:
    """TFLite's ComputeOutSize."""
    eff = (filter_size - 1) * dilation + 1
    if stride <= 0:
        return 0
    if padding == Padding.SAME:
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride if in_size >= eff else 0


def conv_padding(padding: int, in_size: int, filter_size: int, stride: int, dilation: int,
                 out_size: int) -> tuple[int, int]:
    """(pad_before, pad_after) as TFLite's ComputePaddingHeightWidth (offset goes after)."""
    eff = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    before = total // 2
    return before, total - before


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy-style broadcast result shape, or None when the shapes are incompatible."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None
