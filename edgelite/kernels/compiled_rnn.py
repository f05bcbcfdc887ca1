"""Compiled-tier (numba) kernel for the float LSTM time loop.

The numpy LSTM (kernels/rnn.py) does one GEMM for the input projection of every
time step and then, per step, ~20 numpy calls on [batch, n_cell] arrays: on
the small cells real models use (16-256 units) those calls cost ~1 us each
and the step loop is the whole invoke (~30 us per step for a 16-unit cell).
`lstm_steps` runs the whole loop in one call: recurrent product, gates,
cell and hidden state, projection and clipping. It covers the common cell
(full or CIFG gates, optional peephole, optional projection, cell and
projection clipping, TANH cell activation, full recurrent matrices); layer
norm, diagonal recurrent weights and other activations stay on the numpy
loop. Results equal the numpy loop within float32 rounding (summation order
of the recurrent product differs from BLAS; exp/tanh are libm's).

Imported only through `edgelite.kernels.conv.compiled_tier` (numba is never
imported by `import edgelite`). One kernel, ~0.5 s to compile on first use;
cached on disk like compiled.py (`cache=True`), so later processes load it.
"""
# Clamps are written `if v < lo: v = lo` on purpose, as in compiled.py (NaN passes through).
# ruff: noqa: PLR1730
from __future__ import annotations

import numpy as np

from edgelite.kernels.compiled import ENABLED, numba

if ENABLED:
    _jit = numba.njit(cache=True, fastmath=False, nogil=True, boundscheck=False,
                      error_model="numpy")

    @_jit
    def lstm_steps(xproj, w_rec, h, c, out, forward, cifg, peep, has_peep, cell_clip,
                   proj, has_proj, proj_bias, has_pb, proj_clip, acc, m):
        """xproj [T, B, G*C]: input projection + bias of every step (gates i, f, c, o
        in blocks of C; no i with CIFG); w_rec [n_out, G*C]; h [B, n_out] and
        c [B, C] the state, updated in place; out [T, B, n_out]; peep [3, C]
        (i, f, o peepholes); proj [C, n_out]; proj_bias [n_out]; acc [G*C], m [C]
        scratch. Clips are off when <= 0."""
        T, B, GC = xproj.shape
        n_out = w_rec.shape[0]
        C = c.shape[1]
        one = np.float32(1.0)
        gi = 0
        gf = 0 if cifg else C
        gc = gf + C
        go = gc + C
        for step in range(T):
            t = step if forward else T - 1 - step
            for b in range(B):
                xp = xproj[t, b]
                hb = h[b]
                cb = c[b]
                for k in range(GC):
                    acc[k] = np.float32(0.0)
                for j in range(n_out):
                    hv = hb[j]
                    wr = w_rec[j]
                    for k in range(GC):
                        acc[k] += hv * wr[k]
                for k in range(GC):
                    acc[k] += xp[k]
                for k in range(C):
                    cv = cb[k]
                    fv = acc[gf + k]
                    if has_peep:
                        fv += cv * peep[1, k]
                    fv = one / (one + np.exp(-fv))
                    gv = np.tanh(acc[gc + k])
                    if cifg:
                        iv = one - fv
                    else:
                        iv = acc[gi + k]
                        if has_peep:
                            iv += cv * peep[0, k]
                        iv = one / (one + np.exp(-iv))
                    cv = cv * fv + iv * gv
                    if cell_clip > 0:
                        if cv < -cell_clip:
                            cv = -cell_clip
                        if cv > cell_clip:
                            cv = cell_clip
                    cb[k] = cv
                    ov = acc[go + k]
                    if has_peep:
                        ov += cv * peep[2, k]
                    ov = one / (one + np.exp(-ov))
                    m[k] = np.tanh(cv) * ov
                ob = out[t, b]
                if has_proj:
                    for j in range(n_out):
                        hb[j] = proj_bias[j] if has_pb else np.float32(0.0)
                    for k in range(C):
                        mv = m[k]
                        pr = proj[k]
                        for j in range(n_out):
                            hb[j] += mv * pr[j]
                    if proj_clip > 0:
                        for j in range(n_out):
                            v = hb[j]
                            if v < -proj_clip:
                                v = -proj_clip
                            if v > proj_clip:
                                v = proj_clip
                            hb[j] = v
                else:
                    for k in range(C):
                        hb[k] = m[k]
                for j in range(n_out):
                    ob[j] = hb[j]


def warm_up() -> float:
    """Compile (or load from the cache) the kernel for the layouts LSTMs use."""
    if not ENABLED:
        return 0.0
    import time
    t0 = time.perf_counter()
    f = np.float32
    # time-major arrays are contiguous, batch-major ones transposed views: two layouts
    for xproj, out in ((np.zeros((2, 1, 8), f), np.zeros((2, 1, 2), f)),
                       (np.zeros((1, 2, 8), f).transpose(1, 0, 2),
                        np.zeros((1, 2, 2), f).transpose(1, 0, 2))):
        lstm_steps(xproj, np.zeros((2, 8), f), np.zeros((1, 2), f), np.zeros((1, 2), f),
                   out, True, False, np.zeros((3, 2), f), False, f(0.0),
                   np.zeros((2, 2), f), False, np.zeros(2, f), False, f(0.0),
                   np.zeros(8, f), np.zeros(2, f))
    return time.perf_counter() - t0
