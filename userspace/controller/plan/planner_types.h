/* planner_types.h -- the planner's input and output types and limits
 * (planner.h says what they mean for a plan).  Only types: planner_pack.c
 * and planner.c both use them, and neither module includes the other's
 * header through this one. */
#ifndef RAYSENSE_PLANNER_TYPES_H
#define RAYSENSE_PLANNER_TYPES_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults, as in Ray 2.60.0. */
#define PLANNER_DEFAULT_MAX_CONCURRENT_LAUNCHES 10 /* AUTOSCALER_MAX_CONCURRENT_LAUNCHES */
/* Upper bound on any node count the planner will create or reason about;
 * larger max_workers values are clamped to it so memory stays bounded. */
#define PLANNER_MAX_NODES 100000
/* Work budget of one planning call when planner_input.work_budget is 0, in
 * basic steps (one step = one resource compared, subtracted or copied while
 * packing).  0.2 to 0.6 s on one core of the bench machine (bench/run_planner_scale.sh). */
#define PLANNER_DEFAULT_WORK_BUDGET 100000000ULL
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

	/* Basic steps (see PLANNER_DEFAULT_WORK_BUDGET) the call may spend;
	 * 0 = the default.  A count of steps, not a clock, so a cut plan is
	 * deterministic.  Past it, the round is cut (planner_output.cut). */
	unsigned long long work_budget;
	/* Testing only: try every template for every new node, never repeat
	 * the last pick as a count (planner_pack.c, struct probe).  The plan
	 * is the same either way; only the work spent differs. */
	bool exact_picks;
};

/* The planner's stages, in order; names where a round was cut. */
enum planner_stage {
	PLANNER_STAGE_NONE = 0,
	PLANNER_STAGE_MIN_WORKERS,
	PLANNER_STAGE_MAX_WORKERS,
	PLANNER_STAGE_REQUEST_RESOURCES,
	PLANNER_STAGE_PLACEMENT_GROUPS,
	PLANNER_STAGE_DEMAND,
	PLANNER_STAGE_IDLE,
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
	/* The work budget ran out in stage cut_stage: the plan holds the nodes
	 * planned before the cut (still under the launch limit), no
	 * terminations, no infeasible demand from the cut stage on, and the
	 * later stages did not run.  Demand not yet considered is planned next
	 * round.  The caller logs it and counts it. */
	bool cut;
	enum planner_stage cut_stage;
	/* Basic steps spent (<= the budget plus one step's worth). */
	unsigned long long work;
	/* On -EINVAL: what was wrong, naming the offending input. */
	char error[256];
};

#endif
