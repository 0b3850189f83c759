// SPDX-License-Identifier: GPL-2.0
/* lifecycle.bpf.c -- Ray process lifecycle from tracepoints alone.
 *
 * - worker startup: a raylet forks a child that execs *_worker.py; the worker
 *   is ready when it first listens on a TCP port (its core-worker gRPC server,
 *   which Ray 2.60 opens a few ms before registering with the raylet) or,
 *   failing that, when it renames itself ray::...;
 * - worker activity: task_rename to ray::IDLE* = idle, other ray::* = busy;
 * - node timelines: pod cgroup mkdir, first exec in the pod (or the
 *   `ray start` exec), raylet exec, raylet listen, raylet's first connections;
 * - gcs join: connections accepted on a gcs_server's listening ports.
 *
 * Only raw tracepoints: kprobes and fentry do not exist on our kernels, and
 * raw_tp needs no tracefs. Everything aggregates in maps (no ring buffer:
 * the only per-event detail, a pod cgroup path, is stored in its timeline). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "raysense/lifecycle.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#define BUF_LEN 512

/* Set by the loader before load. */
const volatile __u64 worker_timeout_ns = 60ULL * 1000000000ULL; /* Ray's worker_register_timeout_seconds */
const volatile __u32 cg_hierarchy = 0;  /* hierarchy id of pod cgroups (0 = cgroup v2) */
const volatile __u32 cg_subsys = 1;     /* v1: css index of a controller of that hierarchy */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct rs_lc_proc);
} lc_procs SEC(".maps");

/* LRU: entries of exited raylets and old timelines are never deleted (their
 * histograms and counters stay exported), so a long-lived node that sees
 * many raylet restarts or pods must evict the oldest rather than stop
 * recording new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct rs_lc_node);
} lc_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct rs_lc_timeline);
} lc_timelines SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} lc_podcg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} lc_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, struct rs_lc_gcsport);
} lc_gcsports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rs_lc_peer_key);
	__type(value, struct rs_lc_peer);
} lc_gcspeers SEC(".maps");

/* Written by userspace only: the GCS port of a timeline's raylet (from its
 * --gcs-address), so that collect can tell which connection was the GCS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} lc_tlgcs SEC(".maps");

struct scratch {
	char b[BUF_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} lc_scratch SEC(".maps");

static const struct rs_lc_timeline zero_tl;
static const struct rs_lc_node zero_node;
static const struct rs_lc_peer zero_peer;

static __always_inline struct scratch *scratch_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lc_scratch, &zero);
}

/* Substring search over the scratch buffer with bpf_loop, so the verifier
 * checks the step once instead of walking BUF_LEN unrolled iterations.
 * Patterns (file scope: BTF rejects names of function-local statics). The
 * restart rule below is exact for them: no proper prefix of either pattern
 * reappears inside it except a lone first character. */
static const char pat_worker[] = "_worker.py";  /* + its NUL: the script name ends */
static const char pat_start[] = "\0start";      /* + its NUL: an argument "start" */

struct search {
	const char *buf;
	const char *pat;
	int n;
	int patlen;
	int m;
	bool found;
};

static long search_step(__u32 i, void *ctx)
{
	struct search *s = ctx;
	char c, want;

	if ((int)i >= s->n)
		return 1;
	c = s->buf[i & (BUF_LEN - 1)];
	want = s->pat[s->m & 15];
	if (c == want) {
		if (++s->m >= s->patlen) {
			s->found = true;
			return 1;
		}
	} else {
		s->m = c == s->pat[0] ? 1 : 0;
	}
	return 0;
}

static __always_inline bool buf_contains(const char *buf, int n, const char *pat, int patlen)
{
	struct search s = { .buf = buf, .pat = pat, .n = n, .patlen = patlen };

	bpf_loop(BUF_LEN, search_step, &s, 0);
	return s.found;
}

/* Read the first BUF_LEN bytes of the current process's argv area. */
static __always_inline int read_args(struct scratch *s)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	long len = end - start;

	if (len <= 0)
		return 0;
	if (len > BUF_LEN - 1)
		len = BUF_LEN - 1;
	if (bpf_probe_read_user(s->b, len & (BUF_LEN - 1), (void *)start))
		return 0;
	return len;
}

static __always_inline bool comm_is(const char *comm, const char *name, int len)
{
	for (int i = 0; i < len; i++)
		if (comm[i] != name[i])
			return false;
	return true;
}

static __always_inline struct rs_lc_node *node_of(__u32 raylet_pid)
{
	return bpf_map_lookup_elem(&lc_nodes, &raylet_pid);
}

static __always_inline struct rs_lc_timeline *timeline_get(__u64 key)
{
	struct rs_lc_timeline *tl = bpf_map_lookup_elem(&lc_timelines, &key);

	if (tl)
		return tl;
	bpf_map_update_elem(&lc_timelines, &key, &zero_tl, BPF_NOEXIST);
	return bpf_map_lookup_elem(&lc_timelines, &key);
}

/* Cgroup id of the current task in the pod-cgroup hierarchy. */
static __always_inline __u64 current_pod_cgroup(void)
{
	struct task_struct *task;
	struct css_set *cset;
	struct cgroup_subsys_state *css = NULL;

	if (cg_hierarchy == 0)
		return bpf_get_current_cgroup_id();
	task = (struct task_struct *)bpf_get_current_task();
	cset = BPF_CORE_READ(task, cgroups);
	if (!cset)
		return 0;
	bpf_core_read(&css, sizeof(css), &cset->subsys[cg_subsys & 15]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

static __always_inline void hist_add(struct rs_hist *h, __u64 v)
{
	__u32 slot = rs_hist_slot(v);

	if (slot < RS_HIST_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, v);
}

/* Move a worker between the per-node gauges. */
static __always_inline void worker_set_state(struct rs_lc_proc *p, __u32 next, __u64 now)
{
	struct rs_lc_node *n = node_of(p->raylet_pid);
	__u32 prev = p->state;

	p->state = next;
	if (!n || prev == next)
		return;
	if (prev == RS_LC_W_STARTING)
		__sync_fetch_and_add(&n->starting, -1);
	else if (prev == RS_LC_W_IDLE)
		__sync_fetch_and_add(&n->idle, -1);
	else if (prev == RS_LC_W_BUSY)
		__sync_fetch_and_add(&n->busy, -1);
	if (next == RS_LC_W_IDLE)
		__sync_fetch_and_add(&n->idle, 1);
	else if (next == RS_LC_W_BUSY)
		__sync_fetch_and_add(&n->busy, 1);
	/* The node had a busy worker until now (leaving busy) or from now. */
	if (prev == RS_LC_W_BUSY || next == RS_LC_W_BUSY)
		n->last_busy_ns = now;
}

static __always_inline void worker_ready(struct rs_lc_proc *p, __u64 now)
{
	struct rs_lc_node *n;

	if (p->state != RS_LC_W_STARTING)
		return;
	p->ready_ns = now;
	n = node_of(p->raylet_pid);
	if (n) {
		hist_add(&n->startup, now - p->fork_ns);
		__sync_fetch_and_add(&n->ready, 1);
	}
	worker_set_state(p, RS_LC_W_IDLE, now);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(lc_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct rs_lc_proc *pp, np = {};

	if (ptgid == ctgid)
		return 0; /* a new thread */
	pp = bpf_map_lookup_elem(&lc_procs, &ptgid);
	if (!pp || pp->kind != RS_LC_RAYLET)
		return 0;
	np.kind = RS_LC_CHILD;
	np.raylet_pid = ptgid;
	np.fork_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&lc_procs, &ctgid, &np, BPF_ANY);
	return 0;
}

/* A raylet child exec'ing a worker script becomes a starting worker; other
 * raylet children (dashboard agent, runtime env agent) are forgotten. */
static __always_inline void exec_raylet_child(struct rs_lc_proc *p, __u32 tgid)
{
	struct scratch *s = scratch_buf();
	struct rs_lc_node *n;
	int len;

	if (!s)
		return;
	len = read_args(s);
	if (!buf_contains(s->b, len, pat_worker, sizeof(pat_worker))) { /* with the NUL */
		bpf_map_delete_elem(&lc_procs, &tgid);
		return;
	}
	p->kind = RS_LC_WORKER;
	p->state = RS_LC_W_STARTING;
	n = node_of(p->raylet_pid);
	if (n) {
		__sync_fetch_and_add(&n->forked, 1);
		__sync_fetch_and_add(&n->starting, 1);
	}
}

/* Timeline key of a new raylet: its pod, else its `ray start` ancestor,
 * else the raylet itself. */
static __always_inline __u64 raylet_timeline_key(__u32 tgid, __u64 pod_key)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	if (pod_key)
		return pod_key;
	for (int i = 0; i < 4; i++) {
		__u32 ptgid;
		struct rs_lc_proc *pp;

		t = BPF_CORE_READ(t, real_parent);
		if (!t)
			break;
		ptgid = BPF_CORE_READ(t, tgid);
		pp = bpf_map_lookup_elem(&lc_procs, &ptgid);
		if (pp && pp->kind == RS_LC_RAY_START)
			return pp->tl_key;
	}
	return RS_LC_TL_RAYSTART | tgid;
}

static __always_inline void exec_raylet(__u32 tgid, __u64 pod_key, __u64 now)
{
	struct rs_lc_proc np = {};
	struct rs_lc_node *n;
	struct rs_lc_timeline *tl;

	np.kind = RS_LC_RAYLET;
	np.fork_ns = now;
	np.tl_key = raylet_timeline_key(tgid, pod_key);
	bpf_map_update_elem(&lc_procs, &tgid, &np, BPF_ANY);
	bpf_map_update_elem(&lc_nodes, &tgid, &zero_node, BPF_ANY);
	n = node_of(tgid);
	if (n)
		n->alive = 1;
	tl = timeline_get(np.tl_key);
	if (tl && !tl->raylet_exec_ns) {
		tl->raylet_exec_ns = now;
		tl->raylet_pid = tgid;
		if (!tl->first_exec_ns) {
			tl->first_exec_ns = now;
			tl->root_pid = tgid;
		}
	}
}

static __always_inline void exec_ray_start(__u32 tgid, __u64 pod_key, __u64 now)
{
	struct scratch *s = scratch_buf();
	struct rs_lc_proc np = {};
	struct rs_lc_timeline *tl;
	int len;

	if (!s)
		return;
	len = read_args(s);
	/* "\0start\0": pattern and its NUL terminator. */
	if (!buf_contains(s->b, len, pat_start, sizeof(pat_start)))
		return;
	np.kind = RS_LC_RAY_START;
	np.fork_ns = now;
	np.tl_key = pod_key ? pod_key : (RS_LC_TL_RAYSTART | tgid);
	bpf_map_update_elem(&lc_procs, &tgid, &np, BPF_ANY);
	if (pod_key)
		return; /* the pod timeline already starts at its first exec */
	tl = timeline_get(np.tl_key);
	if (tl && !tl->first_exec_ns) {
		tl->first_exec_ns = now;
		tl->root_pid = tgid;
	}
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(lc_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 now = bpf_ktime_get_ns();
	__u64 cgid = current_pod_cgroup();
	__u64 *pod_key = bpf_map_lookup_elem(&lc_podcg, &cgid);
	__u64 pkey = pod_key ? *pod_key : 0;
	struct rs_lc_proc *p;
	char comm[16] = {};

	if (pkey) {
		struct rs_lc_timeline *tl = bpf_map_lookup_elem(&lc_timelines, &pkey);

		if (tl && !tl->first_exec_ns) {
			tl->first_exec_ns = now;
			tl->root_pid = tgid;
		}
	}
	p = bpf_map_lookup_elem(&lc_procs, &tgid);
	if (p && p->kind == RS_LC_CHILD) {
		exec_raylet_child(p, tgid);
		return 0;
	}
	if (p && p->kind == RS_LC_WORKER)
		return 0; /* setup_worker.py exec'ing the real worker */
	bpf_get_current_comm(comm, sizeof(comm));
	if (comm_is(comm, "raylet", 7)) {
		exec_raylet(tgid, pkey, now);
	} else if (comm_is(comm, "gcs_server", 11)) {
		struct rs_lc_proc np = { .kind = RS_LC_GCS, .fork_ns = now };

		bpf_map_update_elem(&lc_procs, &tgid, &np, BPF_ANY);
	} else if (comm_is(comm, "ray", 4)) {
		exec_ray_start(tgid, pkey, now);
	}
	return 0;
}

SEC("raw_tp/task_rename")
int BPF_PROG(lc_rename, struct task_struct *task, const char *comm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct rs_lc_proc *p = bpf_map_lookup_elem(&lc_procs, &tgid);
	__u64 now;
	char name[16] = {};

	if (!p || p->kind != RS_LC_WORKER)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), comm);
	if (!comm_is(name, "ray::", 5))
		return 0; /* the exec's own rename to "python3" */
	now = bpf_ktime_get_ns();
	worker_ready(p, now); /* fallback when no LISTEN was seen */
	if (comm_is(name, "ray::IDLE", 9))
		worker_set_state(p, RS_LC_W_IDLE, now);
	else
		worker_set_state(p, RS_LC_W_BUSY, now);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(lc_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 pid = BPF_CORE_READ(task, pid);
	struct rs_lc_proc *p;
	struct rs_lc_node *n;
	__u64 now;

	if (pid != tgid)
		return 0; /* a thread; the process ends with its leader */
	p = bpf_map_lookup_elem(&lc_procs, &tgid);
	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	if (p->kind == RS_LC_WORKER) {
		n = node_of(p->raylet_pid);
		if (n && p->state == RS_LC_W_STARTING) {
			if (now - p->fork_ns > worker_timeout_ns)
				__sync_fetch_and_add(&n->timed_out, 1);
			else
				__sync_fetch_and_add(&n->failed, 1);
		}
		worker_set_state(p, 0xff, now); /* leave every gauge */
	} else if (p->kind == RS_LC_RAYLET) {
		n = node_of(tgid);
		if (n)
			n->alive = 0;
	}
	bpf_map_delete_elem(&lc_procs, &tgid);
	return 0;
}

static __always_inline void sock_daddr(const struct sock *sk, unsigned char addr[16])
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET6) {
		/* Not BPF_CORE_READ_INTO: addr is a pointer here, it would copy 1 byte. */
		bpf_core_read(addr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		__u32 v4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memset(addr, 0, 16);
		addr[10] = 0xff;
		addr[11] = 0xff;
		__builtin_memcpy(addr + 12, &v4, 4);
	}
}

static __always_inline void on_listen(const struct sock *sk, __u64 now)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rs_lc_proc *p = bpf_map_lookup_elem(&lc_procs, &tgid);

	if (!p)
		return;
	if (p->kind == RS_LC_WORKER) {
		worker_ready(p, now);
	} else if (p->kind == RS_LC_RAYLET) {
		struct rs_lc_timeline *tl = bpf_map_lookup_elem(&lc_timelines, &p->tl_key);

		if (tl && !tl->raylet_listen_ns && tl->raylet_pid == tgid)
			tl->raylet_listen_ns = now;
	} else if (p->kind == RS_LC_GCS) {
		__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
		struct rs_lc_gcsport gp = { .gcs_pid = tgid }, *e;

		/* Keep the accepted counter of a port a restarted GCS reuses. */
		bpf_map_update_elem(&lc_gcsports, &port, &gp, BPF_NOEXIST);
		e = bpf_map_lookup_elem(&lc_gcsports, &port);
		if (e)
			e->gcs_pid = tgid;
	}
}

/* connect() from a raylet: remember the socket until it is established. */
static __always_inline void on_syn_sent(const struct sock *sk)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rs_lc_proc *p = bpf_map_lookup_elem(&lc_procs, &tgid);
	__u64 key = (__u64)sk;
	struct rs_lc_timeline *tl;

	if (!p || p->kind != RS_LC_RAYLET)
		return;
	tl = bpf_map_lookup_elem(&lc_timelines, &p->tl_key);
	if (!tl || tl->raylet_pid != tgid || tl->n_conns >= RS_LC_TL_PEERS)
		return;
	bpf_map_update_elem(&lc_socks, &key, &tgid, BPF_ANY);
}

static __always_inline void on_connected(const struct sock *sk, __u64 now)
{
	__u64 key = (__u64)sk;
	__u32 *tgid = bpf_map_lookup_elem(&lc_socks, &key);
	struct rs_lc_proc *p;
	struct rs_lc_timeline *tl;
	__u32 i;

	if (!tgid)
		return;
	p = bpf_map_lookup_elem(&lc_procs, tgid);
	bpf_map_delete_elem(&lc_socks, &key);
	if (!p)
		return;
	tl = bpf_map_lookup_elem(&lc_timelines, &p->tl_key);
	if (!tl)
		return;
	/* Not atomic: clang 14 without -mcpu=v3 cannot use an XADD result, and
	 * a raylet's first connections are set up one after another. */
	i = tl->n_conns;
	if (i >= RS_LC_TL_PEERS)
		return;
	tl->n_conns = i + 1;
	tl->conns[i].ts_ns = now;
	tl->conns[i].dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	sock_daddr(sk, tl->conns[i].daddr);
}

/* A connection accepted on a gcs_server port (passive open completed). */
static __always_inline void on_accepted(const struct sock *sk, __u64 now)
{
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	struct rs_lc_gcsport *gp = bpf_map_lookup_elem(&lc_gcsports, &port);
	struct rs_lc_peer_key pk = {};
	struct rs_lc_peer *peer;

	if (!gp)
		return;
	__sync_fetch_and_add(&gp->accepted, 1);
	sock_daddr(sk, pk.addr);
	pk.gcs_port = port;
	peer = bpf_map_lookup_elem(&lc_gcspeers, &pk);
	if (!peer) {
		bpf_map_update_elem(&lc_gcspeers, &pk, &zero_peer, BPF_NOEXIST);
		peer = bpf_map_lookup_elem(&lc_gcspeers, &pk);
		if (!peer)
			return;
		if (!peer->first_ns)
			peer->first_ns = now;
	}
	peer->last_ns = now;
	__sync_fetch_and_add(&peer->accepted, 1);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(lc_sockstate, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 now;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();
	if (newstate == TCP_LISTEN)
		on_listen(sk, now);
	else if (newstate == TCP_SYN_SENT)
		on_syn_sent(sk);
	else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT)
		on_connected(sk, now);
	else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV)
		on_accepted(sk, now);
	else if (newstate == TCP_CLOSE) {
		__u64 key = (__u64)sk;

		bpf_map_delete_elem(&lc_socks, &key);
	}
	return 0;
}

/* Is the last segment of a cgroup path a pod cgroup? cgroupfs layout:
 * "pod<uid>"; systemd layout: "kubepods[-<qos>]-pod<uid>.slice". The
 * collector re-parses the stored path strictly and drops non-pods. */
struct segscan {
	const char *b;
	int n;
	int seg;        /* start of the last segment */
	bool dash_pod;  /* "-pod" inside the last segment */
};

static long segscan_step(__u32 i, void *ctx)
{
	struct segscan *s = ctx;
	char c;

	if ((int)i >= s->n)
		return 1;
	c = s->b[i & (BUF_LEN - 1)];
	if (c == '/') {
		s->seg = i + 1;
		s->dash_pod = false;
	} else if (c == '-' && s->b[(i + 1) & (BUF_LEN - 1)] == 'p' &&
		   s->b[(i + 2) & (BUF_LEN - 1)] == 'o' && s->b[(i + 3) & (BUF_LEN - 1)] == 'd') {
		s->dash_pod = true;
	}
	return 0;
}

static __always_inline bool is_pod_segment(const char *b, int n)
{
	struct segscan s = { .b = b, .n = n };

	bpf_loop(BUF_LEN, segscan_step, &s, 0);
	if (s.dash_pod)
		return true;
	return b[s.seg & (BUF_LEN - 1)] == 'p' && b[(s.seg + 1) & (BUF_LEN - 1)] == 'o' &&
	       b[(s.seg + 2) & (BUF_LEN - 1)] == 'd';
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(lc_cgmkdir, struct cgroup *cgrp, const char *path)
{
	__u32 hier = BPF_CORE_READ(cgrp, root, hierarchy_id);
	__u64 id, parent_id, *parent_key;
	struct scratch *s;
	struct rs_lc_timeline *tl;
	int n;

	if (hier != cg_hierarchy)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	parent_id = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	parent_key = bpf_map_lookup_elem(&lc_podcg, &parent_id);
	if (parent_key) { /* a container (or deeper) cgroup of a known pod */
		__u64 k = *parent_key;

		bpf_map_update_elem(&lc_podcg, &id, &k, BPF_ANY);
		return 0;
	}
	s = scratch_buf();
	if (!s)
		return 0;
	n = bpf_probe_read_kernel_str(s->b, BUF_LEN, path);
	if (n <= 0 || !is_pod_segment(s->b, n - 1))
		return 0;
	tl = timeline_get(id);
	if (!tl)
		return 0;
	tl->cgroup_ns = bpf_ktime_get_ns();
	bpf_probe_read_kernel_str(tl->cgroup_path, sizeof(tl->cgroup_path), path);
	bpf_map_update_elem(&lc_podcg, &id, &id, BPF_ANY);
	return 0;
}
