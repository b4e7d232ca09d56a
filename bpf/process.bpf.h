/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process.bpf.h: exec, fork and exit. These also maintain the tracked map:
 * a child inherits its parent's state in sched_process_fork, before it runs
 * a single instruction, so userspace never races a new child.
 */
#ifndef NBW_PROCESS_BPF_H
#define NBW_PROCESS_BPF_H

#include "common.bpf.h"
#include "model.bpf.h"
#include "seccomp.bpf.h"

#define AT_EMPTY_PATH_ 0x1000

/* Does a kill rule forbid this exec (by the new comm) for this role? */
static __always_inline bool nbw_exec_forbidden(__u32 role)
{
	struct nbw_kill_key k = {.role = role};
	void *kills = nbw_policy_map(&kill_exec);

	if (!kills)
		return false;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	if (bpf_map_lookup_elem(kills, &k))
		return true;
	k.role = NBW_ROLE_ANY;
	return bpf_map_lookup_elem(kills, &k) != NULL;
}

/* An exec from a non-leader thread takes over the leader's id: the window
 * may be under the thread's old id. It moves with the exec. */
static __always_inline bool nbw_exec_in_window(__u32 tid, __u32 old_tid)
{
	struct nbw_model_window *w;

	if (old_tid == tid || old_tid == 0)
		return nbw_window(tid) != NULL;
	w = nbw_window(old_tid);
	if (!w)
		return nbw_window(tid) != NULL;
	nbw_window_put(tid, w);
	nbw_window_del(old_tid);
	return true;
}

static __always_inline int nbw_on_exec(struct task_struct *task, __u32 old_tid,
				       struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 *st = NULL;
	__u32 state;
	struct nbw_event_buf *b;
	struct nbw_inflight *in;
	struct file *file;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, env_end;
	__u32 used = 0;
	__s32 nr = -1;
	bool killed = false;

	if (tgid == nbw_self_tgid)
		return 0;
	if (nbw_is_tracked(tgid))
		st = bpf_map_lookup_elem(&tracked, &tgid);
	if (!st) {
		struct nbw_comm_key k = {.prefixlen = NBW_COMM_LEN * 8};
		void *comms = nbw_policy_map(&candidate_comms);

		bpf_get_current_comm(k.comm, sizeof(k.comm));
		if (!comms || !bpf_map_lookup_elem(comms, &k))
			return 0;
		state = NBW_TRACK_CANDIDATE;
		if (bpf_map_update_elem(&tracked, &tgid, &state, BPF_NOEXIST)) {
			nbw_count(NBW_CNT_TRACKED_FULL);
			return 0;
		}
		nbw_mark(tgid, true);
	} else {
		state = *st;
	}

	nbw_seccomp_check_task(task, tgid);

	/* Enforcement first, whatever happens to the event: SIGKILL from here is
	 * delivered before the new program runs a single instruction. */
	/* A candidate has no role yet (userspace decides within about a
	 * millisecond): only rules for every role apply to it (role 0 has no
	 * entries). */
	if (nbw_exec_forbidden(NBW_TRACK_ROLE(state)) ||
	    (nbw_exec_in_window(tgid, old_tid) &&
	     nbw_model_enforced(NBW_TRACK_ROLE(state), NBW_MODEL_KILL_EXEC))) {
		bpf_send_signal(9 /* SIGKILL */);
		nbw_count(NBW_CNT_KILLED);
		killed = true;
	}

	in = bpf_map_lookup_elem(&inflight, &id);
	if (in)
		nr = in->nr;
	b = nbw_begin(NBW_EV_EXEC, nr, 0);
	if (!b)
		return 0;
	if (killed)
		b->ev.hdr.flags |= NBW_F_KILLED;
	if (in && in->nr == __NR_execveat) {
		b->ev.args[2] = in->args[4];
		if (in->args[4] & AT_EMPTY_PATH_)
			b->ev.hdr.flags |= NBW_F_FILELESS;
	}
	file = BPF_CORE_READ(bprm, file);
	if (BPF_CORE_READ(file, f_inode, __i_nlink) == 0)
		b->ev.hdr.flags |= NBW_F_FILELESS; /* memfd or deleted binary */
	nbw_put_file_path(b, 0, file, &used);

	/* argv, then as much of the environment as fits: the kernel lays the
	 * env strings right after argv (env_start == arg_end), so one read
	 * takes both. Userspace looks only for loader variables (LD_PRELOAD,
	 * ...) in the env part and never prints it: it may hold secrets. */
	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	env_end = BPF_CORE_READ(mm, env_end);
	b->ev.args[0] = BPF_CORE_READ(bprm, argc);
	b->ev.args[1] = arg_end - arg_start;
	if (arg_end > arg_start) {
		__u32 len = arg_end - arg_start;

		if (len > NBW_ARGV_MAX) {
			len = NBW_ARGV_MAX;
			b->ev.hdr.flags |= NBW_F_TRUNCATED;
		}
		b->ev.args[3] = len; /* argv bytes in blob 1; the env follows */
		if (BPF_CORE_READ(mm, env_start) == arg_end && env_end > arg_end) {
			__u64 total = env_end - arg_start;

			len = total > NBW_ARGV_MAX ? NBW_ARGV_MAX : total;
		}
		nbw_put_bytes(b, 1, (void *)arg_start, len, true, &used);
	}
	nbw_put_cwd(b, 2, &used);
	/* The container a process runs in, read now: by the time userspace
	 * reads /proc a short-lived process may be gone. */
	nbw_put_kernel_str(b, 3, BPF_CORE_READ(nbw_cgroup_node(task), name), &used);
	nbw_submit(b, used);
	return 0;
}

static __always_inline int nbw_on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 *st;
	__u32 child_tgid, state;
	struct nbw_inflight *in;
	struct nbw_event_buf *b;
	__s32 nr = -1;
	__u64 flags = 0;

	if (!nbw_is_tracked(tgid))
		return 0;
	st = bpf_map_lookup_elem(&tracked, &tgid);
	if (!st)
		return 0;
	child_tgid = BPF_CORE_READ(child, tgid);
	nbw_model_inherit((__u32)id, BPF_CORE_READ(child, pid), child_tgid == tgid);
	if (child_tgid == tgid)
		return 0; /* a new thread: tracked through its tgid already */
	state = *st;
	if (bpf_map_update_elem(&tracked, &child_tgid, &state, BPF_ANY))
		nbw_count(NBW_CNT_TRACKED_FULL);
	else
		nbw_mark(child_tgid, true);
	if (nbw_is_filtered(tgid))
		nbw_mark_filtered(child_tgid, true); /* filters are inherited */

	in = bpf_map_lookup_elem(&inflight, &id);
	if (in) {
		nr = in->nr;
		if (nr == __NR_clone || nr == __NR_clone3)
			flags = in->args[0];
	}
	b = nbw_begin(NBW_EV_FORK, nr, child_tgid);
	if (!b)
		return 0;
	b->ev.args[0] = child_tgid;
	b->ev.args[1] = flags;
	nbw_submit(b, 0);
	return 0;
}

static __always_inline int nbw_on_exit(struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u32 *st;
	struct nbw_event_buf *b;

	/* Before the tracked test: a process untracked by userspace keeps its
	 * filtered bit until here. */
	if (nbw_is_filtered(tgid)) {
		bpf_map_delete_elem(&seccomp_entered, &id);
		if (nbw_group_dead(task))
			nbw_mark_filtered(tgid, false);
	}
	if (!nbw_is_tracked(tgid))
		return 0;
	bpf_map_delete_elem(&inflight, &id);
	if (nbw_live_windows)
		nbw_window_del(tid);
	st = bpf_map_lookup_elem(&tracked, &tgid);
	if (!st || !nbw_group_dead(task))
		return 0;
	b = nbw_begin(NBW_EV_EXIT, -1, 0);
	if (b) {
		b->ev.args[0] = BPF_CORE_READ(task, exit_code);
		nbw_submit(b, 0);
	}
	nbw_mark(tgid, false);
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

#endif /* NBW_PROCESS_BPF_H */
