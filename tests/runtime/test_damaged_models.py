"""Damaged models (the classes a fuzzing campaign over both kernel tiers found) fail
with an edgelite error that says what is wrong and where, not with a Python
error from inside a kernel (AttributeError: 'NoneType' ..., ZeroDivisionError,
OverflowError, MemoryError) that the runtime could only wrap."""
from __future__ import annotations

import numpy as np
import pytest

import edgelite
from edgelite.errors import ModelError, OpError
from edgelite.format.builder import ModelBuilder, make_options
from edgelite.format.writer import to_bytes
from edgelite.kernels import compiled


def _allocate(model) -> edgelite.Interpreter:
    data = model if isinstance(model, bytes) else to_bytes(model)
    it = edgelite.Interpreter(model_content=data)
    it.allocate_tensors()
    return it


def _error(model, kind=OpError) -> str:
    with pytest.raises(kind) as info:
        _allocate(model)
    return str(info.value)


def _int8_conv(activation="RELU6") -> tuple[ModelBuilder, int]:
    b = ModelBuilder()
    x = b.add_input("x", (1, 4, 4, 2), np.int8, quant=(0.5, 3))
    w = b.add_constant("w", np.ones((3, 1, 1, 2), np.int8), quant=(0.1, 0))
    bias = b.add_constant("b", np.zeros(3, np.int32), quant=(0.05, 0))
    y = b.add_tensor("y", (1, 4, 4, 3), np.int8, quant=(0.2, -1))
    b.add_op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
             fused_activation_function=activation)
    b.add_output(y)
    return b, y


def test_an_output_of_minus_one_is_named():
    # (ADD's kernel used to get None for its output and fail at bind or invoke)
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.float32)
    b.add_op("ADD", [x, x], [-1])
    b.add_output(x)
    msg = _error(b.build())
    assert "subgraph 0, operator 0 (ADD): output 0 is the omitted-tensor marker -1" in msg


def test_an_input_over_the_arena_limit_is_refused_before_any_kernel_allocates(monkeypatch):
    # (a mutated batch made a depthwise kernel ask numpy for a 196 GiB padded buffer)
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", str(1 << 20))
    b = ModelBuilder()
    x = b.add_input("big_input", (64, 64, 64, 4), np.float32)
    w = b.add_constant("w", np.ones((1, 3, 3, 4), np.float32))
    y = b.add_tensor("y", (64, 64, 64, 4), np.float32)
    b.add_op("DEPTHWISE_CONV_2D", [x, w], [y], padding="SAME", stride_w=1, stride_h=1,
             depth_multiplier=1)
    b.add_output(y)
    from edgelite.kernels import conv
    prepared = []
    monkeypatch.setattr(conv.DepthwiseConv2D, "prepare",
                        lambda self, ctx: prepared.append(ctx.op_index))
    msg = _error(b.build(), ModelError)
    assert not prepared
    assert ("tensor 0 'big_input' [64, 64, 64, 4] float32, 4194304 bytes, an input of the "
            "subgraph, is over the 1048576-byte arena limit") in msg


def test_an_output_no_operator_writes_reads_as_zeros():
    # (its array was None: get_tensor returned None, and a WHILE whose cond subgraph
    # returned such a tensor failed with AttributeError)
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.float32)
    y = b.add_tensor("y", (2, 3), np.float32)
    orphan = b.add_tensor("orphan", (4,), np.int32)
    b.add_op("RELU", [x], [y])
    b.add_output(y)
    b.add_output(orphan)
    it = _allocate(b.build())
    it.set_tensor(x, np.full((2, 3), -1.0, np.float32))
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(orphan), np.zeros(4, np.int32))


def _counting_while(out_dtype=np.int32, cond_unwritten=False, body_unwritten=False) -> bytes:
    """WHILE i < 10 over an int32 i whose body returns i: a cond or body output that
    nothing writes, or the WHILE's output of another type, on request."""
    b = ModelBuilder()
    x = b.add_input("x", (), np.int32)
    y = b.add_tensor("y", (), out_dtype)
    b.add_op("WHILE", [x], [y], cond_subgraph_index=1, body_subgraph_index=2)
    b.add_output(y)
    cond = b.add_subgraph("cond")
    i = cond.add_input("i", (), np.int32)
    if cond_unwritten:
        cond.add_output(cond.add_tensor("never_written", (), np.bool_))
    else:
        flag = cond.add_tensor("flag", (), np.bool_)
        cond.add_op("LESS", [i, cond.add_constant("ten", np.array(10, np.int32))], [flag])
        cond.add_output(flag)
    body = b.add_subgraph("body")
    j = body.add_input("i", (), np.int32)
    body.add_output(body.add_tensor("never_written", (), np.int32) if body_unwritten else j)
    return b.to_bytes()


@pytest.mark.parametrize("role", ["cond", "body"])
def test_while_over_a_tensor_its_subgraph_never_writes_is_refused(role):
    # (the cond's None output failed with AttributeError; read as zeros, a body that
    # never writes its output would loop for ever)
    model = _counting_while(cond_unwritten=role == "cond", body_unwritten=role == "body")
    sub = 1 if role == "cond" else 2
    assert (f"operator 0 (WHILE): {role} subgraph {sub} output 0 (tensor 1 'never_written') "
            f"is not computed by that subgraph") in _error(model)


@pytest.mark.parametrize("op, n_in, n_out, want", [
    ("VAR_HANDLE", 0, 0, "expects 1 outputs, got 0"),
    ("READ_VARIABLE", 0, 1, "expects 1 inputs, got 0"),
    ("ASSIGN_VARIABLE", 1, 0, "expects 2 inputs, got 1"),
])
def test_variable_ops_check_their_arity(op, n_in, n_out, want):
    # (they indexed ctx.inputs / ctx.outputs unchecked: IndexError)
    b = ModelBuilder()
    x = b.add_input("x", (1,), np.int32)
    outs = [b.add_tensor(f"o{k}", (1,), np.int32) for k in range(n_out)]
    b.add_op(op, [x] * n_in, outs)
    b.add_output(x)
    assert f"operator 0 ({op}): {want}" in _error(b.build())


def test_quantized_add_with_a_float_output_is_named():
    # (it asked np.iinfo for float32's range: "Invalid integer data type 'f'")
    b = ModelBuilder()
    a = b.add_input("a", (4,), np.int8, quant=(0.1, 0))
    c = b.add_input("c", (4,), np.int8, quant=(0.1, 0))
    y = b.add_tensor("y", (4,), np.float32, quant=(0.1, 0))
    b.add_op("ADD", [a, c], [y])
    b.add_output(y)
    msg = _error(b.build())
    assert "operator 0 (ADD), tensor 2 'y': quantized ADD outputs int8" in msg
    assert "the output tensor has type float32" in msg


def test_a_zero_output_scale_is_named_when_a_kernel_divides_by_it():
    b, y = _int8_conv()
    m = b.build()
    m.subgraphs[0].tensors[y].quantization.scale = np.zeros(1, np.float32)
    msg = _error(m)
    assert ("operator 0 (CONV_2D): failed to prepare: output 0 (tensor 3 'y') has "
            "quantization scale 0.0") in msg
    assert "ZeroDivisionError" in msg       # (what the kernel hit, kept for the reader)


def test_a_zero_scale_a_kernel_does_not_divide_by_still_runs():
    # The checks run only after a kernel fails: LiteRT runs this, and so does edgelite.
    b = ModelBuilder()
    x = b.add_input("x", (2, 3), np.int8, quant=(0.5, 0))
    y = b.add_tensor("y", (3, 2), np.int8, quant=(0.0, 0))
    b.add_op("RESHAPE", [x, b.add_constant("shape", np.array([3, 2], np.int32))], [y])
    b.add_output(y)
    it = _allocate(b.build())
    it.set_tensor(x, np.arange(6, dtype=np.int8).reshape(2, 3))
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(y), np.arange(6).reshape(3, 2))


def test_a_nan_option_is_named():
    # (a NaN softmax beta reached int() in the multiplier's rounding: ValueError)
    b = ModelBuilder()
    x = b.add_input("x", (1, 8), np.int8, quant=(0.1, 0))
    y = b.add_tensor("y", (1, 8), np.int8, quant=(1 / 256, -128))
    b.add_op("SOFTMAX", [x], [y], beta=float("nan"))
    b.add_output(y)
    assert "operator 0 (SOFTMAX): failed to prepare: option beta is nan" in _error(b.build())


def test_options_of_another_op_are_named():
    # (RESIZE_BILINEAR read alignCorners off a ReducerOptions: AttributeError)
    b = ModelBuilder()
    x = b.add_input("x", (1, 2, 2, 1), np.float32)
    y = b.add_tensor("y", (1, 4, 4, 1), np.float32)
    b.add_op("RESIZE_BILINEAR", [x, b.add_constant("size", np.array([4, 4], np.int32))], [y])
    b.add_output(y)
    m = b.build()
    op = m.subgraphs[0].operators[0]
    op.options, op.options_type, _ = make_options("MEAN", keep_dims=True)
    msg = _error(m)
    assert ("operator 0 (RESIZE_BILINEAR): failed to prepare: its builtin options are "
            "ReducerOptions, not RESIZE_BILINEAR's ResizeBilinearOptions") in msg


def test_likely_cause_names_a_zero_point_outside_its_type():
    from edgelite.format import ir
    from edgelite.kernels.base import PrepareContext, TensorSpec
    from edgelite.runtime.plan import _likely_cause
    q = ir.QuantParams(scale=np.array([0.5], np.float32), zero_point=np.array([-3712]))
    spec = TensorSpec(index=5, name="act", shape=(1, 4), dtype=np.dtype(np.int8),
                      type=ir.TensorType.INT8, quant=q, data=None, is_variable=False)
    ctx = PrepareContext(model=None, subgraph_index=0, op_index=0, op_name="CONV_2D",
                         version=1, options=None, custom_options=None, inputs=[spec],
                         outputs=[])
    assert _likely_cause(ctx) == ("input 0 (tensor 5 'act', int8) has zero point -3712, "
                                  "outside [-128, 127]")
    q.zero_point = np.array([7])
    assert _likely_cause(ctx) is None


@pytest.mark.skipif(not compiled.ENABLED, reason="the compiled tier (numba) is not installed")
def test_a_zero_point_outside_its_type_is_named_by_the_compiled_tier(monkeypatch):
    # (the compiled int8 convolution made np.int8(zero point): OverflowError)
    from edgelite.kernels import conv
    monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    b, _ = _int8_conv()
    m = b.build()
    m.subgraphs[0].tensors[0].quantization.zero_point = np.array([-3712])
    msg = _error(m)
    assert ("operator 0 (CONV_2D): failed to prepare: input 0 (tensor 0 'x', int8) has "
            "zero point -3712, outside [-128, 127]") in msg


@pytest.mark.parametrize("constant_size", [True, False], ids=["prepare", "invoke"])
def test_resize_to_a_huge_size_is_refused_before_its_tables(constant_size, monkeypatch):
    # (a damaged size operand, [16, 436207632], made RESIZE_BILINEAR build a 3.25 GB
    # coordinate table before it set its output shape: MemoryError, or seconds of work)
    from edgelite.kernels import resize
    tables = []
    real = resize.bilinear_axis
    monkeypatch.setattr(resize, "bilinear_axis", lambda *a: tables.append(a) or real(*a))
    huge = np.array([16, 436207632], np.int32)
    b = ModelBuilder()
    x = b.add_input("x", (1, 8, 8, 4), np.float32)
    size = b.add_constant("size", huge) if constant_size else b.add_input("size", (2,), np.int32)
    y = b.add_tensor("y", (1, 16, 16, 4), np.float32)
    b.add_op("RESIZE_BILINEAR", [x, size], [y])
    b.add_output(y)
    want = ("operator 0 (RESIZE_BILINEAR), tensor 2 'y': output shape [1, 16, 436207632, 4] "
            "needs 111669153792 bytes, over the")
    if constant_size:
        assert want in _error(b.build())
    else:
        it = _allocate(b.build())
        it.set_tensor(size, huge)
        with pytest.raises(OpError) as info:
            it.invoke()
        assert want in str(info.value)
    assert not tables


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_a_huge_dilation_is_refused_before_its_padded_input_is_made(dtype, monkeypatch):
    # (a damaged dilation of 2^24 on a 5x5 input made the depthwise kernels allocate a
    # 2.7 GB padded input at prepare; LiteRT, which does not pad, runs it. Under the
    # default 8 GB limit edgelite still does, slowly; under a set limit it says why)
    monkeypatch.setenv("EDGELITE_MAX_ARENA_BYTES", str(16 << 20))
    q = (lambda s, z: (s, z)) if dtype == np.int8 else (lambda s, z: None)
    b = ModelBuilder()
    x = b.add_input("x", (1, 5, 5, 4), dtype, quant=q(0.5, 0))
    w = b.add_constant("w", np.ones((1, 3, 3, 4), dtype), quant=q(0.1, 0))
    bias = b.add_constant("b", np.zeros(4, np.int32 if dtype == np.int8 else np.float32),
                          quant=q(0.05, 0))
    y = b.add_tensor("y", (1, 5, 5, 4), dtype, quant=q(0.2, 0))
    b.add_op("DEPTHWISE_CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
             depth_multiplier=1, dilation_h_factor=1 << 24)
    b.add_output(y)
    msg = _error(b.build())
    assert ("operator 0 (DEPTHWISE_CONV_2D), tensor 0 'x': its padded input "
            "[1, 33554437, 7, 4] needs 3758096944 bytes, over the 16777216-byte arena "
            "limit") in msg


def test_while_output_of_another_type_is_named():
    # (the loop's int32 state was copied into a uint8 output at invoke: numpy's
    # "Cannot cast scalar from dtype('int32') to dtype('uint8')")
    assert ("operator 0 (WHILE), tensor 1 'y': output 0 has type uint8, the body subgraph "
            "returns int32") in _error(_counting_while(out_dtype=np.uint8))


def test_a_zero_output_scale_is_named_when_a_kernel_trips_on_it_at_invoke():
    # (the int8 FULLY_CONNECTED meets its output scale at its first invoke: "cannot
    # convert float infinity to integer")
    b = ModelBuilder()
    x = b.add_input("x", (1, 8), np.int8, quant=(0.5, 0))
    w = b.add_constant("w", np.ones((3, 8), np.int8), quant=(0.1, 0))
    bias = b.add_constant("b", np.zeros(3, np.int32), quant=(0.05, 0))
    y = b.add_tensor("y", (1, 3), np.int8, quant=(0.2, 0))
    b.add_op("FULLY_CONNECTED", [x, w, bias], [y])
    b.add_output(y)
    m = b.build()
    m.subgraphs[0].tensors[y].quantization.scale = np.zeros(1, np.float32)
    with np.errstate(divide="ignore"):          # (its multipliers at prepare: inf)
        it = _allocate(m)
    it.set_tensor(x, np.ones((1, 8), np.int8))
    with pytest.raises(OpError) as info:
        it.invoke()
    assert ("operator 0 (FULLY_CONNECTED): failed to invoke: output 0 (tensor 3 'y') has "
            "quantization scale 0.0") in str(info.value)


@pytest.mark.parametrize("tier", ["numpy"] + (["compiled"] if compiled.ENABLED else []))
@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("op,k", [("DEPTHWISE_CONV_2D", 3), ("CONV_2D", 3), ("CONV_2D", 1)])
def test_an_empty_batch_runs_on_every_kernel(op, k, dtype, tier, monkeypatch):
    # (fuzzing with the compiled tier forced onto every node: the int8 depthwise kernel's
    # bind, and the float 1x1 convolution's, reshaped an empty input with a -1 width,
    # "cannot reshape array of size 0")
    from edgelite.kernels import conv
    if tier == "compiled":
        monkeypatch.setattr(conv, "COMPILED_MIN_OUTPUT", 0)
    else:
        monkeypatch.setattr(compiled, "ENABLED", False)
    q = (lambda s, z: (s, z)) if dtype == np.int8 else (lambda s, z: None)
    b = ModelBuilder()
    x = b.add_input("x", (0, 5, 5, 4), dtype, quant=q(0.5, 0))
    w = b.add_constant("w", np.ones((1 if op == "DEPTHWISE_CONV_2D" else 4, k, k, 4), dtype),
                       quant=q(0.1, 0))
    bias = b.add_constant("b", np.zeros(4, np.int32 if dtype == np.int8 else np.float32),
                          quant=q(0.05, 0))
    y = b.add_tensor("y", (0, 5, 5, 4), dtype, quant=q(0.2, 0))
    opts = {"depth_multiplier": 1} if op == "DEPTHWISE_CONV_2D" else {}
    b.add_op(op, [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1, **opts)
    b.add_output(y)
    it = _allocate(b.to_bytes())
    it.invoke()
    assert it.get_tensor(y).shape == (0, 5, 5, 4)
