"""Recurrent ops in float32: LSTM (full and basic kernels), UNIDIRECTIONAL_SEQUENCE_LSTM,
BIDIRECTIONAL_SEQUENCE_LSTM, RNN, UNIDIRECTIONAL_SEQUENCE_RNN, BIDIRECTIONAL_SEQUENCE_RNN,
SVDF.

Semantics follow LiteRT's lstm.cc / unidirectional_sequence_lstm.cc /
bidirectional_sequence_lstm.cc / lstm_eval.cc (EvalFloat), basic_rnn.cc,
unidirectional_sequence_rnn.cc, bidirectional_sequence_rnn.cc and reference/svdf.h.

Speed: prepare packs the per-gate weight matrices into one [n_input, gates*n_cell]
matrix (and one recurrent matrix), so invoke does one GEMM for the input
projection of every time step, then a loop over time steps with one recurrent
GEMM per step. State tensors are variable tensors, read and updated in place.

Quantized and hybrid (int8-weight) variants are not implemented here.
"""
from __future__ import annotations

import numpy as np

from edgelite.format.schema.tflite_tables import ActivationFunctionType as Act
from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext, TensorSpec
from edgelite.kernels.common import (
    activation_code,
    apply_activation,
    check_activation,
    negative,
    scalar0,
)
from edgelite.kernels.conv import _clip_ufunc, compiled_tier
from edgelite.kernels.registry import register

F32 = np.dtype(np.float32)

# Per-direction LSTM tensor roles, in the order of the 24-input layout from index 1
# (lstm_shared.h): input weights, recurrent weights, peepholes, gate biases, projection.
_ROLES = ("i2i", "i2f", "i2c", "i2o", "r2i", "r2f", "r2c", "r2o", "c2i", "c2f", "c2o",
          "bi", "bf", "bc", "bo", "pw", "pb")
_LN_ROLES = ("ln_i", "ln_f", "ln_c", "ln_o")
_LN_EPS = np.float32(1e-8)   # kNormalizationConstant of MeanStddevNormalization


def _roles(base: int) -> dict[str, int]:
    return {r: base + k for k, r in enumerate(_ROLES)}


def _opt(ctx: PrepareContext, i: int | None) -> TensorSpec | None:
    if i is None or i >= len(ctx.inputs):
        return None
    return ctx.inputs[i]


def _check_float_weights(ctx: PrepareContext, spec: TensorSpec, what: str) -> None:
    if spec.dtype in (np.int8, np.uint8, np.int16):
        raise ctx.error(f"{what} has type {spec.dtype}: quantized/hybrid {ctx.op_name} is not "
                        f"implemented yet (float32 only)", spec)
    ctx.check_dtype(spec, np.float32, what)


def _sigmoid(x: np.ndarray) -> None:
    """Logistic in place (float32; x is often a strided gate view: common.negative)."""
    negative(x, x)
    _sigmoid_of_negated(x)


def _sigmoid_of_negated(x: np.ndarray) -> None:
    """Logistic in place of x = -z (float32): 1 / (1 + exp(-z)), _sigmoid less its
    negation."""
    np.exp(x, out=x)
    np.add(x, scalar0(1.0, x.dtype), out=x)
    np.reciprocal(x, out=x)


def _input_forget_logistic(accv: np.ndarray, gi: int | None, gf: int, both, sigmoid) -> None:
    """The logistic of an LSTM step's input and forget gates in the gate buffer accv
    [B, G, C]: one call over `both` (the two side by side, gi:gf + 1) when given."""
    if both is not None:
        sigmoid(both)
        return
    if gi is not None:
        sigmoid(accv[:, gi])
    sigmoid(accv[:, gf])


def _hidden(c: np.ndarray, o: np.ndarray, g: np.ndarray, act: int, tmp: np.ndarray,
            dst: np.ndarray) -> None:
    """dst = o * act(c), tmp a [B, C] scratch. LiteRT applies "no activation" by leaving
    its scratch untouched, and that scratch still holds the cell gate g: the hidden
    state is then o * g, not o * c."""
    if act == Act.NONE:
        np.multiply(o, g, out=dst)
        return
    if act == Act.TANH:
        np.tanh(c, out=tmp)
    else:
        np.copyto(tmp, c)
        apply_activation(tmp, act)
    np.multiply(tmp, o, out=dst)


def _layer_norm(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> None:
    """MeanStddevNormalization over the last axis, then * coef + bias, in place."""
    mean = x.mean(axis=-1, keepdims=True, dtype=np.float32)
    x -= mean
    var = np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32)
    var += _LN_EPS
    np.sqrt(var, out=var)
    x /= var
    x *= coef
    x += bias


class _Packed:
    """A matrix made of blocks of (possibly non-constant) input tensors.

    Filled once at prepare when every block is constant, else at each invoke."""

    def __init__(self, shape):
        self.array = np.zeros(shape, F32)
        self.blocks: list[tuple[int, tuple, bool]] = []   # (input index, dst slice, transpose)
        self.dynamic = False

    def add(self, ctx: PrepareContext, index: int, dst, transpose: bool) -> None:
        spec = ctx.inputs[index]
        self.blocks.append((index, dst, transpose))
        if spec.data is not None:
            src = spec.data.T if transpose else spec.data
            self.array[dst] = src.reshape(self.array[dst].shape)
        else:
            self.dynamic = True

    def refresh(self, inputs) -> None:
        for index, dst, transpose in self.blocks:
            src = inputs[index]
            src = src.T if transpose else src
            self.array[dst] = src.reshape(self.array[dst].shape)


class _LstmCell:
    """Weights and options of one LSTM direction, validated and packed for GEMM.

    Gate blocks are ordered (input, forget, cell, output); CIFG drops the input gate."""

    def __init__(self, ctx: PrepareContext, idx: dict[str, int], n_input: int,
                 ln_idx: dict[str, int] | None, aux_idx: dict[str, int] | None,
                 n_aux: int, *, allow_diag: bool, activation: int, cell_clip: float,
                 proj_clip: float, name: str = ""):
        s = {r: _opt(ctx, i) for r, i in idx.items()}
        pre = f"{name}" if name else ""
        for role in ("i2f", "i2c", "i2o", "r2f", "r2c", "r2o", "bf", "bc", "bo"):
            if s[role] is None:
                raise ctx.error(f"required {pre}tensor {role} (input {idx[role]}) is missing")
        ctx.check(cell_clip >= 0, f"cell_clip must be >= 0, got {cell_clip}")
        ctx.check(proj_clip >= 0, f"proj_clip must be >= 0, got {proj_clip}")
        n_cell = s["i2o"].shape[0] if len(s["i2o"].shape) == 2 else -1
        ctx.check(len(s["i2o"].shape) == 2 and s["i2o"].shape[1] == n_input,
                  f"input-to-output weights must be [n_cell, {n_input}], got "
                  f"{list(s['i2o'].shape)}", s["i2o"])
        r2o = s["r2o"]
        diag = len(r2o.shape) == 1
        if diag and not allow_diag:
            raise ctx.error("recurrent weights must be 2-D", r2o)
        n_output = r2o.shape[0] if diag else (r2o.shape[1] if len(r2o.shape) == 2 else -1)
        ctx.check(len(r2o.shape) in (1, 2) and r2o.shape[0] == n_cell,
                  f"recurrent-to-output weights must be [{n_cell}, n_output], got "
                  f"{list(r2o.shape)}", r2o)
        self.use_cifg = s["i2i"] is None
        ctx.check((s["i2i"] is None) == (s["r2i"] is None),
                  f"{pre}input-gate weights must be all present (LSTM) or all absent (CIFG)")
        for role in ("i2i", "i2f", "i2c", "i2o"):
            t = s[role]
            if t is not None:
                _check_float_weights(ctx, t, f"{pre}{role} weights")
                ctx.check(t.shape == (n_cell, n_input),
                          f"{role} weights must be [{n_cell}, {n_input}], got {list(t.shape)}", t)
        for role in ("r2i", "r2f", "r2c", "r2o"):
            t = s[role]
            if t is None:
                continue
            _check_float_weights(ctx, t, f"{pre}{role} weights")
            if (len(t.shape) == 1) != diag:
                raise ctx.error("recurrent weights must be all 2-D or all 1-D (diagonal)", t)
            want = (n_cell,) if diag else (n_cell, n_output)
            ctx.check(t.shape == want,
                      f"{role} weights must be {list(want)}, got {list(t.shape)}", t)
        peep = [s["c2i"], s["c2f"], s["c2o"]]
        for role, t in zip(("c2i", "c2f", "c2o"), peep):
            if t is not None:
                _check_float_weights(ctx, t, f"{pre}{role} weights")
                ctx.check(t.shape == (n_cell,),
                          f"{role} (peephole) weights must be [{n_cell}], got {list(t.shape)}", t)
        all_peep = (peep[0] is not None or self.use_cifg) and peep[1] is not None \
            and peep[2] is not None
        no_peep = all(p is None for p in peep)
        ctx.check(all_peep or no_peep, f"{pre}peephole weights must be all present or all absent")
        self.use_peephole = all_peep and not no_peep
        if self.use_cifg:
            ctx.check(s["bi"] is None, f"{pre}input gate bias must be absent with CIFG")
        elif s["bi"] is None:
            raise ctx.error(f"{pre}input gate bias (input {idx['bi']}) is missing")
        for role in ("bi", "bf", "bc", "bo"):
            t = s[role]
            if t is not None:
                ctx.check_dtype(t, np.float32, f"{pre}{role} bias")
                ctx.check(t.shape == (n_cell,),
                          f"{role} bias must be [{n_cell}], got {list(t.shape)}", t)
        pw, pb = s["pw"], s["pb"]
        if pw is not None:
            _check_float_weights(ctx, pw, f"{pre}projection weights")
            ctx.check(pw.shape == (n_output, n_cell), f"projection weights must be "
                      f"[{n_output}, {n_cell}], got {list(pw.shape)}", pw)
        if pb is not None:
            ctx.check(pw is not None, f"{pre}projection bias given without projection weights")
            ctx.check_dtype(pb, np.float32, f"{pre}projection bias")
            ctx.check(pb.shape == (n_output,),
                      f"projection bias must be [{n_output}], got {list(pb.shape)}", pb)
        if pw is None:
            ctx.check(n_output == n_cell, f"without projection n_output ({n_output}) must equal "
                      f"n_cell ({n_cell})")
        self.use_ln = False
        if ln_idx is not None:
            ln = {r: _opt(ctx, i) for r, i in ln_idx.items()}
            self.use_ln = ln["ln_f"] is not None
            if self.use_ln:
                if self.use_cifg:
                    ctx.check(ln["ln_i"] is None,
                              "input layer-norm coefficients must be absent with CIFG")
                for role in ("ln_i", "ln_c", "ln_o") if not self.use_cifg else ("ln_c", "ln_o"):
                    if ln[role] is None:
                        raise ctx.error(f"layer-norm coefficients {role} (input {ln_idx[role]}) "
                                        f"are missing")
                for role, t in ln.items():
                    if t is not None:
                        ctx.check_dtype(t, np.float32, f"{role} coefficients")
                        ctx.check(t.shape == (n_cell,),
                                  f"{role} must be [{n_cell}], got {list(t.shape)}", t)
        aux = None
        if aux_idx is not None:
            aux = {r: _opt(ctx, i) for r, i in aux_idx.items()}
            for role in ("a2i", "a2f", "a2c", "a2o"):
                t = aux[role]
                if t is None:
                    continue
                _check_float_weights(ctx, t, f"{pre}{role} weights")
                ctx.check(t.shape == (n_cell, n_aux),
                          f"{role} weights must be [{n_cell}, {n_aux}], got {list(t.shape)}", t)
            if self.use_cifg:
                ctx.check(aux["a2i"] is None, "aux input-gate weights must be absent with CIFG")
            elif aux["a2i"] is None:
                raise ctx.error(f"{pre}aux input-to-input weights are missing")

        self.n_cell, self.n_output, self.n_input, self.diag = n_cell, n_output, n_input, diag
        gates = ("f", "c", "o") if self.use_cifg else ("i", "f", "c", "o")
        self.gates = gates
        self.g = {name: k for k, name in enumerate(gates)}
        G, C = len(gates), n_cell
        self.GC = G * C
        # Packed input weights: [n_input (+ n_aux), G*C]; the aux rows follow the input rows.
        n_rows = n_input + (n_aux if aux is not None else 0)
        self.w_in = _Packed((n_rows, G * C))
        for k, gname in enumerate(gates):
            self.w_in.add(ctx, idx["i2" + gname], (slice(0, n_input), slice(k * C, (k + 1) * C)),
                          True)
            if aux is not None:
                self.w_in.add(ctx, aux_idx["a2" + gname],
                              (slice(n_input, n_rows), slice(k * C, (k + 1) * C)), True)
        self.w_rec = _Packed((G * C,) if diag else (n_output, G * C))
        for k, gname in enumerate(gates):
            dst = (slice(k * C, (k + 1) * C),) if diag else (slice(None), slice(k * C, (k + 1) * C))
            self.w_rec.add(ctx, idx["r2" + gname], dst, not diag)
        self.bias = _Packed((G, C))
        for k, gname in enumerate(gates):
            self.bias.add(ctx, idx["b" + gname], (k,), False)
        self.packs = [self.w_in, self.w_rec, self.bias]
        if self.use_peephole:
            self.peep = _Packed((3, C))
            for k, role in enumerate(("c2i", "c2f", "c2o")):
                if s[role] is not None:
                    self.peep.add(ctx, idx[role], (k,), False)
            self.packs.append(self.peep)
        if self.use_ln:
            self.ln = _Packed((G, C))
            for k, gname in enumerate(gates):
                self.ln.add(ctx, ln_idx["ln_" + gname], (k,), False)
            self.packs.append(self.ln)
        self.proj = None
        if pw is not None:
            self.proj = _Packed((C, n_output))
            self.proj.add(ctx, idx["pw"], (slice(None), slice(None)), True)
            self.packs.append(self.proj)
        self.proj_bias = None
        if pb is not None:
            self.proj_bias = _Packed((n_output,))
            self.proj_bias.add(ctx, idx["pb"], (slice(None),), False)
            self.packs.append(self.proj_bias)
        self.dynamic_packs = [p for p in self.packs if p.dynamic]
        self.activation = activation
        self.cell_clip = float(cell_clip)
        self.proj_clip = float(proj_clip)
        # the clips' bounds as 0-d float32 operands of the clip ufunc (np.clip with Python
        # floats cost ~9 us a step on a 16-cell LSTM, a third of its numpy-tier time)
        self.cell_bounds = (scalar0(-self.cell_clip, F32), scalar0(self.cell_clip, F32))
        self.proj_bounds = (scalar0(-self.proj_clip, F32), scalar0(self.proj_clip, F32))
        self.sigmoid_first = False      # (request_scratch: the sigmoid gates side by side)
        # The gate bias goes into the input projection, except with layer norm where
        # it is added after normalization.
        self.bias_flat = self.bias.array.reshape(-1)
        self.negated = False            # (request_scratch: the sigmoid gates negated)

    def request_scratch(self, ctx: PrepareContext, steps: int, batch: int) -> int:
        """Scratch: input projection of all steps, step accumulator, a [B, C] temporary.
        Also picks the compiled time loop (compiled_rnn.py) when it covers this cell."""
        self.fast = None
        # the recurrent multiply-adds of one invoke decide, like a conv's output size
        if not self.diag and not self.use_ln and self.activation == Act.TANH and \
                compiled_tier(steps * batch * self.GC * self.n_output) is not None:
            from edgelite.kernels import compiled_rnn
            C, n_out = self.n_cell, self.n_output
            self.fast = compiled_rnn.lstm_steps
            self.fast_args = (
                self.use_cifg,
                self.peep.array if self.use_peephole else np.zeros((3, C), F32),
                self.use_peephole, np.float32(self.cell_clip),
                self.proj.array if self.proj is not None else np.zeros((C, n_out), F32),
                self.proj is not None,
                self.proj_bias.array if self.proj_bias is not None
                else np.zeros(n_out, F32),
                self.proj_bias is not None, np.float32(self.proj_clip),
                np.zeros(self.GC, F32), np.zeros(C, F32))
        # Numpy tier, no layer norm, constant weights: the sigmoid gates' (i, f, o)
        # weights, biases and peepholes are negated once, here, so each step's
        # pre-activations of those gates are -z and the logistic needs no negation pass
        # (the same bits: negation is exact and commutes with every product and sum)
        if self.fast is None and not self.use_ln and not self.dynamic_packs \
                and not self.negated:
            C = self.n_cell
            for name, k in self.g.items():
                if name == "c":
                    continue
                cols = slice(k * C, (k + 1) * C)
                for block in (self.w_in.array[:, cols], self.bias.array[k],
                              self.w_rec.array[cols] if self.diag
                              else self.w_rec.array[:, cols]):
                    negative(block, block)          # (strided blocks: common.negative)
            if self.use_peephole:
                negative(self.peep.array, self.peep.array)
            self.negated = True
        # Numpy tier, no peephole, no layer norm, 2-D recurrent weights, constant
        # weights: the gate blocks reordered so that the sigmoid gates come first,
        # (i, f, o, c) ((f, o, c) with CIFG): one logistic call covers all of them,
        # before the cell update (without a peephole the output gate does not depend on
        # the new cell state): 3 numpy calls a step fewer
        if (self.fast is None and self.negated and not self.use_peephole and not self.diag
                and not self.sigmoid_first):
            order = [g for g in self.gates if g != "c"] + ["c"]
            C = self.n_cell
            cols = np.concatenate([np.arange(self.g[g] * C, (self.g[g] + 1) * C)
                                   for g in order])
            self.w_in.array[...] = self.w_in.array[:, cols]
            self.w_rec.array[...] = self.w_rec.array[:, cols]
            self.bias.array[...] = self.bias.array[[self.g[g] for g in order]]
            self.gates = tuple(order)
            self.g = {name: k for k, name in enumerate(order)}
            self.sigmoid_first = True
        first = ctx.request_scratch((steps * batch, self.GC))
        ctx.request_scratch((batch, self.GC))
        ctx.request_scratch((batch, self.n_cell))
        return first

    def refresh(self, inputs) -> None:
        for p in self.dynamic_packs:
            p.refresh(inputs)

    def run(self, x2d: np.ndarray, xproj_tb: np.ndarray, xproj2d: np.ndarray,
            h: np.ndarray, c: np.ndarray, out_tb: np.ndarray, scratch, forward: bool,
            zero_rows=None, aux_zero_rows=None) -> None:
        """Run the whole sequence.

        x2d: all input rows [steps*batch, n_in(+n_aux)] in memory order; xproj2d its
        projection buffer, xproj_tb the same as a [T, B, G*C] view; h [B, n_output] and
        c [B, n_cell] the state views, updated in place; out_tb [T, B, n_output] view.
        zero_rows/aux_zero_rows: per-step callables giving which batch rows have an
        all-zero input (only needed for LiteRT's activation-NONE behaviour)."""
        np.matmul(x2d, self.w_in.array, out=xproj2d)
        if not self.use_ln:
            xproj2d += self.bias_flat
        if self.fast is not None:
            self.fast(xproj_tb, self.w_rec.array, h, c, out_tb, forward, *self.fast_args)
            return
        acc, tmp = scratch
        G, C = len(self.gates), self.n_cell
        accv = acc.reshape(acc.shape[0], G, C)
        gi = self.g.get("i")
        gf, gc, go = self.g["f"], self.g["c"], self.g["o"]
        act = self.activation
        none_act = act == Act.NONE
        T = xproj_tb.shape[0]
        sigmoid = _sigmoid_of_negated if self.negated else _sigmoid
        # i and f side by side (gate order i, f, c, o): one logistic for both; every
        # sigmoid gate (reordered ahead of c, request_scratch): one logistic for all
        n_sig = G - 1
        sig_gates = accv[:, :n_sig] if self.sigmoid_first else None
        if_gates = (None if sig_gates is not None else
                    accv[:, gi:gf + 1] if gi is not None and gf == gi + 1 else None)
        # The hidden state is written straight into the step's output row and read from
        # there by the next step's recurrent product; the state tensor h gets the last
        # one after the loop (a copy a step fewer)
        hv = h
        for step in range(T):
            t = step if forward else T - 1 - step
            if self.diag:
                np.multiply(hv[:, None, :], self.w_rec.array.reshape(G, C), out=accv)
            else:
                np.matmul(hv, self.w_rec.array, out=acc)
            acc += xproj_tb[t]
            if self.use_peephole:
                if gi is not None:
                    np.multiply(c, self.peep.array[0], out=tmp)
                    accv[:, gi] += tmp
                np.multiply(c, self.peep.array[1], out=tmp)
                accv[:, gf] += tmp
            if self.use_ln:
                for k in (gi, gf, gc):
                    if k is not None:
                        _layer_norm(accv[:, k], self.ln.array[k], self.bias.array[k])
            if sig_gates is not None:
                sigmoid(sig_gates)
            else:
                _input_forget_logistic(accv, gi, gf, if_gates, sigmoid)
            if none_act:
                self._stale_cell_gate(accv, xproj_tb[t], zero_rows(t), aux_zero_rows(t))
            else:
                apply_activation(accv[:, gc], act)
            # c = f * c + i * g   (CIFG: i = 1 - f)
            c *= accv[:, gf]
            if gi is None:
                np.subtract(1.0, accv[:, gf], out=tmp)
                tmp *= accv[:, gc]
            else:
                np.multiply(accv[:, gi], accv[:, gc], out=tmp)
            c += tmp
            if self.cell_clip > 0:
                _clip_ufunc(c, *self.cell_bounds, out=c)
            if self.use_peephole:
                np.multiply(c, self.peep.array[2], out=tmp)
                accv[:, go] += tmp
            if self.use_ln:
                _layer_norm(accv[:, go], self.ln.array[go], self.bias.array[go])
            if sig_gates is None:
                sigmoid(accv[:, go])
            # (without a projection the product goes straight into the output row)
            hv = out_tb[t]
            _hidden(c, accv[:, go], accv[:, gc], act, tmp,
                    tmp if self.proj is not None else hv)
            if self.proj is not None:
                np.matmul(tmp, self.proj.array, out=hv)
                if self.proj_bias is not None:
                    hv += self.proj_bias.array
                if self.proj_clip > 0:
                    _clip_ufunc(hv, *self.proj_bounds, out=hv)
        if hv is not h:
            np.copyto(h, hv)

    def _stale_cell_gate(self, accv, xproj_t, zero_rows, aux_zero_rows) -> None:
        """Activation NONE: LiteRT's gate buffer ends up holding a partial sum when its
        ping-pong accumulation ends on the other buffer (lstm_eval.cc
        CalculateLstmGateFloat). The number of buffer swaps is one per non-zero input
        (input, aux input) plus one for a diagonal recurrent product; with an even count
        the result lands in the scratch, and "no activation" never copies it back."""
        if zero_rows is None:
            return
        n_swaps = (~zero_rows).astype(np.int8) + self.diag
        if aux_zero_rows is not None:
            n_swaps = n_swaps + (~aux_zero_rows).astype(np.int8)
        stale = (n_swaps % 2) == 0
        if not stale.any():
            return
        k = self.g["c"]
        C = self.n_cell
        init = np.zeros(C, F32) if self.use_ln else self.bias.array[k]
        for b in np.flatnonzero(stale):
            if n_swaps[b] == 2 and not self.diag:
                # input and aux contributions landed in the gate buffer, recurrent did not
                accv[b, k] = xproj_t[b, k * C:(k + 1) * C]
            else:
                accv[b, k] = init


def _lstm_options(ctx: PrepareContext):
    o = ctx.options
    act = activation_code(o)
    check_activation(ctx, act)
    cell_clip = float(getattr(o, "cellClip", 0.0) or 0.0) if o is not None else 0.0
    proj_clip = float(getattr(o, "projClip", 0.0) or 0.0) if o is not None else 0.0
    time_major = bool(getattr(o, "timeMajor", False)) if o is not None else False
    return act, cell_clip, proj_clip, time_major


def _variable_state(ctx: PrepareContext, i: int, n: int, what: str) -> TensorSpec:
    spec = ctx.input(i)
    ctx.check(spec.is_variable, f"{what} (input {i}) must be a variable tensor", spec)
    ctx.check_dtype(spec, np.float32, what)
    ctx.check(spec.size == n, f"{what} must have {n} elements, has {spec.size} "
              f"(shape {list(spec.shape)})", spec)
    return spec


def _zero_rows_fn(x_tb: np.ndarray, time_major: bool):
    """Per step: which batch rows LiteRT sees as an all-zero input (it checks the whole
    batch at once in time-major order, one row at a time in batch-major order)."""
    if time_major:
        def f(t):
            return np.full(x_tb.shape[1], not x_tb[t].any())
    else:
        def f(t):
            return ~x_tb[t].any(axis=-1)
    return f


class _SequenceLstmBase(Kernel):
    """Shared plumbing of the sequence LSTMs."""

    def _check_input(self, ctx: PrepareContext, spec: TensorSpec) -> None:
        if spec.dtype in (np.int8, np.uint8, np.int16):
            raise ctx.error(f"input has type {spec.dtype}: integer {ctx.op_name} is not "
                            f"implemented yet (float32 only)", spec)
        ctx.check_dtype(spec, np.float32, "input")


@register("UNIDIRECTIONAL_SEQUENCE_LSTM", versions=(1, 4))
class UnidirectionalSequenceLstm(_SequenceLstmBase):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) in (20, 24),
                  f"expects 20 or 24 inputs, got {len(ctx.inputs)}")
        ctx.check_arity((20, 24), 1)
        x = ctx.input(0)
        self._check_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got shape {list(x.shape)}", x)
        act, cell_clip, proj_clip, time_major = _lstm_options(ctx)
        T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        ln_idx = dict(zip(_LN_ROLES, range(20, 24))) if len(ctx.inputs) == 24 else None
        self.cell = _LstmCell(ctx, _roles(1), x.shape[2], ln_idx, None, 0, allow_diag=True,
                              activation=act, cell_clip=cell_clip, proj_clip=proj_clip)
        cell = self.cell
        _variable_state(ctx, 18, B * cell.n_output, "output state")
        _variable_state(ctx, 19, B * cell.n_cell, "cell state")
        ctx.set_output(0, x.shape[:2] + (cell.n_output,), np.float32)
        self.time_major, self.T, self.B = time_major, T, B
        self.scratch0 = cell.request_scratch(ctx, T, B)

    def invoke(self, ictx: InvokeContext) -> None:
        cell, T, B = self.cell, self.T, self.B
        cell.refresh(ictx.inputs)
        x = ictx.inputs[0]
        h = ictx.inputs[18].reshape(B, cell.n_output)
        c = ictx.inputs[19].reshape(B, cell.n_cell)
        out = ictx.outputs[0]
        sc = ictx.scratch[self.scratch0:self.scratch0 + 3]
        xproj2d = sc[0]
        if self.time_major:
            x_tb, out_tb = x, out
            xproj_tb = xproj2d.reshape(T, B, cell.GC)
        else:
            x_tb, out_tb = x.transpose(1, 0, 2), out.transpose(1, 0, 2)
            xproj_tb = xproj2d.reshape(B, T, cell.GC).transpose(1, 0, 2)
        zr = _zero_rows_fn(x_tb, self.time_major) if cell.activation == Act.NONE else None
        cell.run(x.reshape(-1, x.shape[-1]), xproj_tb, xproj2d, h, c, out_tb, sc[1:],
                 True, zr, (lambda t: None))


class _LstmFull(_SequenceLstmBase):
    """LSTM, full kernel: one step over a [batch, n_input] input."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) in (20, 24),
                  f"the full LSTM kernel expects 20 or 24 inputs, got {len(ctx.inputs)}")
        ctx.check_arity((20, 24), 1)
        x = ctx.input(0)
        self._check_input(ctx, x)
        ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, n_input], got "
                  f"{list(x.shape)}", x)
        act, cell_clip, proj_clip, _ = _lstm_options(ctx)
        B = x.shape[0]
        ln_idx = dict(zip(_LN_ROLES, range(20, 24))) if len(ctx.inputs) == 24 else None
        self.cell = _LstmCell(ctx, _roles(1), x.shape[1], ln_idx, None, 0, allow_diag=False,
                              activation=act, cell_clip=cell_clip, proj_clip=proj_clip)
        cell = self.cell
        _variable_state(ctx, 18, B * cell.n_output, "output state")
        _variable_state(ctx, 19, B * cell.n_cell, "cell state")
        ctx.set_output(0, (B, cell.n_output), np.float32)
        self.B = B
        self.scratch0 = cell.request_scratch(ctx, 1, B)

    def invoke(self, ictx: InvokeContext) -> None:
        cell, B = self.cell, self.B
        cell.refresh(ictx.inputs)
        x = ictx.inputs[0]
        h = ictx.inputs[18].reshape(B, cell.n_output)
        c = ictx.inputs[19].reshape(B, cell.n_cell)
        sc = ictx.scratch[self.scratch0:self.scratch0 + 3]
        x_tb = x.reshape(1, B, -1)
        zr = _zero_rows_fn(x_tb, True) if cell.activation == Act.NONE else None
        cell.run(x, sc[0].reshape(1, B, cell.GC), sc[0], h, c,
                 ictx.outputs[0].reshape(1, B, -1), sc[1:], True, zr, (lambda t: None))


class _LstmBasic(Kernel):
    """LSTM, basic kernel (5 inputs, 4 outputs): gates from one FC over [input, prev_h].

    Gate order in the weights is (input, cell, forget, output); the new activation and
    state are also written back into the prev_activation / prev_state inputs."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 4)
        x, h, w, b, c = (ctx.input(i) for i in range(5))
        for spec, what in ((x, "input"), (h, "previous activation"), (w, "weights"),
                           (b, "bias"), (c, "previous state")):
            if spec.dtype == np.uint8 or spec.dtype == np.int16:
                raise ctx.error(f"{what} has type {spec.dtype}: the quantized basic LSTM "
                                f"kernel is not implemented yet (float32 only)", spec)
            ctx.check_dtype(spec, np.float32, what)
        ctx.check(len(x.shape) == 2, f"input must be 2-D, got {list(x.shape)}", x)
        B, I = x.shape
        ctx.check(len(h.shape) == 2 and h.shape[0] == B,
                  f"previous activation must be [{B}, depth], got {list(h.shape)}", h)
        D = h.shape[1]
        ctx.check(w.shape == (4 * D, I + D),
                  f"weights must be [{4 * D}, {I + D}], got {list(w.shape)}", w)
        ctx.check(b.shape == (4 * D,), f"bias must be [{4 * D}], got {list(b.shape)}", b)
        ctx.check(c.shape == (B, D), f"previous state must be [{B}, {D}], got {list(c.shape)}", c)
        ctx.set_output(0, (B, D), np.float32)
        ctx.set_output(1, (B, D), np.float32)
        ctx.set_output(2, (B, I + D), np.float32)
        ctx.set_output(3, (B, 4 * D), np.float32)
        for i in range(4):
            ctx.check(ctx.outputs[i] is not None, f"output {i} is required")
            ctx.check_dtype(ctx.outputs[i], np.float32, f"output {i}")
        self.D = D
        self.w = _Packed((I + D, 4 * D))
        self.w.add(ctx, 2, (slice(None), slice(None)), True)
        self.bias = _Packed((4 * D,))
        self.bias.add(ctx, 3, (slice(None),), False)
        self.act = ctx.request_scratch((B, 4 * D))

    def invoke(self, ictx: InvokeContext) -> None:
        for p in (self.w, self.bias):
            if p.dynamic:
                p.refresh(ictx.inputs)
        x, h_prev, _, _, c_prev = ictx.inputs
        new_h, new_c, concat, gates = ictx.outputs
        D, I = self.D, x.shape[1]
        np.copyto(concat[:, :I], x)
        np.copyto(concat[:, I:], h_prev)
        np.matmul(concat, self.w.array, out=gates)
        gates += self.bias.array
        a = ictx.scratch[self.act]
        np.copyto(a, gates)       # gates (output 3) keeps the pre-activation values
        i_g, g, f, o = a[:, :D], a[:, D:2 * D], a[:, 2 * D:3 * D], a[:, 3 * D:]
        _sigmoid(i_g)
        np.tanh(g, out=g)
        _sigmoid(f)
        _sigmoid(o)
        np.multiply(f, c_prev, out=new_c)
        i_g *= g
        new_c += i_g
        np.tanh(new_c, out=new_h)
        new_h *= o
        # LiteRT copies the new activation and state back into the previous-state inputs.
        if h_prev.flags.writeable:
            np.copyto(h_prev, new_h)
        if c_prev.flags.writeable:
            np.copyto(c_prev, new_c)


@register("LSTM", versions=(1, 4))
class Lstm(Kernel):
    """LSTM: the full (20/24-input) or basic (5-input) kernel, as options.kernelType says."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(ctx.options is not None, "LSTM needs LSTMOptions (LiteRT rejects the node "
                  "without them)")
        kernel_type = int(getattr(ctx.options, "kernelType", 0) or 0)
        if kernel_type == 0:
            impl = _LstmFull
        elif kernel_type == 1:
            impl = _LstmBasic
        else:
            raise ctx.error(f"unknown LSTM kernel type {kernel_type}")
        if not isinstance(getattr(self, "impl", None), impl):
            self.impl = impl()
        self.impl.prepare(ctx)
        self.invoke = self.impl.invoke


@register("BIDIRECTIONAL_SEQUENCE_LSTM", versions=(1, 3))
class BidirectionalSequenceLstm(_SequenceLstmBase):
    """Forward and backward LSTMs over one sequence (48 inputs).

    Inputs: 0 input; 1-17 forward weights (as the 24-input layout); 18-34 backward
    weights; 35/36 forward output/cell state, 37/38 backward; 39 aux input; 40-43
    forward aux weights; 44-47 backward aux weights. With merge_outputs, one output of
    width fw+bw; else two outputs. An aux input without aux weights is the backward
    cell's input (stacking without cross links)."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check(len(ctx.inputs) == 48, f"expects 48 inputs, got {len(ctx.inputs)}")
        o = ctx.options
        merge = bool(getattr(o, "mergeOutputs", False)) if o is not None else False
        ctx.check_arity(48, 1 if merge else 2)
        x = ctx.input(0)
        self._check_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got shape {list(x.shape)}", x)
        act, cell_clip, proj_clip, time_major = _lstm_options(ctx)
        T, B = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        n_input = x.shape[2]
        aux = _opt(ctx, 39)
        fw_aux_names = dict(zip(("a2i", "a2f", "a2c", "a2o"), range(40, 44)))
        bw_aux_names = dict(zip(("a2i", "a2f", "a2c", "a2o"), range(44, 48)))
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
                ctx.check(aux.shape[2] == n_input, f"aux input used as the backward input "
                          f"must have {n_input} features, got {aux.shape[2]}", aux)
        elif use_aux_weights:
            raise ctx.error("aux input weights given without an aux input (input 39)")
        self.aux_mode = "cross" if use_aux_weights else ("bw_input" if aux is not None else None)
        kw = {"allow_diag": False, "activation": act, "cell_clip": cell_clip,
              "proj_clip": proj_clip}
        self.fw = _LstmCell(ctx, _roles(1), n_input, None,
                            fw_aux_names if use_aux_weights else None, n_aux, name="forward ",
                            **kw)
        self.bw = _LstmCell(ctx, _roles(18), n_input, None,
                            bw_aux_names if use_aux_weights else None, n_aux, name="backward ",
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
        self.fw_scratch = self.fw.request_scratch(ctx, T, B)
        self.bw_scratch = self.bw.request_scratch(ctx, T, B)
        if self.aux_mode == "cross":
            # the packed [input | aux] rows of every step
            self.xcat = ctx.request_scratch((T * B, n_input + n_aux))

    def invoke(self, ictx: InvokeContext) -> None:
        ins = ictx.inputs
        T, B = self.T, self.B
        fw, bw = self.fw, self.bw
        fw.refresh(ins)
        bw.refresh(ins)
        x, aux = ins[0], ins[39]
        tm = self.time_major

        def tb(a):
            return a if tm else a.transpose(1, 0, 2)

        if self.aux_mode == "cross":
            xcat = ictx.scratch[self.xcat]
            n = x.shape[-1]
            np.copyto(xcat[:, :n], x.reshape(-1, n))
            np.copyto(xcat[:, n:], aux.reshape(-1, aux.shape[-1]))
            fw_x2d = bw_x2d = xcat
            fw_xtb = bw_xtb = tb(x)
            aux_zero = _zero_rows_fn(tb(aux), tm) if fw.activation == Act.NONE else None
        else:
            fw_x2d = x.reshape(-1, x.shape[-1])
            bw_src = aux if self.aux_mode == "bw_input" else x
            bw_x2d = bw_src.reshape(-1, bw_src.shape[-1])
            fw_xtb, bw_xtb = tb(x), tb(bw_src)
            aux_zero = None
        out0 = ictx.outputs[0]
        nf = fw.n_output
        if self.merge:
            fw_out = tb(out0)[:, :, :nf]
            bw_out = tb(out0)[:, :, nf:]
        else:
            fw_out, bw_out = tb(out0), tb(ictx.outputs[1])
        none_act = fw.activation == Act.NONE
        for cell, x2d, xtb, out_tb, s0, hi, ci, fwd in (
                (fw, fw_x2d, fw_xtb, fw_out, self.fw_scratch, 35, 36, True),
                (bw, bw_x2d, bw_xtb, bw_out, self.bw_scratch, 37, 38, False)):
            sc = ictx.scratch[s0:s0 + 3]
            xproj2d = sc[0]
            xproj_tb = (xproj2d.reshape(T, B, cell.GC) if tm
                        else xproj2d.reshape(B, T, cell.GC).transpose(1, 0, 2))
            h = ins[hi].reshape(B, cell.n_output)
            c = ins[ci].reshape(B, cell.n_cell)
            zr = _zero_rows_fn(xtb, tm) if none_act else None
            cell.run(x2d, xproj_tb, xproj2d, h, c, out_tb, sc[1:], fwd, zr,
                     aux_zero if aux_zero is not None else (lambda t: None))


# ---------------------------------------------------------------------------- RNN


def _rnn_common(ctx: PrepareContext, x_feat: int, batch: int):
    """Validate W [U, I], R [U, U], bias [U], hidden state [B, U]; return U."""
    w, r, b, h = (ctx.input(i) for i in (1, 2, 3, 4))
    for spec, what in ((w, "weights"), (r, "recurrent weights")):
        if spec.dtype in (np.int8, np.uint8):
            raise ctx.error(f"{what} have type {spec.dtype}: hybrid {ctx.op_name} is not "
                            f"implemented yet (float32 only)", spec)
        ctx.check_dtype(spec, np.float32, what)
    ctx.check_dtype(b, np.float32, "bias")
    ctx.check_dtype(h, np.float32, "hidden state")
    ctx.check(len(w.shape) == 2 and w.shape[1] == x_feat,
              f"weights must be [units, {x_feat}], got {list(w.shape)}", w)
    U = w.shape[0]
    ctx.check(b.shape == (U,), f"bias must be [{U}], got {list(b.shape)}", b)
    ctx.check(r.shape == (U, U), f"recurrent weights must be [{U}, {U}], got {list(r.shape)}", r)
    ctx.check(h.shape == (batch, U), f"hidden state must be [{batch}, {U}], got "
              f"{list(h.shape)}", h)
    ctx.check(h.data is None, "hidden state must not be a constant (the op updates it)", h)
    act = activation_code(ctx.options)
    check_activation(ctx, act)
    return U, act


def _rnn_pack(ctx: PrepareContext, U: int, I: int):
    w = _Packed((I, U))
    w.add(ctx, 1, (slice(None), slice(None)), True)
    r = _Packed((U, U))
    r.add(ctx, 2, (slice(None), slice(None)), True)
    b = _Packed((U,))
    b.add(ctx, 3, (slice(None),), False)
    return [w, r, b]


@register("RNN", versions=(1, 3))
class Rnn(Kernel):
    """h = activation(x W^T + h R^T + b); output = h."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x = ctx.input(0)
        if x.dtype in (np.int8, np.uint8):
            raise ctx.error(f"input has type {x.dtype}: quantized RNN is not implemented", x)
        ctx.check_dtype(x, np.float32, "input")
        ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, input], got {list(x.shape)}", x)
        B, I = x.shape
        U, self.act = _rnn_common(ctx, I, B)
        ctx.set_output(0, (B, U), np.float32)
        self.packs = _rnn_pack(ctx, U, I)
        self.tmp = ctx.request_scratch((B, U))

    def invoke(self, ictx: InvokeContext) -> None:
        w, r, b = self.packs
        for p in self.packs:
            if p.dynamic:
                p.refresh(ictx.inputs)
        x, h = ictx.inputs[0], ictx.inputs[4]
        out = ictx.outputs[0]
        tmp = ictx.scratch[self.tmp]
        np.matmul(x, w.array, out=out)
        out += b.array
        np.matmul(h, r.array, out=tmp)
        out += tmp
        apply_activation(out, self.act)
        np.copyto(h, out)


@register("UNIDIRECTIONAL_SEQUENCE_RNN", versions=(1, 3))
class UnidirectionalSequenceRnn(Kernel):
    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x = ctx.input(0)
        if x.dtype in (np.int8, np.uint8):
            raise ctx.error(f"input has type {x.dtype}: quantized RNN is not implemented", x)
        ctx.check_dtype(x, np.float32, "input")
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got {list(x.shape)}", x)
        o = ctx.options
        self.time_major = bool(getattr(o, "timeMajor", False)) if o is not None else False
        T, B = (x.shape[0], x.shape[1]) if self.time_major else (x.shape[1], x.shape[0])
        U, self.act = _rnn_common(ctx, x.shape[2], B)
        ctx.set_output(0, x.shape[:2] + (U,), np.float32)
        self.packs = _rnn_pack(ctx, U, x.shape[2])
        self.T, self.B, self.U = T, B, U
        self.tmp = ctx.request_scratch((B, U))

    def invoke(self, ictx: InvokeContext) -> None:
        w, r, b = self.packs
        for p in self.packs:
            if p.dynamic:
                p.refresh(ictx.inputs)
        x, h = ictx.inputs[0], ictx.inputs[4]
        out = ictx.outputs[0]
        # One GEMM for the input projection of every step, written into the output.
        np.matmul(x.reshape(-1, x.shape[-1]), w.array, out=out.reshape(-1, self.U))
        out += b.array
        out_tb = out if self.time_major else out.transpose(1, 0, 2)
        tmp = ictx.scratch[self.tmp]
        for t in range(self.T):
            o = out_tb[t]
            np.matmul(h, r.array, out=tmp)
            o += tmp
            apply_activation(o, self.act)
            np.copyto(h, o)


@register("BIDIRECTIONAL_SEQUENCE_RNN", versions=(1, 3))
class BidirectionalSequenceRnn(Kernel):
    """Forward and backward RNN cells over one sequence (bidirectional_sequence_rnn.cc).

    Inputs: 0 input, 1-4 forward weights / recurrent weights / bias / hidden state,
    5-8 the same backward, 9 aux input, 10-11 forward / backward aux weights (all
    three optional). With aux weights both cells also read the aux input (stacking
    with cross links); with an aux input but no aux weights, the backward cell reads
    the aux input instead of the input (stacking without cross links). Outputs:
    forward and backward sequences, or one with both side by side (merge_outputs).
    The hybrid variant (quant/rnn.py) overrides the per-direction hooks."""

    def prepare(self, ctx: PrepareContext) -> None:
        o = ctx.options
        self.merge = bool(getattr(o, "mergeOutputs", False)) if o is not None else False
        self.time_major = bool(getattr(o, "timeMajor", False)) if o is not None else False
        ctx.check_arity(12, 1 if self.merge else 2)
        x = ctx.input(0)
        self._check_input(ctx, x)
        ctx.check(len(x.shape) == 3, f"input must be 3-D, got {list(x.shape)}", x)
        T, B = (x.shape[0], x.shape[1]) if self.time_major else (x.shape[1], x.shape[0])
        I = x.shape[2]
        aux, fw_aw, bw_aw = _opt(ctx, 9), _opt(ctx, 10), _opt(ctx, 11)
        ctx.check((fw_aw is None) == (bw_aw is None),
                  "forward and backward aux weights must be both present or both absent")
        self.use_aux = fw_aw is not None
        if self.use_aux:
            ctx.check(aux is not None, "aux weights are given without an aux input (input 9)")
        self.bw_reads_aux = aux is not None and not self.use_aux
        A = 0
        if aux is not None:
            ctx.check_dtype(aux, np.float32, "aux input")
            ctx.check(len(aux.shape) == 3 and aux.shape[:2] == x.shape[:2],
                      f"aux input must be [{x.shape[0]}, {x.shape[1]}, n], got "
                      f"{list(aux.shape)}", aux)
            A = aux.shape[2]
            if self.bw_reads_aux:
                ctx.check(A == I, f"without aux weights the backward cell reads the aux input "
                          f"as its input: it must have {I} features, has {A}", aux)
        self.act = activation_code(o)
        check_activation(ctx, self.act)
        self.cells = []
        for base, aw, name in ((1, 10, "forward"), (5, 11, "backward")):
            w, r, b, h = (ctx.input(base + k) for k in range(4))
            ctx.check(len(w.shape) == 2 and w.shape[1] == I,
                      f"{name} weights must be [units, {I}], got {list(w.shape)}", w)
            U = w.shape[0]
            ctx.check(b.shape == (U,), f"{name} bias must be [{U}], got {list(b.shape)}", b)
            ctx.check(r.shape == (U, U), f"{name} recurrent weights must be [{U}, {U}], got "
                      f"{list(r.shape)}", r)
            ctx.check_dtype(h, np.float32, f"{name} hidden state")
            ctx.check(h.shape == (B, U), f"{name} hidden state must be [{B}, {U}], got "
                      f"{list(h.shape)}", h)
            ctx.check(h.data is None, f"{name} hidden state must not be a constant (the op "
                      f"updates it)", h)
            if self.use_aux:
                a = ctx.input(aw)
                ctx.check(a.shape == (U, A), f"{name} aux weights must be [{U}, {A}], got "
                          f"{list(a.shape)}", a)
            cell = self._cell(ctx, base, aw if self.use_aux else None, name, U, I, A)
            cell.update(U=U, h=base + 3, xproj=ctx.request_scratch((T * B, U)),
                        tmp=ctx.request_scratch((B, U)))
            self.cells.append(cell)
        Uf, Ub = self.cells[0]["U"], self.cells[1]["U"]
        lead = x.shape[:2]
        ctx.set_output(0, lead + ((Uf + Ub) if self.merge else Uf,), np.float32)
        if not self.merge:
            ctx.set_output(1, lead + (Ub,), np.float32)
        self.T, self.B = T, B

    # ---- per-direction hooks (float here; hybrid in quant/rnn.py)
    def _check_input(self, ctx: PrepareContext, x: TensorSpec) -> None:
        if x.dtype in (np.int8, np.uint8):
            raise ctx.error(f"input has type {x.dtype}: quantized {ctx.op_name} is not "
                            f"implemented", x)
        ctx.check_dtype(x, np.float32, "input")

    def _cell(self, ctx: PrepareContext, base: int, aw: int | None, name: str, U: int,
              I: int, A: int) -> dict:
        for i, what in ((base, "weights"), (base + 1, "recurrent weights")):
            spec = ctx.input(i)
            if spec.dtype in (np.int8, np.uint8):
                raise ctx.error(f"{name} {what} have type {spec.dtype}, the input float32: "
                                f"the hybrid kernel needs both directions' weights int8",
                                spec)
            ctx.check_dtype(spec, np.float32, f"{name} {what}")
        ctx.check_dtype(ctx.input(base + 2), np.float32, f"{name} bias")
        packs = [_Packed((I, U)), _Packed((U, U)), _Packed((U,))]
        packs[0].add(ctx, base, (slice(None), slice(None)), True)
        packs[1].add(ctx, base + 1, (slice(None), slice(None)), True)
        packs[2].add(ctx, base + 2, (slice(None),), False)
        aux_scratch = None
        if aw is not None:
            ctx.check_dtype(ctx.input(aw), np.float32, f"{name} aux weights")
            packs.append(_Packed((A, U)))
            packs[3].add(ctx, aw, (slice(None), slice(None)), True)
            aux_scratch = ctx.request_scratch((self._rows(ctx), U))
        return {"packs": packs, "aux_scratch": aux_scratch}

    @staticmethod
    def _rows(ctx: PrepareContext) -> int:
        s = ctx.input(0).shape
        return s[0] * s[1]

    def _project(self, ictx: InvokeContext, cell: dict, src2d, aux2d, xproj) -> None:
        """xproj [T*B, U] = bias + input (+ aux) products of every step."""
        packs = cell["packs"]
        for p in packs:
            if p.dynamic:
                p.refresh(ictx.inputs)
        np.matmul(src2d, packs[0].array, out=xproj)
        if len(packs) == 4:
            ap = ictx.scratch[cell["aux_scratch"]]
            np.matmul(aux2d, packs[3].array, out=ap)
            xproj += ap
        xproj += packs[2].array

    def _step(self, cell: dict, h, xproj_t, o, tmp) -> None:
        np.matmul(h, cell["packs"][1].array, out=tmp)
        np.add(xproj_t, tmp, out=o)
        apply_activation(o, self.act)
        np.copyto(h, o)

    def invoke(self, ictx: InvokeContext) -> None:
        T, B, tm = self.T, self.B, self.time_major
        ins = ictx.inputs
        x, aux = ins[0], ins[9]

        def tb(a):
            return a if tm else a.transpose(1, 0, 2)
        if self.merge:
            Uf = self.cells[0]["U"]
            outs = (tb(ictx.outputs[0])[:, :, :Uf], tb(ictx.outputs[0])[:, :, Uf:])
        else:
            outs = (tb(ictx.outputs[0]), tb(ictx.outputs[1]))
        aux2d = aux.reshape(-1, aux.shape[-1]) if aux is not None else None
        for k, cell in enumerate(self.cells):
            U = cell["U"]
            src = aux if k == 1 and self.bw_reads_aux else x
            xproj = ictx.scratch[cell["xproj"]]
            self._project(ictx, cell, src.reshape(-1, src.shape[-1]), aux2d, xproj)
            xproj_tb = xproj.reshape(T, B, U) if tm else \
                xproj.reshape(B, T, U).transpose(1, 0, 2)
            h = ins[cell["h"]].reshape(B, U)
            tmp = ictx.scratch[cell["tmp"]]
            out_tb = outs[k]
            for t in (range(T) if k == 0 else range(T - 1, -1, -1)):
                self._step(cell, h, xproj_tb[t], out_tb[t], tmp)


@register("SVDF", versions=(1, 4))
class Svdf(Kernel):
    """Singular value decomposition filter: a rank-factored FC over a memory of the
    last memory_size feature activations, kept in the variable state tensor."""

    def prepare(self, ctx: PrepareContext) -> None:
        ctx.check_arity(5, 1)
        x, wf, wt = ctx.input(0), ctx.input(1), ctx.input(2)
        bias = ctx.inputs[3]
        state = ctx.input(4)
        if x.dtype == np.int8:
            raise ctx.error("integer SVDF (int8 input) is not implemented yet", x)
        ctx.check_dtype(x, np.float32, "input")
        for spec, what in ((wf, "feature weights"), (wt, "time weights")):
            if spec.dtype in (np.int8, np.uint8, np.int16):
                raise ctx.error(f"{what} have type {spec.dtype}: hybrid SVDF is not implemented "
                                f"yet (float32 only)", spec)
            ctx.check_dtype(spec, np.float32, what)
        rank = int(getattr(ctx.options, "rank", 0) or 0) if ctx.options is not None else 0
        ctx.check(rank > 0, f"rank must be positive, got {rank}")
        ctx.check(len(x.shape) == 2, f"input must be 2-D [batch, input], got {list(x.shape)}", x)
        B, I = x.shape
        ctx.check(len(wf.shape) == 2 and wf.shape[1] == I,
                  f"feature weights must be [filters, {I}], got {list(wf.shape)}", wf)
        F = wf.shape[0]
        ctx.check(F % rank == 0, f"num_filters ({F}) must be a multiple of rank ({rank})")
        U = F // rank
        ctx.check(len(wt.shape) == 2 and wt.shape[0] == F,
                  f"time weights must be [{F}, memory_size], got {list(wt.shape)}", wt)
        M = wt.shape[1]
        ctx.check(M >= 1, "memory_size must be at least 1", wt)
        if bias is not None:
            ctx.check_dtype(bias, np.float32, "bias")
            ctx.check(bias.shape == (U,), f"bias must be [{U}], got {list(bias.shape)}", bias)
        ctx.check(state.is_variable, "state (input 4) must be a variable tensor", state)
        ctx.check_dtype(state, np.float32, "state")
        ctx.check(state.shape == (B, M * F), f"state must be [{B}, {M * F}], got "
                  f"{list(state.shape)}", state)
        self.act = activation_code(ctx.options)
        check_activation(ctx, self.act)
        ctx.set_output(0, (B, U), np.float32)
        self.wf = _Packed((I, F))
        self.wf.add(ctx, 1, (slice(None), slice(None)), True)
        self.wt = _Packed((F, M))
        self.wt.add(ctx, 2, (slice(None), slice(None)), False)
        self.bias = None
        if bias is not None:
            self.bias = _Packed((U,))
            self.bias.add(ctx, 3, (slice(None),), False)
        self.B, self.F, self.M, self.U, self.rank = B, F, M, U, rank
        self.feat = ctx.request_scratch((B, F))
        self.shift = ctx.request_scratch((B, F, max(M - 1, 1)))

    def invoke(self, ictx: InvokeContext) -> None:
        for p in (self.wf, self.wt, self.bias):
            if p is not None and p.dynamic:
                p.refresh(ictx.inputs)
        B, F, M, U = self.B, self.F, self.M, self.U
        x = ictx.inputs[0]
        state = ictx.inputs[4].reshape(B, F, M)
        feat = ictx.scratch[self.feat]
        if M > 1:
            shift = ictx.scratch[self.shift]
            np.copyto(shift, state[:, :, 1:])
            np.copyto(state[:, :, :-1], shift)
        np.matmul(x, self.wf.array, out=feat)
        np.copyto(state[:, :, M - 1], feat)
        np.einsum("bfm,fm->bf", state, self.wt.array, out=feat)
        out = ictx.outputs[0]
        np.sum(feat.reshape(B, U, self.rank), axis=2, out=out)
        if self.bias is not None:
            out += self.bias.array
        apply_activation(out, self.act)
