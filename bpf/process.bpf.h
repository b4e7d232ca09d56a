/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process.bpf.h: exec, fork and exit. These also maintain the tracked map:
 * a child inherits its parent's state in sched_process_fork, before it runs
 * a single instruction, so userspace never races a new child.
 */
#ifndef NBW_PROCESS_BPF_H
#define NBW_PROCESS_BPF_H

#include "path.bpf.h"
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

/*
 * The environment, read apart from argv so that no argument length hides a
 * variable, and all of it (up to NBW_ENV_SCAN_MAX variables) so that no
 * padding does. Each string is found through the envp[] array the kernel
 * has just laid out on the new stack (mm->start_stack: argc, argv[], NULL,
 * envp[], NULL), before the program runs: nothing the program did can have
 * changed it yet. The strings are contiguous (copy_strings), so a string's
 * length is the gap to the next one. One variable per bpf_loop() step; its
 * name is looked up in env_names and, if listed, "NAME=value" is appended
 * to blob 4. Any bound hit is flagged, never silent.
 */
struct nbw_env_scan {
	struct nbw_event_buf *b;
	__u64 envp; /* user address of envp[0] */
	__u64 env_start, env_end;
	__u32 envc; /* variables to scan */
	__u32 off;  /* next write offset in b->str */
	__u32 end;  /* blob 4 ends here */
	__u32 scanned;
	__u32 cut;
};

/* Cut "NAME=value..." down to NAME, NUL padded, in place; false if there is
 * no '=' in it. Word-wise and without branches: a byte loop with a branch
 * per byte multiplies the verifier's states (by ~30 here). */
#define NBW_BYTES(c) (0x0101010101010101ULL * (c))
static __always_inline bool nbw_env_name(struct nbw_env_key *k)
{
	__u64 w[4], keep_rest = ~0ULL, found = 0;

	_Static_assert(sizeof(k->name) == sizeof(w), "four words");
	__builtin_memcpy(w, k->name, sizeof(w));
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u64 x = w[i] ^ NBW_BYTES('=');
		/* high bit of each zero byte of x: exact up to the first one */
		__u64 t = (x - NBW_BYTES(1)) & ~x & NBW_BYTES(0x80);
		__u64 low = t & -t;	       /* the first '=' of this word */
		__u64 nz = (low | -low) >> 63; /* 1 if there is one */

		/* bytes before the first '=', or all of them if none */
		w[i] &= ((low >> 7) - 1) & keep_rest;
		keep_rest &= nz - 1;
		found |= nz;
	}
	__builtin_memcpy(k->name, w, sizeof(w));
	return found;
}

static long nbw_env_step(__u32 i, struct nbw_env_scan *s)
{
	struct nbw_event_buf *b = s->b;
	struct nbw_env_key k = {};
	__u32 off = s->off;
	__u64 p[2], next, len, n;
	long got;

	if (i >= s->envc)
		return 1;
	/* envp[i] and envp[i + 1] (the NULL after the last) in one read */
	if (bpf_probe_read_user(p, sizeof(p), (void *)(s->envp + (__u64)i * 8))) {
		s->cut = 1;
		return 1;
	}
	/* p[] is left as the helper wrote it: a register spilled into it
	 * would make the verifier track it, and it cannot track a slot a
	 * helper wrote (6.x: "callback leftover stack slots"). */
	next = i + 1 == s->envc ? s->env_end : p[1];
	if (p[0] < s->env_start || next > s->env_end || next <= p[0]) {
		s->cut = 1; /* not the layout this scan knows: say so */
		return 1;
	}
	s->scanned = i + 1;
	bpf_probe_read_user_str(k.name, sizeof(k.name), (void *)p[0]);
	if (!nbw_env_name(&k))
		return 0;
	if (!bpf_map_lookup_elem(&env_names, &k))
		return 0;
	len = next - p[0]; /* NUL included */
	n = len > NBW_ENV_ENTRY_MAX ? NBW_ENV_ENTRY_MAX : len;
	if (off + n > s->end) {
		s->cut = 1; /* blob 4 is full */
		return 1;
	}
	if (len > n)
		s->cut = 1;
	/* A constant size keeps the verifier from tracking n back into p[]
	 * (see above). The string ends within n bytes, and the slack after
	 * NBW_STR_AREA (maps.h) takes a full read. */
	nbw_barrier_var(off);
	off &= NBW_STR_AREA - 1;
	got = bpf_probe_read_user_str(&b->str[off], NBW_ENV_ENTRY_MAX, (void *)p[0]);
	if (got <= 0 || off + got > s->end) {
		s->cut = 1; /* unreadable, or changed under us */
		return 1;
	}
	s->off = off + got;
	return 0;
}

static __always_inline void nbw_put_env(struct nbw_event_buf *b, struct mm_struct *mm, __u32 argc,
					__u32 envc, __u32 *used)
{
	struct nbw_env_scan s = {
		.b = b,
		.env_start = BPF_CORE_READ(mm, env_start),
		.env_end = BPF_CORE_READ(mm, env_end),
		.envc = envc,
		.off = *used,
	};
	__u64 stack = BPF_CORE_READ(mm, start_stack), argc_seen = 0;

	b->ev.args[3] = envc;
	if (envc == 0)
		return;
	if (s.off >= NBW_STR_AREA || bpf_probe_read_user(&argc_seen, 8, (void *)stack) ||
	    argc_seen != argc) {
		b->ev.hdr.flags |= NBW_F_ENV_CUT;
		return;
	}
	/* the room left in the area (maps.h), at most one blob */
	s.end = NBW_STR_AREA - s.off < NBW_STR_MAX ? NBW_STR_AREA : s.off + NBW_STR_MAX;
	s.envp = stack + 8 * ((__u64)argc + 2);
	if (s.envc > NBW_ENV_SCAN_MAX) {
		s.envc = NBW_ENV_SCAN_MAX;
		s.cut = 1;
	}
	bpf_loop(s.envc, nbw_env_step, &s, 0);
	b->ev.args[4] = s.scanned;
	if (s.cut)
		b->ev.hdr.flags |= NBW_F_ENV_CUT;
	if (s.off > *used && s.off - *used <= NBW_STR_MAX) {
		b->ev.str_len[4] = s.off - *used;
		*used = s.off;
	}
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
	unsigned long arg_start, arg_end;
	__u32 used = 0, argc;
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

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	argc = BPF_CORE_READ(bprm, argc);
	b->ev.args[0] = argc;
	b->ev.args[1] = arg_end - arg_start;
	if (arg_end > arg_start) {
		__u32 len = arg_end - arg_start;

		if (len > NBW_ARGV_MAX) {
			len = NBW_ARGV_MAX;
			b->ev.hdr.flags |= NBW_F_TRUNCATED;
		}
		nbw_put_bytes(b, 1, (void *)arg_start, len, true, &used);
	}
	nbw_put_cwd(b, 2, &used);
	/* The container a process runs in, read now: by the time userspace
	 * reads /proc a short-lived process may be gone. */
	nbw_put_kernel_str(b, 3, BPF_CORE_READ(nbw_cgroup_node(task), name), &used);
	/* Userspace reads identity and loader variables from blob 4 and never
	 * prints the rest: the environment may hold secrets. */
	nbw_put_env(b, mm, argc, BPF_CORE_READ(bprm, envc), &used);
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
		nbw_seccomp_on_exit(task);
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
