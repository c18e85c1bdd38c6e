#!/usr/bin/env bash
# Step "example" (run.sh --wheels DIR): the README's Python example (the photo one, copied by run.sh to
# /work/out/readme_photo.py) run with the installed wheels: 2 faces on trump_hillary.jpg.
set -euo pipefail
out=$EDGEFACE_ARM_OUT
edgeface fetch samples > /dev/null
cd "$out"
"$PYTHON" /work/out/readme_photo.py | tee "$out/example.txt"
[ "$(grep -c yaw "$out/example.txt")" = 2 ] || { echo "error: the README example should print 2 faces" >&2; exit 1; }
echo "ok README Python example: 2 faces"
