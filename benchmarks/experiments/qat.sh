#!/usr/bin/env bash
# The quantization-aware fine-tuning / range-equalization experiment (issue 12: INT8 jitter <= fp32 x 1.1), end to end:
#   1. every variant built into a COPY of the cache by qat_experiment.py (HOME/experiments/int8-noise/LABEL/),
#   2. their fixed-crop sensor-noise response, bias and latency side by side with fp32 and the default INT8 (int8_noise.py),
#   3. the dev-set NME of each: `edgeface bench eval` on a hard-linked cache whose mb05 INT8 is the variant,
#   4. `edgeface bench stability` (tracked, raw and smoothed) for the variants named in STABILITY.
# Usage: HOME_COPY=~/.cache/edgeface-qat benchmarks/experiments/qat.sh        (SKIP_BUILD=1: measure already built variants)
# Pinned to one core (CORE, default 1) at nice 10; one torch thread: the fine-tuning is deterministic.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
home=${HOME_COPY:?set HOME_COPY to a copy of the edgeface cache}
core=${CORE:-1}
out=${OUT:-$here/qat-$(uname -m)}
faces=${FACES:-$here/../../../shared/eval/faces68}
run=(taskset -c "$core" nice -n 10)
# label | qat_experiment.py arguments (default: 300/400 Adam steps, lr 5e-5, batch 16, sensor noise sigma U(0,3), 1200 crops)
variants=(
  "qat_t300|--steps 300 --round"
  "qat_p9990|--steps 400 --round --percentile 99.9"
  "qat_p9950|--steps 400 --round --percentile 99.5"
  "qat_p9900|--steps 400 --round --percentile 99.0"
  "cons400|--steps 400 --round --target clean"
  "qn400|--steps 400"
  "qn400lr2|--steps 400 --lr 2e-4"
  "qat_eq16|--steps 0 --equalize 16"
  "qat_eq16q|--steps 400 --round --equalize 16"
  "qat_eqdw|--steps 0 --equalize 16 --dense-power 0"
  "qat_eqdw64|--steps 0 --equalize 64 --dense-power 0"
  "qat_eqsqrt|--steps 0 --equalize 16 --dense-power 0.5"
  "qn400sq|--steps 400 --lr 2e-4 --equalize 16 --dense-power 0.5"
  "cons400sq|--steps 400 --round --target clean --equalize 16 --dense-power 0.5"
  "eqhead|--steps 0 --equalize 16 --head --only-head"
  "eqsqhead|--steps 0 --equalize 16 --dense-power 0.5 --head"
  "eqsqheadq|--steps 400 --round --equalize 16 --dense-power 0.5 --head"
  "eq16_p5|--steps 0 --equalize 16 --percentile 99.999"
  "eqsq_p5|--steps 0 --equalize 16 --dense-power 0.5 --percentile 99.999"
  "eqsqhead_p5|--steps 0 --equalize 16 --dense-power 0.5 --head --percentile 99.999"
)
stability=${STABILITY:-qat_t300 qat_p9950 qat_eqsqrt eqsq_p5}
exp=$home/experiments/int8-noise
labels=()
for v in "${variants[@]}"; do
  label=${v%%|*}; labels+=("$label")
  # shellcheck disable=SC2086
  [ -n "${SKIP_BUILD:-}" ] || EDGEFACE_HOME=$home "${run[@]}" "$py" "$here/qat_experiment.py" --home "$home" --label "$label" ${v#*|}
done
args=("fp32=$home/tflite/mb05/mb05_float32.tflite" "default=$home/tflite/mb05/mb05_int8.tflite")
for l in "${labels[@]}"; do args+=("$l=$exp/$l/mb05_int8.tflite"); done
EDGEFACE_HOME=$home "${run[@]}" "$py" "$here/int8_noise.py" --home "$home" --out "$out" "${args[@]}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
staged() {  # staged LABEL: a hard-linked cache whose mb05 INT8 is the variant (rm first: never write through a link)
  local d=$stage/home-$1
  mkdir -p "$d"; cp -al "$home/." "$d/"; rm -rf "$d/experiments"
  for f in mb05_int8.tflite mb05_int8.json mb05_int8_head.npz; do rm -f "$d/tflite/mb05/$f"; cp "$exp/$1/$f" "$d/tflite/mb05/$f"; done
  echo "$d"
}
for l in "${labels[@]}"; do
  d=$(staged "$l")
  EDGEFACE_HOME=$d "${run[@]}" "$py" -m edgeface bench eval "$faces" --precision int8 --json "$stage/$l.json" >/dev/null
  if [[ " $stability " == *" $l "* ]]; then
    EDGEFACE_HOME=$d "${run[@]}" "$py" -m edgeface bench stability --target x86_64 --json "$out-stability-$l.json" >/dev/null
  fi
  rm -rf "$d"
done
EDGEFACE_HOME=$home "${run[@]}" "$py" -m edgeface bench eval "$faces" --precision int8 --json "$stage/default.json" >/dev/null
EDGEFACE_HOME=$home "${run[@]}" "$py" -m edgeface bench stability --target x86_64 --json "$out-stability-default.json" >/dev/null
EDGEFACE_HOME=$home "${run[@]}" "$py" -m edgeface bench eval "$faces" --precision fp32 --json "$stage/fp32.json" >/dev/null
"$py" "$here/int8_noise.py" --merge-eval "$out" --eval-dir "$stage"
"$py" "$here/qat_report.py" --home "$home" --stem "$out"
