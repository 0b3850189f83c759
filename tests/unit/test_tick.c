/* test_tick.c -- whole control-loop ticks without Ray: a scripted cluster
 * source (source.h), a fake provider (provider.h) and a fake clock drive
 * controller_tick(), and each table row checks what the loop decided.
 * Covers every decision kind (launch, terminate for idle / launch timeout /
 * max, keep, hold, resume, infeasible) and every hold (fetch failed, usage
 * stale, cool-down, re-check busy, re-check failed, agent busy, dry run).
 *
 * The fake world: a head with no resources, and each provider node becomes
 * an ALIVE Ray node ("ray-<id>", labelled with its id) `alive_after` seconds
 * after its launch.  The usage report lists every such node, busy or idle
 * as the step says, written `report_age` seconds before the clock. */
#include "check.h"
#include "controller/act/actuator.h"
#include "controller/config.h"
#include "controller/controller.h"
#include "controller/fusion/fusion.h"
#include "controller/provider/provider.h"
#include "controller/source/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the world */

static double g_clock;

static double fake_clock(void)
{
	return g_clock;
}

struct step {
	double at;		/* clock for this tick */
	const char *demand;	/* "CPU=1:2,CPU=8:1" = 2 x {CPU:1}, 1 x {CPU:8}; NULL none */
	int fail;		/* a dash_source to fail, or -1 */
	double report_age;	/* the usage report was written this long ago */
	const char *busy;	/* provider ids Ray shows using resources: "w1,w2" */
	const char *not_alive;	/* provider ids Ray does not list yet, though due */
	const char *agent_busy;	/* provider ids an agent reports busy workers on */
	int recheck;		/* node_has_work: 0 idle, 1 busy, -1 error */
	bool list_missing;	/* the pending-task list is not there (slow or failed) */
	const char *lease_on;	/* provider ids an agent saw serve leases since its last push */
	int rejects;		/* cumulative rejected leases the agent reports (0 = none) */
	double alive_after;	/* from this step, new launches become ALIVE this late */
	double list_age;	/* else it was read this long ago */
	/* From this step, new launches of this group are never placed: the
	 * provider reports them Unschedulable 0.5 s after launch. */
	const char *unplaceable;
	/* From this step, new launches end on their own this long after launch,
	 * before they become ALIVE (a `ray start` that fails); < 0 = no more. */
	double exit_after;
	/* after the tick */
	int launched;		/* provider launch calls so far */
	int terminated;		/* provider terminate calls so far */
	const char *last;	/* action of the newest decision, NULL = no decision yet */
	const char *last_reason;/* its "reason", when it has one */
	const char *last_type;	/* its worker group, when given */
	/* "action:reason,..." each among the decisions this tick recorded */
	const char *seen;
};

#define END { .at = -1 }

struct world {
	const struct step *step;
	double alive_after;
	double exit_after;
	char unplaceable[CONFIG_NAME_MAX + 1];
	int launches, terminations;
	struct provider_node nodes[64];
	double alive_at[64];		/* when each becomes ALIVE in Ray */
	double exit_at[64];		/* when each ends on its own (0 = never) */
	size_t n;
	struct provider_node failed[64];	/* ended on their own, last refresh */
	size_t failed_n;
	int next_id;
	unsigned recheck_calls;
};

static struct world W;

/* ---------------------------------------------------------------- fake provider */

static int fp_launch(struct provider *p, const struct worker_group *g, char *id, char *err)
{
	struct provider_node *n = &W.nodes[W.n];

	(void)p;
	if (W.n == sizeof(W.nodes) / sizeof(W.nodes[0])) {
		snprintf(err, PROVIDER_ERR_LEN, "full");
		return -ENOSPC;
	}
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "w%d", ++W.next_id);
	snprintf(n->type, sizeof(n->type), "%s", g->name);
	n->launched_at = g_clock;
	W.n++;
	n->started_at = g_clock;	/* a process runs from its launch */
	n->launched_at = g_clock;
	W.alive_at[W.n - 1] = g_clock + W.alive_after;
	W.exit_at[W.n - 1] = W.exit_after > 0 ? g_clock + W.exit_after : 0;
	if (!strcmp(g->name, W.unplaceable)) {
		n->started_at = 0;
		n->unschedulable_since = g_clock + 0.5;
		snprintf(n->unschedulable, sizeof(n->unschedulable), "0/1 nodes are available: 1 "
			 "node(s) didn't match Pod's node affinity/selector.");
		W.alive_at[W.n - 1] = 1e18;
	}
	W.launches++;
	snprintf(id, PROVIDER_ID_MAX, "%s", n->id);
	return 0;
}

static int fp_terminate(struct provider *p, const char *id, char *err)
{
	(void)p;
	(void)err;
	for (size_t i = 0; i < W.n; i++)
		if (!strcmp(W.nodes[i].id, id) && W.nodes[i].stop_requested_at == 0) {
			W.nodes[i].stop_requested_at = g_clock;
			W.terminations++;
		}
	return 0;
}

/* A stopped node is gone at the next refresh; so is one that ended on its
 * own, reported as a failed launch when it never became ALIVE. */
static int fp_refresh(struct provider *p, double now)
{
	size_t w = 0;

	(void)p;
	(void)now;
	W.failed_n = 0;
	for (size_t i = 0; i < W.n; i++) {
		bool ended = W.exit_at[i] > 0 && g_clock >= W.exit_at[i];

		if (ended && W.nodes[i].stop_requested_at == 0 && W.exit_at[i] < W.alive_at[i])
			W.failed[W.failed_n++] = W.nodes[i];
		if (W.nodes[i].stop_requested_at == 0 && !ended) {
			W.alive_at[w] = W.alive_at[i];
			W.exit_at[w] = W.exit_at[i];
			W.nodes[w++] = W.nodes[i];
		}
	}
	W.n = w;
	return 0;
}

static size_t fp_failed_launches(struct provider *p, const struct provider_node **out)
{
	(void)p;
	*out = W.failed;
	return W.failed_n;
}

static size_t fp_list(struct provider *p, const struct provider_node **out)
{
	(void)p;
	*out = W.nodes;
	return W.n;
}

static void fp_destroy(struct provider *p)
{
	(void)p;
}

static const struct provider_ops fake_provider_ops = {
	.name = "fake",
	.launch = fp_launch,
	.terminate = fp_terminate,
	.refresh = fp_refresh,
	.list = fp_list,
	.destroy = fp_destroy,
	.failed_launches = fp_failed_launches,
};

/* ---------------------------------------------------------------- fake source */

static bool listed(const char *csv, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = csv; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, id, n) && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static int add_demand(struct dash_cluster_status *cs, const char *spec)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char name[32];
		double amount;
		long count;
		struct dash_shape *s;

		if (sscanf(tok, "%31[^=]=%lf:%ld", name, &amount, &count) != 3)
			return -EINVAL;
		s = realloc(cs->demand, (cs->demand_count + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		cs->demand = s;
		s = &cs->demand[cs->demand_count++];
		memset(s, 0, sizeof(*s));
		s->count = count;
		if (resmap_set(&s->shape, name, amount))
			return -ENOMEM;
	}
	return 0;
}

static struct dash_node *add_node(struct dash_snapshot *s, const char *id, bool head)
{
	struct dash_node *n = &s->nodes[s->node_count++];
	char rid[PROVIDER_ID_MAX + 8];

	memset(n, 0, sizeof(*n));
	snprintf(rid, sizeof(rid), "ray-%s", id);
	n->node_id = strdup(rid);
	n->node_name = strdup(id);
	n->label_node = head ? NULL : strdup(id);
	n->is_head = head;
	n->alive = true;
	return n;
}

static int add_usage(struct dash_cluster_status *cs, const struct dash_node *n, bool busy)
{
	struct dash_usage *u = &cs->usage[cs->usage_count++];

	memset(u, 0, sizeof(*u));
	u->key = strdup(n->node_id);
	for (size_t k = 0; k < n->total.count; k++)
		if (resmap_set(&u->total, n->total.items[k].name, n->total.items[k].value) ||
		    resmap_set(&u->used, n->total.items[k].name, busy ? n->total.items[k].value : 0))
			return -ENOMEM;
	return 0;
}

static int add_ray_nodes(const struct step *st, struct dash_snapshot *s)
{
	s->nodes = calloc(W.n + 1, sizeof(*s->nodes));
	s->cs.usage = calloc(W.n + 1, sizeof(*s->cs.usage));
	if (!s->nodes || !s->cs.usage)
		return -ENOMEM;
	add_node(s, "head", true);
	for (size_t i = 0; i < W.n; i++) {
		struct dash_node *n;

		if (W.nodes[i].stop_requested_at > 0 || g_clock < W.alive_at[i] ||
		    listed(st->not_alive, W.nodes[i].id))
			continue;
		n = add_node(s, W.nodes[i].id, false);
		if (resmap_set(&n->total, "CPU", 1) || add_usage(&s->cs, n, listed(st->busy, W.nodes[i].id)))
			return -ENOMEM;
	}
	return 0;
}

static int fs_fetch(struct cluster_source *src, struct dash_snapshot *s, enum dash_source *failed,
		    char *err)
{
	const struct step *st = W.step;

	(void)src;
	memset(s, 0, sizeof(*s));
	if (st->fail >= 0) {
		*failed = (enum dash_source)st->fail;
		snprintf(err, DASH_ERR_LEN, "scripted failure");
		return -EIO;
	}
	if (add_ray_nodes(st, s) || (st->demand && add_demand(&s->cs, st->demand)))
		goto oom;
	s->cs.present = true;
	s->cs.source = DASH_CS_STRUCTURED;
	s->cs.time = g_clock - st->report_age;
	if (st->list_missing)
		snprintf(s->pending_error, DASH_ERR_LEN, "task list not read yet: timed out");
	else
		s->pending_read_at = g_clock - st->list_age;
	dash_attach_usage(s);
	s->fetched_at = g_clock;
	return 0;
oom:
	dash_snapshot_free(s);
	*failed = DASH_SRC_NODES;
	return -ENOMEM;
}

static int fs_version(struct cluster_source *s, char *out, size_t size, char *err)
{
	(void)s;
	(void)err;
	snprintf(out, size, "9.9.9");
	return 0;
}

static int fs_has_work(struct cluster_source *s, const char *id, bool *busy, char *err)
{
	(void)s;
	(void)id;
	W.recheck_calls++;
	if (W.step->recheck < 0) {
		snprintf(err, DASH_ERR_LEN, "scripted re-check failure");
		return -EIO;
	}
	*busy = W.step->recheck > 0;
	return 0;
}

static void fs_destroy(struct cluster_source *s)
{
	(void)s;
}

static const struct cluster_source_ops fake_source_ops = {
	.name = "fake",
	.fetch = fs_fetch,
	.version = fs_version,
	.node_has_work = fs_has_work,
	.destroy = fs_destroy,
};

/* ---------------------------------------------------------------- agents */

/* One agent speaks for every node here: busy workers on `busy`, leases
 * served since its last push on `leases`, and a cumulative count of
 * rejected lease replies per node. */
static void agent_reports(struct controller *c, const struct step *st)
{
	char doc[8192], workers[2048] = "", hists[2048] = "", values[2048] = "", err[256];
	size_t w = 0, h = 0, v = 0;

	for (size_t i = 0; i < W.n; i++) {
		const char *id = W.nodes[i].id;

		if (listed(st->agent_busy, id))
			w += (size_t)snprintf(workers + w, sizeof(workers) - w,
					      "%s{\"raylet_pid\":%zu,\"ray_node_id\":\"ray-%s\","
					      "\"busy_workers\":1,\"idle_workers\":0,"
					      "\"seconds_since_busy\":0}", w ? "," : "", 100 + i, id);
		if (listed(st->lease_on, id))
			h += (size_t)snprintf(hists + h, sizeof(hists) - h,
					      "%s{\"family\":\"raysense_raylet_lease_latency_seconds\","
					      "\"labels\":{\"node_id\":\"ray-%s\"},"
					      "\"total\":{\"count\":3,\"sum_ns\":3000,\"slots\":[0,3]},"
					      "\"delta\":{\"count\":3,\"sum_ns\":3000,\"slots\":[0,3]}}",
					      h ? "," : "", id);
		if (st->rejects)
			v += (size_t)snprintf(values + v, sizeof(values) - v,
					      "%s{\"family\":\"raysense_raylet_leases_total\","
					      "\"kind\":\"counter\",\"labels\":{\"node_id\":\"ray-%s\","
					      "\"outcome\":\"rejected\"},\"value\":%d}", v ? "," : "", id,
					      st->rejects);
	}
	snprintf(doc, sizeof(doc),
		 "{\"schema_version\":1,\"agent_version\":\"0.1.0\",\"seq\":1,"
		 "\"taken_unix_ms\":%.0f,\"interval_seconds\":1,\"push_dropped_total\":0,"
		 "\"node\":{\"node_name\":\"vm\",\"hostname\":\"vm\"},\"histograms\":[%s],"
		 "\"values\":[%s],\"workers\":[%s],\"timelines\":[]}", g_clock * 1000, hists,
		 values, workers);
	CHECK(signals_ingest(controller_signals(c), doc, strlen(doc), g_clock, err,
			     sizeof(err)) == 0, "agent snapshot: %s", err);
}

/* ---------------------------------------------------------------- the table */

struct tcase {
	const char *name;
	const char *group;		/* --worker-group spec */
	double alive_after;
	bool dry_run;
	double cooldown;		/* < 0 = none (0 s) */
	double launch_timeout;
	const struct step *steps;
	int preexisting;		/* provider nodes launched at t=0 */
	bool fusion;			/* --signals on (else off: Ray's plans) */
	int max_concurrent;		/* 0 = Ray's 10 */
	const char *record_trace;	/* NULL in the table */
	double grace;			/* scale_up_grace_s */
};

#define OK(...) { .fail = -1, __VA_ARGS__ }

/* Demand appears -> one launch per task; the node becomes ALIVE and busy;
 * once idle past the group's 10 s timeout it is terminated. */
static const struct step scale_out_in[] = {
	OK(.at = 100, .launched = 0, .last = NULL),
	OK(.at = 101, .demand = "CPU=1:2", .launched = 2, .last = "launch"),
	OK(.at = 102, .demand = "CPU=1:2", .launched = 2, .last = "launch"),
	OK(.at = 104, .busy = "w1,w2", .launched = 2, .last = "launch"),
	OK(.at = 120, .launched = 2, .terminated = 0, .last = "launch"),  /* idle run starts */
	OK(.at = 131, .launched = 2, .terminated = 2, .last = "terminate", .last_reason = "idle"),
	END,
};

/* A failed fetch holds everything (even with demand), logged once; the next
 * good fetch resumes and acts. */
static const struct step fetch_fails[] = {
	{ .at = 100, .fail = DASH_SRC_NODES, .demand = "CPU=1:1", .last = "hold" },
	{ .at = 101, .fail = DASH_SRC_TASKS, .demand = "CPU=1:1", .last = "hold" },
	{ .at = 102, .fail = DASH_SRC_CLUSTER_STATUS, .last = "hold" },
	OK(.at = 103, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	END,
};

/* Resume is recorded when nothing else happens on the good tick. */
static const struct step resumes[] = {
	{ .at = 100, .fail = DASH_SRC_HEALTHZ, .last = "hold" },
	OK(.at = 101, .last = "resume"),
	END,
};

/* Stale usage: no termination however long the node looks idle; fresh
 * again, it goes. */
static const struct step stale_usage[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .launched = 1, .last = "launch"),
	OK(.at = 150, .report_age = 60, .launched = 1, .terminated = 0, .last = "launch"),
	OK(.at = 160, .report_age = 70, .launched = 1, .terminated = 0, .last = "launch"),
	OK(.at = 161, .launched = 1, .terminated = 0, .last = "launch"),  /* idle run restarts */
	OK(.at = 172, .launched = 1, .terminated = 1, .last = "terminate", .last_reason = "idle"),
	END,
};

/* The re-check before a stop finds a task: keep, recorded; then it fails:
 * keep again; then idle: terminate. */
static const struct step recheck[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .launched = 1, .last = "launch"),
	OK(.at = 114, .recheck = 1, .launched = 1, .last = "keep", .last_reason = "idle"),
	OK(.at = 115, .recheck = -1, .launched = 1, .last = "keep", .last_reason = "idle"),
	OK(.at = 116, .launched = 1, .terminated = 1, .last = "terminate"),
	END,
};

/* An agent reporting busy workers keeps an idle node; silent agents (or
 * stale reports) do not. */
static const struct step agent_busy[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .launched = 1, .last = "launch"),
	OK(.at = 114, .agent_busy = "w1", .launched = 1, .last = "launch"),
	OK(.at = 150, .launched = 1, .terminated = 1, .last = "terminate"),
	END,
};

/* Cool-down: a launch in the group blocks its scale-down for 30 s. */
static const struct step cooldown[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .launched = 1, .last = "launch"),
	OK(.at = 115, .launched = 1, .last = "launch"),
	OK(.at = 131, .launched = 1, .terminated = 1, .last = "terminate"),
	END,
};

/* A launch that never becomes ALIVE is given up after the launch timeout. */
static const struct step never_alive[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 150, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 161, .launched = 1, .terminated = 1, .last = "terminate",
	   .last_reason = "launch_timeout"),
	END,
};

/* Demand no group can hold: one infeasible decision, no launch. */
static const struct step infeasible[] = {
	OK(.at = 100, .demand = "CPU=8:3", .launched = 0, .last = "infeasible"),
	OK(.at = 101, .demand = "CPU=8:3", .launched = 0, .last = "infeasible"),
	END,
};

/* More nodes than max after a config change cannot happen here, but
 * min_workers can: with min=1 a node is launched without demand. */
static const struct step min_workers[] = {
	OK(.at = 100, .launched = 1, .last = "launch"),
	OK(.at = 104, .launched = 1, .last = "launch"),
	OK(.at = 200, .launched = 1, .last = "launch"),
	END,
};

/* A slow or failed pending-task list (a 5 s state-API call at 20,000
 * tasks) never blocks scale-up: launches go on from the report; only
 * scale-down waits, and a list older than the report holds it too. */
static const struct step slow_list[] = {
	OK(.at = 100, .list_missing = true, .demand = "CPU=1:2", .launched = 2, .last = "launch"),
	OK(.at = 103, .list_missing = true, .launched = 2, .last = "launch"),
	OK(.at = 120, .list_missing = true, .launched = 2, .terminated = 0, .last = "launch"),
	OK(.at = 121, .list_age = 5, .launched = 2, .terminated = 0, .last = "launch"),
	OK(.at = 122, .launched = 2, .terminated = 2, .last = "terminate", .last_reason = "idle"),
	END,
};

/* Dry run: decisions are recorded (once per distinct plan), the provider
 * is never called. */
static const struct step dry_run[] = {
	OK(.at = 100, .demand = "CPU=1:2", .launched = 0, .last = "launch"),
	OK(.at = 101, .demand = "CPU=1:2", .launched = 0, .last = "launch"),
	END,
};

/* Two idle nodes from before, max lowered to 1: one goes at once, for
 * max_workers_per_type; busy ones would be kept (Ray keeps nodes in use). */
static const struct step over_max[] = {
	OK(.at = 100, .busy = "w1,w2", .last = NULL),
	OK(.at = 101, .terminated = 1, .last = "terminate", .last_reason = "max_workers_per_type"),
	OK(.at = 102, .terminated = 1, .last = "terminate"),
	END,
};

/* Fusion: a node that served a lease within 30 s is not stopped for
 * idleness (one keep decision, not one per tick); once the lease is older,
 * it goes. */
static const struct step keep_lease[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .launched = 1, .last = "launch"),
	OK(.at = 110, .lease_on = "w1", .launched = 1, .last = "launch"),
	OK(.at = 114, .launched = 1, .last = "keep", .last_reason = "recent_lease"),
	OK(.at = 120, .launched = 1, .last = "keep", .last_reason = "recent_lease"),
	OK(.at = 141, .launched = 1, .terminated = 1, .last = "terminate", .last_reason = "idle"),
	END,
};

/* Fusion: no idle stop while lease replies are rejected in a burst. */
static const struct step keep_burst[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .rejects = 10, .launched = 1, .last = "launch"),
	OK(.at = 114, .rejects = 50, .launched = 1, .last = "keep", .last_reason = "reject_burst"),
	OK(.at = 115, .rejects = 50, .launched = 1, .terminated = 1, .last = "terminate"),
	END,
};

/* Fusion: the slow group's second launch is stuck (never ALIVE); after 3 x
 * its p95 (one 3 s sample: 9 s) it is given up, the group is backed off
 * and the same demand goes to the fast group: 3 launches, never 2 nodes
 * in flight for the one task. */
static const struct step stuck[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .busy = "w1", .launched = 1, .last = "launch"),
	OK(.at = 104, .launched = 1, .last = "launch"),
	OK(.at = 115, .launched = 1, .terminated = 1, .last = "terminate"),
	OK(.at = 120, .alive_after = 1000, .demand = "CPU=1:1", .launched = 2, .terminated = 1,
	   .last = "launch"),
	OK(.at = 128, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 130, .demand = "CPU=1:1", .launched = 3, .terminated = 2, .last = "launch",
	   .last_type = "fast"),
	END,
};

/* Without fusion the same stuck launch waits for the configured 60 s. */
static const struct step stuck_off[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 103, .busy = "w1", .launched = 1, .last = "launch"),
	OK(.at = 104, .launched = 1, .last = "launch"),
	OK(.at = 115, .launched = 1, .terminated = 1, .last = "terminate"),
	OK(.at = 120, .alive_after = 1000, .demand = "CPU=1:1", .launched = 2, .terminated = 1,
	   .last = "launch"),
	OK(.at = 130, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 181, .demand = "CPU=1:1", .launched = 3, .terminated = 2, .last = "launch"),
	END,
};

/* Fusion, the early stuck signal: slow's launch is Unschedulable (from
 * 100.5); once that is 10 s old it is given up in the tick fast's launch
 * takes its demand -- terminate and fallback (reason unschedulable), then
 * the launch on fast: never two nodes for the one task. */
static const struct step unsched[] = {
	OK(.at = 100, .unplaceable = "slow", .demand = "CPU=1:1", .launched = 1, .last = "launch",
	   .last_type = "slow"),
	OK(.at = 105, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 111, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch",
	   .last_type = "fast", .seen = "terminate:unschedulable,fallback:unschedulable"),
	OK(.at = 112, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 120, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	END,
};

/* Without fusion Unschedulable is no signal: the launch waits for the
 * 60 s launch timeout, and slow (first in config order) is tried again. */
static const struct step unsched_off[] = {
	OK(.at = 100, .unplaceable = "slow", .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 111, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 161, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch",
	   .last_type = "slow", .seen = "terminate:launch_timeout"),
	END,
};

/* Fusion, but no other group can hold the demand: the Unschedulable launch
 * waits (a node autoscaler may add a node for it) until the launch timeout;
 * then the timeout path gives it up (fallback, reason timeout). */
static const struct step unsched_alone[] = {
	OK(.at = 100, .unplaceable = "cpu1", .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 111, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 140, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 161, .demand = "CPU=1:1", .launched = 1, .terminated = 1, .last = "fallback",
	   .last_reason = "timeout", .seen = "terminate:launch_timeout"),
	END,
};

/* Fusion: with at most 2 launches in flight, started (not yet ALIVE)
 * nodes no longer count: a burst of 4 gets its 4 nodes in two ticks. */
static const struct step burst_on[] = {
	OK(.at = 100, .demand = "CPU=1:4", .launched = 2, .last = "launch"),
	OK(.at = 101, .demand = "CPU=1:4", .launched = 4, .last = "launch"),
	END,
};

/* Ray's rule: in flight until ALIVE (5 s here), so the next two wait. */
static const struct step burst_off[] = {
	OK(.at = 100, .demand = "CPU=1:4", .launched = 2, .last = "launch"),
	OK(.at = 101, .demand = "CPU=1:4", .launched = 2, .last = "launch"),
	OK(.at = 106, .demand = "CPU=1:4", .busy = "w1,w2", .launched = 4, .last = "launch"),
	END,
};

/* A fetch that fails right after a good one still launches from the good
 * answer (scale-up never waits on a slow source), within the grace; it
 * never terminates. */
static const struct step grace[] = {
	OK(.at = 100, .demand = "CPU=1:4", .launched = 2, .last = "launch"),
	{ .at = 101, .fail = DASH_SRC_NODES, .demand = "CPU=1:4", .launched = 4, .last = "launch" },
	END,
};

/* Fusion, a task counted twice (docs/ray-versions.md, Ray 2.41.0 and
 * 2.49.2): two one-CPU tasks; w1 is ALIVE and shows its CPU in use (one
 * task runs there), w2 is still pending, and the report still lists both
 * tasks.  Until the demand is PLAN_NEW_USE_MARGIN_S (2 s) newer than the
 * report that first showed w1 in use (103), w1 counts as empty: no launch.
 * Read at 105 the same demand is believed: one launch for the task. */
static const struct step new_use[] = {
	OK(.at = 100, .demand = "CPU=1:2", .launched = 2, .last = "launch"),
	OK(.at = 103, .not_alive = "w2", .busy = "w1", .demand = "CPU=1:2", .launched = 2,
	   .last = "launch"),
	OK(.at = 104, .not_alive = "w2", .busy = "w1", .demand = "CPU=1:2", .launched = 2,
	   .last = "launch"),
	OK(.at = 104.9, .not_alive = "w2", .busy = "w1", .demand = "CPU=1:2", .launched = 2,
	   .last = "launch"),
	OK(.at = 105, .not_alive = "w2", .busy = "w1", .demand = "CPU=1:2", .launched = 3,
	   .last = "launch"),
	END,
};

/* Ray's plans (--signals off) take the usage as reported, as Ray does:
 * the same tick launches for the task counted twice. */
static const struct step new_use_off[] = {
	OK(.at = 100, .demand = "CPU=1:2", .launched = 2, .last = "launch"),
	OK(.at = 103, .not_alive = "w2", .busy = "w1", .demand = "CPU=1:2", .launched = 3,
	   .last = "launch"),
	END,
};

/* Fusion: while w2's new use is credited back and there is demand, the
 * idle w1 is not stopped (whether the hold or the demand keeps it here;
 * test_plan_input.c checks the hold is set); it goes once the credit and
 * the demand end, its idle time never restarted.  Without demand the
 * credit frees nothing and holds nothing: w1 goes at its timeout. */
static const struct step new_use_hold[] = {
	OK(.at = 100, .last = NULL),
	OK(.at = 110, .busy = "w2", .demand = "CPU=1:1", .terminated = 0, .last = NULL),
	OK(.at = 111, .busy = "w2", .demand = "CPU=1:1", .terminated = 0, .last = NULL),
	OK(.at = 112, .busy = "w2", .terminated = 1, .last = "terminate", .last_reason = "idle"),
	END,
};

static const struct step new_use_no_demand[] = {
	OK(.at = 100, .last = NULL),
	OK(.at = 110, .busy = "w2", .terminated = 0, .last = NULL),
	OK(.at = 111, .busy = "w2", .terminated = 1, .last = "terminate", .last_reason = "idle"),
	END,
};

/* Launches that end before they are ALIVE: each one is recorded
 * (launch_failed) and holds the group's launches 5 s, then 10 s; a launch
 * that becomes ALIVE ends the streak, so the next failure holds 5 s again. */
static const struct step launch_fails[] = {
	OK(.at = 100, .exit_after = 1, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 101, .demand = "CPU=1:1", .launched = 1, .last = "launch_failed",
	   .last_reason = "exited_before_alive"),
	OK(.at = 105, .demand = "CPU=1:1", .launched = 1, .last = "launch_failed"),
	OK(.at = 106, .demand = "CPU=1:1", .launched = 2, .last = "launch"),
	OK(.at = 107, .demand = "CPU=1:1", .launched = 2, .last = "launch_failed"),
	OK(.at = 116, .demand = "CPU=1:1", .launched = 2, .last = "launch_failed"),
	OK(.at = 117, .exit_after = -1, .demand = "CPU=1:1", .launched = 3, .last = "launch"),
	OK(.at = 120, .busy = "w3", .launched = 3, .last = "launch"),
	OK(.at = 121, .exit_after = 1, .busy = "w3", .demand = "CPU=1:1", .launched = 4,
	   .last = "launch"),
	OK(.at = 122, .busy = "w3", .demand = "CPU=1:1", .launched = 4, .last = "launch_failed"),
	OK(.at = 126, .busy = "w3", .demand = "CPU=1:1", .launched = 4, .last = "launch_failed"),
	OK(.at = 127, .busy = "w3", .demand = "CPU=1:1", .launched = 5, .last = "launch"),
	END,
};

static const struct tcase cases[] = {
	{ "scale out and in", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, scale_out_in, 0, false, 0, NULL, 0 },
	{ "fetch fails", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, fetch_fails, 0, false, 0, NULL, 0 },
	{ "resume", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, resumes, 0, false, 0, NULL, 0 },
	{ "stale usage", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, stale_usage, 0, false, 0, NULL, 0 },
	{ "re-check", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, recheck, 0, false, 0, NULL, 0 },
	{ "agent busy", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, agent_busy, 0, false, 0, NULL, 0 },
	{ "cool-down", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, 30, 180, cooldown, 0, false, 0, NULL, 0 },
	{ "never alive", "cpu1:CPU=1,min=0,max=4,idle=10", 1000, false, -1, 60, never_alive, 0, false, 0, NULL, 0 },
	{ "infeasible", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, infeasible, 0, false, 0, NULL, 0 },
	{ "min workers", "cpu1:CPU=1,min=1,max=4,idle=10", 3, false, -1, 180, min_workers, 0, false, 0, NULL, 0 },
	{ "dry run", "cpu1:CPU=1,min=0,max=4,idle=10", 3, true, -1, 180, dry_run, 0, false, 0, NULL, 0 },
	{ "slow task list", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, slow_list, 0, false, 0, NULL, 0 },
	{ "over max", "cpu1:CPU=1,min=0,max=1,idle=10", 3, false, -1, 180, over_max, 2, false, 0, NULL, 0 },
	{ "fusion: keep after a lease", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180,
	  keep_lease, 0, true, 0, NULL, 0 },
	{ "fusion: reject burst", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180, keep_burst,
	  0, true, 0, NULL, 0 },
	{ "fusion: stuck group", "slow:CPU=1,min=0,max=4,idle=10 fast:CPU=1,min=0,max=4,idle=10",
	  3, false, -1, 60, stuck, 0, true, 0, NULL, 0 },
	{ "fusion off: stuck group", "slow:CPU=1,min=0,max=4,idle=10 fast:CPU=1,min=0,max=4,idle=10",
	  3, false, -1, 60, stuck_off, 0, false, 0, NULL, 0 },
	{ "fusion: unschedulable group", "slow:CPU=1,min=0,max=4,idle=10 "
	  "fast:CPU=1,min=0,max=4,idle=10", 3, false, -1, 60, unsched, 0, true, 0, NULL, 0 },
	{ "fusion off: unschedulable group", "slow:CPU=1,min=0,max=4,idle=10 "
	  "fast:CPU=1,min=0,max=4,idle=10", 3, false, -1, 60, unsched_off, 0, false, 0, NULL, 0 },
	{ "fusion: unschedulable, no other group", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1,
	  60, unsched_alone, 0, true, 0, NULL, 0 },
	{ "fusion: burst not throttled", "cpu1:CPU=1,min=0,max=8,idle=10", 5, false, -1, 180,
	  burst_on, 0, true, 2, NULL, 0 },
	{ "fusion off: burst throttled", "cpu1:CPU=1,min=0,max=8,idle=10", 5, false, -1, 180,
	  burst_off, 0, false, 2, NULL, 0 },
	{ "launches that fail back off", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1, 180,
	  launch_fails, 0, false, 0, NULL, 0 },
	{ "fusion: a new use is not demand twice", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1,
	  180, new_use, 0, true, 0, NULL, 0 },
	{ "fusion off: a new use is demand twice", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false,
	  -1, 180, new_use_off, 0, false, 0, NULL, 0 },
	{ "fusion: a new use holds scale-down", "cpu1:CPU=1,min=0,max=4,idle=10", 3, false, -1,
	  180, new_use_hold, 2, true, 0, NULL, 0 },
	{ "fusion: a new use without demand holds nothing", "cpu1:CPU=1,min=0,max=4,idle=10", 3,
	  false, -1, 180, new_use_no_demand, 2, true, 0, NULL, 0 },
	{ "grace: launch from the last answer", "cpu1:CPU=1,min=0,max=8,idle=10", 5, false, -1,
	  180, grace, 0, true, 2, NULL, 5 },
};

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A decision "action:reason" recorded at this tick's clock. */
static bool seen_this_tick(struct controller *c, const char *want)
{
	cJSON *dec = controller_decisions_json(c, 16);
	const cJSON *d;
	bool found = false;

	cJSON_ArrayForEach(d, dec) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "time_unix");
		char key[128];

		snprintf(key, sizeof(key), "%s:%s", str_of(d, "action") ? str_of(d, "action") : "",
			 str_of(d, "reason") ? str_of(d, "reason") : "");
		found |= cJSON_IsNumber(t) && t->valuedouble == g_clock && !strcmp(key, want);
	}
	cJSON_Delete(dec);
	return found;
}

static void check_step(const struct tcase *tc, size_t i, struct controller *c)
{
	const struct step *st = &tc->steps[i];
	cJSON *dec = controller_decisions_json(c, 1);
	const cJSON *d = cJSON_GetArrayItem(dec, 0);
	const char *action = str_of(d, "action"), *reason = str_of(d, "reason");

	CHECK(W.launches == st->launched, "%s step %zu: %d launches, want %d", tc->name, i,
	      W.launches, st->launched);
	CHECK(W.terminations == st->terminated, "%s step %zu: %d terminations, want %d",
	      tc->name, i, W.terminations, st->terminated);
	if (st->last)
		CHECK(action && !strcmp(action, st->last), "%s step %zu: last decision %s, want %s",
		      tc->name, i, action ? action : "(none)", st->last);
	else
		CHECK(!d, "%s step %zu: unexpected decision %s", tc->name, i, action);
	if (st->last_type)
		CHECK(str_of(d, "type") && !strcmp(str_of(d, "type"), st->last_type),
		      "%s step %zu: type %s, want %s", tc->name, i, str_of(d, "type"), st->last_type);
	if (st->last_reason)
		CHECK(reason && !strcmp(reason, st->last_reason), "%s step %zu: reason %s, want %s",
		      tc->name, i, reason ? reason : "(none)", st->last_reason);
	cJSON_Delete(dec);
	for (const char *w = st->seen; w && *w; w += strcspn(w, ","), w += *w == ',') {
		char want[64];

		snprintf(want, sizeof(want), "%.*s", (int)strcspn(w, ","), w);
		CHECK(seen_this_tick(c, want), "%s step %zu: no %s decision this tick", tc->name, i,
		      want);
	}
}

static struct controller *make(const struct tcase *tc, struct controller_config *cfg)
{
	struct controller_opts o = {
		.source = { &fake_source_ops, NULL },
		.provider = { &fake_provider_ops, NULL },
		.config = cfg,
		.dry_run = tc->dry_run,
		.scale_down_cooldown_s = tc->cooldown < 0 ? 0 : tc->cooldown,
		.launch_timeout_s = tc->launch_timeout,
		.clock = fake_clock,
		.record_trace = tc->record_trace,
		.scale_up_grace_s = tc->grace,
	};
	struct controller *c = NULL;
	char err[256];

	config_init(cfg);
	cfg->upscaling_speed = 1000;	/* as raysense-controller sets it */
	cfg->max_concurrent_launches = tc->max_concurrent;
	for (const char *g = tc->group; g; g = strchr(g, ' ') ? strchr(g, ' ') + 1 : NULL) {
		char spec[128];

		snprintf(spec, sizeof(spec), "%.*s", (int)strcspn(g, " "), g);
		CHECK(config_add_group_spec(cfg, spec, err, sizeof(err)) == 0, "%s", err);
	}
	if (tc->fusion) {
		fusion_config_defaults(&o.fusion);
		o.fusion.stuck_min_samples = 1;
	}
	CHECK(controller_create(&o, &c) == 0, "controller_create");
	return c;
}

static void run_case(const struct tcase *tc)
{
	struct controller_config cfg;
	struct controller *c;

	memset(&W, 0, sizeof(W));
	W.alive_after = tc->alive_after;
	for (int i = 0; i < tc->preexisting; i++) {
		struct worker_group g = { .name = "cpu1" };

		W.alive_after = 0;
		char id[PROVIDER_ID_MAX], err[PROVIDER_ERR_LEN];

		g_clock = 0;
		fp_launch(NULL, &g, id, err);
	}
	W.launches = 0;
	W.alive_after = tc->alive_after;
	c = make(tc, &cfg);
	for (size_t i = 0; c && tc->steps[i].at >= 0; i++) {
		W.step = &tc->steps[i];
		g_clock = W.step->at;
		if (W.step->alive_after > 0)
			W.alive_after = W.step->alive_after;
		if (W.step->exit_after)
			W.exit_after = W.step->exit_after > 0 ? W.step->exit_after : 0;
		if (W.step->unplaceable)
			snprintf(W.unplaceable, sizeof(W.unplaceable), "%s", W.step->unplaceable);
		if (W.step->agent_busy || W.step->lease_on || W.step->rejects)
			agent_reports(c, W.step);
		CHECK(controller_tick(c) == 0, "%s step %zu: tick failed", tc->name, i);
		check_step(tc, i, c);
	}
	controller_destroy(c);
	config_free(&cfg);
}

/* The status and the metrics say what the ticks did. */
static void test_views(void)
{
	struct controller_config cfg;
	struct controller *c = make(&cases[0], &cfg);
	cJSON *st;
	char *m;

	memset(&W, 0, sizeof(W));
	W.alive_after = 3;
	W.step = &scale_out_in[1];
	g_clock = 101;
	CHECK(controller_tick(c) == 0, "tick");
	st = controller_status_json(c);
	CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		      cJSON_GetObjectItemCaseSensitive(st, "last_plan"), "launch"), "cpu1") &&
	      !strcmp(str_of(st, "ray_version"), "9.9.9"), "status has the plan and version");
	m = controller_metrics_text(c);
	/* Two nodes for one group in one tick: one decision, counting both. */
	CHECK(m && strstr(m, "raysense_controller_decisions_total{action=\"launch\"} 1\n"),
	      "decisions by action: %s", m ? m : "(null)");
	CHECK(m && strstr(m, "raysense_controller_launches_total{type=\"cpu1\"} 2\n"), "launches");
	CHECK(m && strstr(m, "raysense_controller_agents_refused_total 0\n") &&
	      strstr(m, "raysense_controller_agent_capacity "), "agent table on /metrics");
	CHECK(m && strstr(m, "raysense_controller_workers{type=\"cpu1\",state=\"desired\"} 2\n") &&
	      strstr(m, "raysense_controller_workers{type=\"cpu1\",state=\"current\"} 0\n"),
	      "workers desired by the plan, none running yet: %s", m ? m : "(null)");
	CHECK(m && strstr(m, "raysense_controller_holding{reason=\"none\"} 1\n") &&
	      strstr(m, "raysense_controller_leader 0\n"), "not holding; no loop running (standby)");
	free(m);
	W.step = &scale_out_in[2];	/* the two launches are pending (not ALIVE yet) */
	g_clock = 102;
	CHECK(controller_tick(c) == 0, "tick");
	m = controller_metrics_text(c);
	CHECK(m && strstr(m, "raysense_controller_workers{type=\"cpu1\",state=\"pending\"} 2\n"),
	      "two pending workers: %s", m ? m : "(null)");
	CHECK(controller_ready(c), "ready after a good fetch");
	g_clock += 1000;
	CHECK(!controller_ready(c), "not ready long after the last good fetch");
	free(m);
	cJSON_Delete(st);
	controller_destroy(c);
	config_free(&cfg);
}

/* An agent on the node of w<id> pushes its startup timeline: raylet pid
 * 100 + id, ray start at 1000, GCS connected `secs` later; `dups` extra
 * copies of the timeline (a node is sampled once all the same). */
static void agent_timeline(struct controller *c, int id, double secs, int dups, double seq)
{
	char doc[4096], tl[2048] = "", err[256];
	size_t len = 0;

	for (int i = 0; i <= dups; i++)
		len += (size_t)snprintf(tl + len, sizeof(tl) - len, "%s{\"timeline\":\"pid:1\","
					"\"pod_uid\":\"\",\"raylet_pid\":%d,\"phases_unix_seconds\":"
					"{\"first_exec\":1000,\"gcs_connected\":%g}}", i ? "," : "",
					100 + id, 1000 + secs + i);
	snprintf(doc, sizeof(doc), "{\"schema_version\":1,\"seq\":%g,\"taken_unix_ms\":%.0f,"
		 "\"node\":{\"node_name\":\"vm%d\"},\"workers\":[{\"raylet_pid\":%d,"
		 "\"ray_node_id\":\"ray-w%d\",\"busy_workers\":1}],\"timelines\":[%s]}", seq,
		 g_clock * 1000, id, 100 + id, id, tl);
	CHECK(signals_ingest(controller_signals(c), doc, strlen(doc), g_clock, err,
			     sizeof(err)) == 0, "agent timeline: %s", err);
}

static const cJSON *fusion_group0(const cJSON *st)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(st, "fusion"), "groups"), 0);
}

static double source_samples(const cJSON *g, const char *src)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(g, "startup_sources"), src), "samples");

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The startup model per source through whole ticks: the controller's own
 * launch -> ALIVE, the agents' timelines once per Ray node; the status, the
 * metrics histogram and the model the rules use. */
static void test_startup_sources(void)
{
	struct controller_config cfg;
	struct controller *c = make(&cases[0], &cfg);
	const cJSON *g, *v;
	cJSON *st;
	char *m;

	memset(&W, 0, sizeof(W));
	W.alive_after = 3;
	cfg.groups[0].platform = PLATFORM_LOCAL;
	for (int i = 0; c && i < 4; i++) {	/* launch 2 at 101, ALIVE at 104 */
		W.step = &scale_out_in[i];
		g_clock = W.step->at;
		CHECK(controller_tick(c) == 0, "tick %d", i);
	}
	agent_timeline(c, 1, 7.5, 2, 1);	/* w1: 7.5 s, with two duplicates */
	agent_timeline(c, 9, 2, 0, 1);		/* no such node in the plan */
	g_clock = 105;
	CHECK(controller_tick(c) == 0, "tick");
	agent_timeline(c, 1, 7.5, 0, 2);	/* the same node again, next push */
	g_clock = 106;
	CHECK(controller_tick(c) == 0, "tick");
	st = controller_status_json(c);
	g = fusion_group0(st);
	CHECK(source_samples(g, "controller") == 2 && source_samples(g, "agent") == 1,
	      "2 controller samples (two launches), 1 agent sample (w1, once): %g %g",
	      source_samples(g, "controller"), source_samples(g, "agent"));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(g, "startup_sources"), "agent"), "p95_s");
	CHECK(cJSON_IsNumber(v) && v->valuedouble == 7.5, "agent p95 7.5 s");
	CHECK(str_of(g, "platform") && !strcmp(str_of(g, "platform"), "local") &&
	      str_of(g, "startup_source") && !strcmp(str_of(g, "startup_source"), "controller"),
	      "platform local; the model is the controller's");
	v = cJSON_GetObjectItemCaseSensitive(g, "startup_p50_s");
	CHECK(cJSON_IsNumber(v) && v->valuedouble == 3, "controller p50 3 s");
	cJSON_Delete(st);
	m = controller_metrics_text(c);
	CHECK(m && strstr(m, "# TYPE raysense_controller_startup_seconds histogram\n") &&
	      strstr(m, "raysense_controller_startup_seconds_count{type=\"cpu1\",platform=\"local\","
		     "source=\"controller\"} 2\n") &&
	      strstr(m, "raysense_controller_startup_seconds_count{type=\"cpu1\",platform=\"local\","
		     "source=\"agent\"} 1\n") &&
	      strstr(m, "raysense_controller_startup_seconds_bucket{type=\"cpu1\",platform=\"local\","
		     "source=\"agent\",le=\"5\"} 0\n") &&
	      strstr(m, "raysense_controller_startup_seconds_bucket{type=\"cpu1\",platform=\"local\","
		     "source=\"agent\",le=\"10\"} 1\n") &&
	      strstr(m, "raysense_controller_startup_seconds_sum{type=\"cpu1\",platform=\"local\","
		     "source=\"agent\"} 7.5\n"), "the histogram per source: %s", m ? m : "(null)");
	free(m);
	controller_destroy(c);
	config_free(&cfg);
}

/* --record-trace: a header, then the demand as it becomes pending. */
static void test_record_trace(void)
{
	struct controller_config cfg;
	struct tcase tc = cases[0];
	char path[] = "/tmp/rs-trace-XXXXXX", line[4096];
	struct controller *c;
	int fd = mkstemp(path), lines = 0, submits = 0;
	FILE *f;

	CHECK(fd >= 0, "mkstemp");
	close(fd);
	memset(&W, 0, sizeof(W));
	W.alive_after = 3;
	tc.record_trace = path;
	c = make(&tc, &cfg);
	for (int i = 0; c && i < 3; i++) {
		W.step = &scale_out_in[i];
		g_clock = W.step->at;
		CHECK(controller_tick(c) == 0, "tick");
	}
	controller_destroy(c);
	config_free(&cfg);
	f = fopen(path, "r");
	CHECK(f != NULL, "trace written");
	while (f && fgets(line, sizeof(line), f)) {
		if (!lines++)
			CHECK(strstr(line, "\"replay\":1") && strstr(line, "\"cpu1\""), "header: %s", line);
		if (strstr(line, "\"submit\"")) {
			submits++;
			CHECK(strstr(line, "\"count\":2"), "two tasks became pending: %s", line);
		}
	}
	CHECK(submits == 1, "one submit line (the demand appears once): %d", submits);
	if (f)
		fclose(f);
	unlink(path);
}

static const struct step backlog40[] = {
	OK(.at = 100, .demand = "CPU=1:40", .launched = 40, .last = "launch"),
	OK(.at = 101, .demand = "CPU=1:40"),		/* dry run: the same plan again */
	OK(.at = 102, .demand = "CPU=0.9:40"),		/* same count, another shape */
	END,
};

/* 40 nodes for one group in one tick: one launch decision with count 40,
 * the first LAUNCH_IDS_MAX ids, and the demand summed (40 x {CPU:1}); in
 * --dry-run the same count and no ids. */
static void test_launch_decision(bool dry_run)
{
	struct tcase tc = { "backlog", "cpu1:CPU=1,min=0,max=60,idle=10", 3, dry_run, -1, 180,
			    backlog40, 0, false, 100, NULL, 0 };
	struct controller_config cfg;
	struct controller *c;
	const cJSON *d, *nodes, *dem;
	cJSON *all;
	char *m;

	memset(&W, 0, sizeof(W));
	W.alive_after = 3;
	c = make(&tc, &cfg);
	W.step = &backlog40[0];
	g_clock = 100;
	CHECK(c && controller_tick(c) == 0, "tick");
	CHECK(W.launches == (dry_run ? 0 : 40), "provider launches: %d", W.launches);
	all = controller_decisions_json(c, 0);
	CHECK(cJSON_GetArraySize(all) == 1, "one decision, not one per node: %d",
	      cJSON_GetArraySize(all));
	d = cJSON_GetArrayItem(all, 0);
	CHECK(str_of(d, "action") && !strcmp(str_of(d, "action"), "launch") &&
	      !strcmp(str_of(d, "type"), "cpu1"), "a cpu1 launch");
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "count")) == 40, "count 40");
	nodes = cJSON_GetObjectItemCaseSensitive(d, "nodes");
	if (dry_run)
		CHECK(!nodes, "no node ids in a dry run");
	else
		CHECK(cJSON_GetArraySize(nodes) == LAUNCH_IDS_MAX &&
		      !strcmp(cJSON_GetArrayItem(nodes, 0)->valuestring, W.nodes[0].id),
		      "the first %d ids", LAUNCH_IDS_MAX);
	dem = cJSON_GetObjectItemCaseSensitive(d, "demand");
	CHECK(cJSON_GetArraySize(dem) == 1 &&
	      cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(dem, 0),
								    "count")) == 40,
	      "one demand entry counting 40 tasks");
	m = controller_metrics_text(c);
	CHECK(m && strstr(m, "raysense_controller_launches_total{type=\"cpu1\"} 40\n"),
	      "launches_total still counts nodes");
	free(m);
	cJSON_Delete(all);
	if (dry_run) {
		/* The same plan is recorded once; the same count for another
		 * shape is a new plan. */
		for (int i = 1; i <= 2; i++) {
			W.step = &backlog40[i];
			g_clock = W.step->at;
			CHECK(controller_tick(c) == 0, "tick");
			all = controller_decisions_json(c, 0);
			CHECK(cJSON_GetArraySize(all) == i, "after tick %d: %d decisions, want %d",
			      i, cJSON_GetArraySize(all), i);
			cJSON_Delete(all);
		}
	}
	controller_destroy(c);
	config_free(&cfg);
}

/* Fusion, adaptive idle timeout: w1 (startup 6 s) is stopped idle after
 * the configured 10 s; demand comes back, so w2's group keeps idle nodes
 * 2 x p90 = 12 s, and once w2 came up in 9 s, 18 s.  The log says each
 * timeout once, the one in force last (it named the first, 12 s, while w2
 * was kept 18 s); the idle stop shows the 18 s. */
static const struct step idle_return[] = {
	OK(.at = 100, .demand = "CPU=1:1", .launched = 1, .last = "launch"),
	OK(.at = 106, .busy = "w1", .launched = 1, .last = "launch"),
	OK(.at = 110, .launched = 1, .last = "launch"),		/* idle from here */
	OK(.at = 121, .launched = 1, .terminated = 1, .last = "terminate", .last_reason = "idle"),
	OK(.at = 130, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 131, .demand = "CPU=1:1", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 139, .busy = "w2", .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 140, .launched = 2, .terminated = 1, .last = "launch"),	/* idle from here */
	OK(.at = 151, .launched = 2, .terminated = 1, .last = "launch"),	/* 11 s < 18 s */
	OK(.at = 152, .launched = 2, .terminated = 1, .last = "launch"),
	OK(.at = 159, .launched = 2, .terminated = 2, .last = "terminate", .last_reason = "idle"),
	END,
};

static int count_in(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_adaptive_idle_log(void)
{
	struct tcase tc = { "fusion: adaptive idle", "cpu1:CPU=1,min=0,max=4,idle=10", 6, false,
			    -1, 180, idle_return, 0, true, 0, NULL, 0 };
	char path[] = "/tmp/rs-ticklog-XXXXXX", log[65536];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct controller_config cfg;
	struct controller *c;
	cJSON *dec;
	ssize_t len;

	CHECK(fd >= 0 && saved >= 0, "mkstemp, dup");
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	memset(&W, 0, sizeof(W));
	W.alive_after = tc.alive_after;
	c = make(&tc, &cfg);
	for (size_t i = 0; c && idle_return[i].at >= 0; i++) {
		W.step = &idle_return[i];
		g_clock = W.step->at;
		if (g_clock == 130)
			W.alive_after = 9;
		CHECK(controller_tick(c) == 0, "tick %zu", i);
		check_step(&tc, i, c);
	}
	dec = controller_decisions_json(c, 1);
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(dec, 0),
								    "idle_timeout_s")) == 18,
	      "w2 stopped at the adaptive 18 s");
	cJSON_Delete(dec);
	controller_destroy(c);
	config_free(&cfg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	len = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	unlink(path);
	log[len > 0 ? len : 0] = '\0';
	CHECK(count_in(log, "adaptive idle timeout: cpu1 keeps idle nodes 12 s (demand returned; "
			    "configured 10 s)") == 1 &&
	      count_in(log, "adaptive idle timeout: cpu1 keeps idle nodes 18 s (demand returned; "
			    "configured 10 s)") == 1 &&
	      count_in(log, "adaptive idle timeout") == 2, "each timeout said once: %s", log);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_views();
	test_startup_sources();
	test_launch_decision(false);
	test_launch_decision(true);
	test_record_trace();
	test_adaptive_idle_log();
	CHECK_EXIT();
}
