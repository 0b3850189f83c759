/* lease_report.h -- what one agent snapshot says about lease traffic on each
 * raylet of its node: leases served since the previous snapshot (the delta
 * of raysense_raylet_lease_latency_seconds), how many of them waited long
 * (queueing), and the cumulative rejected / spilled-back counts
 * (raysense_raylet_leases_total{outcome}).  The fusion rules (fusion/) use
 * them: no stop within N s of a lease, no scale-down in a reject burst, and
 * an early fetch when leases queue.  Pure: parsing and arithmetic only.
 *
 * Sampling: an agent with --lease-probes=duty sees only the leases that
 * start inside its windows, and says for how long it looked
 * (raysense_raylet_lease_probes_attached_seconds_total).  The reject rate is
 * therefore per second looked, not per second of the interval; an interval
 * in which it did not look at all has no rate of its own (the previous one
 * is kept), never a rate of 0.  The lease times and the queueing flag need
 * no scaling, but they can only come from leases inside windows: a node's
 * last lease is the last one *seen*, which can be older than its real last
 * lease by up to one closed gap (0.6 s with duty:400/1000) under steady traffic, and
 * a lone lease that fell in a gap is not seen at all (docs/raylet-measures.md,
 * "What sampling means for the controller"). */
#ifndef RAYSENSE_CONTROLLER_LEASE_REPORT_H
#define RAYSENSE_CONTROLLER_LEASE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

/* A lease that waited this long or more counts as queued (2^27 ns = 134 ms,
 * log2 slot 27 of the agent's histograms). */
#define LEASE_SLOW_SLOT 27
#define LEASE_MAX_RAYLETS 8	/* raylets per node kept (one in practice) */

struct raylet_leases {
	char ray_node_id[64];
	double leases;			/* served since the previous snapshot; -1 = unknown */
	double slow;			/* of which waited >= 2^LEASE_SLOW_SLOT ns */
	double rejected, spilled;	/* cumulative */
	double rejected_delta, spilled_delta;	/* since the previous snapshot; -1 = unknown */
	double last_lease_at;		/* UNIX time a lease was last seen served; 0 = never */
	/* Seconds the agent sampled this raylet's leases, cumulative; -1 = not
	 * reported (an agent from before sampling: it looks all the time). */
	double attached_s;
	double attached_delta;		/* since the previous snapshot; -1 = unknown */
	/* Rejected + spilled-back replies per second sampled, from the latest
	 * interval that sampled any time; -1 = unknown. */
	double reject_rate;
};

struct lease_report {
	struct raylet_leases r[LEASE_MAX_RAYLETS];
	size_t n;
};

/* From a push document (schema_version 1 or 2).  Entries it does not know are
 * skipped; malformed ones of the two families are an error (-EINVAL, err
 * names the path). */
int lease_report_parse(const cJSON *root, struct lease_report *out, char *err, size_t size);
/* Carry over from the same agent's previous report (NULL for none): counter
 * deltas, the last lease time (now when this report shows leases served),
 * and the reject rate over the time sampled in this interval (interval_s
 * long, the agent's push interval, used when it does not report sampling). */
void lease_report_follow(struct lease_report *cur, const struct lease_report *prev, double now,
			 double interval_s);
const struct raylet_leases *lease_report_find(const struct lease_report *r,
					      const char *ray_node_id);

#endif
