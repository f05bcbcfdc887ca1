"""One pass over a .tflite FlatBuffer that checks it and decodes it.

The result is what the generated object API builds (`ModelT.InitFromObj`), field by
field: objects of classes with the same names (`ModelT`, `Conv2DOptionsT`...), the
same defaults, scalars as Python numbers, strings as bytes, scalar vectors as
read-only numpy views on the buffer (zero-copy). The classes are plain `Decoded`
subclasses made on first use from schema/tflite_tables.py, not the generated ones:
importing the generated module and flatbuffers cost ~17 ms, a third of a small
model's cold start; the writer turns them into the generated classes to pack them
(`to_generated`). The
generated code reads every field through FlatBuffers' generic accessors, a dozen
Python calls each; here each table's vtable is unpacked once and each field is one
precompiled struct read, driven by the same parsed `tflite.fbs` that the verifier
(`fbs.verify`) walks.

While decoding, every read is checked the way `fbs.verify` checks it (offsets,
vtable and table bounds, vector and string lengths, union codes, a cap on the number
of tables). Any failure raises `_Malformed`, cheap and without a location; the
reader then runs `fbs.verify`, which names the bad field's path. So a sound file is
walked once, and a bad one is still explained. tests/format/test_decode.py checks
equality with the generated code on every fixture and on models with the rare
fields, and that decode and verify accept and reject the same mutated files.
"""
from __future__ import annotations

import _thread
import struct

import numpy as np

from edgelite.format.fbs import Schema, load_schema
from edgelite.format.schema.tflite_tables import DEFAULTS

_FMT = {"bool": "?", "byte": "b", "ubyte": "B", "int8": "b", "uint8": "B",
        "short": "h", "ushort": "H", "int16": "h", "uint16": "H",
        "int": "i", "uint": "I", "int32": "i", "uint32": "I", "float": "f", "float32": "f",
        "long": "q", "ulong": "Q", "int64": "q", "uint64": "Q", "double": "d", "float64": "d"}

_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_HH = struct.Struct("<HH").unpack_from
_VT: dict[int, object] = {}

# field kinds
_SCALAR, _VEC, _STR, _VSTR, _TABLE, _VTABLE, _UNION = range(7)
_KINDS = {(False, "scalar"): _SCALAR, (True, "scalar"): _VEC, (False, "string"): _STR,
          (True, "string"): _VSTR, (False, "table"): _TABLE, (True, "table"): _VTABLE}


class _Malformed(Exception):
    """Raised on the first failed check; the caller runs fbs.verify for the message."""


def _camel(name: str) -> str:
    """The object API's attribute name of a schema field (lowerCamelCase)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Decoded:
    """Base of the classes of decoded tables: `<Table>T`, attributes as the generated
    object API's (no methods: `to_generated` makes the generated object)."""

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"


_CLASSES: dict[str, type] = {}


def decoded_class(table: str) -> type:
    """The Decoded subclass `<table>T`, one per table name."""
    cls = _CLASSES.get(table)
    if cls is None:
        cls = _CLASSES[table] = type(table + "T", (Decoded,), {"__module__": __name__})
    return cls


def __getattr__(name: str):
    # `<Table>T` by name, made if need be: pickle finds decoded objects' classes here
    if name.endswith("T") and name[:-1] in DEFAULTS:
        return decoded_class(name[:-1])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_generated(value):
    """value with every Decoded object (also inside lists and other Decoded objects)
    replaced by the generated module's object of the same class and fields, which can
    Pack itself; anything else as is."""
    if isinstance(value, Decoded):
        from edgelite.format.schema import tflite_generated as fb
        cls = getattr(fb, type(value).__name__)
        obj = cls.__new__(cls)
        obj.__dict__.update({k: to_generated(v) for k, v in value.__dict__.items()})
        return obj
    if isinstance(value, list) and any(isinstance(v, (Decoded, list)) for v in value):
        return [to_generated(v) for v in value]
    return value


class _Table:
    __slots__ = ("cls", "defaults", "fields")


class _Plans(dict):
    """table name -> _Table, each made on first use (a model reads a few of the ~170
    tables: its option tables and the structure around them). A plan and the nested
    tables' plans it needs are built aside and published together, under a lock: a
    thread never sees a half-made one."""

    def __init__(self, schema: Schema):
        super().__init__()
        self.schema = schema
        self.lock = _thread.allocate_lock()

    def __missing__(self, name: str) -> _Table:
        with self.lock:
            if name not in self:
                built: dict[str, _Table] = {}
                self._build(name, built)
                self.update(built)
            return dict.__getitem__(self, name)

    def _build(self, name: str, built: dict) -> _Table:
        found = dict.get(self, name) or built.get(name)
        if found is not None:
            return found
        schema = self.schema
        p = built[name] = _Table()            # (first: a table may nest itself)
        p.cls = decoded_class(name)
        p.defaults = DEFAULTS[name]
        out = []
        fid = 0
        for f in schema.tables[name]:
            attr = _camel(f.name)
            members = schema.unions.get(f.type) if not f.vector else None
            if members is not None:
                # union members' plans looked up when one is met (_PLANS[member])
                out.append((fid, _UNION, attr + "Type", attr, (fid + 1, members)))
                fid += 2
                continue
            scalar = _FMT.get(schema.enums.get(f.type, f.type))
            cat = "scalar" if scalar else "string" if f.type == "string" else "table"
            kind = _KINDS[f.vector, cat]
            arg = (np.dtype("<" + scalar) if kind == _VEC
                   else struct.Struct("<" + scalar) if kind == _SCALAR
                   else self._build(f.type, built) if cat == "table" else None)
            if attr not in p.defaults:         # a field the object API leaves out
                attr = None
            out.append((fid, kind, attr, None, arg))
            fid += 1
        p.fields = tuple(out)
        return p


_PLANS: _Plans | None = None


class _Decoder:
    __slots__ = ("b", "left", "n", "u8")

    def __init__(self, buf, n: int):
        self.b = buf
        self.n = n
        self.left = max(10_000, n // 4)        # as fbs.verify: no table loops
        # the buffer's bytes as one array: a vector is a slice of it viewed with its
        # dtype (0.37 us, against 0.87 us for an np.frombuffer call per vector)
        self.u8 = np.frombuffer(buf, np.uint8, count=n)

    def table(self, plan: _Table, pos: int):
        b, n = self.b, self.n
        self.left -= 1
        if self.left < 0 or pos < 0 or pos + 4 > n:
            raise _Malformed
        vt = pos - _I32(b, pos)[0]
        if vt < 0 or vt + 4 > n:
            raise _Malformed
        vt_size, tbl_size = _HH(b, vt)
        if vt_size < 4 or vt_size & 1 or vt + vt_size > n or pos + tbl_size > n:
            raise _Malformed
        k = (vt_size - 4) >> 1
        st = _VT.get(k)
        if st is None:
            st = _VT[k] = struct.Struct(f"<{k}H").unpack_from
        slots = st(b, vt + 4)
        obj = plan.cls.__new__(plan.cls)
        d = obj.__dict__
        d.update(plan.defaults)
        for fid, kind, attr, attr2, arg in plan.fields:
            vo = slots[fid] if fid < k else 0
            if kind == _UNION:
                vid, members = arg
                uval = slots[vid] if vid < k else 0
                code = 0
                if vo:
                    if vo + 1 > tbl_size:
                        raise _Malformed
                    code = b[pos + vo]
                    d[attr] = code
                value = None
                if code and uval:
                    if code > len(members) or uval + 4 > tbl_size:
                        raise _Malformed
                    value = self.table(_PLANS[members[code - 1]], self._target(pos + uval))
                d[attr2] = value
                continue
            if not vo:
                continue
            if kind == _SCALAR:
                if vo + arg.size > tbl_size:
                    raise _Malformed
                if attr is not None:
                    d[attr] = arg.unpack_from(b, pos + vo)[0]
                continue
            if vo + 4 > tbl_size:
                raise _Malformed
            at = self._target(pos + vo)
            if kind == _VEC:
                value = self._scalars(at, arg)
            elif kind == _STR:
                value = self._string(at)
            elif kind == _TABLE:
                value = self.table(arg, at)
            else:
                count = self._count(at, 4)
                at += 4
                value = []
                for i in range(count):
                    e = self._target(at + 4 * i)
                    value.append(self._string(e) if kind == _VSTR else self.table(arg, e))
            if attr is not None:
                d[attr] = value
        return obj

    def _target(self, at: int) -> int:
        t = at + _U32(self.b, at)[0]
        if t >= self.n:
            raise _Malformed
        return t

    def _count(self, at: int, size: int) -> int:
        if at + 4 > self.n:
            raise _Malformed
        count = _U32(self.b, at)[0]
        if at + 4 + count * size > self.n:
            raise _Malformed
        return count

    def _scalars(self, at: int, dtype: np.dtype) -> np.ndarray:
        count = self._count(at, dtype.itemsize)
        return self.u8[at + 4:at + 4 + count * dtype.itemsize].view(dtype)

    def _string(self, at: int) -> bytes:
        if at + 4 > self.n:
            raise _Malformed
        length = _U32(self.b, at)[0]
        if at + 5 + length > self.n:
            raise _Malformed
        return bytes(self.b[at + 4:at + 4 + length])


def decode_model(buf, n: int) -> Decoded:
    """The ModelT of a .tflite buffer of n bytes; raises _Malformed (or struct.error)
    where fbs.verify would reject it. The file identifier is the caller's check."""
    global _PLANS
    if _PLANS is None:
        _PLANS = _Plans(load_schema("tflite.fbs"))
    if n < 8:
        raise _Malformed
    dec = _Decoder(buf, n)
    return dec.table(_PLANS["Model"], dec._target(0))
