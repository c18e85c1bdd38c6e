"""The per-side checks of the ARM harness steps fail when they should (fast, no emulation).

steps/doctor_check.py judges `edgeface doctor --json` (the report is made here by
edgeface.app.doctor.diagnose from a Raspberry Pi /proc/cpuinfo like the one run.sh mounts);
steps/run_check.py judges the JSONL files of step "run" (face and frame counts).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np

from edgeface.app.doctor import ModelFile, diagnose
from edgeface.results import Face, FrameResult, Pose

STEPS = Path(__file__).resolve().parent / "steps"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"arm_{name}", STEPS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


doctor_check = _load("doctor_check")
run_check = _load("run_check")


def _pi_cpuinfo(cpu: str, cores: int = 2) -> str:
    """What tests/arm/run.sh bind-mounts over /proc/cpuinfo (write_cpuinfo)."""
    if cpu == "a72":
        block = ("Features\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
                 "CPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n")
        tail = "Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    else:
        block = ("Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
                 "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n")
        tail = "Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    return "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\n{block}\n" for i in range(cores)) + tail


def _report(cpu: str, machine: str = "aarch64", xnnpack=True) -> dict:
    r = diagnose(cpuinfo_text=_pi_cpuinfo(cpu), board_model="", machine=machine, meminfo_text="",
                 check_runtime=False, dev_dir=Path("/nonexistent"))
    r.runtime, r.xnnpack, r.xnnpack_note = "ai_edge_litert 2.3.0", xnnpack, "checked with mb05_float32.tflite"
    r.models = [ModelFile(n, v, Path(f"/c/{n}_{v}.tflite"), 1, True)
                for n in ("mb05", "faceboxes_640x480") for v in ("float32", "int8")]
    return r.to_dict()


def _failed(report: dict, side: str, cpu: str) -> list:
    return [d for d, ok, _ in doctor_check.checks(report, side, cpu) if not ok]


def test_doctor_check_accepts_the_emulated_pi4_and_pi5():
    assert _failed(_report("a72"), "guest", "a72") == []
    assert _failed(_report("a76"), "guest", "a76") == []


def test_doctor_check_rejects_wrong_cpu_arch_runtime_or_missing_xnnpack():
    assert "CPU is Cortex-A76" in _failed(_report("a72"), "guest", "a76")  # a Pi 4 where a Pi 5 was asked
    assert "dotprod absent" in _failed(_report("a76"), "guest", "a72")
    assert "machine is aarch64" in _failed(_report("a72", machine="x86_64"), "guest", "a72")
    assert "XNNPACK delegate applied" in _failed(_report("a72", xnnpack=None), "guest", "a72")
    assert "XNNPACK delegate applied" in _failed(_report("a72", xnnpack=False), "host", "a72")
    bad = _report("a72")
    bad["runtime"], bad["runtime_error"] = None, "No module named 'ai_edge_litert'"
    assert "TFLite runtime is ai_edge_litert" in _failed(bad, "guest", "a72")
    no_models = dict(_report("a72"), models=[])
    assert "cache lists mb05_int8.tflite" in _failed(no_models, "host", "a72")
    x86 = _report("a72", machine="x86_64")  # the host side does not check the CPU
    assert _failed(x86, "host", "a72") == []


def test_doctor_check_main_writes_meta_and_sets_exit_status(tmp_path, capsys):
    rep = tmp_path / "doctor.json"
    rep.write_text(json.dumps(_report("a76")))
    meta = tmp_path / "doctor.meta.json"
    assert doctor_check.main(["--side", "guest", "--cpu", "a76", "--report", str(rep), "--meta", str(meta)]) == 0
    m = json.loads(meta.read_text())
    assert m["cpu"] == "Cortex-A76" and m["features"] == "NEON dotprod fp16" and m["xnnpack"] is True
    assert doctor_check.main(["--side", "guest", "--cpu", "a72", "--report", str(rep)]) == 1
    assert doctor_check.main(["--side", "guest", "--cpu", "a72", "--report", str(tmp_path / "none.json")]) == 1
    assert "FAIL CPU is Cortex-A72" in capsys.readouterr().out


def _face(fid: int) -> Face:
    return Face(id=fid, bbox=np.array([10.0, 10, 50, 60]), score=0.99, landmarks=np.ones((68, 3)),
                pose=Pose(1.0, 2.0, 3.0), params=np.zeros(62), roi=np.array([0.0, 0, 60, 60]), camera=np.zeros((3, 4)))


def _jsonl(path: Path, counts: dict, frames: int = 1) -> Path:
    lines, i = [], 0
    for name, n in counts.items():
        for _ in range(frames):
            fr = FrameResult(frame=i, source=f"/x/{name}", faces=[_face(k) for k in range(n)], time_ms={"total": 4.0})
            lines.append(json.dumps(fr.to_dict()))
            i += 1
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_check_face_and_frame_counts(tmp_path, capsys):
    good = _jsonl(tmp_path / "photos.int8.jsonl", {"emma.jpg": 3, "JianzhuGuo.jpg": 1, "trump_hillary.jpg": 2})
    video = _jsonl(tmp_path / "obama.int8.jsonl", {"obama.mp4": 1}, frames=12)
    assert run_check.main(["--expect", "emma.jpg=3", "--expect", "JianzhuGuo.jpg=1", "--expect", "trump_hillary.jpg=2",
                           str(good), "--expect", "obama.mp4=1", "--frames", "12", str(video)]) == 0
    meta = json.loads((tmp_path / "photos.int8.meta.json").read_text())
    assert meta["faces"] == 6 and meta["frames"] == 3
    # one face fewer, a source missing, the wrong frame count, a missing file: each fails
    few = _jsonl(tmp_path / "few.jsonl", {"emma.jpg": 2, "JianzhuGuo.jpg": 1})
    assert run_check.main(["--expect", "emma.jpg=3", str(few)]) == 1
    assert run_check.main(["--expect", "trump_hillary.jpg=2", str(few)]) == 1
    assert run_check.main(["--frames", "8", str(video)]) == 1
    assert run_check.main(["--expect", "emma.jpg=3", str(tmp_path / "absent.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "emma.jpg: faces per frame [2], expected 3" in err and "no frame of trump_hillary.jpg" in err
    assert "12 frame(s), expected 8" in err and "missing" in err


def test_run_check_rejects_non_finite_landmarks(tmp_path):
    p = _jsonl(tmp_path / "a.jsonl", {"emma.jpg": 1})
    rec = json.loads(p.read_text())
    rec["faces"][0]["landmarks"][5][0] = None
    p.write_text(json.dumps(rec) + "\n")
    assert run_check.check_file(p, {"emma.jpg": 1}, None) != []


models_check = _load("models_check")


def test_models_check_requires_bit_identical_outputs_across_runtime_versions(tmp_path):
    ref = tmp_path / "workstation.npz"
    np.savez(ref, **{"mb05_int8.tflite:out": np.array([[0.25, 0.5]], np.float32), "x:y": np.zeros(3, np.float32)})
    ref.with_name("workstation.meta.json").write_text(json.dumps({"ai_edge_litert": "2.1.0"}))
    same = {"mb05_int8.tflite:out": np.array([[0.25, 0.5]], np.float32), "x:y": np.zeros(3, np.float32)}
    assert models_check.same_as(same, ref) == ("2.1.0", [])
    off = dict(same, **{"mb05_int8.tflite:out": np.array([[0.25, 0.5 + 2 ** -20]], np.float32)})  # one ulp-ish
    other, bad = models_check.same_as(off, ref)
    assert other == "2.1.0" and len(bad) == 1 and bad[0].startswith("mb05_int8.tflite:out: ai-edge-litert ")
    assert "differs from 2.1.0" in bad[0]
    extra = dict(same, **{"new:out": np.zeros(1, np.float32)})
    assert models_check.same_as(extra, ref)[1] == ["new:out: missing from workstation.npz"]
    reshaped = dict(same, **{"x:y": np.zeros((1, 3), np.float32)})
    assert "(1, 3) float32" in models_check.same_as(reshaped, ref)[1][0]


aligner_check = _load("aligner_check")


def test_aligner_check_passes_the_real_api_and_catches_a_record_that_differs(converted_home, tmp_path, monkeypatch, capsys):
    """The aligner step on this host: FaceAligner's records equal `edgeface run`'s; a FaceAligner
    whose record moves one landmark by 0.5 px, or drops a frame's face, fails with one line each."""
    import edgeface

    monkeypatch.setenv("EDGEFACE_HOME", str(converted_home))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # this venv's edgeface CLI
    ok = tmp_path / "ok"
    ok.mkdir()
    assert aligner_check.main(["--target", "rpi4", "--frames", "4", "--out", str(ok)]) == 0
    recs = [json.loads(x) for x in (ok / "aligner.int8.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and all(len(r["faces"]) == 1 for r in recs)
    assert "identical to `edgeface run`" in capsys.readouterr().out

    real = edgeface.FaceAligner

    class Drifting:  # the real aligner, with frame 2's first landmark moved and frame 3's face dropped
        def __init__(self, fa):
            self.fa, self.n = fa, 0

        @classmethod
        def create(cls, **kw):
            return cls(real.create(**kw))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fa.close()

        def detect_for_video(self, image, ts, source=""):
            res = self.fa.detect_for_video(image, ts, source=source)
            self.n += 1
            if self.n == 3:
                res.faces[0].landmarks[0, 0] += 0.5
            if self.n == 4:
                res.faces.clear()
            return res

    monkeypatch.setattr(edgeface, "FaceAligner", Drifting, raising=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    assert aligner_check.main(["--target", "rpi4", "--frames", "4", "--out", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL frame 2: FaceAligner record differs from edgeface run's in faces" in out
    assert "FAIL frame 3: 0 faces, expected 1" in out
