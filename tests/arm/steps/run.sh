#!/usr/bin/env bash
# Step "run": `edgeface run` end to end (FaceBoxes 640x480 -> tracker -> mb05 -> 3DMM decode ->
# smoother -> JSONL), the same commands on both sides with the same board profile (--target rpi4,
# or rpi5 with --cpu a76; never `auto`, which would pick x86_64 on the host), using the converted
# models of the mounted $EDGEFACE_HOME and its cached sample media:
#   photos.int8.jsonl   INT8 models, the 3 sample photos (a folder source: emma.jpg 3 faces (a
#                       collage), JianzhuGuo.jpg 1, trump_hillary.jpg 2)
#   obama.int8.jsonl    INT8 models, the first $EDGEFACE_ARM_VIDEO_FRAMES (12) frames of samples:obama
#                       (PyAV: run.sh --extras video): tracking, smoothing, a re-detection at frame 10
#                       (in-line: asynchronous scans would merge on timing-dependent frames)
#   photos.fp32.jsonl   float32 models, the same 3 photos (float inference is ~80x slower emulated)
# compare.py picks the INT8 bounds for names containing "int8". run_check.py fails a side that
# finds the wrong number of faces or frames, so "both sides found nothing" cannot pass.
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step run needs converted models: pass --edgeface-home" >&2; exit 2; }
target=rpi4; [ "$EDGEFACE_ARM_CPU" = a76 ] && target=rpi5
frames=${EDGEFACE_ARM_VIDEO_FRAMES:-12}
out=$EDGEFACE_ARM_OUT
photos=$EDGEFACE_HOME/files/3ddfa_v2/examples/inputs
[ -d "$photos" ] || { echo "error: $photos not found: run \`edgeface fetch samples\` into EDGEFACE_HOME on the host" >&2; exit 2; }

run() {  # run NAME ARGS...: one `edgeface run`, timed, into $out/NAME.jsonl
    local name=$1 t0=$SECONDS; shift
    echo "== edgeface run $* --target $target -q --json $name.jsonl"
    edgeface run "$@" --target "$target" --bitexact -q --json "$out/$name.jsonl"  # the same pixels on both CPUs
    echo "== $name: $((SECONDS - t0)) s"
}
run photos.int8 --source "$photos" --precision int8
# scans in-line: the same frames on both sides (and --bitexact on every run: the same pixels)
run obama.int8 --source samples:obama --precision int8 --max-frames "$frames" --scan inline
run photos.fp32 --source "$photos" --precision fp32

"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/run_check.py" \
    --expect emma.jpg=3 --expect JianzhuGuo.jpg=1 --expect trump_hillary.jpg=2 "$out/photos.int8.jsonl" \
    --expect obama.mp4=1 --frames "$frames" "$out/obama.int8.jsonl" \
    --expect emma.jpg=3 --expect JianzhuGuo.jpg=1 --expect trump_hillary.jpg=2 "$out/photos.fp32.jsonl"
