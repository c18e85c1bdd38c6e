# Sourced by tests/arm/run.sh and benchmarks/arm_insn.sh: a Raspberry Pi /proc/cpuinfo for an
# emulated CPU. ai-edge-litert segfaults under qemu-user when /proc/cpuinfo describes the x86 host,
# and XNNPACK reads the CPU model from it, so both bind-mount this file over /proc/cpuinfo.
#
#   write_pi_cpuinfo a53|a72|a76 FILE [CORES]   Pi 3 / Zero 2 W (Cortex-A53), Pi 4 (Cortex-A72) or
#                                               Pi 5 (Cortex-A76), one block per core
write_pi_cpuinfo() {
    local cpu=$1 dest=$2 n=${3:-$(nproc)} i tmp
    tmp=$dest.tmp.$$
    {
        for ((i = 0; i < n; i++)); do
            if [ "$cpu" = a72 ]; then
                printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
                printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
            elif [ "$cpu" = a53 ]; then
                printf 'processor\t: %d\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
                printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd03\nCPU revision\t: 4\n\n'
            else
                printf 'processor\t: %d\nBogoMIPS\t: 108.00\n' "$i"
                printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n'
                printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
            fi
        done
        if [ "$cpu" = a72 ]; then
            printf 'Revision\t: c03114\nSerial\t\t: 10000000e5d1a2b3\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
        elif [ "$cpu" = a53 ]; then
            printf 'Revision\t: a02082\nSerial\t\t: 00000000c4f1e2d3\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n'
        else
            printf 'Revision\t: d04170\nSerial\t\t: 5e1f0c2a9b3d4e67\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n'
        fi
    } > "$tmp"
    mv "$tmp" "$dest"
}
