"""iBUG `.pts` landmark annotations: reading one file (`parse_pts`) and pairing a folder's images
with theirs (`find_annotated_images`).

A `.pts` file: optional header lines `key: value` (`version: 1`, `n_points: 68`), `{`, one `x y`
per line, `}`. Points are taken as 0-based pixel coordinates (dlib / menpo convention; 300W's
original files are 1-based: subtract 1 from them first, the error it makes is 1 px). A folder holds
`<stem>.pts` for one face of `<stem>.jpg`, or `<stem>_<k>.pts` for face k.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import IMAGE_EXTS

N_POINTS = 68


def parse_pts(path: Union[str, Path], n_points: Optional[int] = N_POINTS) -> np.ndarray:
    """Points `(N, 2)` float64 of an iBUG `.pts` file; a malformed file is a one-line EdgefaceError.

    Accepted: optional header lines `key: value` (`version`, `n_points`), `{`, one `x y` per line,
    `}`; blank lines anywhere. `n_points` in the header must match the lines given, and, unless
    `n_points` is None here, equal it.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgefaceError(f"cannot read landmark file {p} ({type(e).__name__}): give a readable iBUG .pts text file") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    try:
        start = lines.index("{")
    except ValueError:
        raise EdgefaceError(f"{p.name}: no '{{' line opening the points (iBUG .pts: version/n_points header, '{{', 'x y' lines, '}}')") from None
    if "}" not in lines[start + 1:]:
        raise EdgefaceError(f"{p.name}: no '}}' line closing the points; the file is truncated or not iBUG .pts")
    end = lines.index("}", start + 1)
    header: Dict[str, str] = {}
    for ln in lines[:start]:
        if ":" not in ln:
            raise EdgefaceError(f"{p.name}: header line {ln[:40]!r} is not 'key: value'; not an iBUG .pts file")
        k, v = ln.split(":", 1)
        header[k.strip().lower()] = v.strip()
    pts = []
    for i, ln in enumerate(lines[start + 1:end]):
        parts = ln.replace(",", " ").split()
        if len(parts) != 2:
            raise EdgefaceError(f"{p.name}: point line {i + 1} {ln[:40]!r} does not have exactly 2 numbers 'x y'")
        try:
            xy = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise EdgefaceError(f"{p.name}: point line {i + 1} {ln[:40]!r} is not two numbers") from None
        if not all(math.isfinite(v) for v in xy):
            raise EdgefaceError(f"{p.name}: point line {i + 1} has a non-finite value")
        pts.append(xy)
    if "n_points" in header:
        try:
            declared = int(header["n_points"])
        except ValueError:
            raise EdgefaceError(f"{p.name}: n_points {header['n_points']!r} is not an integer") from None
        if declared != len(pts):
            raise EdgefaceError(f"{p.name}: header says n_points {declared} but {len(pts)} points are listed")
    if n_points is not None and len(pts) != n_points:
        raise EdgefaceError(f"{p.name}: {len(pts)} points, expected {n_points} (the 68-point iBUG markup)")
    if not pts:
        raise EdgefaceError(f"{p.name}: no points between '{{' and '}}'")
    return np.asarray(pts, dtype=np.float64)


@dataclass
class AnnotatedImage:
    image: Path
    annotations: List[Path]  # .pts files, one face each


def find_annotated_images(folder: Union[str, Path]) -> Tuple[List[AnnotatedImage], List[Path]]:
    """(images with their .pts files, .pts files matching no image) of a folder.

    A `.pts` belongs to the image with the same stem, else (`<stem>_<k>.pts`, k digits) to the
    image named `<stem>`.
    """
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise EdgefaceError(f"evaluation folder {d} does not exist or is not a folder: give a folder of images with .pts files")
    images = {p.stem: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTS}
    found: Dict[str, List[Path]] = {}
    orphans = []
    for pts in sorted(d.glob("*.pts")):
        stem = pts.stem
        if stem in images:
            found.setdefault(stem, []).append(pts)
            continue
        m = re.fullmatch(r"(.+)_(\d+)", stem)
        if m and m.group(1) in images:
            found.setdefault(m.group(1), []).append(pts)
        else:
            orphans.append(pts)
    items = [AnnotatedImage(images[s], sorted(found[s])) for s in sorted(found)]
    if not items:
        raise EdgefaceError(f"no image in {d} has a .pts annotation (<stem>.pts or <stem>_<k>.pts beside <stem>.jpg)")
    return items, orphans
