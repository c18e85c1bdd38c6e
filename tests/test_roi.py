from __future__ import annotations

import math
import cv2
import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.runtime.roi import crop_pixels, crop_roi, roi_from_bbox, roi_from_landmarks, roi_pixels

# ----------------------------------------------------------------------------- roi_from_bbox

def test_roi_from_square_bbox_by_hand():
    # 200x200 box: mean side 200, centre (200, 300 + 0.14*200), side int(316.0) = 316
    roi = roi_from_bbox([100, 200, 300, 400])
    assert roi.dtype == np.float64
    np.testing.assert_allclose(roi, [200 - 158, 328 - 158, 200 + 158, 328 + 158])


def test_roi_from_bbox_truncates_side_and_ignores_score():
    # mean side 100.5 -> 1.58 * 100.5 = 158.79 -> int -> 158 (not 159)
    roi = roi_from_bbox([0.0, 0.0, 101.0, 100.0, 0.97])
    cx, cy = 50.5, 50.0 + 100.5 * 0.14
    np.testing.assert_allclose(roi, [cx - 79, cy - 79, cx + 79, cy + 79], rtol=0, atol=1e-12)
    assert roi[2] - roi[0] == 158 and roi[3] - roi[1] == 158


def test_roi_from_rect_bbox_uses_mean_side():
    x1, y1, x2, y2 = 10.0, 20.0, 110.0, 170.0  # 100 x 150 -> mean 125 -> side int(197.5) = 197
    roi = roi_from_bbox(np.array([x1, y1, x2, y2], dtype=np.float32))
    assert roi[2] - roi[0] == pytest.approx(197) and roi[3] - roi[1] == pytest.approx(197)
    assert (roi[0] + roi[2]) / 2 == pytest.approx(60.0)
    assert (roi[1] + roi[3]) / 2 == pytest.approx(95.0 + 0.14 * 125)


def test_roi_from_bbox_rejects_bad_input():
    with pytest.raises(EdgefaceError):
        roi_from_bbox([1, 2, 3])
    with pytest.raises(EdgefaceError):
        roi_from_bbox([0, 0, np.nan, 10])


# ----------------------------------------------------------------------------- roi_from_landmarks

def test_roi_from_landmarks_by_hand_both_layouts():
    xs = np.array([10.0, 50.0, 30.0, 20.0])
    ys = np.array([20.0, 60.0, 100.0, 40.0])  # box 40 wide, 80 high -> square of side 80 at (30, 60)
    half = math.sqrt(80 ** 2 + 80 ** 2) / 2
    expected = [30 - half, 60 - half, 30 + half, 60 + half]
    np.testing.assert_allclose(roi_from_landmarks(np.stack([xs, ys])), expected)
    np.testing.assert_allclose(roi_from_landmarks(np.stack([xs, ys, np.ones(4)])), expected)  # (3, N)
    np.testing.assert_allclose(roi_from_landmarks(np.stack([xs, ys, xs * 0], axis=1)), expected)  # (N, 3)


def test_roi_from_landmarks_68_points_transposed_layouts_agree():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 500, size=(3, 68))
    np.testing.assert_array_equal(roi_from_landmarks(pts), roi_from_landmarks(pts.T))


def test_roi_from_landmarks_rejects_bad_shape():
    with pytest.raises(EdgefaceError):
        roi_from_landmarks(np.zeros((5, 7)))
    with pytest.raises(EdgefaceError):
        roi_from_landmarks(np.zeros(10))


# ----------------------------------------------------------------------------- crop

def _reference_crop(img, roi, size=120, exact=False):
    """Independent reference: pad the whole frame with zeros, then slice, then resize (upstream's
    INTER_LINEAR, or INTER_LINEAR_EXACT for the bit-exact mode)."""
    sx, sy, ex, ey = [int(round(float(v))) for v in roi]  # Python round: half to even
    pad = max(0, -sx, -sy, ex - img.shape[1], ey - img.shape[0])
    padded = np.pad(img, ((pad, pad), (pad, pad)) + ((0, 0),) * (img.ndim - 2))
    patch = padded[sy + pad:ey + pad, sx + pad:ex + pad]
    return cv2.resize(patch, dsize=(size, size), interpolation=cv2.INTER_LINEAR_EXACT if exact else cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def emma(mirror):
    img = cv2.imread(str(mirror / "3ddfa_v2" / "examples" / "inputs" / "emma.jpg"))
    assert img is not None
    return img


@pytest.mark.parametrize("exact", [False, True])
def test_crop_inside_frame_matches_reference(emma, exact):
    roi = roi_from_bbox([1700.0, 280.0, 2058.0, 762.0])
    crop, box = crop_roi(emma, roi, exact=exact)
    assert crop.shape == (120, 120, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, _reference_crop(emma, roi, exact=exact))
    np.testing.assert_array_equal(box, np.rint(roi).astype(int))
    assert not np.shares_memory(crop, emma)


@pytest.mark.parametrize(
    "roi",
    [
        [-40.3, 100.2, 260.7, 400.9],  # out on the left
        [3700.5, 1700.5, 4000.5, 2000.5],  # out right and bottom; .5 rounds half to even
        [-500.0, -500.0, 4500.0, 2500.0],  # larger than the frame on every side
        [-10.0, -20.0, 50.0, 40.0],  # top-left corner
    ],
)
def test_crop_out_of_frame_matches_reference(emma, roi):
    for exact in (False, True):
        crop, _ = crop_roi(emma, roi, exact=exact)
        np.testing.assert_array_equal(crop, _reference_crop(emma, roi, exact=exact))


def test_crop_zero_padding_and_identity_size():
    img = np.full((100, 200, 3), 255, dtype=np.uint8)
    crop, box = crop_roi(img, [-30.0, 0.0, 90.0, 120.0])  # exactly 120x120 -> no resampling
    assert box.tolist() == [-30, 0, 90, 120]
    assert (crop[:, :30] == 0).all()  # left of the frame
    assert (crop[100:, 30:] == 0).all()  # below the frame
    assert (crop[:100, 30:] == 255).all()


def test_crop_rounds_half_to_even_like_python_round():
    assert roi_pixels([10.5, 11.5, 130.5, 131.5]).tolist() == [10, 12, 130, 132]
    assert roi_pixels([-0.5, -1.5, 2.5, 3.49]).tolist() == [0, -2, 2, 3]


def test_crop_entirely_outside_is_black():
    img = np.full((50, 50, 3), 200, dtype=np.uint8)
    crop, _ = crop_roi(img, [100.0, 100.0, 160.0, 160.0])
    assert crop.shape == (120, 120, 3) and not crop.any()


def test_crop_grayscale_and_custom_size():
    img = np.arange(60 * 80, dtype=np.uint8).reshape(60, 80)
    crop, _ = crop_roi(img, [5.0, 5.0, 45.0, 45.0], size=64)
    assert crop.shape == (64, 64)
    np.testing.assert_array_equal(crop, cv2.resize(img[5:45, 5:45], (64, 64), interpolation=cv2.INTER_LINEAR))
    crop, _ = crop_roi(img, [5.0, 5.0, 45.0, 45.0], size=64, exact=True)
    np.testing.assert_array_equal(crop, cv2.resize(img[5:45, 5:45], (64, 64), interpolation=cv2.INTER_LINEAR_EXACT))


def test_crop_pixels_returns_view_inside_frame():
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    patch = crop_pixels(img, [5, 6, 25, 30])
    assert patch.shape == (24, 20, 3) and np.shares_memory(patch, img)


def test_crop_rejects_empty_roi_and_bad_frame():
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    with pytest.raises(EdgefaceError):
        crop_roi(img, [10.0, 10.0, 10.2, 30.0])
    with pytest.raises(EdgefaceError):
        crop_roi(np.zeros((0, 10, 3), dtype=np.uint8), [0, 0, 5, 5])
