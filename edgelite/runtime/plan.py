"""The execution plan of one subgraph: resolve, prepare, plan memory, invoke.

`allocate()` is TFLite-Micro's four phases: resolve every node's kernel (and
report all unsupported ops at once), prepare every node in order (shapes,
op data, scratch requests), plan the arena from tensor lifetimes, and bind
every node's arrays once. `invoke()` is then a flat loop over prebound
(kernel.invoke, context) pairs. Nodes after the first one whose input shape
is only known at run time (a data-dependent output) are prepared lazily at
invoke, with their outputs outside the arena, and re-prepared only when their
input shapes change.
"""
from __future__ import annotations

import functools
import math
import os
import time
import types

import numpy as np

from edgelite.errors import InterpreterError, ModelError, OpError, UnsupportedOpError
from edgelite.format import ir
from edgelite.kernels.base import InvokeContext, PrepareContext, TensorSpec
from edgelite.runtime.arena import Arena, GreedyPlanner
from edgelite.runtime.fusion import clamp_moves, find_groups, fusion_enabled
from edgelite.runtime.fusion import graph as fusion_graph

_TRACE = os.environ.get("EDGELITE_TRACE", "") not in ("", "0")
_STOP_AFTER = int(os.environ.get("EDGELITE_STOP_AFTER", "-1") or -1)
_NOT_IN_ARENA = (ir.TensorType.STRING, ir.TensorType.RESOURCE, ir.TensorType.VARIANT)
# what bind leaves on a kernel that refers back to it: bound methods, closures, partials
_CALLABLES = (types.MethodType, types.FunctionType, functools.partial)


def _folded_node(ictx) -> None:
    """The invoke of a node whose output was computed once at prepare."""


_QUANTIZED_TYPES = {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)}


def _likely_cause(ctx: PrepareContext) -> str | None:
    """What in a node's tensors or options most likely made its kernel fail with a bare
    Python error at prepare (a damaged file): an 8/16-bit zero point outside its type,
    a scale of 0 on a tensor the node writes (kernels divide by it), a NaN or infinite
    float option. None when nothing stands out. Checked only after a failure, so a
    model whose kernels never trip over such a value still runs, as in LiteRT."""
    for what, specs in (("input", ctx.inputs), ("output", ctx.outputs)):
        for k, s in enumerate(specs):
            q = None if s is None else s.quant
            if q is None or s.dtype not in _QUANTIZED_TYPES:
                continue
            info = np.iinfo(s.dtype)
            zp = q.zero_point
            if zp.size and (int(zp.min()) < info.min or int(zp.max()) > info.max):
                bad = int(zp.min()) if int(zp.min()) < info.min else int(zp.max())
                return (f"{what} {k} (tensor {s.index} {s.name!r}, {s.dtype}) has zero point "
                        f"{bad}, outside [{info.min}, {info.max}]")
            if what == "output" and q.scale.size and not bool((q.scale > 0).all()):
                return (f"{what} {k} (tensor {s.index} {s.name!r}) has quantization scale "
                        f"{float(q.scale.min())}; a quantized kernel needs scales above 0")
    o = ctx.options
    if o is not None:
        from edgelite.format.builder import options_class_name
        want = options_class_name(ctx.op_name)[0]
        have = type(o).__name__.removesuffix("T")
        if want is not None and have != want:
            return f"its builtin options are {have}, not {ctx.op_name}'s {want}"
    for name, v in (vars(o).items() if o is not None and hasattr(o, "__dict__") else ()):
        if isinstance(v, float) and not math.isfinite(v):
            return f"option {name} is {v}"
    return None


def _wrap(e: Exception, where: str, phase: str) -> OpError:
    if isinstance(e, OpError):
        return e
    return OpError(f"{where}: failed to {phase}: {type(e).__name__}: {e}")


class SubgraphExecutor:
    def __init__(self, runtime, index: int):
        self.runtime = runtime            # the Interpreter (model, resolver, resources)
        self.model: ir.Model = runtime._model
        self.index = index
        self.sg = self.model.subgraphs[index]
        self.specs = [self._make_spec(i, t) for i, t in enumerate(self.sg.tensors)]
        self.kernels = None
        self._unallocated()

    def _unallocated(self) -> None:
        """The state of an executor whose kernels (if any) are not yet planned or bound."""
        self.arrays: list[np.ndarray | None] = [None] * len(self.specs)
        self.allocated = False
        self.nested = False               # run by a control-flow node of another subgraph
        self.memory = {}
        self._steps = []
        self._deferred_from = len(self.sg.operators)
        self._deferred_cache: dict[int, tuple] = {}
        self._variables: dict[int, np.ndarray] = {}
        self.children: dict[tuple, SubgraphExecutor] = {}
        self._groups: dict = {}           # node that runs a fused chain -> fusion.FusedGroup
        self._fused_away: dict[int, int] = {}   # other nodes of a chain -> the node running it
        self._interior: dict = {}         # tensors a fused chain no longer computes -> its group
        self._restored = False            # prepared state read from a cache (runtime/cache.py)

    # what prepare (and fusion) leave on an executor: a cache file holds exactly this
    _PREPARED = ("specs", "kernels", "_ctxs", "_folded", "_alias", "_deferred_from", "_groups",
                 "_fused_away", "_interior")

    def prepared_state(self) -> dict:
        state = {name: getattr(self, name) for name in self._PREPARED}
        # The nodes of a fused chain (whose fused kernel runs them) bind and invoke nothing
        # of their own: their kernels are written unprepared (a resize prepares them
        # anew, as it does every node), the interior nodes' contexts not at all. (The
        # transformer encoder: 40 of its 82 kernels, ~0.1 ms of a cached load.)
        if self._groups:
            state["kernels"] = [type(k)() if (i in self._fused_away or i in self._groups)
                                and k is not None else k for i, k in enumerate(self.kernels)]
            state["_ctxs"] = [None if i in self._fused_away else c
                              for i, c in enumerate(self._ctxs)]
        return state

    def restore(self, runtime, model: ir.Model, state: dict, layout: dict) -> None:
        """Become subgraph 0's executor as prepared (the state of prepared_state()), so
        allocate() only plans and binds; an input resized first prepares as usual."""
        self.runtime = runtime
        self.model = model
        self.index = 0
        self.sg = model.subgraphs[0]
        self.specs = state["specs"]
        self._unallocated()
        for name in self._PREPARED:
            setattr(self, name, state[name])
        self.layout = layout
        self._restored = True

    # ------------------------------------------------------------ tensors
    def _make_spec(self, i: int, t: ir.Tensor) -> TensorSpec:
        try:
            dtype = t.dtype
        except KeyError:
            dtype = np.dtype(np.uint8)
        data = None
        if not t.is_variable and getattr(t, "sparsity", None) is not None:
            data = self._dense_constant(i, t, dtype)
        elif not t.is_variable:
            try:
                data = self.model.constant(t)
            except (ValueError, ModelError) as e:
                raise ModelError(f"subgraph {self.index}, tensor {i} {t.name!r}: constant data "
                                 f"does not fit its shape: {e}") from None
        return TensorSpec(index=i, name=t.name, shape=tuple(t.shape), dtype=dtype, type=t.type,
                          quant=t.quantization, data=data, is_variable=t.is_variable)

    def _dense_constant(self, i: int, t: ir.Tensor, dtype: np.dtype) -> np.ndarray | None:
        """A sparse constant (TACO sparsity parameters: DENSIFY's input, or sparse
        FULLY_CONNECTED weights) expanded once at load, so every kernel sees a dense
        constant, as LiteRT's DENSIFY / sparse kernels compute with."""
        if not 0 < t.buffer < len(self.model.buffers):
            return None
        buf = self.model.buffers[t.buffer].data
        if buf is None or not np.asarray(buf).size:
            return None
        from edgelite.kernels.extra_numeric import densify
        raw = np.asarray(buf, np.uint8).reshape(-1)
        where = f"subgraph {self.index}, tensor {i} {t.name!r}"
        if raw.size % dtype.itemsize:
            raise ModelError(f"{where}: sparse constant of {raw.size} bytes is not a whole "
                             f"number of {dtype} values")
        try:
            return densify(tuple(t.shape), dtype, t.sparsity, raw.view(dtype))
        except ValueError as e:
            raise ModelError(f"{where}: bad sparsity parameters: {e}") from None

    def release(self) -> None:
        """Break this executor's and its kernels' reference cycles (the interpreter is
        gone): a kernel's invoke bound to itself or a closure over it (bind puts them on
        the kernel), the contexts naming this executor, its steps. Else they wait for the
        cycle collector, holding the prepared weights and the arena. A kernel keeps the
        rest of its state (a custom op's free() still gets its data)."""
        if "children" not in self.__dict__:         # (released already)
            return
        for child in list(self.children.values()):
            child.release()
        kernels = list(self.kernels or ())
        kernels += [getattr(g, "kernel", None) for g in self._groups.values()]
        for k in kernels:
            d = getattr(k, "__dict__", None)
            if d:
                # (type(), not isinstance: a weak proxy of the dead interpreter raises)
                for name in [n for n, v in d.items() if type(v) in _CALLABLES]:
                    del d[name]
        self.__dict__.clear()

    def where(self, op_index: int) -> str:
        op = self.sg.operators[op_index]
        return f"subgraph {self.index}, operator {op_index} ({self.model.op_name(op)})"

    def child(self, subgraph_index: int, key=None) -> SubgraphExecutor:
        """An executor for another subgraph (control flow), one per calling node."""
        k = (subgraph_index, key)
        if k not in self.children:
            if not 0 <= subgraph_index < len(self.model.subgraphs):
                raise OpError(f"subgraph {self.index}: calls subgraph {subgraph_index}, which "
                              f"does not exist")
            self.children[k] = SubgraphExecutor(self.runtime, subgraph_index)
            self.children[k].nested = True
        return self.children[k]

    # ------------------------------------------------------------ resolve
    def resolve(self) -> list[str]:
        """Create the kernels; return a line per unsupported node."""
        problems = []
        kernels = []
        for oi, op in enumerate(self.sg.operators):
            code = self.model.operator_codes[op.opcode_index]
            tensors = [self.sg.tensors[i] if i >= 0 else None for i in op.inputs]
            cls, reason = self.runtime._resolver.find(code, tensors)
            if cls is None:
                outs = ", ".join(repr(self.sg.tensors[t].name) for t in op.outputs if t >= 0)
                problems.append(f"  subgraph {self.index}, operator {oi} ({code.name} version "
                                f"{code.version}, outputs {outs}): {reason}")
                kernels.append(None)
            else:
                kernels.append(cls())
        self.kernels = kernels
        return problems

    # ------------------------------------------------------------ prepare
    def _prepare_ctx(self, oi: int) -> PrepareContext:
        op = self.sg.operators[oi]
        code = self.model.operator_codes[op.opcode_index]
        return PrepareContext(
            model=self.model, subgraph_index=self.index, op_index=oi, op_name=code.name,
            version=code.version, options=op.options if op.options is not None else op.options2,
            custom_options=op.custom_options,
            inputs=[self.specs[i] if i >= 0 else None for i in op.inputs],
            outputs=[self.specs[i] if i >= 0 else None for i in op.outputs],
            intermediates=[self.specs[i] for i in op.intermediates if i >= 0],
            runtime=self, num_threads=self.runtime._num_threads,
            reference=self.runtime._reference)

    def set_input_shape(self, tensor_index: int, shape) -> None:
        self.specs[tensor_index].shape = tuple(int(d) for d in shape)
        self.allocated = False
        self._restored = False

    def allocate(self) -> None:
        if self._restored:
            # prepared from a cache file: plan and bind
            self._restored = False
            self._place(self.layout)
            self._bind()
            self.allocated = True
            return
        if self.kernels is None:
            problems = self.resolve()
            if problems:
                raise UnsupportedOpError(
                    f"{len(problems)} node(s) have no kernel:\n" + "\n".join(problems))
        # Reset shapes of non-input, non-constant tensors to what the file says,
        # so a re-prepare after a resize starts from the declared state.
        inputs = set(self.sg.inputs)
        for i, t in enumerate(self.sg.tensors):
            s = self.specs[i]
            s.dynamic = False
            if i not in inputs and s.data is None and not s.is_variable:
                s.shape = tuple(t.shape)
        self._ctxs = [None] * len(self.sg.operators)
        self._folded = set()
        self._alias: dict[int, int] = {}     # tensor -> arena tensor it is a view of
        self._deferred_from = len(self.sg.operators)
        self._deferred_cache = {}
        limit = self.runtime._max_arena_bytes
        for t in (*self.sg.inputs, *(i for i, s in enumerate(self.specs) if s.is_variable)):
            if 0 <= t < len(self.specs):
                self._check_bytes(self.specs[t], limit, "a variable" if self.specs[t].is_variable
                                  else "an input of the subgraph")
        for oi in range(len(self.sg.operators)):
            ctx = self._prepare_ctx(oi)
            if any(s is not None and s.dynamic for s in ctx.inputs):
                self._deferred_from = oi
                break
            self._check_outputs_present(oi, ctx)
            try:
                self.kernels[oi].prepare(ctx)
            except Exception as e:
                raise self._failure(e, oi, "prepare", ctx) from e
            self._ctxs[oi] = ctx
            self._fold_constant(oi, ctx)
            self._alias_output(oi, ctx)
        self._fuse()
        self._plan_memory()
        cache = None if self.nested or self.index else getattr(self.runtime, "_cache", None)
        if cache is not None and cache.claim_write():
            # written before bind (the kernels' state is as prepare left it; planning
            # made the arena's views, not theirs), and taken back if bind fails
            reason = self._not_cacheable()
            if reason is None:
                cache.save(self)
            else:
                cache.skipped = reason
        else:
            cache = None
        try:
            self._bind()
        except BaseException:
            if cache is not None:
                cache.discard("the first allocate_tensors() failed")
            raise
        self.allocated = True

    def _not_cacheable(self) -> str | None:
        """Why this first allocation's prepared state is not all a cache file would need:
        it must be at the file's input shapes, with no other subgraph or shared resource
        made at prepare (control flow, variables, hash tables: the runtime holds those)."""
        if self.children:
            return "the model calls other subgraphs (control flow)"
        if self.runtime._resources:
            return "the model's kernels share resources (variables, hash tables)"
        if any(self.specs[i].shape != tuple(self.sg.tensors[i].shape) for i in self.sg.inputs):
            return "an input was resized before the first allocate_tensors()"
        return None

    def _failure(self, e: Exception, oi: int, phase: str, ctx=None) -> OpError:
        """The error for node oi's failure: an OpError as raised, else the likely cause
        in the node's tensors or options when one stands out, else the bare error
        wrapped with the node's place."""
        if not isinstance(e, OpError):
            if ctx is None and 0 <= oi < len(self.sg.operators):
                g = self._groups.get(oi)
                ctx = g.ctx if g is not None else (self._ctxs[oi] if self._ctxs else None)
            cause = _likely_cause(ctx) if ctx is not None else None
            if cause is not None:
                return OpError(f"{self.where(oi)}: failed to {phase}: {cause} "
                               f"({type(e).__name__}: {e})")
        return _wrap(e, self.where(oi), phase)

    def _check_outputs_present(self, oi: int, ctx: PrepareContext) -> None:
        """A builtin operator writes every output it lists: an output index of -1 (the
        'omitted' marker, which only inputs may use) would reach the kernel as None and
        fail later with an unreadable error. Custom ops decide for themselves."""
        code = self.model.operator_codes[self.sg.operators[oi].opcode_index]
        if code.builtin_code == ir.BuiltinOperator.CUSTOM:
            return
        for k, out in enumerate(ctx.outputs):
            if out is None:
                raise OpError(f"{self.where(oi)}: output {k} is the omitted-tensor marker "
                              f"-1; a builtin operator needs a tensor for every output")

    def _check_bytes(self, spec: TensorSpec, limit: int, source: str) -> None:
        """Refuse an input or variable over the arena limit before any kernel allocates
        for it (a kernel's own padded or column buffers grow with its input), as
        PrepareContext.set_output refuses an output and _plan_memory the arena."""
        if spec.data is not None or spec.type in _NOT_IN_ARENA:
            return
        nbytes = spec.size * spec.dtype.itemsize
        if nbytes > limit:
            raise ModelError(f"subgraph {self.index}: tensor {spec.index} {spec.name!r} "
                             f"{list(spec.shape)} {spec.dtype}, {nbytes} bytes, {source}, is over "
                             f"the {limit}-byte arena limit (set EDGELITE_MAX_ARENA_BYTES to "
                             f"raise it)")

    def _fold_constant(self, oi: int, ctx: PrepareContext) -> None:
        """A node whose kernel computed its one output from constant inputs at
        prepare (`kernel.constant`: DEQUANTIZE of float16 / int8 weights) makes
        that output a constant: later nodes prepare against it (a convolution
        re-lays its weights once) and the node does nothing at invoke, instead
        of copying the weights out and having them re-laid on every invoke."""
        value = getattr(self.kernels[oi], "constant", None)
        if not isinstance(value, np.ndarray) or len(ctx.outputs) != 1:
            return
        out = ctx.outputs[0]
        if (out is None or out.is_variable or out.index in self.sg.outputs
                or any(s is not None and s.data is None for s in ctx.inputs)
                or value.shape != out.shape or value.dtype != out.dtype):
            return
        out.data = value
        self._folded.add(oi)

    def _alias_output(self, oi: int, ctx: PrepareContext) -> None:
        """RESHAPE / SQUEEZE / EXPAND_DIMS (kernels that set `alias_input0`) only
        relabel their input's bytes: the output becomes a view of the input's arena
        memory (whose lifetime is extended to the output's) and the node does nothing
        at invoke, instead of copying. A constant input makes a constant output."""
        if oi in self._folded or not getattr(self.kernels[oi], "alias_input0", False):
            return
        src, out = ctx.inputs[0] if ctx.inputs else None, ctx.outputs[0]
        if (src is None or out is None or len(ctx.outputs) != 1 or out.is_variable
                or out.dynamic or src.dynamic or src.is_variable or out.data is not None
                or src.dtype != out.dtype or src.size != out.size
                or src.type in _NOT_IN_ARENA or out.type in _NOT_IN_ARENA):
            return
        if src.data is not None:
            if out.index in self.sg.outputs:
                return
            out.data = np.asarray(src.data).reshape(out.shape)
            self._folded.add(oi)
            return
        self._alias[out.index] = self._alias.get(src.index, src.index)
        self._folded.add(oi)

    # ------------------------------------------------------------ fusion
    def _fuse(self) -> None:
        """Replace recognized chains of prepared nodes by one fused kernel each
        (runtime/fusion.py); off with experimental_preserve_all_tensors, reference
        kernels, or EDGELITE_FUSE=0."""
        self._groups, self._fused_away, self._interior = {}, {}, {}
        if self.runtime._preserve_all or self.runtime._reference or not fusion_enabled():
            return
        limit = min(self._deferred_from, len(self.sg.operators))
        view = fusion_graph(self, limit)
        for conv, pool, _t in clamp_moves(self, limit, view):
            ck, pk = self.kernels[conv], self.kernels[pool]
            if (hasattr(ck, "take_clamp") and getattr(pk, "accepts_clamp", None) is not None
                    and pk.accepts_clamp()):
                bounds = ck.take_clamp()
                if bounds is not None:
                    pk.add_clamp(bounds)
            # then the conv may store its rows by parity for the pool's row step
            if (getattr(pk, "accepts_row_parity", None) is not None and pk.accepts_row_parity()
                    and hasattr(ck, "take_row_parity") and ck.take_row_parity()):
                pk.use_row_parity()
        for g in find_groups(self, limit, view):
            # (imported when a chain is found: ~1 ms of a cold start otherwise)
            from edgelite.kernels.fused import make_kernel
            run = g.run_at
            nodes = ", ".join(str(n) for n in g.nodes)
            ctx = PrepareContext(
                model=self.model, subgraph_index=self.index, op_index=run,
                op_name=f"{g.name} fused from operators {nodes}", version=1, options=None,
                custom_options=None, inputs=[self.specs[t] for t in g.inputs],
                outputs=[self.specs[t] for t in g.outputs], runtime=self,
                num_threads=self.runtime._num_threads, reference=self.runtime._reference)
            g.kernel = make_kernel(g)
            try:
                g.kernel.prepare(ctx)
            except Exception as e:
                raise _wrap(e, self.where(run), "prepare the fused chain") from e
            g.ctx = ctx
            self._groups[run] = g
            for n in g.nodes:
                if n != run:
                    self._fused_away[n] = run
            for t in g.interior:
                self._interior[t] = g

    def _io(self, oi: int):
        """The tensors node oi reads and writes at invoke (fusion-aware)."""
        g = self._groups.get(oi)
        if g is not None:
            return g.inputs, g.outputs
        if oi in self._fused_away:
            return (), ()
        op = self.sg.operators[oi]
        return op.inputs, op.outputs

    def _node_scratch(self, oi: int) -> list:
        g = self._groups.get(oi)
        if g is not None:
            return g.ctx.scratch
        return [] if oi in self._fused_away else self._ctxs[oi].scratch

    def not_computed(self, t: int) -> str | None:
        """Why tensor t has no value after invoke when it is a fused chain's interior."""
        g = self._interior.get(t)
        if g is None:
            return None
        return (f"it is an intermediate of the {g.name} chain (operators "
                f"{', '.join(str(n) for n in g.nodes)}) that edgelite runs as one fused kernel; "
                f"construct the Interpreter with experimental_preserve_all_tensors=True (or set "
                f"EDGELITE_FUSE=0) to compute and keep it")

    # ------------------------------------------------------------ memory
    def _plan_memory(self) -> None:
        n_ops = len(self.sg.operators)
        end = n_ops + 1
        preserve = self.runtime._preserve_all
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        # Graph inputs stay intact for the whole invoke (as in TFLite): a second
        # invoke without set_tensor sees the same input.
        for i in self.sg.inputs:
            first[i] = 0
            last[i] = end
        for oi in range(min(self._deferred_from, n_ops)):
            ins, outs = self._io(oi)
            for t in outs:
                if t >= 0:
                    first.setdefault(t, oi + 1)
                    last[t] = max(last.get(t, oi + 1), end if preserve else oi + 1)
            for t in ins:
                if t >= 0:
                    first.setdefault(t, oi + 1)
                    last[t] = max(last.get(t, 0), oi + 1)
        for oi in range(self._deferred_from, n_ops):
            for t in self.sg.operators[oi].inputs:
                if t >= 0 and t in first:
                    last[t] = end
        produced = None
        for t in self.sg.outputs:
            if t not in first:
                # an output that no operator writes and that is not an input still gets
                # memory, as in LiteRT: it reads as zeros instead of None (a deferred
                # node's output gets its array when that node runs)
                if produced is None:
                    produced = {u for op in self.sg.operators for u in op.outputs}
                if t in produced:
                    continue
                first[t] = 0
            last[t] = end
        # A view shares its root's bytes, so the root lives as long as any view of it.
        for t, root in self._alias.items():
            if t in last:
                last[root] = max(last.get(root, 0), last[t])
        planner = GreedyPlanner()
        placed: list[tuple[int, int]] = []   # (tensor, request)
        variables = []
        for t, f in first.items():
            s = self.specs[t]
            if s.data is not None or s.dynamic or s.type in _NOT_IN_ARENA or t in self._alias:
                continue
            if s.is_variable:
                variables.append(t)
                continue
            nbytes = s.size * s.dtype.itemsize
            placed.append((t, planner.add_buffer(nbytes, f, last[t], s.name)))
        scratch_reqs = []
        for oi in range(min(self._deferred_from, n_ops)):
            for k, (shape, dtype) in enumerate(self._node_scratch(oi)):
                nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
                scratch_reqs.append((oi, k, planner.add_buffer(nbytes, oi + 1, oi + 1,
                                                               f"scratch {oi}.{k}")))
        size = planner.arena_size()
        limit = self.runtime._max_arena_bytes
        if size > limit:
            raise ModelError(f"subgraph {self.index}: the tensors need a {size}-byte arena, over "
                             f"the {limit}-byte limit (set EDGELITE_MAX_ARENA_BYTES to raise it)"
                             f"; largest: {self._largest_tensor(placed)}")
        self.layout = {
            "arena_bytes": size, "lower_bound_bytes": planner.lower_bound(),
            "naive_bytes": planner.naive_size(), "variables": variables,
            "tensors": [(t, planner.offset(req)) for t, req in placed],
            "scratch": [(oi, k, planner.offset(req)) for oi, k, req in scratch_reqs],
            "planner": planner}
        self._place(self.layout)

    @property
    def planner(self) -> GreedyPlanner:
        """The memory plan's planner (read from a cache file: unpickled when first asked)."""
        if isinstance(self._planner, bytes):
            import pickle
            self._planner = pickle.loads(self._planner)
        return self._planner

    def _place(self, layout: dict) -> None:
        """Make the arena and every tensor's and scratch buffer's view of it, at the
        offsets planned (by _plan_memory, or read from a cache file with the prepared
        state they were planned for)."""
        persistent = 0
        for t in layout["variables"]:
            s = self.specs[t]
            arr = self._variables.get(t)
            if arr is None or arr.shape != s.shape or arr.dtype != s.dtype:
                arr = self._initial_variable(t)
                self._variables[t] = arr
            persistent += arr.nbytes
        size = layout["arena_bytes"]
        # Not zeroed as a whole (on a reused heap that was a memset of the whole arena,
        # 0.2-0.4 ms of a MobileNetV2 load): no kernel reads arena memory it did not write
        # (tests/runtime/test_arena_poison.py); only the subgraph's inputs and outputs,
        # which a user may read before anything writes them, are zeroed below.
        self.arena = Arena(size, zero=False)
        self._planner = layout["planner"]
        self.arrays = [None] * len(self.specs)
        for i, s in enumerate(self.specs):
            if s.data is not None:
                self.arrays[i] = s.data
        for t, arr in self._variables.items():
            self.arrays[t] = arr
        # (views made by the ndarray constructor itself, which refuses a view outside the
        # buffer: ~0.3 us each, ~200-350 per load of MobileNetV2 or the int8 encoder)
        buf, view = self.arena.buffer, np.ndarray
        for t, offset in layout["tensors"]:
            s = self.specs[t]
            self.arrays[t] = view(s.shape, s.dtype, buf, offset)
        for t, root in self._alias.items():
            self.arrays[t] = self.arrays[root].reshape(self.specs[t].shape)
        for t in (*self.sg.inputs, *self.sg.outputs):
            a = self.arrays[t] if 0 <= t < len(self.arrays) else None
            if a is not None and self.specs[t].data is None and not self.specs[t].is_variable:
                a.fill(0)
        for i, s in enumerate(self.specs):
            if self.arrays[i] is None and s.type in _NOT_IN_ARENA and not s.dynamic:
                self.arrays[i] = np.zeros(s.shape, dtype=s.dtype)
        self._scratch = {}
        node, wanted = None, None
        for oi, k, offset in layout["scratch"]:
            if oi != node:
                node, wanted = oi, self._node_scratch(oi)
                views = self._scratch.setdefault(oi, [])
            shape, dtype = wanted[k]
            views.append(view(shape, dtype, buf, offset))
        self.memory = {
            "arena_bytes": size,
            "lower_bound_bytes": layout["lower_bound_bytes"],
            "naive_bytes": layout["naive_bytes"],
            "persistent_bytes": persistent,
        }

    def _largest_tensor(self, placed: list[tuple[int, int]]) -> str:
        """The biggest arena tensor, named with its shape and the node that writes it."""
        if not placed:
            return "scratch buffers"
        t = max((t for t, _ in placed), key=lambda i: self.specs[i].size * self.specs[i].dtype.itemsize)
        s = self.specs[t]
        producer = next((f"operator {oi} ({self.model.op_name(op)})"
                         for oi, op in enumerate(self.sg.operators) if t in op.outputs), "an input")
        return (f"tensor {t} '{s.name}' {list(s.shape)} {s.dtype}, "
                f"{s.size * s.dtype.itemsize} bytes, written by {producer}")

    def _initial_variable(self, t: int) -> np.ndarray:
        """A variable tensor's reset value: its zero point (0 when not quantized), as
        LiteRT's ResetVariableTensor; like LiteRT, a buffer in the file is ignored."""
        s = self.specs[t]
        q = s.quant
        fill = int(q.zero_point[0]) if q is not None and q.zero_point.size and \
            s.dtype.kind in "iu" else 0
        return np.full(s.shape, fill, dtype=s.dtype)

    def reset_variables(self) -> None:
        for t, arr in self._variables.items():
            arr[...] = self._initial_variable(t)
        for child in self.children.values():
            child.reset_variables()

    # ------------------------------------------------------------ bind
    def _resize_output(self, oi: int, i: int, shape):
        """Output i of node oi gets `shape` at invoke (a dynamic output): its array,
        made anew when the shape changed (InvokeContext.resize_output)."""
        t = self.sg.operators[oi].outputs[i]
        s = self.specs[t]
        arr = self.arrays[t]
        if arr is None or arr.shape != shape:
            self._ctxs[oi].check_bytes(shape, s.dtype, s)    # (as set_output does)
            arr = np.empty(shape, dtype=s.dtype)
            self.arrays[t] = arr
        s.shape = shape
        return arr

    def _make_ictx(self, oi: int) -> InvokeContext:
        """Node oi's arrays (fusion-aware, _io), with one resize function, a partial of
        _resize_output (not a closure per node: bind makes one per node at every load)."""
        ins_t, outs_t = self._io(oi)
        g = self._groups.get(oi)
        arrays = self.arrays
        return InvokeContext([arrays[i] if i >= 0 else None for i in ins_t],
                             [arrays[i] if i >= 0 else None for i in outs_t],
                             self._scratch.get(oi, []),
                             g.ctx if g is not None else self._ctxs[oi],
                             functools.partial(self._resize_output, oi))

    def _bind(self) -> None:
        steps = []
        for oi in range(min(self._deferred_from, len(self.sg.operators))):
            if oi in self._fused_away:
                steps.append((_folded_node, None))
                continue
            g = self._groups.get(oi)
            kernel = g.kernel if g is not None else self.kernels[oi]
            ictx = self._make_ictx(oi)
            try:
                kernel.bind(ictx)
            except Exception as e:
                raise _wrap(e, self.where(oi), "bind") from e
            fn = _folded_node if oi in self._folded else kernel.invoke
            steps.append((fn, ictx))
        self._steps = steps

    # ------------------------------------------------------------ invoke
    def invoke(self, profiler=None) -> None:
        if not self.allocated:
            raise InterpreterError(f"subgraph {self.index}: invoke before allocate_tensors")
        if profiler is not None or _TRACE or _STOP_AFTER >= 0:
            return self._invoke_slow(profiler)
        i = 0
        steps = self._steps
        try:
            for fn, c in steps:
                fn(c)
                i += 1
        except Exception as e:
            raise self._failure(e, i, "invoke") from e
        if self._deferred_from < len(self.sg.operators):
            self._invoke_deferred(None)

    def _refresh_dynamic_inputs(self, ictx: InvokeContext, oi: int) -> None:
        op = self.sg.operators[oi]
        for k, t in enumerate(op.inputs):
            if t >= 0:
                ictx.inputs[k] = self.arrays[t]

    def _invoke_slow(self, profiler) -> None:
        for i, (fn, c) in enumerate(self._steps):
            if _STOP_AFTER >= 0 and i > _STOP_AFTER:
                return
            t0 = time.perf_counter()
            try:
                fn(c)
            except Exception as e:
                raise self._failure(e, i, "invoke") from e
            dt = time.perf_counter() - t0
            if profiler is not None and i not in self._fused_away:
                g = self._groups.get(i)
                name = f"{g.name} (fused)" if g is not None else \
                    self.model.op_name(self.sg.operators[i])
                profiler.record(self.index, i, name, dt, self.nested)
            if _TRACE:
                self._trace(i, dt)
        if self._deferred_from < len(self.sg.operators):
            self._invoke_deferred(profiler)

    def _trace(self, oi: int, dt: float) -> None:
        op = self.sg.operators[oi]
        outs = []
        for t in op.outputs:
            a = self.arrays[t] if t >= 0 else None
            if a is not None and a.dtype != object and a.size:
                outs.append(f"{self.sg.tensors[t].name}{list(a.shape)} {a.dtype} "
                            f"min={a.min():.4g} max={a.max():.4g}")
        print(f"[edgelite] {self.where(oi)} {dt * 1e6:.1f}us -> " + "; ".join(outs), flush=True)

    def _invoke_deferred(self, profiler) -> None:
        for oi in range(self._deferred_from, len(self.sg.operators)):
            op = self.sg.operators[oi]
            key = tuple(self.arrays[t].shape if t >= 0 and self.arrays[t] is not None else None
                        for t in op.inputs)
            cached = self._deferred_cache.get(oi)
            t0 = time.perf_counter()
            try:
                if cached is None or cached[0] != key:
                    for t in op.inputs:
                        if t >= 0 and self.arrays[t] is None:
                            raise OpError(f"{self.where(oi)}: input tensor {t} "
                                          f"{self.sg.tensors[t].name!r} has no value")
                    for t in op.inputs:
                        if t >= 0:
                            self.specs[t].shape = tuple(self.arrays[t].shape)
                            self.specs[t].dynamic = False
                    ctx = self._prepare_ctx(oi)
                    self.kernels[oi].prepare(ctx)
                    self._ctxs[oi] = ctx
                    for t in op.outputs:
                        s = self.specs[t] if t >= 0 else None
                        if s is None or s.is_variable:
                            continue
                        if not s.dynamic:
                            a = self.arrays[t]
                            if a is None or a.shape != s.shape or a.dtype != s.dtype:
                                self.arrays[t] = np.empty(s.shape, dtype=s.dtype)
                    self._scratch[oi] = [np.empty(sh, dt) for sh, dt in ctx.scratch]
                    ictx = self._make_ictx(oi)
                    self.kernels[oi].bind(ictx)
                    self._deferred_cache[oi] = (key, ictx)
                else:
                    ictx = cached[1]
                    self._refresh_dynamic_inputs(ictx, oi)
                self.kernels[oi].invoke(ictx)
            except Exception as e:
                raise self._failure(e, oi, "invoke") from e
            if profiler is not None:
                profiler.record(self.index, oi, self.model.op_name(op), time.perf_counter() - t0,
                                self.nested)

    # ------------------------------------------------------------ helpers for kernels
    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run this subgraph as a function (control flow): set inputs, invoke, return outputs."""
        specs, arrays, sg_inputs = self.specs, self.arrays, self.sg.inputs
        if self.allocated:
            for t, x in zip(sg_inputs, inputs):
                if specs[t].shape != (x.shape if type(x) is np.ndarray else tuple(np.shape(x))):
                    break
            else:
                # steady state: same shapes as the last run, copy inputs and go
                for t, x in zip(sg_inputs, inputs):
                    a = arrays[t]
                    if a is None:
                        arrays[t] = np.array(x, dtype=specs[t].dtype)
                    elif a is not x:
                        a[...] = x
                self.invoke(self.runtime._profiler)
                return [self.arrays[t] for t in self.sg.outputs]
        for t, x in zip(sg_inputs, inputs):
            self.set_input_shape(t, np.shape(x))
        self.allocate()
        for t, x in zip(self.sg.inputs, inputs):
            if self.arrays[t] is not None and self.arrays[t] is not x:
                self.arrays[t][...] = x
            elif self.arrays[t] is None:
                self.arrays[t] = np.array(x, dtype=self.specs[t].dtype)
        self.invoke(self.runtime._profiler)
        return [self.arrays[t] for t in self.sg.outputs]
