"""Board profiles (targets/*.toml), `--target auto` from /proc texts, and `edgeface doctor`."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeface.app import doctor
from edgeface.boards import profiles
from edgeface.errors import EdgefaceError
from edgeface.boards.machine import parse_cpuinfo
from edgeface.boards.profiles import detect_target, get_target, load_targets, parse_profile

REPO = Path(__file__).resolve().parents[1]


def _cores(n: int, block: str) -> str:
    return "\n\n".join(f"processor\t: {i}\n{block}" for i in range(n))


PI4_CPUINFO = _cores(4, "BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
                        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3") + \
    "\n\nRevision\t: c03114\nSerial\t\t: 100000001234abcd\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
PI5_CPUINFO = _cores(4, "BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
                        "asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
                        "CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1") + \
    "\n\nRevision\t: c04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
PI3_32BIT_CPUINFO = _cores(4, "model name\t: ARMv7 Processor rev 4 (v7l)\nBogoMIPS\t: 38.40\nFeatures\t: half thumb "
                              "fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n"
                              "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xd03\n"
                              "CPU revision\t: 4") + \
    "\n\nHardware\t: BCM2835\nRevision\t: a02082\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n"
RK3588_CPUINFO = _cores(4, "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
                           "lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd05")
X86_CPUINFO = _cores(2, "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 167\nmodel name\t: Intel(R) Core(TM) "
                        "i7-11700 @ 2.50GHz\nflags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 avx512f")


# ----------------------------------------------------------------------------- profiles

def test_profiles_load_and_are_sane():
    t = load_targets()
    assert set(t) == {"rpi3", "rpi4", "rpi5", "rpi-zero2w", "generic-aarch64", "x86_64"}
    for p in t.values():
        assert p.threads >= 1 and p.detect_interval >= 1
        assert p.detector_size[0] % 32 == 0 and p.detector_size[1] % 32 == 0
        assert p.precision in ("fp32", "int8")
        assert p.smoothing.enabled and p.dense_max_vertices >= 0
        assert p.camera_size[0] >= p.camera_size[1] > 0
    # the slower boards re-detect less often and use a smaller detector
    assert t["rpi-zero2w"].detect_interval >= t["rpi3"].detect_interval >= t["rpi4"].detect_interval
    assert t["rpi3"].detector_size[0] * t["rpi3"].detector_size[1] < t["rpi5"].detector_size[0] * t["rpi5"].detector_size[1]
    assert {p.precision for n, p in t.items() if n != "x86_64"} == {"int8"}
    # package data mirrors the repository folder
    assert {f.stem for f in (REPO / "targets").glob("*.toml")} == set(t)


def test_unknown_target_lists_choices():
    with pytest.raises(EdgefaceError, match="rpi4"):
        get_target("rpi9")


def test_bad_profile_rejected():
    base = {"name": "x", "runtime": {"threads": 2, "precision": "int8"}, "detector": {"size": [320, 240], "interval": 5},
            "camera": {"size": [640, 480]}}
    with pytest.raises(EdgefaceError, match="multiples of 32"):
        parse_profile(base)
    with pytest.raises(EdgefaceError, match="lacks 'camera'"):
        parse_profile({k: v for k, v in base.items() if k != "camera"} | {"detector": {"size": [320, 256], "interval": 5}})
    with pytest.raises(EdgefaceError, match="precision"):
        parse_profile(base | {"detector": {"size": [320, 256], "interval": 5}, "runtime": {"threads": 2, "precision": "int4"}})


# ----------------------------------------------------------------------------- auto detection

@pytest.mark.parametrize("model,expected", [
    ("Raspberry Pi 4 Model B Rev 1.4\x00", "rpi4"),
    ("Raspberry Pi 400 Rev 1.0", "rpi4"),
    ("Raspberry Pi Compute Module 4 Rev 1.0", "rpi4"),
    ("Raspberry Pi 5 Model B Rev 1.0", "rpi5"),
    ("Raspberry Pi 500 Rev 1.0", "rpi5"),
    ("Raspberry Pi Compute Module 5 Rev 1.0", "rpi5"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpi3"),
    ("Raspberry Pi 3 Model A Plus Rev 1.0", "rpi3"),
    ("Raspberry Pi Compute Module 3 Plus Rev 1.0", "rpi3"),
    ("Raspberry Pi Zero 2 W Rev 1.0", "rpi-zero2w"),
])
def test_board_models(model, expected):
    choice = detect_target(model, "", "aarch64")
    assert choice.profile.name == expected
    assert model.strip("\x00") in choice.reason


def test_model_from_cpuinfo_when_no_device_tree():
    assert detect_target(None, PI4_CPUINFO, None).profile.name == "rpi4"
    assert detect_target("", PI3_32BIT_CPUINFO, "armv7l").profile.name == "rpi3"


def test_fallbacks_by_cpu():
    c = detect_target("Radxa ROCK 5B", RK3588_CPUINFO, "aarch64")
    assert c.profile.name == "generic-aarch64" and "Radxa ROCK 5B" in c.reason
    assert detect_target(None, None, "aarch64").profile.name == "generic-aarch64"
    assert detect_target(None, X86_CPUINFO, "x86_64").profile.name == "x86_64"
    assert detect_target(None, "", "AMD64").profile.name == "x86_64"
    c = detect_target(None, "", "riscv64")
    assert c.profile.name == "x86_64" and "--target" in c.reason


def test_resolve_named_and_auto():
    assert profiles.resolve_target("rpi5").profile.name == "rpi5"
    assert profiles.resolve_target("auto").profile.name in load_targets()


# ----------------------------------------------------------------------------- cpuinfo / doctor

def test_parse_cpuinfo():
    pi4 = parse_cpuinfo(PI4_CPUINFO)
    assert (pi4.arch, pi4.model_name, pi4.cores, pi4.board_model) == ("arm64", "Cortex-A72", 4, "Raspberry Pi 4 Model B Rev 1.4")
    assert doctor.cpu_features(pi4) == {"NEON": True, "dotprod": False, "fp16": False, "i8mm": False}
    pi5 = parse_cpuinfo(PI5_CPUINFO)
    assert pi5.model_name == "Cortex-A76" and doctor.cpu_features(pi5)["dotprod"] and doctor.cpu_features(pi5)["fp16"]
    pi3 = parse_cpuinfo(PI3_32BIT_CPUINFO)
    assert (pi3.arch, pi3.model_name, pi3.hardware) == ("arm", "Cortex-A53", "BCM2835")
    assert doctor.cpu_features(pi3)["NEON"] and not doctor.cpu_features(pi3)["dotprod"]
    x86 = parse_cpuinfo(X86_CPUINFO)
    assert x86.arch == "x86" and x86.model_name.startswith("Intel") and x86.cores == 2
    assert x86.board_model == ""  # x86's lowercase "model: 167" is not a board
    f = doctor.cpu_features(x86)
    assert f["AVX2"] and f["FMA"] and f["AVX-512"] and not f["VNNI"]


def test_doctor_report_from_texts(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for n in ("video10", "video0", "video2", "null"):
        (dev / n).touch()
    r = doctor.diagnose(root=tmp_path / "home", board_model="Raspberry Pi 4 Model B Rev 1.4", cpuinfo_text=PI4_CPUINFO,
                        meminfo_text="MemTotal:        3884096 kB\nMemFree: 1 kB", machine="aarch64", dev_dir=dev,
                        read_system=False)
    assert r.board == "Raspberry Pi 4 Model B Rev 1.4" and r.target == "rpi4"
    assert r.cpu == "Cortex-A72" and r.cores == 4 and r.features["NEON"] and not r.features["dotprod"]
    assert r.memory_mb == 3793
    assert r.video_devices == [str(dev / "video0"), str(dev / "video2"), str(dev / "video10")]
    assert r.models == [] and r.xnnpack is None
    assert r.runtime is not None  # this environment has ai-edge-litert
    assert any("mb05_int8.tflite" in a and "--int8" in a for a in r.advice)
    assert any("faceboxes_640x480_float32.tflite" in a for a in r.advice)  # rpi4: the detector in fp32
    d = r.to_dict()
    assert d["target"] == "rpi4" and d["features"]["NEON"] is True

    from rich.console import Console

    con = Console(record=True, width=120)
    con.print(doctor.render(r))
    text = con.export_text()
    assert "Cortex-A72" in text and "rpi4" in text and "video0" in text


def test_doctor_xnnpack_with_a_real_model(tmp_path):
    """XNNPACK is checked by loading a converted model: build a tiny float TFLite one."""
    tf = pytest.importorskip("tensorflow")
    from edgeface.hub import store

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32)])
    def net(x):
        return tf.nn.relu(tf.nn.conv2d(x, tf.ones([3, 3, 3, 4]), 1, "SAME"))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], net)
    p = store.model_path("mb05", "float32", tmp_path)
    p.parent.mkdir(parents=True)
    p.write_bytes(conv.convert())
    models = doctor.cached_models(tmp_path)
    assert [(m.name, m.variant, m.manifest) for m in models] == [("mb05", "float32", False)]
    applied, note = doctor.check_xnnpack(models)  # no manifest: not verified, so never loaded
    assert applied is None and "no manifest" in note
    import hashlib, json  # noqa: E401
    tensor = {"name": "x", "tflite_index": 0, "shape": [1, 8, 8, 3], "dtype": "float32"}
    p.with_suffix(".json").write_text(json.dumps({
        "format": "edgeface-manifest/1", "file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        "size_bytes": p.stat().st_size, "input": tensor, "outputs": [dict(tensor, name="y", tflite_index=1)]}))
    applied, note = doctor.check_xnnpack(doctor.cached_models(tmp_path))
    assert applied is True and "mb05_float32.tflite" in note
    (p.parent / "mb05_int8.tflite").write_bytes(b"not a model")
    p.unlink()
    applied, note = doctor.check_xnnpack(doctor.cached_models(tmp_path))
    assert applied is None and "did not load" in note


def test_doctor_reports_models_verified_with_another_runtime(tmp_path):
    """A manifest records the runtime the model was converted and verified with; doctor says when
    the installed one differs (boards resolve a newer ai-edge-litert than the pinned [convert] one)."""
    import json

    from edgeface.hub import store

    for name, variant, rt in (("mb05", "int8", "1.9.9"), ("mb05", "float32", None)):
        p = store.model_path(name, variant, tmp_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not a model")
        versions = {"onnx2tf": "1.29.24", "tensorflow": "2.19.0"} | ({"ai-edge-litert": rt} if rt else {})
        p.with_suffix(".json").write_text(json.dumps({"converter": {"versions": versions}}))
    models = doctor.cached_models(tmp_path)
    by = {m.variant: m for m in models}
    assert by["int8"].verified_with == "ai-edge-litert 1.9.9"
    assert by["float32"].verified_with == "tensorflow 2.19.0"  # no interpreter package named: the converter's
    assert [m.variant for m in doctor.runtime_mismatch("ai_edge_litert 1.9.9", models)] == ["float32"]
    assert doctor.runtime_mismatch(None, models) == []
    (by["float32"].path.with_suffix(".json")).write_text("{not json")
    assert doctor.cached_models(tmp_path)[0].verified_with is None

    r = doctor.diagnose(root=tmp_path, board_model="Raspberry Pi 4 Model B Rev 1.4", cpuinfo_text=PI4_CPUINFO,
                        machine="aarch64", dev_dir=tmp_path / "nodev", read_system=False)
    assert r.runtime is not None and not r.runtime.endswith(" 1.9.9")
    lines = [a for a in r.advice if "verified with ai-edge-litert 1.9.9" in a]
    assert len(lines) == 1 and r.runtime in lines[0] and lines[0].startswith("1 model(s)")
    assert r.to_dict()["models"][0]["verified_with"] is None
    from rich.console import Console

    con = Console(record=True, width=160)
    con.print(doctor.render(r))
    assert "(verified with ai-edge-litert 1.9.9)" in con.export_text()


def test_profiles_pick_precision_per_network():
    """[detector] precision gives the detector its own precision (rpi4: INT8 saves no instructions on
    the A72 for FaceBoxes' INT8 graph, benchmarks/arm-insn.md); without it both networks share one."""
    rpi4, rpi5 = get_target("rpi4"), get_target("rpi5")
    assert (rpi4.precision, rpi4.detector_precision) == ("int8", "fp32")
    assert (rpi5.precision, rpi5.detector_precision) == ("int8", None)
    assert rpi4.to_dict()["detector_precision"] == "fp32" and rpi5.to_dict()["detector_precision"] == "int8"
    base = {"name": "t", "runtime": {"threads": 2, "precision": "int8"}, "camera": {"size": [640, 480]},
            "detector": {"size": [320, 256], "interval": 5, "precision": "int4"}}
    with pytest.raises(EdgefaceError, match=r"detector.precision 'int4' is not"):
        parse_profile(base)


def test_per_stage_precision_reaches_the_model_files(tmp_path):
    from edgeface.aligner import resolve_options
    from edgeface.options import FaceAlignerOptions
    from edgeface.hub import store
    from edgeface.runtime import loading

    for name, variant in (("mb05", "int8"), ("faceboxes_640x480", "float32"), ("faceboxes_640x480", "int8")):
        p = store.model_path(name, variant, tmp_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        p.with_suffix(".json").write_text("{}")
    opts, _ = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4", cache_root=tmp_path))
    assert (opts.precision.value, opts.detector_precision_used.value) == ("int8", "fp32")
    assert loading.find_regressor(opts).name == "mb05_int8.tflite"
    assert loading.find_detector(opts)[0].name == "faceboxes_640x480_float32.tflite"
    # an explicit precision is for both networks
    opts, _ = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4", precision="int8", cache_root=tmp_path))
    assert loading.find_detector(opts)[0].name == "faceboxes_640x480_int8.tflite"
    # the detector's own file missing: one line naming it and the command that makes it
    store.model_path("faceboxes_640x480", "float32", tmp_path).unlink()
    opts, _ = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4", cache_root=tmp_path))
    with pytest.raises(EdgefaceError, match=r"faceboxes_640x480_float32.tflite is not installed \(cache "):
        loading.find_detector(opts)
