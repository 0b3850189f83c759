/* lifecycle_collect.c -- decode the lifecycle family's pinned maps into a
 * snapshot (works with no agent running: only the pins are needed).
 *
 * Times in the maps are CLOCK_MONOTONIC ns (bpf_ktime_get_ns); timelines are
 * converted to UNIX time here. Phase durations are measured from the
 * previous milestone for the pod/node part (cgroup -> first exec -> raylet
 * exec) and from the raylet's exec for the raylet's own milestones (listen,
 * GCS connection), because the raylet does those two concurrently. */
#include "agent/lifecycle.h"
#include "agent/lifecycle_cgroup.h"
#include "agent/timeline_ids.h"
#include "agent/bpf_pin.h"
#include "common/log.h"
#include "raysense/lifecycle.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define F_STARTUP RS_FAMILY_WORKER_STARTUP
#define F_STARTED RS_FAMILY_WORKERS_STARTED
#define F_FAILED RS_FAMILY_WORKER_STARTUP_FAILURES
#define F_PHASE RS_FAMILY_NODE_STARTUP_PHASE
#define F_GCS_ACCEPTED RS_FAMILY_GCS_ACCEPTED
#define F_PEER_FIRST RS_FAMILY_GCS_PEER_FIRST_SEEN
#define F_PEER_ACCEPTED RS_FAMILY_GCS_PEER_ACCEPTED

/* HELP/TYPE of these families: rs_metric_families in snapshot.c. */

struct clocks {
	unsigned long long mono_ns;
	unsigned long long real_ns;
};

static unsigned long long clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static unsigned long long to_unix_ns(const struct clocks *c, unsigned long long mono)
{
	if (!mono)
		return 0;
	return c->real_ns - (c->mono_ns - mono);
}

/* Ray node id of a live raylet, "" when gone or unknown. */
static void raylet_node_id(unsigned pid, char *out, size_t len)
{
	char cmd[16384];
	const char *v;
	size_t n;

	out[0] = '\0';
	if (rs_lc_read_cmdline((int)pid, cmd, sizeof(cmd), &n))
		return;
	v = rs_lc_cmdline_flag(cmd, n, "--node_id=");
	if (v)
		snprintf(out, len, "%s", v);
}

static int collect_nodes(const char *pin_dir, struct rs_snapshot *snap, const struct clocks *c)
{
	int fd = rs_bpf_open_pinned(pin_dir, RS_LC_MAP_NODES);
	__u32 pid;
	int err = 0;

	if (fd < 0)
		return fd;
	for (int e = bpf_map_get_next_key(fd, NULL, &pid), walked = 0;
	     !e && !err && walked < RS_LC_MAP_WALK_LIMIT;
	     e = bpf_map_get_next_key(fd, &pid, &pid), walked++) {
		struct rs_lc_node n;
		struct rs_worker_activity w = {0};
		char spid[16];

		if (bpf_map_lookup_elem(fd, &pid, &n))
			continue;
		snprintf(spid, sizeof(spid), "%u", pid);
		/* node_id: the raylet's identity on default series (raylet_pid
		 * is a debug label, export.h); "" once the raylet is gone. */
		raylet_node_id(pid, w.node_id, sizeof(w.node_id));
		err = rs_snapshot_add_hist(snap, F_STARTUP, (const char *[]){ "raylet_pid", spid,
					   "node_id", w.node_id, NULL }, &n.startup);
		err = err ?: rs_snapshot_add_value(snap, F_STARTED, RS_VALUE_COUNTER,
						   (const char *[]){ "raylet_pid", spid, "node_id", w.node_id,
						   NULL }, (double)n.forked);
		err = err ?: rs_snapshot_add_value(snap, F_FAILED, RS_VALUE_COUNTER,
						   (const char *[]){ "raylet_pid", spid, "node_id", w.node_id,
						   "reason", "exited", NULL }, (double)n.failed);
		err = err ?: rs_snapshot_add_value(snap, F_FAILED, RS_VALUE_COUNTER,
						   (const char *[]){ "raylet_pid", spid, "node_id", w.node_id,
						   "reason", "timeout", NULL }, (double)n.timed_out);
		if (err || !n.alive)
			continue;
		w.raylet_pid = pid;
		w.busy_workers = n.busy > 0 ? (uint32_t)n.busy : 0;
		w.idle_workers = n.idle > 0 ? (uint32_t)n.idle : 0;
		if (n.busy > 0)
			w.seconds_since_busy = 0;
		else if (n.last_busy_ns)
			w.seconds_since_busy = (double)(c->mono_ns - n.last_busy_ns) / 1e9;
		else
			w.seconds_since_busy = -1;
		/* The exporters render it as raysense_workers{state="busy|idle"}
		 * and raysense_raylet_seconds_since_busy. */
		err = rs_snapshot_add_worker(snap, &w);
	}
	close(fd);
	return err;
}

/* The raylet's GCS connection: the first one to the port from its
 * --gcs-address (userspace-recorded in lc_tlgcs). */
static unsigned long long gcs_connected(const struct rs_lc_timeline *tl, int gcs_fd, __u64 key)
{
	__u32 port;
	unsigned n = tl->n_conns < RS_LC_TL_PEERS ? tl->n_conns : RS_LC_TL_PEERS;

	if (gcs_fd < 0 || bpf_map_lookup_elem(gcs_fd, &key, &port))
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (tl->conns[i].dport == port)
			return tl->conns[i].ts_ns;
	return 0;
}

static void phase_add(struct rs_hist *h, unsigned long long from, unsigned long long to)
{
	unsigned long long d;

	if (!from || !to || to < from)
		return;
	d = to - from;
	h->slots[rs_hist_slot(d)]++;
	h->count++;
	h->sum_ns += d;
}

#define NON_RAY_POD_NS (600ULL * 1000000000ULL)

enum { PH_FIRST_EXEC, PH_RAYLET_EXEC, PH_RAYLET_LISTEN, PH_GCS_CONNECTED, PH_N };
static const char *const phase_names[PH_N] = { "first_exec", "raylet_exec", "raylet_listen", "gcs_connected" };

static int collect_timelines(const char *pin_dir, struct rs_snapshot *snap, const struct clocks *c)
{
	int fd = rs_bpf_open_pinned(pin_dir, RS_LC_MAP_TIMELINES);
	int gcs_fd = rs_bpf_open_pinned(pin_dir, RS_LC_MAP_TLGCS);
	struct rs_hist phases[PH_N];
	__u64 key;
	int err = 0;

	if (fd < 0) {
		if (gcs_fd >= 0)
			close(gcs_fd);
		return fd;
	}
	memset(phases, 0, sizeof(phases));
	for (int e = bpf_map_get_next_key(fd, NULL, &key), walked = 0;
	     !e && !err && walked < RS_LC_MAP_WALK_LIMIT;
	     e = bpf_map_get_next_key(fd, &key, &key), walked++) {
		struct rs_lc_timeline tl;
		struct rs_timeline t = {0};
		unsigned long long gcs;

		if (bpf_map_lookup_elem(fd, &key, &tl))
			continue;
		/* Every pod on the node gets a timeline in the kernel; one with no
		 * raylet 10 minutes after its cgroup appeared is not a Ray pod. */
		if (!(key & RS_LC_TL_RAYSTART) && !tl.raylet_exec_ns &&
		    c->mono_ns - tl.cgroup_ns > NON_RAY_POD_NS)
			continue;
		if (key & RS_LC_TL_RAYSTART) {
			snprintf(t.key, sizeof(t.key), "pid:%u", tl.root_pid ? tl.root_pid : tl.raylet_pid);
		} else {
			char uid[RS_POD_UID_LEN];

			tl.cgroup_path[RS_LC_PATH_LEN - 1] = '\0';
			if (rs_pod_uid_from_cgroup_path(tl.cgroup_path, uid))
				continue; /* the kernel's loose match was not a pod */
			snprintf(t.key, sizeof(t.key), "%s", uid);
			snprintf(t.pod_uid, sizeof(t.pod_uid), "%s", uid);
		}
		gcs = gcs_connected(&tl, gcs_fd, key);
		t.cgroup_created_ns = to_unix_ns(c, tl.cgroup_ns);
		t.first_exec_ns = to_unix_ns(c, tl.first_exec_ns);
		t.raylet_exec_ns = to_unix_ns(c, tl.raylet_exec_ns);
		t.raylet_listen_ns = to_unix_ns(c, tl.raylet_listen_ns);
		t.gcs_connected_ns = to_unix_ns(c, gcs);
		t.raylet_pid = tl.raylet_pid;
		/* The timeline's identity on default series (its key is a pod UID
		 * or a pid, debug labels only): its raylet's node id, remembered
		 * after the raylet exits; "" until the raylet runs. */
		if (tl.raylet_pid)
			raylet_node_id(tl.raylet_pid, t.node_id, sizeof(t.node_id));
		rs_timeline_id_resolve(key, t.node_id, sizeof(t.node_id));
		phase_add(&phases[PH_FIRST_EXEC], tl.cgroup_ns, tl.first_exec_ns);
		phase_add(&phases[PH_RAYLET_EXEC], tl.first_exec_ns, tl.raylet_exec_ns);
		phase_add(&phases[PH_RAYLET_LISTEN], tl.raylet_exec_ns, tl.raylet_listen_ns);
		phase_add(&phases[PH_GCS_CONNECTED], tl.raylet_exec_ns, gcs);
		err = rs_snapshot_add_timeline(snap, &t);
	}
	for (int i = 0; i < PH_N && !err; i++)
		err = rs_snapshot_add_hist(snap, F_PHASE, (const char *[]){ "phase", phase_names[i], NULL },
					   &phases[i]);
	close(fd);
	if (gcs_fd >= 0)
		close(gcs_fd);
	return err;
}

static void addr_text(const unsigned char a[16], char *out, size_t len)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(a, v4mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, out, (socklen_t)len);
}

static int collect_gcs(const char *pin_dir, struct rs_snapshot *snap, const struct clocks *c)
{
	int ports_fd = rs_bpf_open_pinned(pin_dir, RS_LC_MAP_GCSPORTS);
	int peers_fd = rs_bpf_open_pinned(pin_dir, RS_LC_MAP_GCSPEERS);
	struct rs_lc_peer_key pk;
	__u16 port;
	int err = 0;

	if (ports_fd < 0 || peers_fd < 0) {
		err = ports_fd < 0 ? ports_fd : peers_fd;
		goto out;
	}
	for (int e = bpf_map_get_next_key(ports_fd, NULL, &port), walked = 0;
	     !e && !err && walked < RS_LC_MAP_WALK_LIMIT;
	     e = bpf_map_get_next_key(ports_fd, &port, &port), walked++) {
		struct rs_lc_gcsport gp;
		char sport[8], spid[16];

		if (bpf_map_lookup_elem(ports_fd, &port, &gp))
			continue;
		snprintf(sport, sizeof(sport), "%u", port);
		snprintf(spid, sizeof(spid), "%u", gp.gcs_pid);
		err = rs_snapshot_add_value(snap, F_GCS_ACCEPTED, RS_VALUE_COUNTER,
					    (const char *[]){ "gcs_port", sport, "gcs_pid", spid, NULL },
					    (double)gp.accepted);
	}
	for (int e = bpf_map_get_next_key(peers_fd, NULL, &pk), walked = 0;
	     !e && !err && walked < RS_LC_MAP_WALK_LIMIT;
	     e = bpf_map_get_next_key(peers_fd, &pk, &pk), walked++) {
		struct rs_lc_peer peer;
		char sport[8], saddr[INET6_ADDRSTRLEN];

		if (bpf_map_lookup_elem(peers_fd, &pk, &peer))
			continue;
		snprintf(sport, sizeof(sport), "%u", pk.gcs_port);
		addr_text(pk.addr, saddr, sizeof(saddr));
		err = rs_snapshot_add_value(snap, F_PEER_FIRST, RS_VALUE_GAUGE,
					    (const char *[]){ "gcs_port", sport, "peer", saddr, NULL },
					    (double)to_unix_ns(c, peer.first_ns) / 1e9);
		err = err ?: rs_snapshot_add_value(snap, F_PEER_ACCEPTED, RS_VALUE_COUNTER,
						   (const char *[]){ "gcs_port", sport, "peer", saddr, NULL },
						   (double)peer.accepted);
	}
out:
	if (ports_fd >= 0)
		close(ports_fd);
	if (peers_fd >= 0)
		close(peers_fd);
	return err;
}

int rs_lifecycle_collect(const char *pin_dir, struct rs_snapshot *snap)
{
	struct clocks c = { clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_REALTIME) };
	int err;

	err = collect_nodes(pin_dir, snap, &c);
	if (err)
		return err;
	err = collect_timelines(pin_dir, snap, &c);
	if (err)
		return err;
	return collect_gcs(pin_dir, snap, &c);
}
