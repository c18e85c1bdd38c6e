"""Provenance of every file in the `edgeface-models` wheel: where it comes from, its licence, whether it may
be redistributed. The wheel builder refuses a file no rule covers and a file whose rule does not clear it,
so nothing is in the wheel against its licence; `EXCLUDED` lists what stays out and how a user gets it.

`markdown_rules()` is the table of docs/reference/provenance.md (a test keeps the two equal); `markdown_files()` is
the per-file table (with sha256) written into the wheel as PROVENANCE.md.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, List, Optional

V2 = "cleardusk/3DDFA_V2 @ 1b6c676"  # models/repos.toml [3ddfa_v2]
V1 = "cleardusk/3DDFA @ 3545f35"  # models/repos.toml [3ddfa_v1]
MIT_V2 = ("MIT (3DDFA_V2 LICENSE: (c) 2017 Max deGroot, Ellis Brown; (c) 2019 Zisian Wong, Shifeng Zhang; "
          "(c) 2020 Jianzhu Guo, CBSR); notice shipped as LICENSES/3DDFA_V2-LICENSE")
MIT_EDGEFACE = "MIT (edgeface LICENSE)"


@dataclass(frozen=True)
class Rule:
    """Files of the wheel matching `pattern` (a glob on the path inside the wheel)."""

    pattern: str
    what: str
    source: str
    licence: str
    redistribute: bool
    note: str = ""


RULES = (
    Rule("edgeface_models/__init__.py", "package marker (no code runs)", "edgeface", MIT_EDGEFACE, True),
    Rule("edgeface_models/data/index.json", "what the package holds; what it leaves out", "written by `make dist`",
         MIT_EDGEFACE, True),
    Rule("edgeface_models/PROVENANCE.md", "this table, per file with sha256", "written by `make dist`", MIT_EDGEFACE, True),
    Rule("edgeface_models/LICENSES/*", "upstream licence notices", f"{V2} LICENSE", MIT_V2, True,
         "MIT requires the notice to travel with the weights"),
    Rule("edgeface_models/data/tflite/mb05/mb05_*.tflite", "MobileNetV1 x0.5 regressor, converted (float32, INT8)",
         f"{V2} weights/mb05_120x120.pth, converted by edgeface (export -> calibrate -> convert -> verify)", MIT_V2, True,
         "INT8 ranges are statistics over the calibration crops (sample photos); no image is in the file"),
    Rule("edgeface_models/data/tflite/mb05/mb05_head.npz", "the regressor's final FC layer in float (INT8 float head)",
         f"{V2} weights/mb05_120x120.pth", MIT_V2, True),
    Rule("edgeface_models/data/tflite/faceboxes_*/faceboxes_*.tflite",
         "FaceBoxes detector, converted per input size (640x480, 320x256, 1088x736)",
         f"{V2} FaceBoxes/weights/FaceBoxesProd.pth (FaceBoxes.PyTorch), converted by edgeface", MIT_V2, True,
         "INT8 ranges as above"),
    Rule("edgeface_models/data/tflite/*/*.json", "model manifests: digests, tensors, converter versions, verification",
         "written by `edgeface convert` (build paths made cache-relative)", MIT_EDGEFACE, True),
    Rule("edgeface_models/data/assets/param_stats.*", "62-d parameter mean/std (+ its digest record)",
         f"{V2} configs/param_mean_std_62d_120x120.pkl (read by the restricted unpickler)", MIT_V2, True),
)


@dataclass(frozen=True)
class Excluded:
    """What the wheel does not hold, why, and how a user gets it."""

    what: str
    source: str
    licence: str
    how: str


EXCLUDED = (
    Excluded("sparse_bases (68-point mean shape, shape and expression bases)",
             f"{V1} c++/weights/u_base.txt, w_shp_base.txt, w_exp_base.txt",
             "repository MIT, but the arrays are the Basel Face Model 2009's mean shape and PCA shape basis at 68 "
             "vertices (and 3DDFA's expression basis, built from FaceWarehouse): derived from the BFM, whose "
             "licence (models/bfm.toml) forbids redistribution; not cleared",
             "fetched on first use from its pinned upstream URL (or $EDGEFACE_MIRROR), digests checked, one log line"),
    Excluded("mesh (triangles, no-neck indices, PNCC code, dense mean face)",
             f"{V2} configs/tri.pkl, indices.npy, ncc_code.npy; {V1} train.configs/u_shp.npy, u_exp.npy, keypoints_sim.npy",
             "BFM topology and mean shape: derived from the BFM; not cleared",
             "fetched on first use (only `--dense` / mesh overlays need it), as above"),
    Excluded("bfm (dense BFM basis bfm_noneck_v3.pkl)", f"{V2} configs/bfm_noneck_v3.pkl",
             "academic use only (Basel Face Model)", "never shipped or fetched automatically: `edgeface fetch bfm`"),
    Excluded("samples (emma.jpg, trump_hillary.jpg, JianzhuGuo.jpg, 5.png, obama.mp4)", f"{V2} examples/inputs; {V1}",
             "repository MIT, but photos of real people: kept out of packages",
             "`edgeface fetch samples` (pinned URLs, digests checked)"),
    Excluded("mb1, int8_floatio and float16 variants", f"{V2} weights/mb1_120x120.pth", "MIT",
             "no board profile asks for them: convert on a workstation (`edgeface convert`)"),
)


def rule_for(path: str) -> Optional[Rule]:
    """The first rule whose pattern matches a path inside the wheel (None: not covered)."""
    return next((r for r in RULES if fnmatch.fnmatchcase(path, r.pattern)), None)


def check(paths: Iterable[str]) -> List[str]:
    """Problems: wheel paths (outside `.dist-info`) that no rule covers or no rule clears."""
    problems = []
    for p in paths:
        if ".dist-info/" in p:
            continue
        r = rule_for(p)
        if r is None:
            problems.append(f"{p}: no provenance rule covers it")
        elif not r.redistribute:
            problems.append(f"{p}: its licence does not allow redistribution ({r.licence})")
    return problems


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_rules() -> str:
    """The rule table and the exclusions, as in docs/reference/provenance.md."""
    lines = ["| file in the wheel | what | comes from | licence | redistributed |", "| --- | --- | --- | --- | --- |"]
    for r in RULES:
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| `{r.pattern}` | {_cell(r.what)}{_cell(note)} | {_cell(r.source)} | {_cell(r.licence)} | "
                     f"{'yes' if r.redistribute else 'no'} |")
    lines += ["", "| not in the wheel | comes from | licence | how a user gets it |", "| --- | --- | --- | --- |"]
    for e in EXCLUDED:
        lines.append(f"| {_cell(e.what)} | {_cell(e.source)} | {_cell(e.licence)} | {_cell(e.how)} |")
    return "\n".join(lines) + "\n"


def markdown_files(files: Iterable[tuple]) -> str:
    """PROVENANCE.md of the wheel: one row per (path, size, sha256), then the rules and exclusions."""
    lines = ["# edgeface-models: provenance of every file", "",
             "Built by edgeface's own pipeline (`make dist`: export -> calibrate -> convert -> verify).", "",
             "| file | bytes | sha256 | comes from | licence |", "| --- | ---: | --- | --- | --- |"]
    for path, size, sha in files:
        r = rule_for(path)
        lines.append(f"| `{path}` | {size} | `{sha}` | {_cell(r.source if r else '?')} | {_cell(r.licence if r else '?')} |")
    return "\n".join(lines + ["", "## Rules and exclusions", "", markdown_rules()])
