/* dashboard.h -- the Ray dashboard client: what the controller needs to know
 * about a Ray cluster, read over HTTP (libcurl) and parsed strictly (cJSON).
 *
 * Sources (verified on Ray 2.60.0, see docs/dashboard-facts.md):
 *   /api/gcs_healthz            liveness of the GCS ("success", text)
 *   /api/version                {"ray_version": ...} (no envelope)
 *   /api/v0/nodes               nodes: state, node_name, labels, total resources
 *   /api/v0/tasks   (PENDING_NODE_ASSIGNMENT, detail)   pending tasks and
 *                               actor creation tasks, with the time each
 *                               became pending
 *   /api/cluster_status         what the autoscaler monitor last wrote to GCS:
 *                               placement-group demand WITH strategies,
 *                               request_resources() constraints and per-node
 *                               usage (the only HTTP source of available
 *                               resources); camelCased keys; ~5 s cadence.
 * Demand merge (dash_merge_demand): the monitor's resourceDemand is
 * consistent with its per-node usage (a task whose lease is granted while
 * its worker process starts is in "used", not in the demand), but it lags up
 * to 5 s; the state API shows a submission within ~0.2 s but keeps such a
 * task PENDING_NODE_ASSIGNMENT until the worker runs it, so counting it
 * against the usage report counts it twice (measured: two extra launches in
 * the seed scenario).  So the demand is the report's resourceDemand plus
 * the state-API tasks that became pending after the report was written.
 * The state API carries no placement-group strategy, so PGs come from
 * /api/cluster_status.
 *
 * Autoscaler v2 (RAY_enable_autoscaler_v2=1 on the head) leaves
 * clusterStatus null.  The client then reads the same facts from the live
 * GCS views the v2 dashboard offers (all verified on 2.60.0):
 *   /api/cluster_status?format=1      status text: task/actor demand, PG
 *                                     lines with strategies, request_resources
 *   /api/v0/placement_groups          the pending groups, exact bundles
 *   /nodes?view=summary&nocache=1     nodeLogicalResources: per-node used/total
 * parsed by ray_text.c, matched by pg_match.c, and fills the same
 * dash_cluster_status (source DASH_CS_V2_TEXT) with time = the controller's
 * clock just before the text was fetched (the text is live, not a report).
 * Groups whose strategy cannot be determined for certain go to `held`.
 * If any of that fails, the data is missing (present = false, v2_error says
 * why): state-API tasks only, no placement groups, no scale-down.
 *
 * With a v1 report and gcs_address set, the report's task demand is then
 * replaced by the GCS's live aggregate per shape (gcs_load.h): the report
 * keeps only its first shapes past 1,000 entries and is up to 5 s old.
 *
 * The parse_* functions are pure (bytes in, structs out) so that recorded
 * answers from the real Ray can be unit-tested (tests/fixtures/dashboard). */
#ifndef RAYSENSE_CONTROLLER_DASHBOARD_H
#define RAYSENSE_CONTROLLER_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/source/demand.h"

/* Label the local provider puts on its nodes (ray start --labels). */
#define DASH_LABEL_NODE "raysense.io/node"

struct dash_client {
	const char *base_url;		/* e.g. http://127.0.0.1:8265 */
	const char *token;		/* NULL = no auth header */
	long timeout_ms;		/* per call; default 2000 */
	size_t max_response;		/* per answer; default 16 MiB */
	long list_limit;		/* state API limit; default 10000 */
	long tasks_timeout_ms;		/* the pending-task list; default 30000 */
	long tasks_limit;		/* its state-API limit; default list_limit */
	long tick_budget_ms;		/* dash_fetch_cluster's reads together; default 800 */
	long demand_vector_max;		/* the head's AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE; default 1000 */
	/* host:port of the GCS: with a v1 report, its demand is read live from
	 * there instead (gcs_load.h); NULL = the report's demand only. */
	const char *gcs_address;
	double deadline;		/* internal: UNIX time the current reads must end by; 0 = none */
};

/* Which call failed (for errors_total{source}). */
enum dash_source {
	DASH_SRC_HEALTHZ = 0,
	DASH_SRC_NODES,
	DASH_SRC_TASKS,
	DASH_SRC_CLUSTER_STATUS,
	DASH_SRC_VERSION,
	DASH_SRC_COUNT,
};
const char *dash_source_name(enum dash_source s);

/* ---- pure parsers (len bytes, not NUL-terminated necessarily) ---- */
int dash_parse_version(const char *body, size_t len, char *ray_version, size_t size,
		       char *err);
int dash_parse_nodes(const char *body, size_t len, struct dash_snapshot *snap, char *err);
/* Pending tasks (NORMAL_TASK) and actor creation tasks into snap->pending;
 * tasks inside a placement group are skipped (the group is the demand). */
int dash_parse_pending(const char *body, size_t len, struct dash_snapshot *snap, char *err);
/* Build snap->shapes: with use_report, the report's resourceDemand plus the
 * pending tasks newer than the report, and, when the report was truncated,
 * every listed task of a shape the report leaves out; without, every
 * pending task. */
int dash_merge_demand(struct dash_snapshot *snap, bool use_report);
/* The same list as one round (task_rounds.h): tasks into r->snap, every
 * task's name into r->names, `total` and `num_after_truncation`. */
struct task_round;
int dash_parse_pending_round(const char *body, size_t len, struct task_round *r, char *err);
int dash_parse_cluster_status(const char *body, size_t len,
			      struct dash_cluster_status *cs, char *err);
/* ---- autoscaler v2 (clusterStatus null) ---- */
struct rtext_status;
/* data.clusterStatus text of /api/cluster_status?format=1. */
int dash_parse_status_text(const char *body, size_t len, struct rtext_status *st, char *err);
/* /api/v0/placement_groups?detail=true: groups with unplaced bundles. */
int dash_parse_api_pgs(const char *body, size_t len, struct dash_api_pg **pgs, size_t *count,
		       char *err);
/* data.nodeLogicalResources into cs->usage (raw names).  A node whose text
 * does not parse is left out (no usage: never idle) and named in warn. */
int dash_parse_node_summary(const char *body, size_t len, struct dash_cluster_status *cs,
			    char *warn, char *err);
/* cs from the text and the state API's groups (takes over st's arrays). */
int dash_v2_status_build(struct dash_cluster_status *cs, struct rtext_status *st,
			 struct dash_api_pg *pgs, size_t pg_count, double time);

/* Fill each node's have_usage/available/busy from snap->cs.usage. */
void dash_attach_usage(struct dash_snapshot *snap);

/* ---- fetches ---- */
/* The cluster, every tick: healthz, nodes, cluster_status, and (only when
 * clusterStatus is null) the node summary, the status text, and the
 * placement groups when the text shows pending ones; usage is attached to
 * the nodes.  The format-0 cluster_status read stays every tick even under
 * v2: it is the only sign of which autoscaler the head runs (a restarted
 * head may switch), and it is three GCS KV reads.  A failed v2 read does not
 * fail the snapshot (v2_error).  On failure returns -errno, *failed names
 * the source and err says why; the snapshot is then empty and must not be
 * acted on.  The reads share tick_budget_ms (each also has timeout_ms), so a
 * tick stays within its second however slow the dashboard is.  No
 * pending-task list: see dash_fetch_pending. */
int dash_fetch_cluster(const struct dash_client *c, struct dash_snapshot *snap,
		       enum dash_source *failed, char *err);
/* tick_budget_ms in seconds, with its default. */
double dash_tick_budget_s(const struct dash_client *c);
/* The state API's pending tasks and actor creation tasks into snap's
 * pending fields (nothing else is set), with tasks_timeout_ms.  Its cost on
 * the head grows with the number of tasks (seconds at 20,000), so the
 * dashboard source reads it in the background (dash_source.c). */
int dash_fetch_pending(const struct dash_client *c, struct dash_snapshot *snap, char *err);
/* One round of the task list past the state API's cap (task_rounds.h):
 * the pending tasks whose name is none of exclude, with the list limit and
 * tasks_timeout_ms; r gets the tasks, their distinct names and the
 * answer's total / returned counts. */
struct task_round;
int dash_fetch_pending_round(const struct dash_client *c, const char *const *exclude,
			     size_t exclude_count, struct task_round *r, char *err);
int dash_fetch_version(const struct dash_client *c, char *ray_version, size_t size,
		       char *err);
/* Fresh check before terminating a node: any task not FINISHED/FAILED or any
 * ALIVE actor on node_id sets *busy.  Errors mean "unknown": keep the node. */
int dash_node_has_work(const struct dash_client *c, const char *node_id, bool *busy,
		       char *err);


#endif
