#!/usr/bin/env bash
# Step "wheels" (run.sh --wheels DIR): the release wheels as a Pi user installs them, nothing else. Checks
# that edgeface and edgeface_models come from the venv (no clone on the guest), that no conversion
# toolchain (torch, TensorFlow, onnx) is installed, then, with an empty EDGEFACE_HOME: `edgeface fetch
# samples` (pinned URLs or the mirror, digests checked), `edgeface doctor` (models from edgeface-models),
# and `edgeface run` on the 3 sample photos for the profile of the emulated CPU at its own precision and at
# fp32 (the BFM-derived bases are fetched on first use); an uncovered precision is one line without `convert`.
set -euo pipefail
out=$EDGEFACE_ARM_OUT
target=rpi4; [ "$EDGEFACE_ARM_CPU" = a76 ] && target=rpi5
mkdir -p "$EDGEFACE_HOME"

"$PYTHON" - <<'PY'
import importlib.util as u, sys
import edgeface, edgeface_models
for m in (edgeface, edgeface_models):
    assert "/site-packages/" in m.__file__, f"{m.__name__} is not the installed wheel: {m.__file__}"
heavy = [m for m in ("torch", "tensorflow", "onnx", "onnxruntime", "onnx2tf") if u.find_spec(m)]
assert not heavy, f"the board venv has the conversion toolchain: {heavy}"
print(f"ok installed wheels only: edgeface {edgeface.__version__} + edgeface_models {edgeface_models.__version__}, Python {sys.version.split()[0]}")
PY
echo "== edgeface fetch samples"
edgeface fetch samples
echo "== edgeface doctor"
edgeface doctor | tee "$out/doctor.txt"
grep -q "from edgeface-models" "$out/doctor.txt" || { echo "error: doctor does not list the models of edgeface-models" >&2; exit 1; }
photos=$EDGEFACE_HOME/files/3ddfa_v2/examples/inputs
for precision in int8 fp32; do
    echo "== edgeface run --source $photos --target $target --precision $precision"
    edgeface run --source "$photos" --target "$target" --precision "$precision" -q --json "$out/photos.$precision.jsonl" 2> "$out/run.$precision.err"
    cat "$out/run.$precision.err"
    grep -q "models from edgeface-models" "$out/run.$precision.err" || { echo "error: the models did not come from edgeface-models" >&2; exit 1; }
done
if edgeface run --source "$photos" --precision fp16 -q 2> "$out/fp16.err"; then
    echo "error: fp16 is not in edgeface-models, yet the run succeeded" >&2; exit 1
fi
grep -v "^INFO" "$out/fp16.err" > "$out/fp16.line" || true
[ "$(wc -l < "$out/fp16.line")" = 1 ] && grep -q "is not installed" "$out/fp16.line" && ! grep -q "convert" "$out/fp16.line" ||
    { echo "error: an uncovered precision should be one line without 'convert':" >&2; cat "$out/fp16.err" >&2; exit 1; }
echo "ok uncovered precision: $(cat "$out/fp16.line")"
python_check() { "$PYTHON" - "$@" <<'PY'
import json, sys
expect = {"emma.jpg": 3, "JianzhuGuo.jpg": 1, "trump_hillary.jpg": 2}
for path in sys.argv[1:]:
    recs = [json.loads(line) for line in open(path) if line.strip()]
    got = {r["source"].rsplit("/", 1)[-1]: len(r["faces"]) for r in recs}
    assert got == expect, f"{path}: {got} != {expect}"
    print(f"ok {path}: {got}")
PY
}
python_check "$out/photos.int8.jsonl" "$out/photos.fp32.jsonl"
