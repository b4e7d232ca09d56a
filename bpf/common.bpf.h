/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * common.bpf.h: building and submitting events. An event is built in a
 * per-CPU scratch value (maps.h: event_buf) and copied to the ring buffer
 * with its exact size, so small events take little room.
 */
#ifndef NBW_COMMON_BPF_H
#define NBW_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "maps.h"
#include "core_fixes.bpf.h"
#include "bits.bpf.h"

/* Hide a value's known range from the compiler so a following mask is kept
 * for the verifier (the compiler would drop it as redundant). */
#define nbw_barrier_var(v) asm volatile("" : "+r"(v))

#define NBW_PATH_DEPTH 64 /* dentry components walked before truncating */
#define NBW_STR_MASK (NBW_STR_MAX - 1)
#define AT_FDCWD_ -100
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000

/* The daemon's own tgid: never tracked, so its reads of /proc and of the ring
 * buffer cannot feed back into events. Set before load. */
const volatile __u32 nbw_self_tgid = 0;

static __always_inline void nbw_count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

static __always_inline bool nbw_is_tracked(__u32 tgid)
{
	return nbw_bit_test(&tracked_bits, tgid);
}

/* Set or clear a tgid's bit; the state map is updated by the caller. Order:
 * state before bit when tracking, bit before state when untracking, so a set
 * bit always has a state. */
static __always_inline void nbw_mark(__u32 tgid, bool on)
{
	nbw_bit_set(&tracked_bits, tgid, on);
}

static __always_inline struct task_struct *nbw_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* The six syscall arguments (x86_64: di si dx r10 r8 r9) in one read: r10
 * through di are contiguous in struct pt_regs. */
struct nbw_regs_block {
	__u64 r10, r9, r8, ax, cx, dx, si, di;
};

static __always_inline void nbw_syscall_args(struct pt_regs *regs, __u64 a[6])
{
	struct nbw_regs_block blk = {};

	bpf_probe_read_kernel(&blk, sizeof(blk), __builtin_preserve_access_index(&regs->r10));
	a[0] = blk.di;
	a[1] = blk.si;
	a[2] = blk.dx;
	a[3] = blk.r10;
	a[4] = blk.r8;
	a[5] = blk.r9;
}

/*
 * Model-load windows (bpf/model.bpf.h) are looked up on every event of a
 * target, but exist only while a model loads. nbw_live_windows counts the
 * entries of model_windows so that, almost always, no lookup happens. It
 * must never be lower than the number of entries: it is raised before an
 * insert (and lowered again if the insert fails) and lowered only after a
 * delete succeeded. Expired windows are deleted when found.
 */
__u64 nbw_live_windows = 0;

static __always_inline long nbw_window_put(__u32 tid, struct nbw_model_window *w)
{
	long err;

	if (bpf_map_update_elem(&model_windows, &tid, w, BPF_EXIST) == 0)
		return 0; /* replaced: no new entry */
	__sync_fetch_and_add(&nbw_live_windows, 1);
	err = bpf_map_update_elem(&model_windows, &tid, w, BPF_NOEXIST);
	if (err)
		__sync_fetch_and_add(&nbw_live_windows, -1);
	return err;
}

static __always_inline void nbw_window_del(__u32 tid)
{
	if (bpf_map_delete_elem(&model_windows, &tid) == 0)
		__sync_fetch_and_add(&nbw_live_windows, -1);
}

/* The thread's model-load window if it is open now. */
static __always_inline struct nbw_model_window *nbw_window(__u32 tid)
{
	struct nbw_model_window *w;

	if (!nbw_live_windows)
		return NULL;
	w = bpf_map_lookup_elem(&model_windows, &tid);
	if (!w)
		return NULL;
	if (w->inherited || bpf_ktime_get_boot_ns() < w->closes_at)
		return w;
	nbw_window_del(tid);
	return NULL;
}

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

/*
 * Resolve a (dentry, vfsmount) to an absolute path the way d_path() does,
 * walking d_parent and crossing mounts through mnt_parent/mnt_mountpoint.
 * bpf_d_path() would do this for us but is only allowed in fentry/LSM
 * programs, which some kernels refuse (docs/kernel.md). The path is built
 * backwards into the per-CPU path scratch; it ends at NBW_STR_MAX - 1 (NUL).
 * One component per bpf_loop() step: the verifier checks the step once
 * instead of unrolling NBW_PATH_DEPTH iterations (needs v5.17+).
 */
struct nbw_walk {
	struct nbw_path_buf *pb;
	struct dentry *dentry;
	struct dentry *mnt_root; /* of the current mount: re-read only on a crossing */
	struct mount *mnt;
	struct dentry *pseudo; /* set when the path is one pseudo dentry */
	__u32 pos;
	__u32 done; /* 1: reached the root, 2: out of room */
};

/* d_parent and d_name sit side by side in struct dentry (true since 2.6);
 * one read instead of two per component. CO-RE checks it at load time and
 * falls back to two reads on a kernel where it is not so. */
struct nbw_dentry_block {
	struct dentry *parent;
	__u32 hash;
	__u32 len;
	const unsigned char *name;
};

static __always_inline void nbw_read_dentry(struct dentry *d, struct nbw_dentry_block *blk)
{
	if (bpf_core_field_offset(struct dentry, d_name) ==
	    bpf_core_field_offset(struct dentry, d_parent) + sizeof(void *)) {
		bpf_probe_read_kernel(blk, sizeof(*blk),
				      (void *)d + bpf_core_field_offset(struct dentry, d_parent));
	} else {
		struct qstr q = BPF_CORE_READ(d, d_name);

		blk->parent = BPF_CORE_READ(d, d_parent);
		blk->len = q.len;
		blk->name = q.name;
	}
}

static long nbw_walk_step(__u32 i, struct nbw_walk *w)
{
	/* locals first: CO-RE relocations must not reach into struct nbw_walk */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct nbw_dentry_block blk = {};
	__u32 len, pos = w->pos;

	nbw_read_dentry(dentry, &blk);
	if (dentry == w->mnt_root || dentry == blk.parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != w->mnt_root || mnt == mnt_parent || !mnt_parent) {
			/* The root of the namespace; or a pseudo dentry (memfd, nsfs,
			 * anon inodes) that is its own parent: its name is the path,
			 * as d_path() shows "/memfd:name". */
			if (dentry != w->mnt_root && pos == NBW_STR_MAX - 1)
				w->pseudo = dentry;
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->mnt_root = BPF_CORE_READ(nbw_vfsmount(mnt_parent), mnt_root);
		return 0;
	}
	len = blk.len & 255; /* NAME_MAX */
	if (len + 1 > pos || pos > NBW_STR_MAX - 1) {
		w->done = 2;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&w->pb->d[pos & NBW_STR_MASK], len, blk.name);
	pos -= 1;
	w->pb->d[pos & NBW_STR_MASK] = '/';
	w->pos = pos;
	w->dentry = blk.parent;
	return 0;
}

/* Returns the start offset, with bit 31 set when the walk was cut short. */
static __always_inline __u32 nbw_walk_path(struct nbw_path_buf *pb, struct dentry *dentry,
					   struct vfsmount *vfsmnt)
{
	struct nbw_walk w = {
		.pb = pb,
		.dentry = dentry,
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.mnt = nbw_real_mount(vfsmnt),
		.pos = NBW_STR_MAX - 1,
	};

	pb->d[NBW_STR_MAX - 1] = 0;
	bpf_loop(NBW_PATH_DEPTH, nbw_walk_step, &w, 0);
	if (w.pseudo) {
		struct dentry *pseudo = w.pseudo; /* a local: see nbw_walk_step */
		struct qstr name = BPF_CORE_READ(pseudo, d_name);
		__u32 len = name.len & 255;
		char first = 0;

		/* nsfs names its dentries "/": nothing to add, the inode says it */
		bpf_probe_read_kernel(&first, 1, name.name);
		if (first == '/')
			len = 0;
		w.pos -= len;
		bpf_probe_read_kernel(&pb->d[w.pos & NBW_STR_MASK], len, name.name);
		if (len) {
			w.pos -= 1;
			pb->d[w.pos & NBW_STR_MASK] = '/';
		}
	}
	if (w.pos == NBW_STR_MAX - 1) {
		w.pos -= 1;
		pb->d[w.pos & NBW_STR_MASK] = '/';
	}
	return (w.pos & NBW_STR_MASK) | (w.done == 1 ? 0 : 1u << 31);
}

/* Append the absolute path of (dentry, mnt) as a NUL-terminated blob. */
static __always_inline void nbw_put_path(struct nbw_event_buf *b, int slot, struct dentry *dentry,
					 struct vfsmount *mnt, __u32 *used)
{
	__u32 zero = 0;
	struct nbw_path_buf *pb = bpf_map_lookup_elem(&path_buf, &zero);
	__u32 r, pos;

	if (!pb || !dentry || !mnt)
		return;
	r = nbw_walk_path(pb, dentry, mnt);
	if (r & (1u << 31)) {
		b->ev.hdr.flags |= NBW_F_TRUNCATED;
		nbw_count(NBW_CNT_PATH_TRUNC);
	}
	pos = r & NBW_STR_MASK;
	nbw_put_bytes(b, slot, &pb->d[pos], NBW_STR_MAX - pos, false, used);
}

static __always_inline void nbw_put_file_path(struct nbw_event_buf *b, int slot, struct file *f,
					      __u32 *used)
{
	if (!f)
		return;
	nbw_put_path(b, slot, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), used);
}

/* The current task's open file at fd, or NULL. struct fdtable starts with
 * max_fds and fd (CO-RE checked): one read for both. */
static __always_inline struct file *nbw_fd_file(long fd)
{
	struct task_struct *task = nbw_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct {
		unsigned int max_fds;
		struct file **fd;
	} head = {};
	struct file *f = NULL;

	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 &&
	    bpf_core_field_offset(struct fdtable, fd) == sizeof(void *)) {
		bpf_probe_read_kernel(&head, sizeof(head), fdt);
	} else {
		head.max_fds = BPF_CORE_READ(fdt, max_fds);
		head.fd = BPF_CORE_READ(fdt, fd);
	}
	if (fd < 0 || fd >= head.max_fds || !head.fd)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &head.fd[fd]);
	return f;
}

static __always_inline struct socket *nbw_file_socket(struct file *f)
{
	umode_t mode;

	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

static __always_inline void nbw_put_cwd(struct nbw_event_buf *b, int slot, __u32 *used)
{
	struct task_struct *task = nbw_task();

	nbw_put_path(b, slot, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt),
		     used);
}

#endif /* NBW_COMMON_BPF_H */
