/* lifecycle.c -- loader of the lifecycle probe family (bpf/lifecycle.bpf.c).
 *
 * attach: pick the cgroup hierarchy pod cgroups are tracked in, load the
 * object with its maps pinned by name (reusing compatible pins), forget the
 * per-process state a previous agent left (it may be stale), attach, then
 * seed the maps with the raylets, workers and gcs_servers already running.
 * poll: tell each raylet's timeline its GCS port (from --gcs-address), so
 * collect can pick the GCS connection among the raylet's first ones. */
#include "agent/lifecycle.h"
#include "agent/bpf_pin.h"
#include "common/log.h"
#include "raysense/lifecycle.h"
#include "lifecycle.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_SUPER_MAGIC 0x63677270

static const char *const lc_pinned_maps[] = {
	RS_LC_MAP_PROCS, RS_LC_MAP_NODES, RS_LC_MAP_TIMELINES, RS_LC_MAP_PODCG,
	RS_LC_MAP_SOCKS, RS_LC_MAP_GCSPORTS, RS_LC_MAP_GCSPEERS, RS_LC_MAP_TLGCS, NULL,
};

struct lc_state {
	struct lifecycle_bpf *skel;
};

/* Pod cgroups live in the cgroup v2 tree when /sys/fs/cgroup is cgroup2,
 * else (v1 or hybrid, where kubelet uses v1) in the cpu controller's
 * hierarchy, whose id /proc/cgroups gives. */
static void pick_hierarchy(struct lifecycle_bpf *skel)
{
	/* RAYSENSE_POD_CGROUP=v2 forces the v2 tree (hybrid hosts whose
	 * runtime uses the unified hierarchy; also how the tests cover v2 on a
	 * v1 host). */
	const char *force = getenv("RAYSENSE_POD_CGROUP");
	struct statfs st;
	char line[256];
	FILE *f;

	if ((force && strcmp(force, "v2") == 0) ||
	    (statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)) {
		skel->rodata->cg_hierarchy = 0;
		rs_info("lifecycle: pod cgroups tracked in the cgroup v2 tree");
		return;
	}
	f = fopen("/proc/cgroups", "re");
	if (!f) {
		rs_warn("lifecycle: no /proc/cgroups (%s); tracking pod cgroups in cgroup v2",
			strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned hier;

		if (sscanf(line, "%63s %u", name, &hier) == 2 && strcmp(name, "cpu") == 0) {
			skel->rodata->cg_hierarchy = hier;
			rs_info("lifecycle: pod cgroups tracked in cgroup v1 hierarchy %u (cpu)", hier);
			break;
		}
	}
	fclose(f);
	/* cg_subsys keeps its default, cpu_cgrp_id (1 in every kernel since the
	 * enum was introduced; checked against this kernel's BTF). */
}

/* A worker that exits unready after Ray's worker_register_timeout_seconds
 * (60 in Ray 2.60) was killed by the raylet for not registering. Clusters
 * that change RAY_worker_register_timeout_seconds set the same value in
 * RAYSENSE_WORKER_REGISTER_TIMEOUT_S. */
static void set_worker_timeout(struct lifecycle_bpf *skel)
{
	const char *v = getenv("RAYSENSE_WORKER_REGISTER_TIMEOUT_S");
	char *end;
	double secs;

	if (!v || !*v)
		return;
	secs = strtod(v, &end);
	if (*end || secs <= 0 || secs > 86400) {
		rs_warn("lifecycle: ignoring RAYSENSE_WORKER_REGISTER_TIMEOUT_S='%s' (want seconds in (0, 86400])",
			v);
		return;
	}
	skel->rodata->worker_timeout_ns = (unsigned long long)(secs * 1e9);
	rs_info("lifecycle: worker registration timeout %.3f s", secs);
}

static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n'))
		buf[--n] = '\0';
	return 0;
}

/* ppid and start time (CLOCK_MONOTONIC-ish ns: boot-relative) of a pid. */
static int proc_stat(int pid, int *ppid, unsigned long long *start_ns)
{
	char path[64], buf[1024], *p;
	unsigned long long start_ticks;
	int pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small(path, buf, sizeof(buf)))
		return -ENOENT;
	p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return -EINVAL;
	/* fields after comm: state ppid ... starttime is field 22 overall */
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &pp, &start_ticks) != 2)
		return -EINVAL;
	*ppid = pp;
	*start_ns = start_ticks * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
	return 0;
}

static void seed_node_gauges(int nodes_fd, __u32 raylet, enum rs_lc_wstate st)
{
	struct rs_lc_node n;

	if (bpf_map_lookup_elem(nodes_fd, &raylet, &n))
		return;
	if (st == RS_LC_W_STARTING)
		n.starting++;
	else if (st == RS_LC_W_IDLE)
		n.idle++;
	else
		n.busy++;
	bpf_map_update_elem(nodes_fd, &raylet, &n, BPF_EXIST);
}

static void seed_raylet(int procs_fd, int nodes_fd, __u32 pid)
{
	struct rs_lc_proc p = { .kind = RS_LC_RAYLET, .tl_key = RS_LC_TL_RAYSTART | pid };
	struct rs_lc_node n;

	bpf_map_update_elem(procs_fd, &pid, &p, BPF_NOEXIST);
	if (bpf_map_lookup_elem(nodes_fd, &pid, &n))
		memset(&n, 0, sizeof(n));
	n.alive = 1;
	bpf_map_update_elem(nodes_fd, &pid, &n, BPF_ANY);
}

static void seed_gcs(int procs_fd, int ports_fd, __u32 pid)
{
	struct rs_lc_proc p = { .kind = RS_LC_GCS };
	struct rs_lc_gcsport gp = { .gcs_pid = pid };
	char cmd[8192];
	const char *v;
	size_t len;

	bpf_map_update_elem(procs_fd, &pid, &p, BPF_NOEXIST);
	if (rs_lc_read_cmdline((int)pid, cmd, sizeof(cmd), &len))
		return;
	v = rs_lc_cmdline_flag(cmd, len, "--gcs_server_port=");
	if (v && atoi(v) > 0 && atoi(v) < 65536) {
		__u16 port = (__u16)atoi(v);

		bpf_map_update_elem(ports_fd, &port, &gp, BPF_NOEXIST);
	}
}

/* A raylet child that runs a worker script. */
static void seed_worker(int procs_fd, int nodes_fd, __u32 pid, __u32 raylet,
			unsigned long long start_ns)
{
	struct rs_lc_proc p = { .kind = RS_LC_WORKER, .raylet_pid = raylet, .fork_ns = start_ns };
	char comm[32], path[64], cmd[4096];
	size_t len;

	if (rs_lc_read_cmdline((int)pid, cmd, sizeof(cmd), &len))
		return;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	if (read_small(path, comm, sizeof(comm)))
		return;
	/* The raylet's agents rename themselves too (setproctitle clobbers
	 * argv, so their argv no longer tells): Ray 2.60 titles
	 * "ray::DashboardAgent" and "ray::RuntimeEnvAgent", comm-truncated. */
	if (strcmp(comm, "ray::DashboardA") == 0 || strcmp(comm, "ray::RuntimeEnv") == 0)
		return;
	if (strncmp(comm, "ray::", 5) == 0) {
		p.state = strncmp(comm, "ray::IDLE", 9) == 0 ? RS_LC_W_IDLE : RS_LC_W_BUSY;
		p.ready_ns = start_ns;
	} else {
		/* Not renamed: the argv must name a worker script. */
		int is_worker = 0;

		for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
			size_t a = strlen(cmd + off);

			if (a >= 10 && strcmp(cmd + off + a - 10, "_worker.py") == 0)
				is_worker = 1;
		}
		if (!is_worker)
			return;
		p.state = RS_LC_W_STARTING;
	}
	if (bpf_map_update_elem(procs_fd, &pid, &p, BPF_NOEXIST) == 0)
		seed_node_gauges(nodes_fd, raylet, (enum rs_lc_wstate)p.state);
}

/* Two passes over /proc: raylets and gcs_servers, then raylet children. */
static void seed_from_proc(struct lifecycle_bpf *skel)
{
	int procs_fd = bpf_map__fd(skel->maps.lc_procs);
	int nodes_fd = bpf_map__fd(skel->maps.lc_nodes);
	int ports_fd = bpf_map__fd(skel->maps.lc_gcsports);
	struct dirent *de;
	DIR *d;

	for (int pass = 0; pass < 2; pass++) {
		d = opendir("/proc");
		if (!d) {
			rs_warn("lifecycle: cannot scan /proc: %s", strerror(errno));
			return;
		}
		while ((de = readdir(d))) {
			char path[64], comm[32];
			unsigned long long start_ns;
			int pid, ppid;
			struct rs_lc_proc parent;

			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid = atoi(de->d_name);
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			if (read_small(path, comm, sizeof(comm)))
				continue;
			if (pass == 0) {
				if (strcmp(comm, "raylet") == 0)
					seed_raylet(procs_fd, nodes_fd, (__u32)pid);
				else if (strcmp(comm, "gcs_server") == 0)
					seed_gcs(procs_fd, ports_fd, (__u32)pid);
				continue;
			}
			if (proc_stat(pid, &ppid, &start_ns))
				continue;
			if (bpf_map_lookup_elem(procs_fd, &ppid, &parent) == 0 &&
			    parent.kind == RS_LC_RAYLET)
				seed_worker(procs_fd, nodes_fd, (__u32)pid, (__u32)ppid, start_ns);
		}
		closedir(d);
	}
}

/* Per-process state in pinned maps may describe processes that came and
 * went while no agent ran: drop it, and zero the gauges derived from it.
 * Histograms and counters (cumulative) are kept. The node keys are collected
 * before any update: updating an (LRU) hash element moves it to the head of
 * its bucket, so updating while walking with get_next_key can cycle between
 * two keys of one bucket forever. */
static void forget_process_state(struct lifecycle_bpf *skel)
{
	int procs_fd = bpf_map__fd(skel->maps.lc_procs);
	int nodes_fd = bpf_map__fd(skel->maps.lc_nodes);
	size_t cap = bpf_map__max_entries(skel->maps.lc_nodes), n_keys = 0;
	__u32 key, next, *keys;
	struct rs_lc_node n;

	while (bpf_map_get_next_key(procs_fd, NULL, &next) == 0)
		bpf_map_delete_elem(procs_fd, &next);
	keys = calloc(cap ? cap : 1, sizeof(*keys));
	if (!keys) {
		rs_warn("lifecycle: out of memory resetting node state");
		return;
	}
	for (int err = bpf_map_get_next_key(nodes_fd, NULL, &key); !err && n_keys < cap;
	     err = bpf_map_get_next_key(nodes_fd, &key, &key))
		keys[n_keys++] = key;
	for (size_t i = 0; i < n_keys; i++) {
		if (bpf_map_lookup_elem(nodes_fd, &keys[i], &n))
			continue;
		n.starting = n.idle = n.busy = 0;
		n.alive = 0;
		bpf_map_update_elem(nodes_fd, &keys[i], &n, BPF_EXIST);
	}
	free(keys);
}

static int rs_lifecycle_poll(void *state);

static int rs_lifecycle_attach(const struct rs_probe_ctx *ctx, void **state)
{
	struct lc_state *st;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->skel = lifecycle_bpf__open();
	if (!st->skel) {
		err = -errno;
		rs_error("lifecycle: cannot open BPF object: %s", strerror(-err));
		free(st);
		return err;
	}
	pick_hierarchy(st->skel);
	set_worker_timeout(st->skel);
	err = rs_bpf_pin_maps(st->skel->obj, ctx->pin_dir, lc_pinned_maps);
	if (err)
		goto fail;
	err = lifecycle_bpf__load(st->skel);
	if (err) {
		rs_error("lifecycle: cannot load BPF programs: %s", strerror(-err));
		goto fail;
	}
	forget_process_state(st->skel);
	err = lifecycle_bpf__attach(st->skel);
	if (err) {
		rs_error("lifecycle: cannot attach tracepoints: %s", strerror(-err));
		goto fail;
	}
	seed_from_proc(st->skel);
	rs_lifecycle_poll(st);
	*state = st;
	return 0;
fail:
	lifecycle_bpf__destroy(st->skel);
	free(st);
	return err;
}

static int rs_lifecycle_poll(void *state)
{
	struct lc_state *st = state;
	int procs_fd = bpf_map__fd(st->skel->maps.lc_procs);
	int gcs_fd = bpf_map__fd(st->skel->maps.lc_tlgcs);
	__u32 pid;
	int err, walked = 0;

	for (err = bpf_map_get_next_key(procs_fd, NULL, &pid);
	     !err && walked < RS_LC_MAP_WALK_LIMIT;
	     err = bpf_map_get_next_key(procs_fd, &pid, &pid), walked++) {
		struct rs_lc_proc p;
		char cmd[16384];
		__u32 port;
		size_t len;

		if (bpf_map_lookup_elem(procs_fd, &pid, &p) || p.kind != RS_LC_RAYLET)
			continue;
		if (bpf_map_lookup_elem(gcs_fd, &p.tl_key, &port) == 0)
			continue; /* already known */
		if (rs_lc_read_cmdline((int)pid, cmd, sizeof(cmd), &len))
			continue;
		port = rs_lc_parse_port(rs_lc_cmdline_flag(cmd, len, "--gcs-address="));
		if (port && bpf_map_update_elem(gcs_fd, &p.tl_key, &port, BPF_NOEXIST) &&
		    errno != EEXIST)
			rs_warn("lifecycle: cannot record GCS port of raylet %u: %s", pid,
				strerror(errno));
	}
	return 0;
}

static void rs_lifecycle_detach(void *state)
{
	struct lc_state *st = state;

	if (!st)
		return;
	lifecycle_bpf__destroy(st->skel);
	free(st);
}

const struct rs_probe_family rs_lifecycle_family = {
	.name = "lifecycle",
	.attach = rs_lifecycle_attach,
	.poll = rs_lifecycle_poll,
	.detach = rs_lifecycle_detach,
	.collect = rs_lifecycle_collect,
};
