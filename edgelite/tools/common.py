"""Helpers shared by the `edgelite run`, `benchmark`, `demo` and report code.

Errors a user can cause (a missing file, an input of the wrong shape, an
unknown signature) are raised as :class:`ToolError` or an edgelite error and
printed by :func:`guarded` as one ``edgelite: error: ...`` line, exit code 1.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from dataclasses import dataclass

import numpy as np

from edgelite.errors import EdgeliteError, ModelError
from edgelite.format import ir
from edgelite.format.metadata import (
    METADATA_NAME,
    ModelMetadataInfo,
    decode_metadata,
    label_list,
    read_associated_files,
)

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm")


class ToolError(Exception):
    """A mistake the user can fix: printed without a traceback, exit code 1."""


class UsageError(ToolError):
    """The command line itself is wrong (as argparse reports it): exit code 2."""


def print_error(message: object, code: int = 1) -> int:
    print(f"edgelite: error: {message}", file=sys.stderr)
    return code


def note(message: str) -> None:
    print(f"edgelite: note: {message}", file=sys.stderr)


def guarded(run):
    """Wrap a command's `run(args)`: user mistakes become one error line and exit 1."""
    @functools.wraps(run)
    def wrapper(args) -> int:
        try:
            return run(args)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other CLI tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except UsageError as e:
            return print_error(e, 2)
        except (ToolError, EdgeliteError) as e:
            return print_error(e)
        except OSError as e:
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            return print_error(f"{e.strerror or e}{where}")
        except KeyboardInterrupt:
            print("edgelite: interrupted", file=sys.stderr)
            return 130
    return wrapper


def module_main(add_parser, run, argv=None) -> int:
    """`python -m edgelite.tools.<module>`: a parser with just this one subcommand's options."""
    parser = argparse.ArgumentParser(prog="edgelite")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = add_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    # The command name is implied when run as a module: `-m edgelite.tools.run model.tflite`.
    if not argv or argv[0] != p.prog.split()[-1]:
        argv.insert(0, p.prog.split()[-1])
    return run(parser.parse_args(argv))


# ---------------------------------------------------------------- models

def load(path: str, num_threads: int | None = None):
    """(model IR, Interpreter) for a .tflite path; a missing or bad file is a ToolError."""
    from edgelite.runtime.interpreter import Interpreter
    if not os.path.exists(path):
        raise ToolError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ToolError(f"{path} is a directory, not a .tflite file")
    # (from the path, so that EDGELITE_CACHE_DIR's prepared-model cache applies)
    interp = Interpreter(model_path=path, num_threads=num_threads)
    return interp.model, interp


def model_metadata(model: ir.Model) -> tuple[ModelMetadataInfo | None, dict[str, bytes]]:
    """The decoded TFLITE_METADATA (or None) and the associated files packed after the model."""
    raw = model.metadata_bytes(METADATA_NAME)
    info = None
    if raw:
        try:
            info = decode_metadata(raw)
        except ModelError as e:
            note(f"ignoring unreadable {METADATA_NAME}: {e}")
    files: dict[str, bytes] = {}
    if model.trailing_bytes:
        try:
            files = read_associated_files(model.trailing_bytes)
        except ModelError as e:
            note(f"ignoring associated files: {e}")
    return info, files


def output_labels(info, files, index: int) -> list[str] | None:
    if info is None:
        return None
    try:
        return label_list(info, files, "output", index)
    except ModelError as e:
        note(str(e))
        return None


def input_metadata(info, index: int):
    if info is None or not info.subgraphs or index >= len(info.subgraphs[0].input_tensors):
        return None
    return info.subgraphs[0].input_tensors[index]


# ---------------------------------------------------------------- quantization

def quant_of(detail: dict) -> tuple[float, int] | None:
    """(scale, zero point) of a per-tensor quantized tensor, else None."""
    q = detail.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []))
    if scales.size == 1 and float(scales[0]) != 0.0:
        zps = np.asarray(q.get("zero_points", [0]))
        return float(scales[0]), int(zps[0]) if zps.size else 0
    return None


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    q = quant_of(detail)
    if q is None or not np.issubdtype(np.asarray(x).dtype, np.integer):
        return np.asarray(x)
    scale, zp = q
    return (np.asarray(x, np.float64) - zp) * scale


# ---------------------------------------------------------------- inputs

@dataclass
class Slot:
    """One model input as the tools see it: a name the user can type and its details."""
    name: str                 # signature input name, or the tensor name
    position: int
    detail: dict
    aliases: tuple[str, ...] = ()   # signature input names of the same tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.detail["shape"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.detail["dtype"])

    def describe(self) -> str:
        return f"{self.name!r} {list(self.shape)} {self.dtype.name}"


def input_slots(interp, signature: str | None = None) -> list[Slot]:
    if signature is None:
        aliases: dict[int, list[str]] = {}
        for sig in interp.get_signature_list():
            sd = interp._get_full_signature_list()[sig]
            for name, index in sd["inputs"].items():
                aliases.setdefault(int(index), []).append(name)
        return [Slot(d["name"], i, d, tuple(aliases.get(int(d["index"]), ())))
                for i, d in enumerate(interp.get_input_details())]
    runner = signature_runner(interp, signature)
    return [Slot(n, i, d) for i, (n, d) in enumerate(runner.get_input_details().items())]


def signature_runner(interp, signature: str):
    keys = list(interp.get_signature_list())
    if signature not in keys:
        known = ", ".join(repr(k) for k in keys) or "none"
        raise ToolError(f"unknown signature {signature!r}; the model has: {known}")
    return interp.get_signature_runner(signature)


def find_slot(slots: list[Slot], key: str) -> Slot:
    """An input by name, `input_N`, or position N."""
    for s in slots:
        if key in (s.name, s.detail["name"]) or key in s.aliases:
            return s
    k = key.removeprefix("input_")
    if k.isdigit() and int(k) < len(slots):
        return slots[int(k)]
    known = ", ".join(s.describe() for s in slots)
    raise ToolError(f"the model has no input {key!r}; its inputs are: {known}")


def random_input(slot: Slot, rng: np.random.Generator, meta=None) -> np.ndarray:
    """Seeded random data that suits the input's dtype and quantization."""
    shape, dtype = slot.shape, slot.dtype
    if slot.detail["dtype"] in (np.bytes_, np.object_):
        raise ToolError(f"input {slot.describe()}: cannot make random strings; "
                        f"give it with --input {slot.name}=file.npy")
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.floating):
        lo, hi = 0.0, 1.0
        if meta is not None and meta.stats_min and meta.stats_max:
            lo, hi = float(min(meta.stats_min)), float(max(meta.stats_max))
        return rng.uniform(lo, hi, shape).astype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        return (rng.random(shape) + 1j * rng.random(shape)).astype(dtype)
    info = np.iinfo(dtype)
    if quant_of(slot.detail) is not None:
        # Quantized: the whole integer range is meaningful.
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    # Plain integers are usually indices or ids: keep them small and non-negative.
    return rng.integers(0, min(10, info.max), shape, endpoint=False).astype(dtype)


def read_array_file(path: str) -> np.ndarray | dict[str, np.ndarray]:
    if not os.path.exists(path):
        raise ToolError(f"input file not found: {path}")
    lower = path.lower()
    try:
        if lower.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if lower.endswith(".npy"):
            return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ToolError(f"cannot read {path}: {e}") from None
    raise ToolError(f"{path}: unknown input file type (expected .npy, .npz or an image: "
                    f"{', '.join(IMAGE_SUFFIXES)})")


def have_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def image_input(path: str, slot: Slot, meta=None, mean=None, std=None) -> np.ndarray:
    """An image file resized to the input and normalized, batch dimension added.

    Normalization: the model's TFLITE_METADATA when it has one, else --mean/--std,
    else pixels scaled to [0, 1]. Quantized inputs get the normalized value quantized.
    """
    if not os.path.exists(path):
        raise ToolError(f"input file not found: {path}")
    try:
        from PIL import Image
    except ImportError:
        raise ToolError(f"{path}: reading images needs Pillow, which is not installed "
                        f"(pip install pillow), or give the pixels as a .npy file") from None
    shape = slot.shape
    if len(shape) != 4:
        raise ToolError(f"{path}: input {slot.describe()} is not an image input [N, H, W, C]")
    _, height, width, channels = shape
    if channels not in (1, 3, 4):
        raise ToolError(f"{path}: input {slot.describe()} has {channels} channels; "
                        f"images need 1, 3 or 4")
    try:
        with Image.open(path) as im:
            im = im.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            im = im.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(im, dtype=np.float32).reshape(height, width, channels)
    except OSError as e:
        raise ToolError(f"{path}: cannot read the image: {e}") from None
    norm = meta.normalization if meta is not None and meta.normalization is not None else None
    if norm is not None:
        m, s = np.asarray(norm.mean, np.float32), np.asarray(norm.std, np.float32)
    elif mean is not None or std is not None:
        m = np.asarray(mean if mean is not None else [0.0], np.float32)
        s = np.asarray(std if std is not None else [1.0], np.float32)
    elif np.issubdtype(slot.dtype, np.floating):
        note(f"{path}: no normalization in the model's metadata and no --mean/--std: "
             f"scaling pixels to [0, 1]")
        m, s = np.float32(0.0), np.float32(255.0)
    else:
        m, s = np.float32(0.0), np.float32(1.0)
    for what, v in (("mean", m), ("std", s)):
        if v.size not in (1, channels):
            raise ToolError(f"{path}: {v.size} {what} values for an image with {channels} "
                            f"channels")
    if np.any(s == 0):
        raise ToolError("--std must not be 0")
    x = (pixels - m) / s
    q = quant_of(slot.detail)
    if np.issubdtype(slot.dtype, np.integer):
        x = quantize(x, *q, slot.dtype) if q is not None else np.clip(
            np.round(x), np.iinfo(slot.dtype).min, np.iinfo(slot.dtype).max).astype(slot.dtype)
    return x[None].astype(slot.dtype)


def fit_array(arr: np.ndarray, slot: Slot, source: str) -> np.ndarray:
    """Check (and safely convert) a user array for an input; explain what is wrong if not."""
    arr = np.asarray(arr)
    dtype = slot.dtype
    if arr.dtype != dtype:
        q = quant_of(slot.detail)
        if np.issubdtype(arr.dtype, np.floating) and np.issubdtype(dtype, np.integer) \
                and q is not None:
            note(f"{source}: quantizing {arr.dtype.name} values for {slot.describe()} "
                 f"(scale {q[0]:.6g}, zero point {q[1]})")
            arr = quantize(arr, *q, dtype)
        elif arr.dtype.kind in "iu" and dtype.kind in "iu":
            # Integers convert only when every value fits (no silent wrap-around).
            info = np.iinfo(dtype)
            if arr.size and not (info.min <= arr.min() and arr.max() <= info.max):
                raise ToolError(f"{source}: input {slot.describe()} needs {dtype.name} data, "
                                f"got {arr.dtype.name} values in [{arr.min()}, {arr.max()}]")
            arr = arr.astype(dtype)
        elif arr.dtype.kind == dtype.kind == "f" or (arr.dtype.kind in "iub"
                                                      and dtype.kind in "fc"):
            arr = arr.astype(dtype)
        else:
            raise ToolError(f"{source}: input {slot.describe()} needs {dtype.name} data, "
                            f"got {arr.dtype.name}")
    want = slot.shape
    if arr.shape == want:
        return arr
    if want and want[0] == 1 and arr.shape == want[1:]:
        return arr[None]
    sig = [int(d) for d in slot.detail.get("shape_signature", want)]
    if len(sig) == arr.ndim and all(s in (-1, a) for s, a in zip(sig, arr.shape)):
        return arr   # a dynamic dimension: the caller resizes the input
    raise ToolError(f"{source}: input {slot.describe()} needs shape {list(want)}"
                    + (f" (signature {sig})" if sig != list(want) else "")
                    + f", got {list(arr.shape)}")


def parse_floats(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ToolError(f"{flag} takes numbers separated by commas, got {text!r}") from None


def gather_inputs(slots: list[Slot], specs: list[str], *, seed: int = 0, info=None,
                  mean=None, std=None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays for every input from `--input` specs, random data for the rest.

    Returns ({slot name: array}, {slot name: where it came from}).
    """
    values: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}

    def put(slot: Slot, arr, source: str):
        if slot.name in values:
            raise ToolError(f"input {slot.name!r} is given twice")
        values[slot.name] = fit_array(arr, slot, source)
        sources[slot.name] = source

    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = None, spec
        lower = path.lower()
        if ".npz:" in lower:         # one array of an archive: file.npz:key
            cut = lower.rindex(".npz:") + 4
            path, key = path[:cut], path[cut + 1:]
            arrays = read_array_file(path)
            if key not in arrays:
                raise ToolError(f"{path} has no array {key!r}; it has {sorted(arrays)}")
            slot = find_slot(slots, name) if name is not None else None
            if slot is None:
                if len(slots) != 1:
                    raise ToolError(f"name the input {path}:{key} is for "
                                    f"(--input NAME={path}:{key})")
                slot = slots[0]
            put(slot, arrays[key], f"{path}:{key}")
            continue
        if lower.endswith(".npz"):
            arrays = read_array_file(path)
            if name is not None:
                if len(arrays) != 1:
                    raise ToolError(f"{path}: NAME=file.npz needs an archive with one array, "
                                    f"it has {sorted(arrays)}")
                put(find_slot(slots, name), next(iter(arrays.values())), path)
            else:
                for key, arr in arrays.items():
                    put(find_slot(slots, key), arr, f"{path}[{key}]")
            continue
        if name is None:
            if len(slots) != 1:
                raise ToolError(f"the model has {len(slots)} inputs: name the one {path} is for "
                                f"(--input NAME={path}); inputs: "
                                + ", ".join(s.describe() for s in slots))
            slot = slots[0]
        else:
            slot = find_slot(slots, name)
        if lower.endswith(IMAGE_SUFFIXES):
            arr = image_input(path, slot, input_metadata(info, slot.position), mean, std)
        else:
            arr = read_array_file(path)
        put(slot, arr, path)

    rng = np.random.default_rng(seed)
    for slot in slots:
        if slot.name not in values:
            values[slot.name] = random_input(slot, rng, input_metadata(info, slot.position))
            sources[slot.name] = f"random (seed {seed})"
    return values, sources


class Runner:
    """Sets inputs and invokes, through a signature runner or the plain tensor API."""

    def __init__(self, interp, signature: str | None = None):
        self.interp = interp
        self.signature = signature
        self.slots = input_slots(interp, signature)
        if signature is None:
            interp.allocate_tensors()
            self.out_details = interp.get_output_details()
            self.out_names = [d["name"] for d in self.out_details]
        else:
            self.runner = signature_runner(interp, signature)
            self.runner.allocate_tensors()
            self.out_names = list(self.runner.get_output_details())
        self._last = None

    def set_inputs(self, values: dict[str, np.ndarray]) -> None:
        if self.signature is not None:
            self._kwargs = values
            return
        resized = False
        for slot in self.slots:
            arr = values[slot.name]
            if arr.shape != slot.shape:
                self.interp.resize_tensor_input(slot.detail["index"], arr.shape)
                resized = True
        if resized:
            self.interp.allocate_tensors()
            self.out_details = self.interp.get_output_details()
        for slot in self.slots:
            self.interp.set_tensor(slot.detail["index"], values[slot.name])

    def invoke(self) -> None:
        if self.signature is not None:
            self._last = self.runner(**self._kwargs)
        else:
            self.interp.invoke()

    def outputs(self) -> list[tuple[str, np.ndarray, dict]]:
        """(name, array, details) per output, after invoke."""
        if self.signature is not None:
            details = self.runner.get_output_details()
            return [(n, self._last[n], details[n]) for n in self.out_names]
        return [(d["name"], self.interp.get_tensor(d["index"]), d) for d in self.out_details]


# ---------------------------------------------------------------- memory and plan

def arena_buffers(interp, subgraph_index: int = 0) -> list[dict]:
    """The planned arena buffers: name, bytes, first and last step, offset.

    Uses `Interpreter.arena_buffers()` when the runtime offers it; until then the
    planner's requests (the same data `arena_plan()` draws as ASCII).
    """
    api = getattr(interp, "arena_buffers", None)
    if callable(api):
        return list(api(subgraph_index))
    ex = interp._executor(subgraph_index)
    planner = getattr(ex, "planner", None)
    if planner is None:
        return []
    planner.arena_size()
    return [{"name": r.name, "bytes": int(r.size), "first": int(r.first), "last": int(r.last),
             "offset": int(r.offset)} for r in planner.reqs]


def read_proc_status() -> dict[str, int]:
    """VmRSS / VmHWM in kB from /proc/self/status (Linux); {} elsewhere."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, writing 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def human_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def op_output_shapes(interp) -> list[list[list[int]]]:
    """Per node of subgraph 0: the shapes of its outputs (after allocate)."""
    shapes = []
    for op in interp._get_ops_details():
        row = []
        for t in op["outputs"]:
            if t >= 0:
                row.append([int(d) for d in interp._get_tensor_details(int(t))["shape"]])
        shapes.append(row)
    return shapes
