/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * net.bpf.h: connect, bind, listen, accept, packet/raw sockets, and dup of a
 * socket onto stdio. Addresses travel as raw struct sockaddr_* blobs so one
 * parser in userspace handles every family.
 */
#ifndef NBW_NET_BPF_H
#define NBW_NET_BPF_H

#include "event.bpf.h"

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define AF_PACKET_ 17
#define SOCK_RAW_ 3
#define SOCK_PACKET_ 10

struct nbw_sockaddr_in6 {
	__u16 family;
	__u16 port; /* network order */
	__u32 flowinfo;
	__u8 addr[16];
	__u32 scope_id;
};

struct nbw_sockaddr_in {
	__u16 family;
	__u16 port; /* network order */
	__u32 addr; /* network order */
	__u8 zero[8];
};

static __always_inline void nbw_sock_kind(struct nbw_event_buf *b, struct socket *sock)
{
	b->ev.args[1] = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	b->ev.args[2] = BPF_CORE_READ(sock, type);
}

/* Write a socket's local (peer = false) or remote address as a sockaddr. */
static __always_inline void nbw_put_sock_addr(struct nbw_event_buf *b, int slot,
					      struct socket *sock, bool peer, __u32 *used)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET_) {
		struct nbw_sockaddr_in sa = {.family = AF_INET_};

		if (peer) {
			sa.addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			sa.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		} else {
			sa.addr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
			sa.port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
		}
		nbw_put_bytes(b, slot, &sa, sizeof(sa), false, used);
	} else if (family == AF_INET6_) {
		struct nbw_sockaddr_in6 sa = {.family = AF_INET6_};

		if (peer) {
			BPF_CORE_READ_INTO(&sa.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
			sa.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		} else {
			BPF_CORE_READ_INTO(&sa.addr, sk,
					   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
			sa.port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
		}
		nbw_put_bytes(b, slot, &sa, sizeof(sa), false, used);
	} else if (family == AF_UNIX_) {
		/* An accepted unix socket shares the listener's address. */
		struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)sk, addr);
		int len = BPF_CORE_READ(ua, len);

		if (ua && len > 0)
			nbw_put_bytes(b, slot, &ua->name, len & 127, false, used);
	}
}

static __always_inline bool nbw_enter_net(struct nbw_inflight *in, __u64 a[6])
{
	switch (in->nr) {
	case __NR_connect:
	case __NR_bind: {
		__u32 len = a[2];

		/* sockaddr_un is 110 bytes; nothing longer is a valid address */
		if (len > NBW_SOCKADDR_MAX - 1)
			len = NBW_SOCKADDR_MAX - 1;
		len &= NBW_SOCKADDR_MAX - 1;
		/* Copied at enter: what the kernel is about to use, not what the
		 * caller may rewrite during the syscall. */
		if (len && !bpf_probe_read_user(in->sa, len, (void *)a[1]))
			in->sa_len = len;
		return true;
	}
	case __NR_listen:
	case __NR_accept:
	case __NR_accept4:
		return true;
	case __NR_socket:
		return a[0] == AF_PACKET_ || (a[1] & 0xf) == SOCK_RAW_ ||
		       (a[1] & 0xf) == SOCK_PACKET_;
	case __NR_dup2:
	case __NR_dup3:
		return a[1] <= 2 && a[0] != a[1] && nbw_file_socket(nbw_fd_file(a[0]));
	}
	return false;
}

__noinline int nbw_exit_net(struct nbw_inflight *in, long ret)
{
	struct nbw_event_buf *b;
	struct socket *sock;
	__u32 used = 0;

	if (!in)
		return 0;
	switch (in->nr) {
	case __NR_socket:
		b = nbw_begin(NBW_EV_SOCKET, in->nr, ret);
		if (!b)
			return 0;
		b->ev.args[0] = in->args[0];
		b->ev.args[1] = in->args[1];
		b->ev.args[2] = in->args[2];
		break;
	case __NR_dup2:
	case __NR_dup3:
		b = nbw_begin(NBW_EV_DUP, in->nr, ret);
		if (!b)
			return 0;
		b->ev.hdr.flags |= NBW_F_IS_SOCKET;
		b->ev.args[0] = in->args[0];
		b->ev.args[1] = in->args[1];
		sock = nbw_file_socket(nbw_fd_file(in->args[0]));
		b->ev.args[2] = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
		break;
	case __NR_connect:
	case __NR_bind:
		b = nbw_begin(NBW_EV_NET, in->nr, ret);
		if (!b)
			return 0;
		b->ev.args[0] = in->args[0];
		sock = nbw_file_socket(nbw_fd_file(in->args[0]));
		if (sock)
			nbw_sock_kind(b, sock);
		if (in->sa_len)
			nbw_put_bytes(b, 0, in->sa, in->sa_len & (NBW_SOCKADDR_MAX - 1), false,
				      &used);
		break;
	case __NR_listen:
		b = nbw_begin(NBW_EV_NET, in->nr, ret);
		if (!b)
			return 0;
		b->ev.args[0] = in->args[0];
		b->ev.args[3] = in->args[1];
		sock = nbw_file_socket(nbw_fd_file(in->args[0]));
		if (sock) {
			nbw_sock_kind(b, sock);
			nbw_put_sock_addr(b, 0, sock, false, &used);
		}
		break;
	default: /* accept, accept4: the new fd's peer */
		b = nbw_begin(NBW_EV_NET, in->nr, ret);
		if (!b)
			return 0;
		b->ev.args[0] = ret >= 0 ? ret : in->args[0];
		sock = ret >= 0 ? nbw_file_socket(nbw_fd_file(ret)) : NULL;
		if (sock) {
			nbw_sock_kind(b, sock);
			nbw_put_sock_addr(b, 0, sock, true, &used);
		}
		break;
	}
	nbw_submit(b, used);
	return 0;
}

#endif /* NBW_NET_BPF_H */
