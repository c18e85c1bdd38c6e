#!/usr/bin/env python3
"""Summary of the QAT / equalization experiment (benchmarks/experiments/qat.sh): STEM-summary.md and STEM-summary.png.

Per variant: what it is (the qat_experiment.py settings recorded with it), the fake-quantized
student's landmark error vs the float teacher on the 12 held-out crops (emma / 5.png, sigma 2)
before and after fine-tuning, the fixed-crop sensor-noise ratio to fp32 and bias (STEM.json from
int8_noise.py, with the dev-set NME merged in), and where measured the tracked jitter ratios of
`edgeface bench stability` (STEM-stability-LABEL.json; raw and smoothed, max over the two photos).

Usage: benchmarks/experiments/qat_report.py --home ~/.cache/edgeface-qat --stem benchmarks/experiments/qat-x86_64
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from edgeface.hub.atomic import write_text_atomic


def stability_ratios(path: Path) -> dict:
    """{"raw": max over photos of INT8 / fp32 raw jitter, "smoothed": ..., "smoothed_max_pct": ...}."""
    rows = json.loads(path.read_text())["rows"]
    by = {(r["photo"], r["precision"]): r for r in rows}
    photos = sorted({r["photo"] for r in rows})
    raw = [by[(p, "int8")]["jitter_raw"] / by[(p, "fp32")]["jitter_raw"] for p in photos]
    smo = [by[(p, "int8")]["jitter_smoothed"] / by[(p, "fp32")]["jitter_smoothed"] for p in photos]
    return {"raw": max(raw), "smoothed": max(smo), "raw_each": raw, "smoothed_each": smo, "photos": photos,
            "smoothed_max_pct": 100 * max(by[(p, "int8")]["jitter_smoothed"] for p in photos)}


def variant_args(script: Path) -> dict:
    """{label: qat_experiment.py arguments} from the variant table of qat.sh (what each was built with)."""
    return dict(re.findall(r'^\s*"([\w.]+)\|([^"]*)"', script.read_text(), re.M))


def collect(home: Path, stem: Path) -> list:
    rep = json.loads(stem.with_suffix(".json").read_text())
    built = variant_args(Path(__file__).resolve().parent / "qat.sh")
    out = []
    for r in rep["rows"]:
        label = r["model"]
        folder = home / "experiments" / "int8-noise" / label
        ft = json.loads((folder / "finetune.json").read_text()) if (folder / "finetune.json").is_file() else None
        st = stem.with_name(f"{stem.name}-stability-{label}.json")
        out.append({
            "label": label,
            "what": ("float reference" if label == "fp32" else "PTQ, every ReLU clipped at its 99.99th percentile (today's INT8)"
                     if label == "default" else f"`{built.get(label, '?')}`"),
            "heldout": (ft or {}).get("heldout_error_px"),
            "ratio": r["ratio_mean"], "ratios": [p["ratio"] for p in r["photos"].values()],
            "bias": [p["bias_px"] for p in r["photos"].values()], "ms": r["ms_median"],
            "nme": r.get("nme"), "nme_ratio": r.get("nme_ratio"), "found": r.get("found"),
            "stability": stability_ratios(st) if st.is_file() else None,
            "seconds": (ft or {}).get("seconds"),
        })
    return out, rep["settings"]


def markdown(rows: list, settings: dict) -> str:
    head = ("| variant | what | held-out px before -> after | fixed-crop ratio (Jianzhu / emma) | **mean** | bias px (Jianzhu / emma) "
            "| dev NME (x fp32) | tracked raw x | tracked smoothed x | ms |")
    lines = [f"QAT / equalization experiment (benchmarks/experiments/qat.sh), {settings['machine']}, fixed-crop noise {settings['frames']} frames "
             f"sigma {settings['sigma']}, load avg {settings['load_avg'][0]:.2f} at the end (ms indicative at that load). "
             "Targets: fixed-crop and tracked ratio <= 1.1, dev NME <= 1.02.", "", head, "|" + " --- |" * 10]
    for r in rows:
        h = r["heldout"]
        ho = f"{h['before']:.3f} -> {h['after']:.3f}" if h else "-"
        st = r["stability"]
        nme = f"{r['nme']:.4f} ({r['nme_ratio']:.3f})" if r["nme"] is not None else "-"
        lines.append(f"| {r['label']} | {r['what']} | {ho} | {r['ratios'][0]:.2f} / {r['ratios'][1]:.2f} | **{r['ratio']:.2f}** "
                     f"| {r['bias'][0]:.2f} / {r['bias'][1]:.2f} | {nme} | {st['raw']:.2f} |" if st else
                     f"| {r['label']} | {r['what']} | {ho} | {r['ratios'][0]:.2f} / {r['ratios'][1]:.2f} | **{r['ratio']:.2f}** "
                     f"| {r['bias'][0]:.2f} / {r['bias'][1]:.2f} | {nme} | - |")
        lines[-1] += (f" {st['smoothed']:.2f} | {r['ms']:.3f} |" if st else f" - | {r['ms']:.3f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list, dest: Path) -> None:
    from int8_noise import pyplot, save_png  # this folder's int8_noise.py (its cv2 and models only when plotting)

    plt = pyplot()
    pts = [r for r in rows if r["label"] != "fp32" and r["nme_ratio"] is not None]
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for r in pts:
        c = "tab:red" if r["label"] == "default" else ("tab:green" if "--steps 0" in r["what"] else "tab:blue")
        ax.scatter(r["ratio"], r["nme_ratio"], color=c, s=30)
        ax.annotate(r["label"], (r["ratio"], r["nme_ratio"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(1.1, color="k", ls="--", lw=1)
    ax.axhline(1.02, color="k", ls="--", lw=1)
    ax.fill_between([0.95, 1.1], 0.98, 1.02, color="tab:green", alpha=0.12, label="issue 12 targets (both)")
    ax.set_xlabel("fixed-crop sensor-noise std / fp32's (mean of JianzhuGuo, emma)")
    ax.set_ylabel("dev-set NME / fp32's (faces68)")
    ax.set_title("INT8 variants: jitter vs accuracy (red: today's default; blue: fine-tuned; green: equalized only)")
    ax.set_xlim(0.95, max(r["ratio"] for r in pts) * 1.05)
    ax.set_ylim(0.98, max(r["nme_ratio"] for r in pts) * 1.01)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_png(fig, dest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--stem", type=Path, required=True)
    a = ap.parse_args(argv)
    rows, settings = collect(a.home, a.stem)
    md = markdown(rows, settings)
    dest = a.stem.with_name(a.stem.name + "-summary.md")
    write_text_atomic(dest, md)
    write_text_atomic(a.stem.with_name(a.stem.name + "-summary.json"),
                      json.dumps(rows, indent=1, default=lambda o: np.asarray(o).tolist()))
    plot(rows, a.stem.with_name(a.stem.name + "-summary.png"))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
