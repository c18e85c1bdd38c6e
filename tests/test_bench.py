"""edgeface bench: statistics on hand-made timings, the stopping rule, planning, and the JSON contract
of a tiny real run (numbers are checked for consistency, never against wall-clock expectations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeface.tools.bench.latency import cases as bench_cases
from edgeface.tools.bench.latency import dense_cases
from edgeface.tools.bench.latency import inputs
from edgeface.tools.bench import plots
from edgeface.tools.bench.latency import runner
from edgeface.tools.bench import stats
from edgeface.tools.bench import report as bench_report
from edgeface.errors import EdgefaceError


# ----------------------------------------------------------------------------- statistics

def test_percentile_hand_computed():
    v = [5.0, 1.0, 4.0, 2.0, 3.0]  # sorted 1..5, rank r = q/100 * 4
    assert stats.percentile(v, 0) == 1.0
    assert stats.percentile(v, 50) == 3.0
    assert stats.percentile(v, 90) == pytest.approx(4.6)  # r = 3.6: 4 + 0.6 * (5 - 4)
    assert stats.percentile(v, 99) == pytest.approx(4.96)
    assert stats.percentile(v, 100) == 5.0
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([1.0, 2.0], 25) == pytest.approx(1.25)


def test_percentile_matches_numpy_linear():
    rng = np.random.default_rng(0)
    t = rng.gamma(2.0, 3.0, size=257)
    for q in (1, 50, 90, 99):
        assert stats.percentile(t, q) == pytest.approx(float(np.percentile(t, q)), rel=1e-12)


def test_timing_stats_hand_computed():
    s = stats.timing_stats([40.0, 10.0, 30.0, 20.0])
    assert s["runs"] == 4
    assert s["median_ms"] == pytest.approx(25.0)
    assert s["p90_ms"] == pytest.approx(37.0)  # r = 2.7: 30 + 0.7 * 10
    assert s["p99_ms"] == pytest.approx(39.7)  # r = 2.97
    assert s["mean_ms"] == pytest.approx(25.0)
    assert (s["min_ms"], s["max_ms"]) == (10.0, 40.0)
    # one slow outlier moves p99 and the mean, not the median
    t = [1.0] * 99 + [100.0]
    s = stats.timing_stats(t)
    assert s["median_ms"] == 1.0 and s["p90_ms"] == 1.0
    assert s["p99_ms"] == pytest.approx(1.0 + 0.01 * 99.0)  # r = 98.01
    assert s["mean_ms"] == pytest.approx(1.99)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, -2.0]])
def test_timing_stats_rejects_bad_input(bad):
    with pytest.raises(EdgefaceError):
        stats.timing_stats(bad)


def test_percentile_range_checked():
    with pytest.raises(EdgefaceError, match="0..100"):
        stats.percentile([1.0], 101)


# ----------------------------------------------------------------------------- the stopping rule

class FakeClock:
    def __init__(self, step: float):
        self.t = 0.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_time_backend_runs_warmup_then_min_runs(monkeypatch):
    monkeypatch.setattr(stats.time, "perf_counter", FakeClock(0.001))
    calls = []
    times, _ = stats.time_backend(lambda: calls.append(1), stats.TimingPolicy(warmup=3, min_runs=7, min_seconds=0.0, max_seconds=100))
    assert len(times) == 7 and len(calls) == 10
    assert all(t == pytest.approx(1.0) for t in times)  # one clock step (1 ms) per timed run


def test_time_backend_min_seconds_and_max_seconds(monkeypatch):
    # each clock read advances 0.125 s (exact in binary): a timed run reads twice, so after n runs
    # the elapsed time is 0.125 + 0.25 (n - 1) + 0.125 = 0.25 n
    monkeypatch.setattr(stats.time, "perf_counter", FakeClock(0.125))
    times, _ = stats.time_backend(lambda: None, stats.TimingPolicy(warmup=0, min_runs=2, min_seconds=1.0, max_seconds=100))
    assert len(times) == 4  # past min_runs until 1 s had elapsed
    assert times == [125.0] * 4
    monkeypatch.setattr(stats.time, "perf_counter", FakeClock(0.125))
    times, _ = stats.time_backend(lambda: None, stats.TimingPolicy(warmup=0, min_runs=10_000, min_seconds=0.0, max_seconds=2.0))
    assert len(times) == 8  # stopped by max_seconds


# ----------------------------------------------------------------------------- planning

def test_variant_names_and_threads():
    assert bench_cases.normalize_variants(["int8,ort", "fp32", "int8"]) == ["onnxruntime-fp32", "tflite-float32", "tflite-int8"]
    assert bench_cases.normalize_variants(None) == list(bench_cases.ALL_VARIANTS)
    with pytest.raises(EdgefaceError, match="unknown variant 'int4'"):
        bench_cases.normalize_variants(["int4"])
    assert bench_cases.default_threads(1) == [1]
    assert bench_cases.default_threads(2) == [1, 2]
    assert bench_cases.default_threads(8) == [1, 2, 4]


def _fake_model(root: Path, name: str, variant: str) -> None:
    d = root / "tflite" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}_{variant}.tflite").write_bytes(b"x")
    (d / f"{name}_{variant}.json").write_text("{}")


def test_plan_cases_skips_what_is_missing(tmp_path):
    for v in ("float32", "int8"):
        _fake_model(tmp_path, "mb05", v)
    _fake_model(tmp_path, "faceboxes_640x480", "int8")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "mb05.onnx").write_bytes(b"x")
    opts = bench_cases.BenchOptions(models=["mb05", "faceboxes"], threads=[1, 2], runtimes=["ai_edge_litert"], root=tmp_path)
    cases, skipped = bench_cases.plan_cases(opts)
    got = {(c.model, c.variant, c.threads) for c in cases}
    assert ("mb05", "onnxruntime-fp32", 2) in got and ("mb05", "tflite-int8", 1) in got
    assert ("faceboxes_640x480", "tflite-int8", 2) in got and len(cases) == 2 * 4
    reasons = {(s["model"], s["variant"]) for s in skipped}
    assert ("mb05", "tflite-float16") in reasons and ("faceboxes_640x480", "onnxruntime-fp32") in reasons
    assert all(c.runtime == ("onnxruntime" if c.variant == "onnxruntime-fp32" else "ai_edge_litert") for c in cases)
    with pytest.raises(EdgefaceError, match="unknown model"):
        bench_cases.plan_cases(bench_cases.BenchOptions(models=["resnet"], root=tmp_path))
    if "tflite_runtime" not in bench_cases.available_runtimes():
        cases, skipped = bench_cases.plan_cases(bench_cases.BenchOptions(models=["mb05"], variants=["int8"], runtimes=["tflite_runtime"], root=tmp_path))
        assert cases == [] and any("tflite-runtime is not installed" in s["reason"] for s in skipped)
    with pytest.raises(EdgefaceError, match="unknown TFLite runtime"):
        bench_cases.plan_cases(bench_cases.BenchOptions(runtimes=["tvm"], root=tmp_path))
    with pytest.raises(EdgefaceError, match=">= 1"):
        bench_cases.plan_cases(bench_cases.BenchOptions(threads=[0], root=tmp_path))


def test_speedups_against_tflite_float32():
    res = [
        {"model": "m", "variant": "tflite-float32", "runtime": "ai-edge-litert 2.1.0", "threads": 1, "median_ms": 10.0},
        {"model": "m", "variant": "tflite-int8", "runtime": "ai-edge-litert 2.1.0", "threads": 1, "median_ms": 4.0},
        {"model": "m", "variant": "tflite-int8", "runtime": "ai-edge-litert 2.1.0", "threads": 2, "median_ms": 3.0},
        {"model": "m", "variant": "onnxruntime-fp32", "runtime": "onnxruntime 1.23.0", "threads": 1, "median_ms": 20.0},
    ]
    sp = bench_report.speedups(res)
    assert sp[0] == pytest.approx(1.0) and sp[1] == pytest.approx(2.5)
    assert sp[2] is None  # no float32 at 2 threads
    assert sp[3] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- a tiny real run

RESULT_KEYS = {"model", "variant", "runtime", "threads", "median_ms", "p90_ms", "p99_ms", "size_bytes", "peak_rss_mb"}


DENSE_KEYS = {"model", "vertices", "triangles", "budget", "stage", "backend", "median_ms", "p90_ms", "p99_ms", "mean_ms",
              "min_ms", "max_ms", "runs"}


def _numba_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def check_dense_section(d: dict, budgets, runs: int) -> None:
    """The dense rows of a report: every stage of every mesh size, sane numbers, both backends."""
    rows = d["dense"]
    assert rows and all(set(r) == DENSE_KEYS for r in rows)
    backends = ["numpy", "numba"] if _numba_importable() else ["numpy"]
    assert d["dense_setup"]["render_backends"] == backends
    for r in rows:
        assert r["model"] == "dense_approx" and r["runs"] >= runs
        t = [r[k] for k in ("min_ms", "median_ms", "p90_ms", "p99_ms", "max_ms")]
        assert all(np.isfinite(t)) and 0 < t[0] <= t[1] <= t[2] <= t[3] <= t[4]
    want = {("reconstruct", "numpy"), ("smooth", "numpy"), ("render-points", "numpy")}
    want |= {(f"render-{m}", b) for m in ("mesh", "depth", "pncc") for b in backends}
    sizes = sorted({(r["budget"], r["vertices"], r["triangles"]) for r in rows})
    assert [b for b, _, _ in sizes] == sorted(budgets)
    for budget, nv, nt in sizes:
        got = [(r["stage"], r["backend"]) for r in rows if r["budget"] == budget]
        assert sorted(got) == sorted(want), budget  # each once
        if budget == 0:
            assert (nv, nt) == (38365, 76073)  # the full no-neck mesh of 3DDFA_V2
        else:
            assert abs(nv - budget) <= 0.05 * budget and nt < 76073
    setup = d["dense_setup"]
    assert setup["params"].startswith("mb05 tflite-float32 on obama.mp4 frame 0")
    assert max(setup["face_px"]) == pytest.approx(250.0, abs=0.5) and setup["frame"] == [640, 480]
    assert [(m["budget"], m["vertices"]) for m in setup["meshes"]] == [(b, nv) for b, nv, _ in sorted(sizes, key=lambda x: budgets.index(x[0]))]


def test_bench_quick_run_json_contract(converted_home, tmp_path):
    policy = stats.TimingPolicy(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=5.0)
    dense_policy = stats.TimingPolicy(warmup=1, min_runs=3, min_seconds=0.0, max_seconds=2.0)
    opts = bench_cases.BenchOptions(models=["mb05"], variants=["ort", "int8"], threads=[1], policy=policy,
                              pipeline_variants=["int8"], pipeline_frames=6, dense_policy=dense_policy,
                              dense_budgets=[0, 4000], root=converted_home)
    seen = []
    report = runner.run_bench(opts, progress=lambda label, done, total: seen.append((done, total)))
    d = json.loads(json.dumps(report.to_dict()))
    assert seen[-1][0] == seen[-1][1] == 5  # 2 model cases + 2 pipeline cases + the dense section
    assert d["format"] == bench_cases.FORMAT
    for k in ("cpu", "cores", "arch", "os", "python", "runtimes", "xnnpack", "board"):
        assert k in d["machine"]
    assert d["machine"]["xnnpack"] in (True, False, None)
    assert [(r["model"], r["variant"], r["threads"]) for r in d["results"]] == [
        ("mb05", "onnxruntime-fp32", 1), ("mb05", "tflite-int8", 1)]
    for r in d["results"]:
        assert RESULT_KEYS <= set(r)
        assert r["runs"] >= 5 and 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["isolated"] is True and r["peak_rss_mb"] > 0 and r["model_rss_mb"] is not None
    int8 = d["results"][1]
    assert int8["runtime"].startswith("ai-edge-litert ")
    mdir = converted_home / "tflite" / "mb05"
    head = json.loads((mdir / "mb05_int8.json").read_text()).get("float_head")
    assert int8["size_bytes"] == (mdir / "mb05_int8.tflite").stat().st_size + ((mdir / head["file"]).stat().st_size if head else 0)
    assert d["results"][0]["runtime"].startswith("onnxruntime ")
    assert [(p["variant"], p["tracking"]) for p in d["pipeline"]] == [("tflite-int8", True), ("tflite-int8", False)]
    on, off = d["pipeline"]
    for p in (on, off):
        assert p["frames"] == 6 and p["fps"] > 0 and p["faces_per_frame"] == pytest.approx(1.0)
        assert {"detect", "regress", "decode", "total"} <= set(p["stages_ms"])
        assert p["stages_ms"]["total"] >= p["stages_ms"]["detect"]
    assert off["detector_runs"] == 6 and on["detector_runs"] < 6  # tracking skips detections

    # dense section: isolated worker with BLAS on one thread and an empty numba cache
    check_dense_section(d, [0, 4000], runs=3)
    assert d["settings"]["dense"]["budgets"] == [0, 4000] and d["dense_setup"]["blas_threads"] == 1
    nb = d["dense_setup"]["numba"]
    if _numba_importable():
        assert nb["first_call"] == "compiled" and nb["compile_ms"] > 0 and nb["cache_load_ms"] > 0
    else:
        assert nb is None
    assert any(s["model"] == "dense" and s["variant"] == "bfm" for s in d["skipped"]) == (
        not (converted_home / "assets" / "bfm.npz").is_file())

    # renderers: markdown, rich tables and the plot from the JSON alone
    md = bench_report.bench_markdown(d)
    assert "| mb05 | tflite-int8 |" in md and "## End-to-end pipeline" in md and "## Dense mesh" in md
    assert "| dense_approx | full | 38,365 | 76,073 | render-mesh |" in md
    from rich.console import Console

    console = Console(record=True, width=200)
    for t in bench_report.bench_tables(d):
        console.print(t)
    text = console.export_text()
    assert "tflite-int8" in text and "render-pncc" in text and "Dense mesh" in text
    narrow = Console(record=True, width=160)  # the CLI's width when stdout is not a terminal (make demo's log)
    for t in bench_report.bench_tables(d):
        narrow.print(t)
    assert "\u2026" not in narrow.export_text()  # headers wrap; no value is cut to "554..."
    png = plots.plot_bench(d, tmp_path / "b.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the CLI re-renders a saved report and writes the outputs
    from edgeface.cli.main import main

    src = tmp_path / "in.json"
    src.write_text(json.dumps(d))
    out = tmp_path / "out.json"
    main(["bench", "latency", "--from-json", str(src), "--json", str(out), "--markdown", str(tmp_path / "b.md")])
    assert json.loads(out.read_text()) == d
    with pytest.raises(SystemExit) as e:
        main(["bench", "latency", "--from-json", str(tmp_path / "b.md")])
    assert e.value.code == 2


def test_bench_in_process_has_no_rss(converted_home):
    policy = stats.TimingPolicy(warmup=1, min_runs=3, min_seconds=0.0, max_seconds=5.0)
    opts = bench_cases.BenchOptions(models=["faceboxes"], variants=["int8"], threads=[1], policy=policy, isolate=False,
                              pipeline=False, dense_policy=policy, dense_budgets=[3000], root=converted_home)
    rep = runner.run_bench(opts)
    r = rep.results[0]
    assert r.model == "faceboxes_640x480" and r.isolated is False and r.peak_rss_mb is None and r.runs >= 3
    d = json.loads(json.dumps(rep.to_dict()))
    check_dense_section(d, [3000], runs=3)
    if _numba_importable():  # this process: compiled, loaded from numba's cache, or compiled by an earlier test
        assert d["dense_setup"]["numba"]["first_call"] in ("compiled", "cache", "already compiled")


def test_dense_budgets_follow_the_target_profiles():
    from edgeface.boards.profiles import load_targets

    budgets = dense_cases.default_dense_budgets()
    profs = load_targets().values()
    assert budgets[0] == 0 and budgets[1:] == sorted({p.dense_max_vertices for p in profs} - {0}, reverse=True)
    by = dense_cases.profile_budgets()
    assert sorted(n for names in by.values() for n in names) == sorted(p.name for p in profs)
    assert all(p.name in by[p.dense_max_vertices] for p in profs)


def test_plan_dense(tmp_path, edgeface_home):
    case, skipped = dense_cases.plan_dense(bench_cases.BenchOptions(root=tmp_path))  # empty cache: nothing to render
    assert case is None and {s["variant"] for s in skipped} == {"dense_approx", "bfm"}
    assert all("edgeface fetch" in s["reason"] for s in skipped)
    case, skipped = dense_cases.plan_dense(bench_cases.BenchOptions(root=edgeface_home, dense_models=["approx"], dense_budgets=[4000, 0, 4000]))
    assert case.models == ("dense_approx",) and case.budgets == (4000, 0) and skipped == []
    case, _ = dense_cases.plan_dense(bench_cases.BenchOptions(root=edgeface_home))
    assert case.budgets == tuple(dense_cases.default_dense_budgets())
    for bad in ([50], [-1]):
        with pytest.raises(EdgefaceError, match="at least 100"):
            dense_cases.plan_dense(bench_cases.BenchOptions(root=edgeface_home, dense_budgets=bad))
    with pytest.raises(EdgefaceError, match="unknown dense model 'flame'"):
        dense_cases.plan_dense(bench_cases.BenchOptions(root=edgeface_home, dense_models=["flame"]))


def test_face_roi_places_the_face(edgeface_home):
    from edgeface.hub import assets
    from edgeface.dense.loading import load_dense_model

    model = load_dense_model(edgeface_home, prefer="approx", decimate=3000)
    params = assets.load_param_stats(edgeface_home).mean
    for size, px in (((640, 480), 250), ((320, 240), 100)):
        roi = dense_cases.face_roi(model, params, size, px)
        assert roi[2] - roi[0] == pytest.approx(roi[3] - roi[1])  # square: no distortion
        v = model.image_vertices(params, roi)
        assert max(np.ptp(v[0]), np.ptp(v[1])) == pytest.approx(px, abs=0.01)
        assert (v[0].min() + v[0].max()) / 2 == pytest.approx(size[0] / 2, abs=0.01)
        assert (v[1].min() + v[1].max()) / 2 == pytest.approx(size[1] / 2, abs=0.01)
    with pytest.raises(EdgefaceError, match="16..480"):
        dense_cases.face_roi(model, params, (640, 480), 600)


def test_dense_rows_pair_backends():
    def row(stage, backend, med, budget=0, nv=38365):
        return {"model": "dense_approx", "vertices": nv, "triangles": 2 * nv, "budget": budget, "stage": stage, "backend": backend,
                "median_ms": med, "p90_ms": med * 1.5}

    rep = {"dense": [row("render-mesh", "numba", 2.0), row("reconstruct", "numpy", 1.0), row("render-mesh", "numpy", 10.0),
                     row("reconstruct", "numpy", 0.25, 4000, 3990)],
           "settings": {"dense": {"profiles": {"0": ["x86_64"], "4000": ["rpi-zero2w"]}}},
           "dense_setup": {"numba": {"version": "0.68.1", "import_ms": 300.0, "compile_ms": 1500.0, "cache_load_ms": 200.0}}}
    rows = bench_report.dense_rows(rep)
    assert rows == [
        ["dense_approx", "full", "38,365", "76,730", "reconstruct", "1.00", "1.50", "-", "-", "-"],
        ["dense_approx", "full", "38,365", "76,730", "render-mesh", "10.00", "15.00", "2.00", "3.00", "5.0x"],
        ["dense_approx", "4000", "3,990", "7,980", "reconstruct", "0.25", "0.38", "-", "-", "-"],
    ]
    note = bench_report.dense_numba_note(rep)
    assert "1.50 s" in note and "200 ms" in note and "300 ms" in note
    assert bench_report.dense_numba_note({"dense_setup": {"numba": None}}) is None


@pytest.mark.parametrize("isolate", [False, True])
def test_a_failing_model_is_reported_not_fatal(tmp_path, monkeypatch, isolate):
    _fake_model(tmp_path, "mb05", "int8")  # not a flatbuffer: the runtime refuses it
    fake = inputs.BenchInputs(crop=np.zeros((120, 120, 3), np.uint8),
                             frames={"faceboxes_640x480": np.zeros((480, 640, 3), np.uint8)}, source="zeros")
    monkeypatch.setattr(runner, "make_inputs", lambda detectors, root=None, video=None: fake)
    opts = bench_cases.BenchOptions(models=["mb05"], variants=["int8"], threads=[1], runtimes=["ai_edge_litert"],
                              policy=stats.TimingPolicy.quick(), isolate=isolate, pipeline=False, root=tmp_path)
    rep = runner.run_bench(opts)
    assert rep.results == [] and rep.dense == []
    failed = [s for s in rep.skipped if s["reason"].startswith("failed:")]
    assert len(failed) == 1 and failed[0]["model"] == "mb05" and "mb05_int8" in failed[0]["reason"]  # its manifest is refused before load
    assert any(s["model"] == "dense" and "edgeface fetch" in s["reason"] for s in rep.skipped)  # no mesh asset here


def test_a_broken_numba_leaves_the_numpy_rows(edgeface_home, monkeypatch):
    from edgeface.viz import render

    real = render.render

    def render_without_numba(frame, v, tri, mode="mesh", **kw):
        if kw.get("backend") == "numba":
            raise RuntimeError("LLVM ERROR: no target")
        return real(frame, v, tri, mode, **kw)

    monkeypatch.setattr(render, "render", render_without_numba)
    monkeypatch.setattr(render, "available_backends", lambda: ("numba", "numpy"))
    case = bench_cases.DenseCase(root=str(edgeface_home), models=("dense_approx",), budgets=(3000,))
    rows, setup = dense_cases.run_dense(case, stats.TimingPolicy(warmup=0, min_runs=2, min_seconds=0.0, max_seconds=1.0))
    assert setup["render_backends"] == ["numpy"] and {r.backend for r in rows} == {"numpy"}
    assert len(rows) == 6 and "LLVM ERROR" in setup["numba"]["error"]
    assert setup["params"] == "param mean"  # no crop given
    assert "only the numpy rasterizer" in bench_report.dense_numba_note({"dense_setup": setup})


def test_threads_lines_say_why_a_profile_differs_from_the_measured_best():
    from types import SimpleNamespace

    from edgeface.tools.bench.latency.threads import threads_lines

    rows = [{"variant": "tflite-int8", "runtime": "ai_edge_litert", "model": "mb05", "threads": t, "p90_ms": p, "median_ms": p}
            for t, p in ((1, 0.7), (2, 0.6))]
    rows += [{"variant": "tflite-int8", "runtime": "ai_edge_litert", "model": "faceboxes_640x480", "threads": t, "p90_ms": p,
              "median_ms": p} for t, p in ((1, 7.0), (2, 4.0))]
    prof = SimpleNamespace(name="x86_64", threads=4, regressor_threads=1, detector_threads=2)
    reg, det = threads_lines({"results": rows}, prof)
    assert reg.startswith("regressor: best 2 threads") and "profile x86_64: 1 (profiles are set from whole-pipeline runs" in reg
    assert det.endswith("profile x86_64: 2")


# ----------------------------------------------------------------------------- the `edgeface bench` commands

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _accepted():
    import typer.main

    from edgeface.cli.bench import bench_app

    group = typer.main.get_group(bench_app)
    return {n: {"--help", *(o for p in c.params for o in (*p.opts, *p.secondary_opts))} for n, c in group.commands.items()}


def test_bench_lists_its_subcommands_in_registry_order(capsys, monkeypatch):
    from edgeface.cli.bench import SUBCOMMANDS
    from inprocess_cli import cli

    names = [m.NAME for m in SUBCOMMANDS]
    assert names[:5] == ["latency", "peers", "stability", "eval", "soak"]
    assert list(_accepted()) == names  # registered from the one list, nothing else
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli(capsys, "bench")  # bare: the list of subcommands, as `edgeface` and `edgeface mqtt` do
    assert code == 2 and "Traceback" not in out + err
    listing = (out + err)[(out + err).index("Commands:"):]  # plain click help (printed to stderr when bare)
    positions = [listing.index(f"  {n} ") for n in names]
    assert positions == sorted(positions), listing


@pytest.mark.parametrize("name", ["latency", "peers", "stability", "eval", "soak"])
def test_bench_help_fits_80_columns(name, capsys, monkeypatch):
    from inprocess_cli import cli

    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli(capsys, "bench", name, "--help")
    assert code == 0, err
    assert "\u2026" not in out and max(len(line) for line in out.splitlines()) <= 80, out  # nothing cut
    words = set(out.replace(",", " ").split())
    for opt in (o for o in _accepted()[name] if o.startswith("-")):
        assert opt in words, (opt, out)  # every option name whole


def test_old_bench_forms_translate_to_subcommands():
    from edgeface.cli.bench_legacy import translate

    acc = _accepted()
    t = translate(["--quick", "--min-seconds", "2", "--dense", "--json", "b.json"], acc)
    assert t.args == ("latency", "--quick", "--min-ms", "2000", "--json", "b.json")
    assert "`edgeface bench latency OPTIONS`" in t.notice and "ignored" not in t.notice
    t = translate(["--stability", "-v", "int8", "--quick", "--target=x86_64"], acc)
    assert t.args == ("stability", "--precision", "int8", "--target", "x86_64")
    assert "ignored here: --quick" in t.notice  # the old command took it and did nothing with it
    t = translate(["--peers", "--pipeline-frames", "30", "--rounds", "3", "--no-install"], acc)
    assert t.args == ("peers", "--frames", "30", "--rounds", "3", "--no-install")
    for new_form in ([], ["--help"], ["latency", "--quick"], ["--peerz"]):
        assert translate(new_form, acc) is None
    assert translate(["--quick", "--peerz"], acc).args == ("latency", "--quick", "--peerz")  # refused by latency


@pytest.mark.parametrize("old, new, report", [
    (["bench"], "bench latency", "bench-x86_64.json"),
    (["bench", "--stability"], "bench stability", "stability-x86_64.json"),
    (["bench", "--peers"], "bench peers", "peers-x86_64.json"),
    (["eval"], "bench eval", "eval-faces68.json"),
])
def test_old_forms_still_work_with_one_notice(old, new, report, capsys, tmp_path):
    from inprocess_cli import cli

    md = tmp_path / "r.md"
    code, out, err = cli(capsys, *old, "--from-json", BENCHMARKS / report, "--markdown", md)
    assert code == 0, err
    notices = [line for line in err.splitlines() if line.startswith("deprecated")]
    assert len(notices) == 1 and f"`edgeface {new}" in notices[0], err
    assert md.read_text().startswith("# ") and "Traceback" not in err


def test_bench_soak_renders_a_saved_report_and_fails_on_a_leak(capsys, tmp_path):
    from inprocess_cli import cli

    saved = json.loads((BENCHMARKS / "soak-x86_64.json").read_text())
    md, png = tmp_path / "soak.md", tmp_path / "soak.png"
    code, out, err = cli(capsys, "bench", "soak", "--from-json", BENCHMARKS / "soak-x86_64.json", "--markdown", md,
                         "--plot", png)
    assert code == 0 and "ok (<=" in out, err  # the committed run passed (else it would not be committed)
    assert f"\n| {saved['frames']} | {saved['passes']} |" in md.read_text() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leaking = tmp_path / "leak.json"
    leaking.write_text(json.dumps({**saved, "ok": False, "rss_growth_mb": 9.0}))
    code, out, err = cli(capsys, "bench", "soak", "--from-json", leaking)
    assert code == 1 and "FAIL" in out and "soak failed: RSS grew by +9.00 MB" in err
    code, out, err = cli(capsys, "bench", "soak", "--from-json", BENCHMARKS / "peers-x86_64.json")
    assert code == 2 and "not an edgeface soak report" in err and "Traceback" not in err
