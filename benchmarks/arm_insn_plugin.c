/*
 * edgeface: a QEMU TCG plugin that counts executed guest instructions, summed over all guest
 * threads (vCPUs), and reports the running total whenever the guest makes a "marker" system call.
 *
 *   qemu-aarch64 -cpu cortex-a72 -plugin libedgeface_insn.so,out=FILE[,nr=N] ...
 *
 * The guest marks a point with syscall(N, tag) (default N = 0xED6E, which no Linux ABI uses; QEMU
 * answers -ENOSYS and the guest goes on). Each mark appends "mark TAG VCPU TOTAL" to FILE, where
 * TOTAL is the number of guest instructions executed so far by all threads. At exit, "vcpu I N"
 * per thread that ran and "total N" close the file. A script subtracts the totals of two marks to
 * get what ran in between: start-up, imports and model loading cancel out.
 *
 * Counting is per translation block: when a block starts executing, its instruction count is
 * added to the counter of the vCPU that runs it (one counter per vCPU slot, atomic adds, so
 * concurrent threads are not lost). A block left early (a fault in its middle) is counted whole,
 * which is rare and does not happen on the paths measured.
 *
 * Built against include/qemu/qemu-plugin.h of the installed QEMU (Debian's qemu 7.2 source
 * package): QEMU refuses a plugin whose API version does not match its own.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define SLOTS 256
static uint64_t counts[SLOTS];
static int64_t mark_nr = 0xED6E;
static FILE *out;

static uint64_t total(void)
{
    uint64_t t = 0;
    for (int i = 0; i < SLOTS; i++) {
        t += __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
    }
    return t;
}

static void on_tb_exec(unsigned int vcpu, void *udata)
{
    __atomic_fetch_add(&counts[vcpu % SLOTS], (uint64_t)(uintptr_t)udata, __ATOMIC_RELAXED);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    if (num != mark_nr) {
        return;
    }
    fprintf(out, "mark %" PRIu64 " %u %" PRIu64 "\n", a1, vcpu, total());
    fflush(out);
}

static void on_exit_cb(qemu_plugin_id_t id, void *p)
{
    for (int i = 0; i < SLOTS; i++) {
        if (counts[i]) {
            fprintf(out, "vcpu %d %" PRIu64 "\n", i, counts[i]);
        }
    }
    fprintf(out, "total %" PRIu64 "\n", total());
    fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "nr=", 3) == 0) {
            mark_nr = strtoll(argv[i] + 3, NULL, 0);
        } else {
            fprintf(stderr, "edgeface insn plugin: unknown argument '%s' (use out=FILE, nr=N)\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "edgeface insn plugin: needs out=FILE\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "edgeface insn plugin: cannot write %s\n", path);
        return -1;
    }
    fprintf(out, "plugin edgeface-insn target=%s\n", info->target_name);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
