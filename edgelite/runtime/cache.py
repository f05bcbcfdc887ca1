"""An on-disk cache of prepared models: load in a few ms what took tens to prepare.

Loading a model is decode (reading the FlatBuffer into the IR), prepare (every kernel
re-lays its weights, computes its per-channel multipliers, row sums, lookup tables...),
plan and bind. The first two are most of it and give the same result every time for the
same file, options and code. With a cache directory (`Interpreter(..., cache_dir=d)` or
`EDGELITE_CACHE_DIR=d`), the first load writes what they produced to one file there, and
later loads, in this process or another, read it back instead of decoding and preparing:
the IR and the kernels' prepared state, pickled, with every array's bytes out of band in
the file, which is memory-mapped copy-on-write (read whole when small), so a load reads
the graph, not the weights. Constants stay views of the model file itself; all-zero
arrays (scratch) are made anew. Planning is read back too; binding still runs. This is
what XNNPACK's weight cache file does for its packed weights in LiteRT.

A cache file is used only when its header matches: the model file (path, size, mtime,
change time, inode), the interpreter's options, the tier and the EDGELITE_* environment
that change what prepare makes, the edgelite sources (their sizes and mtimes), the numpy
and Python versions and the CPU's flags. Anything else (a stale, damaged, foreign or
unreadable file) is ignored and rewritten: a cache never makes a load fail. Arrays are
written with their aliasing (views of one buffer stay views of one buffer), so a kernel
that writes through one view still sees it in another.

Not cached (loaded as usual): models given as bytes, interpreters with custom ops or
delegates, models whose kernels make other subgraphs or shared resources at prepare
(control flow, variables, hash tables), a first allocation after a resize, and any
prepared state that does not pickle. Unpickling runs code named in the file: a cache
directory must be as trusted as the Python files you import (as numba's cache is).
"""
from __future__ import annotations

import _thread
import abc
import copyreg
import functools
import gc
import importlib
import io
import keyword
import mmap
import os
import pickle
import struct
import sys
import types
import zlib

import numpy as np

MAGIC = b"EDGELITE-PREPARED-MODEL-1\n"
_ALIGN = 64
# top-level packages whose classes and functions a cache file may name
_ALLOWED = frozenset({"edgelite", "numpy", "builtins", "collections", "copyreg", "functools",
                      "_codecs", "numba", "enum", "math"})
# the builtins a prepared state pickles with (not eval, exec, open, __import__...)
_BUILTINS = frozenset({"getattr", "slice", "Ellipsis", "NotImplemented", "complex", "set",
                       "frozenset", "bytearray", "range", "object", "list", "dict", "tuple",
                       "int", "float", "bool", "str", "bytes"})
# the environment variables that change what prepare makes (part of the key), and those
# that do not (a test checks that every EDGELITE_ variable edgelite reads is in one)
ENV_KEYED = ("EDGELITE_COMPILED", "EDGELITE_FUSE", "EDGELITE_MAX_ARENA_BYTES")
ENV_IGNORED = ("EDGELITE_CACHE_DIR", "EDGELITE_TRACE", "EDGELITE_STOP_AFTER")

_process_key: str | None = None
# cache files up to this size are read into memory, larger ones memory-mapped
READ_BELOW = 1 << 20


class NotCacheable(Exception):
    """This interpreter's prepared state cannot be written (the reason says why)."""


def cache_dir(arg) -> str | None:
    """The cache directory an Interpreter uses: its cache_dir argument (False: none),
    else $EDGELITE_CACHE_DIR, else none."""
    if arg is False:
        return None
    if arg is None:
        arg = os.environ.get("EDGELITE_CACHE_DIR") or None
    return None if arg is None else os.fspath(arg)


def _digest(text: str) -> str:
    """64 bits of CRC-32s (hashlib's import is ~2 ms of a cold start; this names files)."""
    b = text.encode()
    return f"{zlib.crc32(b):08x}{zlib.crc32(b, 0x5bd1e995):08x}"


def _sources_fingerprint() -> str:
    """Sizes and mtimes of edgelite's own files: an edited kernel invalidates caches.
    (os.scandir and paths joined by hand: os.walk + os.path.relpath took ~1-3 ms of a
    fresh process's first cached load for ~80 files.)"""
    import edgelite
    parts: list[str] = []

    def scan(d: str, rel: str) -> None:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.is_dir(follow_symlinks=True):
                if e.name != "__pycache__":
                    scan(e.path, rel + e.name + "/")
            elif e.name.endswith((".py", ".fbs", ".json")):
                st = e.stat()
                parts.append(f"{rel}{e.name}:{st.st_size}:{st.st_mtime_ns}")
    scan(os.path.dirname(os.path.abspath(edgelite.__file__)), "")
    return _digest(";".join(parts))


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return _digest(line)
    except OSError:
        pass
    import platform
    return platform.machine() + platform.processor()


def _versions() -> str:
    """The process's part of every key, made once: edgelite's version and sources, numpy,
    Python, the CPU. (Not numba's: the prepared state names compiled kernels, which
    numba loads from its own cache; whether the compiled tier is there is in the key.)"""
    global _process_key
    if _process_key is None:
        import edgelite
        _process_key = repr([edgelite.__version__, _sources_fingerprint(), np.__version__,
                              sys.version, _cpu_flags(), sys.byteorder])
    return _process_key


_tunable_names: list[str] | None = None


def _tier_state() -> list:
    """What decides, at prepare, which tier a node runs on: whether the compiled tier is
    wanted (the environment, numba's presence, `edgelite run`'s numpy preference) and
    enabled. Not whether numba is loaded yet: a node small enough to run on either tier
    (which give the same numbers) keeps the tier it was prepared with, so that the first
    and later interpreters of a process read the same cache file."""
    global _tunable_names
    from edgelite.kernels import conv
    wanted = conv.compiled_wanted()
    compiled = None
    if "edgelite.kernels.compiled" in sys.modules:
        # (imported, not read from sys.modules: another thread may be importing it, and
        # the import waits until that is done)
        from edgelite.kernels import compiled
    # (and the size thresholds that pick a tier or a buffer's place, which tests change)
    if _tunable_names is None:
        _tunable_names = sorted(k for k, v in vars(conv).items()
                                if (k.isupper() or k.startswith("_PRIVATE_"))
                                and type(v) in (int, bool))
    return [bool(wanted), True if compiled is None else bool(compiled.ENABLED),
            [getattr(conv, k) for k in _tunable_names]]


class Entry:
    """One model's cache file, for one interpreter."""

    def __init__(self, directory: str, model_path: str, interp):
        self.given_path = os.fspath(model_path)
        self.model_path = os.path.abspath(model_path)
        st = os.stat(self.model_path)
        options = [interp._num_threads, interp._reference, interp._preserve_all,
                   interp._max_arena_bytes]
        # One file per model and configuration (options, tier, environment: two processes
        # that differ there do not overwrite each other's file); a new version of the model
        # file or of edgelite overwrites it.
        config = repr([self.model_path, options, _tier_state(),
                       [os.environ.get(k) for k in ENV_KEYED]])
        self.path = os.path.join(directory, _digest(config) + ".edgelite-cache")
        self.directory = directory
        # (the change time too: a file rewritten in place with its old size and mtime, as
        # `cp -p` or a restore can, still gets a new one)
        self.stat = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        key = [config, *self.stat]
        self.key_bytes = (repr(key) + _versions()).encode()
        self.hit = False
        self.tried = False
        self.written = False
        self.skipped: str | None = None     # why the prepared state was not written

    def claim_write(self) -> bool:
        """True once, for this interpreter's first allocation, unless the file was read
        back: only that allocation's prepared state is written (at the file's shapes)."""
        if self.hit or self.tried:
            return False
        self.tried = True
        return True

    def status(self) -> str:
        if self.hit:
            return f"loaded from {self.path}"
        if self.written:
            return f"prepared and written to {self.path}"
        if self.skipped is not None:
            return f"prepared; not written: {self.skipped}"
        return f"not in the cache ({self.path}); written at allocate_tensors()"

    # ------------------------------------------------------------ read
    # A file: MAGIC, u32 n, the key (n bytes: a repr), u64 state pickle length, u64 layout
    # pickle length, u64 data offset, u32 CRC-32 of the two pickles, the two pickles, then
    # at the data offset every array's bytes (each 64-byte aligned, at offsets the state
    # pickle names). The CRC guards what says where and how big things are; the arrays'
    # bytes are not checked at load (that would cost as much as preparing them).
    def load(self, runtime):
        """(model, main executor restored) from the cache file, or None."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError:
            return None
        try:
            with f:
                head = f.read(len(MAGIC) + 4)
                if len(head) < len(MAGIC) + 4 or head[:len(MAGIC)] != MAGIC:
                    return None
                (n,) = struct.unpack("<I", head[len(MAGIC):])
                if n != len(self.key_bytes) or f.read(n) != self.key_bytes:
                    return None
                size = os.fstat(f.fileno()).st_size
                if size <= READ_BELOW:
                    # a small file is read whole (~0.1 ms a MB): mapped, the first invoke
                    # takes a fault per page its kernels write (padded buffers, columns:
                    # ~3 us each); a bigger one's arrays (read-only in practice, faulted
                    # in 16 pages at a time) cost less mapped than a copy at every load.
                    # Load + first invoke, numpy tier: kws_int8 (0.7 MB) 0.92 ms read,
                    # 0.98 mapped; the encoder (1.9 MB) 1.50 read, 1.27 mapped.
                    f.seek(0)
                    mm = bytearray(size)
                    if f.readinto(mm) != size:
                        return None
                else:
                    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
            # (the thousands of objects unpickled would run the cycle collector many times
            # over the whole heap; they make no garbage)
            enabled = gc.isenabled()
            gc.disable()
            try:
                return self._restore(mm, len(MAGIC) + 4 + n, runtime)
            finally:
                if enabled:
                    gc.enable()
        except Exception:     # noqa: BLE001 - a damaged cache is ignored (and rewritten)
            return None

    def _restore(self, mm, pos: int, runtime):
        from edgelite.runtime.plan import SubgraphExecutor
        state_len, layout_len, data_at, crc = struct.unpack_from("<QQQI", mm, pos)
        pos += 28
        if pos + state_len + layout_len > data_at or data_at > len(mm):
            return None
        if zlib.crc32(memoryview(mm)[pos:pos + state_len + layout_len]) != crc:
            return None
        data = np.frombuffer(mm, np.uint8)[data_at:]
        with open(self.model_path, "rb") as mf:
            # (the file mapped must be the one the key was made from: it may have been
            # replaced since)
            st = os.fstat(mf.fileno())
            if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev) != self.stat:
                return None
            keepalive = mmap.mmap(mf.fileno(), 0, access=mmap.ACCESS_READ)
        model_bytes = np.frombuffer(keepalive, np.uint8)
        ex = SubgraphExecutor.__new__(SubgraphExecutor)
        view = memoryview(mm)
        u = _Unpickler(io.BytesIO(view[pos:pos + state_len]), data, model_bytes, ex, runtime)
        model, state = u.load()
        layout = pickle.loads(view[pos + state_len:pos + state_len + layout_len])
        model._keepalive = keepalive
        model.source_path = self.given_path     # (as load_model sets it)
        ex.restore(runtime, model, state, layout)
        self.hit = True
        return model, ex

    # ------------------------------------------------------------ write
    def save(self, ex) -> None:
        """Write the main executor's prepared state and memory layout (planned, not yet
        bound): pickled, then a temporary file renamed into place (atomic)."""
        try:
            model = ex.model
            keep = getattr(model, "_keepalive", None)
            lo = hi = 0
            if keep is not None:
                fb = np.frombuffer(keep, np.uint8)
                lo, hi = fb.ctypes.data, fb.ctypes.data + fb.size
            f = io.BytesIO()
            p = _Pickler(f, ex, (lo, hi), keep)
            p.dump((model, ex.prepared_state()))
            state, buffers = f.getvalue(), p.buffers
            # (the planner, for arena_buffers() / arena_plan() only, is unpickled on use)
            layout = pickle.dumps(dict(ex.layout, planner=pickle.dumps(ex.layout["planner"])),
                                  protocol=5)
        except Exception as e:     # noqa: BLE001 - something in the state does not pickle
            self.skipped = f"{type(e).__name__}: {e}"
            return
        head = MAGIC + struct.pack("<I", len(self.key_bytes)) + self.key_bytes
        pos = len(head) + 28 + len(state) + len(layout)
        data_at = pos + (-pos) % _ALIGN
        # (a name of this writer's own: two threads of a process loading the same model at
        # once both write the file, and one temporary file shared would mix the two)
        tmp = f"{self.path}.{os.getpid()}.{_thread.get_ident()}.{id(self)}.tmp"
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with open(fd, "wb") as f:
                f.write(head)
                f.write(struct.pack("<QQQI", len(state), len(layout), data_at,
                                    zlib.crc32(layout, zlib.crc32(state))))
                f.write(state)
                f.write(layout)
                f.write(b"\0" * (data_at - f.tell()))
                for off, b in buffers:
                    f.write(b"\0" * (data_at + off - f.tell()))
                    f.write(b.data)
            os.replace(tmp, self.path)
            self.written = True
        except OSError as e:
            self.skipped = f"cannot write {self.path}: {e}"
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def discard(self, why: str) -> None:
        """Take back the file written for an allocation that then failed."""
        if self.written:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.written = False
        self.skipped = why


# ------------------------------------------------------------ pickling
class _Root:
    """Stands for a region while pickling: the model file, or the cache's data section.
    Pickled once (then memoized) as np.asarray of its persistent id's object."""
    __slots__ = ("key",)

    def __init__(self, key: str):
        self.key = key


class _Pid(_Root):
    """The persistent id of a region (the unpickler supplies the array)."""
    __slots__ = ()


_FILE, _DATA = _Root("file"), _Root("data")


class _Zeros:
    """Stands for an all-zero root array while pickling: np.zeros(nbytes) at load, made
    once (pickle memoizes it) for all its views."""
    __slots__ = ("nbytes",)

    def __init__(self, nbytes: int):
        self.nbytes = nbytes


def _strides(a: np.ndarray):
    """a's strides, or None (numpy's C-order strides at load) when they are exactly those:
    one tuple less to unpickle for most arrays."""
    st = a.strides
    step = a.itemsize
    for d, s in zip(reversed(a.shape), reversed(st)):
        if s != step:
            return st
        step *= d
    return None


def _view(root, offset, shape, dtype, strides, writeable):
    a = np.ndarray(shape, dtype, buffer=root, offset=offset, strides=strides)
    if not writeable:
        a.flags.writeable = False
    return a


def _empty(shape, dtype, writeable):
    a = np.empty(shape, dtype)
    if not writeable:
        a.flags.writeable = False
    return a


class _Pickler(pickle.Pickler):
    """Pickles the IR and an executor's prepared state; every array becomes a view of the
    model file (a constant) or of the data section, where its root array's bytes go
    once: views of one array stay views of one array."""

    def __init__(self, f, ex, file_range, keepalive):
        super().__init__(f, protocol=5)
        self.ex, self.runtime = ex, ex.runtime
        self.file_lo, self.file_hi = file_range
        self.keepalive = keepalive
        # id(root) -> (where: _DATA or a _Zeros, offset there, root's address)
        self.roots: dict[int, tuple] = {}
        self.keep: list[np.ndarray] = []
        self.buffers: list[tuple[int, np.ndarray]] = []  # (data offset, bytes)
        self.setters: dict[tuple, _SetterRef] = {}       # (one per set of names: memoized)
        self.size = 0

    def persistent_id(self, obj):
        if type(obj) is _Pid:
            return obj.key
        if obj is self.ex:
            return "executor"
        if obj is self.runtime:
            return "runtime"
        if obj is self.keepalive and obj is not None:
            return "keepalive"
        t = type(obj)
        if t is types.ModuleType:
            return ("module", obj.__name__)
        if t.__module__.startswith("numba"):
            # a compiled kernel: named by where it is defined, as pickle names a function
            py = getattr(obj, "py_func", None)
            mod, name = getattr(py, "__module__", None), getattr(py, "__qualname__", None)
            if mod and name and _lookup(mod, name) is obj:
                return ("global", mod, name)
            raise NotCacheable(f"a {t.__name__} that is not a module-level function")
        if t is mmap.mmap or t is memoryview:
            raise NotCacheable(f"a {t.__name__}")
        return None

    def reducer_override(self, obj):
        t = type(obj)
        if t is _Root:
            return np.asarray, (_Pid(obj.key),)
        if t is _Zeros:
            return np.zeros, (obj.nbytes, np.uint8)
        if t is _SetterRef:
            return _setter, (obj.keys,)
        if t is not np.ndarray:
            plain = _PLAIN.get(t, False)
            if plain is False:
                plain = _PLAIN[t] = _plain_class(t)
            if plain is not None:
                d = obj.__dict__
                if d:
                    keys = tuple(d)
                    if _names_ok(keys) and plain.isdisjoint(keys):
                        # the state as a tuple that the setter for these names assigns
                        ref = self.setters.get(keys)
                        if ref is None:
                            ref = self.setters[keys] = _SetterRef(keys)
                        return copyreg.__newobj__, (t,), tuple(d.values()), None, None, ref
            return NotImplemented
        if obj.dtype.hasobject:
            return NotImplemented
        writeable = bool(obj.flags.writeable)
        if obj.size == 0:
            return _empty, (obj.shape, obj.dtype, writeable)
        root = obj
        while isinstance(root.base, np.ndarray):
            root = root.base
        addr = obj.__array_interface__["data"][0]
        if self.file_lo <= addr < self.file_hi:
            # (np.ndarray called directly: no Python frame; the model file is read-only)
            if not writeable:
                return np.ndarray, (obj.shape, obj.dtype, _FILE, addr - self.file_lo,
                                    _strides(obj))
            return _view, (_FILE, addr - self.file_lo, obj.shape, obj.dtype, _strides(obj),
                           writeable)
        entry = self.roots.get(id(root))
        if entry is None:
            if root.flags.c_contiguous:
                raw = root.reshape(-1).view(np.uint8)
            elif root.flags.f_contiguous:
                raw = root.T.reshape(-1).view(np.uint8)
            else:
                # a strided view of memory numpy does not own (rare): its views cannot
                # keep their aliasing, which matters only where someone writes
                if writeable:
                    raise NotCacheable("a writable view of foreign memory")
                return NotImplemented          # (numpy's own pickling: a copy)
            if not raw.any():
                # all zeros (a kernel's scratch or accumulator buffer, most often): made
                # anew at load, not written to the file (nor page-faulted in from it)
                entry = (_Zeros(raw.nbytes), 0, raw.__array_interface__["data"][0])
            else:
                off = self.size + (-self.size) % _ALIGN
                self.size = off + raw.nbytes
                # (buffers keep raw, a view of root: root's id stays its own while pickling)
                self.buffers.append((off, raw))
                entry = (_DATA, off, raw.__array_interface__["data"][0])
            self.keep.append(root)      # (and root's id stays its own while pickling)
            self.roots[id(root)] = entry
        where, off, base = entry
        if writeable:     # (the data section is mapped copy-on-write: writable)
            return np.ndarray, (obj.shape, obj.dtype, where, off + addr - base, _strides(obj))
        return _view, (where, off + addr - base, obj.shape, obj.dtype, _strides(obj),
                       writeable)


# ------------------------------------------------------------ plain objects
# An instance pickled the default way comes back by NEWOBJ and then BUILD with its state
# dict: ~1.2 us for an object of 11 attributes, most of a cached load's unpickling (1,000+
# kernels, tensors, specs, contexts... in MobileNetV2 int8), and its attributes then live
# in a dict of its own (slower to read, at bind too). Pickled with its attribute values as
# a tuple and a state_setter for its attribute names, generated (`o.a, o.b, = v`), it
# takes ~0.45 us, and its attributes are stored as __init__ stores them (CPython's inline
# values). Generating a setter costs ~40-60 us in a fresh process, though (~1 ms for the
# 25-30 sets of names of a model), more than a single load of a small model gains: so a
# process's first load that asks for a set of names gets the plain dict update (as fast
# as BUILD), and the setter is generated at the second (the next load of that model, or
# of another with the same kinds of objects).
_OBJECT_GETSTATE = getattr(object, "__getstate__", None)
_PLAIN: dict = {}              # class -> _plain_class(class)
_SETTERS: dict = {}            # attribute names -> generated setter
_ASKED: set = set()            # attribute names asked for once in this process


class _SetterRef:
    """Stands for the setter of one set of attribute names while pickling (callable, as
    pickle wants a state_setter to be; pickled as _setter(keys))."""
    __slots__ = ("keys",)

    def __init__(self, keys: tuple):
        self.keys = keys

    def __call__(self, o, v) -> None:
        _set_dict(self.keys, o, v)


def _set_dict(keys: tuple, o, v) -> None:
    o.__dict__.update(zip(keys, v))


def _plain_class(cls) -> frozenset | None:
    """Whether cls's instances pickle as default objects (NEWOBJ + a __dict__ state), so
    that the setter form gives the same object: an edgelite class of plain Python
    classes only (no base but object and abc.ABC from outside edgelite, no __slots__ with
    members), with object's own __new__, __setattr__ and pickling methods. Returns None
    when not, else the names of the class's data descriptors (an instance attribute of
    one of those names is pickled as usual: assigning it would call the descriptor)."""
    if (not isinstance(cls, type) or cls.__new__ is not object.__new__
            or cls.__setattr__ is not object.__setattr__):
        return None
    for k in cls.__mro__:
        if k is object or k is abc.ABC:
            continue
        if not k.__module__.startswith("edgelite") or k.__dict__.get("__slots__"):
            return None
    if not (cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and getattr(cls, "__getstate__", None) is _OBJECT_GETSTATE
            and not hasattr(cls, "__setstate__") and not hasattr(cls, "__getnewargs_ex__")
            and not hasattr(cls, "__getnewargs__") and cls.__dictoffset__ != 0):
        return None
    return frozenset(name for k in cls.__mro__ for name, v in vars(k).items()
                     if (hasattr(type(v), "__set__") or hasattr(type(v), "__delete__"))
                     and not (name.startswith("__") and name.endswith("__")))


def _names_ok(keys) -> bool:
    """Attribute names a generated setter may name: identifiers, not keywords."""
    return all(type(k) is str and k.isidentifier() and not keyword.iskeyword(k)
               for k in keys)


def _setter(keys: tuple):
    """The function f(o, v) doing o.<keys[0]>, o.<keys[1]>, ... = v: a dict update the first
    time a process asks for these names, a generated function from the second on (names
    must be identifiers)."""
    f = _SETTERS.get(keys) if type(keys) is tuple else None
    if f is None:
        if type(keys) is not tuple or not keys or not _names_ok(keys):
            raise pickle.UnpicklingError("bad attribute names in a cache file")
        if keys not in _ASKED:
            _ASKED.add(keys)
            return functools.partial(_set_dict, keys)
        f = _from_template(keys)
        if f is None:
            ns: dict = {}
            exec(_setter_source("_set", keys), ns)  # noqa: S102 - identifiers only
            f = ns["_set"]
        _SETTERS[keys] = f
    return f


# Compiling a setter's source costs ~4 us per attribute in a fresh process (~1.4 ms for
# kws_int8's 26 sets of names). So one template is compiled per length,
# o.a0, o.a1, ... = v, and a setter is a copy of its template's code with the attribute
# names replaced (co_names: the bytecode stores attributes by index into it): ~3 us. The
# names' lengths repeat (kws_int8: 17 lengths for 26 sets of names), and a process that
# loads several models shares them.
_TEMPLATES: dict = {}          # length -> template function, or None (compile each)


def _setter_source(name: str, keys) -> str:
    """def <name>(o, v): o.<keys[0]>, ... = v."""
    return f"def {name}(o, v):\n    {', '.join('o.' + k for k in keys)}, = v\n"


def _from_template(keys: tuple):
    n = len(keys)
    t = _TEMPLATES.get(n, False)
    if t is False:
        names = tuple(f"a{i}" for i in range(n))
        ns: dict = {}
        exec(_setter_source("_set", names), ns)  # noqa: S102 - no input in it
        t = ns["_set"]
        if t.__code__.co_names != names:
            t = None            # (a Python whose bytecode names more: compile each setter)
        _TEMPLATES[n] = t
    if t is None:
        return None
    try:
        return types.FunctionType(t.__code__.replace(co_names=keys), {}, "_set")
    except (AttributeError, TypeError, ValueError):     # (a Python without code.replace)
        _TEMPLATES[n] = None
        return None


def _lookup(module: str, qualname: str):
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except (ImportError, AttributeError):
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, data, model_bytes, ex, runtime):
        super().__init__(f)
        self.ids = {"data": data, "file": model_bytes, "executor": ex, "runtime": runtime,
                    "keepalive": None}

    def persistent_load(self, pid):
        if type(pid) is str:
            return self.ids[pid]
        kind = pid[0]
        if kind in ("module", "global") and pid[1].partition(".")[0] in _ALLOWED:
            if kind == "module":
                return importlib.import_module(pid[1])
            obj = _lookup(pid[1], pid[2])
            if obj is not None:
                return obj
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

    def find_class(self, module, name):
        top = module.partition(".")[0]
        if top not in _ALLOWED or top == "builtins" and name not in _BUILTINS:
            raise pickle.UnpicklingError(f"{module}.{name} is not edgelite's")
        return super().find_class(module, name)
