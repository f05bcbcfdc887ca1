"""A FlatBuffers verifier driven by edgelite's own .fbs schema files.

The Python FlatBuffers runtime trusts its input: a mutated file makes the
generated accessors raise IndexError, struct.error, or loop over a vector
length of two billion. LiteRT verifies every buffer before use; so does
edgelite. `parse_schema` reads the subset of the .fbs grammar our schema
files use; `verify` walks a buffer against it and raises ModelError naming
the path of the first bad field ("Model.subgraphs[0].tensors[3].shape").
"""
from __future__ import annotations

import functools
import os
import re
import struct
from typing import NamedTuple

from edgelite.errors import ModelError

SCALAR_SIZES = {
    "bool": 1, "byte": 1, "ubyte": 1, "int8": 1, "uint8": 1,
    "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
    "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
    "long": 8, "ulong": 8, "int64": 8, "uint64": 8, "double": 8, "float64": 8,
}
MAX_DEPTH = 64


class Field(NamedTuple):
    name: str
    type: str            # scalar name, "string", a table/enum/union name
    vector: bool = False
    deprecated: bool = False


class Schema:
    """A parsed .fbs schema (plain attributes; a @dataclass cost ~1 ms at import)."""

    def __init__(self):
        self.enums: dict[str, str] = {}            # name -> underlying scalar
        self.unions: dict[str, list[str]] = {}     # name -> member tables
        self.tables: dict[str, list[Field]] = {}   # fields in id order
        self.root = ""
        self.identifier = ""


_COMMENT = re.compile(r"//[^\n]*")
_BLOCK = re.compile(r"\b(enum|union|table|struct)\s+(\w+)\s*(?::\s*(\w+))?\s*(\([^)]*\))?\s*\{(.*?)\}",
                    re.DOTALL)


def parse_schema(text: str) -> Schema:
    text = _COMMENT.sub("", text)
    schema = Schema()
    m = re.search(r"root_type\s+(\w+)\s*;", text)
    schema.root = m.group(1) if m else ""
    m = re.search(r'file_identifier\s+"(\w{4})"\s*;', text)
    schema.identifier = m.group(1) if m else ""
    for kind, name, base, _attrs, body in _BLOCK.findall(text):
        if kind == "struct":
            raise ValueError("structs are not supported by this verifier")
        if kind == "enum":
            schema.enums[name] = base
        elif kind == "union":
            members = [re.sub(r"\(.*?\)", "", m).strip() for m in body.split(",")]
            schema.unions[name] = [m for m in members if m]
        else:
            fields = []
            for decl in body.split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                fm = re.match(r"(\w+)\s*:\s*(\[?)\s*(\w+)\s*\]?\s*(=\s*[^(]+)?(\(.*\))?$", decl, re.DOTALL)
                if fm is None:
                    raise ValueError(f"cannot parse field {decl!r} of table {name}")
                fname, vec, ftype, _default, attrs = fm.groups()
                fields.append(Field(fname, ftype, bool(vec), "deprecated" in (attrs or "")))
            schema.tables[name] = fields
    return schema


@functools.cache
def load_schema(filename: str) -> Schema:
    if filename == "tflite.fbs":
        # parsed already, by scripts/gen_schema.py (tests/format/test_decode.py checks)
        from edgelite.format.schema import tflite_tables as t
        schema = Schema()
        schema.root, schema.identifier = t.SCHEMA_ROOT, t.SCHEMA_IDENTIFIER
        schema.enums, schema.unions = dict(t.SCHEMA_ENUMS), dict(t.SCHEMA_UNIONS)
        schema.tables = {k: [Field(*f) for f in v] for k, v in t.SCHEMA_TABLES.items()}
        return schema
    # (os.path, not pathlib: importing pathlib cost ~6 ms of every cold start)
    with open(os.path.join(os.path.dirname(__file__), "schema", filename),
              encoding="utf-8") as f:
        return parse_schema(f.read())


class _Verifier:
    def __init__(self, schema: Schema, buf, limit: int):
        self.s = schema
        self.buf = buf
        self.n = limit
        self.tables_left = max(10_000, limit // 4)
        # (type, element) -> layout, cached per field type
        self._u32 = struct.Struct("<I").unpack_from
        self._i32 = struct.Struct("<i").unpack_from
        self._u16 = struct.Struct("<H").unpack_from

    def fail(self, path: str, what: str):
        raise ModelError(f"malformed FlatBuffer at {path}: {what}")

    def need(self, pos: int, size: int, path: str, what: str):
        if pos < 0 or size < 0 or pos + size > self.n:
            self.fail(path, f"{what} [{pos}, {pos + size}) is outside the {self.n}-byte buffer")

    def offset_target(self, pos: int, path: str) -> int:
        self.need(pos, 4, path, "offset")
        target = pos + self._u32(self.buf, pos)[0]
        if target >= self.n:
            self.fail(path, f"offset points to {target}, past the end ({self.n} bytes)")
        return target

    def table(self, name: str, pos: int, path: str, depth: int):
        if depth > MAX_DEPTH:
            self.fail(path, f"nesting deeper than {MAX_DEPTH}")
        self.tables_left -= 1
        if self.tables_left < 0:
            self.fail(path, "too many tables (the buffer references tables in a loop or "
                            "repeats them absurdly often)")
        self.need(pos, 4, path, "table")
        vt = pos - self._i32(self.buf, pos)[0]
        self.need(vt, 4, path, "vtable header")
        vt_size, tbl_size = self._u16(self.buf, vt)[0], self._u16(self.buf, vt + 2)[0]
        if vt_size < 4 or vt_size % 2:
            self.fail(path, f"vtable size {vt_size} is invalid")
        self.need(vt, vt_size, path, "vtable")
        self.need(pos, tbl_size, path, "table body")
        n_slots = (vt_size - 4) // 2
        fid = 0
        for f in self.s.tables[name]:
            members = self.s.unions.get(f.type) if not f.vector else None
            if members is not None:
                # A union field takes two ids: the type byte, then the value offset.
                utype = self._slot(vt, n_slots, fid)
                uval = self._slot(vt, n_slots, fid + 1)
                fid += 2
                code = 0
                if utype:
                    if utype + 1 > tbl_size:
                        self.fail(f"{path}.{f.name}_type", "field outside its table")
                    code = self.buf[pos + utype]
                if code and uval:
                    if code > len(members):
                        self.fail(f"{path}.{f.name}_type", f"union type {code} is unknown")
                    if uval + 4 > tbl_size:
                        self.fail(f"{path}.{f.name}", "field outside its table")
                    target = self.offset_target(pos + uval, f"{path}.{f.name}")
                    self.table(members[code - 1], target, f"{path}.{f.name}", depth + 1)
                continue
            vo = self._slot(vt, n_slots, fid)
            fid += 1
            if not vo:
                continue
            fpath = f"{path}.{f.name}"
            scalar = self._scalar_size(f.type)
            if not f.vector and scalar:
                if vo + scalar > tbl_size:
                    self.fail(fpath, "field outside its table")
                continue
            if vo + 4 > tbl_size:
                self.fail(fpath, "field outside its table")
            target = self.offset_target(pos + vo, fpath)
            if f.vector:
                self.vector(f.type, scalar, target, fpath, depth)
            elif f.type == "string":
                self.string(target, fpath)
            elif f.type in self.s.tables:
                self.table(f.type, target, fpath, depth + 1)
            else:
                self.fail(fpath, f"schema type {f.type} is not supported")

    def _slot(self, vt: int, n_slots: int, fid: int) -> int:
        return self._u16(self.buf, vt + 4 + 2 * fid)[0] if fid < n_slots else 0

    def _scalar_size(self, t: str) -> int:
        if t in SCALAR_SIZES:
            return SCALAR_SIZES[t]
        if t in self.s.enums:
            return SCALAR_SIZES[self.s.enums[t]]
        return 0

    def string(self, pos: int, path: str):
        self.need(pos, 4, path, "string length")
        length = self._u32(self.buf, pos)[0]
        self.need(pos + 4, length + 1, path, f"string of {length} bytes")

    def vector(self, elem: str, scalar: int, pos: int, path: str, depth: int):
        self.need(pos, 4, path, "vector length")
        length = self._u32(self.buf, pos)[0]
        size = scalar or 4
        self.need(pos + 4, length * size, path, f"vector of {length} elements")
        if scalar:
            return
        for i in range(length):
            epos = pos + 4 + 4 * i
            target = epos + self._u32(self.buf, epos)[0]
            if target >= self.n:
                self.fail(f"{path}[{i}]", f"offset points to {target}, past the end")
            if elem == "string":
                self.string(target, f"{path}[{i}]")
            else:
                self.table(elem, target, f"{path}[{i}]", depth + 1)


def verify(schema: Schema, buf, size: int | None = None, what: str = "model") -> None:
    """Check every offset, length and union in `buf` against `schema`.

    Raises ModelError on the first problem; returns None for a sound buffer.
    """
    n = len(buf) if size is None else size
    if n < 8:
        raise ModelError(f"{what} is {n} bytes: too short to be a FlatBuffer")
    if schema.identifier:
        ident = bytes(buf[4:8])
        if ident != schema.identifier.encode():
            raise ModelError(f"{what} has file identifier {ident!r}, expected "
                             f"{schema.identifier!r} (is this a .tflite file?)")
    v = _Verifier(schema, buf, n)
    root = v.offset_target(0, schema.root)
    v.table(schema.root, root, schema.root, 0)
