"""The `edgeface` command line: thin commands over the library."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from edgeface.errors import EdgefaceError, write_error
from edgeface.vocab import REGRESSORS, parse_size

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="3DDFA_V2 3D dense face alignment on ARM boards: fetch, export, convert, run, bench.",
)
console = Console(stderr=True)
out = Console(soft_wrap=True)


def _progress():
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )


@app.command()
def fetch(
    names: Optional[List[str]] = typer.Argument(None, help="Cards to fetch (see `edgeface info`), or `all` (default)."),
    mirror: Optional[Path] = typer.Option(None, "--mirror", envvar="EDGEFACE_MIRROR", help="Local mirror folder laid out as <repo alias>/<upstream path>."),
):
    """Download (or copy from a mirror) and verify upstream files into the cache."""
    from edgeface.hub.fetch import fetch as do_fetch
    from edgeface.hub.cards import load_cards

    cards = load_cards()
    if "bfm" in (names or []):
        out.print("[yellow]licence[/] the BFM (configs/bfm_noneck_v3.pkl) is derived from the Basel Face Model: ACADEMIC USE ONLY, "
                  "no commercial use, no redistribution. Fetching it means you accept that licence.")
    with _progress() as prog:
        tasks: dict = {}

        def progress(label, done, total):
            if label not in tasks:
                tasks[label] = prog.add_task(label, total=total)
            prog.update(tasks[label], completed=done, total=total)

        def on_file(st):
            f = st.file
            if st.status in ("fetched", "cached"):
                out.print(f"[green]ok[/]      {f.card:13s} {f.path}  ({st.status}, {f.digest_label[:19]}...)")
            elif st.status == "missing":
                out.print(f"[yellow]missing[/] {f.card:13s} {st.message} (without it: {cards[f.card].without})")
            else:
                out.print(f"[red]{st.status:7s}[/] {f.card:13s} {st.message}")

        report = do_fetch(names or ["all"], mirror=mirror, progress=progress, on_file=on_file)
    for p in report.derived:
        out.print(f"[green]ok[/]      derived {p}")
    if report.refused:
        raise EdgefaceError(report.refused[0].message, exit_code=3)
    if not report.ok:
        missing = sorted({s.file.card for s in report.files if s.status not in ("cached", "fetched")})
        raise EdgefaceError(f"not obtained: {', '.join(missing)} (see above for where to get them)", exit_code=1)
    bfm = [s for s in report.files if s.file.card == "bfm" and s.status in ("fetched", "cached")]
    if bfm:
        out.print("[yellow]note[/]    the BFM is licensed for ACADEMIC USE ONLY (University of Basel); do not redistribute it. "
                  "`edgeface run --dense` now uses the exact dense mesh.")


@app.command()
def info():
    """What is in the cache: files, sizes, digests, licences, and what is missing."""
    from edgeface.hub.info import cache_table

    out.print(cache_table())


def _status(message: str):
    return console.status(message, spinner="dots")


@app.command()
def export(
    model: str = typer.Option("all", "--model", "-m", help="mb05 | mb1 | faceboxes | all (mb05 + faceboxes)."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Fixed FaceBoxes input WIDTHxHEIGHT (multiples of 32)."),
    force: bool = typer.Option(False, "--force", help="Export again even if a verified export is cached."),
):
    """PyTorch checkpoint -> ONNX, verified against torch on real crops/frames (writes ONNX + JSON sidecar)."""
    from edgeface.tools.convert import export as ex
    from edgeface.hub import paths
    from edgeface.hub.assets import file_path

    w, h = parse_size(detector_size)
    names = ["mb05", "faceboxes"] if model == "all" else [model]
    out_dir = paths.onnx_dir()
    for m in names:
        with _status(f"exporting {m} to ONNX and verifying against torch"):
            if m in REGRESSORS:
                results = [ex.export_regressor(file_path(m, "checkpoint"), m, out_dir, force=force,
                                               detector_checkpoint=file_path("faceboxes", "checkpoint"))]
            elif m == "faceboxes":
                ck = file_path("faceboxes", "checkpoint")
                results = [ex.export_detector(ck, out_dir, width=w, height=h, int8_friendly=f, force=force) for f in (False, True)]
            else:
                raise EdgefaceError(f"unknown model '{m}': use mb05, mb1, faceboxes or all")
        for r in results:
            tag = "cached" if r.cached else "exported"
            out.print(f"[green]ok[/] {r.name:32s} {r.onnx_path}  ({tag}; max |onnx - torch| = {r.max_abs_diff:.2e} on {r.n_samples} samples)")


@app.command()
def calibrate(
    sources: Optional[List[str]] = typer.Argument(None, help="Images, folders or videos with faces (default: the recipe's sample media)."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Output .npz (default: the cache's default set)."),
    count: Optional[int] = typer.Option(None, "--count", "-n", help="Regressor samples (default from the recipe: 300)."),
    detector_count: Optional[int] = typer.Option(None, "--detector-count", help="Detector frames (default from the recipe: 48)."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML (default: calibration/default.toml)."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Detector input WIDTHxHEIGHT the set is made for."),
):
    """Build an INT8 calibration set of real face crops and frames, made by the runtime's preprocessing."""
    from edgeface.tools.convert import calibrate as cal_mod
    from edgeface.tools.convert.conversion_inputs import float_detector, reference_detector_onnx

    w, h = parse_size(detector_size)
    rec = cal_mod.load_recipe(recipe)
    if sources:
        for s in sources:
            if not s.startswith("samples:") and not Path(s).expanduser().exists():
                raise EdgefaceError(f"calibration source {s} does not exist")
        rec.regressor_sources = list(sources)
        rec.detector_sources = list(sources)
        rec.name = "custom"
    ref_det = reference_detector_onnx((w, h), None, lambda m: None)
    with _status("finding faces and building the calibration set") as st:
        cal = cal_mod.build(rec, float_detector(ref_det), None, count, detector_count,
                            progress=lambda label: st.update(f"finding faces: {label}"))
    dest = out_file or cal_mod.default_path(None, (w, h))
    cal_mod.save(cal, dest)
    m = cal.meta
    out.print(f"[green]ok[/] {dest}: {m['regressor']['count']} face crops ({m['regressor']['faces_found']} faces in "
              f"{m['regressor']['frames']} frames), {m['detector']['count']} detector frames; digest {cal.digest[:16]}")


def _print_conversion(r) -> None:
    for v in r.variants:
        ver = v.manifest["verification"]
        size = v.manifest["size_bytes"] / 1e6
        checks = "; ".join(ver["checks"])
        out.print(f"[green]ok[/] {r.name}_{v.variant:13s} {size:5.2f} MB  {'(cached) ' if r.cached else ''}{checks}")
        out.print(f"     {v.path}")


@app.command()
def convert(
    model: str = typer.Option("all", "--model", "-m", help="mb05 | mb1 | faceboxes | all (mb05 + faceboxes)."),
    int8: bool = typer.Option(False, "--int8", help="Also full-INT8 models calibrated on real faces (+ float-I/O variant)."),
    fp16: bool = typer.Option(False, "--fp16", help="Also float16-weight models."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Convert this ONNX instead of exporting the checkpoint."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Calibration set from `edgeface calibrate`."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Detector input WIDTHxHEIGHT."),
    input_dtype: str = typer.Option("uint8", "--input-dtype", help="INT8 model input: uint8 (raw pixels) | int8 | float32."),
    output_dtype: str = typer.Option("float32", "--output-dtype", help="INT8 model output: float32 | int8 | uint8."),
    float_head: bool = typer.Option(True, "--float-head/--no-float-head", help="Regressor: keep the final FC layer in float (mixed precision; halves INT8 landmark error)."),
    still_detector: bool = typer.Option(True, "--still-detector/--no-still-detector", help="FaceBoxes: also convert the still-image detector (1088x736, upstream's scale for photos)."),
    ranges: Optional[str] = typer.Option(None, "--ranges", help="INT8 regressor activation ranges: minmax | percentile:Q (default: the recipe's, percentile:99.99)."),
    force: bool = typer.Option(False, "--force", help="Convert again even if cached."),
):
    """ONNX -> TFLite (float32 / float16 / INT8), verified against the ONNX original, with manifests."""
    from edgeface.tools.convert.tflite import ConvertOptions, convert as do_convert

    if onnx is not None and model == "all":
        raise EdgefaceError("--onnx converts one model: name it with --model mb05|mb1|faceboxes")
    opts = ConvertOptions(int8=int8, fp16=fp16, onnx=onnx, calibration=calibration, detector_size=parse_size(detector_size),
                          input_dtype=input_dtype, output_dtype=output_dtype, float_head=float_head, force=force,
                          still_detector=still_detector and onnx is None, regressor_ranges=ranges)
    with _status("converting") as st:
        results = do_convert([model], opts, log=lambda msg: (st.update(msg), console.print(f"[dim]{msg}[/]", soft_wrap=True)))
    for r in results:
        _print_conversion(r)


@app.command()
def verify(
    model: Path = typer.Argument(..., help="A converted .tflite (its manifest .json beside it)."),
):
    """Re-run the verification of a converted model against its ONNX original on held-out data."""
    from edgeface.tools.convert import verify as ver

    with _status("verifying on held-out data"):
        rep, checks = ver.verify_model(model)

    for k, v in rep.items():
        if isinstance(v, (int, float)):
            out.print(f"  {k:28s} {v:.6g}")
    for c in checks:
        out.print(("[green]" if c.ok else "[red]") + c.line() + "[/]")
    if not all(c.ok for c in checks):
        raise EdgefaceError(f"{model.name} fails verification", exit_code=3)


from edgeface.cli.bench import register as _register_bench  # noqa: E402  (edgeface bench, edgeface eval)
from edgeface.cli.run import register as _register_run  # noqa: E402  (edgeface run, edgeface doctor)
from edgeface.cli.fleet import register as _register_fleet  # noqa: E402  (collect, mqtt, pack, unpack, service)

_register_run(app)
_register_bench(app)
_register_fleet(app)


def main(argv: Optional[list] = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except EdgefaceError as e:
        console.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except OSError as e:  # a safety net: a file system error the command did not word (full disk...)
        msg = write_error(e.filename or "a file", e) if e.errno == errno.ENOSPC else (
            f"{e.filename or 'a file'}: {e.strerror or e} (check the path and its permissions)")
        console.print(f"[red]error:[/] {msg}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as e:  # usage errors: click exceptions (typer bundles its own click; match by shape)
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
