/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bits.bpf.h: per-tgid bitmaps, one bit per pid in a BPF array the verifier
 * inlines (maps.h: tracked_bits, filtered_bits; recorder.bpf.c: rec_pids).
 * Shared by the sensor and the syscall recorder; no maps of its own.
 */
#ifndef NBW_BITS_BPF_H
#define NBW_BITS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

static __always_inline bool nbw_bit_test(void *bitmap, __u32 tgid)
{
	__u32 word = tgid >> 6;
	__u64 *bits = bpf_map_lookup_elem(bitmap, &word);

	return bits && (*bits & (1ULL << (tgid & 63)));
}

/* Sets or clears a tgid's bit atomically; true if that changed it. */
static __always_inline bool nbw_bit_set(void *bitmap, __u32 tgid, bool on)
{
	__u32 word = tgid >> 6;
	__u64 *bits = bpf_map_lookup_elem(bitmap, &word);
	__u64 bit = 1ULL << (tgid & 63), old;

	if (!bits)
		return false;
	if (on) {
		old = __sync_fetch_and_or(bits, bit);
		return !(old & bit);
	}
	old = __sync_fetch_and_and(bits, ~bit);
	return old & bit;
}

#endif /* NBW_BITS_BPF_H */
