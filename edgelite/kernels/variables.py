"""Resource variables: VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE.

A VAR_HANDLE node yields an int32 resource id for (container, shared_name);
ids and values live in the interpreter, shared by all its subgraphs, and
persist across invokes.
"""
from __future__ import annotations

import numpy as np

from edgelite.kernels.base import Kernel
from edgelite.kernels.registry import register


def _store(runtime) -> dict:
    return runtime._resources.setdefault("__variables__", {"ids": {}, "values": {}})


@register("VAR_HANDLE", versions=(1, 1))
class VarHandle(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(0, 1)
        o = ctx.options
        container = (o.container or b"") if o is not None else b""
        name = (o.sharedName or b"") if o is not None else b""
        store = _store(ctx.runtime.runtime)
        key = (bytes(container), bytes(name))
        self.rid = store["ids"].setdefault(key, len(store["ids"]))
        ctx.set_output(0, ctx.outputs[0].shape)

    def invoke(self, ictx):
        ictx.outputs[0][...] = self.rid


@register("READ_VARIABLE", versions=(1, 1))
class ReadVariable(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(1, 1)
        ctx.input(0)
        self.values = _store(ctx.runtime.runtime)["values"]
        out = ctx.outputs[0]
        if ctx.model.subgraphs[ctx.subgraph_index].tensors[out.index].shape_signature and \
                -1 in ctx.model.subgraphs[ctx.subgraph_index].tensors[out.index].shape_signature:
            ctx.set_output_dynamic(0)
            self.dynamic = True
        else:
            self.dynamic = False
            ctx.set_output(0, out.shape)

    def invoke(self, ictx):
        rid = int(np.asarray(ictx.inputs[0]).reshape(-1)[0])
        value = self.values.get(rid)
        if value is None:
            raise ictx.error(f"reads resource variable {rid} before anything assigned it")
        if self.dynamic:
            ictx.resize_output(0, value.shape)[...] = value
        else:
            out = ictx.outputs[0]
            if out.shape != value.shape:
                raise ictx.error(f"variable {rid} has shape {list(value.shape)}, the output "
                                 f"tensor {list(out.shape)}")
            np.copyto(out, value)


@register("ASSIGN_VARIABLE", versions=(1, 1))
class AssignVariable(Kernel):
    def prepare(self, ctx):
        ctx.check_arity(2, 0)
        ctx.input(0)
        self.values = _store(ctx.runtime.runtime)["values"]
        # hash tables (extra_lookup.py) share the resource id space, as in LiteRT
        self.tables = ctx.runtime.runtime._resources.setdefault("__hashtables__", {})
        self.dtype = ctx.input(1).dtype

    def invoke(self, ictx):
        rid = int(np.asarray(ictx.inputs[0]).reshape(-1)[0])
        if rid in self.tables:
            raise ictx.error(f"assigns resource {rid}, which is a hash table, not a variable")
        value = ictx.inputs[1]
        old = self.values.get(rid)
        if old is not None and old.shape == value.shape:
            np.copyto(old, value)
        else:
            self.values[rid] = np.array(value)
