#!/usr/bin/env bash
# The exact commands behind the published tables in benchmarks/.
#
#   benchmarks/run.sh                # this machine: bench-<arch>.{json,md,png} + eval-faces68.{json,md,png}
#                                    # + stability-<arch>.* + peers-<arch>.*
#   QUICK=1 benchmarks/run.sh        # CI-size smoke run into a temporary folder (numbers not meaningful)
#   OUT=/some/dir benchmarks/run.sh  # write elsewhere
#   ARM_INSN=1 benchmarks/run.sh     # also the ARM guest instruction counts (x86_64 host, root; ~15 min):
#                                    # arm-insn.{json,md,png} by benchmarks/arm_insn.sh
#   SOAK=1 benchmarks/run.sh         # also the soak: 10,000 frames through the run loop (~10 min):
#                                    # soak-<arch>.{json,md,png} by `edgeface bench soak`
#   MEMORY=1 MEMORY_VENV=DIR benchmarks/run.sh  # also memory/stability-<arch>.* and memory/memory-limit-<arch>.*
#                                    # (root; docs/reference/memory.md)
#   MOTION=1 benchmarks/run.sh       # also many faces and fast motion: scaling-<arch>.* and motion-<arch>.*
#                                    # (`edgeface bench scaling --rounds 3`, `edgeface bench motion`; ~10 min)
#   BASELINE=/tmp/base benchmarks/run.sh  # the peer benchmark also runs that earlier checkout's INT8 tracking row
#                                    # (e.g. `git worktree add /tmp/base ccb9fe7`: the tree before issue 26)
#   OVERHEAD_A=../main/toolkit benchmarks/run.sh  # also the overhead A/B experiment (this checkout vs that one):
#                                    # overhead-<arch>.{json,md} by benchmarks/experiments/overhead_ab.py
#
# Needs the models converted first (workstation, or copied onto the board with their .json manifests):
#   edgeface fetch && edgeface convert --int8 --fp16
# The eval set is the repository's sibling ../shared/eval/faces68 unless EVAL_DIR says otherwise.
# Run on an idle machine (check `uptime`); on a Pi, use a heatsink/fan and the performance governor
# (see README.md), or thermal throttling will show in the p90/p99 columns.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."  # the repository root: recorded paths stay relative
arch="$(uname -m)"
eval_dir="${EVAL_DIR:-../shared/eval/faces68}"
py="${PYTHON:-python}"

if [[ "${QUICK:-0}" == "1" ]]; then
  out="${OUT:-$(mktemp -d)}"
  quick=(--quick)
else
  out="${OUT:-$here}"
  quick=()
fi
mkdir -p "$out"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# 1. model latency (every variant x threads 1,2,4 capped at the core count) + pipeline fps
edgeface bench latency "${quick[@]}" \
  --json "$out/bench-$arch.json" --markdown "$out/bench-$arch.md" --plot "$out/bench-$arch.png"

# 2. landmark accuracy: the pipeline at fp32 and int8, plus the ONNX originals as reference
edgeface bench eval "$eval_dir" --precision onnx,fp32,int8 \
  --json "$out/eval-faces68.json" --markdown "$out/eval-faces68.md" --plot "$out/eval-faces68.png"

# 2b. landmark stability: jitter on a still photo with sensor noise, smoothing lag at 2 px/frame (README: Stability)
if [[ "${QUICK:-0}" != "1" ]]; then
  edgeface bench stability --target "$([[ $arch == x86_64 ]] && echo x86_64 || echo auto)" \
    --json "$out/stability-$arch.json" --markdown "$out/stability-$arch.md" --plot "$out/stability-$arch.png"
fi

# 3. MAC counts of the exported graphs (for the README's estimates)
if "$py" -c "import onnx" 2>/dev/null; then
  home="${EDGEFACE_HOME:-$HOME/.cache/edgeface}"
  "$py" "$here/count_macs.py" "$home/onnx/mb05.onnx" "$home/onnx/faceboxes_640x480.onnx" \
    "$home/onnx/faceboxes_640x480_int8friendly.onnx"
fi

# 4. edgeface vs upstream 3DDFA_V2 (its own sources: $EDGEFACE_MIRROR/3ddfa_v2 or UPSTREAM=DIR) and MediaPipe
#    FaceMesh 0.10.18 (its own venv, made once in ~/.cache/edgeface-peers), each pinned to 1 and 2 cores,
#    plus the live camera path's latency; needs `pip install -e ".[peers]"` (Cython, PyYAML) for upstream
upstream=(); [[ -n "${UPSTREAM:-}" ]] && upstream=(--upstream "$UPSTREAM")
baseline=(); [[ -n "${BASELINE:-}" ]] && baseline=(--baseline "$BASELINE")  # an earlier checkout, e.g. a git worktree
rounds=(--rounds 3); [[ ${#quick[@]} -gt 0 ]] && rounds=()  # round-robin: steadier ratios on a shared machine
edgeface bench peers "${quick[@]}" "${rounds[@]}" "${upstream[@]}" "${baseline[@]}" \
  --json "$out/peers-$arch.json" --markdown "$out/peers-$arch.md" --plot "$out/peers-$arch.png"

# 4b. memory and descriptors over 10,000 frames (the test suite runs 1,000), on request
if [[ "${MOTION:-0}" == "1" ]]; then  # many faces and fast motion (benchmarks/motion.md)
  edgeface bench scaling --rounds 3 \
    --json "$out/scaling-$arch.json" --markdown "$out/scaling-$arch.md" --plot "$out/scaling-$arch.png"
  edgeface bench motion \
    --json "$out/motion-$arch.json" --markdown "$out/motion-$arch.md" --plot "$out/motion-$arch.png"
fi
if [[ "${SOAK:-0}" == "1" ]]; then
  edgeface bench soak "${quick[@]}" \
    --json "$out/soak-$arch.json" --markdown "$out/soak-$arch.md" --plot "$out/soak-$arch.png"
fi

# 5. ARM guest instruction counts per stage (emulated Pi 4 / Pi 5 CPUs), on request: needs root
if [[ "${ARM_INSN:-0}" == "1" ]]; then
  "$py" "$here/arm_insn_dynamic_range.py" || echo "no dynamic-range mb05 (needs the convert extra): counted without it" >&2
  bash "$here/arm_insn.sh" --crosscheck --out "$out"
fi

# 6. per-frame overhead against another checkout, on request: OVERHEAD_A=/path/to/that/checkout/toolkit
#    (an experiment: benchmarks/experiments/README.md; its published files live in experiments/)
if [[ -n "${OVERHEAD_A:-}" ]]; then
  exp_out="$out"; [[ "$out" == "$here" ]] && exp_out="$here/experiments"
  "$py" "$here/experiments/overhead_ab.py" --a "$OVERHEAD_A" --b toolkit --rounds 5 --cpu 0 \
    --json "$exp_out/overhead-$arch.json" --markdown "$exp_out/overhead-$arch.md"
fi

# 7. memory independently of the page cache, on request (root: drop_caches, cgroup v1; docs/reference/memory.md):
#    MEMORY_VENV=<a venv with `pip install <repo>[video]`, e.g. ~/.cache/edgeface-arm/host-venv copied> MEMORY=1
#    the Zero 2 W report row warm / cold / from a fresh venv copy, and its run under cgroup memory limits
if [[ "${MEMORY:-0}" == "1" ]]; then
  mkdir -p "$out/memory"
  "$MEMORY_VENV/bin/python" "$here/memory_stability.py" --venv "$MEMORY_VENV" --trials 4 --out "$out/memory/stability-$arch"
  "$MEMORY_VENV/bin/python" "$here/memory_limit.py" --frames 150 --trials 2 --timeout 40 --out "$out/memory/memory-limit-$arch"
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "results in $out" >&2
