#!/usr/bin/env bash
# The INT8 noise-sensitivity experiment (issue 12, item 4/5), end to end:
#   1. every INT8 variant built into a COPY of the cache (int8_variants.py),
#   2. their fixed-ROI sensor-noise response, bias and latency side by side (int8_noise.py),
#   3. the dev-set NME of each variant: `edgeface bench eval` on a hard-linked cache whose mb05 INT8 is the variant.
# Usage: HOME_COPY=~/.cache/edgeface-12q benchmarks/experiments/int8_noise.sh [variants...]
# (make the copy first: cp -a ~/.cache/edgeface ~/.cache/edgeface-12q; never point it at the shared cache)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
home=${HOME_COPY:?set HOME_COPY to a copy of the edgeface cache}
out=${OUT:-$here/int8-noise-$(uname -m)}
faces=${FACES:-$here/../../../shared/eval/faces68}
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(minmax noiseaug p9999 p9995 p9990 p9995bc p9990bc mse float1 float4 floatlast1 floatlast3 p9999+floatlast1 int16x8)
nice -n 19 "$py" "$here/int8_variants.py" --home "$home" "${variants[@]}"
exp=$home/experiments/int8-noise
args=("fp32=$home/tflite/mb05/mb05_float32.tflite")
for v in "${variants[@]}"; do args+=("$v=$exp/$v/mb05_int8.tflite"); done
args+=("default=$home/tflite/mb05/mb05_int8.tflite")   # what `edgeface convert --int8` made in HOME_COPY
nice -n 19 "$py" "$here/int8_noise.py" --home "$home" --out "$out" "${args[@]}"
# dev-set NME per variant (the regressor swapped; detector and everything else as `edgeface run`)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for v in "${variants[@]}"; do
  d=$stage/$v
  mkdir -p "$d"
  cp -al "$home/." "$d/"            # hard links: no copy of the data
  rm -rf "$d/experiments"
  for f in mb05_int8.tflite mb05_int8.json mb05_int8_head.npz; do
    rm -f "$d/tflite/mb05/$f"; cp "$exp/$v/$f" "$d/tflite/mb05/$f"   # rm first: never write through a hard link
  done
  EDGEFACE_HOME=$d nice -n 19 "$py" -m edgeface bench eval "$faces" --precision int8 --json "$stage/$v.json" >/dev/null
  rm -rf "$d"
done
EDGEFACE_HOME=$home nice -n 19 "$py" -m edgeface bench eval "$faces" --precision int8 --json "$stage/default.json" >/dev/null
EDGEFACE_HOME=$home nice -n 19 "$py" -m edgeface bench eval "$faces" --precision fp32 --json "$stage/fp32.json" >/dev/null
"$py" "$here/int8_noise.py" --merge-eval "$out" --eval-dir "$stage"
