/* lifecycle.h -- map layouts shared by bpf/lifecycle.bpf.c and its userspace
 * loader/collector (userspace/agent/lifecycle*.c).
 *
 * The lifecycle family follows Ray processes with scheduler, cgroup and TCP
 * tracepoints only (no uprobes): the raylet forking and exec'ing workers, the
 * workers becoming ready and renaming themselves (ray::IDLE / ray::<task>),
 * the startup phases of a pod or `ray start` node, and the connections the
 * head's gcs_server accepts. Every map is pinned by its name (<= 15 chars). */
#ifndef RAYSENSE_LIFECYCLE_H
#define RAYSENSE_LIFECYCLE_H

#include "raysense/hist.h"

/* Pinned map names. */
#define RS_LC_MAP_PROCS     "lc_procs"      /* tgid -> struct rs_lc_proc */
#define RS_LC_MAP_NODES     "lc_nodes"      /* raylet tgid -> struct rs_lc_node */
#define RS_LC_MAP_TIMELINES "lc_timelines"  /* u64 key -> struct rs_lc_timeline */
#define RS_LC_MAP_PODCG     "lc_podcg"      /* cgroup id -> u64 timeline key */
#define RS_LC_MAP_SOCKS     "lc_socks"      /* struct sock * -> raylet tgid */
#define RS_LC_MAP_GCSPORTS  "lc_gcsports"   /* u16 port -> struct rs_lc_gcsport */
#define RS_LC_MAP_GCSPEERS  "lc_gcspeers"   /* struct rs_lc_peer_key -> struct rs_lc_peer */
#define RS_LC_MAP_TLGCS     "lc_tlgcs"      /* timeline key -> u32 GCS port (written by userspace) */

/* Process kinds in lc_procs. */
enum rs_lc_kind {
	RS_LC_RAYLET = 1,
	RS_LC_GCS = 2,
	RS_LC_WORKER = 3,       /* child of a raylet exec'ing *_worker.py */
	RS_LC_CHILD = 4,        /* forked by a raylet, not exec'd yet */
	RS_LC_RAY_START = 5,    /* `ray start` (timeline root without Kubernetes) */
};

/* Worker states (RS_LC_WORKER). */
enum rs_lc_wstate {
	RS_LC_W_STARTING = 0,   /* forked, not listening yet */
	RS_LC_W_IDLE = 1,       /* ready, title ray::IDLE* (or not renamed yet) */
	RS_LC_W_BUSY = 2,       /* ready, title ray::<task or actor> */
};

struct rs_lc_proc {
	unsigned int kind;          /* enum rs_lc_kind */
	unsigned int state;         /* enum rs_lc_wstate (workers) */
	unsigned int raylet_pid;    /* workers/children: the raylet that forked them */
	unsigned int pad;
	unsigned long long fork_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	unsigned long long ready_ns;
	unsigned long long tl_key;  /* raylet / ray start: its timeline key */
};

/* Per raylet: worker startup histogram, failure counters and activity. */
struct rs_lc_node {
	struct rs_hist startup;             /* fork -> first LISTEN, ns */
	unsigned long long forked;          /* worker processes started */
	unsigned long long ready;           /* ... that became ready */
	unsigned long long failed;          /* ... that exited before ready */
	unsigned long long timed_out;       /* ... exited before ready after > timeout */
	unsigned long long last_busy_ns;    /* last time busy > 0 was true, 0 = never */
	int starting;                       /* gauges (signed: never underflow silently) */
	int idle;
	int busy;
	unsigned int alive;                 /* 0 once the raylet exited */
};

#define RS_LC_TL_PEERS 8
#define RS_LC_PATH_LEN 256

/* Timeline keys: pods use their cgroup id; `ray start` nodes use
 * RS_LC_TL_RAYSTART | pid (cgroup ids never have the top bit set). */
#define RS_LC_TL_RAYSTART (1ULL << 63)

struct rs_lc_conn {
	unsigned long long ts_ns;
	unsigned char daddr[16];    /* IPv4 as v4-mapped IPv6 */
	unsigned short dport;       /* host order */
	unsigned short pad[3];
};

/* One node's startup phases, in CLOCK_MONOTONIC ns (0 = not seen). The
 * collector converts to wall clock. */
struct rs_lc_timeline {
	unsigned long long cgroup_ns;       /* pod cgroup mkdir */
	unsigned long long first_exec_ns;   /* first exec in the pod / the ray start exec */
	unsigned long long raylet_exec_ns;
	unsigned long long raylet_listen_ns;
	unsigned int raylet_pid;
	unsigned int root_pid;              /* ray start pid, or first exec'ing pid in the pod */
	unsigned int n_conns;               /* the raylet's first established connections */
	unsigned int pad;
	struct rs_lc_conn conns[RS_LC_TL_PEERS];
	char cgroup_path[RS_LC_PATH_LEN];   /* pod cgroup path as cgroup_mkdir gave it */
};

/* A TCP port a gcs_server listens on. */
struct rs_lc_gcsport {
	unsigned int gcs_pid;
	unsigned int pad;
	unsigned long long accepted;        /* connections accepted (SYN_RECV -> ESTABLISHED) */
};

struct rs_lc_peer_key {
	unsigned char addr[16];             /* peer IP, IPv4 as v4-mapped IPv6 */
	unsigned short gcs_port;
	unsigned short pad[3];
};

struct rs_lc_peer {
	unsigned long long first_ns;        /* CLOCK_MONOTONIC */
	unsigned long long last_ns;
	unsigned long long accepted;
};

#endif
