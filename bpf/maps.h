/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.h: every map of the sensor, in one place, each with why this type and
 * this size. Userspace may resize the ring buffer and the tracked map between
 * open() and load() (daemon/sensor/sensor.cc).
 */
#ifndef NBW_MAPS_H
#define NBW_MAPS_H

#include "events.h"

/* Scratch room for strings after the fixed part of an event: four blobs of
 * NBW_STR_MAX plus slack, so masked offsets stay inside the value (a per-CPU
 * value may not exceed 32 KiB). An exec's fifth blob, the environment, gets
 * the room left: at least 3.75 KiB, since its blob 3 is a cgroup's name
 * (NAME_MAX). */
#define NBW_STR_AREA (4 * NBW_STR_MAX)
#define NBW_PATH_BUF (2 * NBW_STR_MAX)

/* One bit per pid: is this tgid tracked? The one check every syscall of
 * every process pays, so it must be the cheapest map there is: an array
 * lookup the verifier inlines into a few instructions (a hash lookup is a
 * helper call plus jhash, measured ~2x the cost here). Sized for
 * PID_MAX_LIMIT (4M pids / 64 = 512 KiB). Mmapable so userspace sets and
 * clears bits with atomic ops, racing the kernel's fork/exit safely. */
#define NBW_PID_LIMIT (4 * 1024 * 1024)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NBW_PID_LIMIT / 64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} tracked_bits SEC(".maps");

/* tgid -> NBW_TRACK_*: the state of each tracked process, looked up only
 * once the bit says "tracked". Hash: pids are sparse. 65536 processes under
 * watch is far beyond a notebook host; a full map is counted (TRACKED_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} tracked SEC(".maps");

/* The policy's maps come in two generations, so a reload never leaves a
 * moment without enforcement: userspace creates a fresh inner map for each
 * policy map of the generation not in use (daemon/sensor/sensor.cc:
 * ApplyPolicy), fills them, puts them in slot `next` of the outer maps, and
 * only then flips policy_gen with one update. A program that read the old
 * generation finishes on it (inner maps are freed after an RCU grace period);
 * a failed fill leaves the running generation untouched. Outer maps are
 * arrays of 2 (one slot per generation); a slot is empty (NULL) only before
 * the first policy. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); /* the generation in force: 0 or 1 */
} policy_gen SEC(".maps");

/* The generation in force, as an index into the outer maps. */
static __always_inline __u32 nbw_policy_slot(void)
{
	__u32 zero = 0, *gen = bpf_map_lookup_elem(&policy_gen, &zero);

	return gen ? (*gen & 1) : 0;
}

/* The inner map of `outer` in force, or NULL before the first policy. */
static __always_inline void *nbw_policy_map(void *outer)
{
	__u32 slot = nbw_policy_slot();

	return bpf_map_lookup_elem(outer, &slot);
}

/* Comm prefixes from the policy's selectors (e.g. "python"). Looked up only at
 * exec of an untracked process: LPM trie gives prefix matching for free.
 * Key: struct nbw_comm_key (events.h). */
struct nbw_candidate_comms {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* LPM tries require it */
	__uint(key_size, sizeof(struct nbw_comm_key));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct nbw_candidate_comms);
} candidate_comms SEC(".maps");

/* Names of the environment variables an exec reports (blob 4), set by
 * userspace at load (daemon/sensor/exec_env.h). Looked up for every variable
 * of a target's exec: hash, exact keys; 64 names is ample. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct nbw_env_key);
	__type(value, __u32);
} env_names SEC(".maps");

/* Syscall arguments kept from sys_enter to sys_exit, per thread. Hash keyed by
 * pid_tgid; an entry lives for one syscall of a tracked thread. 16384 threads
 * inside a watched syscall at once is ample; a full map is counted. */
struct nbw_inflight {
	__s64 nr;
	__u64 args[6];
	__u32 sa_len; /* bytes valid in sa */
	__u32 pad;
	__u8 sa[NBW_SOCKADDR_MAX]; /* connect/bind address, read at enter */
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct nbw_inflight);
} inflight SEC(".maps");

/* The one ring buffer to userspace. Shared by all CPUs so events stay in
 * order per CPU and userspace has one fd to poll. Size set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* Per-CPU scratch: an event under construction. Too big for the 512-byte
 * BPF stack; per-CPU so no locking, one element per CPU. */
struct nbw_event_buf {
	struct nbw_event ev;
	char str[NBW_STR_AREA + 2 * NBW_STR_MAX]; /* slack: masked writes stay inside */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nbw_event_buf);
} event_buf SEC(".maps");

/* Per-CPU scratch for building a path backwards from a dentry. */
struct nbw_path_buf {
	char d[NBW_PATH_BUF];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* two paths may be in flight in one event */
	__type(key, __u32);
	__type(value, struct nbw_path_buf);
} path_buf SEC(".maps");

/* In-kernel enforcement, filled from the policy's kill/deny rules (two
 * generations, as candidate_comms).
 * kill_exec: (role, comm after exec) -> rule number. Looked up at exec of a
 * target only; hash, since keys are sparse. 1024 names is ample. */
struct nbw_kill_exec {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(struct nbw_kill_key));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct nbw_kill_exec);
} kill_exec SEC(".maps");

/* deny_connect: (role, family, port, address) -> rule number; port 0 means
 * any port. Looked up in the cgroup connect hooks for targets only. */
struct nbw_deny_connect {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(struct nbw_deny_key));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct nbw_deny_connect);
} deny_connect SEC(".maps");

/* The model-load guard (bpf/model.bpf.h). model_exts: extensions that make
 * an open a model load; looked up at a target's successful read-only open of
 * a regular file. Hash: exact keys; 64 extensions is ample. Two generations. */
struct nbw_model_exts {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(struct nbw_model_ext_key));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct nbw_model_exts);
} model_exts SEC(".maps");

/* thread id -> its model-load window. Looked up for every event of a target
 * (the window flag) and at close, fork, exec and connect. Hash: ids are
 * sparse; a window lives until its thread exits. 16384 concurrent loaders
 * and their children is far beyond a host; a full map is counted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct nbw_model_window);
} model_windows SEC(".maps");

/* role (or NBW_ROLE_ANY) -> NBW_MODEL_* enforcement inside a window, from
 * the policy's kill/deny rules on model.loading. Two generations. */
struct nbw_model_enforce {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct nbw_model_enforce);
} model_enforce SEC(".maps");

/* Settings userspace may change at reload (a .rodata value could not): one
 * element per generation, indexed like the outer maps (nbw_policy_slot). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct nbw_model_cfg);
} model_cfg SEC(".maps");

/* Seccomp violations (bpf/seccomp.bpf.h). filtered_bits: one bit per tgid,
 * set for targets running under a seccomp filter; tested on every syscall
 * that is not otherwise watched, so it must be as cheap as tracked_bits. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NBW_PID_LIMIT / 64);
	__type(key, __u32);
	__type(value, __u64);
} filtered_bits SEC(".maps");

/* pid_tgid -> 1 while a syscall is entered, 0 after its exit, for threads
 * of filtered targets only: a syscall that exits without having entered
 * was refused by the filter. Entries stay for the thread's life and are
 * flipped in place: two lookups per syscall, no update or delete on the
 * hot path (update + lookup + delete measured ~750 ns per syscall).
 * Hash (thread ids are sparse); deleted at thread exit. 16384 filtered
 * threads is ample; a full map is counted (NBW_CNT_SECCOMP_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} seccomp_entered SEC(".maps");

/* Drop and activity counters (enum nbw_counter), per CPU so incrementing is
 * a plain add; userspace sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NBW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#endif /* NBW_MAPS_H */
