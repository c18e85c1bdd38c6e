from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edgeface.runtime import detection as dp
from edgeface.errors import EdgefaceError


def _loop_priors(width, height):
    """Reference: upstream PriorBox semantics written as plain nested loops."""
    out = []
    for step, sizes in zip((32, 64, 128), ((32, 64, 128), (256,), (512,))):
        for i in range(math.ceil(height / step)):
            for j in range(math.ceil(width / step)):
                for ms in sizes:
                    if ms == 32:
                        offs = (0.0, 0.25, 0.5, 0.75)
                    elif ms == 64:
                        offs = (0.0, 0.5)
                    else:
                        offs = None
                    if offs is None:
                        out.append(((j + 0.5) * step / width, (i + 0.5) * step / height, ms / width, ms / height))
                        continue
                    for oy in offs:
                        for ox in offs:
                            out.append(((j + ox) * step / width, (i + oy) * step / height, ms / width, ms / height))
    return np.array(out, dtype=np.float32)


def _expected_count(width, height):
    per_cell = (16 + 4 + 1, 1, 1)
    return sum(math.ceil(height / s) * math.ceil(width / s) * a for s, a in zip((32, 64, 128), per_cell))


# ----------------------------------------------------------------------------- priors

@pytest.mark.parametrize("width,height,count", [(640, 480, 6400), (1024, 1024, 21824)])
def test_prior_count(width, height, count):
    P = dp.priors(width, height)
    assert P.shape == (count, 4) and P.dtype == np.float32
    assert count == _expected_count(width, height)


@pytest.mark.parametrize("width,height", [(640, 480), (320, 240), (1080, 524), (300, 200)])
def test_priors_equal_loop_reference(width, height):
    np.testing.assert_array_equal(dp.priors(width, height), _loop_priors(width, height))


def test_prior_order_first_cells():
    W, H = 640, 480
    P = dp.priors(W, H)
    # cell (0, 0): 16 densified 32-anchors, y offset slowest
    expect = [(ox * 32 / W, oy * 32 / H, 32 / W, 32 / H) for oy in (0, .25, .5, .75) for ox in (0, .25, .5, .75)]
    np.testing.assert_allclose(P[:16], expect, rtol=1e-6)
    # then 4 densified 64-anchors, then one 128-anchor at the cell centre
    expect64 = [(ox * 32 / W, oy * 32 / H, 64 / W, 64 / H) for oy in (0, .5) for ox in (0, .5)]
    np.testing.assert_allclose(P[16:20], expect64, rtol=1e-6)
    np.testing.assert_allclose(P[20], (16 / W, 16 / H, 128 / W, 128 / H), rtol=1e-6)
    # cell (0, 1) starts at 21, next row of cells at 21 * 20
    np.testing.assert_allclose(P[21, :2], (32 / W, 0.0), atol=1e-7)
    np.testing.assert_allclose(P[21 * 20, :2], (0.0, 32 / H), atol=1e-7)
    # layer 2 (step 64, 256 px) starts after the 15 x 20 x 21 priors of layer 1
    np.testing.assert_allclose(P[6300], (32 / W, 32 / H, 256 / W, 256 / H), rtol=1e-6)
    np.testing.assert_allclose(P[6380], (64 / W, 64 / H, 512 / W, 512 / H), rtol=1e-6)


def test_priors_feature_map_override_and_errors():
    P = dp.priors(640, 480, feature_maps=[(1, 1), (1, 1), (1, 1)])
    assert P.shape == (23, 4)
    with pytest.raises(EdgefaceError):
        dp.priors(0, 480)
    with pytest.raises(EdgefaceError):
        dp.priors(640, 480, min_sizes=((32,),), steps=(32, 64))


# ----------------------------------------------------------------------------- decode

def test_decode_zero_loc_is_prior_box():
    P = dp.priors(320, 240)
    boxes = dp.decode(np.zeros_like(P), P)
    np.testing.assert_allclose(boxes[:, :2], P[:, :2] - P[:, 2:] / 2, atol=1e-7)
    np.testing.assert_allclose(boxes[:, 2:], P[:, :2] + P[:, 2:] / 2, atol=1e-7)


def test_decode_by_hand_and_encode_roundtrip():
    prior = np.array([[0.5, 0.5, 0.2, 0.4]], dtype=np.float32)
    loc = np.array([[1.0, -0.5, math.log(2) / 0.2, 0.0]], dtype=np.float32)
    # centre moves by 0.1 * w = 0.02 in x, -0.05 * h = -0.02 in y; width doubles
    np.testing.assert_allclose(dp.decode(loc, prior), [[0.32, 0.28, 0.72, 0.68]], atol=1e-6)
    rng = np.random.default_rng(0)
    P = dp.priors(320, 240)
    gt = np.concatenate([rng.uniform(0, 0.5, (len(P), 2)), rng.uniform(0.55, 1, (len(P), 2))], axis=1)
    # SSD encoding (upstream box_utils.encode) written independently
    enc = np.concatenate([((gt[:, :2] + gt[:, 2:]) / 2 - P[:, :2]) / (0.1 * P[:, 2:]),
                          np.log((gt[:, 2:] - gt[:, :2]) / P[:, 2:]) / 0.2], axis=1)
    np.testing.assert_allclose(dp.decode(enc, P), gt, atol=2e-5)


def test_decode_rejects_wrong_prior_count():
    with pytest.raises(EdgefaceError):
        dp.decode(np.zeros((10, 4)), np.zeros((11, 4)))


# ----------------------------------------------------------------------------- NMS

def _loop_nms(boxes, scores, thr):
    """Reference: greedy NMS with +1 pixel areas, one pair at a time."""
    order = list(np.argsort(scores)[::-1])
    suppressed = set()
    keep = []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if j in suppressed:
                continue
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + 1)
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + 1)
            ai = (boxes[i, 2] - boxes[i, 0] + 1) * (boxes[i, 3] - boxes[i, 1] + 1)
            aj = (boxes[j, 2] - boxes[j, 0] + 1) * (boxes[j, 3] - boxes[j, 1] + 1)
            if w * h / (ai + aj - w * h) >= thr:
                suppressed.add(j)
    return keep


def test_nms_hand_made():
    boxes = np.array([
        [0, 0, 9, 9],  # 0: score .9, kept
        [1, 1, 10, 10],  # 1: IoU 81/119 with 0 -> suppressed
        [20, 20, 29, 29],  # 2: disjoint -> kept
        [0, 0, 9, 2],  # 3: IoU exactly 30/100 = 0.3 with 0 -> suppressed (>=)
        [21, 21, 40, 40],  # 4: IoU 81/(100 + 400 - 81) = 0.19 with 2 -> kept
    ], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32)
    assert dp.nms(boxes, scores, 0.3).tolist() == [0, 2, 4]
    assert dp.nms(boxes, scores, 0.31).tolist() == [0, 2, 3, 4]
    assert dp.nms(boxes, scores, 0.9).tolist() == [0, 1, 2, 3, 4]
    # order follows the scores, not the input order
    assert dp.nms(boxes[::-1], scores[::-1], 0.3).tolist() == [4, 2, 0]
    assert dp.nms(np.zeros((0, 4)), np.zeros(0), 0.3).shape == (0,)


def test_nms_matches_loop_reference_on_random_boxes():
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 300, (300, 2))
    wh = rng.uniform(5, 80, (300, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    for thr in (0.1, 0.3, 0.5):
        assert dp.nms(boxes, scores, thr).tolist() == _loop_nms(boxes.astype(np.float64), scores, thr)


def test_nms_normalized_boxes_without_pixel_offset():
    boxes = np.array([[0.0, 0.0, 0.1, 0.1], [0.05, 0.0, 0.15, 0.1]], dtype=np.float32)  # IoU 1/3
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert dp.nms(boxes, scores, 0.3, pixel_offset=0).tolist() == [0]
    assert dp.nms(boxes, scores, 0.34, pixel_offset=0).tolist() == [0, 1]


# ----------------------------------------------------------------------------- letterbox

@pytest.mark.parametrize(
    "fw,fh,new_w,new_h",
    [(1280, 720, 640, 360), (480, 640, 360, 480), (640, 480, 640, 480), (3913, 1901, 640, 311), (200, 100, 640, 320)],
)
def test_letterbox_geometry_and_pixels(fw, fh, new_w, new_h):
    rng = np.random.default_rng(fw)
    frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
    for exact, kernel in ((False, cv2.INTER_LINEAR), (True, cv2.INTER_LINEAR_EXACT)):
        canvas, lb = dp.letterbox(frame, 640, 480, exact=exact)
        assert canvas.shape == (480, 640, 3) and canvas.dtype == np.uint8
        assert (lb.new_w, lb.new_h) == (new_w, new_h)
        assert lb.pad_right == 640 - new_w and lb.pad_bottom == 480 - new_h
        expected = frame if (new_w, new_h) == (fw, fh) else cv2.resize(frame, (new_w, new_h), interpolation=kernel)
        np.testing.assert_array_equal(canvas[:new_h, :new_w], expected)
    assert (canvas[new_h:] == (104, 117, 123)).all() and (canvas[:, new_w:] == (104, 117, 123)).all()


@pytest.mark.parametrize("fw,fh", [(1280, 720), (720, 1280), (3913, 1901), (333, 777)])
def test_letterbox_unletterbox_roundtrip(fw, fh):
    lb = dp.letterbox_geometry(fw, fh, 640, 480)
    boxes = np.array([[10.0, 20.0, 110.0, 150.0], [fw * 0.5, fh * 0.25, fw * 0.9, fh * 0.8]], dtype=np.float32)
    canvas_boxes = dp.letterbox_boxes(boxes, lb)
    assert canvas_boxes[:, 0::2].max() <= lb.new_w + 1e-3 and canvas_boxes[:, 1::2].max() <= lb.new_h + 1e-3
    np.testing.assert_allclose(dp.unletterbox_boxes(canvas_boxes, lb), boxes, rtol=1e-5, atol=1e-3)
    # a box reaching into the padding / past the frame is clipped to the frame
    out = dp.unletterbox_boxes(np.array([[-5.0, -5.0, 639.0, 479.0, 0.9]]), lb)
    assert out.shape == (1, 4)
    np.testing.assert_allclose(out[0], [0, 0, min(fw, 639 / lb.scale_x), min(fh, 479 / lb.scale_y)], rtol=1e-5)


def test_letterbox_rejects_bad_frames():
    with pytest.raises(EdgefaceError):
        dp.letterbox(np.zeros((10, 10), dtype=np.uint8), 640, 480)
    with pytest.raises(EdgefaceError):
        dp.letterbox_geometry(0, 10, 640, 480)


# ----------------------------------------------------------------------------- postprocess

def _synthetic_outputs(P, picks):
    """loc = 0 (boxes = priors), conf: background everywhere except `picks` {index: score}."""
    loc = np.zeros((len(P), 4), dtype=np.float32)
    face = np.full(len(P), 0.01, dtype=np.float32)
    for i, s in picks.items():
        face[i] = s
    conf = np.stack([1 - face, face], axis=1)
    return loc[None], conf[None]


def test_postprocess_synthetic_faces():
    W, H = 640, 480
    P = dp.priors(W, H)
    frame_w, frame_h = 1280, 720  # letterbox scale 0.5, image on the top 360 rows
    lb = dp.letterbox_geometry(frame_w, frame_h, W, H)
    a = 6300 + 3 * 10 + 4  # a 256-px prior (layer 2, row 3, col 4)
    b = a + 1  # its neighbour, 64 px to the right: IoU 0.6 -> suppressed
    c = 20  # the 128-px prior at cell (0, 0): sticks out of the frame -> clipped
    d = 21 * (20 * 5 + 10) + 20  # a 128-px prior at cell (5, 10), alone
    e = 21 * (20 * 8 + 15) + 20  # low score (0.3): dropped by the 0.5 threshold
    loc, conf = _synthetic_outputs(P, {a: 0.99, b: 0.95, c: 0.9, d: 0.8, e: 0.3})
    boxes, scores = dp.postprocess(loc, conf, P, lb, W, H)
    np.testing.assert_allclose(scores, [0.99, 0.9, 0.8])

    def frame_box(i, clip=False):
        cx, cy, w, h = P[i].astype(np.float64)
        bx = np.array([(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H]) / 0.5
        if clip:
            bx[0::2] = np.clip(bx[0::2], 0, frame_w)
            bx[1::2] = np.clip(bx[1::2], 0, frame_h)
        return bx

    np.testing.assert_allclose(boxes, [frame_box(a), frame_box(c, clip=True), frame_box(d)], rtol=1e-5, atol=1e-2)
    assert boxes[1, 0] == 0 and boxes[1, 1] == 0

    # max_faces keeps the best ones; the config wrapper gives the same result
    b2, s2 = dp.postprocess(loc, conf, P, lb, W, H, max_faces=2)
    np.testing.assert_array_equal(s2, scores[:2])
    cfg = dp.DetectorConfig(width=W, height=H, max_faces=2)
    b3, s3 = dp.postprocess_with_config(loc, conf, P, lb, cfg)
    np.testing.assert_array_equal(b3, b2)
    # a looser NMS keeps the neighbour; a stricter score threshold drops the weaker faces
    _, s4 = dp.postprocess(loc, conf, P, lb, W, H, nms_threshold=0.7)
    np.testing.assert_allclose(s4, [0.99, 0.95, 0.9, 0.8])
    _, s5 = dp.postprocess(loc, conf, P, lb, W, H, score_threshold=0.92)
    np.testing.assert_allclose(s5, [0.99])
    # no clipping: the out-of-frame box keeps negative coordinates
    b6, _ = dp.postprocess(loc, conf, P, lb, W, H, clip_to_frame=False)
    assert b6[1, 0] < 0


def test_postprocess_nothing_found_and_face_score_vector():
    W, H = 320, 240
    P = dp.priors(W, H)
    lb = dp.letterbox_geometry(320, 240, W, H)
    loc, conf = _synthetic_outputs(P, {})
    boxes, scores = dp.postprocess(loc, conf, P, lb, W, H)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    loc, conf = _synthetic_outputs(P, {100: 0.97})
    b1, s1 = dp.postprocess(loc, conf, P, lb, W, H)
    b2, s2 = dp.postprocess(loc[0], conf[0, :, 1], P, lb, W, H)  # (P,) face scores also accepted
    np.testing.assert_array_equal(b1, b2)
    assert s1.tolist() == s2.tolist() and len(s1) == 1


def test_postprocess_rejects_mismatched_sizes():
    P = dp.priors(320, 240)
    lb = dp.letterbox_geometry(320, 240, 320, 240)
    with pytest.raises(EdgefaceError):
        dp.postprocess(np.zeros((10, 4)), np.zeros((10, 2)), P, lb, 320, 240)
    with pytest.raises(EdgefaceError):
        dp.postprocess(np.zeros((len(P), 4)), np.zeros((len(P), 2)), P, lb, 640, 480)
