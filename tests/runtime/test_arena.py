"""The greedy planner on its own, with real and adversarial lifetimes."""
import numpy as np

from edgelite.runtime.arena import ALIGN, Arena, GreedyPlanner


def _overlaps(p: GreedyPlanner):
    rs = p.reqs
    for i in range(len(rs)):
        for j in range(i + 1, len(rs)):
            a, b = rs[i], rs[j]
            live = a.first <= b.last and b.first <= a.last
            mem = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if live and mem:
                return (i, j)
    return None


def test_chain_reuses_two_buffers():
    p = GreedyPlanner()
    for k in range(10):
        p.add_buffer(1000, k, k + 1)
    assert p.arena_size() == 2 * 1024
    assert p.lower_bound() == 2 * 1024
    assert _overlaps(p) is None


def test_random_lifetimes_never_overlap_and_stay_near_bound():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        p = GreedyPlanner()
        for _ in range(40):
            a = int(rng.integers(0, 30))
            p.add_buffer(int(rng.integers(1, 5000)), a, a + int(rng.integers(0, 5)))
        p.plan()
        assert _overlaps(p) is None
        assert p.arena_size() >= p.lower_bound()
        assert all(r.offset % ALIGN == 0 for r in p.reqs)
        worst = max(worst, p.arena_size() / p.lower_bound())
    assert worst < 1.6   # random graphs: greedy is not optimal, but close


def test_print_plan_draws_each_step():
    p = GreedyPlanner()
    p.add_buffer(100, 0, 1, "a")
    p.add_buffer(100, 1, 2, "b")
    text = p.print_plan(width=20)
    assert text.splitlines()[0].startswith("arena 256 bytes, 2 buffers")
    assert len(text.splitlines()) == 1 + 3


def test_arena_views_are_aligned():
    arena = Arena(4096)
    v = arena.view(128, (4, 8), np.float32)
    assert v.ctypes.data % ALIGN == 0 and v.shape == (4, 8)
