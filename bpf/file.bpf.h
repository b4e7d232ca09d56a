/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * file.bpf.h: opens. A successful open reports the path of the file the fd
 * now refers to, walked from its dentry: symlinks, "..", dirfds and
 * /proc/self/fd are already resolved by the kernel. A failed open reports
 * the caller's string and, when it is relative, the directory it was
 * relative to, for userspace to join (NBW_F_PATH_RAW).
 */
#ifndef NBW_FILE_BPF_H
#define NBW_FILE_BPF_H

#include "path.bpf.h"
#include "model.bpf.h"

#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000

/* Normalize the open family at enter: args = flags, mode, dirfd, filename. */
static __always_inline bool nbw_enter_open(struct nbw_inflight *in, __u64 a[6])
{
	switch (in->nr) {
	case __NR_open:
		in->args[0] = a[1], in->args[1] = a[2], in->args[2] = (__u64)AT_FDCWD_;
		in->args[3] = a[0];
		return true;
	case __NR_creat:
		in->args[0] = O_CREAT_ | O_WRONLY_ | O_TRUNC_, in->args[1] = a[1];
		in->args[2] = (__u64)AT_FDCWD_, in->args[3] = a[0];
		return true;
	case __NR_openat:
		in->args[0] = a[2], in->args[1] = a[3], in->args[2] = a[0], in->args[3] = a[1];
		return true;
	case __NR_openat2: {
		__u64 how[2] = {}; /* struct open_how: flags, mode */

		bpf_probe_read_user(how, sizeof(how), (void *)a[2]);
		in->args[0] = how[0], in->args[1] = how[1], in->args[2] = a[0], in->args[3] = a[1];
		return true;
	}
	}
	return false;
}

/* The caller's path string and, if relative, the directory it is relative
 * to (cwd for AT_FDCWD, else the dirfd's path) in the next slot. */
static __always_inline void nbw_put_raw_path(struct nbw_event_buf *b, int slot, int base_slot,
					     const char *upath, long dirfd, __u32 *used)
{
	char first = 0;

	b->ev.hdr.flags |= NBW_F_PATH_RAW;
	nbw_put_user_str(b, slot, upath, used);
	bpf_probe_read_user(&first, 1, upath);
	if (first == '/')
		return;
	if ((int)dirfd == AT_FDCWD_)
		nbw_put_cwd(b, base_slot, used);
	else
		nbw_put_file_path(b, base_slot, nbw_fd_file(dirfd), used);
}

__noinline int nbw_exit_open(struct nbw_inflight *in, long ret)
{
	struct nbw_event_buf *b;
	struct file *f = NULL;
	__u32 used = 0;

	if (!in)
		return 0;
	b = nbw_begin(NBW_EV_OPEN, in->nr, ret);
	if (!b)
		return 0;
	b->ev.args[0] = in->args[0];
	b->ev.args[1] = in->args[1];
	b->ev.args[2] = in->args[2];
	if (ret >= 0) {
		f = nbw_fd_file(ret);
		nbw_put_file_path(b, 0, f, &used);
	} else {
		nbw_put_raw_path(b, 0, 1, (const char *)in->args[3], in->args[2], &used);
	}
	nbw_submit(b, used);
	if (ret >= 0)
		nbw_model_check_open(f, ret, in->args[0]);
	return 0;
}

#endif /* NBW_FILE_BPF_H */
