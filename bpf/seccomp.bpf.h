/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * seccomp.bpf.h: syscalls a target's seccomp filter refused. The filter
 * runs before the sys_enter tracepoint, so a refused syscall is seen only at
 * sys_exit: for targets under a filter (filtered_bits, set at exec when the
 * task has one, or when it installs one), every syscall's entry is noted
 * and an exit with an error and no entry is a refusal. Only filtered
 * targets pay for this; everyone else pays one bit test per syscall.
 */
#ifndef NBW_SECCOMP_BPF_H
#define NBW_SECCOMP_BPF_H

#include "event.bpf.h"

#define SECCOMP_MODE_FILTER_ 2

/* How many tgids have their filtered bit set: every syscall of every
 * process asks, and on most hosts the answer is none, read in one load. */
__u64 nbw_filtered_procs = 0;

static __always_inline bool nbw_is_filtered(__u32 tgid)
{
	return nbw_filtered_procs && nbw_bit_test(&filtered_bits, tgid);
}

static __always_inline void nbw_mark_filtered(__u32 tgid, bool on)
{
	if (nbw_bit_set(&filtered_bits, tgid, on))
		__sync_fetch_and_add(&nbw_filtered_procs, on ? 1 : -1);
}

/* At exec (or after seccomp()) of a target: is it under a filter now? */
static __always_inline void nbw_seccomp_check_task(struct task_struct *task, __u32 tgid)
{
	if (BPF_CORE_READ(task, seccomp.mode) == SECCOMP_MODE_FILTER_)
		nbw_mark_filtered(tgid, true);
}

static __always_inline void nbw_seccomp_enter(__u64 id)
{
	__u32 *m = bpf_map_lookup_elem(&seccomp_entered, &id);
	__u32 one = 1;

	if (m) {
		*m = 1;
		return;
	}
	if (bpf_map_update_elem(&seccomp_entered, &id, &one, BPF_ANY))
		nbw_count(NBW_CNT_SECCOMP_FULL);
}

/* sys_exit of a filtered target. True if the filter refused the syscall
 * (then it never ran, and nothing else is to be done for it). */
static __always_inline bool nbw_seccomp_exit(struct pt_regs *regs, __u64 id, long nr, long ret)
{
	__u32 *m = bpf_map_lookup_elem(&seccomp_entered, &id);
	struct nbw_event_buf *b;
	__u64 a[6];

	if (m && *m) {
		*m = 0;
		return false;
	}
	if (ret >= 0 || ret < -4095)
		return false;
	b = nbw_begin(NBW_EV_SECCOMP, nr, ret);
	if (!b)
		return true;
	nbw_syscall_args(regs, a);
	__builtin_memcpy(b->ev.args, a, sizeof(a));
	nbw_submit(b, 0);
	return true;
}

#endif /* NBW_SECCOMP_BPF_H */
