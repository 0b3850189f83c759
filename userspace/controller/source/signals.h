/* signals.h -- the latest snapshot each raysense agent pushed
 * (POST /api/v1/signals: the agent's full snapshot, schema_version 1,
 * docs/snapshot-schema.json, or its compact push, schema_version 2,
 * docs/push-schema.json, which keeps only the members this file,
 * lease_report.c and startup_report.c read, under the same names: both are
 * parsed by the same code), and the busy hints the planner derives from it.
 * Thread-safe: the HTTP threads ingest, the control loop reads. */
#ifndef RAYSENSE_CONTROLLER_SIGNALS_H
#define RAYSENSE_CONTROLLER_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

/* Defaults of signals_configure (the controller's --agent-capacity and
 * --signal-max-age). */
#define SIGNALS_DEFAULT_CAPACITY 10000
#define SIGNALS_DEFAULT_MAX_AGE_S 30.0

/* The push documents read ($.schema_version); any other is refused with an
 * error naming these. */
#define SIGNALS_SCHEMA_FULL 1
#define SIGNALS_SCHEMA_COMPACT 2

struct signals;

struct signals_stats {
	size_t capacity;			/* most agents kept at once */
	size_t entries;				/* agents kept now */
	unsigned long long evicted_total;	/* stale entries dropped for a new agent */
	unsigned long long rejected_full_total;	/* snapshots refused: table full of live agents */
};

struct signals *signals_new(void);
void signals_free(struct signals *s);
/* Keep at most `capacity` agents; when full, an agent silent for more than
 * max_age_s makes room for a new one (its hints were ignored already).
 * 0, or -EINVAL (capacity 0, max_age_s < 0, or fewer than the agents kept). */
int signals_configure(struct signals *s, size_t capacity, double max_age_s);
void signals_stats(struct signals *s, struct signals_stats *out);
/* Validate and keep one snapshot document (latest per agent node name).
 * 0, -EINVAL (err says what is wrong; nothing is kept), -ENOSPC (the table
 * is full of live agents: counted, and logged at most once a minute) or
 * -ENOMEM. */
int signals_ingest(struct signals *s, const char *body, size_t len, double now, char *err,
		   size_t err_size);
/* Who sent a snapshot, when the controller knows (--agent-auth
 * tokenreview): the Kubernetes node its token is bound to, and where each
 * Ray node runs (auth/node_map.h).  signals_ingest_from() then keeps a
 * snapshot only when its node.node_name is that node and none of the
 * raylets it reports (workers, lease families) is known to run on another
 * node; raylets whose node cannot be told yet are dropped from what is kept
 * (counted in `unverified`), never trusted.  An agent's entry is keyed by
 * node_name, so no sender can replace another node's entry. */
struct signals_sender {
	const char *node;
	/* true with the Ray node's Kubernetes node in out[size]; false = unknown */
	bool (*where)(void *ctx, const char *ray_node_id, char *out, size_t size);
	void *ctx;
	/* out: why a snapshot was refused (-EPERM): "node_name" or
	 * "raylet_elsewhere"; and raylets dropped as unverified */
	const char *refused;
	size_t unverified;
};
/* signals_ingest() for a known sender: also -EPERM (err says which raylet
 * or name, from->refused names the reason; nothing is kept). */
int signals_ingest_from(struct signals *s, const char *body, size_t len, double now,
			struct signals_sender *from, char *err, size_t err_size);
/* Busy hint for a Ray node from snapshots received within max_age_s.
 * False (and -1s) when no agent reported on that node.  This and the two
 * lookups below read the agent that reported the Ray node most recently
 * (an index, O(1) per call); when that agent stops naming it, another agent
 * still naming it counts again from its next push. */
bool signals_busy_hint(struct signals *s, const char *ray_node_id, double now, double max_age_s,
		       int *busy_workers, double *busy_age_s);
/* Lease traffic an agent reported for a Ray node (source/lease_report.h),
 * from snapshots received within max_age_s.  False when none. */
struct node_leases {
	double last_lease_at;	/* UNIX time a lease was last seen served there; 0 = never */
	bool queued;		/* leases waited long in the latest snapshot */
};
bool signals_node_leases(struct signals *s, const char *ray_node_id, double now,
			 double max_age_s, struct node_leases *out);
/* How long the Ray node took to start, as its agent's timeline says
 * (source/startup_report.h), from snapshots received within max_age_s.
 * False when no agent reports it. */
bool signals_node_startup(struct signals *s, const char *ray_node_id, double now,
			  double max_age_s, double *seconds);
/* The Ray node ids of the controller's own cluster (the loop sets them each
 * tick from what the dashboard listed; n == 0 keeps the previous set).  An
 * agent reports every raylet on its host, other clusters' too: the reject
 * rate and the queueing hook count only raylets in this set (all of them
 * until it is first set).  0 or -ENOMEM (the previous set is kept). */
int signals_set_cluster_nodes(struct signals *s, const char *const *ids, size_t n);
/* Rejected + spilled-back lease replies per second of the cluster's
 * raylets, summed over the fresh agents' latest snapshots, each raylet's
 * per second its agent sampled (--lease-probes windows, lease_report.h);
 * < 0 when no fresh agent reports it. */
double signals_reject_rate(struct signals *s, double now, double max_age_s);
/* fn(ctx) is called (from the ingesting thread) when a snapshot shows
 * leases queueing on a raylet of the cluster; set it before snapshots
 * arrive. */
void signals_set_queueing_hook(struct signals *s, void (*fn)(void *ctx), void *ctx);

/* Summary for /api/v1/status. */
cJSON *signals_to_json(struct signals *s, double now);
size_t signals_count(struct signals *s);
/* Agents heard from within the signal max age at `now` (the table keeps
 * silent ones until it needs their slot).  Counted over the table at most
 * once a second (the intake asks it on every push); in between, the last
 * count. */
size_t signals_live_count(struct signals *s, double now);

#endif
