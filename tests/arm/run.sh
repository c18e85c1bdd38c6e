#!/usr/bin/env bash
# Run edgeface's board runtime inside an emulated Debian arm64 root filesystem (bookworm or trixie)
# (qemu-user + binfmt_misc + chroot) and compare its outputs with the same steps run on this host.
#
#   tests/arm/run.sh [options] [STEP...]          default step: litert
#
# Options:
#   --release R        Debian release of the rootfs: bookworm (Python 3.11, default) or trixie
#                      (Python 3.13, the base of today's Raspberry Pi OS); each has its own cached rootfs
#   --cpu a72|a76      emulated CPU: a72 = Raspberry Pi 4 (default), a76 = Raspberry Pi 5
#   --out DIR          where outputs go (default: $CACHE/out; emptied at the start of a run)
#   --extras LIST      install edgeface[LIST] on both sides, e.g. --extras video (PyAV)
#   --edgeface-home D  host EDGEFACE_HOME to mount read-only into the guest (default: $EDGEFACE_HOME if set)
#   --rebuild          throw away the cached rootfs (and its venv) and build them again
#   --rebuild-venv     throw away only the cached board venv
#   --build-only       build/refresh the rootfs + venv + edgeface install, run no step
#   --no-host          run the steps in the guest only (no host run, no comparison)
#   --shell            open an interactive shell in the guest instead of running steps
#   --wheels DIR       release mode: install the two wheels of DIR (`make dist`: edgeface-*.whl and
#                      edgeface_models-*.whl) into their own guest venv, with no clone in the guest (only
#                      tests/arm/steps is mounted) and an empty EDGEFACE_HOME; guest only; default steps
#                      wheels serve example; the board venv is measured with and without [video]
#   -h | --help
#
# A STEP is tests/arm/steps/STEP.sh. It is run twice with bash: inside the arm64 guest
# (EDGEFACE_ARM_SIDE=guest) and on the host (EDGEFACE_ARM_SIDE=host), each time with its own empty
# output folder $EDGEFACE_ARM_OUT; then tests/arm/compare.py compares the two output trees and
# prints the closing line "N passed, N failed". See tests/arm/README.md for the step contract.
#
# Environment: EDGEFACE_ARM_CACHE (default ~/.cache/edgeface-arm), EDGEFACE_ARM_MIRROR (Debian
# mirror; default: the host's apt mirror), EDGEFACE_HOST_PYTHON (python for the host side; default:
# a cached host venv made like the board one, `pip install <repo>` with no extras, from the host's
# python3), EDGEFACE_SHARED (default: <repo>/../shared), EDGEFACE_ARM_STEP_TIMEOUT (seconds
# per step and side, default 1800).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/arm/cpuinfo.sh
. "$SCRIPT_DIR/cpuinfo.sh"
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
CACHE=${EDGEFACE_ARM_CACHE:-$HOME/.cache/edgeface-arm}
SUITE=${EDGEFACE_ARM_RELEASE:-bookworm}
VENV_IN=/opt/edgeface-venv            # board venv, path inside the guest
BINFMT_DIR=/proc/sys/fs/binfmt_misc
BINFMT_NAME=edgeface-aarch64-$$    # our own entry: concurrent runs each remove only theirs
AARCH64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
STEP_TIMEOUT=${EDGEFACE_ARM_STEP_TIMEOUT:-1800}
HOST_VENV=$CACHE/host-venv
HOST_PYTHON=${EDGEFACE_HOST_PYTHON:-}
HOST_CA=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}

CPU=${EDGEFACE_ARM_CPU:-a72}
OUT=""
EF_HOME=${EDGEFACE_HOME:-}
EXTRAS=${EDGEFACE_ARM_EXTRAS:-}
WHEELS=""
REBUILD=0; REBUILD_VENV=0; BUILD_ONLY=0; NO_HOST=0; SHELL_MODE=0
STEPS=()

log() { printf '[arm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'tests/arm/run.sh: error: %s\n' "$*" >&2; exit 2; }

# bg_run LOG CMD... : run CMD in its own session in the background with its output in LOG (also
# shown live when SHOW=1), wait for it and return its status. Waiting this way lets the INT/TERM
# traps fire at once; cleanup then kills the whole session (CHILD) by its id.
CHILD=""; TAILPID=""
bg_run() {
    local log=$1 rc=0; shift
    : > "$log"  # exists before tail -f looks for it
    setsid "$@" > "$log" 2>&1 < /dev/null &
    CHILD=$!
    if [ "${SHOW:-0}" = 1 ]; then tail -n +1 -f --pid="$CHILD" "$log" & TAILPID=$!; fi
    wait "$CHILD" || rc=$?
    if [ -n "$TAILPID" ]; then wait "$TAILPID" 2>/dev/null || true; fi
    CHILD=""; TAILPID=""
    return "$rc"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --release) SUITE=${2:?--release needs bookworm or trixie}; shift 2 ;;
        --release=*) SUITE=${1#*=}; shift ;;
        --cpu) CPU=${2:?--cpu needs a72 or a76}; shift 2 ;;
        --cpu=*) CPU=${1#*=}; shift ;;
        --out) OUT=${2:?--out needs a folder}; shift 2 ;;
        --extras) EXTRAS=${2:?--extras needs a list such as video}; shift 2 ;;
        --edgeface-home) EF_HOME=${2:?--edgeface-home needs a folder}; shift 2 ;;
        --rebuild) REBUILD=1; shift ;;
        --rebuild-venv) REBUILD_VENV=1; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --no-host) NO_HOST=1; shift ;;
        --shell) SHELL_MODE=1; shift ;;
        --wheels) WHEELS=${2:?--wheels needs the folder make dist wrote}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) STEPS+=("$1"); shift ;;
    esac
done
STEPS_IN=/work/repo/tests/arm/steps   # where the guest reads the step scripts
if [ -n "$WHEELS" ]; then
    [ -d "$WHEELS" ] || die "--wheels $WHEELS is not a folder: run make dist first"
    WHEELS=$(cd "$WHEELS" && pwd)
    MAIN_WHL=$(cd "$WHEELS" && ls edgeface-*-py3-none-any.whl 2>/dev/null | tail -n 1)
    MODELS_WHL=$(cd "$WHEELS" && ls edgeface_models-*-py3-none-any.whl 2>/dev/null | tail -n 1)
    [ -n "$MAIN_WHL" ] && [ -n "$MODELS_WHL" ] || die "--wheels $WHEELS lacks edgeface-*.whl or edgeface_models-*.whl: run make dist"
    VENV_IN=/opt/edgeface-wheels-venv   # its own venv: the cached clone-install venv stays as it is
    STEPS_IN=/work/steps
    NO_HOST=1; EF_HOME=""
    [ ${#STEPS[@]} -gt 0 ] || STEPS=(wheels serve example)
fi
[ ${#STEPS[@]} -gt 0 ] || STEPS=(litert)

case "$SUITE" in
    bookworm|trixie) ;;
    *) die "--release must be bookworm (Python 3.11) or trixie (Python 3.13), not '$SUITE'" ;;
esac
ROOTFS=$CACHE/rootfs-$SUITE-arm64
case "$CPU" in
    a72|cortex-a72) CPU=a72; QEMU_CPU=cortex-a72 ;;
    a76|cortex-a76) CPU=a76; QEMU_CPU=cortex-a76 ;;
    *) die "--cpu must be a72 (Raspberry Pi 4) or a76 (Raspberry Pi 5), not '$CPU'" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts, binfmt_misc); run it as root"
NATIVE=0  # an aarch64 host runs the arm64 rootfs natively: no qemu, no binfmt (the fake cpuinfo still applies)
case "$(uname -m)" in
    x86_64) ;;
    aarch64|arm64) NATIVE=1; log "host is $(uname -m): running the arm64 rootfs natively (no qemu-user)" ;;
    *) die "host is $(uname -m): this harness needs an x86_64 (emulated) or aarch64 (native) Linux host" ;;
esac
for s in "${STEPS[@]}"; do
    [ -f "$SCRIPT_DIR/steps/$s.sh" ] || die "no step '$s': expected $SCRIPT_DIR/steps/$s.sh"
done
SHARED=${EDGEFACE_SHARED:-$REPO/../shared}
[ -f "$HOST_CA" ] || die "CA bundle $HOST_CA not found; set PIP_CERT to the host's CA bundle"
[ -d "$SHARED" ] || die "shared data folder not found at $SHARED; set EDGEFACE_SHARED"
SHARED=$(cd "$SHARED" && pwd)
if [ -n "$EF_HOME" ]; then
    [ -d "$EF_HOME" ] || die "EDGEFACE_HOME folder $EF_HOME does not exist; convert the models on the host first"
    EF_HOME=$(cd "$EF_HOME" && pwd)
fi
OUT=${OUT:-$CACHE/out}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || die "another tests/arm/run.sh is using $CACHE; wait for it or set EDGEFACE_ARM_CACHE"

# ---------------------------------------------------------------- cleanup (always runs)
BINFMT_MOUNTED=0; BINFMT_REGISTERED=0; MOUNTS_ACTIVE=0; CHECK_RC=0

mounts_under() {  # mount points at or below $1, deepest first
    local root=$1
    awk -v r="$root" '{ m=$5; gsub(/\\040/, " ", m); if (m == r || index(m, r "/") == 1) print m }' /proc/self/mountinfo |
        awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

kill_guest_processes() {  # processes we started whose root is inside the rootfs
    local pid root
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        root=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
        case "$root" in "$ROOTFS"|"$ROOTFS"/*|"$ROOTFS.partial"|"$ROOTFS.partial"/*)
            log "killing leftover guest process $pid"; kill -KILL "$pid" 2>/dev/null || true ;;
        esac
    done
}

unmount_all() {
    local root m left
    for root in "$ROOTFS" "$ROOTFS.partial"; do
        [ -e "$root" ] || continue
        if [ -n "$(mounts_under "$root")" ]; then kill_guest_processes; fi
        while read -r m; do
            [ -n "$m" ] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
        done < <(mounts_under "$root")
        left=$(mounts_under "$root")
        if [ -n "$left" ]; then log "ERROR: mounts left behind under $root:"; printf '  %s\n' $left >&2; return 1; fi
    done
    return 0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CHILD" ]; then kill -TERM -- "-$CHILD" 2>/dev/null || true; sleep 1; kill -KILL -- "-$CHILD" 2>/dev/null || true; fi
    if [ -n "$TAILPID" ]; then kill "$TAILPID" 2>/dev/null || true; fi
    unmount_all || rc=3
    if [ "$BINFMT_REGISTERED" = 1 ] && [ -e "$BINFMT_DIR/$BINFMT_NAME" ]; then
        echo -1 > "$BINFMT_DIR/$BINFMT_NAME" || log "warning: could not unregister binfmt $BINFMT_NAME"
    fi
    # unmount binfmt_misc if we mounted it, unless another run registered entries there meanwhile
    if [ "$BINFMT_MOUNTED" = 1 ] && [ -z "$(ls "$BINFMT_DIR" 2>/dev/null | grep -vx -e register -e status)" ]; then
        umount "$BINFMT_DIR" 2>/dev/null || log "warning: could not unmount $BINFMT_DIR"
    fi
    if [ "$rc" != 0 ]; then log "failed (exit $rc); all mounts under $ROOTFS removed"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

safe_rmtree() {  # rm -rf that refuses to cross into anything still mounted
    local d=$1
    [ -e "$d" ] || return 0
    [ -z "$(mounts_under "$d")" ] || unmount_all || die "refusing to delete $d: mounts remain under it"
    rm -rf --one-file-system "$d"
}

# ---------------------------------------------------------------- host tools + binfmt
ensure_host_tools() {
    local need=()
    command -v debootstrap >/dev/null || need+=(debootstrap)
    [ "$NATIVE" = 1 ] || command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
    command -v flock >/dev/null || need+=(util-linux)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing host packages: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    QEMU_BIN=$(command -v qemu-aarch64-static || true)
}

aarch64_entry() {  # prints the name of an enabled binfmt entry for aarch64 ELF, if any
    local f           # (not another run's edgeface-aarch64-PID entry: that one goes away when it ends)
    for f in "$BINFMT_DIR"/*; do
        case "$(basename "$f")" in register|status|edgeface-aarch64*) continue ;; esac
        [ -f "$f" ] || continue
        if grep -q '^enabled' "$f" && grep -q '^magic 7f454c460201010000000000000000000200b700' "$f"; then
            basename "$f"; return 0
        fi
    done
    return 1
}

setup_binfmt() {
    if [ "$NATIVE" = 1 ]; then return 0; fi
    if ! mountpoint -q "$BINFMT_DIR"; then
        mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" || die "cannot mount binfmt_misc at $BINFMT_DIR"
        BINFMT_MOUNTED=1
    fi
    local entry interp
    if entry=$(aarch64_entry); then
        interp=$(sed -n 's/^interpreter //p' "$BINFMT_DIR/$entry")
        if grep -q '^flags:.*F' "$BINFMT_DIR/$entry"; then
            log "binfmt: using existing entry '$entry' ($interp, fix-binary)"
        else
            log "binfmt: using existing entry '$entry' ($interp, no F flag: copying it into the rootfs)"
            INTERP_COPY=$interp
        fi
    else
        printf ':%s:M::%s:%s:%s:F\n' "$BINFMT_NAME" "$AARCH64_MAGIC" "$AARCH64_MASK" "$QEMU_BIN" > "$BINFMT_DIR/register" ||
            die "cannot register the aarch64 binfmt handler (is binfmt_misc writable here?)"
        BINFMT_REGISTERED=1
        log "binfmt: registered '$BINFMT_NAME' -> $QEMU_BIN (flag F; removed again on exit)"
    fi
}
INTERP_COPY=""

recheck_binfmt() {  # before each guest command: another run ending (an older run.sh) may have
    # unmounted binfmt_misc or removed the entry we use; then set it up again instead of failing
    [ "$NATIVE" = 1 ] && return 0
    if mountpoint -q "$BINFMT_DIR" && { [ -e "$BINFMT_DIR/$BINFMT_NAME" ] || aarch64_entry >/dev/null; }; then
        return 0
    fi
    log "warning: the aarch64 binfmt handler vanished (another run removed it): setting it up again"
    BINFMT_REGISTERED=0
    setup_binfmt
}

copy_interp_into() {  # only needed when the existing binfmt entry lacks the F flag
    local root=$1
    if [ -n "$INTERP_COPY" ]; then
        mkdir -p "$root$(dirname "$INTERP_COPY")"
        cp -L "$INTERP_COPY" "$root$INTERP_COPY"
    fi
}

# ---------------------------------------------------------------- rootfs
debian_mirror() {
    if [ -n "${EDGEFACE_ARM_MIRROR:-}" ]; then echo "$EDGEFACE_ARM_MIRROR"; return; fi
    local u
    u=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
        grep -E '/debian/?$' | head -n1 || true)
    [ -n "$u" ] || u=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' | grep -E '/debian/?$' | head -n1 || true)
    echo "${u:-http://deb.debian.org/debian}"
}

build_rootfs() {
    local part=$ROOTFS.partial mirror
    mirror=$(debian_mirror)
    safe_rmtree "$part"
    log "debootstrap first stage: $SUITE arm64 from $mirror"
    bg_run "$CACHE/debootstrap-1.log" debootstrap --arch=arm64 --foreign --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates "$SUITE" "$part" "$mirror" ||
        { tail -n 20 "$CACHE/debootstrap-1.log" >&2; die "debootstrap first stage failed (log: $CACHE/debootstrap-1.log)"; }
    copy_interp_into "$part"
    # dpkg's fsyncs are pointless for a throw-away build and slow under emulation
    mkdir -p "$part/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io > "$part/etc/dpkg/dpkg.cfg.d/edgeface-unsafe-io"
    log "debootstrap second stage (emulated dpkg; a few minutes)"
    bg_run "$CACHE/debootstrap-2.log" env QEMU_CPU="$QEMU_CPU" chroot "$part" /debootstrap/debootstrap --second-stage ||
        { tail -n 20 "$CACHE/debootstrap-2.log" >&2; unmount_all || true; die "debootstrap second stage failed (log: $CACHE/debootstrap-2.log)"; }
    unmount_all || die "debootstrap left mounts behind"
    mkdir -p "$part/work/repo" "$part/work/shared" "$part/work/out" "$part/work/edgeface-home" "$part/root/.cache/pip"
    echo "$SUITE arm64 $(date -u +%Y-%m-%dT%H:%M:%SZ) $mirror" > "$part/.edgeface-rootfs"
    mv "$part" "$ROOTFS"
}

# ---------------------------------------------------------------- guest mounts
CPUINFO_FILE=""
write_cpuinfo() {  # a Raspberry Pi /proc/cpuinfo for the emulated CPU (one block per host core)
    CPUINFO_FILE=$CACHE/cpuinfo-$CPU
    write_pi_cpuinfo "$CPU" "$CPUINFO_FILE"
}

mount_guest() {
    local R=$ROOTFS
    write_cpuinfo
    cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
    mkdir -p "$R/work/repo" "$R/work/shared" "$R/work/out" "$R/work/edgeface-home" "$R/root/.cache/pip" "$CACHE/pip-cache" "$OUT"
    MOUNTS_ACTIVE=1
    mount -t proc proc "$R/proc"
    mount --bind "$CPUINFO_FILE" "$R/proc/cpuinfo"
    mount --bind /sys "$R/sys"
    mount --bind /dev "$R/dev"
    mount --bind /dev/pts "$R/dev/pts"
    if mountpoint -q /dev/shm; then mount --bind /dev/shm "$R/dev/shm"; fi
    if [ -n "$WHEELS" ]; then  # no clone in the guest: the wheels and the step scripts only
        mkdir -p "$R/work/wheels" "$R/work/steps"
        mount --bind "$WHEELS" "$R/work/wheels"; mount -o remount,bind,ro "$R/work/wheels"
        mount --bind "$SCRIPT_DIR/steps" "$R/work/steps"; mount -o remount,bind,ro "$R/work/steps"
    else
        mount --bind "$REPO" "$R/work/repo";     mount -o remount,bind,ro "$R/work/repo"
    fi
    mount --bind "$SHARED" "$R/work/shared"; mount -o remount,bind,ro "$R/work/shared"
    mount --bind "$OUT" "$R/work/out"
    mount --bind "$CACHE/pip-cache" "$R/root/.cache/pip"
    if [ -n "$EF_HOME" ]; then
        mount --bind "$EF_HOME" "$R/work/edgeface-home"; mount -o remount,bind,ro "$R/work/edgeface-home"
    fi
    # pip in the guest trusts what the host trusts (this host may reach PyPI through a TLS proxy)
    touch "$R/work/host-ca.crt"
    mount --bind "$HOST_CA" "$R/work/host-ca.crt"; mount -o remount,bind,ro "$R/work/host-ca.crt"
}

# "${GUEST[@]}" CMD... runs a command inside the arm64 rootfs with a clean environment.
GUEST=(env -i PATH="$VENV_IN/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" QEMU_CPU="$QEMU_CPU"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 PIP_PROGRESS_BAR=off
    PIP_CERT=/work/host-ca.crt SSL_CERT_FILE=/work/host-ca.crt REQUESTS_CA_BUNDLE=/work/host-ca.crt
    EDGEFACE_ARM_CPU="$CPU" EDGEFACE_REPO=/work/repo EDGEFACE_SHARED=/work/shared
    ${EF_HOME:+EDGEFACE_HOME=/work/edgeface-home}
    ${WHEELS:+EDGEFACE_HOME=/tmp/edgeface-wheels-home EDGEFACE_MIRROR=/work/shared/upstream EDGEFACE_REPO=}
    chroot "$ROOTFS")
guest() { "${GUEST[@]}" "$@"; }

# ---------------------------------------------------------------- board venv + edgeface install
deps_stamp() { { cat "$REPO/pyproject.toml"; echo "extras=$EXTRAS"; } | sha256sum | cut -c1-64; }

copy_repo_source() {  # pip builds in the source tree, so give it a writable copy of the repo
    local dest=$1
    safe_rmtree "$dest"; mkdir -p "$dest"
    if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$REPO" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -xf - -C "$dest"
    else
        (cd "$REPO" && tar --exclude=.git -cf - .) | tar -xf - -C "$dest"
    fi
}

src_digest() {  # digest of what `pip install` takes from a copied source tree (file names and contents;
    # not the tests, benchmarks, CI or Markdown, which are not installed): unchanged = same digest
    (cd "$1" && find . \( -path ./tests -o -path ./benchmarks -o -path ./.ci \) -prune -o -type f ! -name '*.md' -print0 |
        sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64
}

install_edgeface() {
    local V=$ROOTFS$VENV_IN stamp t0 src
    stamp=$(deps_stamp)
    if [ "$REBUILD_VENV" = 1 ] || [ ! -f "$V/pyvenv.cfg" ] || [ "$(cat "$V/.edgeface-deps" 2>/dev/null)" != "$stamp" ]; then
        log "creating the board venv $VENV_IN (pyproject.toml changed or no venv yet)"
        safe_rmtree "$V"
        guest python3 -m venv "$VENV_IN"
    fi
    copy_repo_source "$ROOTFS/tmp/edgeface-src"
    src=$(src_digest "$ROOTFS/tmp/edgeface-src")
    recheck_binfmt
    t0=$SECONDS
    if [ "$REBUILD_VENV" = 0 ] && [ "$(cat "$V/.edgeface-src" 2>/dev/null)" = "$src" ]; then
        log "guest: this very source (digest ${src:0:12}) is installed in $VENV_IN already: no pip install"
    else
        log "guest: pip install /tmp/edgeface-src${EXTRAS:+[$EXTRAS]} (as a Pi user would)"
        rm -f "$V/.edgeface-src"
        bg_run "$OUT/arm-pip-install.log" "${GUEST[@]}" "$VENV_IN/bin/pip" install "/tmp/edgeface-src${EXTRAS:+[$EXTRAS]}" ||
            { tail -n 30 "$OUT/arm-pip-install.log" >&2; die "pip install of edgeface failed inside the arm64 guest (log: $OUT/arm-pip-install.log)"; }
        echo "$src" > "$V/.edgeface-src"
    fi
    echo "$stamp" > "$V/.edgeface-deps"
    safe_rmtree "$ROOTFS/tmp/edgeface-src"
    guest "$VENV_IN/bin/pip" freeze > "$OUT/arm-pip-freeze.txt" 2>/dev/null || true
    log "guest: pip install took $((SECONDS - t0)) s"
    BOARD_VENV_MIB=$(du -sm "$V" | cut -f1)
    log "board venv size (du -sm $VENV_IN): $BOARD_VENV_MIB MiB"
    printf 'board_venv_mib %s\n' "$BOARD_VENV_MIB" >> "$OUT/sizes.txt"
}

install_wheels() {  # release mode: the two wheels as a Pi user installs them, measured without and with [video]
    local V=$ROOTFS$VENV_IN stamp t0
    stamp=$( { (cd "$WHEELS" && sha256sum "$MAIN_WHL" "$MODELS_WHL"); echo "extras=$EXTRAS"; } | sha256sum | cut -c1-64)
    t0=$SECONDS
    if [ "$REBUILD_VENV" = 0 ] && [ -f "$V/pyvenv.cfg" ] && [ "$(cat "$V/.edgeface-wheels" 2>/dev/null)" = "$stamp" ]; then
        log "guest: these very wheels are installed in $VENV_IN already: no pip install"
    else
        safe_rmtree "$V"
        guest python3 -m venv "$VENV_IN"
        log "guest: pip install /work/wheels/$MAIN_WHL /work/wheels/$MODELS_WHL (no clone in the guest)"
        bg_run "$OUT/arm-pip-install.log" "${GUEST[@]}" "$VENV_IN/bin/pip" install "/work/wheels/$MAIN_WHL" "/work/wheels/$MODELS_WHL" ||
            { tail -n 30 "$OUT/arm-pip-install.log" >&2; die "pip install of the wheels failed inside the arm64 guest (log: $OUT/arm-pip-install.log)"; }
        du -sm "$V" | cut -f1 > "$V/.size-plain"
        log "guest: pip install /work/wheels/$MAIN_WHL[${EXTRAS:-video}]"
        bg_run "$OUT/arm-pip-install-extras.log" "${GUEST[@]}" "$VENV_IN/bin/pip" install "/work/wheels/$MAIN_WHL[${EXTRAS:-video}]" "/work/wheels/$MODELS_WHL" ||
            { tail -n 30 "$OUT/arm-pip-install-extras.log" >&2; die "pip install of the wheels' extras failed in the guest"; }
        echo "$stamp" > "$V/.edgeface-wheels"
        log "guest: pip install of the wheels took $((SECONDS - t0)) s"
    fi
    guest "$VENV_IN/bin/pip" freeze > "$OUT/arm-pip-freeze.txt" 2>/dev/null || true
    printf 'board_venv_wheels_mib %s\nboard_venv_wheels_%s_mib %s\n' "$(cat "$V/.size-plain")" "${EXTRAS:-video}" \
        "$(du -sm "$V" | cut -f1)" >> "$OUT/sizes.txt"
    log "board venv (du -sm): $(cat "$V/.size-plain") MiB with the two wheels, $(du -sm "$V" | cut -f1) MiB with [${EXTRAS:-video}]"
    # the README's Python example (the photo one), for step example: the guest has no clone to read it from
    python3 - "$REPO/README.md" "$OUT/readme_photo.py" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w").write(dict(re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", text, re.S))["photo"])
PY
    safe_rmtree "$ROOTFS/tmp/edgeface-wheels-home"
}

install_host_runtime() {  # the same install on the host: fresh venv, pip install <repo>, no extras
    local stamp t0 src
    stamp=$(deps_stamp)
    if [ "$REBUILD_VENV" = 1 ] || [ ! -f "$HOST_VENV/pyvenv.cfg" ] || [ "$(cat "$HOST_VENV/.edgeface-deps" 2>/dev/null)" != "$stamp" ]; then
        log "host: creating $HOST_VENV (python3 -m venv; pip install <repo>${EXTRAS:+[$EXTRAS]})"
        safe_rmtree "$HOST_VENV"
        python3 -m venv "$HOST_VENV" || die "python3 -m venv failed on the host (apt-get install python3-venv)"
        HOST_FRESH=1
    fi
    copy_repo_source "$CACHE/host-src"
    src=$(src_digest "$CACHE/host-src")
    t0=$SECONDS
    if [ "$REBUILD_VENV" = 1 ] || [ "$(cat "$HOST_VENV/.edgeface-src" 2>/dev/null)" != "$src" ]; then
        rm -f "$HOST_VENV/.edgeface-src"
        bg_run "$OUT/host-pip-install.log" "$HOST_VENV/bin/pip" install "$CACHE/host-src${EXTRAS:+[$EXTRAS]}" ||
            { tail -n 20 "$OUT/host-pip-install.log" >&2; die "pip install of edgeface failed on the host (log: $OUT/host-pip-install.log)"; }
        echo "$src" > "$HOST_VENV/.edgeface-src"
    fi
    echo "$stamp" > "$HOST_VENV/.edgeface-deps"
    safe_rmtree "$CACHE/host-src"
    "$HOST_VENV/bin/pip" freeze > "$OUT/host-pip-freeze.txt" 2>/dev/null || true
    HOST_VENV_MIB=$(du -sm "$HOST_VENV" | cut -f1)
    log "host: pip install took $((SECONDS - t0)) s; host venv size: $HOST_VENV_MIB MiB${HOST_FRESH:+ (fresh)}"
    printf 'host_venv_mib %s\n' "$HOST_VENV_MIB" >> "$OUT/sizes.txt"
}
HOST_FRESH=""

# ---------------------------------------------------------------- steps
run_step_guest() {
    local step=$1 rc=0
    mkdir -p "$OUT/arm/$step"
    recheck_binfmt
    log "guest ($QEMU_CPU): step $step"
    SHOW=1 bg_run "$OUT/arm/$step.log" "${GUEST[@]}" env EDGEFACE_ARM_SIDE=guest EDGEFACE_ARM_OUT="/work/out/arm/$step" \
        PYTHON="$VENV_IN/bin/python" timeout -k 20 "$STEP_TIMEOUT" /bin/bash "$STEPS_IN/$step.sh" guest || rc=$?
    echo "$rc" > "$OUT/arm/$step.status"
    [ "$rc" = 0 ] || log "guest step $step FAILED (exit $rc; log $OUT/arm/$step.log)"
}

run_step_host() {
    local step=$1 rc=0 pybin
    mkdir -p "$OUT/host/$step"
    pybin=$(dirname "$(command -v "$HOST_PYTHON")")
    log "host: step $step"
    SHOW=1 bg_run "$OUT/host/$step.log" env -C "$OUT/host" PATH="$pybin:$PATH" EDGEFACE_ARM_SIDE=host \
        EDGEFACE_ARM_OUT="$OUT/host/$step" PYTHON="$(command -v "$HOST_PYTHON")" EDGEFACE_REPO="$REPO" \
        EDGEFACE_SHARED="$SHARED" EDGEFACE_ARM_CPU="$CPU" ${EF_HOME:+EDGEFACE_HOME="$EF_HOME"} \
        timeout -k 20 "$STEP_TIMEOUT" bash "$SCRIPT_DIR/steps/$step.sh" host || rc=$?
    echo "$rc" > "$OUT/host/$step.status"
    [ "$rc" = 0 ] || log "host step $step FAILED (exit $rc; log $OUT/host/$step.log)"
}

# ---------------------------------------------------------------- main
T_START=$SECONDS
ensure_host_tools
setup_binfmt
if [ "$REBUILD" = 1 ]; then log "--rebuild: removing $ROOTFS"; safe_rmtree "$ROOTFS"; fi
if [ ! -f "$ROOTFS/.edgeface-rootfs" ]; then
    t=$SECONDS; build_rootfs; log "rootfs built in $((SECONDS - t)) s"
else
    log "reusing cached rootfs $ROOTFS ($(cut -d' ' -f3 "$ROOTFS/.edgeface-rootfs"))"
fi
copy_interp_into "$ROOTFS"
case "$OUT" in /|"$HOME"|"$REPO"|"$REPO"/*) die "--out $OUT would delete too much; pick an empty folder" ;; esac
safe_rmtree "$OUT"; mkdir -p "$OUT/arm" "$OUT/host"
mount_guest
log "guest: $(guest uname -m) $(guest /bin/sh -c '. /etc/os-release; echo $PRETTY_NAME'), QEMU_CPU=$QEMU_CPU, $(guest python3 --version)"
if [ -n "$WHEELS" ]; then install_wheels; else install_edgeface; fi
if [ "$NO_HOST" = 0 ] && [ "$SHELL_MODE" = 0 ] && [ -z "$HOST_PYTHON" ]; then install_host_runtime; HOST_PYTHON=$HOST_VENV/bin/python; fi

if [ "$SHELL_MODE" = 1 ]; then
    log "interactive guest shell (exit to unmount and leave)"
    guest env EDGEFACE_ARM_SIDE=guest PYTHON="$VENV_IN/bin/python" /bin/bash -i || true
    exit 0
fi
if [ "$BUILD_ONLY" = 1 ]; then log "--build-only: done in $((SECONDS - T_START)) s"; exit 0; fi

for s in "${STEPS[@]}"; do run_step_guest "$s"; done
unmount_all || exit 3
MOUNTS_ACTIVE=0
if [ "$NO_HOST" = 1 ]; then
    fails=0; for s in "${STEPS[@]}"; do [ "$(cat "$OUT/arm/$s.status")" = 0 ] || fails=$((fails + 1)); done
    log "done in $((SECONDS - T_START)) s (guest only)"
    echo "$(( ${#STEPS[@]} - fails )) passed, $fails failed"
    [ "$fails" = 0 ]; exit $?
fi
for s in "${STEPS[@]}"; do run_step_host "$s"; done
log "steps done in $((SECONDS - T_START)) s; comparing"
"$HOST_PYTHON" "$SCRIPT_DIR/compare.py" --arm "$OUT/arm" --host "$OUT/host" --shared "$SHARED" \
    ${EF_HOME:+--edgeface-home "$EF_HOME"} || CHECK_RC=$?
exit "$CHECK_RC"
