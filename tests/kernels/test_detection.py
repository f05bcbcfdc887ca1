"""Conformance of NON_MAX_SUPPRESSION_V4/V5 and TFLite_Detection_PostProcess against LiteRT.

Scores are drawn without ties: LiteRT's order among equal scores comes from
std::priority_queue / std::partial_sort internals (see edgelite/kernels/detection.py).
"""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from flatbuffers import flexbuffers
from oracle import check_against_litert, max_error, run_edgelite, run_litert

import edgelite
from edgelite.format.builder import ModelBuilder


def sample(cases, n, seed=0):
    cases = list(cases)
    return cases if len(cases) <= n else random.Random(seed).sample(cases, n)


def random_boxes(rng, n, flip=False, degenerate=0):
    """[n, 4] boxes (y1, x1, y2, x2) clustered so that many overlap."""
    c = rng.uniform(0, 1, (n, 2))
    hw = rng.uniform(0.05, 0.4, (n, 2))
    boxes = np.concatenate([c - hw / 2, c + hw / 2], axis=1)
    if flip:   # V4/V5 accept either corner order
        swap = rng.random(n) < 0.5
        boxes[swap] = boxes[swap][:, [2, 3, 0, 1]]
    if degenerate:
        boxes[:degenerate, 2] = boxes[:degenerate, 0]    # zero height
    return boxes.astype(np.float32)


def distinct_scores(rng, n):
    return rng.permutation(np.linspace(0.01, 0.99, n)).astype(np.float32)


# ----------------------------------------------------------------- NON_MAX_SUPPRESSION_V4/V5

def nms_model(n, max_out, iou, score_thr, *, soft=False, sigma=0.0, const_max=True):
    b = ModelBuilder()
    boxes = b.add_input("boxes", (n, 4), np.float32)
    scores = b.add_input("scores", (n,), np.float32)
    if const_max:
        m = b.add_constant("max", np.array(max_out, np.int32))
    else:
        m = b.add_input("max", (), np.int32)
    ins = [boxes, scores, m, b.add_constant("iou", np.array(iou, np.float32)),
           b.add_constant("sthr", np.array(score_thr, np.float32))]
    if soft:
        ins.append(b.add_constant("sigma", np.array(sigma, np.float32)))
    size = max_out if const_max else 0
    outs = [b.add_tensor("idx", (size,), np.int32)]
    if soft:
        outs.append(b.add_tensor("sel_scores", (size,), np.float32))
    outs.append(b.add_tensor("num", (), np.int32))
    b.add_op("NON_MAX_SUPPRESSION_V5" if soft else "NON_MAX_SUPPRESSION_V4", ins, outs)
    for o in outs:
        b.add_output(o)
    return b.to_bytes()


NMS_GRID = [
    case for case in itertools.product(
        (1, 7, 30),                # boxes
        (0, 1, 3, 10, 40),         # max_output_size
        (0.0, 0.3, 0.5, 1.0),      # iou threshold
        (-1.0, 0.0, 0.4),          # score threshold
        (False, True),             # flipped corners
        (True, False))             # max_output_size constant / a graph input
    # LiteRT's Python get_tensor fails ("Invalid tensor size") on the empty dynamic output
    # that a runtime max_output_size of 0 gives, so that combination cannot be compared.
    if not (case[1] == 0 and not case[5])
]


def _nms_v4_case(n, max_out, iou, sthr, flip, const_max, degenerate=0, seed=0):
    rng = np.random.default_rng(seed)
    model = nms_model(n, max_out, iou, sthr, const_max=const_max)
    inputs = [random_boxes(rng, n, flip, degenerate), distinct_scores(rng, n)]
    if not const_max:
        inputs.append(np.array(max_out, np.int32))
    return check_against_litert(model, inputs)


@pytest.mark.parametrize("case", sample(NMS_GRID, 50, seed=1), ids=str)
def test_nms_v4(case):
    _nms_v4_case(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", NMS_GRID, ids=str)
def test_nms_v4_full_grid(case):
    _nms_v4_case(*case, seed=3)


@pytest.mark.parametrize("iou", [0.5, 1.0, 1.5])
def test_nms_v4_degenerate_and_over_one_threshold(iou):
    # LiteRT quirk (reference NonMaxSuppression): a selected box is pushed back on the
    # queue and compared with itself; an empty box (IoU 0 by definition) or an IoU
    # threshold above 1 lets it be selected again, filling all remaining slots with the
    # same index. edgelite reproduces it.
    for seed in range(4):
        _nms_v4_case(12, 6, iou, 0.0, False, True, degenerate=4, seed=seed)


SOFT_GRID = list(itertools.product(
    (5, 25),                    # boxes
    (0, 1, 4, 25),              # max_output_size
    (0.3, 0.6, 1.0),            # iou threshold
    (0.0, 0.2),                 # score threshold
    (0.0, 0.1, 0.5, 2.0),       # sigma (0 = hard NMS)
    (True,),                    # constant max_output_size (runtime: separate test)
))


@pytest.mark.parametrize("max_out", [1, 4, 25])
def test_nms_v5_runtime_max_output_size(max_out):
    _nms_v5_case(25, max_out, 0.6, 0.1, 0.5, False)


def _nms_v5_case(n, max_out, iou, sthr, sigma, const_max, seed=0):
    rng = np.random.default_rng(seed)
    model = nms_model(n, max_out, iou, sthr, soft=True, sigma=sigma, const_max=const_max)
    inputs = [random_boxes(rng, n, flip=True), distinct_scores(rng, n)]
    if not const_max:
        inputs.append(np.array(max_out, np.int32))
    # selected scores: exp() of float32 may differ by an ulp between libm and numpy
    return check_against_litert(model, inputs, tol=1e-6)


@pytest.mark.parametrize("case", sample(SOFT_GRID, 40, seed=2), ids=str)
def test_nms_v5(case):
    _nms_v5_case(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SOFT_GRID, ids=str)
def test_nms_v5_full_grid(case):
    for seed in range(3):
        _nms_v5_case(*case, seed=seed)


def test_nms_invalid():
    def bad(mutate, soft=False, invoke_inputs=None):
        b = ModelBuilder()
        shapes = {"boxes": (5, 4), "scores": (5,)}
        mutate(shapes)
        boxes = b.add_input("boxes", shapes["boxes"], shapes.get("boxes_dtype", np.float32))
        scores = b.add_input("scores", shapes["scores"], np.float32)
        m = (b.add_input("max", (), np.int32) if invoke_inputs is not None
             else b.add_constant("max", np.array(shapes.get("max", 3), shapes.get("max_dt",
                                                                                    np.int32))))
        ins = [boxes, scores, m, b.add_constant("iou", np.array(0.5, np.float32)),
               b.add_constant("s", np.array(0.0, np.float32))]
        if soft:
            ins.append(b.add_constant("sigma", np.array(shapes.get("sigma", 0.5), np.float32)))
        outs = [b.add_tensor("i", (3,), np.int32)] + (
            [b.add_tensor("sc", (3,), np.float32)] if soft else []) + [
            b.add_tensor("n", (), np.int32)]
        op = "NON_MAX_SUPPRESSION_V5" if soft else "NON_MAX_SUPPRESSION_V4"
        b.add_op(op, ins, outs)
        for o in outs:
            b.add_output(o)
        with pytest.raises(edgelite.OpError, match=rf"operator 0 \({op}\)"):
            it = edgelite.Interpreter(model_content=b.to_bytes())
            it.allocate_tensors()
            if invoke_inputs is not None:
                rng = np.random.default_rng(0)
                vals = [random_boxes(rng, 5), distinct_scores(rng, 5), invoke_inputs]
                for d, x in zip(it.get_input_details(), vals):
                    it.set_tensor(d["index"], x)
                it.invoke()

    bad(lambda s: s.update(boxes=(5, 3)))
    bad(lambda s: s.update(scores=(4,)))
    bad(lambda s: s.update(boxes_dtype=np.int32))
    bad(lambda s: s.update(max=-1))
    bad(lambda s: s.update(max_dt=np.int64))
    bad(lambda s: s.update(sigma=-0.5), soft=True)
    bad(lambda s: None, invoke_inputs=np.array(-2, np.int32))


# ----------------------------------------------------------------- TFLite_Detection_PostProcess

def postprocess_model(N, nc, *, background=True, regular=False, max_det=5, max_cls=1,
                      per_class=100, score_thr=0.1, iou=0.5, scales=(10.0, 10.0, 5.0, 5.0),
                      quantized=False, n_extra=0, seed=0, options=None):
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    ncwb = nc + (1 if background else 0)
    anchors = np.stack([rng.uniform(0, 1, N), rng.uniform(0, 1, N),
                        rng.uniform(0.1, 0.5, N), rng.uniform(0.1, 0.5, N)], 1)
    enc_shape = (1, N, 4 + n_extra)
    if quantized:
        enc = b.add_input("enc", enc_shape, np.uint8, quant=(0.05, 128))
        cls = b.add_input("cls", (1, N, ncwb), np.uint8, quant=(1 / 255, 0))
        a = b.add_constant("anchors", np.round(anchors / 0.004).astype(np.uint8),
                           quant=(0.004, 0))
        # distinct scores within each box: LiteRT's partial_sort order among a box's
        # equal class scores is unspecified (equal scores across boxes are fine: both
        # sides sort boxes stably)
        rows = [rng.choice(256, ncwb, replace=False) for _ in range(N)]
        inputs = [rng.integers(0, 256, enc_shape).astype(np.uint8),
                  np.stack(rows)[None].astype(np.uint8)]
    else:
        enc = b.add_input("enc", enc_shape, np.float32)
        cls = b.add_input("cls", (1, N, ncwb), np.float32)
        a = b.add_constant("anchors", anchors.astype(np.float32))
        inputs = [rng.normal(0, 1, enc_shape).astype(np.float32),
                  rng.permutation(np.linspace(0, 1, N * ncwb)).reshape(1, N, ncwb)
                  .astype(np.float32)]
    D = max_det * max_cls
    outs = [b.add_tensor("boxes", (1, D, 4), np.float32),
            b.add_tensor("classes", (1, D), np.float32),
            b.add_tensor("scores", (1, D), np.float32), b.add_tensor("num", (1,), np.float32)]
    opts = {"max_detections": max_det, "max_classes_per_detection": max_cls,
            "detections_per_class": per_class, "use_regular_nms": regular,
            "nms_score_threshold": score_thr, "nms_iou_threshold": iou, "num_classes": nc,
            "y_scale": scales[0], "x_scale": scales[1], "h_scale": scales[2],
            "w_scale": scales[3]}
    if options is not None:
        opts = options(opts)
    b.add_custom_op("TFLite_Detection_PostProcess", [enc, cls, a], outs,
                    custom_options=bytes(flexbuffers.Dumps(opts)))
    for o in outs:
        b.add_output(o)
    return b.to_bytes(), inputs


def check_postprocess(model, inputs, max_cls, regular):
    """Compare the written part of the outputs. LiteRT leaves some entries unwritten
    (arena garbage): in fast mode those past num_detections * max_classes_per_detection
    and the class slots beyond num_classes; in regular mode those past max_detections.
    edgelite zeroes them."""
    want = run_litert(model, inputs)
    got = run_edgelite(model, inputs)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
    n = int(want[3][0])
    assert got[3][0] == want[3][0]
    if regular:
        D = want[1].shape[1] // max_cls
        rows = np.arange(D)
    else:
        rows = np.arange(n * max_cls)
    worst = 0.0
    for g, w in zip(got[:3], want[:3]):
        err = max_error(g[0, rows], w[0, rows])
        assert err <= 1e-6, f"error {err}\ngot {g[0, rows][:6]}\nwant {w[0, rows][:6]}"
        worst = max(worst, err)
    return worst


PP_GRID = [
    {"N": N, "nc": nc, "background": bg, "regular": reg, "max_det": md, "max_cls": mc,
     "per_class": pc, "score_thr": st, "iou": iou, "quantized": q}
    for N, nc, bg, reg, md, mc, pc, st, iou, q in itertools.product(
        (1, 10, 60), (1, 3, 7), (True, False), (False, True), (1, 4, 20), (1, 2),
        (1, 3, 100), (0.0, 0.3), (0.3, 0.6, 1.0), (False, True))
    if not (mc > nc)    # fast mode slots beyond num_classes are never written by LiteRT
]


def _pp_case(case, seed=0):
    c = dict(case)
    model, inputs = postprocess_model(c.pop("N"), c.pop("nc"), seed=seed, **c)
    return check_postprocess(model, inputs, case["max_cls"], case["regular"])


@pytest.mark.parametrize("case", sample(PP_GRID, 50, seed=5), ids=str)
def test_detection_postprocess(case):
    _pp_case(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", PP_GRID, ids=str)
def test_detection_postprocess_full_grid(case):
    _pp_case(case, seed=1)


@pytest.mark.parametrize("regular", [False, True])
def test_detection_postprocess_keypoints_and_scales(regular):
    # box encodings with extra (keypoint) values per box; only the first 4 are decoded
    model, inputs = postprocess_model(30, 4, n_extra=6, regular=regular, max_det=8,
                                      scales=(8.0, 12.0, 4.0, 6.0))
    check_postprocess(model, inputs, 1, regular)


def test_detection_postprocess_default_options():
    # detections_per_class / use_regular_nms absent: 100 and False, as in LiteRT
    def drop(o):
        o = dict(o)
        del o["detections_per_class"]
        del o["use_regular_nms"]
        return o
    model, inputs = postprocess_model(40, 3, max_det=6, options=drop)
    check_postprocess(model, inputs, 1, False)


def test_detection_postprocess_invalid():
    def expect(model, inputs=None):
        with pytest.raises(edgelite.OpError,
                           match=r"operator 0 \(CUSTOM:TFLite_Detection_PostProcess\)|"
                                 r"operator 0 \(TFLite_Detection_PostProcess\)"):
            it = edgelite.Interpreter(model_content=model)
            it.allocate_tensors()
            if inputs is not None:
                for d, x in zip(it.get_input_details(), inputs):
                    it.set_tensor(d["index"], x)
                it.invoke()

    expect(postprocess_model(10, 3, iou=0.0)[0])
    expect(postprocess_model(10, 3, iou=1.5)[0])
    expect(postprocess_model(10, 3, max_cls=0)[0])
    expect(postprocess_model(10, 3, regular=True, per_class=0)[0])
    expect(postprocess_model(10, 3, options=lambda o: {**o, "num_classes": 1})[0])
    expect(postprocess_model(10, 3, options=lambda o: {**o, "max_detections": "x"})[0])
    # custom options that are not a FlexBuffer
    from edgelite import load_model, to_bytes
    model, inputs = postprocess_model(10, 3)
    m = load_model(model)
    m.subgraphs[0].operators[0].custom_options = b"\x01\x02"
    expect(to_bytes(m))
    # negative anchor sizes decode to boxes with min > max: an invoke-time error
    m = load_model(model)
    sg = m.subgraphs[0]
    t = sg.tensors[sg.operators[0].inputs[2]]
    anchors = np.frombuffer(m.buffers[t.buffer].data.tobytes(), np.float32).reshape(10, 4).copy()
    anchors[:, 2] = -0.2
    m.buffers[t.buffer].data = np.frombuffer(anchors.tobytes(), np.uint8).copy()
    expect(to_bytes(m), inputs)
