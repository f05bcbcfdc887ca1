"""Detection ops: NON_MAX_SUPPRESSION_V4/V5 and the TFLite_Detection_PostProcess custom op.

Semantics follow LiteRT's non_max_suppression.cc with reference/non_max_suppression.h,
and detection_postprocess.cc. Greedy selection is sequential by nature: the Python
loops here run once per selected box (or, for soft-NMS, once per candidate pop);
every IoU computation inside them is vectorized over the remaining candidates.
IoUs are computed in float32 exactly as LiteRT does, so threshold decisions agree.

Ties between equal scores: LiteRT's V4/V5 use a std::priority_queue and its fast
post-processing a std::partial_sort, whose order among equal scores is an
implementation detail; edgelite breaks ties by the lower index.
"""
from __future__ import annotations

import heapq

import numpy as np

from edgelite.kernels.base import InvokeContext, Kernel, PrepareContext
from edgelite.kernels.registry import register

F32 = np.float32


def _iou_one_to_many(ymin, xmin, ymax, xmax, area, i: int, js: np.ndarray) -> np.ndarray:
    """IoU of box i with boxes js in float32, 0 where either area is <= 0
    (LiteRT's ComputeIntersectionOverUnion)."""
    iy = np.minimum(ymax[js], ymax[i]) - np.maximum(ymin[js], ymin[i])
    ix = np.minimum(xmax[js], xmax[i]) - np.maximum(xmin[js], xmin[i])
    np.maximum(iy, F32(0), out=iy)
    np.maximum(ix, F32(0), out=ix)
    inter = iy * ix
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / ((area[i] + area[js]) - inter)
    iou[(area[js] <= 0) | (area[i] <= 0)] = 0
    return iou


def _corners(boxes: np.ndarray, normalize: bool):
    """(ymin, xmin, ymax, xmax, area) float32 columns of [N, 4] boxes."""
    y1, x1, y2, x2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    if normalize:      # V4/V5 accept either corner order
        y1, y2 = np.minimum(y1, y2), np.maximum(y1, y2)
        x1, x2 = np.minimum(x1, x2), np.maximum(x1, x2)
    area = (y2 - y1) * (x2 - x1)
    return y1, x1, y2, x2, area


# ----------------------------------------------------------------- NON_MAX_SUPPRESSION_V4/V5

def nms_hard(boxes, scores, max_output: int, iou_thr: float, score_thr: float) -> list[int]:
    """Greedy NMS as LiteRT's reference NonMaxSuppression with sigma = 0."""
    cand = np.flatnonzero(scores > F32(score_thr))
    num_outputs = min(len(cand), max_output)
    if num_outputs == 0:
        return []
    order = cand[np.argsort(-scores[cand], kind="stable")]
    ymin, xmin, ymax, xmax, area = _corners(boxes, True)
    thr = F32(iou_thr)
    active = np.ones(len(order), bool)
    selected: list[int] = []
    pos = 0
    while len(selected) < num_outputs:
        nxt = np.flatnonzero(active[pos:])
        if nxt.size == 0:
            break
        pos += int(nxt[0])
        i = int(order[pos])
        selected.append(i)
        active[pos] = False
        rest = pos + 1 + np.flatnonzero(active[pos + 1:])
        if rest.size:
            iou = _iou_one_to_many(ymin, xmin, ymax, xmax, area, i, order[rest])
            active[rest[iou >= thr]] = False
        # LiteRT pushes a selected box back onto its queue; it comes straight back and is
        # compared with itself. Its self-IoU is 1 (0 for an empty box), so unless that
        # reaches the threshold it is selected again, filling every remaining slot.
        self_iou = F32(1) if area[i] > 0 else F32(0)
        if not self_iou >= thr:
            selected.extend([i] * (num_outputs - len(selected)))
    return selected


def nms_soft(boxes, scores, max_output: int, iou_thr: float, score_thr: float,
             sigma: float) -> tuple[list[int], list[float]]:
    """Soft-NMS (Gaussian), a direct emulation of LiteRT's priority-queue loop."""
    thr_s = F32(score_thr)
    cand = np.flatnonzero(scores > thr_s)
    num_outputs = min(len(cand), max_output)
    if num_outputs == 0:
        return [], []
    ymin, xmin, ymax, xmax, area = _corners(boxes, True)
    scale = F32(-0.5 / float(sigma))
    thr_iou = F32(iou_thr)
    heap = [(-float(scores[i]), int(i), int(i), 0) for i in cand]
    heapq.heapify(heap)
    seq = len(scores)
    sel: list[int] = []
    sel_scores: list[float] = []
    while len(sel) < num_outputs and heap:
        neg, _, idx, begin = heapq.heappop(heap)
        score = F32(-neg)
        original = score
        hard = False
        if begin < len(sel):
            js = np.asarray(sel[begin:][::-1], np.int64)
            iou = _iou_one_to_many(ymin, xmin, ymax, xmax, area, idx, js)
            hits = np.flatnonzero(iou >= thr_iou)
            first_hit = int(hits[0]) if hits.size else len(js)
            decay = np.exp((scale * iou[:first_hit]) * iou[:first_hit])
            cum = np.multiply.accumulate(np.concatenate([[score], decay]).astype(F32),
                                         dtype=F32)
            low = np.flatnonzero(cum[1:] <= thr_s)
            if low.size:
                score = cum[1 + int(low[0])]
            else:
                score = cum[-1]
                hard = hits.size > 0
        begin = len(sel)
        if not hard:
            if score == original:
                sel.append(idx)
                sel_scores.append(float(score))
            if score > thr_s:
                seq += 1
                heapq.heappush(heap, (-float(score), seq, idx, begin))
    return sel, sel_scores


class _NonMaxSuppression(Kernel):
    soft = False

    def prepare(self, ctx: PrepareContext) -> None:
        n_in = 6 if self.soft else 5
        ctx.check_arity(n_in, 3 if self.soft else 2)
        boxes, scores, max_out = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check_dtype(boxes, np.float32, "boxes")
        ctx.check(len(boxes.shape) == 2 and boxes.shape[1] == 4,
                  f"boxes must be [num_boxes, 4], got {list(boxes.shape)}", boxes)
        ctx.check_dtype(scores, np.float32, "scores")
        ctx.check(scores.shape == (boxes.shape[0],),
                  f"scores must be [{boxes.shape[0]}], got {list(scores.shape)}", scores)
        ctx.check_dtype(max_out, np.int32, "max_output_size")
        ctx.check(max_out.shape == (), "max_output_size must be a scalar", max_out)
        for i, what in ((3, "iou_threshold"), (4, "score_threshold"), (5, "soft_nms_sigma")):
            if i < n_in:
                spec = ctx.input(i)
                ctx.check_dtype(spec, np.float32, what)
                ctx.check(spec.shape == (), f"{what} must be a scalar", spec)
                if i == 5 and spec.data is not None:
                    sigma = float(spec.data.reshape(()))
                    ctx.check(sigma >= 0, f"invalid soft-NMS sigma {sigma} (must be >= 0)",
                              spec)
        n_sel = 2 if self.soft else 1
        ctx.set_output(n_sel, (), np.int32)
        self.const_max = None
        if max_out.data is not None:
            m = int(max_out.data.reshape(()))
            ctx.check(m >= 0, f"max_output_size must be >= 0, got {m}", max_out)
            self.const_max = m
            ctx.set_output(0, (m,), np.int32)
            if self.soft:
                ctx.set_output(1, (m,), np.float32)
        else:
            ctx.set_output_dynamic(0)
            if self.soft:
                ctx.set_output_dynamic(1)
            out0 = ctx.outputs[0]
            ctx.check(out0 is None or out0.dtype == np.int32, "selected_indices must be int32",
                      out0)
            if self.soft:
                out1 = ctx.outputs[1]
                ctx.check(out1 is None or out1.dtype == np.float32,
                          "selected_scores must be float32", out1)

    def invoke(self, ictx: InvokeContext) -> None:
        ins = ictx.inputs
        boxes, scores = ins[0], ins[1]
        m = int(ins[2].reshape(()))
        if m < 0:
            raise ictx.error(f"max_output_size must be >= 0, got {m}")
        iou_thr = float(ins[3].reshape(()))
        score_thr = float(ins[4].reshape(()))
        if self.const_max is None:
            ictx.resize_output(0, (m,))
            if self.soft:
                ictx.resize_output(1, (m,))
        sigma = 0.0
        if self.soft:
            sigma = float(ins[5].reshape(()))
            if sigma < 0:
                raise ictx.error(f"invalid soft-NMS sigma {sigma} (must be >= 0)")
        if sigma > 0:
            sel, sel_scores = nms_soft(boxes, scores, m, iou_thr, score_thr, sigma)
        else:
            sel = nms_hard(boxes, scores, m, iou_thr, score_thr)
            sel_scores = [float(scores[i]) for i in sel]
        n = len(sel)
        out_idx = ictx.outputs[0]
        out_idx[:n] = sel
        out_idx[n:] = 0
        if self.soft:
            out_sc = ictx.outputs[1]
            out_sc[:n] = sel_scores
            out_sc[n:] = 0
            ictx.outputs[2][...] = n
        else:
            ictx.outputs[1][...] = n


@register("NON_MAX_SUPPRESSION_V4", versions=(1, 1))
class NonMaxSuppressionV4(_NonMaxSuppression):
    """Outputs: selected_indices padded with zeros to max_output_size, num_valid."""
    soft = False


@register("NON_MAX_SUPPRESSION_V5", versions=(1, 1))
class NonMaxSuppressionV5(_NonMaxSuppression):
    """Soft-NMS: outputs selected_indices, selected_scores (both padded), num_valid."""
    soft = True


# ----------------------------------------------------------------- TFLite_Detection_PostProcess

def _greedy_single_class(corners, scores: np.ndarray, max_det: int, iou_thr: F32,
                         score_thr: F32) -> np.ndarray:
    """NonMaxSuppressionSingleClassHelper: keep scores >= threshold, stable sort by score,
    drop every later box whose IoU with a selected one is > threshold."""
    keep = np.flatnonzero(scores >= score_thr)
    out_size = min(len(keep), max_det)
    if out_size <= 0:
        return np.zeros(0, np.int64)
    order = keep[np.argsort(-scores[keep], kind="stable")]
    active = np.ones(len(order), bool)
    selected = []
    pos = 0
    while len(selected) < out_size:
        nxt = np.flatnonzero(active[pos:])
        if nxt.size == 0:
            break
        pos += int(nxt[0])
        i = int(order[pos])
        selected.append(i)
        active[pos] = False
        rest = pos + 1 + np.flatnonzero(active[pos + 1:])
        if rest.size:
            iou = _iou_one_to_many(*corners, i, order[rest])
            active[rest[iou > iou_thr]] = False
    return np.asarray(selected, np.int64)


@register("TFLite_Detection_PostProcess", versions=(1, 1), custom=True)
class DetectionPostProcess(Kernel):
    """SSD post-processing: decode center-size box encodings against anchors, then
    multi-class NMS (fast: one NMS over each anchor's best class; regular: NMS per class).

    Inputs: box encodings [1, N, >=4] (y, x, h, w), class scores [1, N, classes(+1)],
    anchors [N, 4] (y, x, h, w); float32, or uint8 with quantization. Outputs (float32):
    boxes [1, D, 4] (ymin, xmin, ymax, xmax), classes [1, D], scores [1, D],
    num_detections [1], with D = max_detections * max_classes_per_detection. Entries past
    the detections are zero (LiteRT leaves some of them unwritten)."""

    def prepare(self, ctx: PrepareContext) -> None:
        opts = self._options(ctx)
        ctx.check_arity(3, 4)
        enc, cls, anchors = ctx.input(0), ctx.input(1), ctx.input(2)
        ctx.check(len(enc.shape) == 3, f"box encodings must be 3-D, got {list(enc.shape)}", enc)
        ctx.check(len(cls.shape) == 3,
                  f"class predictions must be 3-D, got {list(cls.shape)}", cls)
        ctx.check(len(anchors.shape) == 2, f"anchors must be 2-D, got {list(anchors.shape)}",
                  anchors)
        ctx.check(enc.shape[0] == 1 and cls.shape[0] == 1, "only batch size 1 is supported")
        N = enc.shape[1]
        ctx.check(enc.shape[2] >= 4, "box encodings need at least 4 values per box", enc)
        ctx.check(cls.shape[1] == N, f"class predictions must have {N} boxes, got "
                  f"{cls.shape[1]}", cls)
        ctx.check(anchors.shape[1] == 4 and anchors.shape[0] >= N,
                  f"anchors must be [{N}, 4], got {list(anchors.shape)}", anchors)
        for spec, what in ((enc, "box encodings"), (cls, "class predictions")):
            ctx.check_dtype(spec, (np.float32, np.uint8), what)
        ctx.check_dtype(anchors, np.uint8 if enc.dtype == np.uint8 else np.float32, "anchors")
        self.enc_q = self._quant(enc) if enc.dtype == np.uint8 else None
        self.anchor_q = self._quant(anchors) if enc.dtype == np.uint8 else None
        self.cls_q = self._quant(cls) if cls.dtype == np.uint8 else None
        ncwb = cls.shape[2]
        nc = opts["num_classes"]
        ctx.check(nc >= 1, f"num_classes must be >= 1, got {nc}")
        ctx.check(0 <= ncwb - nc <= 1, f"class predictions have {ncwb} columns; num_classes "
                  f"{nc} allows {nc} or {nc + 1} (with background)", cls)
        ctx.check(opts["max_detections"] >= 0,
                  f"max_detections must be >= 0, got {opts['max_detections']}")
        iou = opts["nms_iou_threshold"]
        ctx.check(0.0 < iou <= 1.0, f"nms_iou_threshold must be in (0, 1], got {iou}")
        if opts["use_regular_nms"]:
            per_class = min(opts["detections_per_class"], opts["max_detections"])
            ctx.check(per_class > 0, "min(detections_per_class, max_detections) must be > 0")
        else:
            ctx.check(opts["max_classes_per_detection"] > 0,
                      f"max_classes_per_detection must be > 0, got "
                      f"{opts['max_classes_per_detection']}")
        D = opts["max_detections"] * opts["max_classes_per_detection"]
        ctx.check(D >= 0, "max_detections * max_classes_per_detection is negative")
        ctx.set_output(0, (1, D, 4), np.float32)
        ctx.set_output(1, (1, D), np.float32)
        ctx.set_output(2, (1, D), np.float32)
        ctx.set_output(3, (1,), np.float32)
        self.N, self.ncwb, self.label_offset = N, ncwb, ncwb - nc
        self.opts = opts

    @staticmethod
    def _quant(spec):
        return (int(spec.zero_point), float(spec.scale))

    def _options(self, ctx: PrepareContext) -> dict:
        raw = ctx.custom_options
        ctx.check(bool(raw), "custom_options (a FlexBuffer map) are missing")
        try:
            from flatbuffers import flexbuffers
            m = flexbuffers.Loads(bytes(raw))
        except Exception as e:  # noqa: BLE001 - flexbuffers raises many kinds on bad bytes
            raise ctx.error(f"custom_options are not a valid FlexBuffer map: {e}") from None
        ctx.check(isinstance(m, dict), "custom_options must be a FlexBuffer map")

        def num(key, kind, default):
            v = m.get(key)
            if v is None:
                return default
            try:
                return kind(v)
            except (TypeError, ValueError):
                raise ctx.error(f"custom option {key}={v!r} is not a number") from None
        # Absent keys read as 0 / 0.0 / False like flexbuffers' AsInt32/AsFloat on null,
        # except detections_per_class (100) as in detection_postprocess.cc.
        return {
            "max_detections": num("max_detections", int, 0),
            "max_classes_per_detection": num("max_classes_per_detection", int, 0),
            "detections_per_class": num("detections_per_class", int, 100),
            "use_regular_nms": bool(m.get("use_regular_nms") or False),
            "nms_score_threshold": num("nms_score_threshold", float, 0.0),
            "nms_iou_threshold": num("nms_iou_threshold", float, 0.0),
            "num_classes": num("num_classes", int, 0),
            "y_scale": num("y_scale", float, 0.0), "x_scale": num("x_scale", float, 0.0),
            "h_scale": num("h_scale", float, 0.0), "w_scale": num("w_scale", float, 0.0),
        }

    def _decode(self, enc: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        N, o = self.N, self.opts
        e = enc[0, :, :4]
        a = anchors[:N]
        if self.enc_q is not None:
            zp, sc = self.enc_q
            e = (e.astype(F32) - F32(zp)) * F32(sc)
            zp, sc = self.anchor_q
            a = (a.astype(F32) - F32(zp)) * F32(sc)
        e = e.astype(np.float64)
        a = a.astype(np.float64)
        with np.errstate(all="ignore"):
            yc = (e[:, 0] / np.float64(F32(o["y_scale"])) * a[:, 2] + a[:, 0]).astype(F32)
            xc = (e[:, 1] / np.float64(F32(o["x_scale"])) * a[:, 3] + a[:, 1]).astype(F32)
            hh = (0.5 * np.exp(e[:, 2] / np.float64(F32(o["h_scale"]))) * a[:, 2]).astype(F32)
            hw = (0.5 * np.exp(e[:, 3] / np.float64(F32(o["w_scale"]))) * a[:, 3]).astype(F32)
        boxes = np.empty((N, 4), F32)
        boxes[:, 0] = yc - hh
        boxes[:, 1] = xc - hw
        boxes[:, 2] = yc + hh
        boxes[:, 3] = xc + hw
        return boxes

    def invoke(self, ictx: InvokeContext) -> None:
        enc, cls, anchors = ictx.inputs
        o = self.opts
        boxes = self._decode(enc, anchors)
        if self.cls_q is not None:
            zp, sc = self.cls_q
            scores = (np.float64(F32(sc)) * (cls[0].astype(np.int32) - zp)).astype(F32)
        else:
            scores = cls[0]
        scores = scores[:, self.label_offset:]
        bad = (boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3])
        if bad.any():
            raise ictx.error(f"decoded box {int(np.flatnonzero(bad)[0])} has min > max "
                             f"(negative anchor size?)")
        corners = (boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3],
                   (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        iou_thr = F32(o["nms_iou_threshold"])
        score_thr = F32(o["nms_score_threshold"])
        out_boxes, out_cls, out_scores, out_num = ictx.outputs
        out_boxes.fill(0)
        out_cls.fill(0)
        out_scores.fill(0)
        if o["use_regular_nms"]:
            self._regular(boxes, scores, corners, iou_thr, score_thr, ictx.outputs)
            return
        num_classes = scores.shape[1]
        k = min(o["max_classes_per_detection"], num_classes)
        if k == 1:
            cls_idx = np.argmax(scores, axis=1)[:, None]
        else:
            cls_idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        max_scores = np.take_along_axis(scores, cls_idx[:, :1], axis=1)[:, 0]
        sel = _greedy_single_class(corners, max_scores, o["max_detections"], iou_thr,
                                   score_thr)
        if sel.size:
            mc = o["max_classes_per_detection"]
            rows = (np.arange(sel.size)[:, None] * mc + np.arange(k)[None, :]).ravel()
            out_boxes[0, rows] = np.repeat(boxes[sel], k, axis=0)
            out_cls[0, rows] = cls_idx[sel].ravel()
            out_scores[0, rows] = np.take_along_axis(scores[sel], cls_idx[sel], axis=1).ravel()
        out_num[0] = sel.size

    def _regular(self, boxes, scores, corners, iou_thr, score_thr, outputs) -> None:
        o = self.opts
        max_det = o["max_detections"]
        per_class = min(o["detections_per_class"], max_det)
        all_scores, all_anchor, all_class = [], [], []
        for col in range(scores.shape[1]):
            col_scores = np.ascontiguousarray(scores[:, col])
            sel = _greedy_single_class(corners, col_scores, per_class, iou_thr, score_thr)
            if sel.size:
                all_scores.append(col_scores[sel])
                all_anchor.append(sel)
                all_class.append(np.full(sel.size, col))
        out_boxes, out_cls, out_scores, out_num = outputs
        if not all_scores:
            out_num[0] = 0
            return
        sc = np.concatenate(all_scores)
        # LiteRT merges each class's (sorted) selections into the running list with a
        # stable merge and keeps the best max_detections: a stable sort of all of them.
        top = np.argsort(-sc, kind="stable")[:max_det]
        anchor = np.concatenate(all_anchor)[top]
        n = top.size
        out_boxes[0, :n] = boxes[anchor]
        out_cls[0, :n] = np.concatenate(all_class)[top]
        out_scores[0, :n] = sc[top]
        out_num[0] = n
