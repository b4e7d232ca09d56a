// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * recorder.bpf.c: which syscalls a process tree makes, for `nbwarden seccomp
 * record`. One bit per syscall number, set in the kernel: no event per
 * syscall, nothing copied, and the set is read once when recording ends.
 *
 * The tree: userspace sets the bits of the first processes (rec_pids);
 * every fork of a recorded process adds the child, and the last thread's
 * exit removes it. Everyone else pays one inlined array lookup per syscall,
 * and only while a recording runs (the program is loaded for it alone).
 *
 * sys_enter runs after seccomp: a syscall an installed filter refuses is not
 * seen, so a workload is recorded outside any filter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "recorder_abi.h"
#include "bits.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One bit per tgid: is this process part of the recorded tree? Mmapable so
 * userspace adds the first processes with atomic ops, racing the kernel's
 * fork and exit hooks safely. Sized for PID_MAX_LIMIT. */
#define NBW_REC_PID_LIMIT (4 * 1024 * 1024)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NBW_REC_PID_LIMIT / 64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rec_pids SEC(".maps");

/* The recorded syscalls, one value shared by all CPUs: a bit is written
 * (atomically) the first time only, after that every CPU just reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nbw_rec_syscalls);
} rec_syscalls SEC(".maps");

__u64 nbw_rec_out_of_range = 0; /* syscall numbers >= NBW_REC_NR_MAX */
__u64 nbw_rec_forks = 0;	/* processes added to the tree by fork */
__u64 nbw_rec_exits = 0;	/* processes of the tree that exited */

SEC("raw_tp/sys_enter")
int nbw_rec_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	long nr = ctx->args[1];
	struct nbw_rec_syscalls *s;
	__u64 bit, *w;

	if (!nbw_bit_test(&rec_pids, tgid))
		return 0;
	if (nr < 0 || nr >= NBW_REC_NR_MAX) {
		__sync_fetch_and_add(&nbw_rec_out_of_range, 1);
		return 0;
	}
	s = bpf_map_lookup_elem(&rec_syscalls, &zero);
	if (!s)
		return 0;
	w = &s->w[(nr >> 6) & (NBW_REC_WORDS - 1)];
	bit = 1ULL << (nr & 63);
	if (!(*w & bit))
		__sync_fetch_and_or(w, bit);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int nbw_rec_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);

	/* A new thread shares its process's bit already. */
	if (ptgid == ctgid || !nbw_bit_test(&rec_pids, ptgid))
		return 0;
	if (nbw_bit_set(&rec_pids, ctgid, true))
		__sync_fetch_and_add(&nbw_rec_forks, 1);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int nbw_rec_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!nbw_bit_test(&rec_pids, tgid) || !nbw_group_dead(task))
		return 0;
	if (nbw_bit_set(&rec_pids, tgid, false))
		__sync_fetch_and_add(&nbw_rec_exits, 1);
	return 0;
}
