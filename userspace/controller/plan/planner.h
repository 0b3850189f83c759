/* planner.h -- logical demand + cluster state -> scaling plan, with the
 * semantics of Ray's autoscaler v2 scheduler
 * (ray/autoscaler/v2/scheduler.py, ResourceDemandScheduler, Ray 2.60.0) and
 * the v2 reconciler's upscaling-speed limit
 * (ray/autoscaler/v2/instance_manager/reconciler.py, _compute_to_launch).
 *
 * The planner is a pure function: no I/O, no clocks, no global state.  Time
 * enters only as durations in the input (idle_s, busy_age_s).  The same input
 * always yields the same output.  Every deliberate deviation from Ray is
 * listed at the top of planner.c.
 *
 * Memory: the input only borrows caller memory (strings and arrays) and is
 * never modified.  The output holds malloc'd arrays that point back into the
 * input (type names, node ids, shapes): keep the input alive while you use
 * the output, and release it with planner_output_free().
 *
 * The controller fills struct planner_input from the Ray dashboard and the
 * provider; `raysensectl plan` fills it from the scenario JSON (scenario.h). */
#ifndef RAYSENSE_PLANNER_H
#define RAYSENSE_PLANNER_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults, as in Ray 2.60.0. */
#define PLANNER_DEFAULT_MAX_CONCURRENT_LAUNCHES 10 /* AUTOSCALER_MAX_CONCURRENT_LAUNCHES */
/* Upper bound on any node count the planner will create or reason about;
 * larger max_workers values are clamped to it so memory stays bounded. */
#define PLANNER_MAX_NODES 100000
/* Upper bound on one demand entry's count (tasks, actors, placement groups,
 * request_resources). */
#define PLANNER_MAX_COUNT 100000000L

/* One resource: a Ray resource name ("CPU", "GPU", "memory" in bytes,
 * custom names...) and an amount.  Amounts must be finite and >= 0. */
struct planner_resource {
	const char *name;
	double value;
};

/* A resource map, in the caller's order.  Names must be unique within one
 * map.  In demand shapes, zero amounts are ignored (Ray never reports them). */
struct planner_resources {
	const struct planner_resource *items;
	size_t count;
};

/* A node type = a worker group (KubeRay workerGroupSpec) or the head group. */
struct planner_node_type {
	const char *name;
	/* Logical resources of one node of this type, as `ray start` declares them. */
	struct planner_resources resources;
	int min_workers;	/* >= 0; launched even without demand */
	int max_workers;	/* >= min_workers; counts running + pending nodes */
	/* Idle timeout for nodes of this type, in seconds; < 0 = use the
	 * cluster's planner_input.idle_timeout_s. */
	double idle_timeout_s;
	/* The head type: never launched, its nodes never terminated. */
	bool is_head;
};

enum planner_node_status {
	PLANNER_NODE_RUNNING = 0,	/* Ray node ALIVE; total/available are Ray's */
	PLANNER_NODE_PENDING = 1,	/* launched, not yet ALIVE in Ray */
};

/* An existing node (running or pending). */
struct planner_node {
	const char *id;		/* provider/Ray id, reported back in terminations */
	const char *type;	/* must name one of planner_input.node_types */
	enum planner_node_status status;
	/* Running nodes: Ray's logical totals and currently available amounts.
	 * When have_resources is false (e.g. the dashboard did not report the
	 * node, or it is pending) the node type's resources stand in for
	 * scheduling, and the node is never terminated for idleness. */
	bool have_resources;
	struct planner_resources total;
	struct planner_resources available;
	/* Ray's idle duration (GCS idle_duration_ms / 1000); < 0 = unknown.
	 * Unknown never leads to a termination. */
	double idle_s;
	/* Optional hints from the raysense agent.  They can only keep a node;
	 * they never make one eligible for termination.
	 * busy_workers: workers the agent saw busy on the node; < 0 = no data.
	 * busy_age_s: seconds since the agent last saw a busy worker there;
	 * < 0 = no data.  A node is kept when busy_workers > 0, or when
	 * busy_age_s is known and not past the node's idle timeout. */
	int busy_workers;
	double busy_age_s;
	/* A pending node whose machine already runs (raysense fusion: a pod
	 * scheduled, a process started): it no longer counts as in flight for
	 * max_concurrent_launches.  False = Ray's rule (in flight until ALIVE). */
	bool started;
};

/* Where a demand entry came from; only used for explanations and reports. */
enum planner_demand_kind {
	PLANNER_DEMAND_TASK = 0,
	PLANNER_DEMAND_ACTOR = 1,
};

/* `count` copies of one resource shape (pending tasks or actors). */
struct planner_shape_demand {
	enum planner_demand_kind kind;
	struct planner_resources shape;
	long count;		/* 0..PLANNER_MAX_COUNT */
};

enum planner_pg_strategy {
	PLANNER_PG_PACK = 0,
	PLANNER_PG_SPREAD = 1,
	PLANNER_PG_STRICT_PACK = 2,
	PLANNER_PG_STRICT_SPREAD = 3,
};

/* `count` identical pending placement groups (each one all-or-nothing).
 * `bundles` are the bundles not yet placed. */
struct planner_pg_demand {
	enum planner_pg_strategy strategy;
	const struct planner_resources *bundles;
	size_t bundle_count;
	long count;		/* 0..PLANNER_MAX_COUNT */
};

struct planner_input {
	const struct planner_node_type *node_types;
	size_t node_type_count;
	/* Cluster-wide cap on worker nodes (head excluded), running + pending
	 * + launched; < 0 = no global cap. */
	int max_workers;
	/* Ray's upscaling_speed (>= 0).  Per type and round, at most
	 * max(1, ceil(upscaling_speed * max(running_of_type, 1))) nodes start;
	 * running_of_type leaves out pending nodes and the nodes this round
	 * stops, as Ray's reconciler does. */
	double upscaling_speed;
	/* Cap on nodes in flight (pending) across the cluster; <= 0 = default
	 * PLANNER_DEFAULT_MAX_CONCURRENT_LAUNCHES. */
	int max_concurrent_launches;
	/* Default idle timeout in seconds; < 0 = no idle termination for types
	 * without their own timeout. */
	double idle_timeout_s;
	/* Optional (NULL = node type order, Ray's): a permutation of the node
	 * type indexes.  New-node templates are tried in this order, so when
	 * Ray's scorer rates two types equal the earlier one here wins (raysense
	 * fusion puts faster-starting groups first).  Never changes a score. */
	const size_t *type_order;

	const struct planner_node *nodes;
	size_t node_count;

	/* Pending tasks and actors. */
	const struct planner_shape_demand *shapes;
	size_t shape_count;
	/* Pending placement groups. */
	const struct planner_pg_demand *pgs;
	size_t pg_count;
	/* ray.autoscaler.sdk.request_resources(): bundles the cluster must be
	 * able to hold, checked against TOTAL (not available) resources;
	 * kind is ignored. */
	const struct planner_shape_demand *requests;
	size_t request_count;
};

/* Why a new node is planned. */
enum planner_cause {
	PLANNER_CAUSE_MIN_WORKERS = 0,	/* index = node type index */
	PLANNER_CAUSE_REQUEST_RESOURCES = 1,	/* index = input.requests[] */
	PLANNER_CAUSE_PLACEMENT_GROUP = 2,	/* index = input.pgs[] */
	PLANNER_CAUSE_SHAPE = 3,	/* index = input.shapes[] */
};

/* "`count` units of demand input[cause][index] were placed on this node". */
struct planner_reason {
	enum planner_cause cause;
	size_t index;
	long count;
};

/* One node the plan wants to add. */
struct planner_new_node {
	size_t type_index;	/* into input.node_types */
	/* True when the upscaling-speed or concurrency limit holds this node
	 * back this round; it is not counted in planner_launch.count. */
	bool deferred;
	size_t reason_start;	/* slice of planner_output.reasons */
	size_t reason_count;
};

/* Per node type (same order and length as input.node_types). */
struct planner_launch {
	const char *type;
	int count;	/* nodes to start now (after the upscaling limit) */
	int desired;	/* nodes the scheduler wants in total (before the limit) */
};

enum planner_term_reason {
	PLANNER_TERM_IDLE = 0,		/* idle past the timeout, not needed */
	PLANNER_TERM_MAX_PER_TYPE = 1,	/* more nodes than the type's max */
	PLANNER_TERM_MAX_GLOBAL = 2,	/* more workers than the global max */
};

struct planner_termination {
	size_t node_index;	/* into input.nodes */
	const char *id;
	const char *type;
	enum planner_term_reason reason;
	double idle_s;		/* the idle time that justified it (or -1) */
	double timeout_s;	/* the timeout it was compared with (or -1) */
};

/* Why a node that is idle past its timeout, or over a max, is kept. */
enum planner_keep_reason {
	PLANNER_KEEP_MIN_WORKERS = 0,
	PLANNER_KEEP_NEEDED = 1,	/* demand or request_resources placed on it */
	PLANNER_KEEP_IN_USE = 2,	/* logical resources in use (total != available) */
	PLANNER_KEEP_AGENT_BUSY = 3,	/* the agent's busy hint */
	PLANNER_KEEP_NO_DATA = 4,	/* resources or idle time unknown */
};

struct planner_keep {
	size_t node_index;
	enum planner_keep_reason reason;
};

enum planner_infeasible_reason {
	/* No launchable node type and no existing node could ever hold it. */
	PLANNER_INFEASIBLE_NO_FIT = 0,
	/* It fits some node type, but max_workers (per type or global) is
	 * reached.  Ray reports these as infeasible too. */
	PLANNER_INFEASIBLE_AT_MAX = 1,
};

/* Demand that could not be placed this round.  For a placement group the
 * count is the number of whole groups; for request_resources it is the
 * number of bundles (the constraint is all-or-nothing: if any bundle
 * fails, every bundle of every request entry is reported). */
struct planner_infeasible {
	enum planner_cause cause;	/* SHAPE, PLACEMENT_GROUP or REQUEST_RESOURCES */
	size_t index;			/* into the input array for that cause */
	long count;
	enum planner_infeasible_reason reason;
};

struct planner_output {
	struct planner_launch *launches;	/* input.node_type_count entries */
	size_t launch_count;
	struct planner_new_node *new_nodes;	/* in Ray's creation order */
	size_t new_node_count;
	struct planner_reason *reasons;
	size_t reason_count;
	struct planner_termination *terminations;
	size_t termination_count;
	struct planner_keep *kept;
	size_t kept_count;
	struct planner_infeasible *infeasible;
	size_t infeasible_count;
	/* On -EINVAL: what was wrong, naming the offending input. */
	char error[256];
};

/* Compute the plan.  Returns 0, -EINVAL (bad input; out->error says why and
 * nothing else in *out is set) or -ENOMEM.  *out must be zeroed or freed
 * with planner_output_free() before the call. */
int planner_plan(const struct planner_input *in, struct planner_output *out);

/* Two nodes with the same id, O(n log n): 1 with their indexes (first <
 * second in input order when ids tie), 0 when all ids differ, -ENOMEM. */
int planner_find_duplicate_id(const struct planner_node *nodes, size_t n, size_t *first,
			      size_t *second);

void planner_output_free(struct planner_output *out);

/* Stable lower-case names for logs and JSON. */
const char *planner_term_reason_name(enum planner_term_reason r);
const char *planner_keep_reason_name(enum planner_keep_reason r);
const char *planner_cause_name(enum planner_cause c);
const char *planner_infeasible_reason_name(enum planner_infeasible_reason r);
const char *planner_pg_strategy_name(enum planner_pg_strategy s);
/* Parses "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"; 0 or -EINVAL. */
int planner_pg_strategy_parse(const char *s, enum planner_pg_strategy *out);

#endif
