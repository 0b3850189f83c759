/* raylet_collect.c -- read the raylet family's pinned maps into a snapshot.
 *
 * Works with or without a running agent (raysensectl reads the same pins):
 * rs_raylet_meta lists every raylet with series and its labels; rs_raylets
 * is the set a running agent watches right now (raysense_raylet_up). */
#include "agent/raylet.h"
#include "agent/bpf_pin.h"
#include "agent/raylet_symbols.h"
#include "raysense/raylet.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct raylet_maps {
	int meta, live, hist, cnt, runq;
};

static const char *const phase_names[RS_PH_COUNT] = {
	[RS_PH_RPC] = "rpc",
	[RS_PH_QUEUED] = "queued",
	[RS_PH_WORKER_WAIT] = "worker_wait",
	[RS_PH_TO_GRANT] = "to_grant",
};

static void close_maps(struct raylet_maps *m)
{
	int *fds[] = { &m->meta, &m->live, &m->hist, &m->cnt, &m->runq };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

/* Every raylet series is labelled raylet_pid, node_id, raylet_port (its
 * node manager port; "" if unknown), then an optional key=value. */
#define BASE_LABELS 6

static int add_counter(struct rs_snapshot *snap, const char *family, const char *const *base,
		       const char *key, const char *value, double v)
{
	const char *labels[BASE_LABELS + 3];

	memcpy(labels, base, sizeof(*labels) * BASE_LABELS);
	labels[BASE_LABELS] = key;
	labels[BASE_LABELS + 1] = value;
	labels[BASE_LABELS + 2] = NULL;
	return rs_snapshot_add_value(snap, family, RS_VALUE_COUNTER, labels, v);
}

static int collect_counts(struct rs_snapshot *snap, const struct raylet_maps *m, __u32 pid,
			  const struct rs_raylet_info *info, const char *const *base)
{
	struct rs_lease_counts c;
	bool phases = (info->attached & RS_LP_PHASES_MASK) == RS_LP_PHASES_MASK;
	bool outcomes = (info->attached & RS_LP_OUTCOME_MASK) == RS_LP_OUTCOME_MASK;
	const char *fam = RS_FAMILY_LEASES;
	const char *rep = RS_FAMILY_LEASE_REPLIES;
	const char *ev = RS_FAMILY_LEASE_PROBE_EVENTS;
	int err = 0;

	if (bpf_map_lookup_elem(m->cnt, &pid, &c))
		memset(&c, 0, sizeof(c));
	err |= add_counter(snap, RS_FAMILY_LEASE_REQUESTS, base, NULL, NULL, c.requests);
	err |= add_counter(snap, rep, base, "result", "sent", c.replied);
	err |= add_counter(snap, rep, base, "result", "failed", c.failed);
	if (outcomes) {
		err |= add_counter(snap, fam, base, "outcome", "granted", c.granted);
		err |= add_counter(snap, fam, base, "outcome", "spilled_back", c.spilled);
		err |= add_counter(snap, fam, base, "outcome", "rejected", c.rejected);
		err |= add_counter(snap, fam, base, "outcome", "cancelled", c.cancelled);
		err |= add_counter(snap, fam, base, "outcome", "other", c.other);
	}
	err |= add_counter(snap, ev, base, "event", "reply_unmatched", c.unmatched);
	err |= add_counter(snap, ev, base, "event", "inflight_dropped", c.dropped);
	if (phases)
		err |= add_counter(snap, ev, base, "event", "phase_unmatched", c.phase_miss);
	return err ? -ENOMEM : 0;
}

/* The attach fraction of every lease family this raylet exports: they are
 * all sampled by the same windows of the request probe. */
static int collect_fractions(struct rs_snapshot *snap, const struct rs_raylet_info *info,
			     const char *const *base)
{
	const char *fams[] = {
		RS_FAMILY_LEASE_LATENCY, RS_FAMILY_LEASE_REQUESTS, RS_FAMILY_LEASE_REPLIES,
		RS_FAMILY_LEASE_PROBE_EVENTS,
		(info->attached & RS_LP_OUTCOME_MASK) == RS_LP_OUTCOME_MASK ? RS_FAMILY_LEASES : NULL,
		(info->attached & RS_LP_PHASES_MASK) == RS_LP_PHASES_MASK ? RS_FAMILY_LEASE_PHASE : NULL,
	};
	const char *labels[BASE_LABELS + 3];
	double fraction = info->tracked_ns ? (double)info->attached_ns / (double)info->tracked_ns
					   : info->window_open;
	int err = 0;

	memcpy(labels, base, sizeof(*labels) * BASE_LABELS);
	labels[BASE_LABELS] = "family";
	labels[BASE_LABELS + 2] = NULL;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		if (!fams[i])
			continue;
		labels[BASE_LABELS + 1] = fams[i];
		err |= rs_snapshot_add_value(snap, RS_FAMILY_LEASE_ATTACH_FRACTION, RS_VALUE_GAUGE,
					     labels, fraction > 1 ? 1 : fraction);
	}
	return err ? -ENOMEM : 0;
}

/* One series per probe a running agent wanted on this raylet and could not
 * attach (as its log said at tracking time). */
static int collect_missing(struct rs_snapshot *snap, const struct rs_raylet_info *info,
			   const char *const *base)
{
	const char *labels[BASE_LABELS + 5];
	int err = 0;

	memcpy(labels, base, sizeof(*labels) * BASE_LABELS);
	labels[BASE_LABELS] = "probe";
	labels[BASE_LABELS + 2] = "reason";
	labels[BASE_LABELS + 4] = NULL;
	for (int p = 0; p < RS_LP_COUNT; p++) {
		if (!(info->missing & (1u << p)))
			continue;
		labels[BASE_LABELS + 1] = rs_lease_probe_name(p);
		labels[BASE_LABELS + 3] = info->unresolved & (1u << p) ? "symbol_not_found"
								  : "attach_failed";
		err |= rs_snapshot_add_value(snap, RS_FAMILY_LEASE_PROBE_MISSING, RS_VALUE_GAUGE,
					     labels, 1);
	}
	return err ? -ENOMEM : 0;
}

static int collect_one(struct rs_snapshot *snap, const struct raylet_maps *m, __u32 pid,
		       const struct rs_raylet_info *info)
{
	char p[16], port[16] = "";
	const char *labels[BASE_LABELS + 3] = { "raylet_pid", p, "node_id", info->node_id,
						"raylet_port", port, NULL };
	struct rs_raylet_info live_info;
	struct rs_hist h;
	bool live = m->live >= 0 && !bpf_map_lookup_elem(m->live, &pid, &live_info);
	bool lease_on = (info->attached & RS_LP_REQUIRED_MASK) == RS_LP_REQUIRED_MASK;
	int err = 0;

	snprintf(p, sizeof(p), "%u", pid);
	if (info->node_manager_port)
		snprintf(port, sizeof(port), "%u", info->node_manager_port);
	err |= rs_snapshot_add_value(snap, RS_FAMILY_RAYLET_UP, RS_VALUE_GAUGE, labels, live);
	/* "Attached" means now: with no agent watching, nothing is attached. */
	err |= rs_snapshot_add_value(snap, RS_FAMILY_LEASE_PROBES_ATTACHED, RS_VALUE_GAUGE,
				     labels, live && lease_on && info->window_open);
	if (lease_on) {
		err |= collect_fractions(snap, info, labels);
		err |= rs_snapshot_add_value(snap, RS_FAMILY_LEASE_ATTACHED_SECONDS, RS_VALUE_COUNTER,
					     labels, (double)info->attached_ns / 1e9);
	}
	for (__u32 ph = 0; ph < RS_PH_COUNT; ph++) {
		struct rs_lease_hkey key = { .tgid = pid, .phase = ph };
		bool have = m->hist >= 0 && !bpf_map_lookup_elem(m->hist, &key, &h);

		if (ph == RS_PH_RPC) {
			if (!have && !lease_on)
				continue;
			if (!have)
				memset(&h, 0, sizeof(h));
			err |= rs_snapshot_add_hist(snap, RS_FAMILY_LEASE_LATENCY,
						    labels, &h);
			continue;
		}
		if (!have)
			continue;
		labels[BASE_LABELS] = "phase";
		labels[BASE_LABELS + 1] = phase_names[ph];
		err |= rs_snapshot_add_hist(snap, RS_FAMILY_LEASE_PHASE, labels, &h);
		labels[BASE_LABELS] = NULL;
	}
	if (live)
		err |= collect_missing(snap, info, labels);
	if (lease_on && m->cnt >= 0)
		err |= collect_counts(snap, m, pid, info, labels);
	if (m->runq >= 0) {
		if (bpf_map_lookup_elem(m->runq, &pid, &h))
			memset(&h, 0, sizeof(h));
		err |= rs_snapshot_add_hist(snap, RS_FAMILY_RUNQ_LATENCY, labels, &h);
	}
	return err ? -ENOMEM : 0;
}

int rs_raylet_collect(const char *pin_dir, struct rs_snapshot *snap)
{
	struct raylet_maps m = { -1, -1, -1, -1, -1 };
	struct rs_raylet_info info;
	__u32 key, next, *prev = NULL;
	int err = 0;

	m.meta = rs_bpf_open_pinned(pin_dir, RS_RL_MAP_META);
	if (m.meta < 0)
		return m.meta;
	m.live = rs_bpf_open_pinned(pin_dir, RS_RL_MAP_RAYLETS);
	m.hist = rs_bpf_open_pinned(pin_dir, RS_RL_MAP_LEASE_HIST);
	m.cnt = rs_bpf_open_pinned(pin_dir, RS_RL_MAP_LEASE_CNT);
	m.runq = rs_bpf_open_pinned(pin_dir, RS_RL_MAP_RUNQ_HIST);
	while (!err && !bpf_map_get_next_key(m.meta, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m.meta, &key, &info))
			continue;   /* deleted meanwhile */
		info.node_id[sizeof(info.node_id) - 1] = '\0';
		err = collect_one(snap, &m, key, &info);
	}
	close_maps(&m);
	return err;
}
