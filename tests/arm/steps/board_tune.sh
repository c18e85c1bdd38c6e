#!/usr/bin/env bash
# Step "board_tune" (issue 25): smoke run of `edgeface tune` on the emulated board (its timings mean nothing
# under qemu and are not used): it must measure every stage and pipeline setting it plans, write the local
# profile into a writable cache (the mounted $EDGEFACE_HOME is read-only: a temporary cache links its models
# and samples), and `edgeface run --target auto` must then take that profile. board_tune_check.py checks.
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step board_tune needs converted models: pass --edgeface-home" >&2; exit 2; }
out=$EDGEFACE_ARM_OUT
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
for d in tflite files assets; do ln -s "$EDGEFACE_HOME/$d" "$home/$d"; done
export EDGEFACE_HOME=$home COLUMNS=250
t0=$SECONDS
edgeface tune --frames 6 --repeats 2 --threads 1,2 --intervals 10,20 --workers 1,2 2>&1 | tee "$out/tune.txt"
echo "tune took $((SECONDS - t0)) s" | tee -a "$out/tune.txt"
cp "$home/profiles/local.toml" "$home/profiles/local.json" "$out/"
edgeface run --source samples:obama --max-frames 3 -q --json "$out/after_tune.json" 2>&1 | tee "$out/run.txt"
"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/board_tune_check.py" "$out"
