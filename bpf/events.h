/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * events.h: the kernel/userspace ABI of the nbwarden sensor.
 *
 * Plain C, fixed-width types, no pointers. Every record in the ring buffer is
 * one struct nbw_event: a fixed part (header + six 64-bit values whose meaning
 * depends on the kind) followed by up to NBW_NSTR variable-length blobs whose
 * lengths are in str_len[]. Userspace checks that the lengths add up to the
 * record size before reading any of them (daemon/sensor/decode.cc).
 *
 * Bump NBW_ABI_VERSION whenever a layout or a meaning changes; the daemon
 * static_asserts the sizes below so a mismatch fails the build.
 */
#ifndef NBW_EVENTS_H
#define NBW_EVENTS_H

#define NBW_ABI_VERSION 5

#define NBW_COMM_LEN 16
#define NBW_NSTR 5	     /* blobs per event */
#define NBW_STR_MAX 4096     /* bytes per blob, NUL included for strings */
#define NBW_ARGV_MAX 4096    /* argv bytes copied at exec, then truncated */
#define NBW_SOCKADDR_MAX 128 /* sizeof(struct sockaddr_storage) */

/* The environment scan at exec (bpf/process.bpf.h: nbw_put_env). Every
 * variable is looked at, wherever it is, up to NBW_ENV_SCAN_MAX of them (the
 * kernel allows ~230000 under an 8 MiB stack limit; the scan costs about 60
 * ns a variable here, 2 ms at the bound, paid by a watched process's exec in
 * its own context). Those named in the env_names map are copied, each cut at
 * NBW_ENV_ENTRY_MAX bytes, into blob 4 (at most NBW_STR_MAX, at least 3.75
 * KiB: maps.h, NBW_STR_AREA). Hitting any bound sets NBW_F_ENV_CUT. */
#define NBW_ENV_SCAN_MAX 32768
#define NBW_ENV_ENTRY_MAX 1024 /* bytes of one "NAME=value", NUL included */
#define NBW_ENV_NAME_MAX 32    /* bytes of a name the map can hold, NUL included */

enum nbw_kind {
	NBW_EV_EXEC = 1,     /* a target (or candidate) exec'd */
	NBW_EV_FORK = 2,     /* a target created a process */
	NBW_EV_EXIT = 3,     /* a target's last thread exited */
	NBW_EV_OPEN = 4,     /* open/openat/openat2/creat */
	NBW_EV_NET = 5,	     /* connect/bind/listen/accept/accept4 */
	NBW_EV_SOCKET = 6,   /* creation of a packet or raw socket */
	NBW_EV_DUP = 7,	     /* dup2/dup3 of a socket onto fd 0, 1 or 2 */
	NBW_EV_SYSCALL = 8,  /* privilege/escape syscalls, see hdr.syscall */
	NBW_EV_SIGNAL = 9,   /* a signal sent to another process */
	NBW_EV_MODEL = 10,   /* a target opened a model file: a model-load window opened */
	NBW_EV_SECCOMP = 11, /* a syscall the process's seccomp filter refused */
	NBW_EV_KIND_MAX,
};

/* hdr.flags */
#define NBW_F_CANDIDATE (1u << 0)    /* process is pending a selector decision */
#define NBW_F_TRUNCATED (1u << 1)    /* a blob was cut at its bound */
#define NBW_F_FILELESS (1u << 2)     /* exec of an fd (AT_EMPTY_PATH) or unlinked file */
#define NBW_F_PATH_RAW (1u << 3)     /* str[0] is the caller's path, str[1] its base dir */
#define NBW_F_IS_SOCKET (1u << 4)    /* dup: oldfd was a socket */
#define NBW_F_KILLED (1u << 5)	     /* exec: the kernel sent SIGKILL (kill_exec) */
#define NBW_F_MODEL_WINDOW (1u << 6) /* inside a model-load window (own or inherited) */
#define NBW_F_ENV_CUT (1u << 7)	     /* exec: the environment scan hit a bound */
/* SECCOMP events: how the filter refused (none of the first three: ERRNO) */
#define NBW_F_SECCOMP_TRAP (1u << 12)	      /* SECCOMP_RET_TRAP: SIGSYS sent, syscall skipped */
#define NBW_F_SECCOMP_KILL (1u << 13)	      /* SECCOMP_RET_KILL_*: the thread died of SIGSYS */
#define NBW_F_SECCOMP_KILL_PROCESS (1u << 14) /* ...and the whole process with it */
#define NBW_F_SYSCALL_I386 (1u << 15)	      /* hdr.syscall and args are i386's (int 0x80) */

/* Values of the tracked map (maps.h: tracked) */
#define NBW_TRACK_TARGET 1    /* a target: every event is reported */
#define NBW_TRACK_CANDIDATE 2 /* exec'd a selector's comm; userspace decides */
/* The tracked map's value: the state in the low byte, the target's role id
 * above it (assigned by userspace, inherited at fork, used by enforcement). */
#define NBW_TRACK_STATE(v) ((v)&0xff)
#define NBW_TRACK_ROLE(v) ((v) >> 8)
#define NBW_ROLE_ANY 0xffffff /* enforcement entries that apply to every role */

struct nbw_hdr {
	__u16 kind;	  /* enum nbw_kind */
	__u16 abi;	  /* NBW_ABI_VERSION */
	__u32 size;	  /* whole record, header included */
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns(); userspace adds the realtime offset */
	__u32 pid;	  /* thread id */
	__u32 tgid;	  /* process id */
	__u32 ppid;	  /* real parent's tgid */
	__u32 uid;	  /* real uid */
	__u32 euid;	  /* effective uid */
	__u32 flags;	  /* NBW_F_* */
	__u32 mnt_ns;	  /* namespace inode numbers */
	__u32 pid_ns;
	__u32 net_ns;
	__s32 syscall; /* syscall number (x86_64), -1 for sched events */
	__s64 ret;     /* syscall return value, negative errno on failure */
	char comm[NBW_COMM_LEN];
};

/*
 * args[] by kind:
 *  EXEC:    [0] argc seen  [1] argv bytes before truncation  [2] execveat flags
 *           [3] envc (variables in the new environment) [4] variables scanned
 *           str: 0 exe path, 1 argv (NUL separated), 2 cwd,
 *           3 name of the process's cgroup (pids controller, else cgroup v2),
 *           4 the environment variables env_names lists, in environment
 *           order, each "NAME=value" NUL terminated (cut at
 *           NBW_ENV_ENTRY_MAX); never the rest of the environment
 *  FORK:    [0] child tgid [1] clone flags (0 for fork/vfork)
 *  EXIT:    [0] exit_code as the kernel keeps it (status << 8 | signal)
 *  OPEN:    [0] open flags [1] mode [2] dirfd
 *           str: 0 path (resolved from the opened file; or the caller's
 *           string with NBW_F_PATH_RAW), 1 base dir for a relative raw path
 *  NET:     [0] fd [1] socket family [2] socket type [3] listen backlog
 *           str: 0 sockaddr (raw struct sockaddr_*: connect/bind the caller's,
 *           listen the bound local address, accept the peer)
 *  SOCKET:  [0] family [1] type [2] protocol
 *  DUP:     [0] oldfd [1] newfd [2] socket family
 *  SYSCALL: [0..5] the syscall's raw arguments; strings named by the syscall
 *           (bpf/priv.bpf.h: nbw_priv_blobs). For syscalls with an fd-path
 *           blob (setns, finit_module, ...), [5] is that file's inode.
 *  SIGNAL:  [0] target pid [1] signal [2] target tgid (tgkill)
 *  SECCOMP: [0..5] the refused syscall's raw arguments; hdr.syscall, hdr.ret
 *           (the errno the filter returned; 0 for TRAP and KILL, which do
 *           not return one; hdr.flags NBW_F_SECCOMP_*, NBW_F_SYSCALL_I386).
 *           A refused syscall never reaches sys_enter: it shows as an exit
 *           without an enter, a KILL as its thread's exit (bpf/seccomp.bpf.h).
 *  MODEL:   [0] fd [1] NBW_MODEL_BY_* [2] inode [3] device (kernel dev_t)
 *           [4] file size [5] window id; str: 0 path of the opened file
 */
struct nbw_event {
	struct nbw_hdr hdr;
	__u64 args[6];
	__u16 str_len[NBW_NSTR]; /* blob lengths, in order; 0 = absent */
				 /* followed by the blobs, back to back */
};

#define NBW_EVENT_FIXED_SIZE (sizeof(struct nbw_event))

/* Key of the env_names map: a variable's name, NUL padded. */
struct nbw_env_key {
	char name[NBW_ENV_NAME_MAX];
};

/* Keys of the enforcement maps (maps.h: kill_exec, deny_connect). */
struct nbw_kill_key {
	__u32 role; /* NBW_TRACK_ROLE() or NBW_ROLE_ANY */
	char comm[NBW_COMM_LEN];
};

struct nbw_deny_key {
	__u32 role;
	__u16 family;
	__u16 port; /* host order, 0 = any */
	__u8 addr[16];
};

/* How a model-load window was opened (MODEL args[1]). */
#define NBW_MODEL_BY_EXT 1   /* open() of a file with a model extension */
#define NBW_MODEL_BY_MAGIC 2 /* first read of a file starting with model magic */

/* What the kernel enforces inside a window (maps.h: model_enforce). */
#define NBW_MODEL_KILL_EXEC (1u << 0)
#define NBW_MODEL_DENY_CONNECT (1u << 1)

/* A model-load window (maps.h: model_windows), per thread: the thread that
 * loads is the one that unpickles, and a kernel's other threads (heartbeat,
 * history) are not the payload. The loader's window lasts while the model
 * file is open (at most max_open_ns), then a grace period; a process or
 * thread created inside a window inherits it for life (it is the payload's). */
struct nbw_model_window {
	__u64 id;	 /* boot ns when it opened: names it in MODEL events */
	__u64 closes_at; /* boot ns */
	__u32 loader;	 /* tgid that opened the model */
	__s32 fd;	 /* the model's fd in the loader; -1 once closed */
	__u32 inherited; /* 1: created inside someone's window; never closes */
	__u32 pad;
};

struct nbw_model_ext_key {
	char ext[12]; /* lower case, without the dot, NUL padded */
};

struct nbw_model_cfg {
	__u64 grace_ns;	   /* how long a window outlives the file's close */
	__u64 max_open_ns; /* a window whose file is never closed ends after this */
};

/* Kernel drop counters (maps.h: counters), one per reason, per CPU. */
enum nbw_counter {
	NBW_CNT_RB_FULL = 0,   /* ring buffer had no room: event lost */
	NBW_CNT_INFLIGHT_FULL, /* enter/exit pairing map full: event lost */
	NBW_CNT_TRACKED_FULL,  /* tracked map full: child not tracked */
	NBW_CNT_PATH_TRUNC,    /* path deeper or longer than the bound */
	NBW_CNT_EVENTS,	       /* events submitted */
	NBW_CNT_KILLED,	       /* execs killed in the kernel */
	NBW_CNT_DENIED,	       /* connects refused in the kernel */
	NBW_CNT_WINDOWS,       /* model-load windows opened */
	NBW_CNT_WINDOW_FULL,   /* model_windows map full: window not opened */
	NBW_CNT_SECCOMP_FULL,  /* seccomp_entered map full: a refusal may go unseen */
	NBW_CNT_MAX,
};

#endif /* NBW_EVENTS_H */
