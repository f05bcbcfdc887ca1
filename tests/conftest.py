import pathlib
import sys

# Make `tests.oracle` importable as `oracle` from every test module.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _small_nodes_on_the_numpy_tier(monkeypatch):
    """Small nodes take the compiled tier once numba is loaded (conv.COMPILED_SMALL_NODES),
    so in one test process their tier would depend on what earlier tests imported: here
    they stay on the numpy tier unless a test asks otherwise (the tier tests lower
    conv.COMPILED_MIN_OUTPUT; a test of the rule itself sets the switch back)."""
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_SMALL_NODES", False)
