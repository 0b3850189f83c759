/* demand.h -- what the controller knows about a Ray cluster at one moment:
 * its nodes and their logical usage, and the pending logical demand (tasks,
 * actors, placement groups, request_resources).  Both readers produce these
 * types: the dashboard's JSON client (dashboard.c) and the autoscaler-v2
 * text parser (ray_text.c); neither includes the other's header.  The plan
 * input (plan_input.c) consumes them.  No I/O here: types, their release and
 * small pure helpers. */
#ifndef RAYSENSE_CONTROLLER_DEMAND_H
#define RAYSENSE_CONTROLLER_DEMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/plan/planner.h"
#include "controller/plan/resmap.h"

/* Longest error or warning text a reader leaves in a snapshot. */
#define DASH_ERR_LEN 512

struct dash_node {
	char *node_id;
	char *node_name;		/* ray start --node-name (default: the IP) */
	char *node_ip;
	char *label_node;		/* DASH_LABEL_NODE label, or NULL */
	bool is_head;
	bool alive;			/* state == "ALIVE" */
	struct resmap total;		/* raw Ray names */
	/* From /api/cluster_status usageByNode, when it has this node. */
	bool have_usage;
	struct resmap available;	/* raw Ray names, total - used */
	bool busy;			/* some non-"node:" resource in use */
};

struct dash_shape {
	enum planner_demand_kind kind;
	struct resmap shape;
	long count;
};

/* One pending task or actor creation task from the state API. */
struct dash_pending {
	enum planner_demand_kind kind;
	struct resmap shape;
	double pending_since_ms;	/* PENDING_NODE_ASSIGNMENT event time; 0 = unknown */
};

struct dash_pg {
	enum planner_pg_strategy strategy;
	struct resmap *bundles;		/* unplaced bundles, one per unit */
	size_t bundle_count;
	long count;
};

/* One node's entry of usageByNode: mangled resource name -> used, total. */
struct dash_usage {
	char *key;			/* node id (read-only provider) or IP */
	struct resmap used;		/* camelCased names */
	struct resmap total;
};

/* A pending placement group from the state API (no strategy there). */
struct dash_api_pg {
	char *id;
	char *state;			/* PENDING or RESCHEDULING */
	struct resmap *bundles;		/* unplaced bundles (node_id ""), one per unit */
	size_t bundle_count;
	bool known;			/* strategy determined (pg_match.c) */
	enum planner_pg_strategy strategy;
};

enum dash_cs_source {
	DASH_CS_NONE = 0,		/* no usable data: state API only */
	DASH_CS_STRUCTURED,		/* v1 monitor's report */
	DASH_CS_V2_TEXT,		/* autoscaler v2: text + state API + node summary */
};
const char *dash_cs_source_name(enum dash_cs_source s);

struct dash_cluster_status {
	bool present;			/* false: clusterStatus null (v2, no monitor) */
	enum dash_cs_source source;
	double time;			/* monitor's UNIX time of the report */
	struct dash_shape *demand;	/* resourceDemand (informational) */
	size_t demand_count;
	/* The v1 monitor stops listing shapes once its demand vector passes
	 * AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE (1000) entries: a whole
	 * shape at a time, so a shape absent here may be pending in thousands
	 * (docs/demand-at-scale.md).  Set when the listed demand passes it. */
	bool demand_truncated;
	/* The demand was read live from the GCS in this tick (gcs_load.h)
	 * instead of taken from the report: complete and current, so no task
	 * list is read or needed (dash_source.c, dash_pending_complete). */
	bool demand_from_gcs;
	struct dash_pg *pgs;
	size_t pg_count;
	struct dash_shape *requests;	/* requestDemand: request_resources() */
	size_t request_count;
	struct dash_usage *usage;
	size_t usage_count;
	/* DASH_CS_V2_TEXT only: pending groups whose strategy is not certain
	 * (no launch for them) and why. */
	struct dash_api_pg *held;
	size_t held_count;
	char held_why[DASH_ERR_LEN];
};

struct dash_snapshot {
	double fetched_at;		/* UNIX time when the fetch completed */
	struct dash_node *nodes;
	size_t node_count;
	struct dash_pending *pending;	/* state API, one per task */
	size_t pending_count;
	long pending_tasks, pending_actors;
	/* The pending-task list is read in the background (dash_source.c):
	 * when the read it came from began (0 = no list), and why there is no
	 * list or why it is too old to trust ("" = it is current). */
	double pending_read_at;
	char pending_error[DASH_ERR_LEN];
	/* Filled by dash_merge_demand(). */
	struct dash_shape *shapes;
	size_t shape_count;
	long new_since_report;		/* pending units newer than the report */
	struct dash_cluster_status cs;
	/* Why the autoscaler-v2 data is missing or partial ("" = it is not). */
	char v2_error[DASH_ERR_LEN];
	/* Why the report's demand was not replaced by the GCS's ("" = it was,
	 * or no GCS read was asked for). */
	char gcs_error[DASH_ERR_LEN];
};

void dash_snapshot_free(struct dash_snapshot *snap);
/* Copy src's pending tasks and counts into dst (which has none).  0 or
 * -ENOMEM (dst then has none). */
int dash_pending_copy(struct dash_snapshot *dst, const struct dash_snapshot *src);
/* The pending-task list covers every task that became pending after the
 * report (it was read after the report was written, and the report is not
 * truncated), or the demand was read live from the GCS this tick (then no
 * list is needed): only then may nodes be stopped, since a task the list
 * misses could be headed for them. */
bool dash_pending_complete(const struct dash_snapshot *s);
/* Free one group's fields (zeroed after), or a whole array of them. */
void dash_api_pg_clear(struct dash_api_pg *pg);
void dash_api_pgs_free(struct dash_api_pg *pgs, size_t count);
void dash_cluster_status_free(struct dash_cluster_status *cs);
/* Shared by the structured (v1) and text (v2) parsers: append n >= 0 copies
 * of b to a bundle array (one realloc), free a bundle array, free a shape
 * array. */
int dash_bundles_append(struct resmap **bundles, size_t *count, const struct resmap *b, long n);
void dash_bundles_free(struct resmap *bundles, size_t count);
void dash_shapes_free(struct dash_shape *shapes, size_t count);
/* Add units of (kind, shape) to a shape array: to the entry with the same
 * kind and shape, else as a new entry (a copy of shape).  0 or -ENOMEM. */
int dash_shapes_add(struct dash_shape **arr, size_t *count, enum planner_demand_kind kind,
		    const struct resmap *shape, long units);
const struct dash_node *dash_find_node(const struct dash_snapshot *snap, const char *node_id);

#endif
