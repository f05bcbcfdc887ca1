"""Hybrid (float activations, int8 weights) and integer recurrent kernels.

Hybrid LSTM / BIDIRECTIONAL_SEQUENCE_LSTM / UNIDIRECTIONAL_SEQUENCE_LSTM follow
lstm_eval.cc EvalHybrid / LstmStepHybrid; RNN / UNIDIRECTIONAL_SEQUENCE_RNN follow
kernel_utils.cc RnnBatchStep (int8 weights); SVDF follows reference/svdf.h
EvalHybridSVDF and EvalIntegerSVDF.

Every hybrid matrix product is the same recipe (portable_tensor_utils): each row of
the float operand is quantized on its own (SymmetricQuantizeFloats, or
AsymmetricQuantizeFloats with asymmetric_quantize_inputs), the int32 dot product with
the int8 weights is exact (float BLAS on integer values), the asymmetric offset is
removed with the weight row sums, and the result accumulates in float32 as
`acc += float(dot) * (row_scale * weight_scale)`, in LiteRT's order (bias, input, aux
input, recurrent, peephole). LiteRT skips a product whose whole operand is zero; a
zero row quantizes to zeros and adds +0, so the skip needs no special case here.

The only float differences left come from the transcendental functions (LiteRT
uses Eigen's logistic and tanh), so hybrid results agree to float rounding.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import ActivationFunctionType as Act
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext, TensorSpec
from edgelite.kernels.common import (
    activation_code,
    apply_activation,
    check_activation,
    scalar0,
)
from edgelite.kernels.common import clip_ufunc as _clip
from edgelite.kernels.quant import arith
from edgelite.kernels.quant.arith import rounding_divide_by_pot
from edgelite.kernels.quant.dynamic import OneRow, asymmetric_rows, symmetric_rows
from edgelite.kernels.quant.fixedpoint16 import (
    I16_MAX,
    I16_MIN,
    c_div,
    inv_sqrt_multiplier_exp,
    table16,
    wrap16,
    wrap32,
)
from edgelite.kernels.quant.qutil import (
    F32,
    F64,
    gemm_float_dtype,
    gemm_float_dtype_for,
)
from edgelite.kernels.registry import register
from edgelite.kernels.rnn import (
    _LN_ROLES,
    BidirectionalSequenceRnn,
    _hidden,
    _input_forget_logistic,
    _lstm_options,
    _roles,
    _sigmoid,
    _variable_state,
)

I8 = np.dtype(np.int8)


def _opt(ctx: PrepareContext, i: int | None) -> TensorSpec | None:
    if i is None or i >= len(ctx.inputs):
        return None
    return ctx.inputs[i]


def _asymmetric(ctx: PrepareContext) -> bool:
    o = ctx.options
    return bool(getattr(o, "asymmetricQuantizeInputs", False)) if o is not None else False


def _weight_scale(ctx: PrepareContext, spec: TensorSpec, what: str) -> float:
    q = spec.quant
    if q is None or q.scale.size == 0:
        raise ctx.error(f"hybrid {what} must be quantized (they have no scale)", spec)
    if q.scale.size != 1:
        raise ctx.error(f"hybrid {ctx.op_name} supports per-tensor weight scales only; "
                        f"{what} have {q.scale.size} scales", spec)
    return float(np.float32(q.scale[0]))


def _int8_const(ctx: PrepareContext, spec: TensorSpec, what: str) -> np.ndarray:
    if spec.dtype != I8:
        raise ctx.error(f"hybrid {ctx.op_name}: {what} have type {spec.dtype}, expected int8",
                        spec)
    if spec.data is None:
        raise ctx.error(f"hybrid {ctx.op_name} needs constant {what}", spec)
    return np.asarray(spec.data, I8)


def _float_const(ctx: PrepareContext, spec: TensorSpec, shape, what: str) -> np.ndarray:
    ctx.check_dtype(spec, np.float32, what)
    ctx.check(spec.shape == tuple(shape), f"{what} must be {list(shape)}, got "
              f"{list(spec.shape)}", spec)
    if spec.data is None:
        raise ctx.error(f"hybrid {ctx.op_name} needs a constant {what}", spec)
    return np.asarray(spec.data, F32)


def _quantize_rows(x2d: np.ndarray, asymmetric: bool):
    """(int8 values as float32 [R, K], float32 scaling factors [R], int64 offsets or None)."""
    if asymmetric:
        return asymmetric_rows(x2d)
    v, sf = symmetric_rows(x2d)
    return v, sf, None


class _HybridMatrix:
    """int8 weight blocks [n_k, K] stacked along the output axis, laid out for GEMM as an
    exact float [K, N] matrix, with per-column float32 scales and int64 row sums."""

    def __init__(self, blocks: list[tuple[np.ndarray, float]]):
        w = np.concatenate([np.asarray(v, np.int64).reshape(v.shape[0], -1)
                            for v, _ in blocks], axis=0)
        self.K = w.shape[1]
        self.dtype = gemm_float_dtype_for(128, w, 1)       # exact for any int8 input
        self.wt = np.ascontiguousarray(w.T, dtype=self.dtype)
        self.row_sums = w.sum(axis=1)
        self.scale = np.concatenate([np.full(v.shape[0], s, F32) for v, s in blocks])
        # one row (batch 1: every time step of a hybrid RNN / LSTM / SVDF): OneRow's few
        # calls, ~3x cheaper than the general functions; its result lives in its
        # buffers until the next call, and every caller hands it to accumulate at once
        self.one_row = {False: OneRow(self.K, False), True: OneRow(self.K, True)} \
            if self.K else None

    def quantize(self, x2d: np.ndarray, asymmetric: bool):
        """_quantize_rows of x2d [R, K] (this matrix's input)."""
        if self.one_row is not None and x2d.shape[0] == 1 and x2d.dtype == F32:
            return self.one_row[asymmetric](x2d)
        return _quantize_rows(x2d, asymmetric)

    def accumulate(self, out: np.ndarray, q) -> None:
        """out [R, N] float32 += float(dot - offset * row_sum) * (sf * weight_scale)."""
        xq, sf, offset = q
        dot = np.matmul(xq.astype(self.dtype, copy=False), self.wt)
        if offset is not None:
            dot = dot.astype(F64)
            dot -= offset[:, None].astype(F64) * self.row_sums
        scale = sf[:, None] * self.scale
        out += dot.astype(F32) * scale


def _mean_stddev_normalize(x: np.ndarray) -> None:
    """PortableMeanStddevNormalization over the last axis, in place (float32)."""
    n = np.float32(x.shape[-1])
    mean = (np.sum(x, axis=-1, keepdims=True, dtype=F32) / n).astype(F32)
    x -= mean
    var = (np.sum(x * x, axis=-1, keepdims=True, dtype=F32) / n).astype(F32)
    var += np.float32(1e-8)
    inv = (np.float32(1) / np.sqrt(var)).astype(F32)
    x *= inv


# ------------------------------------------------------------------------- hybrid LSTM
class _HybridLstmCell:
    """One LSTM direction with int8 weights (gate order input, forget, cell, output;
    CIFG drops the input gate)."""

    def __init__(self, ctx: PrepareContext, idx: dict[str, int], n_input: int,
                 ln_idx: dict[str, int] | None, aux_idx: dict[str, int] | None, n_aux: int,
                 *, allow_diag: bool, activation: int, cell_clip: float, proj_clip: float,
                 asymmetric: bool, name: str = ""):
        s = {r: _opt(ctx, i) for r, i in idx.items()}
        for role in ("i2f", "i2c", "i2o", "r2f", "r2c", "r2o", "bf", "bc", "bo"):
            if s[role] is None:
                raise ctx.error(f"required {name}tensor {role} (input {idx[role]}) is missing")
        ctx.check(cell_clip >= 0, f"cell_clip must be >= 0, got {cell_clip}")
        ctx.check(proj_clip >= 0, f"proj_clip must be >= 0, got {proj_clip}")
        i2o = s["i2o"]
        ctx.check(len(i2o.shape) == 2 and i2o.shape[1] == n_input,
                  f"{name}input-to-output weights must be [n_cell, {n_input}], got "
                  f"{list(i2o.shape)}", i2o)
        C = i2o.shape[0]
        r2o = s["r2o"]
        diag = len(r2o.shape) == 1
        if diag and not allow_diag:
            raise ctx.error("recurrent weights must be 2-D", r2o)
        ctx.check(len(r2o.shape) in (1, 2) and r2o.shape[0] == C,
                  f"{name}recurrent-to-output weights must be [{C}, n_output], got "
                  f"{list(r2o.shape)}", r2o)
        O = C if diag else r2o.shape[1]
        self.use_cifg = s["i2i"] is None
        ctx.check((s["i2i"] is None) == (s["r2i"] is None) == (s["bi"] is None),
                  f"{name}input-gate weights and bias must be all present (LSTM) or all "
                  f"absent (CIFG)")
        gates = ("f", "c", "o") if self.use_cifg else ("i", "f", "c", "o")
        self.gates, G = gates, len(gates)
        self.g = {gname: k for k, gname in enumerate(gates)}
        in_blocks, rec_blocks = [], []
        diag_w = np.zeros((G, C), F32)
        for k, gname in enumerate(gates):
            t = s["i2" + gname]
            w = _int8_const(ctx, t, f"{name}input-to-{gname} weights")
            ctx.check(t.shape == (C, n_input), f"{name}input weights must be [{C}, {n_input}],"
                      f" got {list(t.shape)}", t)
            in_blocks.append((w, _weight_scale(ctx, t, "input weights")))
            t = s["r2" + gname]
            want = (C,) if diag else (C, O)
            ctx.check(t.shape == want, f"{name}recurrent weights must be {list(want)}, got "
                      f"{list(t.shape)}", t)
            if diag:
                # LiteRT reads diagonal recurrent weights as float even in a hybrid op.
                diag_w[k] = _float_const(ctx, t, want, f"{name}diagonal recurrent weights")
            else:
                w = _int8_const(ctx, t, f"{name}recurrent-to-{gname} weights")
                rec_blocks.append((w, _weight_scale(ctx, t, "recurrent weights")))
        self.w_in = _HybridMatrix(in_blocks)
        self.w_rec = None if diag else _HybridMatrix(rec_blocks)
        self.diag_w = diag_w if diag else None
        self.w_aux = None
        if aux_idx is not None:
            blocks = []
            for gname in gates:
                t = _opt(ctx, aux_idx["a2" + gname])
                if t is None:
                    raise ctx.error(f"{name}aux input-to-{gname} weights are missing")
                ctx.check(t.shape == (C, n_aux), f"{name}aux weights must be [{C}, {n_aux}], "
                          f"got {list(t.shape)}", t)
                blocks.append((_int8_const(ctx, t, f"{name}aux weights"),
                               _weight_scale(ctx, t, "aux weights")))
            if self.use_cifg:
                ctx.check(_opt(ctx, aux_idx["a2i"]) is None,
                          "aux input-gate weights must be absent with CIFG")
            self.w_aux = _HybridMatrix(blocks)
        peep = [s["c2i"], s["c2f"], s["c2o"]]
        self.use_peephole = any(p is not None for p in peep)
        self.peep = np.zeros((3, C), F32)
        if self.use_peephole:
            need = ("c2f", "c2o") if self.use_cifg else ("c2i", "c2f", "c2o")
            for k, role in enumerate(("c2i", "c2f", "c2o")):
                t = s[role]
                if t is None:
                    ctx.check(role not in need, f"{name}peephole weights must be all present "
                              f"or all absent")
                    continue
                ctx.check(t.shape == (C,), f"{name}{role} weights must be [{C}], got "
                          f"{list(t.shape)}", t)
                w = _int8_const(ctx, t, f"{name}peephole weights")
                sc = np.float32(_weight_scale(ctx, t, "peephole weights"))
                self.peep[k] = sc * w.astype(F32)      # VectorScalarMultiply
        self.bias = np.zeros((G, C), F32)
        for k, gname in enumerate(gates):
            self.bias[k] = _float_const(ctx, s["b" + gname], (C,), f"{name}{gname} gate bias")
        self.use_ln = False
        if ln_idx is not None and _opt(ctx, ln_idx["ln_f"]) is not None:
            self.use_ln = True
            self.ln = np.zeros((G, C), F32)
            for k, gname in enumerate(gates):
                t = _opt(ctx, ln_idx["ln_" + gname])
                if t is None:
                    raise ctx.error(f"layer-norm coefficients ln_{gname} are missing")
                self.ln[k] = _float_const(ctx, t, (C,), f"ln_{gname} coefficients")
        pw, pb = s["pw"], s["pb"]
        self.proj = None
        if pw is not None:
            ctx.check(pw.shape == (O, C), f"{name}projection weights must be [{O}, {C}], got "
                      f"{list(pw.shape)}", pw)
            self.proj = _HybridMatrix([(_int8_const(ctx, pw, "projection weights"),
                                        _weight_scale(ctx, pw, "projection weights"))])
        else:
            ctx.check(O == C, f"without projection n_output ({O}) must equal n_cell ({C})")
        self.proj_bias = None
        if pb is not None:
            ctx.check(pw is not None, f"{name}projection bias given without projection weights")
            self.proj_bias = _float_const(ctx, pb, (O,), "projection bias")
        self.n_cell, self.n_output, self.diag = C, O, diag
        self.GC = G * C
        self.activation, self.cell_clip, self.proj_clip = activation, cell_clip, proj_clip
        self.asymmetric = asymmetric

    def run(self, x2d: np.ndarray, aux2d: np.ndarray | None, T: int, B: int, time_major: bool,
            h: np.ndarray, c: np.ndarray, out_tb: np.ndarray, forward: bool) -> None:
        """x2d / aux2d: all input rows in memory order; h [B, O], c [B, C] updated in place;
        out_tb: [T, B, O] view of the output."""
        G, C = len(self.gates), self.n_cell
        xproj = np.zeros((x2d.shape[0], self.GC), F32)
        if not self.use_ln:
            xproj += self.bias.reshape(-1)
        self.w_in.accumulate(xproj, self.w_in.quantize(x2d, self.asymmetric))
        if self.w_aux is not None:
            self.w_aux.accumulate(xproj, self.w_aux.quantize(aux2d, self.asymmetric))
        xproj_tb = (xproj.reshape(T, B, self.GC) if time_major
                    else xproj.reshape(B, T, self.GC).transpose(1, 0, 2))
        gi = self.g.get("i")
        gf, gc, go = self.g["f"], self.g["c"], self.g["o"]
        act = self.activation
        acc = np.empty((B, self.GC), F32)
        accv = acc.reshape(B, G, C)
        tmp = np.empty((B, C), F32)
        # i and f side by side (gate order i, f, c, o): one logistic for both
        if_gates = accv[:, gi:gf + 1] if gi is not None and gf == gi + 1 else None
        for step in range(T):
            t = step if forward else T - 1 - step
            np.copyto(acc, xproj_tb[t])
            if self.diag:
                accv += self.diag_w * h[:, None, :]
            else:
                self.w_rec.accumulate(acc, self.w_rec.quantize(h, self.asymmetric))
            if self.use_peephole:
                if gi is not None:
                    accv[:, gi] += self.peep[0] * c
                accv[:, gf] += self.peep[1] * c
            for k in (gi, gf, gc):
                if k is not None and self.use_ln:
                    _mean_stddev_normalize(accv[:, k])
                    accv[:, k] *= self.ln[k]
                    accv[:, k] += self.bias[k]
            _input_forget_logistic(accv, gi, gf, if_gates, _sigmoid)
            apply_activation(accv[:, gc], act)
            c *= accv[:, gf]
            if gi is None:
                np.subtract(np.float32(1), accv[:, gf], out=tmp)
                tmp *= accv[:, gc]
            else:
                np.multiply(accv[:, gc], accv[:, gi], out=tmp)
            c += tmp
            if self.cell_clip > 0:
                _clip(c, scalar0(-self.cell_clip, np.float32),
                      scalar0(self.cell_clip, np.float32), out=c)
            if self.use_peephole:
                accv[:, go] += self.peep[2] * c
            if self.use_ln:
                _mean_stddev_normalize(accv[:, go])
                accv[:, go] *= self.ln[go]
                accv[:, go] += self.bias[go]
            _sigmoid(accv[:, go])
            # (without a projection the product goes straight into h)
            _hidden(c, accv[:, go], accv[:, gc], act, tmp, tmp if self.proj is not None else h)
            if self.proj is not None:
                h[...] = 0 if self.proj_bias is None else self.proj_bias
                self.proj.accumulate(h, self.proj.quantize(tmp, self.asymmetric))
                if self.proj_clip > 0:
                    _clip(h, scalar0(-self.proj_clip, np.float32),
                          scalar0(self.proj_clip, np.float32), out=h)
            np.copyto(out_tb[t], h)


def _check_hybrid_input(ctx: PrepareContext, spec: TensorSpec) -> None:
    ctx.check_dtype(spec, np.float32, "input")


@register("UNIDIRECTIONAL_SEQUENCE_LSTM", versions=(1, 4), variant="hybrid")
class HybridUnidirectionalSequenceLstm(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) in (20, 24), f"expects 20 or 24 inputs, got {len(ctx.inputs)}")
        ctx.check_arity((20, 24), 1)
        x = ctx.input(0)
        _check_hybrid_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got shape {list(x.shape)}", x)
        act, cell_clip, proj_clip, time_major = _lstm_options(ctx)
        T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        ln_idx = dict(zip(_LN_ROLES, range(20, 24))) if len(ctx.inputs) == 24 else None
        self.cell = _HybridLstmCell(ctx, _roles(1), x.shape[2], ln_idx, None, 0,
                                    allow_diag=True, activation=act, cell_clip=cell_clip,
                                    proj_clip=proj_clip, asymmetric=_asymmetric(ctx))
        _variable_state(ctx, 18, B * self.cell.n_output, "output state")
        _variable_state(ctx, 19, B * self.cell.n_cell, "cell state")
        ctx.set_output(0, x.shape[:2] + (self.cell.n_output,), np.float32)
        self.time_major, self.T, self.B = time_major, T, B

    def invoke(self, ictx: InvokeContext) -> None:
        cell, T, B = self.cell, self.T, self.B
        x = ictx.inputs[0]
        h = ictx.inputs[18].reshape(B, cell.n_output)
        c = ictx.inputs[19].reshape(B, cell.n_cell)
        out = ictx.outputs[0]
        out_tb = out if self.time_major else out.transpose(1, 0, 2)
        cell.run(x.reshape(-1, x.shape[-1]), None, T, B, self.time_major, h, c, out_tb, True)


@register("LSTM", versions=(1, 4), variant="hybrid")
class HybridLstm(Kernel):
    """LSTM full kernel (one step) with int8 weights."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(ctx.options is not None, "LSTM needs LSTMOptions")
        if int(getattr(ctx.options, "kernelType", 0) or 0) != 0:
            raise ctx.error("the basic LSTM kernel has no hybrid (int8-weight) variant")
        ctx.check(len(ctx.inputs) in (20, 24),
                  f"the full LSTM kernel expects 20 or 24 inputs, got {len(ctx.inputs)}")
        ctx.check_arity((20, 24), 1)
        x = ctx.input(0)
        _check_hybrid_input(ctx, x)
        ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, n_input], got "
                  f"{list(x.shape)}", x)
        act, cell_clip, proj_clip, _ = _lstm_options(ctx)
        B = x.shape[0]
        ln_idx = dict(zip(_LN_ROLES, range(20, 24))) if len(ctx.inputs) == 24 else None
        self.cell = _HybridLstmCell(ctx, _roles(1), x.shape[1], ln_idx, None, 0,
                                    allow_diag=False, activation=act, cell_clip=cell_clip,
                                    proj_clip=proj_clip, asymmetric=_asymmetric(ctx))
        _variable_state(ctx, 18, B * self.cell.n_output, "output state")
        _variable_state(ctx, 19, B * self.cell.n_cell, "cell state")
        ctx.set_output(0, (B, self.cell.n_output), np.float32)
        self.B = B

    def invoke(self, ictx: InvokeContext) -> None:
        cell, B = self.cell, self.B
        h = ictx.inputs[18].reshape(B, cell.n_output)
        c = ictx.inputs[19].reshape(B, cell.n_cell)
        cell.run(ictx.inputs[0], None, 1, B, True, h, c,
                 ictx.outputs[0].reshape(1, B, -1), True)


@register("BIDIRECTIONAL_SEQUENCE_LSTM", versions=(1, 3), variant="hybrid")
class HybridBidirectionalSequenceLstm(Kernel):
    """Forward and backward int8-weight LSTMs (48 inputs, see rnn.py's float kernel)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) == 48, f"expects 48 inputs, got {len(ctx.inputs)}")
        o = ctx.options
        merge = bool(getattr(o, "mergeOutputs", False)) if o is not None else False
        ctx.check_arity(48, 1 if merge else 2)
        x = ctx.input(0)
        _check_hybrid_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got shape {list(x.shape)}", x)
        act, cell_clip, proj_clip, time_major = _lstm_options(ctx)
        T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        n_input = x.shape[2]
        aux = _opt(ctx, 39)
        present = [_opt(ctx, i) is not None for i in (41, 42, 43, 45, 46, 47)]
        ctx.check(all(present) or not any(present),
                  "aux input weights must be all present or all absent")
        use_aux_weights = all(present)
        n_aux = 0
        if aux is not None:
            ctx.check_dtype(aux, np.float32, "aux input")
            ctx.check(len(aux.shape) == 3 and aux.shape[:2] == x.shape[:2],
                      f"aux input must be [{x.shape[0]}, {x.shape[1]}, n], got "
                      f"{list(aux.shape)}", aux)
            n_aux = aux.shape[2]
            if not use_aux_weights:
                ctx.check(n_aux == n_input, f"aux input used as the backward input must have "
                          f"{n_input} features, got {n_aux}", aux)
        elif use_aux_weights:
            raise ctx.error("aux input weights given without an aux input (input 39)")
        self.aux_mode = "cross" if use_aux_weights else ("bw_input" if aux is not None else None)
        kw = {"allow_diag": False, "activation": act, "cell_clip": cell_clip,
              "proj_clip": proj_clip, "asymmetric": _asymmetric(ctx)}
        fw_aux = dict(zip(("a2i", "a2f", "a2c", "a2o"), range(40, 44)))
        bw_aux = dict(zip(("a2i", "a2f", "a2c", "a2o"), range(44, 48)))
        self.fw = _HybridLstmCell(ctx, _roles(1), n_input, None,
                                  fw_aux if use_aux_weights else None, n_aux, name="forward ",
                                  **kw)
        self.bw = _HybridLstmCell(ctx, _roles(18), n_input, None,
                                  bw_aux if use_aux_weights else None, n_aux, name="backward ",
                                  **kw)
        ctx.check(self.fw.n_cell == self.bw.n_cell and self.fw.n_output == self.bw.n_output,
                  "forward and backward cells must have the same n_cell and n_output")
        _variable_state(ctx, 35, B * self.fw.n_output, "forward output state")
        _variable_state(ctx, 36, B * self.fw.n_cell, "forward cell state")
        _variable_state(ctx, 37, B * self.bw.n_output, "backward output state")
        _variable_state(ctx, 38, B * self.bw.n_cell, "backward cell state")
        nf, nb = self.fw.n_output, self.bw.n_output
        lead = (T, B) if time_major else (B, T)
        if merge:
            ctx.set_output(0, lead + (nf + nb,), np.float32)
        else:
            ctx.set_output(0, lead + (nf,), np.float32)
            ctx.set_output(1, lead + (nb,), np.float32)
        self.merge, self.time_major, self.T, self.B = merge, time_major, T, B

    def invoke(self, ictx: InvokeContext) -> None:
        ins = ictx.inputs
        T, B, tm = self.T, self.B, self.time_major
        x, aux = ins[0], ins[39]

        def tb(a):
            return a if tm else a.transpose(1, 0, 2)

        x2d = x.reshape(-1, x.shape[-1])
        aux2d = None if aux is None else aux.reshape(-1, aux.shape[-1])
        if self.aux_mode == "cross":
            fw_in, bw_in, fw_aux, bw_aux = x2d, x2d, aux2d, aux2d
        elif self.aux_mode == "bw_input":
            fw_in, bw_in, fw_aux, bw_aux = x2d, aux2d, None, None
        else:
            fw_in, bw_in, fw_aux, bw_aux = x2d, x2d, None, None
        out0 = ictx.outputs[0]
        nf = self.fw.n_output
        if self.merge:
            fw_out, bw_out = tb(out0)[:, :, :nf], tb(out0)[:, :, nf:]
        else:
            fw_out, bw_out = tb(out0), tb(ictx.outputs[1])
        for cell, xin, xaux, out_tb, hi, ci, fwd in (
                (self.fw, fw_in, fw_aux, fw_out, 35, 36, True),
                (self.bw, bw_in, bw_aux, bw_out, 37, 38, False)):
            h = ins[hi].reshape(B, cell.n_output)
            c = ins[ci].reshape(B, cell.n_cell)
            cell.run(xin, xaux, T, B, tm, h, c, out_tb, fwd)


# ------------------------------------------------------------------------- hybrid RNN
def _hybrid_rnn_prepare(ctx: PrepareContext, n_feat: int, batch: int):
    w, r, b, h = (ctx.input(i) for i in (1, 2, 3, 4))
    wq = _int8_const(ctx, w, "weights")
    ctx.check(len(w.shape) == 2 and w.shape[1] == n_feat,
              f"weights must be [units, {n_feat}], got {list(w.shape)}", w)
    U = w.shape[0]
    ctx.check(r.shape == (U, U), f"recurrent weights must be [{U}, {U}], got {list(r.shape)}", r)
    rq = _int8_const(ctx, r, "recurrent weights")
    bias = _float_const(ctx, b, (U,), "bias")
    ctx.check_dtype(h, np.float32, "hidden state")
    ctx.check(h.shape == (batch, U), f"hidden state must be [{batch}, {U}], got "
              f"{list(h.shape)}", h)
    ctx.check(h.data is None, "hidden state must not be a constant (the op updates it)", h)
    act = activation_code(ctx.options)
    check_activation(ctx, act)
    w_in = _HybridMatrix([(wq, _weight_scale(ctx, w, "weights"))])
    w_rec = _HybridMatrix([(rq, _weight_scale(ctx, r, "recurrent weights"))])
    return U, act, w_in, w_rec, bias


@register("RNN", versions=(1, 3), variant="hybrid")
class HybridRnn(Kernel):
    """h = activation(bias + x W^T + h R^T) with int8 W, R (RnnBatchStep)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x = ctx.input(0)
        _check_hybrid_input(ctx, x)
        ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, input], got {list(x.shape)}", x)
        B, n_in = x.shape
        self.U, self.act, self.w_in, self.w_rec, self.bias = _hybrid_rnn_prepare(ctx, n_in, B)
        ctx.set_output(0, (B, self.U), np.float32)
        self.asym = _asymmetric(ctx)

    def invoke(self, ictx: InvokeContext) -> None:
        x, h = ictx.inputs[0], ictx.inputs[4]
        out = ictx.outputs[0]
        out[...] = self.bias
        self.w_in.accumulate(out, self.w_in.quantize(x, self.asym))
        self.w_rec.accumulate(out, self.w_rec.quantize(h, self.asym))
        apply_activation(out, self.act)
        np.copyto(h, out)


@register("UNIDIRECTIONAL_SEQUENCE_RNN", versions=(1, 3), variant="hybrid")
class HybridUnidirectionalSequenceRnn(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x = ctx.input(0)
        _check_hybrid_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got {list(x.shape)}", x)
        o = ctx.options
        self.time_major = bool(getattr(o, "timeMajor", False)) if o is not None else False
        T, B = (x.shape[0], x.shape[1]) if self.time_major else (x.shape[1], x.shape[0])
        self.U, self.act, self.w_in, self.w_rec, self.bias = _hybrid_rnn_prepare(
            ctx, x.shape[2], B)
        ctx.set_output(0, x.shape[:2] + (self.U,), np.float32)
        self.T, self.B = T, B
        self.asym = _asymmetric(ctx)

    def invoke(self, ictx: InvokeContext) -> None:
        x, h = ictx.inputs[0], ictx.inputs[4]
        out = ictx.outputs[0]
        out2d = out.reshape(-1, self.U)
        out2d[...] = self.bias
        # The input products of every step at once (they do not depend on the state).
        self.w_in.accumulate(out2d, self.w_in.quantize(x.reshape(-1, x.shape[-1]), self.asym))
        out_tb = out if self.time_major else out.transpose(1, 0, 2)
        for t in range(self.T):
            o = out_tb[t]
            self.w_rec.accumulate(o, self.w_rec.quantize(h, self.asym))
            apply_activation(o, self.act)
            np.copyto(h, o)


@register("BIDIRECTIONAL_SEQUENCE_RNN", versions=(1, 3), variant="hybrid")
class HybridBidirectionalSequenceRnn(BidirectionalSequenceRnn):
    """int8 weights, float input and states: per direction bias + input, aux and
    recurrent products accumulated in that order, each from rows quantized on the
    fly (RnnBatchStep, hybrid), as LiteRT's EvalHybrid."""

    def prepare(self, ctx: PrepareContext) -> None:
        self.asym = _asymmetric(ctx)
        super().prepare(ctx)

    def _check_input(self, ctx: PrepareContext, x: TensorSpec) -> None:
        _check_hybrid_input(ctx, x)

    def _cell(self, ctx, base, aw, name, U, I, A) -> dict:
        w, r = ctx.input(base), ctx.input(base + 1)
        cell = {
            "w_in": _HybridMatrix([(_int8_const(ctx, w, f"{name} weights"),
                                    _weight_scale(ctx, w, f"{name} weights"))]),
            "w_rec": _HybridMatrix([(_int8_const(ctx, r, f"{name} recurrent weights"),
                                     _weight_scale(ctx, r, f"{name} recurrent weights"))]),
            "bias": _float_const(ctx, ctx.input(base + 2), (U,), f"{name} bias")}
        if aw is not None:
            a = ctx.input(aw)
            cell["w_aux"] = _HybridMatrix([(_int8_const(ctx, a, f"{name} aux weights"),
                                            _weight_scale(ctx, a, f"{name} aux weights"))])
        return cell

    def _project(self, ictx, cell, src2d, aux2d, xproj) -> None:
        xproj[...] = cell["bias"]
        cell["w_in"].accumulate(xproj, cell["w_in"].quantize(src2d, self.asym))
        if "w_aux" in cell:
            cell["w_aux"].accumulate(xproj, cell["w_aux"].quantize(aux2d, self.asym))

    def _step(self, cell, h, xproj_t, o, tmp) -> None:
        np.copyto(o, xproj_t)
        cell["w_rec"].accumulate(o, cell["w_rec"].quantize(h, self.asym))
        apply_activation(o, self.act)
        np.copyto(h, o)


# ------------------------------------------------------------------------- SVDF
def _svdf_shapes(ctx: PrepareContext):
    ctx.check_arity(5, 1)
    x, wf, wt = ctx.input(0), ctx.input(1), ctx.input(2)
    bias, state = ctx.inputs[3], ctx.input(4)
    rank = int(getattr(ctx.options, "rank", 0) or 0) if ctx.options is not None else 0
    ctx.check(rank > 0, f"rank must be positive, got {rank}")
    ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, input], got {list(x.shape)}", x)
    B, n_in = x.shape
    ctx.check(len(wf.shape) == 2 and wf.shape[1] == n_in,
              f"feature weights must be [filters, {n_in}], got {list(wf.shape)}", wf)
    F = wf.shape[0]
    ctx.check(F % rank == 0, f"num_filters ({F}) must be a multiple of rank ({rank})")
    ctx.check(len(wt.shape) == 2 and wt.shape[0] == F,
              f"time weights must be [{F}, memory_size], got {list(wt.shape)}", wt)
    M = wt.shape[1]
    ctx.check(M >= 1, "memory_size must be at least 1", wt)
    U = F // rank
    if bias is not None:
        ctx.check(bias.shape == (U,), f"bias must be [{U}], got {list(bias.shape)}", bias)
    ctx.check(state.is_variable, "state (input 4) must be a variable tensor", state)
    ctx.check(state.shape == (B, M * F), f"state must be [{B}, {M * F}], got "
              f"{list(state.shape)}", state)
    return x, wf, wt, bias, state, B, F, M, U, rank


@register("SVDF", versions=(1, 4), variant="hybrid")
class HybridSvdf(Kernel):
    """EvalHybridSVDF: int8 feature weights (input quantized per batch row); int8 time
    weights dequantized to float once."""

    def prepare(self, ctx: PrepareContext) -> None:
        x, wf, wt, bias, state, B, F, M, U, rank = _svdf_shapes(ctx)
        _check_hybrid_input(ctx, x)
        wfq = _int8_const(ctx, wf, "feature weights")
        wtq = _int8_const(ctx, wt, "time weights")
        wt_scale = np.float32(_weight_scale(ctx, wt, "time weights"))
        self.wf = _HybridMatrix([(wfq, _weight_scale(ctx, wf, "feature weights"))])
        self.wt = (wtq.astype(F32) * wt_scale).astype(F32)
        self.bias = None if bias is None else _float_const(ctx, bias, (U,), "bias")
        ctx.check_dtype(state, np.float32, "state")
        self.act = activation_code(ctx.options)
        check_activation(ctx, self.act)
        ctx.set_output(0, (B, U), np.float32)
        self.B, self.F, self.M, self.U, self.rank = B, F, M, U, rank
        self.asym = _asymmetric(ctx)
        self.feat = np.zeros((B, F), F32)

    def invoke(self, ictx: InvokeContext) -> None:
        B, F, M = self.B, self.F, self.M
        state = ictx.inputs[4].reshape(B, F, M)
        if M > 1:
            state[:, :, :-1] = state[:, :, 1:].copy()
        feat = self.feat
        feat.fill(0)
        self.wf.accumulate(feat, self.wf.quantize(ictx.inputs[0], self.asym))
        state[:, :, M - 1] = feat
        np.einsum("bfm,fm->bf", state, self.wt, out=feat)
        out = ictx.outputs[0]
        np.sum(feat.reshape(B, self.U, self.rank), axis=2, out=out)
        if self.bias is not None:
            out += self.bias
        apply_activation(out, self.act)


@register("SVDF", versions=(1, 4), variant="quantized")
class IntegerSvdf(Kernel):
    """EvalIntegerSVDF: int8 input/output, int8 feature weights, int16 time weights and
    state, int32 bias. LiteRT insists on fused RELU but never applies it: the output is
    only clamped to int8 (matched here)."""

    def prepare(self, ctx: PrepareContext) -> None:
        x, wf, wt, bias, state, B, F, M, U, rank = _svdf_shapes(ctx)
        out = ctx.outputs[0]
        ctx.check_dtype(x, np.int8, "input")
        ctx.check_dtype(wf, np.int8, "feature weights")
        ctx.check_dtype(wt, np.int16, "time weights")
        ctx.check_dtype(state, np.int16, "state")
        ctx.check_dtype(out, np.int8, "output")
        if bias is not None:
            ctx.check_dtype(bias, np.int32, "bias")
        act = activation_code(ctx.options)
        ctx.check(act == Act.RELU, "integer SVDF supports only fused activation RELU (as "
                  "LiteRT)")
        for spec, what in ((x, "input"), (wf, "feature weights"), (wt, "time weights"),
                           (state, "state"), (out, "output")):
            if spec.quant is None or spec.quant.scale.size == 0:
                raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
        for spec, what in ((wf, "feature weights"), (wt, "time weights")):
            if spec.data is None:
                raise ctx.error(f"integer SVDF needs constant {what}", spec)
        if bias is not None and bias.data is None:
            raise ctx.error("integer SVDF needs a constant bias", bias)
        f32 = np.float32
        # float products as LiteRT computes them, then widened to double
        s1 = float(f32(f32(x.quant.scale[0]) * f32(wf.quant.scale[0])) / f32(state.quant.scale[0]))
        s2 = float(f32(f32(state.quant.scale[0]) * f32(wt.quant.scale[0])) / f32(out.quant.scale[0]))
        self.m1, self.sh1 = arith.quantize_multiplier(s1)
        self.m2, self.sh2 = arith.quantize_multiplier(s2)
        self.in_zp = x.zero_point
        self.out_zp = out.zero_point
        w = np.asarray(wf.data, np.int64)
        self.gemm_dtype = gemm_float_dtype(x.shape[1], 255, 128)
        self.wf_t = np.ascontiguousarray(w.T.astype(self.gemm_dtype))
        self.wt = np.asarray(wt.data, np.int64)
        self.bias = None if bias is None else np.asarray(bias.data, np.int64)
        ctx.set_output(0, (B, U), np.int8)
        self.B, self.F, self.M, self.U, self.rank = B, F, M, U, rank

    def invoke(self, ictx: InvokeContext) -> None:
        B, F, M = self.B, self.F, self.M
        state = ictx.inputs[4].reshape(B, F, M)
        if M > 1:
            state[:, :, :-1] = state[:, :, 1:].copy()
        xs = ictx.inputs[0].astype(self.gemm_dtype) - self.gemm_dtype.type(self.in_zp)
        dot = np.matmul(xs, self.wf_t).astype(np.int64)
        feat = arith.multiply_by_quantized_multiplier(dot, self.m1, self.sh1)
        state[:, :, M - 1] = np.clip(feat, -32768, 32767)
        acc = np.einsum("bfm,fm->bf", state.astype(np.int64), self.wt)
        acc = acc.reshape(B, self.U, self.rank).sum(axis=2)
        if self.bias is not None:
            acc += self.bias
        r = arith.multiply_by_quantized_multiplier(wrap32(acc), self.m2, self.sh2)
        r += self.out_zp
        np.copyto(ictx.outputs[0], np.clip(r, -128, 127), casting="unsafe")


# ------------------------------------------------------------------------- integer LSTM
def _scale_of(ctx: PrepareContext, spec: TensorSpec, what: str) -> np.float32:
    q = spec.quant
    if q is None or q.scale.size == 0:
        raise ctx.error(f"{what} must be quantized (it has no scale)", spec)
    return np.float32(q.scale[0])


def _checked_log2(x: float) -> tuple[bool, int]:
    """CheckedLog2: (x is a power of two within 1e-3 in the exponent, rounded exponent)."""
    f = np.float32
    lg = f(f(np.log(f(x))) * f(f(1.0) / f(np.log(f(2.0)))))
    r = f(np.sign(lg) * np.floor(np.abs(lg) + f(0.5)))
    return bool(abs(f(lg - r)) < f(1e-3)), int(r)


def _qm(real) -> tuple[int, int]:
    return arith.quantize_multiplier(float(real))


class _IntegerLstmCell:
    """LSTM with int8 activations/weights, int16 cell state and gates (lstm_eval.cc
    EvalInteger8x8_16, the variant with 5 intermediate tensors)."""

    def __init__(self, ctx: PrepareContext, idx: dict[str, int], x: TensorSpec,
                 ln_idx: dict[str, int] | None, h_spec: TensorSpec, c_spec: TensorSpec,
                 out_spec: TensorSpec, activation: int, cell_clip: float, proj_clip: float,
                 time_major: bool):
        f32 = np.float32
        s = {r: _opt(ctx, i) for r, i in idx.items()}
        for role in ("i2f", "i2c", "i2o", "r2f", "r2c", "r2o", "bf", "bc", "bo"):
            if s[role] is None:
                raise ctx.error(f"required tensor {role} (input {idx[role]}) is missing")
        n_input = x.shape[-1]
        i2o, r2o = s["i2o"], s["r2o"]
        ctx.check(len(i2o.shape) == 2 and i2o.shape[1] == n_input,
                  f"input-to-output weights must be [n_cell, {n_input}], got "
                  f"{list(i2o.shape)}", i2o)
        C = i2o.shape[0]
        ctx.check(len(r2o.shape) == 2 and r2o.shape[0] == C,
                  f"recurrent-to-output weights must be [{C}, n_output], got "
                  f"{list(r2o.shape)}", r2o)
        O = r2o.shape[1]
        if activation != Act.TANH:
            raise ctx.error("integer LSTM always uses tanh; the fused activation must be TANH")
        if len(ctx.intermediates) != 5:
            raise ctx.error(f"integer LSTM needs 5 intermediate tensors (the 8x8_16 "
                            f"kernel), got {len(ctx.intermediates)} (the 12-intermediate "
                            f"8x8_8 kernel is not implemented)")
        self.use_cifg = s["i2i"] is None
        gates = ("f", "c", "o") if self.use_cifg else ("i", "f", "c", "o")
        self.gates = gates
        self.g = {gname: k for k, gname in enumerate(gates)}
        G = len(gates)
        self.use_ln = ln_idx is not None and _opt(ctx, ln_idx["ln_f"]) is not None
        # intermediate scales: Q3.12 without layer norm, else the calibrated tensors
        inter = []
        for k in range(4):
            t = ctx.intermediates[k]
            inter.append(_scale_of(ctx, t, f"intermediate {k}") if self.use_ln
                         else f32(2.0 ** -12))
        hidden = ctx.intermediates[4]
        inter.append(_scale_of(ctx, hidden, "intermediate 4 (hidden)"))
        self.hidden_zp = hidden.zero_point
        gate_inter = {"i": inter[0], "f": inter[1], "c": inter[2], "o": inter[3]}
        in_scale = _scale_of(ctx, x, "input")
        h_scale = _scale_of(ctx, h_spec, "output state")
        self.in_zp, self.h_zp = x.zero_point, h_spec.zero_point
        ok, cell_scale = _checked_log2(float(_scale_of(ctx, c_spec, "cell state")))
        ctx.check(ok and cell_scale <= -9, "the cell state scale must be a power of two "
                  "<= 2^-9", c_spec)
        ctx.check(15 + cell_scale >= 0, "the cell state scale must be >= 2^-15", c_spec)
        self.cell_scale = cell_scale
        ctx.check_dtype(h_spec, np.int8, "output state")
        ctx.check_dtype(c_spec, np.int16, "cell state")

        def weights(role, shape, dtype, what):
            t = s[role]
            ctx.check_dtype(t, dtype, what)
            ctx.check(t.shape == shape, f"{what} must be {list(shape)}, got {list(t.shape)}", t)
            if t.data is None:
                raise ctx.error(f"integer LSTM needs constant {what}", t)
            return np.asarray(t.data, np.int64), _scale_of(ctx, t, what)

        w_in, w_rec, m_in, m_rec = [], [], [], []
        bias_in, bias_rec = [], []
        self.ln_w = np.zeros((G, C), np.int64)
        self.ln_bias = np.zeros((G, C), np.int64)
        self.ln_m = np.zeros(G, np.int64)
        self.ln_s = np.zeros(G, np.int64)
        self.ln_guard = np.ones(G, np.int64)
        for gname in gates:
            wi, si = weights("i2" + gname, (C, n_input), np.int8, f"input-to-{gname} weights")
            wr, sr = weights("r2" + gname, (C, O), np.int8, f"recurrent-to-{gname} weights")
            b, _ = weights("b" + gname, (C,), np.int32, f"{gname} gate bias")
            w_in.append(wi)
            w_rec.append(wr)
            m_in.append(_qm(f32(f32(si * in_scale) / gate_inter[gname])))
            m_rec.append(_qm(f32(f32(sr * h_scale) / gate_inter[gname])))
            eff = np.zeros(C, np.int64) if self.use_ln else b.copy()
            bias_in.append(eff + wi.sum(axis=1) * -self.in_zp)
            bias_rec.append(wr.sum(axis=1) * -self.h_zp)
            if self.use_ln:
                k = self.g[gname]
                t = _opt(ctx, ln_idx["ln_" + gname])
                if t is None:
                    raise ctx.error(f"layer-norm coefficients ln_{gname} are missing")
                ctx.check_dtype(t, np.int16, f"ln_{gname} coefficients")
                ctx.check(t.shape == (C,), f"ln_{gname} must be [{C}]", t)
                if t.data is None:
                    raise ctx.error("integer LSTM needs constant layer-norm coefficients", t)
                self.ln_w[k] = np.asarray(t.data, np.int64)
                ln_scale = _scale_of(ctx, t, f"ln_{gname} coefficients")
                self.ln_m[k], self.ln_s[k] = _qm(ln_scale)
                self.ln_guard[k] = max(1, int(f32(10000) * ln_scale))
                self.ln_bias[k] = b
        self.dt_in = gemm_float_dtype_for(128, np.concatenate(w_in), 1)
        self.dt_rec = gemm_float_dtype_for(128, np.concatenate(w_rec), 1)
        self.w_in = np.ascontiguousarray(np.concatenate(w_in).T.astype(self.dt_in))
        self.w_rec = np.ascontiguousarray(np.concatenate(w_rec).T.astype(self.dt_rec))
        self.bias_in = np.concatenate(bias_in)
        self.bias_rec = np.concatenate(bias_rec)
        self.m_in = np.repeat([m for m, _ in m_in], C)
        self.s_in = np.repeat([sh for _, sh in m_in], C)
        self.m_rec = np.repeat([m for m, _ in m_rec], C)
        self.s_rec = np.repeat([sh for _, sh in m_rec], C)
        # peepholes (int16)
        peep = [s["c2i"], s["c2f"], s["c2o"]]
        self.use_peephole = s["c2o"] is not None
        self.peep = {}
        if self.use_peephole:
            ctx.check(O <= C, "integer peephole LSTM with n_output > n_cell is not supported "
                      "(LiteRT indexes the peephole product by n_output)")
            for gname, t, role in zip(("i", "f", "o"), peep, ("c2i", "c2f", "c2o")):
                if gname == "i" and self.use_cifg:
                    continue
                if t is None:
                    raise ctx.error(f"peephole weights {role} are missing")
                w, sc = weights(role, (C,), np.int16, f"{role} weights")
                eff = f32(np.float64(2.0 ** cell_scale) * np.float64(sc)
                          / np.float64(gate_inter[gname]))
                self.peep[gname] = (w, *_qm(eff))
        self.time_major = time_major
        # projection
        pw, pb = s["pw"], s["pb"]
        self.proj = None
        if pw is not None:
            w, sc = weights("pw", (O, C), np.int8, "projection weights")
            bias = np.zeros(O, np.int64)
            if pb is not None:
                bias, _ = weights("pb", (O,), np.int32, "projection bias")
            # LiteRT folds +hidden_zp * row_sum (the hidden values carry -hidden_zp)
            self.proj = (np.ascontiguousarray(w.T.astype(gemm_float_dtype(C, 128, 128))),
                         bias + w.sum(axis=1) * self.hidden_zp,
                         *_qm(f32(f32(sc * inter[4]) / h_scale)))
        else:
            ctx.check(O == C, f"without projection n_output ({O}) must equal n_cell ({C})")
            ctx.check(pb is None, "projection bias given without projection weights")
        eff_hidden = f32(2.0 ** -15 / np.float64(inter[4]) * 2.0 ** -15)
        self.m_hidden, self.s_hidden = _qm(eff_hidden)
        c_scale = _scale_of(ctx, c_spec, "cell state")
        self.cell_clip = (int(np.clip(f32(f32(cell_clip) / c_scale), -32768, 32767))
                          if cell_clip > 0 else 0)
        o_scale = _scale_of(ctx, out_spec, "output")
        self.proj_clip = (int(np.clip(f32(f32(proj_clip) / o_scale), -128, 127))
                          if proj_clip > 0 else 0)
        self.n_cell, self.n_output, self.G = C, O, G
        self.sigmoid3 = table16("logistic", 3)
        self.tanh3 = table16("tanh", 3)
        self.tanh_cell = table16("tanh", 15 + cell_scale)

    def _peephole(self, gate: np.ndarray, c: np.ndarray, gname: str) -> None:
        w, m, sh = self.peep[gname]
        B, C = c.shape
        O = self.n_output
        if O == C:
            gv, cv, wv = gate, c, w
        elif self.time_major:
            # LiteRT walks n_batch rows of n_output over the flat [batch, n_cell] buffers
            g_flat = np.ascontiguousarray(gate).reshape(-1)
            gv = g_flat[:B * O].reshape(B, O)
            cv = c.reshape(-1)[:B * O].reshape(B, O)
            wv = w[:O]
        else:
            gv, cv, wv = gate[:, :O], c[:, :O], w[:O]
        prod = arith.multiply_by_quantized_multiplier(wv * cv, m, sh)
        r = np.clip(prod + gv, I16_MIN, I16_MAX)
        if O != C and self.time_major:
            g_flat[:B * O] = r.reshape(-1)
            gate[...] = g_flat.reshape(B, C)
        else:
            gv[...] = r

    def _layer_norm(self, gate: np.ndarray, k: int) -> np.ndarray:
        C = self.n_cell
        v = gate
        total = v.sum(axis=1)
        total_sq = (v * v).sum(axis=1)
        mean = c_div(total * 1024, C)
        variance = total_sq * ((1 << 20) // C) - mean * mean
        var2 = wrap32(c_div(variance, 1 << 20))
        var2 = np.where(var2 < 1, self.ln_guard[k], var2)
        inv_m, inv_s = inv_sqrt_multiplier_exp(var2, -1)
        shifted = wrap32(1024 * v - mean[:, None])
        rescaled = arith.multiply_by_quantized_multiplier(shifted, inv_m[:, None],
                                                          inv_s[:, None])
        val3 = wrap32(rescaled * self.ln_w[k] + self.ln_bias[k])
        val4 = c_div(val3 + np.where(val3 > 0, 512, -512), 1024)
        val5 = arith.multiply_by_quantized_multiplier(val4, self.ln_m[k], self.ln_s[k] + 12)
        return np.clip(val5, I16_MIN, I16_MAX)

    def run(self, x2d: np.ndarray, T: int, B: int, time_major: bool, h: np.ndarray,
            c: np.ndarray, out_tb: np.ndarray) -> None:
        """h int8 [B, O] and c int16 [B, C] state views, updated in place."""
        G, C = self.G, self.n_cell
        dot = np.matmul(x2d.astype(self.dt_in), self.w_in).astype(np.int64)
        dot += self.bias_in
        gin = np.clip(arith.multiply_by_quantized_multiplier(wrap32(dot), self.m_in,
                                                             self.s_in), I16_MIN, I16_MAX)
        gin_tb = (gin.reshape(T, B, G * C) if time_major
                  else gin.reshape(B, T, G * C).transpose(1, 0, 2))
        gi, gf, gc, go = (self.g.get(k) for k in ("i", "f", "c", "o"))
        cs = self.cell_scale
        for t in range(T):
            rd = np.matmul(h.astype(self.dt_rec), self.w_rec).astype(np.int64)
            rd += self.bias_rec
            rec = arith.multiply_by_quantized_multiplier(wrap32(rd), self.m_rec, self.s_rec)
            gates = np.clip(gin_tb[t] + rec, I16_MIN, I16_MAX).reshape(B, G, C)
            cell = c.astype(np.int64)
            act = {}
            for name, k in (("i", gi), ("f", gf), ("c", gc)):
                if k is None:
                    continue
                g = gates[:, k]
                if name in self.peep:
                    self._peephole(g, cell, name)
                if self.use_ln:
                    g = self._layer_norm(g, k)
                act[name] = (self.tanh3 if name == "c" else self.sigmoid3)[g + 32768]
            # UpdateLstmCellInteger
            new_c = wrap16(rounding_divide_by_pot(act["f"] * cell, 15))
            if gi is None:
                other = wrap16(I16_MAX - act["f"])
            else:
                other = act["i"]
            upd = wrap16(rounding_divide_by_pot(other * act["c"], 30 + cs))
            new_c = np.clip(new_c + upd, I16_MIN, I16_MAX)
            if self.cell_clip > 0:
                new_c = np.clip(new_c, -self.cell_clip, self.cell_clip)
            g = gates[:, go]
            if "o" in self.peep:
                self._peephole(g, new_c, "o")
            if self.use_ln:
                g = self._layer_norm(g, go)
            o = self.sigmoid3[g + 32768]
            th = self.tanh_cell[new_c + 32768]
            prod = arith.multiply_by_quantized_multiplier(o * th, self.m_hidden,
                                                          self.s_hidden)
            if self.proj is not None:
                hid = np.clip(prod - self.hidden_zp, -128, 127)
                wt, pbias, pm, ps = self.proj
                pd = np.matmul(hid.astype(wt.dtype), wt).astype(np.int64) + pbias
                r = arith.multiply_by_quantized_multiplier(wrap32(pd), pm, ps) + self.h_zp
                r = np.clip(r, -128, 127)
                if self.proj_clip > 0:
                    r = np.clip(r, -self.proj_clip, self.proj_clip)
            else:
                r = np.clip(prod + self.hidden_zp, -128, 127)
            np.copyto(c, new_c, casting="unsafe")
            np.copyto(h, r, casting="unsafe")
            np.copyto(out_tb[t], r, casting="unsafe")


def _integer_lstm_prepare(kernel, ctx: PrepareContext, sequence: bool) -> None:
    ctx.check(len(ctx.inputs) in (20, 24), f"expects 20 or 24 inputs, got {len(ctx.inputs)}")
    ctx.check_arity((20, 24), 1)
    x = ctx.input(0)
    ctx.check_dtype(x, np.int8, "input")
    want_rank = 3 if sequence else 2
    ctx.check(len(x.shape) == want_rank, f"input must be {want_rank}-D, got shape "
              f"{list(x.shape)}", x)
    act, cell_clip, proj_clip, time_major = _lstm_options(ctx)
    if not sequence:
        time_major = True
        T, B = 1, x.shape[0]
    else:
        T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    out = ctx.outputs[0]
    ctx.check(out is not None, "output is required")
    ctx.check_dtype(out, np.int8, "output")
    h, c = ctx.input(18), ctx.input(19)
    for spec, what in ((h, "output state"), (c, "cell state")):
        ctx.check(spec.is_variable, f"{what} must be a variable tensor", spec)
    ln_idx = dict(zip(_LN_ROLES, range(20, 24))) if len(ctx.inputs) == 24 else None
    cell = _IntegerLstmCell(ctx, _roles(1), x, ln_idx, h, c, out, act, cell_clip, proj_clip,
                            time_major)
    ctx.check(h.size == B * cell.n_output, f"output state must have {B * cell.n_output} "
              f"elements, has {h.size}", h)
    ctx.check(c.size == B * cell.n_cell, f"cell state must have {B * cell.n_cell} elements, "
              f"has {c.size}", c)
    ctx.set_output(0, x.shape[:-1] + (cell.n_output,), np.int8)
    kernel.cell, kernel.T, kernel.B, kernel.time_major = cell, T, B, time_major


def _integer_lstm_invoke(kernel, ictx: InvokeContext) -> None:
    cell, T, B = kernel.cell, kernel.T, kernel.B
    x = ictx.inputs[0]
    h = ictx.inputs[18].reshape(B, cell.n_output)
    c = ictx.inputs[19].reshape(B, cell.n_cell)
    out = ictx.outputs[0]
    if out.ndim == 2:
        out_tb = out.reshape(1, B, -1)
    else:
        out_tb = out if kernel.time_major else out.transpose(1, 0, 2)
    cell.run(x.reshape(-1, x.shape[-1]), T, B, kernel.time_major, h, c, out_tb)


@register("UNIDIRECTIONAL_SEQUENCE_LSTM", versions=(1, 4), variant="quantized")
class IntegerUnidirectionalSequenceLstm(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        _integer_lstm_prepare(self, ctx, sequence=True)

    def invoke(self, ictx: InvokeContext) -> None:
        _integer_lstm_invoke(self, ictx)


@register("LSTM", versions=(1, 4), variant="quantized")
class IntegerLstm(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(ctx.options is not None, "LSTM needs LSTMOptions")
        if int(getattr(ctx.options, "kernelType", 0) or 0) != 0:
            raise ctx.error("the quantized basic LSTM kernel (uint8) is not implemented")
        _integer_lstm_prepare(self, ctx, sequence=False)

    def invoke(self, ictx: InvokeContext) -> None:
        _integer_lstm_invoke(self, ictx)
