"""Helpers for the CLI tool tests: call a command in-process or as `python -m`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "edgelite" / "data"
FIXTURES = ROOT / "tests" / "fixtures" / "models"
FLOAT_MODEL = str(DATA / "digits_float32.tflite")
INT8_MODEL = str(DATA / "digits_int8.tflite")
SAMPLES = str(DATA / "digits_samples.npz")


def call(module, argv, capsys) -> tuple[int, str, str]:
    """Run `module.main(argv)` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = module.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_module(name: str, *argv, env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", f"edgelite.tools.{name}", *map(str, argv)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout, check=False)


def assert_user_error(code: int, err: str, *words: str) -> None:
    assert code == 1, err
    assert err.startswith("edgelite: error: ") or "\nedgelite: error: " in err, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
