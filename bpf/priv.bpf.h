/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * priv.bpf.h: privilege, namespace, mount, module and other escape-relevant
 * syscalls, plus signals to other processes. They share one event kind; the
 * syscall number says which, and each syscall's blobs are listed below
 * (mirrored by daemon/sensor/render.cc, which names the fields).
 */
#ifndef NBW_PRIV_BPF_H
#define NBW_PRIV_BPF_H

#include "path.bpf.h"

/* Blob sources, one byte per slot: */
#define BL_NONE 0
#define BL_USTR(i) (0x10 | (i))	  /* NUL-terminated user string at arg i */
#define BL_FDPATH(i) (0x20 | (i)) /* path of the file behind fd arg i */
#define BL_UBYTES(i) (0x30 | (i)) /* NBW_UBYTES_LEN bytes of a user struct at arg i */
#define BL(a, b, c) ((a) | ((b) << 8) | ((c) << 16))
#define NBW_UBYTES_LEN 24

/* Which syscalls are watched here, and their blobs. -1: not watched. */
static __always_inline int nbw_priv_blobs(long nr)
{
	switch (nr) {
	case __NR_ptrace:
	case __NR_unshare:
	case __NR_bpf:
	case __NR_setuid:
	case __NR_setgid:
	case __NR_setreuid:
	case __NR_setregid:
	case __NR_setresuid:
	case __NR_setresgid:
	case __NR_setfsuid:
	case __NR_setfsgid:
	case __NR_keyctl:
	case __NR_userfaultfd:
	case __NR_fsmount:
	case __NR_kexec_load:
	case __NR_process_vm_writev:
		return BL(0, 0, 0);
	case __NR_mount:
		return BL(BL_USTR(0), BL_USTR(1), BL_USTR(2));
	case __NR_umount2:
	case __NR_fsopen:
	case __NR_memfd_create:
	case __NR_chroot:
	case __NR_delete_module:
		return BL(BL_USTR(0), 0, 0);
	case __NR_pivot_root:
		return BL(BL_USTR(0), BL_USTR(1), 0);
	case __NR_open_tree:
	case __NR_mount_setattr:
		return BL(BL_USTR(1), 0, 0);
	case __NR_move_mount:
		return BL(BL_USTR(1), BL_USTR(3), 0);
	case __NR_fsconfig:
		return BL(BL_USTR(2), 0, 0);
	case __NR_setns:
	case __NR_finit_module:
	case __NR_kexec_file_load:
	case __NR_open_by_handle_at:
		return BL(BL_FDPATH(0), 0, 0);
	case __NR_init_module:
		return BL(0, BL_USTR(2), 0);
	case __NR_add_key:
	case __NR_request_key:
		return BL(BL_USTR(0), BL_USTR(1), 0);
	case __NR_capset:
		return BL(BL_UBYTES(1), 0, 0); /* effective, permitted, inheritable x2 */
	case __NR_perf_event_open:
		return BL(BL_UBYTES(0), 0, 0); /* type, size, config */
	case __NR_io_uring_setup:
		return BL(BL_UBYTES(1), 0, 0); /* sq_entries, cq_entries, flags, ... */
	}
	return -1;
}

__noinline int nbw_put_blob(struct nbw_event_buf *b, int slot, __u32 src, struct nbw_inflight *in,
			    __u32 *used)
{
	__u32 i = src & 7;
	__u64 arg;

	if (!b || !in || !used)
		return 0;

	if (!src || i > 5)
		return 0;
	arg = in->args[i];
	switch (src & 0xf0) {
	case 0x10:
		nbw_put_user_str(b, slot, (const void *)arg, used);
		break;
	case 0x20: {
		struct file *f = nbw_fd_file(arg);

		nbw_put_file_path(b, slot, f, used);
		/* Pseudo files (nsfs) are named by inode: keep it (args[5] is
		 * unused by every syscall with an fd-path blob). */
		b->ev.args[5] = BPF_CORE_READ(f, f_inode, i_ino);
		break;
	}
	case 0x30:
		nbw_put_bytes(b, slot, (const void *)arg, NBW_UBYTES_LEN, true, used);
		break;
	}
	return 0;
}

__noinline int nbw_exit_priv(struct nbw_inflight *in, long ret, int blobs)
{
	struct nbw_event_buf *b;
	__u32 used = 0;

	if (!in)
		return 0;
	b = nbw_begin(NBW_EV_SYSCALL, in->nr, ret);
	if (!b)
		return 0;
	__builtin_memcpy(b->ev.args, in->args, sizeof(b->ev.args));
	nbw_put_blob(b, 0, blobs & 0xff, in, &used);
	nbw_put_blob(b, 1, (blobs >> 8) & 0xff, in, &used);
	nbw_put_blob(b, 2, (blobs >> 16) & 0xff, in, &used);
	nbw_submit(b, used);
	return 0;
}

/* Signals: only those aimed at another process. */
static __always_inline bool nbw_enter_signal(struct nbw_inflight *in, __u64 a[6])
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 self = id >> 32;

	switch (in->nr) {
	case __NR_kill:
	case __NR_rt_sigqueueinfo:
		in->args[0] = a[0], in->args[1] = a[1], in->args[2] = a[0];
		return (__s32)a[0] != (__s32)self;
	case __NR_tgkill:
	case __NR_rt_tgsigqueueinfo:
		in->args[0] = a[1], in->args[1] = a[2], in->args[2] = a[0];
		return (__s32)a[0] != (__s32)self;
	case __NR_tkill:
		in->args[0] = a[0], in->args[1] = a[1], in->args[2] = 0;
		return (__s32)a[0] != (__s32)(__u32)id && (__s32)a[0] != (__s32)self;
	case __NR_pidfd_send_signal: {
		struct file *f = nbw_fd_file(a[0]);
		struct pid *p = f ? BPF_CORE_READ(f, private_data) : NULL;
		__s32 target = p ? BPF_CORE_READ(p, numbers[0].nr) : 0;

		in->args[0] = target, in->args[1] = a[1], in->args[2] = target;
		return target != (__s32)self;
	}
	}
	return false;
}

__noinline int nbw_exit_signal(struct nbw_inflight *in, long ret)
{
	struct nbw_event_buf *b;

	if (!in)
		return 0;
	b = nbw_begin(NBW_EV_SIGNAL, in->nr, ret);
	if (!b)
		return 0;
	b->ev.args[0] = in->args[0];
	b->ev.args[1] = in->args[1];
	b->ev.args[2] = in->args[2];
	nbw_submit(b, 0);
	return 0;
}

#endif /* NBW_PRIV_BPF_H */
