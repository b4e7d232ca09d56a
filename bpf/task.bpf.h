/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * task.bpf.h: what a hook knows about the current task: whether it is
 * tracked, its syscall arguments, its model-load window, its open files.
 * The lowest of the sensor's helpers (task -> event -> path).
 */
#ifndef NBW_TASK_BPF_H
#define NBW_TASK_BPF_H

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

#endif /* NBW_TASK_BPF_H */
