#!/usr/bin/env bash
# Step "bundle": a bundle made on the x86 host (`edgeface pack --target rpi4`) used on the board the
# way the README says: `edgeface unpack` into an empty cache, then `edgeface run --bundle` on the 3
# sample photos (INT8) -> bundle.int8.jsonl, compared arm vs host like step "run"; a copy of the
# bundle with one byte changed must be refused. The bundle is $EDGEFACE_HOME/bundles/rpi4.edgeface,
# packed on the host before run.sh (tests/test_fleet_arm.py does it):
#   edgeface pack --target rpi4 -o $EDGEFACE_HOME/bundles/rpi4.edgeface
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step bundle needs --edgeface-home (with bundles/rpi4.edgeface)" >&2; exit 2; }
bundle=$EDGEFACE_HOME/bundles/rpi4.edgeface
[ -f "$bundle" ] || { echo "error: $bundle not found: on the host run edgeface pack --target rpi4 -o $bundle" >&2; exit 2; }
photos=$EDGEFACE_HOME/files/3ddfa_v2/examples/inputs
out=$EDGEFACE_ARM_OUT
cache=$(mktemp -d)  # the board's cache: nothing in it but what the bundle brings
trap 'rm -rf "$cache"' EXIT

echo "== edgeface unpack $bundle (made on the x86 host) into an empty cache"
EDGEFACE_HOME=$cache edgeface unpack "$bundle"
echo "== edgeface run --bundle on the sample photos"
EDGEFACE_HOME=$cache edgeface run --bundle "$bundle" --source "$photos" --target rpi4 --bitexact -q --json "$out/bundle.int8.jsonl"

"$PYTHON" - "$bundle" "$cache/tampered.edgeface" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 1
open(sys.argv[2], "wb").write(bytes(data))
PY
if EDGEFACE_HOME=$cache edgeface unpack "$cache/tampered.edgeface" --to "$cache/t" 2> "$cache/err"; then
    echo "error: a tampered bundle was accepted" >&2; exit 1
fi
grep -q "does not match its sha256\|truncated\|unsafe\|digest list" "$cache/err" || { cat "$cache/err" >&2; exit 1; }
echo "tampered bundle refused: $(cat "$cache/err")"

"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/run_check.py" \
    --expect emma.jpg=3 --expect JianzhuGuo.jpg=1 --expect trump_hillary.jpg=2 "$out/bundle.int8.jsonl"
