/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * core_fixes.bpf.h: every place the sensor reads a kernel structure whose
 * shape changed between kernel versions, with the change it covers.
 */
#ifndef NBW_CORE_FIXES_BPF_H
#define NBW_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* struct mount is private to fs/ but present in BTF. vfsmount is embedded in
 * it; its offset moved across releases, so take it from BTF, not offsetof. */
static __always_inline struct mount *nbw_real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct vfsmount *nbw_vfsmount(struct mount *m)
{
	return (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
}

/* sched_process_exit gained a group_dead argument in v6.16; older kernels
 * lack it. signal->live is decremented before the tracepoint in every
 * version (kernel/exit.c: do_exit), so "live == 0" means last thread on all. */
static __always_inline bool nbw_group_dead(struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

/* The pid namespace a task lives in (task_active_pid_ns()): the ns of the
 * last upid of its struct pid. nsproxy->pid_ns_for_children differs after
 * unshare(CLONE_NEWPID), so it is not used. */
static __always_inline __u32 nbw_pid_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	return BPF_CORE_READ(up.ns, ns.inum);
}

/* The kernfs node naming the task's cgroup: the pids controller's on v1 and
 * hybrid hosts (runtimes name it after the container), else the v2 one.
 * The subsystem index comes from this build's vmlinux.h; an index the
 * running kernel lacks reads as NULL and the v2 cgroup is used. */
static __always_inline struct kernfs_node *nbw_cgroup_node(struct task_struct *task)
{
	struct kernfs_node *kn = NULL;

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, pids_cgrp_id))
		kn = BPF_CORE_READ(task, cgroups, subsys[pids_cgrp_id], cgroup, kn);
	if (!kn)
		kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	return kn;
}

/* A SECCOMP_RET_KILL_* action marks the thread it kills before it dies:
 * seccomp.mode becomes SECCOMP_MODE_DEAD (v5.17, "seccomp: Invalidate
 * seccomp mode to catch death failures"). Before v5.17 the mode stays
 * FILTER and a kill cannot be told from another SIGSYS death: not reported. */
#define NBW_SECCOMP_MODE_DEAD 3

static __always_inline bool nbw_seccomp_dead(struct task_struct *task)
{
	return BPF_CORE_READ(task, seccomp.mode) == NBW_SECCOMP_MODE_DEAD;
}

/* x86: the thread is in an i386 syscall (int 0x80, sysenter), the kernel's
 * own test (in_ia32_syscall(), which also picks the filter's AUDIT_ARCH).
 * TS_COMPAT is set at entry and cleared only on the return to user mode,
 * so it still holds at sys_exit and in an exit the syscall caused. */
#define NBW_TS_COMPAT 0x0002

static __always_inline bool nbw_in_ia32_syscall(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->thread_info.status))
		return false;
	return BPF_CORE_READ(task, thread_info.status) & NBW_TS_COMPAT;
}

/* The current thread's user registers as saved at kernel entry
 * (task_pt_regs()), for an exit that has no sys_exit to give them.
 * bpf_task_pt_regs came in v5.15; before it, NULL. */
static __always_inline struct pt_regs *nbw_current_user_regs(void)
{
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return NULL;
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#endif /* NBW_CORE_FIXES_BPF_H */
