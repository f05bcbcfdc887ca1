"""`edgelite.Interpreter`: the tf.lite / ai_edge_litert Interpreter API.

Change one import line and a script written for LiteRT runs on edgelite:

    from edgelite import Interpreter      # was: from ai_edge_litert.interpreter import Interpreter
"""
from __future__ import annotations

import _thread  # (threading's import was ~1-2 ms of a cold start; its Lock is this)
import enum
import os
import weakref

import numpy as np

from edgelite.errors import InterpreterError, InvokeError
from edgelite.format import ir
from edgelite.format.reader import load_model
from edgelite.kernels.registry import OpResolver
from edgelite.runtime import cache as _cache
from edgelite.runtime.plan import SubgraphExecutor
from edgelite.runtime.profiler import Profiler

DEFAULT_MAX_ARENA = 8 << 30


class OpResolverType(enum.Enum):
    """Same names and values as LiteRT's OpResolverType."""
    AUTO = 0
    BUILTIN = 1
    BUILTIN_REF = 2
    BUILTIN_WITHOUT_DEFAULT_DELEGATES = 3


def _resolver_is_reference(kind) -> bool:
    if kind is None:
        return False
    name = getattr(kind, "name", str(kind))
    return name == "BUILTIN_REF"


class _BlasThreads:
    """Sets the BLAS thread pool to `n` threads for this interpreter's invokes.

    BLAS pools are per process. Restoring the old size after every invoke costs
    ~10 us (threadpoolctl's context manager), so each invoke only reads the
    pool size (~0.5 us) and sets it when it differs; it is left in place
    afterwards. With several interpreters of different num_threads, each invoke
    switches the pool to its own size.
    """
    def __init__(self, n: int | None):
        self.n = n if n is not None and n > 0 else None
        self._libs = []                  # the BLAS libraries loaded when constructed
        if self.n is not None:
            try:
                from threadpoolctl import ThreadpoolController
                self._libs = [lc for lc in ThreadpoolController().lib_controllers
                              if lc.user_api == "blas"]
            except ImportError:   # optional: without it num_threads is advisory
                self.n = None

    def apply(self) -> None:
        if self.n is not None:
            for lc in self._libs:
                if lc.num_threads != self.n:
                    lc.set_num_threads(self.n)


def _quiet_floats():
    """A context manager silencing numpy's float warnings, as np.errstate(all="ignore").

    np.errstate builds its state object on every entry (~2 us, a tenth of a small
    model's invoke); numpy 2 keeps that state in a ContextVar, so the "ignore"
    state is captured once and each invoke only sets and resets the variable
    (~0.4 us). Falls back to np.errstate where numpy's internals differ."""
    var, quiet = _QUIET
    if var is None:
        return lambda: np.errstate(all="ignore")

    class _Quiet:
        __slots__ = ("token",)

        def __enter__(self):
            self.token = var.set(quiet)

        def __exit__(self, *exc):
            var.reset(self.token)
    return _Quiet


def _quiet_state():
    """(numpy's ContextVar of the ufunc error state, its "ignore all" value), or
    (None, None) where numpy's internals differ."""
    try:
        from numpy._core import _ufunc_config
        var = _ufunc_config._extobj_contextvar
        with np.errstate(all="ignore"):
            return var, var.get()
    except (ImportError, AttributeError):
        return None, None


_QUIET = _quiet_state()
quiet_floats = _quiet_floats()


def _release(executors: dict) -> None:
    """An interpreter's finalizer: break its executors' and kernels' reference cycles."""
    for ex in list(executors.values()):
        ex.release()
    executors.clear()


_BUSY = ("this Interpreter is already running in another thread: one Interpreter per "
         "thread (or serialize the calls)")


class _Guard:
    """Fails fast (instead of corrupting tensors) when two threads share an Interpreter."""
    __slots__ = ("lock",)

    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            raise InvokeError(_BUSY)

    def __exit__(self, *exc):
        self.lock.release()


class Interpreter:
    """Loads a .tflite model and runs it, with TFLite's Python API."""

    def __init__(self, model_path=None, model_content=None, experimental_delegates=None,
                 num_threads=None, experimental_op_resolver_type=OpResolverType.AUTO,
                 experimental_preserve_all_tensors=False,
                 experimental_disable_delegate_clustering=False,
                 experimental_default_delegate_latest_features=False,
                 custom_op_registerers=None, *, custom_ops=None, model=None, cache_dir=None):
        if model_path is not None and model_content is not None:
            raise InterpreterError("give model_path or model_content, not both")
        if model is None and model_path is None and model_content is None:
            raise InterpreterError("give model_path or model_content")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < -1):
            raise InterpreterError(f"num_threads must be an int >= -1, got {num_threads!r}")
        self._num_threads = 1 if num_threads in (None, -1) else num_threads
        self._threads = _BlasThreads(num_threads if num_threads not in (None, -1) else None)
        self._reference = _resolver_is_reference(experimental_op_resolver_type)
        self._preserve_all = bool(experimental_preserve_all_tensors)
        self._max_arena_bytes = int(os.environ.get("EDGELITE_MAX_ARENA_BYTES", DEFAULT_MAX_ARENA))
        custom = dict(custom_ops or {})
        for reg in custom_op_registerers or []:
            if callable(reg) and not isinstance(reg, str):
                custom.update(reg())
        self._resolver = OpResolver(custom=custom)
        # A cache directory: a prepared model is read back instead of decoded and prepared
        # (runtime/cache.py); only for a model file, without custom ops or delegates.
        self._cache = None
        self._cache_off = None
        directory = _cache.cache_dir(cache_dir)
        if directory is not None:
            if model is not None or model_path is None:
                self._cache_off = "the model was not given as a file path"
            elif custom or experimental_delegates:
                self._cache_off = "custom ops or delegates"
            else:
                try:
                    self._cache = _cache.Entry(directory, model_path, self)
                except OSError as e:
                    self._cache_off = f"cannot read the model file: {e}"
        self._weak = weakref.proxy(self)
        restored = self._cache.load(self._weak) if self._cache is not None else None
        if restored is not None:
            self._model, main = restored
        elif model is not None:
            self._model, main = model, None
        elif model_path is not None:
            self._model, main = load_model(model_path), None
        else:
            self._model, main = load_model(bytes(model_content)), None
        self._resources: dict = {}
        self._lock = _thread.allocate_lock()
        self._profiler: Profiler | None = None
        self._executors: dict[int, SubgraphExecutor] = {}
        # The executors reach this interpreter through a weak proxy, and its finalizer takes
        # the executors and kernels apart (their bound invokes, closures and contexts refer
        # back to them): so dropping the last reference to an interpreter frees its weights'
        # copies and arena at once, as LiteRT's destructor does, not at the next run of the
        # cycle collector (which may be many MB and many loads later).
        weakref.finalize(self, _release, self._executors).atexit = False
        if main is not None:
            self._executors[0] = main
        self._main = self._executor(0)
        self._delegates = list(experimental_delegates or [])
        for d in self._delegates:
            apply = getattr(d, "apply", None)
            if apply is not None:
                apply(self)

    # ------------------------------------------------------------ structure
    def _executor(self, subgraph_index: int) -> SubgraphExecutor:
        if subgraph_index not in self._executors:
            self._executors[subgraph_index] = SubgraphExecutor(self._weak, subgraph_index)
        return self._executors[subgraph_index]

    @property
    def model(self) -> ir.Model:
        return self._model

    def num_subgraphs(self) -> int:
        return len(self._model.subgraphs)

    # ------------------------------------------------------------ allocation
    def allocate_tensors(self) -> None:
        with self._guard():
            self._main.allocate()

    def resize_tensor_input(self, input_index, tensor_size, strict=False, subgraph_index=0):
        ex = self._executor(subgraph_index)
        idx = int(input_index)
        if idx not in ex.sg.inputs:
            raise InterpreterError(f"resize_tensor_input: tensor {idx} is not an input of "
                                   f"subgraph {subgraph_index} (inputs: {ex.sg.inputs})")
        shape = [int(d) for d in np.asarray(tensor_size).ravel()]
        if any(d < 0 for d in shape):
            raise InterpreterError(f"resize_tensor_input: shape {shape} has a negative dimension")
        if strict:
            tensor = ex.sg.tensors[idx]
            sig = tensor.shape_signature or tensor.shape
            bad = len(sig) != len(shape) or any(s != -1 and s != d for s, d in zip(sig, shape))
            if bad:
                raise InterpreterError(
                    f"resize_tensor_input(strict=True): tensor {idx} {tensor.name!r} has shape "
                    f"signature {list(sig)}; only its -1 dimensions may change, got {shape}")
        if tuple(shape) != ex.specs[idx].shape:
            ex.set_input_shape(idx, shape)

    # ------------------------------------------------------------ details
    def _tensor_details(self, tensor_index: int, subgraph_index: int = 0) -> dict:
        ex = self._executor(subgraph_index)
        if not 0 <= tensor_index < len(ex.specs):
            raise InterpreterError(f"tensor index {tensor_index} is outside [0, {len(ex.specs)}) "
                                   f"in subgraph {subgraph_index}")
        t = ex.sg.tensors[tensor_index]
        s = ex.specs[tensor_index]
        q = t.quantization
        scales = q.scale.astype(np.float32) if q is not None else np.zeros(0, np.float32)
        zps = q.zero_point.astype(np.int32) if q is not None else np.zeros(0, np.int32)
        legacy = (float(scales[0]), int(zps[0]) if zps.size else 0) if scales.size == 1 else (0.0, 0)
        sig = t.shape_signature if t.shape_signature is not None else s.shape
        if t.type == ir.TensorType.STRING:
            dtype = np.bytes_
        elif t.type in (ir.TensorType.RESOURCE, ir.TensorType.VARIANT):
            dtype = np.object_          # what LiteRT reports for these
        else:
            dtype = s.dtype.type
        return {
            "name": t.name,
            "index": tensor_index,
            "shape": np.array(s.shape, dtype=np.int32),
            "shape_signature": np.array(sig, dtype=np.int32),
            "dtype": dtype,
            "quantization": legacy,
            "quantization_parameters": {
                "scales": scales,
                "zero_points": zps,
                "quantized_dimension": int(q.quantized_dimension) if q is not None else 0,
                "block_size": 0,
            },
            "sparsity_parameters": _sparsity_dict(t.sparsity),
        }

    _get_tensor_details = _tensor_details

    def get_input_details(self) -> list[dict]:
        return [self._tensor_details(i) for i in self._main.sg.inputs]

    def get_output_details(self) -> list[dict]:
        return [self._tensor_details(i) for i in self._main.sg.outputs]

    def get_tensor_details(self, subgraph_index: int = 0) -> list[dict]:
        if not 0 <= subgraph_index < self.num_subgraphs():
            raise InterpreterError(f"subgraph_index is out of range: {subgraph_index} for the "
                                   f"model, which has {self.num_subgraphs()} subgraphs.")
        ex = self._executor(subgraph_index)
        return [self._tensor_details(i, subgraph_index) for i in range(len(ex.specs))]

    def _get_op_details(self, op_index: int) -> dict:
        sg = self._main.sg
        op = sg.operators[op_index]
        ex = self._main
        return {
            "index": int(op_index),
            "op_name": self._model.op_name(op),
            "inputs": np.array(op.inputs, dtype=np.int32),
            "outputs": np.array(op.outputs, dtype=np.int32),
            "operand_types": [ex.specs[i].dtype.type for i in op.inputs if i != -1],
            "result_types": [ex.specs[i].dtype.type for i in op.outputs if i != -1],
        }

    def _get_ops_details(self) -> list[dict]:
        return [self._get_op_details(i) for i in range(len(self._main.sg.operators))]

    # ------------------------------------------------------------ data
    def set_tensor(self, tensor_index, value, subgraph_index=0) -> None:
        ex = self._executor(subgraph_index)
        idx = int(tensor_index)
        if not 0 <= idx < len(ex.specs):
            raise InterpreterError(f"set_tensor: tensor index {idx} is outside "
                                   f"[0, {len(ex.specs)})")
        s = ex.specs[idx]
        if s.data is not None:
            raise InterpreterError(f"set_tensor: tensor {idx} {s.name!r} is a constant")
        if s.type == ir.TensorType.STRING:
            arr = np.asarray(value, dtype=object)
        else:
            arr = np.asarray(value)
            if arr.dtype != s.dtype:
                raise InterpreterError(
                    f"Cannot set tensor: Got value of type {arr.dtype.name.upper()} but expected "
                    f"type {s.dtype.name.upper()} for input {idx}, name: {s.name}")
        if arr.shape != s.shape:
            if arr.ndim != len(s.shape):
                raise InterpreterError(
                    f"Cannot set tensor: Dimension mismatch. Got {arr.ndim} but expected "
                    f"{len(s.shape)} for input {idx} {s.name!r} (shape {list(s.shape)}); "
                    f"call resize_tensor_input first to change its shape")
            for k, (a, b) in enumerate(zip(arr.shape, s.shape)):
                if a != b:
                    raise InterpreterError(
                        f"Cannot set tensor: Dimension mismatch. Got {a} but expected {b} for "
                        f"dimension {k} of input {idx} {s.name!r}; call resize_tensor_input "
                        f"first to change its shape")
        target = ex.arrays[idx]
        if target is None or not ex.allocated and target.shape != arr.shape:
            if not ex.allocated:
                raise InterpreterError("set_tensor called before allocate_tensors (or after a "
                                       "resize without allocate_tensors)")
            ex.arrays[idx] = arr.copy()
            return
        if s.type == ir.TensorType.STRING and target.shape != arr.shape:
            raise InterpreterError(f"set_tensor: string tensor {idx} {s.name!r} has shape "
                                   f"{list(target.shape)}, got {list(arr.shape)}")
        # In place: every node bound a view of this array at allocate time.
        target[...] = arr

    def get_tensor(self, tensor_index, subgraph_index=0) -> np.ndarray:
        ex = self._executor(subgraph_index)
        idx = int(tensor_index)
        if not 0 <= idx < len(ex.specs):
            raise InterpreterError(f"get_tensor: tensor index {idx} is outside "
                                   f"[0, {len(ex.specs)})")
        arr = ex.arrays[idx]
        if arr is None:
            s = ex.specs[idx]
            if s.data is not None:
                return np.array(s.data)
            why = ex.not_computed(idx)
            if why is not None:
                raise InterpreterError(f"get_tensor: tensor {idx} {s.name!r} has no value: {why}")
            raise InterpreterError(f"get_tensor: tensor {idx} {s.name!r} has no value (allocate "
                                   f"and invoke first)")
        return np.array(arr)

    def tensor(self, tensor_index, subgraph_index=0):
        ex = self._executor(subgraph_index)
        idx = int(tensor_index)
        if not 0 <= idx < len(ex.specs):
            raise InterpreterError(f"tensor: tensor index {idx} is outside [0, {len(ex.specs)})")
        # (the accessor holds the interpreter, as LiteRT's does: while it lives, so do the
        # arrays it views)
        return lambda: self._executor(subgraph_index).arrays[idx]

    # ------------------------------------------------------------ running
    def _guard(self) -> _Guard:
        return _Guard(self._lock)

    def invoke(self) -> None:
        # (_guard() and quiet_floats() spelled out: two context-manager objects and
        # their calls were ~0.7 us of every invoke, a few % of a small model's)
        lock = self._lock
        if not lock.acquire(blocking=False):
            raise InvokeError(_BUSY)
        try:
            if not self._main.allocated:
                raise InvokeError("Invoke called on model that is not ready: call "
                                  "allocate_tensors() first (and again after "
                                  "resize_tensor_input)")
            self._threads.apply()
            # Overflow and division by zero give inf/nan silently, as in LiteRT.
            var, quiet = _QUIET
            if var is None:
                with quiet_floats():
                    self._invoke_main()
                return
            token = var.set(quiet)
            try:
                self._invoke_main()
            finally:
                var.reset(token)
        finally:
            lock.release()

    def _invoke_main(self) -> None:
        if self._profiler is not None:
            self._profiler.invokes += 1
        self._main.invoke(self._profiler)

    def reset_all_variables(self) -> None:
        for ex in self._executors.values():
            ex.reset_variables()
        # Resource variables too (LiteRT leaves them alone, so a stateful model
        # cannot be restarted there): values are dropped and CALL_ONCE
        # initializers run again on the next invoke.
        store = self._resources.get("__variables__")
        if store is not None:
            store["values"].clear()
        self._resources.pop("__call_once__", None)

    # ------------------------------------------------------------ signatures
    def _get_full_signature_list(self) -> dict:
        return {sd.key: {"inputs": dict(sd.inputs), "outputs": dict(sd.outputs)}
                for sd in self._model.signature_defs}

    def get_signature_list(self) -> dict:
        return {sd.key: {"inputs": list(sd.inputs), "outputs": list(sd.outputs)}
                for sd in self._model.signature_defs}

    def get_signature_runner(self, signature_key=None):
        sigs = self._model.signature_defs
        if signature_key is None:
            if len(sigs) != 1:
                raise InterpreterError(
                    f"SignatureDef signature_key is None and model has {len(sigs)} Signatures. "
                    "None is only allowed when the model has 1 SignatureDef")
            signature_key = sigs[0].key
        for sd in sigs:
            if sd.key == signature_key:
                return SignatureRunner(self, sd)
        known = ", ".join(repr(s.key) for s in sigs) or "none"
        raise InterpreterError(f"Invalid signature_key provided: {signature_key!r} "
                               f"(the model has: {known})")

    # ------------------------------------------------------------ edgelite extras
    @property
    def cache_status(self) -> str:
        """What the prepared-model cache (cache_dir / EDGELITE_CACHE_DIR) did for this
        interpreter: loaded it, wrote it, or why not."""
        if self._cache is not None:
            return self._cache.status()
        return ("off: no cache_dir given and EDGELITE_CACHE_DIR not set"
                if self._cache_off is None else f"off: {self._cache_off}")

    def memory_report(self, subgraph_index: int = 0) -> dict:
        """Arena bytes, lower bound (largest sum of simultaneously live tensors),
        naive sum, persistent bytes (variables)."""
        ex = self._executor(subgraph_index)
        if not ex.allocated:
            raise InterpreterError("memory_report needs allocate_tensors() first")
        return dict(ex.memory)

    def arena_buffers(self, subgraph_index: int = 0) -> list[dict]:
        """The planned buffers: name, bytes, first/last step (0 = before the first node,
        k = node k-1), arena offset. Tensors and per-node scratch."""
        ex = self._executor(subgraph_index)
        if not ex.allocated:
            raise InterpreterError("arena_buffers needs allocate_tensors() first")
        return [{"name": r.name, "bytes": r.size, "first": r.first, "last": r.last,
                 "offset": r.offset} for r in ex.planner.reqs]

    def arena_plan(self, subgraph_index: int = 0) -> str:
        """ASCII picture of the arena: which tensor occupies which bytes at which step."""
        return self._executor(subgraph_index).planner.print_plan()

    def enable_profiling(self, on: bool = True) -> Profiler | None:
        self._profiler = Profiler() if on else None
        return self._profiler

    @property
    def profiler(self) -> Profiler | None:
        return self._profiler


def _sparsity_dict(sp) -> dict:
    if sp is None:
        return {}
    out = {"traversal_order": np.asarray(sp.traversalOrder or [], np.int32),
           "block_map": np.asarray(sp.blockMap or [], np.int32), "dim_metadata": []}
    for dm in sp.dimMetadata or []:
        if dm.format == 0:
            out["dim_metadata"].append({"format": 0, "dense_size": int(dm.denseSize)})
        else:
            seg = getattr(dm.arraySegments, "values", None)
            idx = getattr(dm.arrayIndices, "values", None)
            out["dim_metadata"].append({"format": 1,
                                        "array_segments": np.asarray(seg if seg is not None else []),
                                        "array_indices": np.asarray(idx if idx is not None else [])})
    return out


class SignatureRunner:
    """Callable for one SignatureDef: keyword inputs in, dict of outputs back."""

    def __init__(self, interpreter: Interpreter, sd: ir.SignatureDef):
        self._interp = interpreter
        self._sd = sd
        self._ex = interpreter._executor(sd.subgraph_index)

    def get_input_details(self) -> dict:
        return {n: self._interp._tensor_details(i, self._sd.subgraph_index)
                for n, i in self._sd.inputs.items()}

    def get_output_details(self) -> dict:
        return {n: self._interp._tensor_details(i, self._sd.subgraph_index)
                for n, i in self._sd.outputs.items()}

    def allocate_tensors(self) -> None:
        self._ex.allocate()

    def __call__(self, **kwargs) -> dict:
        sd = self._sd
        if len(kwargs) != len(sd.inputs):
            raise InterpreterError(
                "Invalid number of inputs provided for running a SignatureDef, expected "
                f"{len(sd.inputs)} vs provided {len(kwargs)} (inputs: {list(sd.inputs)})")
        for name, value in kwargs.items():
            if name not in sd.inputs:
                raise InterpreterError(f"Invalid Input name ({name}) for SignatureDef "
                                       f"{sd.key!r}; inputs are {list(sd.inputs)}")
            shape = tuple(np.shape(value))
            idx = sd.inputs[name]
            if self._ex.specs[idx].shape != shape:
                self._ex.set_input_shape(idx, shape)
        with self._interp._guard():
            if not self._ex.allocated:
                self._ex.allocate()
        for name, value in kwargs.items():
            self._interp.set_tensor(sd.inputs[name], np.asarray(value), sd.subgraph_index)
        with self._interp._guard(), quiet_floats():   # as Interpreter.invoke
            if self._interp._profiler is not None:
                self._interp._profiler.invokes += 1
            self._ex.invoke(self._interp._profiler)
        return {name: np.array(self._ex.arrays[idx]) for name, idx in sd.outputs.items()}

    invoke = __call__
