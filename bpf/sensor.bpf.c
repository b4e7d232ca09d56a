// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sensor.bpf.c: the nbwarden sensor. Two raw syscall tracepoints and three
 * scheduler tracepoints. raw_tp is the cheapest hook measured on the target
 * kernels and the one that loads everywhere (fentry/LSM are refused on some;
 * docs/kernel.md).
 *
 * Every hook starts with one lookup in the tracked map; an untracked process
 * stops there: no copy, no event. Per-syscall work happens only for targets.
 */
#include "vmlinux.h"
#include <asm/unistd_64.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "events.h"
#include "maps.h"
#include "task.bpf.h"
#include "event.bpf.h"
#include "process.bpf.h"
#include "file.bpf.h"
#include "net.bpf.h"
#include "priv.bpf.h"
#include "seccomp.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline bool nbw_tracked_now(void)
{
	return nbw_is_tracked(bpf_get_current_pid_tgid() >> 32);
}

/* The syscalls each handler owns, listed once: the filter, sys_enter and
 * sys_exit must agree on them. */
#define NBW_CASES_OPEN     \
	case __NR_open:    \
	case __NR_openat:  \
	case __NR_openat2: \
	case __NR_creat:
#define NBW_CASES_NET      \
	case __NR_connect: \
	case __NR_bind:    \
	case __NR_listen:  \
	case __NR_accept:  \
	case __NR_accept4: \
	case __NR_socket:  \
	case __NR_dup2:    \
	case __NR_dup3:
#define NBW_CASES_SIGNAL             \
	case __NR_kill:              \
	case __NR_tkill:             \
	case __NR_tgkill:            \
	case __NR_rt_sigqueueinfo:   \
	case __NR_rt_tgsigqueueinfo: \
	case __NR_pidfd_send_signal:
#define NBW_CASES_PROCESS \
	case __NR_clone:  \
	case __NR_clone3: \
	case __NR_fork:   \
	case __NR_vfork:  \
	case __NR_execve: \
	case __NR_execveat:

/* Every syscall the sensor pairs from enter to exit. Checked before
 * anything else: most syscalls (read, write, futex, epoll...) stop here. */
static __always_inline bool nbw_watched_syscall(long nr)
{
	switch (nr) {
		NBW_CASES_OPEN
		NBW_CASES_NET
		NBW_CASES_SIGNAL
		NBW_CASES_PROCESS
		return true;
	}
	return nbw_priv_blobs(nr) >= 0;
}

SEC("raw_tp/sys_enter")
int nbw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct nbw_inflight in;
	long nr = ctx->args[1];
	__u64 a[6];
	__u64 id;
	bool keep;

	/* Under a seccomp filter every entry is noted: an exit without one is a
	 * refusal (bpf/seccomp.bpf.h). filtered implies tracked, except for a
	 * moment after userspace untracks a process: checked too. */
	if (nbw_filtered_procs) {
		id = bpf_get_current_pid_tgid();
		if (nbw_is_filtered(id >> 32) && nbw_is_tracked(id >> 32))
			nbw_seccomp_enter(id);
	}
	if (!nbw_watched_syscall(nr) || !nbw_tracked_now())
		return 0;
	id = bpf_get_current_pid_tgid();
	nbw_syscall_args((struct pt_regs *)ctx->args[0], a);

	__builtin_memset(&in, 0, sizeof(in));
	in.nr = nr;
	switch (nr) {
		NBW_CASES_OPEN
		keep = nbw_enter_open(&in, a);
		break;
		NBW_CASES_NET
		__builtin_memcpy(in.args, a, sizeof(a));
		keep = nbw_enter_net(&in, a);
		break;
		NBW_CASES_SIGNAL
		keep = nbw_enter_signal(&in, a);
		break;
	case __NR_clone3: {
		__u64 flags = 0; /* struct clone_args starts with flags */

		bpf_probe_read_user(&flags, sizeof(flags), (void *)a[0]);
		in.args[0] = flags;
		keep = true;
		break;
	}
	case __NR_clone:
	case __NR_fork:
	case __NR_vfork:
	case __NR_execve:
	case __NR_execveat:
		__builtin_memcpy(in.args, a, sizeof(a));
		keep = true;
		break;
	default:
		__builtin_memcpy(in.args, a, sizeof(a));
		keep = true; /* nbw_watched_syscall() said so */
		break;
	}
	if (!keep)
		return 0;
	if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
		nbw_count(NBW_CNT_INFLIGHT_FULL);
	return 0;
}

__noinline int nbw_exit_exec_failed(struct nbw_inflight *in, long ret)
{
	struct nbw_event_buf *b;
	__u32 used = 0;
	bool at;

	if (!in)
		return 0;
	at = in->nr == __NR_execveat;
	b = nbw_begin(NBW_EV_EXEC, in->nr, ret);
	if (!b)
		return 0;
	if (at)
		b->ev.args[2] = in->args[4];
	/* str 0: the path as given, str 1: its base dir; no argv, no cwd. */
	nbw_put_raw_path(b, 0, 1, (const char *)in->args[at ? 1 : 0], at ? in->args[0] : AT_FDCWD_,
			 &used);
	nbw_submit(b, used);
	return 0;
}

SEC("raw_tp/sys_exit")
int nbw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct nbw_inflight *in;
	long ret = ctx->args[1];
	__u64 id;
	long nr;
	int blobs;

	if (!nbw_tracked_now())
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
	id = bpf_get_current_pid_tgid();
	if (nbw_is_filtered(id >> 32) && nbw_seccomp_exit(regs, id, nr, ret))
		return 0; /* refused by the filter: it never ran */
	if (nr == __NR_seccomp) {
		if (ret == 0)
			nbw_seccomp_check_task(nbw_task(), id >> 32);
		return 0;
	}
	/* The model guard's exits (bpf/model.bpf.h): judged from the registers
	 * at exit, so reads and closes need no enter/exit pairing. */
	if (nr == __NR_read || nr == __NR_pread64) {
		nbw_model_check_read(regs, nr, ret);
		return 0;
	}
	if (nr == __NR_close) {
		nbw_model_check_close(regs, ret);
		return 0;
	}
	if (!nbw_watched_syscall(nr))
		return 0; /* nothing was kept at enter: skip the pairing lookup */
	in = bpf_map_lookup_elem(&inflight, &id);
	if (!in)
		return 0;

	switch (in->nr) {
		NBW_CASES_OPEN
		nbw_exit_open(in, ret);
		break;
		NBW_CASES_NET
		nbw_exit_net(in, ret);
		break;
		NBW_CASES_SIGNAL
		nbw_exit_signal(in, ret);
		break;
	case __NR_execve:
	case __NR_execveat:
		if (ret < 0)
			nbw_exit_exec_failed(in, ret);
		break;
	case __NR_clone:
	case __NR_clone3:
	case __NR_fork:
	case __NR_vfork:
		break; /* reported by sched_process_fork */
	default:
		blobs = nbw_priv_blobs(in->nr);
		if (blobs >= 0)
			nbw_exit_priv(in, ret, blobs);
		break;
	}
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int nbw_sched_exec(struct bpf_raw_tracepoint_args *ctx)
{
	return nbw_on_exec((struct task_struct *)ctx->args[0], (__u32)ctx->args[1],
			   (struct linux_binprm *)ctx->args[2]);
}

SEC("raw_tp/sched_process_fork")
int nbw_sched_fork(struct bpf_raw_tracepoint_args *ctx)
{
	return nbw_on_fork((struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
}

SEC("raw_tp/sched_process_exit")
int nbw_sched_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return nbw_on_exit((struct task_struct *)ctx->args[0]);
}

/*
 * In-kernel connect denial (policy rules with action: deny). cgroup
 * sock_addr hooks run before the connection is made: returning 0 fails
 * connect() with EPERM. Attached to the cgroup v2 root, so they see every
 * process; untracked ones pay one bit test.
 */
static __always_inline bool nbw_connect_denied(struct nbw_deny_key *k)
{
	__u16 port = k->port;
	void *denies = nbw_policy_map(&deny_connect);

	if (!denies)
		return false;
	if (bpf_map_lookup_elem(denies, k))
		return true;
	k->port = 0;
	if (bpf_map_lookup_elem(denies, k))
		return true;
	k->role = NBW_ROLE_ANY;
	if (bpf_map_lookup_elem(denies, k))
		return true;
	k->port = port;
	return bpf_map_lookup_elem(denies, k) != NULL;
}

static __always_inline int nbw_connect_role(__u32 *role)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *st;

	if (!nbw_is_tracked(tgid))
		return 0;
	st = bpf_map_lookup_elem(&tracked, &tgid);
	if (!st)
		return 0;
	/* A candidate's role is 0 until userspace decides: only rules for every
	 * role apply to it. */
	*role = NBW_TRACK_ROLE(*st);
	return 1;
}

/* Inside a model-load window the policy may refuse every connect. */
static __always_inline bool nbw_window_denies_connect(__u32 role)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return nbw_window(tid) && nbw_model_enforced(role, NBW_MODEL_DENY_CONNECT);
}

SEC("cgroup/connect4")
int nbw_connect4(struct bpf_sock_addr *ctx)
{
	struct nbw_deny_key k = {.family = AF_INET_};
	__u32 ip = ctx->user_ip4;

	if (!nbw_connect_role(&k.role))
		return 1;
	k.port = bpf_ntohs((__u16)ctx->user_port);
	__builtin_memcpy(k.addr, &ip, sizeof(ip));
	if (nbw_connect_denied(&k) || nbw_window_denies_connect(k.role)) {
		nbw_count(NBW_CNT_DENIED);
		return 0;
	}
	return 1;
}

SEC("cgroup/connect6")
int nbw_connect6(struct bpf_sock_addr *ctx)
{
	struct nbw_deny_key k = {.family = AF_INET6_};
	__u32 ip[4];

	if (!nbw_connect_role(&k.role))
		return 1;
	k.port = bpf_ntohs((__u16)ctx->user_port);
	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	__builtin_memcpy(k.addr, ip, sizeof(ip));
	if (nbw_connect_denied(&k) || nbw_window_denies_connect(k.role)) {
		nbw_count(NBW_CNT_DENIED);
		return 0;
	}
	return 1;
}
