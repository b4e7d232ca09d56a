/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * path.bpf.h: absolute paths of files, written into an event as blobs.
 */
#ifndef NBW_PATH_BPF_H
#define NBW_PATH_BPF_H

#include "event.bpf.h"

#define NBW_PATH_DEPTH 64 /* dentry components walked before truncating */
#define NBW_STR_MASK (NBW_STR_MAX - 1)

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

static __always_inline void nbw_put_cwd(struct nbw_event_buf *b, int slot, __u32 *used)
{
	struct task_struct *task = nbw_task();

	nbw_put_path(b, slot, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt),
		     used);
}

#endif /* NBW_PATH_BPF_H */
