#!/usr/bin/env bash
# Guest instruction counts per pipeline stage on the Raspberry Pi 4 and Pi 5 CPUs, without a board.
#
#   sudo benchmarks/arm_insn.sh [--release bookworm|trixie] [--cpus "a53 a72 a76"] [--threads "1 4"]
#                               [--iters 20] [--out benchmarks] [--crosscheck] [--no-build]
#
# Runs benchmarks/arm_insn_guest.py in the tests/arm rootfs (built or refreshed with
# `tests/arm/run.sh --build-only --extras video`, so the guest has `pip install <repo>[video]`)
# under Debian's dynamic qemu-aarch64 with a TCG plugin (benchmarks/arm_insn_plugin.c, built here
# against the plugin header of the installed QEMU's own Debian source package) that counts every
# executed guest instruction, summed over threads. Per CPU model (-cpu cortex-a53 = Pi 3 / Zero 2 W,
# cortex-a72 = Pi 4, cortex-a76 = Pi 5, each with a matching fake /proc/cpuinfo bind-mounted inside
# `unshare -m`, so XNNPACK also sees the core's MIDR and picks its core-tuned kernels) and
# thread count, it counts: regressor and detector Invoke at fp32 and INT8 (XNNPACK, and INT8 with
# TFLite's built-in kernels), the float head, the mb05 dynamic-range model if present, and whole
# tracked pipeline frames split into Invoke and the rest. Every count is marginal: the difference
# between the running totals after N and after N + ITERS iterations, divided by ITERS.
#
# Writes OUT/arm-insn.json, OUT/arm-insn.md and OUT/arm-insn.png (edgeface.tools.bench.arm_insn),
# each through a temporary file and a rename. --no-build uses the cached rootfs and board venv as
# they are (no `tests/arm/run.sh --build-only` first). --crosscheck also builds QEMU's own
# tests/plugin/insn.c and checks that it counts the same as this plugin on one whole process.
#
# Needs root (unshare -m, bind mounts; the rootfs build), an x86_64 Debian host, and converted
# models in $EDGEFACE_HOME (mb05 + FaceBoxes 640x480, float32 and INT8; samples fetched).
# Environment: EDGEFACE_ARM_CACHE (as tests/arm/run.sh), EDGEFACE_HOME, EDGEFACE_ARM_MIRROR
# (Debian mirror for the source package), EDGEFACE_INSN_PYTHON (host python for the report;
# default: the repo's .venv).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=tests/arm/cpuinfo.sh
. "$REPO/tests/arm/cpuinfo.sh"
CACHE=${EDGEFACE_ARM_CACHE:-$HOME/.cache/edgeface-arm}
RELEASE=bookworm
CPUS="a53 a72 a76"
THREADS="1 4"
ITERS=20
OUT=$REPO/benchmarks
CROSSCHECK=0
BUILD=1
EF_HOME=${EDGEFACE_HOME:-$HOME/.cache/edgeface}
MARK_NR=0xED6E

die() { printf 'benchmarks/arm_insn.sh: error: %s\n' "$*" >&2; exit 2; }
log() { printf '[insn %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --release) RELEASE=${2:?--release needs bookworm or trixie}; shift 2 ;;
        --cpus) CPUS=${2:?--cpus needs a list such as "a72 a76"}; shift 2 ;;
        --threads) THREADS=${2:?--threads needs a list such as "1 4"}; shift 2 ;;
        --iters) ITERS=${2:?--iters needs a number}; shift 2 ;;
        --out) OUT=${2:?--out needs a folder}; shift 2 ;;
        --crosscheck) CROSSCHECK=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
case "$RELEASE" in bookworm|trixie) ;; *) die "--release must be bookworm or trixie, not '$RELEASE'" ;; esac
for c in $CPUS; do case "$c" in a53|a72|a76) ;; *) die "--cpus takes a53, a72 and/or a76, not '$c'" ;; esac; done
for t in $THREADS; do [[ "$t" =~ ^[1-9][0-9]?$ ]] || die "--threads takes thread counts 1..99, not '$t'"; done
[[ "$ITERS" =~ ^[1-9][0-9]*$ ]] || die "--iters must be a positive number, not '$ITERS'"
[ "$(id -u)" = 0 ] || die "needs root (unshare -m and bind mounts; the rootfs build)"
[ "$(uname -m)" = x86_64 ] || die "needs an x86_64 host (the counts come from qemu-aarch64's TCG), this is $(uname -m)"
[ -f "$EF_HOME/tflite/mb05/mb05_int8.tflite" ] && [ -f "$EF_HOME/tflite/faceboxes_640x480/faceboxes_640x480_int8.tflite" ] ||
    die "no converted models in $EF_HOME: edgeface convert --model mb05 --int8; edgeface convert --model faceboxes --int8"
PHOTO=$EF_HOME/files/3ddfa_v2/examples/inputs/emma.jpg
[ -f "$PHOTO" ] || die "$PHOTO not found: run \`edgeface fetch samples\` with EDGEFACE_HOME=$EF_HOME"
HOST_PY=${EDGEFACE_INSN_PYTHON:-$REPO/.venv/bin/python}
[ -x "$HOST_PY" ] || die "no host python at $HOST_PY (make install, or set EDGEFACE_INSN_PYTHON)"
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

# ------------------------------------------------------------------ tools and the plugin
need=()
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v unshare >/dev/null || need+=(util-linux)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
[ "$CROSSCHECK" = 0 ] || pkg-config --exists glib-2.0 2>/dev/null || need+=(libglib2.0-dev pkg-config)
if [ ${#need[@]} -gt 0 ]; then
    log "installing host packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        die "apt-get install ${need[*]} failed"
fi
QEMU_SRC_VERSION=$(dpkg-query -W -f='${source:Version}' qemu-user 2>/dev/null) ||
    die "the qemu-user package (Debian's dynamic qemu-aarch64, which loads plugins) is not installed"
QEMU_SRC_APT=$QEMU_SRC_VERSION           # with its epoch, as apt wants it
QEMU_SRC_VERSION=${QEMU_SRC_VERSION#*:}  # the epoch is not part of the file names
SRC=$CACHE/qemu-plugin-src/$QEMU_SRC_VERSION
if [ ! -f "$SRC/include/qemu/qemu-plugin.h" ] || { [ "$CROSSCHECK" = 1 ] && [ ! -f "$SRC/tests/plugin/insn.c" ]; }; then
    # Debian's qemu source package, through a private apt configuration (the host's stays as it is)
    . /etc/os-release
    mirror=${EDGEFACE_ARM_MIRROR:-http://deb.debian.org/debian}
    apt_dir=$CACHE/qemu-plugin-src/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$SRC.partial"
    printf 'deb-src %s %s main\ndeb-src %s %s-updates main\ndeb-src %s %s-security main\n' \
        "$mirror" "$VERSION_CODENAME" "$mirror" "$VERSION_CODENAME" "${mirror%/debian}/debian-security" "$VERSION_CODENAME" \
        > "$apt_dir/sources.list"
    APT=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$apt_dir/lists"
         -o "Dir::Cache::Archives=$apt_dir/archives" -o "APT::Sandbox::User=root")
    log "fetching Debian's qemu $QEMU_SRC_VERSION source package (for the plugin header)"
    apt-get "${APT[@]}" update -qq || die "apt-get update with deb-src lines for $mirror failed"
    (cd "$SRC.partial" && apt-get "${APT[@]}" source --download-only -qq "qemu=$QEMU_SRC_APT" >/dev/null) ||
        die "apt-get source qemu=$QEMU_SRC_APT failed (the installed qemu-user's source version)"
    orig=$(ls "$SRC.partial"/qemu_*.orig.tar.* | head -n1)
    tar -xf "$orig" -C "$SRC.partial" --strip-components=1 --wildcards '*/include/qemu/qemu-plugin.h' '*/tests/plugin/insn.c' ||
        die "the qemu source $orig has no include/qemu/qemu-plugin.h"
    rm -f "$SRC.partial"/qemu_*
    rm -rf "$SRC"; mv "$SRC.partial" "$SRC"
fi
PLUGIN=$CACHE/qemu-plugin-src/libedgeface_insn-$QEMU_SRC_VERSION.so
if [ ! -f "$PLUGIN" ] || [ "$HERE/arm_insn_plugin.c" -nt "$PLUGIN" ]; then
    gcc -O2 -Wall -Werror -shared -fPIC -I"$SRC/include/qemu" -o "$PLUGIN.tmp" "$HERE/arm_insn_plugin.c" ||
        die "building the plugin failed"
    mv "$PLUGIN.tmp" "$PLUGIN"
fi
QEMU_VERSION=$(qemu-aarch64 --version | head -n1)
log "plugin $PLUGIN ($QEMU_VERSION)"

# ------------------------------------------------------------------ the rootfs and the board venv
ROOTFS=$CACHE/rootfs-$RELEASE-arm64
if [ "$BUILD" = 1 ]; then
    log "tests/arm/run.sh --release $RELEASE --extras video --build-only (rootfs + pip install <repo>[video])"
    bash "$REPO/tests/arm/run.sh" --release "$RELEASE" --extras video --build-only --no-host >&2 ||
        die "tests/arm/run.sh --build-only failed"
fi
[ -f "$ROOTFS/.edgeface-rootfs" ] || die "no rootfs at $ROOTFS: run without --no-build (or tests/arm/run.sh --build-only)"
grep -q "^av==" "$CACHE/out/arm-pip-freeze.txt" 2>/dev/null || [ -d "$ROOTFS/opt/edgeface-venv/lib/$(ls "$ROOTFS/opt/edgeface-venv/lib" | head -n1)/site-packages/av" ] ||
    die "the board venv has no PyAV: build it with tests/arm/run.sh --release $RELEASE --extras video --build-only"
GPY=$(cd "$ROOTFS/usr/bin" && ls python3.[0-9]* 2>/dev/null | grep -E '^python3\.[0-9]+$' | sort -V | tail -n1)
[ -n "$GPY" ] || die "no python3.X in $ROOTFS/usr/bin"
[ -f "$ROOTFS/opt/edgeface-venv/pyvenv.cfg" ] || die "no board venv in $ROOTFS/opt/edgeface-venv"
# with -L, a guest path that exists under the rootfs is read from there: nothing we pass may be shadowed
for p in "$HERE/arm_insn_guest.py" "$EF_HOME" "$PHOTO"; do
    [ ! -e "$ROOTFS$p" ] || die "$ROOTFS$p exists and would shadow the host's $p inside the guest; move it away"
done

# our own lock (tests/arm/run.sh's is free again once --build-only is done; do not --rebuild this
# release's rootfs while counting)
exec 9>"$CACHE/.lock-insn-$RELEASE"
flock -n 9 || die "another benchmarks/arm_insn.sh is using $ROOTFS; wait for it"

WORK=$(mktemp -d /tmp/edgeface-insn.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# guest CMD: run an aarch64 program of the rootfs under qemu with the plugin, the fake cpuinfo
# mounted over /proc/cpuinfo in a private mount namespace
GUEST_ENV=()
guest_run() {  # guest_run CPU PLUGIN_ARGS LOG CMD...  (GUEST_ENV: extra NAME=VALUE for the guest)
    local cpu=$1 plug=$2 logf=$3; shift 3
    local qcpu=cortex-$cpu
    write_pi_cpuinfo "$cpu" "$WORK/cpuinfo-$cpu" 4
    unshare -m --propagation private /bin/bash -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$WORK/cpuinfo-$cpu" \
        env -i PATH=/opt/edgeface-venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
        OPENBLAS_NUM_THREADS=1 \
        EDGEFACE_HOME="$EF_HOME" ${GUEST_ENV[@]+"${GUEST_ENV[@]}"} \
        qemu-aarch64 -cpu "$qcpu" -L "$ROOTFS" -0 /opt/edgeface-venv/bin/python -plugin "$plug" -d plugin \
        "$ROOTFS/usr/bin/$GPY" "$@" > "$logf" 2>&1
}

DR_MODEL=$EF_HOME/bench/mb05_dynamic_range.tflite  # made by benchmarks/arm_insn_dynamic_range.py
STAGES1=(reg_fp32 reg_int8 reg_int8_builtin det_fp32 det_int8 det_int8_builtin head frame_int8 frame_fp32)
[ -f "$DR_MODEL" ] && STAGES1+=("reg_model:$DR_MODEL")
STAGESN=(reg_fp32 reg_int8 det_fp32 det_int8 frame_int8)
RUNS=()
T0=$SECONDS
for cpu in $CPUS; do
    for th in $THREADS; do
        tag=$cpu-t$th
        if [ "$th" = 1 ]; then stages=("${STAGES1[@]}"); else stages=("${STAGESN[@]}"); fi
        log "$tag: ${stages[*]} (marginal over $ITERS iterations)"
        t=$SECONDS
        guest_run "$cpu" "$PLUGIN,out=$WORK/$tag.marks,nr=$MARK_NR" "$WORK/$tag.log" \
            "$HERE/arm_insn_guest.py" --home "$EF_HOME" --image "$PHOTO" --threads "$th" --iters "$ITERS" \
            --target "$(case $cpu in a53) echo rpi3 ;; a72) echo rpi4 ;; *) echo rpi5 ;; esac)" --nr "$MARK_NR" --meta "$WORK/$tag.meta.json" "${stages[@]}" ||
            { tail -n 20 "$WORK/$tag.log" >&2; die "guest run $tag failed (log above)"; }
        echo "$((SECONDS - t))" > "$WORK/$tag.seconds"
        log "$tag: done in $((SECONDS - t)) s"
        RUNS+=("$tag")
    done
done

XCHECK=()
if [ "$CROSSCHECK" = 1 ]; then
    # the same whole process counted by QEMU's own insn plugin (inline counter: one thread only)
    INSN=$CACHE/qemu-plugin-src/libinsn-$QEMU_SRC_VERSION.so
    [ -f "$INSN" ] || gcc -O2 -shared -fPIC -I"$SRC/include/qemu" $(pkg-config --cflags glib-2.0) -o "$INSN" \
        "$SRC/tests/plugin/insn.c" $(pkg-config --libs glib-2.0) || die "building QEMU's insn.c failed"
    cpu=$(echo "$CPUS" | awk '{print $1}')
    for plug in "$PLUGIN,out=$WORK/xcheck.marks,nr=$MARK_NR" "$INSN,inline=on"; do
        guest_run "$cpu" "$plug" "$WORK/xcheck-$(basename "${plug%%,*}").log" "$HERE/arm_insn_guest.py" --home "$EF_HOME" \
            --image "$PHOTO" --threads 1 --iters 5 --warmup 1 --nr "$MARK_NR" --meta "$WORK/xcheck.meta.json" reg_int8 head ||
            die "crosscheck run failed"
    done
    XCHECK=(--crosscheck "$WORK/xcheck.marks" "$WORK/xcheck-libinsn-$QEMU_SRC_VERSION.so.log")
fi

log "all runs done in $((SECONDS - T0)) s; writing $OUT/arm-insn.{json,md,png}"
"$HOST_PY" -m edgeface.tools.bench.arm_insn --work "$WORK" --runs "${RUNS[@]}" --out "$OUT" --release "$RELEASE" \
    --qemu "$QEMU_VERSION" --rootfs-python "$GPY" --pip-freeze "$CACHE/out/arm-pip-freeze.txt" "${XCHECK[@]}"
