/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * recorder_abi.h: what the syscall recorder (recorder.bpf.c) shares with
 * userspace (daemon/seccomp/recorder.cc).
 */
#ifndef NBW_RECORDER_ABI_H
#define NBW_RECORDER_ABI_H

/* Syscall numbers recorded: x86_64 has ~470, arm64 ~460; room to grow.
 * A number at or above this is counted (nbw_rec_out_of_range), not lost
 * silently. */
#define NBW_REC_NR_MAX 1024
#define NBW_REC_WORDS (NBW_REC_NR_MAX / 64)

/* Bit nr set: some process of the recorded tree entered syscall nr. */
struct nbw_rec_syscalls {
	__u64 w[NBW_REC_WORDS];
};

#endif /* NBW_RECORDER_ABI_H */
