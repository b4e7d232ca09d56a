/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * event.bpf.h: building and submitting events. An event is built in a
 * per-CPU scratch value (maps.h: event_buf) and copied to the ring buffer
 * with its exact size, so small events take little room.
 */
#ifndef NBW_EVENT_BPF_H
#define NBW_EVENT_BPF_H

#include "task.bpf.h"

/* Start an event for the current task. Returns NULL only if the per-CPU
 * scratch is missing, which cannot happen once loaded. */
static __always_inline struct nbw_event_buf *nbw_begin(__u16 kind, __s32 nr, __s64 ret)
{
	__u32 zero = 0;
	struct nbw_event_buf *b = bpf_map_lookup_elem(&event_buf, &zero);
	struct task_struct *task = nbw_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *track;

	if (!b)
		return NULL;
	b->ev.hdr.kind = kind;
	b->ev.hdr.abi = NBW_ABI_VERSION;
	b->ev.hdr.size = 0;
	b->ev.hdr.ts_boot_ns = bpf_ktime_get_boot_ns();
	b->ev.hdr.pid = (__u32)id;
	b->ev.hdr.tgid = id >> 32;
	b->ev.hdr.ppid = BPF_CORE_READ(task, real_parent, tgid);
	b->ev.hdr.uid = BPF_CORE_READ(task, cred, uid.val);
	b->ev.hdr.euid = BPF_CORE_READ(task, cred, euid.val);
	/* Candidates' events are flagged (here, for every kind) so userspace can
	 * drop what a rejected candidate did before the kernel learned of the
	 * rejection. Only tracked processes get this far. */
	track = bpf_map_lookup_elem(&tracked, &b->ev.hdr.tgid);
	b->ev.hdr.flags =
		track && NBW_TRACK_STATE(*track) == NBW_TRACK_CANDIDATE ? NBW_F_CANDIDATE : 0;
	/* Judged here, when it happens: userspace learns of a window's close
	 * later than the kernel does. */
	if (nbw_window(b->ev.hdr.pid))
		b->ev.hdr.flags |= NBW_F_MODEL_WINDOW;
	b->ev.hdr.mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	b->ev.hdr.pid_ns = nbw_pid_ns(task);
	b->ev.hdr.net_ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	b->ev.hdr.syscall = nr;
	b->ev.hdr.ret = ret;
	bpf_get_current_comm(b->ev.hdr.comm, sizeof(b->ev.hdr.comm));
	__builtin_memset(b->ev.args, 0, sizeof(b->ev.args));
	__builtin_memset(b->ev.str_len, 0, sizeof(b->ev.str_len));
	return b;
}

/* Waking the reader for every event costs the traced process an irq_work
 * and the reader a context switch per event (measured: most of the tracked
 * overhead). Wake only when this record makes the backlog cross a batch
 * size, or for an exec (a candidate awaits a decision). A reader that is
 * behind is busy draining and needs no more wake-ups; the daemon also
 * drains on a short timer, which bounds the latency of a lone event. */
#define NBW_WAKEUP_BYTES (64 * 1024)

static __always_inline __u64 nbw_wakeup_flags(__u16 kind, __u32 size)
{
	__u64 avail;

	if (kind == NBW_EV_EXEC)
		return BPF_RB_FORCE_WAKEUP;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (avail < NBW_WAKEUP_BYTES && avail + size >= NBW_WAKEUP_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void nbw_submit(struct nbw_event_buf *b, __u32 used)
{
	__u32 size;

	if (used > NBW_STR_AREA)
		used = NBW_STR_AREA;
	size = sizeof(struct nbw_event) + used;
	b->ev.hdr.size = size;
	if (bpf_ringbuf_output(&events, b, size, nbw_wakeup_flags(b->ev.hdr.kind, size)))
		nbw_count(NBW_CNT_RB_FULL);
	else
		nbw_count(NBW_CNT_EVENTS);
}

/* Blob writers. *used is the number of str bytes already filled; a writer
 * whose slot would not fit is skipped (length 0, TRUNCATED flag). */
static __always_inline void nbw_put_user_str(struct nbw_event_buf *b, int slot, const void *uptr,
					     __u32 *used)
{
	__u32 off = *used;
	long n;

	if (off > NBW_STR_AREA - NBW_STR_MAX || slot < 0 || slot >= NBW_NSTR || !uptr) {
		b->ev.hdr.flags |= uptr ? NBW_F_TRUNCATED : 0;
		return;
	}
	nbw_barrier_var(off);
	off &= NBW_STR_AREA - 1;
	n = bpf_probe_read_user_str(&b->str[off], NBW_STR_MAX, uptr);
	if (n <= 0)
		return;
	if (n == NBW_STR_MAX)
		b->ev.hdr.flags |= NBW_F_TRUNCATED;
	nbw_barrier_var(slot);
	b->ev.str_len[slot & 3] = n;
	*used = off + n;
}

static __always_inline void nbw_put_kernel_str(struct nbw_event_buf *b, int slot, const void *kptr,
					       __u32 *used)
{
	__u32 off = *used;
	long n;

	if (off > NBW_STR_AREA - NBW_STR_MAX || slot < 0 || slot >= NBW_NSTR || !kptr)
		return;
	nbw_barrier_var(off);
	off &= NBW_STR_AREA - 1;
	n = bpf_probe_read_kernel_str(&b->str[off], NBW_STR_MAX, kptr);
	if (n <= 0)
		return;
	nbw_barrier_var(slot);
	b->ev.str_len[slot & 3] = n;
	*used = off + n;
}

static __always_inline void nbw_put_bytes(struct nbw_event_buf *b, int slot, const void *ptr,
					  __u32 len, bool user, __u32 *used)
{
	__u32 off = *used;

	if (off > NBW_STR_AREA - NBW_STR_MAX || slot < 0 || slot >= NBW_NSTR)
		return;
	if (len > NBW_STR_MAX) {
		len = NBW_STR_MAX;
		b->ev.hdr.flags |= NBW_F_TRUNCATED;
	}
	if (len == 0)
		return;
	nbw_barrier_var(len);
	len &= 2 * NBW_STR_MAX - 1;
	nbw_barrier_var(off);
	off &= NBW_STR_AREA - 1;
	if (user ? bpf_probe_read_user(&b->str[off], len, ptr)
		 : bpf_probe_read_kernel(&b->str[off], len, ptr))
		return;
	nbw_barrier_var(slot);
	b->ev.str_len[slot & 3] = len;
	*used = off + len;
}

#endif /* NBW_EVENT_BPF_H */
