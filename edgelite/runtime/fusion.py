"""Node fusion at allocate time: chains of builtin ops replaced by one kernel.

TensorFlow's converter lowers `LayerNormalization` to ten nodes (MEAN,
SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL, MUL, MUL, SUB, ADD); LiteRT's
XNNPACK delegate runs them as ten passes over the activations, edgelite's
numpy tier as ~25 numpy calls. The executor asks `find_groups` for such chains
after every node is prepared and, for each one found, runs a single fused
kernel (kernels/fused.py) at the position of the chain's last node; the other
nodes do nothing at invoke and their intermediate tensors get no arena memory.

A chain is fused only when it is exactly the pattern: its intermediate tensors
have no reader outside the chain, are not subgraph outputs or variables, every
node has no fused activation, the normalization runs over the last axis only,
and epsilon / gamma / beta are constants. `experimental_preserve_all_tensors`
or EDGELITE_FUSE=0 turns fusion off (every intermediate is then computed and
readable); reading a fused-away intermediate otherwise raises an error that
says so.

Clamp motion (`clamp_moves`): a float CONV_2D with a fused RELU / RELU6 whose
output only a MAX_POOL_2D reads leaves the clamp to the pool, which applies it
to its 4x smaller output (max and clamp commute). The conv's output tensor then
holds unclamped values; like every intermediate, it is only guaranteed after
invoke with experimental_preserve_all_tensors (which, as EDGELITE_FUSE=0, turns
the motion off).

Rows by parity, for the same pairs: when the conv runs its numpy-tier planar path
(it copies its result out of a wider buffer anyway) and the pool has 2-row windows
of stride 2 over an even height, the conv writes its output rows in parity order,
[2, N, H / 2, W, C], and the pool's row step is the max of the two contiguous halves
(numpy's ufuncs cost ~2.5 us more on strided operands). The conv's output tensor
then holds its values in that order, under the same switch and the same caveat.
"""
from __future__ import annotations

import os

import numpy as np

from edgelite.kernels.base import Kernel

_F32 = np.dtype(np.float32)


def fusion_enabled() -> bool:
    return os.environ.get("EDGELITE_FUSE", "1") not in ("0", "")


class FusedGroup:
    """One fused chain: `nodes` (operator indices) run as `kernel` at max(nodes)."""

    def __init__(self, name: str, nodes: list[int], inputs: list[int], outputs: list[int],
                 interior: list[int], kernel: Kernel | None = None,
                 options: dict | None = None):
        self.name = name
        self.nodes = nodes
        self.inputs = inputs            # tensor indices the kernel reads (x first)
        self.outputs = outputs          # tensor indices it writes
        self.interior = interior        # tensors that are no longer computed
        self.kernel = kernel
        self.options = {} if options is None else options

    def __repr__(self) -> str:
        return (f"FusedGroup({self.name!r}, nodes={self.nodes}, inputs={self.inputs}, "
                f"outputs={self.outputs}, interior={self.interior})")

    @property
    def run_at(self) -> int:
        return max(self.nodes)


class _Graph:
    """Consumers, producers and names of one prepared subgraph."""

    def __init__(self, ex, limit: int):
        self.ex = ex
        self.sg = ex.sg
        self.specs = ex.specs
        self.limit = limit
        self.names = [ex.model.op_name(op) for op in self.sg.operators]
        self.consumers: dict[int, list[int]] = {}
        for oi, op in enumerate(self.sg.operators):
            for t in set(op.inputs):
                if t >= 0:
                    self.consumers.setdefault(t, []).append(oi)
        self.protected = set(self.sg.outputs) | set(self.sg.inputs)

    def op(self, oi: int):
        return self.sg.operators[oi]

    def out(self, oi: int) -> int | None:
        outs = self.op(oi).outputs
        return outs[0] if len(outs) == 1 and outs[0] >= 0 else None

    def readers(self, t: int) -> list[int]:
        return self.consumers.get(t, [])

    def sole_reader(self, t: int, name: str) -> int | None:
        """The one node reading interior tensor t, if it is a `name` node."""
        r = self.readers(t)
        if len(r) != 1 or not self.interior_ok(t) or self.names[r[0]] != name:
            return None
        return r[0]

    def interior_ok(self, t: int) -> bool:
        s = self.specs[t]
        return (t not in self.protected and not s.is_variable and s.data is None
                and not s.dynamic and s.dtype == _F32)

    def plain(self, oi: int) -> bool:
        """A prepared node without a fused activation."""
        if oi >= self.limit or oi in self.ex._folded:
            return False
        o = self.op(oi).options
        return not (o is not None and getattr(o, "fusedActivationFunction", 0))

    def const(self, t: int) -> np.ndarray | None:
        s = self.specs[t] if t >= 0 else None
        return None if s is None or s.data is None else np.asarray(s.data)

    def other(self, oi: int, t: int) -> int | None:
        """The input of binary node oi that is not t (None unless exactly one is t)."""
        ins = list(self.op(oi).inputs)
        if len(ins) != 2 or ins.count(t) != 1:
            return None
        return ins[1] if ins[0] == t else ins[0]


def _last_axis_mean(g: _Graph, oi: int, x: int) -> bool:
    op = g.op(oi)
    if g.names[oi] != "MEAN" or len(op.inputs) != 2 or op.inputs[0] != x or not g.plain(oi):
        return False
    o = op.options
    if not (o is not None and getattr(o, "keepDims", False)):
        return False
    axes = g.const(op.inputs[1])
    rank = len(g.specs[x].shape)
    return (axes is not None and axes.size == 1 and rank >= 1
            and int(axes.reshape(-1)[0]) in (-1, rank - 1))


def _layer_norm(g: _Graph, m1: int) -> FusedGroup | None:
    x = g.op(m1).inputs[0]
    xs = g.specs[x]
    if x < 0 or xs.dtype != _F32 or xs.dynamic or not xs.shape or xs.shape[-1] < 1:
        return None
    if not _last_axis_mean(g, m1, x):
        return None
    c = xs.shape[-1]
    t_m = g.out(m1)
    if t_m is None or not g.interior_ok(t_m):
        return None
    readers = g.readers(t_m)
    if len(readers) != 2:
        return None
    sq = next((r for r in readers if g.names[r] == "SQUARED_DIFFERENCE"), None)
    mm = next((r for r in readers if g.names[r] == "MUL"), None)
    if sq is None or mm is None or not g.plain(sq) or not g.plain(mm) or g.other(sq, t_m) != x:
        return None
    t_d = g.out(sq)
    m2 = g.sole_reader(t_d, "MEAN") if t_d is not None else None
    if m2 is None or not _last_axis_mean(g, m2, t_d):
        return None
    t_v = g.out(m2)
    a = g.sole_reader(t_v, "ADD") if t_v is not None else None
    if a is None or not g.plain(a):
        return None
    eps = g.const(g.other(a, t_v) if g.other(a, t_v) is not None else -1)
    if eps is None or eps.size != 1 or eps.dtype != _F32:
        return None
    t_ve = g.out(a)
    rs = g.sole_reader(t_ve, "RSQRT") if t_ve is not None else None
    if rs is None or not g.plain(rs):
        return None
    t_r = g.out(rs)
    mg = g.sole_reader(t_r, "MUL") if t_r is not None else None
    if mg is None or not g.plain(mg):
        return None
    gamma_t = g.other(mg, t_r)
    gamma = g.const(gamma_t) if gamma_t is not None else None
    if gamma is None or gamma.dtype != _F32 or gamma.size != c or gamma.shape[-1:] != (c,):
        return None
    t_g = g.out(mg)
    if t_g is None or not g.interior_ok(t_g):
        return None
    gr = g.readers(t_g)
    if len(gr) != 2 or mm not in gr:
        return None
    mx = gr[0] if gr[1] == mm else gr[1]
    if g.names[mx] != "MUL" or not g.plain(mx) or g.other(mx, t_g) != x or g.other(mm, t_g) != t_m:
        return None
    t_b = g.out(mm)
    sub = g.sole_reader(t_b, "SUB") if t_b is not None else None
    if sub is None or not g.plain(sub) or list(g.op(sub).inputs)[1] != t_b:
        return None
    beta_t = g.op(sub).inputs[0]
    beta = g.const(beta_t)
    if beta is None or beta.dtype != _F32 or beta.size != c or beta.shape[-1:] != (c,):
        return None
    t_c, t_a = g.out(sub), g.out(mx)
    if t_c is None or t_a is None:
        return None
    add = g.sole_reader(t_a, "ADD")
    if add is None or g.sole_reader(t_c, "ADD") != add or not g.plain(add):
        return None
    if g.other(add, t_a) != t_c:
        return None
    y = g.out(add)
    if y is None or g.specs[y].dtype != _F32 or g.specs[y].shape != xs.shape:
        return None
    nodes = [m1, sq, m2, a, rs, mg, mx, mm, sub, add]
    if len(set(nodes)) != len(nodes) or max(nodes) != add:
        return None
    interior = [t_m, t_d, t_v, t_ve, t_r, t_g, t_b, t_a, t_c]
    if any(not g.interior_ok(t) for t in interior):
        return None
    return FusedGroup("LAYER_NORM", nodes, [x, gamma_t, beta_t], [y], interior,
                      options={"epsilon": float(eps.reshape(-1)[0])})


_MATCHERS = {"MEAN": _layer_norm}


def graph(ex, limit: int) -> _Graph:
    """The consumers / producers view of executor ex's first `limit` nodes, built once
    for clamp_moves and find_groups."""
    return _Graph(ex, limit)


def clamp_moves(ex, limit: int, g: _Graph | None = None) -> list[tuple[int, int, int]]:
    """(CONV_2D node, MAX_POOL_2D node, the tensor between) for each float conv whose
    output only that max pool reads: there its fused activation's clamp can move after
    the pool (a max commutes with a clamp), on a quarter of the values for a 2x2 pool.
    Whether it does is the kernels' call (take_clamp / accepts_clamp)."""
    g = g if g is not None else _Graph(ex, limit)
    moves = []
    for oi in range(limit):
        if g.names[oi] != "CONV_2D" or oi in ex._folded:
            continue
        t = g.out(oi)
        p = g.sole_reader(t, "MAX_POOL_2D") if t is not None else None
        if p is not None and p < limit and p not in ex._folded:
            moves.append((oi, p, t))
    return moves


def find_groups(ex, limit: int, g: _Graph | None = None) -> list[FusedGroup]:
    """Fusable chains among the first `limit` (prepared) nodes of executor `ex`."""
    g = g if g is not None else _Graph(ex, limit)
    groups: list[FusedGroup] = []
    taken: set[int] = set()
    for oi in range(limit):
        matcher = _MATCHERS.get(g.names[oi])
        if matcher is None or oi in taken:
            continue
        group = matcher(g, oi)
        if group is None or taken.intersection(group.nodes):
            continue
        taken.update(group.nodes)
        groups.append(group)
    return groups
