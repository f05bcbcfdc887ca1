"""Control flow: WHILE, IF, CALL, CALL_ONCE run other subgraphs of the model.

Each calling node owns executors for the subgraphs it calls (prepared for
the shapes it passes them). When a branch or loop body can change shapes,
the node's outputs are dynamic and take their shapes at invoke.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register


def _shapes(specs):
    return [s.shape for s in specs]


def _child(ctx, index: int, role: str):
    n = len(ctx.model.subgraphs)
    ctx.check(0 <= index < n, f"{role} subgraph index {index} is outside [0, {n})")
    ctx.check(index != ctx.subgraph_index, f"{role} subgraph {index} is the calling subgraph")
    return ctx.runtime.child(index, key=(ctx.op_index, role))


def _prepare_child(ctx, child, specs, role: str):
    """Prepare a child executor for the given input specs; return its output specs."""
    sg = child.sg
    ctx.check(len(sg.inputs) == len(specs),
              f"{role} subgraph {child.index} takes {len(sg.inputs)} inputs, got {len(specs)}")
    for t, s in zip(sg.inputs, specs):
        ctx.check(child.specs[t].dtype == s.dtype,
                  f"{role} subgraph {child.index} input {t} has type {child.specs[t].dtype}, "
                  f"got {s.dtype}", s)
        child.set_input_shape(t, s.shape)
    child.allocate()
    # an output that nothing computes (not an input, a constant, a variable, or written
    # by an operator) would hand back the same zeros every time: a WHILE over it never ends
    written = {t for op in sg.operators for t in op.outputs} | set(sg.inputs)
    for k, t in enumerate(sg.outputs):
        s = child.specs[t]
        ctx.check(t in written or s.data is not None or s.is_variable,
                  f"{role} subgraph {child.index} output {k} (tensor {t} {s.name!r}) is not "
                  f"computed by that subgraph: no operator writes it")
    return [child.specs[t] for t in sg.outputs]


def _check_out_types(ctx, values, role: str) -> None:
    """The node's outputs have the types of the values it copies into them (a mismatch
    failed at invoke with numpy's casting error)."""
    for i, (v, out) in enumerate(zip(values, ctx.outputs)):
        ctx.check(out is None or out.dtype == v.dtype,
                  f"output {i} has type {out.dtype if out is not None else None}, the {role} "
                  f"subgraph returns {v.dtype}", out)


def _copy_out(ictx, outs, values, dynamic):
    for i, v in enumerate(values):
        if i >= len(outs):
            break
        if dynamic[i]:
            arr = ictx.resize_output(i, v.shape)
            arr[...] = v
        else:
            np.copyto(ictx.outputs[i], v)


@register("WHILE", versions=(1, 1))
class While(Kernel):
    def prepare(self, ctx):
        opts = ctx.options
        ctx.check(opts is not None, "has no WhileOptions")
        n = len(ctx.inputs)
        ctx.check(len(ctx.outputs) == n, f"has {n} inputs but {len(ctx.outputs)} outputs")
        self.cond = _child(ctx, int(opts.condSubgraphIndex), "cond")
        self.body = _child(ctx, int(opts.bodySubgraphIndex), "body")
        ins = [ctx.input(i) for i in range(n)]
        cond_out = _prepare_child(ctx, self.cond, ins, "cond")
        ctx.check(len(cond_out) == 1 and cond_out[0].dtype == np.bool_,
                  "cond subgraph must produce one bool tensor")
        body_out = _prepare_child(ctx, self.body, ins, "body")
        ctx.check(len(body_out) == n, f"body subgraph returns {len(body_out)} values, needs {n}")
        _check_out_types(ctx, body_out, "body")
        self.dynamic = []
        for i, (a, b) in enumerate(zip(ins, body_out)):
            ctx.check(a.dtype == b.dtype, f"body output {i} has type {b.dtype}, input {a.dtype}")
            dyn = a.shape != b.shape or b.dynamic
            self.dynamic.append(dyn)
            if dyn:
                ctx.set_output_dynamic(i)
            else:
                ctx.set_output(i, a.shape)

    def invoke(self, ictx):
        # The loop state is the body's output arrays themselves, uncopied, unless one of
        # them shares memory with a body input of another position (a swap written as
        # outputs [in1, in0], or the arena planner placing an output over an input that
        # is dead by then): run() copies its arguments into the inputs one by one, and
        # that would overwrite a value before it is read.
        state = ictx.inputs
        cond, body = self.cond.run, self.body.run
        while True:
            (c,) = cond(state)
            if not c.reshape(-1)[0]:
                break
            state = body(state)
            if self._aliased(state):
                state = [np.array(v) for v in state]
        _copy_out(ictx, ictx.outputs, state, self.dynamic)

    _checked: list | None = None
    _alias = True

    def _aliased(self, outs) -> bool:
        """Whether these body outputs overlap body inputs at other positions (cached
        for as long as the body returns the same arrays)."""
        seen = self._checked
        if seen is not None and len(seen) == len(outs) and \
                all(a is b for a, b in zip(outs, seen)):
            return self._alias
        arrays, inputs = self.body.arrays, self.body.sg.inputs
        self._alias = any(j != k and arrays[t] is not None and np.shares_memory(a, arrays[t])
                          for k, a in enumerate(outs) for j, t in enumerate(inputs))
        self._checked = list(outs)
        return self._alias


@register("IF", versions=(1, 1))
class If(Kernel):
    def prepare(self, ctx):
        opts = ctx.options
        ctx.check(opts is not None, "has no IfOptions")
        cond = ctx.input(0)
        ctx.check(cond.dtype == np.bool_ and cond.size == 1,
                  f"condition must be a single bool, got {cond.dtype} {list(cond.shape)}", cond)
        ins = [ctx.input(i) for i in range(1, len(ctx.inputs))]
        self.then_ = _child(ctx, int(opts.thenSubgraphIndex), "then")
        self.else_ = _child(ctx, int(opts.elseSubgraphIndex), "else")
        t_out = _prepare_child(ctx, self.then_, ins, "then")
        e_out = _prepare_child(ctx, self.else_, ins, "else")
        n = len(ctx.outputs)
        ctx.check(len(t_out) == n and len(e_out) == n,
                  f"branches return {len(t_out)} and {len(e_out)} values for {n} outputs")
        _check_out_types(ctx, t_out, "then")
        _check_out_types(ctx, e_out, "else")
        self.dynamic = []
        for i, (a, b) in enumerate(zip(t_out, e_out)):
            dyn = a.shape != b.shape or a.dynamic or b.dynamic
            self.dynamic.append(dyn)
            if dyn:
                ctx.set_output_dynamic(i)
            else:
                ctx.set_output(i, a.shape)

    def invoke(self, ictx):
        branch = self.then_ if bool(np.asarray(ictx.inputs[0]).reshape(-1)[0]) else self.else_
        values = branch.run(list(ictx.inputs[1:]))
        _copy_out(ictx, ictx.outputs, values, self.dynamic)


@register("CALL", versions=(1, 1))
class Call(Kernel):
    def prepare(self, ctx):
        ctx.check(ctx.options is not None, "has no CallOptions")
        self.sub = _child(ctx, int(ctx.options.subgraph), "called")
        outs = _prepare_child(ctx, self.sub, [ctx.input(i) for i in range(len(ctx.inputs))], "called")
        ctx.check(len(outs) == len(ctx.outputs),
                  f"called subgraph returns {len(outs)} values for {len(ctx.outputs)} outputs")
        _check_out_types(ctx, outs, "called")
        self.dynamic = []
        for i, o in enumerate(outs):
            self.dynamic.append(o.dynamic)
            if o.dynamic:
                ctx.set_output_dynamic(i)
            else:
                ctx.set_output(i, o.shape)

    def invoke(self, ictx):
        _copy_out(ictx, ictx.outputs, self.sub.run(list(ictx.inputs)), self.dynamic)


@register("CALL_ONCE", versions=(1, 1))
class CallOnce(Kernel):
    """Runs the init subgraph on the first invoke only (e.g. variable initializers)."""

    def prepare(self, ctx):
        ctx.check(ctx.options is not None, "has no CallOnceOptions")
        idx = int(ctx.options.initSubgraphIndex)
        self.init = _child(ctx, idx, "init")
        ctx.check(not self.init.sg.inputs and not self.init.sg.outputs,
                  f"init subgraph {idx} must have no inputs and no outputs")
        self.init.allocate()
        self.runtime = ctx.runtime.runtime
        self.key = ("call_once", idx)

    def invoke(self, ictx):
        done = self.runtime._resources.setdefault("__call_once__", set())
        if self.key not in done:
            self.init.invoke()
            done.add(self.key)
