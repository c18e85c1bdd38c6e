"""The scaling benchmark's figures from its rows: the cost of each extra face (the slope of ms per frame over the
face counts), the 2-core / 1-core fps ratios of the pipeline and of the models alone, per round and for the
median of the rounds."""

from __future__ import annotations

import numpy as np


def slope(xs, ys) -> float:
    """Least-squares slope of ys over xs (ms per extra face)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else float("nan")


def median_rows(rows: list) -> list:
    """One row per measurement (precision, cores, workers, mode, faces): the median fps over the rounds (the
    round-robin rounds of one run; a single slow spell of a shared machine moves one round, not the median),
    marked round "median"."""
    keys = sorted({(r["precision"], r["cores"], r["workers"], r["mode"], r["faces"]) for r in rows})
    out = []
    for k in keys:
        sel = [r for r in rows if (r["precision"], r["cores"], r["workers"], r["mode"], r["faces"]) == k]
        out.append(dict(sel[0], round="median", fps=float(np.median([r["fps"] for r in sel])),
                        invoke_ms=float(np.median([r["invoke_ms"] for r in sel]))))
    return out


def summarize(rows: list) -> dict:
    """Per-extra-face costs and 2-core / 1-core ratios of each round, and of the rounds' median fps (round
    "median", see `median_rows`; see module docstring)."""
    costs, ratios = [], []
    rounds = sorted({r["round"] for r in rows if r["round"] != "median"})
    rows = [r for r in rows if r["round"] != "median"] + (median_rows(rows) if len(rounds) > 1 else [])
    for rnd in rounds + (["median"] if len(rounds) > 1 else []):
        rr = [r for r in rows if r["round"] == rnd]
        for key in sorted({(r["precision"], r["cores"], r["workers"]) for r in rr if r["mode"] == "pipeline"}):
            sel = sorted((r for r in rr if r["mode"] == "pipeline" and (r["precision"], r["cores"], r["workers"]) == key),
                         key=lambda r: r["faces"])
            costs.append({"round": rnd, "precision": key[0], "cores": key[1], "workers": key[2],
                          "ms_per_extra_face": slope([r["faces"] for r in sel], [1000.0 / r["fps"] for r in sel]),
                          "invoke_ms": float(np.median([r["invoke_ms"] for r in sel]))})
        for prec in sorted({r["precision"] for r in rr}):
            for n in sorted({r["faces"] for r in rr}):
                def best(mode, cores):
                    c = [r["fps"] for r in rr if r["mode"] == mode and r["precision"] == prec and r["faces"] == n
                         and r["cores"] == cores]
                    return max(c) if c else None
                p1, p2, f1, f2 = best("pipeline", 1), best("pipeline", 2), best("floor", 1), best("floor", 2)
                if None in (p1, p2, f1, f2):
                    continue
                ratios.append({"round": rnd, "precision": prec, "faces": n, "pipeline_ratio": p2 / p1,
                               "floor_ratio": f2 / f1, "quotient": (p2 / p1) / (f2 / f1)})
    return {"costs": costs, "ratios": ratios}


__all__ = ("median_rows", "slope", "summarize")
