/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * seccomp.bpf.h: syscalls a target's seccomp filter refused. The filter
 * runs before the sys_enter tracepoint, so a refused syscall is seen only at
 * sys_exit: for targets under a filter (filtered_bits, set at exec when the
 * task has one, or when it installs one), every syscall's entry is noted
 * and an exit with an error and no entry is a refusal. Only filtered
 * targets pay for this; everyone else pays one bit test per syscall.
 *
 * SECCOMP_RET_TRAP skips the syscall too, with its registers rolled back
 * (the exit's return value is the syscall number) and SIGSYS pending on
 * the thread. SECCOMP_RET_KILL_* never returns: the thread (or process)
 * dies of SIGSYS, the kernel marking the killed thread's seccomp mode
 * DEAD; its exit reports the syscall from its saved registers
 * (nbw_seccomp_on_exit). An i386 syscall (int 0x80) is flagged: its number
 * and arguments are i386's; an x32 one carries 0x40000000 in its number.
 */
#ifndef NBW_SECCOMP_BPF_H
#define NBW_SECCOMP_BPF_H

#include "common.bpf.h"

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

#define NBW_SIGSYS 31

/* One SECCOMP event: the refused syscall in the ABI it was made in (i386
 * passes its arguments in bx cx dx si di bp). */
static __always_inline void nbw_seccomp_report(struct pt_regs *regs, long nr, long ret, __u32 flags)
{
	struct task_struct *task = nbw_task();
	struct nbw_event_buf *b;
	__u64 a[6] = {};

	if (nbw_in_ia32_syscall(task))
		flags |= NBW_F_SYSCALL_I386;
	b = nbw_begin(NBW_EV_SECCOMP, nr, ret);
	if (!b)
		return;
	if (regs && (flags & NBW_F_SYSCALL_I386)) {
		a[0] = (__u32)BPF_CORE_READ(regs, bx);
		a[1] = (__u32)BPF_CORE_READ(regs, cx);
		a[2] = (__u32)BPF_CORE_READ(regs, dx);
		a[3] = (__u32)BPF_CORE_READ(regs, si);
		a[4] = (__u32)BPF_CORE_READ(regs, di);
		a[5] = (__u32)BPF_CORE_READ(regs, bp);
	} else if (regs) {
		nbw_syscall_args(regs, a);
	}
	__builtin_memcpy(b->ev.args, a, sizeof(a));
	b->ev.hdr.flags |= flags;
	nbw_submit(b, 0);
}

/* sys_exit of a filtered target. True if the filter refused the syscall
 * (then it never ran, and nothing else is to be done for it). */
static __always_inline bool nbw_seccomp_exit(struct pt_regs *regs, __u64 id, long nr, long ret)
{
	__u32 *m = bpf_map_lookup_elem(&seccomp_entered, &id);
	struct task_struct *task;
	__u64 sigs;

	if (m && *m) {
		*m = 0;
		return false;
	}
	task = nbw_task();
	if (nbw_seccomp_dead(task))
		return true; /* killed: its exit reports it (nbw_seccomp_on_exit) */
	if (ret >= -4095 && ret < 0) {
		nbw_seccomp_report(regs, nr, ret, 0);
		return true;
	}
	sigs = BPF_CORE_READ(task, pending.signal.sig[0]);
	if (ret == nr && (sigs & (1ULL << (NBW_SIGSYS - 1)))) {
		nbw_seccomp_report(regs, nr, 0, NBW_F_SECCOMP_TRAP);
		return true;
	}
	return false;
}

/* A filtered process's thread exits. If a KILL action killed it, that is
 * the refusal's only trace: report it (for a target, as sys_exit does),
 * naming whether the process dies with it. */
static __always_inline void nbw_seccomp_on_exit(struct task_struct *task)
{
	struct pt_regs *regs;
	__u32 flags = NBW_F_SECCOMP_KILL;

	if (!nbw_seccomp_dead(task) || !nbw_is_tracked(BPF_CORE_READ(task, tgid)))
		return;
	regs = nbw_current_user_regs();
	if (BPF_CORE_READ(task, signal, flags) & 0x4 /* SIGNAL_GROUP_EXIT */)
		flags |= NBW_F_SECCOMP_KILL_PROCESS;
	nbw_seccomp_report(regs, regs ? BPF_CORE_READ(regs, orig_ax) : -1, 0, flags);
}

#endif /* NBW_SECCOMP_BPF_H */
