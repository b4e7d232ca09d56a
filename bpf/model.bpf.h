/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * model.bpf.h: the model-load window. A target opening a model file (by
 * extension at open, or by content magic on the first read of a renamed
 * file) gets a window in the same syscall, before it can run a byte of what
 * it loads, so no payload can race it. The window closes when that fd is
 * closed, plus a grace period; processes forked inside it inherit it for
 * life. Inside a window, every event carries NBW_F_MODEL_WINDOW, and the
 * policy may kill execs and refuse connects in the kernel (model_enforce).
 */
#ifndef NBW_MODEL_BPF_H
#define NBW_MODEL_BPF_H

#include "path.bpf.h"

#define O_ACCMODE_ 03
#define S_IFREG_ 0100000
#define NBW_EXT_TAIL 16

/* Is the file's name's extension one of model_exts? Reads at most the last
 * 16 bytes of the name. */
static __always_inline bool nbw_model_ext(struct file *f)
{
	struct qstr q = BPF_CORE_READ(f, f_path.dentry, d_name);
	struct nbw_model_ext_key k = {};
	char tail[NBW_EXT_TAIL] = {};
	__u32 len = q.len, n, dot = NBW_EXT_TAIL, i;
	void *exts;

	if (len < 2 || len > 255)
		return false;
	n = len > NBW_EXT_TAIL ? NBW_EXT_TAIL : len;
	nbw_barrier_var(n);
	if (n > NBW_EXT_TAIL)
		return false;
	bpf_probe_read_kernel(tail, n, q.name + (len - n));
	for (i = 0; i < NBW_EXT_TAIL; i++) {
		__u32 at = NBW_EXT_TAIL - 1 - i;

		if (at < n && tail[at] == '.') {
			dot = at;
			break;
		}
	}
	if (dot >= n - 1 || n - dot - 1 > sizeof(k.ext) - 1)
		return false;
	for (i = 0; i < sizeof(k.ext) - 1; i++) {
		__u32 at = dot + 1 + i;
		char c;

		if (at >= n)
			break;
		c = tail[at & (NBW_EXT_TAIL - 1)];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		k.ext[i] = c;
	}
	exts = nbw_policy_map(&model_exts);
	return exts && bpf_map_lookup_elem(exts, &k) != NULL;
}

static __always_inline bool nbw_model_enforced(__u32 role, __u32 what)
{
	__u32 any = NBW_ROLE_ANY;
	void *enforce = nbw_policy_map(&model_enforce);
	__u32 *v;

	if (!enforce)
		return false;
	v = bpf_map_lookup_elem(enforce, &role);
	if (v && (*v & what))
		return true;
	v = bpf_map_lookup_elem(enforce, &any);
	return v && (*v & what);
}

/* Opens the current thread's window on fd and reports it. */
__noinline int nbw_model_window_open(long fd, __u32 trigger)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, slot = nbw_policy_slot();
	struct file *f = nbw_fd_file(fd);
	struct nbw_model_window w = {};
	struct nbw_model_cfg *cfg = bpf_map_lookup_elem(&model_cfg, &slot);
	struct nbw_event_buf *b;
	__u32 used = 0;

	if (!f)
		return 0;
	w.id = bpf_ktime_get_boot_ns();
	w.closes_at = w.id + (cfg && cfg->max_open_ns ? cfg->max_open_ns : 600000000000ULL);
	w.loader = id >> 32;
	w.fd = fd;
	if (nbw_window_put(tid, &w)) {
		nbw_count(NBW_CNT_WINDOW_FULL);
		return 0;
	}
	nbw_count(NBW_CNT_WINDOWS);
	b = nbw_begin(NBW_EV_MODEL, -1, fd);
	if (!b)
		return 0;
	b->ev.args[0] = fd;
	b->ev.args[1] = trigger;
	b->ev.args[2] = BPF_CORE_READ(f, f_inode, i_ino);
	b->ev.args[3] = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	b->ev.args[4] = BPF_CORE_READ(f, f_inode, i_size);
	b->ev.args[5] = w.id;
	nbw_put_file_path(b, 0, f, &used);
	nbw_submit(b, used);
	return 0;
}

/* After a target's successful open of f: a read-only open of a regular
 * file with a model extension opens the window. Cheapest test first: this
 * runs for every open of a target (imports open hundreds of files). */
static __always_inline void nbw_model_check_open(struct file *f, long fd, __u64 flags)
{
	if ((flags & O_ACCMODE_) != 0 || !f)
		return; /* written, not loaded */
	if (!nbw_model_ext(f))
		return;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFREG_)
		return;
	nbw_model_window_open(fd, NBW_MODEL_BY_EXT);
}

/* The first bytes of a file a model loader reads. A zip counts only if its
 * first member is a pickle, an array or a Keras config (a wheel or a jar
 * is not a model). */
static __always_inline bool nbw_model_magic(const __u8 *h, const __u8 *ubuf, long got)
{
	__u16 name_len;
	__u8 tail[4] = {};

	if (h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
		return true; /* pickle protocol 2-5 */
	if (h[0] == 0x93 && h[1] == 'N' && h[2] == 'U' && h[3] == 'M' && h[4] == 'P' && h[5] == 'Y')
		return true;
	if (h[0] == 0x89 && h[1] == 'H' && h[2] == 'D' && h[3] == 'F')
		return true;
	if (h[0] == '7' && h[1] == 'z' && h[2] == 0xbc && h[3] == 0xaf)
		return true;
	if (!(h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4))
		return false;
	if (bpf_probe_read_user(&name_len, sizeof(name_len), ubuf + 26))
		return false;
	if (name_len < 4 || name_len > 1024 || got < 30 + name_len)
		return false;
	if (bpf_probe_read_user(tail, sizeof(tail), ubuf + 30 + name_len - 4))
		return false;
	return (tail[0] == '.' && tail[1] == 'p' && tail[2] == 'k' && tail[3] == 'l') ||
	       (tail[0] == '.' && tail[1] == 'n' && tail[2] == 'p' && tail[3] == 'y') ||
	       (tail[0] == 'j' && tail[1] == 's' && tail[2] == 'o' && tail[3] == 'n');
}

/* sys_exit of read/pread64 by a target: the first read of a file whose
 * content is a model opens the window, whatever the file is called. */
static __always_inline void nbw_model_check_read(struct pt_regs *regs, long nr, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nbw_model_window *w;
	__u8 h[8] = {};
	struct file *f;
	__u64 a[6];

	if (ret < 8)
		return;
	nbw_syscall_args(regs, a);
	if (bpf_probe_read_user(h, sizeof(h), (void *)a[1]))
		return;
	if (!(h[0] == 0x80 || h[0] == 0x93 || h[0] == 0x89 || h[0] == '7' || h[0] == 'P'))
		return; /* the common case, decided on one byte */
	if (!nbw_model_magic(h, (const __u8 *)a[1], ret))
		return;
	f = nbw_fd_file(a[0]);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFREG_)
		return;
	/* From the start of the file: pread at 0, or read leaving f_pos == ret */
	if (nr == __NR_pread64 ? a[3] != 0 : BPF_CORE_READ(f, f_pos) != ret)
		return;
	w = nbw_window(tid);
	if (w && !w->inherited && w->fd == (__s32)a[0])
		return; /* opened by extension already */
	nbw_model_window_open(a[0], NBW_MODEL_BY_MAGIC);
}

/* sys_exit of close: the loading thread closing the model's fd starts the
 * grace period. */
static __always_inline void nbw_model_check_close(struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nbw_model_window *w;
	struct nbw_model_cfg *cfg;
	__u32 slot;
	long fd;

	if (!nbw_live_windows || ret != 0)
		return;
	w = bpf_map_lookup_elem(&model_windows, &tid);
	if (!w || w->inherited || w->fd < 0)
		return;
	fd = BPF_CORE_READ(regs, di);
	if (fd != w->fd)
		return;
	slot = nbw_policy_slot();
	cfg = bpf_map_lookup_elem(&model_cfg, &slot);
	w->closes_at = bpf_ktime_get_boot_ns() + (cfg ? cfg->grace_ns : 0);
	w->fd = -1;
}

/* At fork: a process created by a thread inside a window inherits it for
 * life (it is the payload's). A thread gets only the grace period: runtimes
 * start worker pools during a load, and they are not the payload. */
static __always_inline void nbw_model_inherit(__u32 parent_tid, __u32 child_tid, bool thread)
{
	struct nbw_model_window *w = nbw_window(parent_tid);
	struct nbw_model_window c;
	struct nbw_model_cfg *cfg;
	__u32 slot;

	if (!w)
		return;
	c = *w;
	c.fd = -1;
	if (thread) {
		slot = nbw_policy_slot();
		cfg = bpf_map_lookup_elem(&model_cfg, &slot);
		c.inherited = 0;
		c.closes_at = bpf_ktime_get_boot_ns() + (cfg ? cfg->grace_ns : 0);
	} else {
		c.inherited = 1;
	}
	if (nbw_window_put(child_tid, &c))
		nbw_count(NBW_CNT_WINDOW_FULL);
}

#endif /* NBW_MODEL_BPF_H */
