"""`edgeface run`: a thin command over `FaceAligner` + `app.run_loop` (input from `sources`, outputs to `sinks`,
the terminal lines from `cli.run_status`, `--mqtt` / `--bundle` from `cli.run_fleet`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from edgeface.aligner import FaceAligner
from edgeface.option_resolution import resolve_options
from edgeface.app.live_feed import LiveFeed
from edgeface.app.run_loop import run
from edgeface.cli import verbosity
from edgeface.cli.consoles import console, out, say
from edgeface.cli.run_fleet import check_mqtt_options, run_bundle, run_mqtt_sink
from edgeface.cli.run_status import LiveStatus, summary_lines
from edgeface.errors import EdgefaceError
from edgeface.options import FaceAlignerOptions, RunningMode
from edgeface.runtime import still as still_mod
from edgeface.sinks.group import check_run_outputs, make_sink
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sinks.mesh_export import MeshExportSink
from edgeface.sinks.window import ShowSink
from edgeface.sinks.mjpeg import MjpegServer
from edgeface.sources.capture import LatestFrameCapture
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS
from edgeface.sources.spec import SOURCE_HELP, input_path, open_source
from edgeface.viz.dense_overlay import RENDER_MODES, DenseOverlay, model_topology

#: source kinds read through a capture thread with a latest-frame policy
LIVE_KINDS = ("camera", "picamera2", "sim_camera")


def _camera_spec(index: Optional[str]) -> str:
    idx = (index or "0").strip()
    if idx.isdigit():
        return f"camera:{int(idx)}"
    if idx.startswith("/dev/video"):
        return idx
    raise EdgefaceError(f"bad camera '{idx}': give a number (--camera 1) or a device (--camera /dev/video2)")


def resolve_input(input_arg: Optional[str], source: Optional[str], camera: bool) -> str:
    """The source spec from `run [INPUT] --source PATH --camera`."""
    if camera:
        if source:
            raise EdgefaceError("give --source PATH or --camera [INDEX], not both")
        return _camera_spec(input_arg)
    if input_arg and source:
        raise EdgefaceError(f"two inputs given ({input_arg} and --source {source}): give one")
    spec = source or input_arg
    if not spec:
        raise EdgefaceError("no input: give --source PATH (image, folder or video), --camera [INDEX], or "
                             "--source sim:samples:obama@30 (a simulated camera)")
    return spec


def stream_notice(server) -> str:
    """The one line that tells where the stream is and who can see it (the token URL, printed once)."""
    if server.access.required:
        return f"streaming at {server.url}  (private: requests without this token get 401; keep the URL secret)"
    if server.access.insecure:
        return (f"warning: --serve-insecure: {server.url} is open WITHOUT a token to every host "
                "that can reach this machine")
    return f"streaming at {server.url}  (this machine only)"


def make_sinks(save: Optional[str], json_path: Optional[Path], show: bool, fps: Optional[float]) -> list:
    sinks: list = []
    try:
        if json_path is not None:
            sinks.append(JsonlSink(json_path))
        if save:
            sinks.append(make_sink(save, fps=fps))
        if show:
            sinks.append(ShowSink())
    except BaseException:
        for s in sinks:
            s.abort()
        raise
    return sinks


def run_command(
    input_arg: Optional[str] = typer.Argument(None, help="Input path (as --source), or the camera index after --camera."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=SOURCE_HELP),
    camera: bool = typer.Option(False, "--camera", help="Read a live camera: --camera (camera 0), --camera 1, --camera /dev/video2."),
    target: str = typer.Option("auto", "--target", "-t", help="Board profile: auto, rpi3, rpi4, rpi5, rpi-zero2w, generic-aarch64, x86_64."),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="fp32 | fp16 | int8 | int8_floatio (default: the target's)."),
    backend: str = typer.Option("tflite", "--backend", help="tflite (converted models) or onnx (float reference)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Inference threads (default: the target's)."),
    max_faces: Optional[int] = typer.Option(None, "--max-faces", min=1, help="At most this many faces per frame."),
    detect_interval: Optional[int] = typer.Option(None, "--detect-interval", min=0, help="Re-detect every N frames while tracking (0: only when a face is lost)."),
    no_track: bool = typer.Option(False, "--no-track", help="Detect on every frame instead of tracking landmarks."),
    scan: Optional[str] = typer.Option(None, "--scan", help="Periodic scans for new faces: async (worker thread, tracked frames never wait) | inline (default: the target's)."),
    max_misses: Optional[int] = typer.Option(None, "--max-misses", min=0, help="Scans a tracked face may go undetected while its landmarks hold (default: the target's)."),
    motion: str = typer.Option("velocity", "--motion", metavar="MODEL", help="Tracking: velocity (predict each face's next crop from its motion; a face found again keeps its id) or none (upstream's crop from the previous landmarks)."),
    roi_deadband: Optional[float] = typer.Option(None, "--roi-deadband", min=0.0, max=0.49, help="Tracking: keep a face's crop while it would move less than this fraction of its side (default 0.02; 0: a new crop every frame, as upstream)."),
    bitexact: bool = typer.Option(False, "--bitexact", help="Bit-exact pixels on every CPU (cross-CPU parity checks): INTER_LINEAR_EXACT resizes and swscale's exact YUV->BGR (slower)."),
    no_smooth: bool = typer.Option(False, "--no-smooth", help="No temporal smoothing (raw per-frame output)."),
    save: Optional[str] = typer.Option(None, "--save", "-o", help="Annotated output: out.mp4 | out.avi | out.jpg | DIR/."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write one JSON line per frame (the JSONL contract) to this file."),
    serve: Optional[str] = typer.Option(None, "--serve", help="Stream annotated frames to a browser at [HOST:]PORT (default host 127.0.0.1)."),
    serve_token: Optional[str] = typer.Option(None, "--serve-token", help="Token the stream requires (default: $EDGEFACE_SERVE_TOKEN when set, else generated for a non-loopback --serve host)."),
    serve_insecure: bool = typer.Option(False, "--serve-insecure", help="Serve a non-loopback host WITHOUT a token: anyone who can reach this machine sees the stream."),
    serve_max_clients: int = typer.Option(8, "--serve-max-clients", min=1, help="At most this many viewers at once; the next gets 503."),
    show: bool = typer.Option(False, "--show", help="Show a window (needs a display; q or Esc stops)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    camera_backend: str = typer.Option("auto", "--camera-backend", help="Camera reader: auto (picamera2 when it imports and libcamera lists the camera, else OpenCV; says which and why), picamera2 (libcamera camera modules) or opencv (V4L2 / USB)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Largest image decoded, in pixels (its header is read first; a larger image in a folder is skipped)."),
    camera_timeout: float = typer.Option(5.0, "--camera-timeout", min=0.1, help="Seconds without a frame after which the camera counts as lost."),
    reconnect: int = typer.Option(0, "--reconnect", min=0, help="When the camera is lost, open it again up to N times in a row (0: stop, keeping the output)."),
    detector_size: Optional[str] = typer.Option(None, "--detector-size", help="FaceBoxes input WxH, e.g. 640x480 (default: the target's)."),
    camera_size: Optional[str] = typer.Option(None, "--camera-size", help="Camera resolution WxH (default: the target's)."),
    regressor: str = typer.Option("mb05", "--regressor", help="mb05 or mb1."),
    dense: bool = typer.Option(False, "--dense", help="Dense 38,365-vertex mesh per face (exact with the BFM, else the labelled dense_approx)."),
    render_mode: Optional[str] = typer.Option(None, "--render", help="Dense overlay: mesh | depth | pncc | points (implies --dense; default mesh)."),
    export_mesh: Optional[Path] = typer.Option(None, "--export-mesh", help="Write each face's mesh per frame into this folder (implies --dense)."),
    mesh_format: str = typer.Option("ply", "--mesh-format", help="ply | obj for --export-mesh."),
    dense_vertices: Optional[int] = typer.Option(None, "--dense-vertices", min=0, help="Decimate the dense mesh to about N vertices (0: full; default: the target's)."),
    still_detector: Optional[str] = typer.Option(None, "--still-detector", help="Photos: native (upstream's scale, 1088x736 detector; default) | letterbox (as video)."),
    still_recrops: Optional[int] = typer.Option(None, "--still-recrops", min=0, max=5, help="Photos: landmark re-crops per face (default: 1 float, 2 INT8)."),
    still_flip: Optional[bool] = typer.Option(None, "--still-flip/--no-still-flip", help="Photos: horizontal-flip test-time augmentation (default on)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live status line."),
    verbose: bool = typer.Option(False, "--verbose", help=verbosity.HELP),
    # fleet (issue 14): results over MQTT through an on-disk queue; models from a verified bundle
    mqtt: Optional[str] = typer.Option(None, "--mqtt", help="Publish results to mqtt://[user:pass@]host[:port]/prefix (mqtts:// for TLS); queued on disk while the broker is away."),
    mqtt_ca: Optional[str] = typer.Option(None, "--mqtt-ca", help="CA certificate (PEM) of the broker, for mqtts://."),
    mqtt_qos: int = typer.Option(1, "--mqtt-qos", min=0, max=2, help="MQTT QoS of the results."),
    mqtt_every_frame: bool = typer.Option(False, "--mqtt-every-frame", help="Publish frames without faces too."),
    mqtt_queue: Optional[Path] = typer.Option(None, "--mqtt-queue", help="Queue folder (default: <cache>/mqtt-queue/<broker>_<prefix>_<board>)."),
    mqtt_queue_size: str = typer.Option("32M", "--mqtt-queue-size", help="Queue size on disk; when full the oldest results are dropped (and counted)."),
    board_id: Optional[str] = typer.Option(None, "--board-id", help="This board's id in the MQTT topics (default: the host name)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Take the models from this bundle (`edgeface pack`), verified before use."),
):
    """Run face detection + 3D landmarks + head pose on an image, a folder, a video or a camera."""
    if verbose:
        verbosity.verbose_logging()
    spec = resolve_input(input_arg, source, camera)
    check_mqtt_options(mqtt, mqtt_ca, mqtt_queue_size)  # a bad URL or size fails before any model is loaded
    # every output checked before any work: not the input, not two on one path, no special file, writable
    check_run_outputs([p for p in [input_path(spec), bundle] if p is not None], save, json_path, export_mesh)
    server = None
    if serve:  # a bad value or token fails before anything is opened
        # $EDGEFACE_SERVE_TOKEN (the service's environment file) counts only with --serve, never over the flags
        token = serve_token if serve_token is not None else (
            None if serve_insecure else os.environ.get("EDGEFACE_SERVE_TOKEN") or None)
        server = MjpegServer.from_spec(serve, token=token, insecure=serve_insecure, max_clients=serve_max_clients)
    elif serve_token or serve_insecure:
        raise EdgefaceError("--serve-token and --serve-insecure need --serve [HOST:]PORT")
    dense = dense or render_mode is not None or export_mesh is not None
    if dense and not (save or show or serve or export_mesh):  # the JSONL has only the mesh's kind and size
        say("no output uses the dense mesh (it is drawn by --save / --show / --serve "
            "and written by --export-mesh): not computing it", "note:", "yellow")
        dense = False
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise EdgefaceError(f"--render {render_mode} is unknown: use one of {', '.join(RENDER_MODES)}")
    bundle_root, precision, detector_precision, detector_size = run_bundle(bundle, precision, detector_size, target)
    options = FaceAlignerOptions.from_keywords(
        regressor=regressor, precision=precision, target=target, threads=threads, detector_size=detector_size,
        max_faces=max_faces, detect_interval=detect_interval, tracking=not no_track, smoothing=not no_smooth,
        scan=scan, max_misses=max_misses, dense=dense, dense_vertices=dense_vertices, backend=backend, bitexact=bitexact,
        motion=motion, **({} if roi_deadband is None else {"roi_deadband": roi_deadband}),
        cache_root=bundle_root, detector_precision=detector_precision, still=still_mod.from_flags(still_detector, still_recrops, still_flip))
    _, choice = resolve_options(options)
    prof = choice.profile
    cam_size = camera_size or f"{prof.camera_size[0]}x{prof.camera_size[1]}"
    # open the input first: a missing or corrupt file fails before any model is loaded
    with open_source(spec, max_frames=max_frames, camera_size=cam_size, camera_fps=prof.camera_fps,
                     camera_timeout_s=camera_timeout, reconnect=reconnect, bitexact=bitexact,
                     camera_backend=camera_backend, max_pixels=max_pixels) as src:
        if getattr(src, "backend_note", ""):  # which camera reader, and why (auto)
            say(src.backend_note)
        if hasattr(src, "on_skip"):  # a folder's unreadable image: one warning line, the run goes on
            src.on_skip = lambda msg: say(msg, "warning:", "yellow")
        if src.kind in LIVE_KINDS:  # live input: capture thread, latest frame only, LIVE_STREAM (app.live_feed)
            src = LatestFrameCapture(src)
            options = dataclasses.replace(options, running_mode=RunningMode.LIVE_STREAM, result_callback=LiveFeed())
        else:
            options = dataclasses.replace(options, running_mode=RunningMode.IMAGE if src.is_still else RunningMode.VIDEO)
        render_fn, extra_sinks, dense_label = None, [], ""
        with FaceAligner.create_from_options(options) as aligner:
            if aligner.dense_model is not None:
                tri, ncc = model_topology(aligner.dense_model)
                render_fn = DenseOverlay(tri, ncc, render_mode or "mesh")
                if export_mesh is not None:
                    extra_sinks.append(MeshExportSink(export_mesh, tri, mesh_format))
                kind = "dense" if aligner.dense_model.kind == "bfm" else aligner.dense_model.kind
                dense_label = f" | {kind} mesh, {len(tri)} triangles, render {render_mode or 'mesh'}"
                if kind == "dense_approx":
                    say("no BFM in the cache (`edgeface fetch bfm`, academic use only): "
                        "the dense mesh is dense_approx, the mean face warped to the 68 landmarks", "note:", "yellow")
            po = aligner.pipeline.options
            d = aligner.describe()
            if d.get("note"):
                say(d["note"], "note:", "yellow")
            still_line = aligner.pipeline.still.describe() if src.is_still and aligner.pipeline.still else "still images"
            mode = still_line if src.is_still else (
                f"tracking, {po.scan} scan every {po.detect_interval or 'lost'} frames" if po.tracking else "detector on every frame")
            say(
                f"{src.name} | target {prof.name} ({choice.reason}) | {d['backend']} {d['precision']} "
                f"{d.get('runtime', '')}, threads regressor {d['regressor_threads']} / detector {d['detector_threads']}"
                + (f", regressor workers {d['regressor_workers']}" if int(d.get("regressor_workers") or 1) > 1 else "")
                + ("" if d.get("xnnpack") is None else f", XNNPACK {'on' if d['xnnpack'] else 'off'}")
                + f" | faceboxes {d['detector_size'][0]}x{d['detector_size'][1]}, {po.regressor} | {mode}{dense_label}"
                + (f" | models from {d['models_from']}" if d.get("models_from") else ""))
            mqtt_sink = run_mqtt_sink(mqtt, mqtt_ca, mqtt_qos, mqtt_every_frame, mqtt_queue, mqtt_queue_size, board_id, d)
            try:
                sinks = make_sinks(save, json_path, show, src.fps) + extra_sinks + ([mqtt_sink] if mqtt_sink else [])
            except BaseException:
                if mqtt_sink is not None:
                    mqtt_sink.abort()
                raise
            for sk in sinks:  # a folder output whose input names collide: one note per renamed file
                if hasattr(sk, "on_note"):
                    sk.on_note = lambda msg: console.print(Text.assemble(("note:", "yellow"), " " + msg),
                                                          highlight=False, soft_wrap=True)
            try:
                if server is not None:
                    server.start()
                    say(stream_notice(server))
                with LiveStatus(console, enabled=not quiet) as status:
                    summary = run(src, sinks, aligner, progress=status, server=server, render_fn=render_fn)
            finally:
                if server is not None:
                    server.close()
    for line in summary_lines(summary) + (mqtt_sink.summary_lines() if mqtt_sink is not None else []):
        say(line, to=out)
    if summary.frames == 0 and summary.skipped:
        raise EdgefaceError(f"none of the {summary.skipped} images in {src.name} could be read: "
                            "check the files (re-export them as JPEG or PNG)")
    written = [str(json_path)] if json_path is not None else []
    if save:
        written.append(save)
    if export_mesh is not None:
        written.append(f"{extra_sinks[0].written} meshes in {export_mesh}")
    if written and summary.frames:
        say("wrote " + ", ".join(written), to=out)
