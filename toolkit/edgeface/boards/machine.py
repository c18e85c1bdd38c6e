"""This machine: the ONE place in edgeface that reads /proc, /sys and /etc.

- what the board and CPU are: `read_machine()` (the texts of /proc/device-tree/model and
  /proc/cpuinfo, `platform.machine()`), `parse_cpuinfo` (a pure parser of cpuinfo text: x86 or
  ARM, with the ARM core names of `ARM_PARTS`), `read_meminfo()`;
- what a benchmark was measured on: `machine_info()` (CPU, board, OS, kernel, Python and runtime
  versions, governor, max frequency, temperature, load), `thermal_c()`, `load_avg()`,
  `dist_version()`;
- this process's memory: `peak_rss_mb()` (VmHWM) and `current_rss_mb()`, the texts of its /proc/self
  files (`read_self_proc`, parsed by `boards.process_memory`) and `clear_referenced()`; the cores it may run
  on: `usable_cores()` (its CPU affinity);
- whether the board throttled (a Raspberry Pi's firmware flags, `throttled()`: sysfs `get_throttled`,
  else `vcgencmd get_throttled`; `describe_throttled` names the bits) and the CPU's current clock
  (`cpu_freq_mhz()`).

`boards.profiles` (target detection), `option_resolution.resolve_options`, `app.doctor` and `tools.bench`
use these; anything that
interprets the machine takes the texts as arguments, so it is testable with the text of any board.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
OS_RELEASE = Path("/etc/os-release")
THERMAL_ZONE0 = Path("/sys/class/thermal/thermal_zone0/temp")
CPUFREQ0 = Path("/sys/devices/system/cpu/cpu0/cpufreq")
SELF_STATUS = Path("/proc/self/status")
SELF_STATM = Path("/proc/self/statm")
# the Raspberry Pi firmware's throttle flags (kernel 5.x+ Pi OS), the same bits as `vcgencmd get_throttled`
PI_THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")

#: ARM "CPU part" ids (implementer 0x41) of the cores found on boards
ARM_PARTS = {
    "0xb76": "ARM1176", "0xc07": "Cortex-A7", "0xc08": "Cortex-A8", "0xc09": "Cortex-A9", "0xc0f": "Cortex-A15",
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
    "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2",
    "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
}


# ----------------------------------------------------------------------------- board and CPU

@dataclass
class CpuInfo:
    """What /proc/cpuinfo says (fields absent on a platform stay empty)."""

    model_name: str = ""  # x86 "model name", or the ARM core name from implementer/part
    cores: int = 0  # "processor" entries
    features: tuple = ()  # ARM "Features" / x86 "flags" (of the first core)
    arch: str = ""  # "arm64", "arm", "x86" or "" (unknown)
    cpu_part: str = ""  # ARM "CPU part", e.g. 0xd08
    hardware: str = ""  # "Hardware" line (e.g. BCM2835)
    board_model: str = ""  # "Model" line (Raspberry Pi OS adds it)

    def has(self, *flags: str) -> bool:
        return any(f in self.features for f in flags)


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse the text of /proc/cpuinfo (x86 or ARM)."""
    info = CpuInfo()
    feats: Optional[list] = None
    implementer = ""
    arch_line = ""
    for line in (text or "").splitlines():
        if ":" not in line:
            continue
        raw_key, _, value = line.partition(":")
        key, value = raw_key.strip().lower(), value.strip()
        if key == "processor" and value.isdigit():
            info.cores += 1
        elif key == "model name" and not info.model_name:
            info.model_name = value
        elif key in ("features", "flags") and feats is None:
            feats = value.split()
            if key == "flags":
                info.arch = "x86"
        elif key == "cpu part" and not info.cpu_part:
            info.cpu_part = value.lower()
        elif key == "cpu implementer" and not implementer:
            implementer = value.lower()
        elif key == "cpu architecture" and not arch_line:
            arch_line = value
        elif key == "hardware":
            info.hardware = value
        elif raw_key.strip() == "Model":  # Raspberry Pi OS; x86's lowercase "model" is a number
            info.board_model = value
    info.features = tuple(feats or ())
    if info.arch != "x86":
        if "asimd" in info.features:
            info.arch = "arm64"  # a 64-bit kernel lists asimd (Advanced SIMD = NEON)
        elif "neon" in info.features or arch_line or info.cpu_part:
            info.arch = "arm"  # 32-bit kernel (also on ARMv8 cores): lists neon
    if info.arch in ("arm", "arm64"):
        core = ARM_PARTS.get(info.cpu_part) if implementer in ("0x41", "") else None
        if core:
            info.model_name = core
        elif not info.model_name:
            info.model_name = f"ARM core (implementer {implementer or '?'}, part {info.cpu_part or '?'})"
    return info


def read_text(path, limit: int = 1 << 20) -> Optional[str]:
    """A small system file's text (NULs removed), or None if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data.replace(b"\x00", b"").decode("utf-8", "replace").strip()


def read_machine() -> tuple:
    """(board model text or None, /proc/cpuinfo text or None, platform.machine()) of this machine."""
    return read_text(DEVICE_TREE_MODEL), read_text(CPUINFO), platform.machine()


def read_meminfo() -> Optional[str]:
    """The text of /proc/meminfo, or None."""
    return read_text(MEMINFO)


# ----------------------------------------------------------------------------- what a benchmark ran on

def cpu_model(cpuinfo_text: Optional[str] = None) -> str:
    """The CPU as /proc/cpuinfo names it: its first "model name", "Hardware", "Processor" or
    "CPU part" line that is not a number, else what `platform` says."""
    text = cpuinfo_text if cpuinfo_text is not None else (read_text(CPUINFO) or "")
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields.setdefault(k.strip().lower(), v.strip())
    for k in ("model name", "hardware", "processor", "cpu part"):
        v = fields.get(k)
        if v and not v.isdigit():
            return v
    return platform.processor() or platform.machine()


def os_name() -> str:
    """PRETTY_NAME of /etc/os-release, else `platform.platform()`."""
    for line in (read_text(OS_RELEASE) or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def dist_version(dist: str) -> Optional[str]:
    """The installed version of a distribution (`onnxruntime`, `ai-edge-litert`...), or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(dist)
        except PackageNotFoundError:
            return None
    except ImportError:  # pragma: no cover
        return None


def thermal_c() -> Optional[float]:
    """The SoC temperature (thermal zone 0), degrees C, or None."""
    t = read_text(THERMAL_ZONE0)
    try:
        return round(int(t) / 1000.0, 1) if t else None
    except ValueError:
        return None


def load_avg() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def machine_info() -> dict:
    """What the numbers were measured on."""
    max_freq = read_text(CPUFREQ0 / "cpuinfo_max_freq")
    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "board": read_text(DEVICE_TREE_MODEL),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtimes": {d: dist_version(d) for d in ("ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow")},
        "governor": read_text(CPUFREQ0 / "scaling_governor"),
        "max_freq_mhz": int(max_freq) // 1000 if max_freq and max_freq.isdigit() else None,
        "thermal_c_start": thermal_c(),
        "load_avg_start": load_avg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def cpu_freq_mhz() -> Optional[int]:
    """CPU 0's current clock (cpufreq scaling_cur_freq), MHz, or None."""
    t = read_text(CPUFREQ0 / "scaling_cur_freq")
    return int(t) // 1000 if t and t.isdigit() else None


#: the Raspberry Pi firmware's throttle bits (`vcgencmd get_throttled`)
THROTTLE_BITS = {
    0: "under-voltage now", 1: "ARM frequency capped now", 2: "throttled now", 3: "soft temperature limit now",
    16: "under-voltage occurred", 17: "ARM frequency capping occurred", 18: "throttling occurred",
    19: "soft temperature limit occurred",
}


def parse_throttled(text: Optional[str]) -> Optional[int]:
    """The flags from sysfs's text ("50000" hex, no prefix) or vcgencmd's ("throttled=0x50000"), or None."""
    if not text:
        return None
    t = text.strip().split("=", 1)[-1].strip()
    try:
        return int(t, 16)
    except ValueError:
        return None


def throttled() -> Optional[int]:
    """The Raspberry Pi firmware's throttle flags now (sysfs, else `vcgencmd get_throttled`), or None
    where neither tells (not a Pi, or no firmware interface)."""
    v = parse_throttled(read_text(PI_THROTTLED))
    if v is not None:
        return v
    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_throttled(r.stdout) if r.returncode == 0 else None


def describe_throttled(flags: Optional[int]) -> List[str]:
    """The names of the set throttle bits (empty: none set, or unknown)."""
    return [name for bit, name in THROTTLE_BITS.items() if flags and flags >> bit & 1]


# ----------------------------------------------------------------------------- this process's memory

def _status_mb(field_name: str) -> Optional[float]:
    for line in (read_text(SELF_STATUS) or "").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB.

    Linux: VmHWM of /proc/self/status (per address space, so it starts afresh in a new process;
    ru_maxrss would not: Linux keeps the parent's high-water mark across fork + exec).
    Elsewhere ru_maxrss (bytes on macOS, KiB otherwise).
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import resource  # POSIX only; only reached without /proc

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def current_rss_mb() -> Optional[float]:
    """Resident set size of this process now, MB (None without /proc)."""
    s = read_text(SELF_STATM)
    if not s:
        return None
    return int(s.split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


SELF_PROC = Path("/proc/self")


def read_self_proc(name: str) -> Optional[str]:
    """The text of /proc/self/NAME (status, smaps_rollup, smaps), or None if unreadable.

    Read in 64 KiB chunks: a sampler calls this many times a second, and one large read buffer per call (as
    `read_text`'s limit would allocate) costs an mmap and munmap each time; under qemu-user that alone took the
    Zero 2 W row's peak RSS from 269 to 727 MB (measured in the bookworm guest; qemu's bookkeeping of guest
    mappings, presumably). Under qemu-user these are the emulator process's files (the guest program's memory
    plus qemu's own)."""
    chunks = []
    try:
        with open(SELF_PROC / name, "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 16)
                if not b:
                    break
                chunks.append(b)
    except OSError:
        return None
    return b"".join(chunks).decode("utf-8", "replace")


def clear_referenced() -> bool:
    """Clear the accessed ("referenced") bits of all this process's pages: "1" into /proc/self/clear_refs
    (Documentation/filesystems/proc.rst); smaps' `Referenced` then counts only pages touched since. False
    when the kernel does not allow it."""
    try:
        with open(SELF_PROC / "clear_refs", "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


SELF_FD = Path("/proc/self/fd")


def open_fd_count() -> Optional[int]:
    """Open file descriptors of this process now (None without /proc)."""
    try:
        return sum(1 for _ in os.scandir(SELF_FD))
    except OSError:
        return None
