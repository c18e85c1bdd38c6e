"""The board runtime never imports torch, TensorFlow or ONNX: proven by running the whole board
path in a Python where importing them fails (a meta-path blocker), and `import edgeface` is light."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCKED = ("torch", "tensorflow", "onnx", "onnxruntime", "onnx2tf", "tf_keras")

BLOCKER = textwrap.dedent(f"""
    import sys
    BLOCKED = {BLOCKED!r}

    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: the board runtime must not import it")
            return None

    sys.meta_path.insert(0, _Blocker())
""")

BOARD_PATH = BLOCKER + textwrap.dedent("""
    import json
    import edgeface
    from edgeface.sources.images import read_image
    from edgeface.sources.spec import open_source
    from edgeface.hub.assets import sample_path

    out = {}
    image = read_image(sample_path("trump_hillary"))
    with edgeface.FaceAligner.create(precision="int8", target="x86_64", threads=1) as a:
        out["image_faces"] = len(a.detect(image).faces)
        out["runtime"] = a.describe()["runtime"]
    with edgeface.FaceAligner.create(precision="int8", target="x86_64", threads=1, running_mode="video") as a, \\
            open_source("samples:obama", max_frames=20) as src:
        out["video_faces"] = [len(a.detect_for_video(f.image, f.timestamp_ms).faces) for f in src]
    from edgeface.cli.main import main
    for argv in (["run", "--source", "samples:emma", "--precision", "int8", "--quiet", "--target", "x86_64"],
                 ["doctor", "--json"]):
        try:
            main(argv)
        except SystemExit as e:
            assert not e.code, (argv, e.code)
    out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print("RESULT " + json.dumps(out))
""")


def _run(code: str, env_home) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, EDGEFACE_HOME=str(env_home))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_board_path_runs_with_torch_tensorflow_onnx_blocked(converted_home):
    proc = _run(BOARD_PATH, converted_home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    out = json.loads(line[len("RESULT "):])
    assert out["image_faces"] == 2 and out["video_faces"] == [1] * 20
    assert out["runtime"].split()[0] in ("ai_edge_litert", "tflite_runtime")  # never the tf.lite fallback
    assert out["loaded"] == []
    assert '"target"' in proc.stdout  # doctor --json printed its report


def test_blocker_really_blocks(converted_home):
    proc = _run(BLOCKER + "import onnx\n", converted_home)
    assert proc.returncode != 0 and "onnx is blocked" in proc.stderr


def test_import_edgeface_is_light(tmp_path):
    code = textwrap.dedent("""
        import sys, time
        t0 = time.perf_counter()
        import edgeface
        dt = time.perf_counter() - t0
        heavy = [m for m in ("cv2", "numpy", "ai_edge_litert", "tflite_runtime", "tensorflow", "torch", "onnxruntime")
                 if m in sys.modules]
        opts = edgeface.FaceAlignerOptions(base_options=edgeface.BaseOptions(precision="int8"))  # options are light too
        heavy_after_options = [m for m in ("cv2", "ai_edge_litert", "tflite_runtime") if m in sys.modules]
        print(dt, heavy, heavy_after_options)
    """)
    best = None
    for _ in range(3):  # the best of 3 cold starts (the file cache warms up)
        proc = _run(code, tmp_path)
        assert proc.returncode == 0, proc.stderr
        dt, rest = proc.stdout.split(" ", 1)
        assert rest.strip() == "[] []", rest
        best = min(best or 1e9, float(dt))
    assert best < 0.3
