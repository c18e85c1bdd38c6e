"""Scores of a tracked clip against the ground truth (pure numpy).

Per frame, the faces reported are matched to the true faces by their landmark boxes (IoU >= 0.3,
greedy, best first). A true face is *required* when its landmark box is entirely inside the frame and
at most 30% of it is covered by a sprite in front of it; the others (partly out of the frame, or
occluded) may be reported or not (a face matched to one is not a false face, a miss is not counted).

    recall          required face-frames matched / required face-frames
    acquire         frames from the first frame a face is required (in a stretch of frames in view)
                    until it is first matched: max and mean over those entries
    id switches     a face's reported id differs from the id it had when last matched, within one
                    stretch of frames in which it never left the frame (occluded frames do not end a
                    stretch: a face that comes back from behind a crossing face must get its id back);
                    frames where it is mostly hidden are left out (what is matched there is the face
                    in front of it)
    false / frame   reported faces matched to no true face, per frame
    landmark error  mean distance of the 68 points to the still-image result, / the true face's size
                    (sqrt of its landmark box area), over the matched required face-frames
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgeface.runtime.boxes import greedy_match, iou_matrix

MATCH_IOU = 0.3
MAX_COVERED = 0.3


def _box(pts: np.ndarray) -> np.ndarray:
    return np.concatenate([pts[:, :2].min(0), pts[:, :2].max(0)])


def match(pred: list, truth: list) -> list:
    """Greedy (pred index, truth index) pairs by landmark-box IoU >= MATCH_IOU, best first (the tracker's
    own matching rule, `runtime.boxes.greedy_match`)."""
    if not pred or not truth:
        return []
    return greedy_match(iou_matrix([_box(p) for p in pred], [_box(t.landmarks) for t in truth]), MATCH_IOU)


@dataclass
class _FaceState:
    last_id: Optional[int] = None
    in_stretch: bool = False  # in the frame since its stretch began
    waiting_since: Optional[int] = None  # frame the face became required and not yet matched


@dataclass
class ClipScore:
    frames: int = 0
    required: int = 0
    matched: int = 0
    false_faces: int = 0
    id_switches: int = 0
    acquire: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    _faces: dict = field(default_factory=dict)

    def add(self, t: int, faces: list, truth: list) -> None:
        """Frame `t`: `faces` reported as (id, landmarks (68, >=2) frame px), `truth` [scene.TruthFace]."""
        self.frames += 1
        pairs = match([np.asarray(lm)[:, :2] for _, lm in faces], truth)
        by_truth = {j: i for i, j in pairs}
        self.false_faces += len(faces) - len(pairs)
        present = set()
        for j, tf in enumerate(truth):
            st = self._faces.setdefault(tf.key, _FaceState())
            present.add(tf.key)
            if not st.in_stretch:
                st.in_stretch, st.last_id, st.waiting_since = True, None, None
            required = tf.inside >= 0.999 and tf.covered <= MAX_COVERED
            i = by_truth.get(j)
            if required:
                self.required += 1
                if st.waiting_since is None and st.last_id is None:
                    st.waiting_since = t
            if i is None or tf.covered > MAX_COVERED:
                continue  # a face mostly hidden: whatever is reported there is the face in front of it
            fid = int(faces[i][0])
            if st.last_id is not None and fid != st.last_id:
                self.id_switches += 1
            st.last_id = fid
            if st.waiting_since is not None:
                self.acquire.append(t - st.waiting_since)
                st.waiting_since = None
            if required:
                self.matched += 1
                gt = tf.landmarks
                if len(faces[i][1]) != len(gt):  # another landmark scheme (MediaPipe's 468 points): no error
                    continue
                size = float(np.sqrt(np.prod(gt.max(0) - gt.min(0))))
                self.errors.append(float(np.linalg.norm(np.asarray(faces[i][1])[:, :2] - gt, axis=1).mean()) / size)
        for key, st in self._faces.items():
            if key not in present:
                if st.waiting_since is not None:
                    self.acquire.append(t - st.waiting_since)  # left before it was found: counted as its time in view
                st.in_stretch, st.last_id, st.waiting_since = False, None, None

    def summary(self) -> dict:
        pending = [self.frames - 1 - st.waiting_since for st in self._faces.values() if st.waiting_since is not None]
        acq = self.acquire + pending
        return {"frames": self.frames, "required_face_frames": self.required,
                "faces_per_frame": self.required / max(1, self.frames),
                "recall": self.matched / self.required if self.required else None,
                "acquire_max": max(acq) if acq else None, "acquire_mean": float(np.mean(acq)) if acq else None,
                "id_switches": self.id_switches, "false_per_frame": self.false_faces / max(1, self.frames),
                "landmark_error": float(np.mean(self.errors)) if self.errors else None,
                "landmark_error_p95": float(np.percentile(self.errors, 95)) if self.errors else None}


__all__ = ("MATCH_IOU", "MAX_COVERED", "match", "ClipScore")
