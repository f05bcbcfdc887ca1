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


def test_arena_views_share_the_arena_and_stay_inside_it():
    import pytest
    arena = Arena(256)
    a = arena.view(64, (2, 3), np.float32)
    b = arena.view(64, (24,), np.uint8)
    a[0, 1] = 1.0
    assert b[4:8].view(np.float32)[0] == 1.0 and np.shares_memory(a, arena.buffer)
    assert a.flags.c_contiguous and a.flags.writeable
    assert arena.view(256, (0,), np.float32).size == 0
    assert arena.view(0, (), np.int32).shape == ()
    for offset, shape in ((200, (16,)), (-4, (1,)), (0, (65,))):
        with pytest.raises(ValueError, match="outside the arena"):
            arena.view(offset, shape, np.float32)


def test_arena_over_limit_names_the_largest_tensor(monkeypatch):
    import pytest

    import edgelite
    from edgelite.errors import ModelError
    from edgelite.format.builder import ModelBuilder

    b = ModelBuilder("arena limit")
    x = b.add_input("x", (1, 8), np.float32)
    big = b.add_tensor("big_one", (1, 4096), np.float32)
    b.add_op("TILE", [x, b.add_constant("reps", np.array([1, 512], np.int32))], [big])
    y = b.add_tensor("y", (1, 4096), np.float32)
    b.add_op("RELU", [big], [y])
    b.add_output(y)
    # (each tensor fits the limit; the two live at once at RELU do not)
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", "20000")
    it = edgelite.Interpreter(model_content=b.to_bytes())
    with pytest.raises(ModelError) as e:
        it.allocate_tensors()
    msg = str(e.value)
    assert "EDGELITE_MAX_ARENA_BYTES" in msg
    assert "'big_one' [1, 4096] float32, 16384 bytes, written by operator 0 (TILE)" in msg


def test_an_output_over_the_limit_is_refused_when_its_shape_is_set(monkeypatch):
    import pytest

    import edgelite
    from edgelite.errors import OpError
    from edgelite.format.builder import ModelBuilder

    b = ModelBuilder("tensor limit")
    x = b.add_input("x", (1, 8), np.float32)
    big = b.add_tensor("big_one", (1, 4096), np.float32)
    b.add_op("TILE", [x, b.add_constant("reps", np.array([1, 512], np.int32))], [big])
    b.add_output(big)
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", "4096")
    it = edgelite.Interpreter(model_content=b.to_bytes())
    with pytest.raises(OpError) as e:
        it.allocate_tensors()
    assert str(e.value) == (
        "subgraph 0, operator 0 (TILE), tensor 1 'big_one': output shape [1, 4096] needs "
        "16384 bytes, over the 4096-byte arena limit (set EDGELITE_MAX_ARENA_BYTES to raise it)")


def test_lower_bound_sweep_equals_the_definition():
    """lower_bound (a sweep over start / end events) equals its definition: the largest
    sum of sizes of the buffers live at one step."""
    import random
    for trial in range(200):
        rng = random.Random(trial)
        g = GreedyPlanner()
        for _ in range(rng.randint(1, 40)):
            first = rng.randint(0, 20)
            g.add_buffer(rng.randint(1, 5000), first, first + rng.randint(0, 8))
        steps = {r.first for r in g.reqs} | {r.last for r in g.reqs}
        want = max(sum(r.size for r in g.reqs if r.first <= s <= r.last) for s in steps)
        assert g.lower_bound() == want


def _greedy_reference(reqs) -> tuple[list[int], int]:
    """The greedy placement written plainly: largest first (then earliest, then by
    index), each at the lowest offset no live buffer overlaps."""
    order = sorted(range(len(reqs)), key=lambda i: (-reqs[i].size, reqs[i].first, i))
    placed, offsets, size = [], [0] * len(reqs), 0
    for i in order:
        r = reqs[i]
        offset = 0
        for first, last, start, end in sorted((p for p in placed
                                              if p[0] <= r.last and r.first <= p[1]),
                                             key=lambda p: p[2]):
            if offset + r.size <= start:
                break
            offset = max(offset, end)
        offsets[i] = offset
        placed.append((r.first, r.last, offset, offset + r.size))
        size = max(size, offset + r.size)
    return offsets, size


def test_placement_equals_the_plain_greedy():
    import random
    for trial in range(300):
        rng = random.Random(trial)
        g = GreedyPlanner()
        for _ in range(rng.randint(1, 80)):
            first = rng.randint(0, 30)
            g.add_buffer(rng.choice([64, 128, rng.randint(1, 9000)]), first,
                         first + rng.randint(0, 10))
        offsets, size = _greedy_reference(g.reqs)
        assert g.arena_size() == size
        assert [g.offset(i) for i in range(len(g.reqs))] == offsets


def _reference_offsets(reqs):
    """The planner's rule written plainly (every placed buffer scanned for each new one):
    largest first, each in the lowest gap among buffers live at the same time."""
    order = sorted(range(len(reqs)), key=lambda i: (-reqs[i].size, reqs[i].first, i))
    offsets = [None] * len(reqs)
    placed = []
    for i in order:
        r = reqs[i]
        live = sorted((j for j in placed if reqs[j].first <= r.last and r.first <= reqs[j].last),
                      key=lambda j: offsets[j])
        offset = 0
        for j in live:
            if offset + r.size <= offsets[j]:
                break
            offset = max(offset, offsets[j] + reqs[j].size)
        offsets[i] = offset
        placed.append(i)
    return offsets


def test_planner_places_as_the_plain_rule_does():
    """The planner only looks at buffers sharing a step (steps renumbered densely); the
    offsets are those of scanning every placed buffer, on short, long, repeated-size
    and sparse (large, far apart) lifetimes."""
    rng = np.random.default_rng(1)
    for case in range(300):
        p = GreedyPlanner()
        n = int(rng.integers(1, 60))
        scale = [1, 1000, 10**9][case % 3]
        for _ in range(n):
            a = int(rng.integers(0, 40))
            span = int(rng.integers(0, 40 if rng.random() < 0.2 else 4))
            size = int(rng.choice([64, 128, 1000, int(rng.integers(1, 9000))]))
            p.add_buffer(size, a * scale, (a + span) * scale)
        p.plan()
        assert [r.offset for r in p.reqs] == _reference_offsets(p.reqs)
        assert _overlaps(p) is None
