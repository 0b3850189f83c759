/* controller.c -- the control loop (see controller.h for the safety rules).
 *
 * Each tick: refresh the provider, fetch a dashboard snapshot (all or
 * nothing), track per-node idle time from successive usage reports (the v1
 * monitor's, or the live autoscaler-v2 node summary), build
 * the planner input (head + provider nodes + unmanaged nodes, pending task /
 * actor shapes, placement groups, request_resources), plan, act through the
 * provider, and publish status, decisions and metrics for the HTTP API. */
#include "common/util.h"
#include "controller/controller.h"

#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEAD_TYPE "head"
#define UNMANAGED_TYPE "unmanaged"
#define FIRST_GROUP_TYPE 2

enum term_reason { TR_IDLE, TR_MAX_PER_TYPE, TR_MAX_GLOBAL, TR_LAUNCH_TIMEOUT, TR_COUNT };
static const char *const term_reason_names[TR_COUNT] = {
	"idle", "max_per_type", "max_global", "launch_timeout",
};

enum { ERR_PROVIDER = DASH_SRC_COUNT, ERR_PLANNER, ERR_COUNT };

static const double loop_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_BUCKETS (sizeof(loop_buckets) / sizeof(loop_buckets[0]))

struct idle_track {
	char node_id[80];
	double idle_since;	/* monitor time of the first idle report; 0 = busy */
	double last_seen;
};

struct controller {
	struct controller_opts o;
	struct signals *signals;

	pthread_mutex_t lock;	/* everything below up to "loop thread only" */
	cJSON **decisions;	/* ring */
	size_t dec_head, dec_count;
	unsigned long decisions_total;
	unsigned long *launches;		/* [group] */
	unsigned long (*terminations)[TR_COUNT];	/* [group][reason] */
	unsigned long errors[ERR_COUNT];
	double infeasible_units;
	unsigned long loop_hist[N_BUCKETS + 1];
	double loop_sum;
	unsigned long loop_count;
	cJSON *status;
	char *provider_metrics;		/* provider_ops.metrics_text, last round */
	double last_ok_fetch;
	char ray_version[32];

	/* loop thread only */
	struct idle_track *idle;
	size_t idle_count;
	double *last_launch_at;			/* [group] */
	bool holding;
	int demand_source;		/* enum dash_cs_source of the last tick; -1 = none yet */
	char v2_error[DASH_ERR_LEN];	/* last logged */
	char held_sig[1024];		/* ids of the last logged held groups */
	char infeasible_sig[1024];
	char dry_sig[1024];
};

static void iso_time(double t, char *out, size_t size)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	int ms = (int)((t - (double)s) * 1000);

	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (ms < 0 ? 0 : ms) % 1000);
}

/* ---------------------------------------------------------------- decisions */

/* Record (and log) one decision; takes ownership of d. */
static void record(struct controller *c, cJSON *d, const char *msg)
{
	double t = rs_now_unix();
	char ts[40];
	size_t cap = c->o.decision_history;

	if (!d)
		return;
	iso_time(t, ts, sizeof(ts));
	cJSON_AddStringToObject(d, "time", ts);
	cJSON_AddNumberToObject(d, "time_unix", t);
	cJSON_AddStringToObject(d, "message", msg);
	if (c->o.dry_run)
		cJSON_AddBoolToObject(d, "dry_run", true);
	rs_log_fields(RS_LOG_INFO, msg, cJSON_Duplicate(d, true));
	pthread_mutex_lock(&c->lock);
	if (c->dec_count == cap) {
		cJSON_Delete(c->decisions[c->dec_head]);
		c->decisions[c->dec_head] = d;
		c->dec_head = (c->dec_head + 1) % cap;
	} else {
		c->decisions[(c->dec_head + c->dec_count++) % cap] = d;
	}
	c->decisions_total++;
	pthread_mutex_unlock(&c->lock);
}

static void count_error(struct controller *c, int which)
{
	pthread_mutex_lock(&c->lock);
	c->errors[which]++;
	pthread_mutex_unlock(&c->lock);
}

/* ---------------------------------------------------------------- idle tracking */

static struct idle_track *track_for(struct controller *c, const char *id, double now)
{
	struct idle_track *t;

	for (size_t i = 0; i < c->idle_count; i++)
		if (!strcmp(c->idle[i].node_id, id))
			return &c->idle[i];
	t = realloc(c->idle, (c->idle_count + 1) * sizeof(*t));
	if (!t)
		return NULL;
	c->idle = t;
	t = &c->idle[c->idle_count++];
	memset(t, 0, sizeof(*t));
	snprintf(t->node_id, sizeof(t->node_id), "%s", id);
	t->last_seen = now;
	return t;
}

/* A node's idle run starts at the first usage report (v1 monitor, or v2 node
 * summary stamped with the controller's clock) that shows it idle and ends at
 * any report that shows a resource in use.  Only fresh reports count; a node
 * missing from the reports, or whose usage text did not parse, loses its run. */
static void update_idle(struct controller *c, const struct dash_snapshot *s, bool fresh, double now)
{
	size_t w = 0;

	for (size_t i = 0; i < s->node_count; i++) {
		const struct dash_node *n = &s->nodes[i];
		struct idle_track *t;

		if (!n->alive || n->is_head || !(t = track_for(c, n->node_id, now)))
			continue;
		t->last_seen = now;
		if (!fresh || !n->have_usage || n->busy)
			t->idle_since = 0;
		else if (t->idle_since == 0)
			t->idle_since = s->cs.time;
	}
	for (size_t i = 0; i < c->idle_count; i++)
		if (now - c->idle[i].last_seen < 300)
			c->idle[w++] = c->idle[i];
	c->idle_count = w;
}

static double idle_seconds(struct controller *c, const char *id, double now)
{
	for (size_t i = 0; i < c->idle_count; i++)
		if (!strcmp(c->idle[i].node_id, id))
			return c->idle[i].idle_since > 0 ? now - c->idle[i].idle_since : 0;
	return -1;
}

/* ---------------------------------------------------------------- planner input */

enum ref_kind { REF_HEAD, REF_UNMANAGED, REF_PROVIDER };

/* The provider's node array moves when a launch grows it: copy what the
 * status needs instead of pointing into it. */
struct node_ref {
	enum ref_kind kind;
	char provider_id[PROVIDER_ID_MAX];	/* "" unless REF_PROVIDER */
	double launched_at;
	const struct dash_node *dn;
};

struct plan_ctx {
	struct planner_node_type *types;
	size_t type_count;
	struct planner_node *nodes;
	struct node_ref *refs;
	size_t node_count;
	struct planner_shape_demand *shapes;
	struct planner_pg_demand *pgs;
	struct planner_resources *bundles;
	struct planner_shape_demand *requests;
	struct planner_input in;
	bool usage_fresh;
	double now;
};

static void plan_ctx_free(struct plan_ctx *p)
{
	free(p->types);
	free(p->nodes);
	free(p->refs);
	free(p->shapes);
	free(p->pgs);
	free(p->bundles);
	free(p->requests);
}

static int group_index(const struct controller *c, const char *type)
{
	for (size_t i = 0; i < c->o.config->group_count; i++)
		if (!strcmp(c->o.config->groups[i].name, type))
			return (int)i;
	return -1;
}

static const struct dash_node *dash_node_of(const struct dash_snapshot *s, const char *pid)
{
	for (size_t i = 0; i < s->node_count; i++) {
		const struct dash_node *n = &s->nodes[i];

		if (n->alive && ((n->label_node && !strcmp(n->label_node, pid)) ||
				 (n->node_name && !strcmp(n->node_name, pid))))
			return n;
	}
	return NULL;
}

static bool owned_by_provider(const struct provider_node *pn, size_t np, const struct dash_node *n)
{
	if (n->label_node)	/* ours, or a node we stopped that Ray still lists */
		return true;
	for (size_t i = 0; i < np; i++)
		if (n->node_name && !strcmp(n->node_name, pn[i].id))
			return true;
	return false;
}

static void build_types(struct controller *c, const struct dash_snapshot *s, struct plan_ctx *p)
{
	const struct controller_config *cfg = c->o.config;

	p->types[0] = (struct planner_node_type){ .name = HEAD_TYPE, .is_head = true,
						  .idle_timeout_s = -1 };
	for (size_t i = 0; i < s->node_count; i++)
		if (s->nodes[i].alive && s->nodes[i].is_head)
			p->types[0].resources = resmap_view(&s->nodes[i].total);
	p->types[1] = (struct planner_node_type){ .name = UNMANAGED_TYPE, .is_head = true,
						  .idle_timeout_s = -1 };
	for (size_t g = 0; g < cfg->group_count; g++) {
		const struct worker_group *wg = &cfg->groups[g];

		p->types[FIRST_GROUP_TYPE + g] = (struct planner_node_type){
			.name = wg->name,
			.resources = resmap_view(&wg->resources),
			.min_workers = wg->min_workers,
			.max_workers = wg->max_workers,
			.idle_timeout_s = wg->idle_timeout_s,
		};
	}
	p->type_count = FIRST_GROUP_TYPE + cfg->group_count;
}

static void add_node(struct plan_ctx *p, enum ref_kind kind, const char *type,
		     const struct provider_node *pn, const struct dash_node *dn)
{
	struct planner_node *n = &p->nodes[p->node_count];

	p->refs[p->node_count] = (struct node_ref){ .kind = kind, .dn = dn };
	if (pn)
		snprintf(p->refs[p->node_count].provider_id, PROVIDER_ID_MAX, "%s", pn->id);
	memset(n, 0, sizeof(*n));
	/* Provider ids are copied into the ref: the provider's array may move
	 * (a launch grows it) while this plan is acted on. */
	n->id = pn ? p->refs[p->node_count].provider_id : dn->node_id;
	n->type = type;
	n->status = dn ? PLANNER_NODE_RUNNING : PLANNER_NODE_PENDING;
	n->idle_s = -1;
	n->busy_workers = -1;
	n->busy_age_s = -1;
	if (dn && dn->have_usage && p->usage_fresh) {
		n->have_resources = true;
		n->total = resmap_view(&dn->total);
		n->available = resmap_view(&dn->available);
	}
	if (pn)
		p->refs[p->node_count].launched_at = pn->launched_at;
	p->node_count++;
}

/* Give up on nodes that never became ALIVE. */
static void expire_pending(struct controller *c, const struct provider_node *pn, double now)
{
	char err[PROVIDER_ERR_LEN] = "", msg[256];
	int g = group_index(c, pn->type);
	cJSON *d = cJSON_CreateObject();

	snprintf(msg, sizeof(msg), "terminate %s: not ALIVE in Ray %.0f s after launch", pn->id,
		 now - pn->launched_at);
	cJSON_AddStringToObject(d, "action", "terminate");
	cJSON_AddStringToObject(d, "type", pn->type);
	cJSON_AddStringToObject(d, "node", pn->id);
	cJSON_AddStringToObject(d, "reason", "launch_timeout");
	if (!c->o.dry_run && c->o.provider.ops->terminate(&c->o.provider, pn->id, err)) {
		count_error(c, ERR_PROVIDER);
		rs_error("provider: cannot stop %s: %s", pn->id, err);
	}
	if (g >= 0) {
		pthread_mutex_lock(&c->lock);
		c->terminations[g][TR_LAUNCH_TIMEOUT]++;
		pthread_mutex_unlock(&c->lock);
	}
	record(c, d, msg);
}

static void build_nodes(struct controller *c, const struct dash_snapshot *s, struct plan_ctx *p)
{
	const struct provider_node *pn;
	size_t np = c->o.provider.ops->list(&c->o.provider, &pn);

	for (size_t i = 0; i < s->node_count; i++) {
		const struct dash_node *n = &s->nodes[i];

		if (!n->alive)
			continue;
		if (n->is_head)
			add_node(p, REF_HEAD, HEAD_TYPE, NULL, n);
		else if (!owned_by_provider(pn, np, n))
			add_node(p, REF_UNMANAGED, UNMANAGED_TYPE, NULL, n);
	}
	for (size_t i = 0; i < np; i++) {
		const struct dash_node *dn;
		struct planner_node *pl;
		int g = group_index(c, pn[i].type);

		if (pn[i].stop_requested_at > 0 || g < 0)
			continue;	/* stopping: excluded, still counted against max */
		dn = dash_node_of(s, pn[i].id);
		if (dn && c->o.provider.ops->node_alive)
			c->o.provider.ops->node_alive(&c->o.provider, pn[i].id, p->now);
		if (!dn && p->now - pn[i].launched_at > c->o.launch_timeout_s) {
			expire_pending(c, &pn[i], p->now);
			continue;
		}
		pl = &p->nodes[p->node_count];
		add_node(p, REF_PROVIDER, c->o.config->groups[g].name, &pn[i], dn);
		if (!dn)
			continue;
		if (p->usage_fresh && dn->have_usage)
			pl->idle_s = idle_seconds(c, dn->node_id, p->now);
		signals_busy_hint(c->signals, dn->node_id, p->now, c->o.signal_max_age_s,
				  &pl->busy_workers, &pl->busy_age_s);
	}
}

static int build_demand(const struct dash_snapshot *s, struct plan_ctx *p)
{
	const struct dash_cluster_status *cs = &s->cs;
	size_t nb = 0, k = 0;
	/* PGs and request_resources only exist in the monitor's report; a stale
	 * report would replay demand that may be gone. */
	bool use_cs = cs->present && p->usage_fresh;

	p->shapes = calloc(s->shape_count + 1, sizeof(*p->shapes));
	p->pgs = calloc(cs->pg_count + 1, sizeof(*p->pgs));
	p->requests = calloc(cs->request_count + 1, sizeof(*p->requests));
	for (size_t i = 0; i < cs->pg_count; i++)
		nb += cs->pgs[i].bundle_count;
	p->bundles = calloc(nb + 1, sizeof(*p->bundles));
	if (!p->shapes || !p->pgs || !p->requests || !p->bundles)
		return -ENOMEM;
	for (size_t i = 0; i < s->shape_count; i++)
		p->shapes[i] = (struct planner_shape_demand){ s->shapes[i].kind,
			resmap_view(&s->shapes[i].shape), s->shapes[i].count };
	p->in.shapes = p->shapes;
	p->in.shape_count = s->shape_count;
	if (!use_cs)
		return 0;
	for (size_t i = 0; i < cs->pg_count; i++) {
		p->pgs[i].strategy = cs->pgs[i].strategy;
		p->pgs[i].bundles = &p->bundles[k];
		p->pgs[i].bundle_count = cs->pgs[i].bundle_count;
		p->pgs[i].count = cs->pgs[i].count;
		for (size_t b = 0; b < cs->pgs[i].bundle_count; b++)
			p->bundles[k++] = resmap_view(&cs->pgs[i].bundles[b]);
	}
	for (size_t i = 0; i < cs->request_count; i++)
		p->requests[i] = (struct planner_shape_demand){ PLANNER_DEMAND_TASK,
			resmap_view(&cs->requests[i].shape), cs->requests[i].count };
	p->in.pgs = p->pgs;
	p->in.pg_count = cs->pg_count;
	p->in.requests = p->requests;
	p->in.request_count = cs->request_count;
	return 0;
}

static int build_input(struct controller *c, const struct dash_snapshot *s, struct plan_ctx *p)
{
	const struct controller_config *cfg = c->o.config;
	const struct provider_node *pn;
	size_t np = c->o.provider.ops->list(&c->o.provider, &pn);

	p->types = calloc(FIRST_GROUP_TYPE + cfg->group_count, sizeof(*p->types));
	p->nodes = calloc(s->node_count + np + 1, sizeof(*p->nodes));
	p->refs = calloc(s->node_count + np + 1, sizeof(*p->refs));
	if (!p->types || !p->nodes || !p->refs)
		return -ENOMEM;
	build_types(c, s, p);
	build_nodes(c, s, p);
	if (build_demand(s, p))
		return -ENOMEM;
	p->in.node_types = p->types;
	p->in.node_type_count = p->type_count;
	p->in.max_workers = cfg->max_workers;
	p->in.upscaling_speed = cfg->upscaling_speed;
	p->in.max_concurrent_launches = cfg->max_concurrent_launches;
	p->in.idle_timeout_s = cfg->idle_timeout_s;
	p->in.nodes = p->nodes;
	p->in.node_count = p->node_count;
	return 0;
}

/* ---------------------------------------------------------------- explaining */

static cJSON *demand_json(const struct plan_ctx *p, enum planner_cause cause, size_t index,
			  long count)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "cause", planner_cause_name(cause));
	cJSON_AddNumberToObject(o, "count", (double)count);
	switch (cause) {
	case PLANNER_CAUSE_SHAPE:
		cJSON_AddStringToObject(o, "kind", p->in.shapes[index].kind == PLANNER_DEMAND_ACTOR ?
					"actor" : "task");
		cJSON_AddItemToObject(o, "shape", resources_to_json(&p->in.shapes[index].shape));
		break;
	case PLANNER_CAUSE_REQUEST_RESOURCES:
		cJSON_AddItemToObject(o, "shape", resources_to_json(&p->in.requests[index].shape));
		break;
	case PLANNER_CAUSE_PLACEMENT_GROUP: {
		const struct planner_pg_demand *pg = &p->in.pgs[index];
		cJSON *b = cJSON_AddArrayToObject(o, "bundles");

		cJSON_AddStringToObject(o, "strategy", planner_pg_strategy_name(pg->strategy));
		for (size_t i = 0; b && i < pg->bundle_count; i++)
			cJSON_AddItemToArray(b, resources_to_json(&pg->bundles[i]));
		break;
	}
	case PLANNER_CAUSE_MIN_WORKERS:
		cJSON_AddStringToObject(o, "type", p->in.node_types[index].name);
		break;
	}
	return o;
}

static void describe(const cJSON *demand, char *out, size_t size)
{
	char *s = cJSON_PrintUnformatted(demand);

	snprintf(out, size, "%s", s ? s : "?");
	free(s);
}

/* ---------------------------------------------------------------- acting */

static int count_provider_nodes(struct controller *c, const char *type)
{
	const struct provider_node *pn;
	size_t np = c->o.provider.ops->list(&c->o.provider, &pn);
	int n = 0;

	for (size_t i = 0; i < np; i++)
		if (!type || !strcmp(pn[i].type, type))
			n++;
	return n;
}

static void launch_one(struct controller *c, const struct plan_ctx *p,
		       const struct planner_output *out, size_t t, size_t nth)
{
	const struct worker_group *g = &c->o.config->groups[t - FIRST_GROUP_TYPE];
	char id[PROVIDER_ID_MAX] = "(dry-run)", err[PROVIDER_ERR_LEN] = "", msg[768], dem[512];
	cJSON *d = cJSON_CreateObject(), *because = cJSON_CreateArray();
	size_t seen = 0;

	for (size_t i = 0; i < out->new_node_count; i++) {
		const struct planner_new_node *nn = &out->new_nodes[i];

		if (nn->type_index != t || nn->deferred || seen++ != nth)
			continue;
		for (size_t r = 0; r < nn->reason_count; r++) {
			const struct planner_reason *re = &out->reasons[nn->reason_start + r];

			cJSON_AddItemToArray(because, demand_json(p, re->cause, re->index, re->count));
		}
	}
	if (!c->o.dry_run && c->o.provider.ops->launch(&c->o.provider, g, id, err)) {
		count_error(c, ERR_PROVIDER);
		rs_error("provider: cannot launch a %s node: %s", g->name, err);
		cJSON_Delete(d);
		cJSON_Delete(because);
		return;
	}
	c->last_launch_at[t - FIRST_GROUP_TYPE] = p->now;
	describe(because, dem, sizeof(dem));
	snprintf(msg, sizeof(msg), "launch %s node %s for %s", g->name, id, dem);
	cJSON_AddStringToObject(d, "action", "launch");
	cJSON_AddStringToObject(d, "type", g->name);
	cJSON_AddStringToObject(d, "node", id);
	cJSON_AddItemToObject(d, "demand", because);
	pthread_mutex_lock(&c->lock);
	c->launches[t - FIRST_GROUP_TYPE]++;
	pthread_mutex_unlock(&c->lock);
	record(c, d, msg);
}

static void do_launches(struct controller *c, const struct plan_ctx *p,
			const struct planner_output *out)
{
	int total = count_provider_nodes(c, NULL);

	for (size_t t = FIRST_GROUP_TYPE; t < out->launch_count; t++) {
		const struct worker_group *g = &c->o.config->groups[t - FIRST_GROUP_TYPE];
		/* Stopping nodes still run: count them so max holds at every instant. */
		int room = g->max_workers - count_provider_nodes(c, g->name);
		int n = out->launches[t].count;

		if (c->o.config->max_workers >= 0 && c->o.config->max_workers - total < room)
			room = c->o.config->max_workers - total;
		if (n > room) {
			rs_info("launch of %d %s node(s) capped to %d: stopping nodes still count "
				"against max", n, g->name, room > 0 ? room : 0);
			n = room;
		}
		for (int k = 0; k < n; k++, total++)
			launch_one(c, p, out, t, (size_t)k);
	}
}

static cJSON *term_json(const struct planner_termination *tm, const struct node_ref *ref,
			const char *action)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "action", action);
	cJSON_AddStringToObject(d, "type", tm->type);
	cJSON_AddStringToObject(d, "node", tm->id);
	if (ref->dn)
		cJSON_AddStringToObject(d, "ray_node_id", ref->dn->node_id);
	cJSON_AddStringToObject(d, "reason", planner_term_reason_name(tm->reason));
	if (tm->idle_s >= 0)
		cJSON_AddNumberToObject(d, "idle_s", round(tm->idle_s * 10) / 10);
	if (tm->timeout_s >= 0)
		cJSON_AddNumberToObject(d, "idle_timeout_s", tm->timeout_s);
	return d;
}

/* Why this termination must not happen now, or NULL. */
static const char *veto(struct controller *c, const struct plan_ctx *p,
			const struct planner_termination *tm, const struct node_ref *ref,
			char *buf, size_t size)
{
	int g = group_index(c, tm->type);
	char err[DASH_ERR_LEN];
	bool busy = true;

	if (ref->kind != REF_PROVIDER || g < 0)
		return "not a node this controller launched";
	if (!p->usage_fresh)
		return "per-node usage is stale";
	if (p->now - c->last_launch_at[g] < c->o.scale_down_cooldown_s) {
		snprintf(buf, size, "cool-down: a %s node was launched %.1f s ago (< %.0f s)",
			 tm->type, p->now - c->last_launch_at[g], c->o.scale_down_cooldown_s);
		return buf;
	}
	if (!ref->dn)
		return NULL;	/* pending (over max): nothing runs there yet */
	if (dash_node_has_work(&c->o.dash, ref->dn->node_id, &busy, err)) {
		count_error(c, DASH_SRC_TASKS);
		snprintf(buf, size, "re-check failed (%.200s)", err);
		return buf;
	}
	return busy ? "re-check found a task or actor on it" : NULL;
}

static void do_terminations(struct controller *c, const struct plan_ctx *p,
			    const struct planner_output *out)
{
	for (size_t i = 0; i < out->termination_count; i++) {
		const struct planner_termination *tm = &out->terminations[i];
		const struct node_ref *ref = &p->refs[tm->node_index];
		char buf[256], msg[512], err[PROVIDER_ERR_LEN] = "";
		const char *why = veto(c, p, tm, ref, buf, sizeof(buf));
		int g = group_index(c, tm->type);

		if (why) {
			/* Expected while stale or cooling down: no decision, just debug. */
			if (!strncmp(why, "re-check", 8))
				record(c, term_json(tm, ref, "keep"),
				       (snprintf(msg, sizeof(msg), "keep %s: %s", tm->id, why), msg));
			else
				rs_debug("not terminating %s: %s", tm->id, why);
			continue;
		}
		if (!c->o.dry_run && c->o.provider.ops->terminate(&c->o.provider, tm->id, err)) {
			count_error(c, ERR_PROVIDER);
			rs_error("provider: cannot stop %s: %s", tm->id, err);
			continue;
		}
		if (tm->reason == PLANNER_TERM_IDLE)
			snprintf(msg, sizeof(msg), "terminate %s node %s: idle %.1f s > timeout %.0f s",
				 tm->type, tm->id, tm->idle_s, tm->timeout_s);
		else
			snprintf(msg, sizeof(msg), "terminate %s node %s: %s", tm->type, tm->id,
				 planner_term_reason_name(tm->reason));
		pthread_mutex_lock(&c->lock);
		c->terminations[g][tm->reason == PLANNER_TERM_IDLE ? TR_IDLE :
				   tm->reason == PLANNER_TERM_MAX_PER_TYPE ? TR_MAX_PER_TYPE :
				   TR_MAX_GLOBAL]++;
		pthread_mutex_unlock(&c->lock);
		record(c, term_json(tm, ref, "terminate"), msg);
	}
}

static void note_infeasible(struct controller *c, const struct plan_ctx *p,
			    const struct planner_output *out)
{
	cJSON *arr = cJSON_CreateArray();
	double units = 0;
	char *sig;

	for (size_t i = 0; arr && i < out->infeasible_count; i++) {
		const struct planner_infeasible *f = &out->infeasible[i];
		cJSON *o = demand_json(p, f->cause, f->index, f->count);

		cJSON_AddStringToObject(o, "reason", planner_infeasible_reason_name(f->reason));
		cJSON_AddItemToArray(arr, o);
		units += (double)f->count;
	}
	pthread_mutex_lock(&c->lock);
	c->infeasible_units = units;
	pthread_mutex_unlock(&c->lock);
	sig = cJSON_PrintUnformatted(arr);
	if (sig && strcmp(sig, c->infeasible_sig) != 0) {
		snprintf(c->infeasible_sig, sizeof(c->infeasible_sig), "%s", sig);
		if (out->infeasible_count) {
			cJSON *d = cJSON_CreateObject();
			char msg[768];

			snprintf(msg, sizeof(msg), "infeasible demand, nothing launched for it: %.600s",
				 sig);
			cJSON_AddStringToObject(d, "action", "infeasible");
			cJSON_AddItemToObject(d, "demand", arr);
			arr = NULL;
			record(c, d, msg);
		}
	}
	free(sig);
	cJSON_Delete(arr);
}

/* In --dry-run the same plan repeats every tick: record it once. */
static bool dry_run_repeat(struct controller *c, const struct planner_output *out)
{
	char sig[1024] = "";
	size_t w = 0;

	if (!c->o.dry_run)
		return false;
	for (size_t t = 0; t < out->launch_count && w < sizeof(sig) - 64; t++)
		w += (size_t)snprintf(sig + w, sizeof(sig) - w, "%s=%d,", out->launches[t].type,
				      out->launches[t].count);
	for (size_t i = 0; i < out->termination_count && w < sizeof(sig) - 128; i++)
		w += (size_t)snprintf(sig + w, sizeof(sig) - w, "-%s,", out->terminations[i].id);
	if (!strcmp(sig, c->dry_sig))
		return true;
	snprintf(c->dry_sig, sizeof(c->dry_sig), "%s", sig);
	return false;
}

/* ---------------------------------------------------------------- status */

static cJSON *plan_json(const struct plan_ctx *p, const struct planner_output *out)
{
	cJSON *o = cJSON_CreateObject(), *l, *t, *f;

	l = cJSON_AddObjectToObject(o, "launch");
	for (size_t i = 0; l && i < out->launch_count; i++)
		if (out->launches[i].count || out->launches[i].desired)
			cJSON_AddNumberToObject(l, out->launches[i].type, out->launches[i].count);
	t = cJSON_AddArrayToObject(o, "terminate");
	for (size_t i = 0; t && i < out->termination_count; i++) {
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "id", out->terminations[i].id);
		cJSON_AddStringToObject(x, "reason",
					planner_term_reason_name(out->terminations[i].reason));
		cJSON_AddItemToArray(t, x);
	}
	f = cJSON_AddArrayToObject(o, "infeasible");
	for (size_t i = 0; f && i < out->infeasible_count; i++)
		cJSON_AddItemToArray(f, demand_json(p, out->infeasible[i].cause,
						    out->infeasible[i].index,
						    out->infeasible[i].count));
	return o;
}

static const char *node_state(const struct node_ref *r)
{
	if (r->kind == REF_HEAD)
		return "head";
	if (r->kind == REF_UNMANAGED)
		return "unmanaged";
	return r->dn ? "running" : "pending";
}

static bool stopping_now(const struct provider_node *pn, size_t np, const char *id)
{
	for (size_t i = 0; i < np; i++)
		if (!strcmp(pn[i].id, id))
			return pn[i].stop_requested_at > 0;
	return true;	/* already gone */
}

static cJSON *nodes_json(struct controller *c, const struct plan_ctx *p)
{
	cJSON *arr = cJSON_CreateArray();
	const struct provider_node *pn;
	size_t np = c->o.provider.ops->list(&c->o.provider, &pn);

	for (size_t i = 0; arr && i < p->node_count; i++) {
		const struct node_ref *r = &p->refs[i];
		const struct planner_node *n = &p->nodes[i];
		cJSON *o;

		/* Stopped during this tick: listed below as stopping. */
		if (r->kind == REF_PROVIDER && stopping_now(pn, np, r->provider_id))
			continue;
		o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "id", n->id);
		cJSON_AddStringToObject(o, "type", n->type);
		cJSON_AddStringToObject(o, "state", node_state(r));
		if (r->dn) {
			cJSON_AddStringToObject(o, "ray_node_id", r->dn->node_id);
			cJSON_AddItemToObject(o, "total", resmap_to_json(&r->dn->total));
			if (r->dn->have_usage)
				cJSON_AddItemToObject(o, "available",
						      resmap_to_json(&r->dn->available));
		}
		if (n->idle_s >= 0)
			cJSON_AddNumberToObject(o, "idle_s", round(n->idle_s * 10) / 10);
		if (n->busy_workers >= 0)
			cJSON_AddNumberToObject(o, "agent_busy_workers", n->busy_workers);
		if (r->kind == REF_PROVIDER)
			cJSON_AddNumberToObject(o, "launched_at", r->launched_at);
		cJSON_AddItemToArray(arr, o);
	}
	for (size_t i = 0; arr && i < np; i++) {
		cJSON *o;

		if (pn[i].stop_requested_at <= 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", pn[i].id);
		cJSON_AddStringToObject(o, "type", pn[i].type);
		cJSON_AddStringToObject(o, "state", "stopping");
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *demand_status(const struct dash_snapshot *s, const struct plan_ctx *p)
{
	cJSON *o = cJSON_CreateObject(), *a;

	cJSON_AddNumberToObject(o, "pending_tasks", (double)s->pending_tasks);
	cJSON_AddNumberToObject(o, "pending_actors", (double)s->pending_actors);
	cJSON_AddNumberToObject(o, "pending_newer_than_report", (double)s->new_since_report);
	a = cJSON_AddArrayToObject(o, "shapes");
	for (size_t i = 0; a && i < p->in.shape_count; i++)
		cJSON_AddItemToArray(a, demand_json(p, PLANNER_CAUSE_SHAPE, i, p->in.shapes[i].count));
	a = cJSON_AddArrayToObject(o, "placement_groups");
	for (size_t i = 0; a && i < p->in.pg_count; i++)
		cJSON_AddItemToArray(a, demand_json(p, PLANNER_CAUSE_PLACEMENT_GROUP, i,
						    p->in.pgs[i].count));
	a = cJSON_AddArrayToObject(o, "request_resources");
	for (size_t i = 0; a && i < p->in.request_count; i++)
		cJSON_AddItemToArray(a, demand_json(p, PLANNER_CAUSE_REQUEST_RESOURCES, i,
						    p->in.requests[i].count));
	a = cJSON_AddArrayToObject(o, "held_placement_groups");
	for (size_t i = 0; a && i < s->cs.held_count; i++) {
		const struct dash_api_pg *pg = &s->cs.held[i];
		cJSON *h = cJSON_CreateObject(), *b;

		cJSON_AddStringToObject(h, "id", pg->id);
		cJSON_AddStringToObject(h, "state", pg->state);
		b = cJSON_AddArrayToObject(h, "bundles");
		for (size_t k = 0; b && k < pg->bundle_count; k++)
			cJSON_AddItemToArray(b, resmap_to_json(&pg->bundles[k]));
		cJSON_AddStringToObject(h, "reason", s->cs.held_why);
		cJSON_AddItemToArray(a, h);
	}
	cJSON_AddStringToObject(o, "source", dash_cs_source_name(s->cs.source));
	if (s->v2_error[0])
		cJSON_AddStringToObject(o, "v2_error", s->v2_error);
	cJSON_AddBoolToObject(o, "cluster_status_present", s->cs.present);
	if (s->cs.present)
		cJSON_AddNumberToObject(o, "cluster_status_age_s", round((p->now - s->cs.time) * 10) / 10);
	cJSON_AddBoolToObject(o, "usage_fresh", p->usage_fresh);
	return o;
}

static cJSON *types_json(const struct controller_config *cfg)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < cfg->group_count; i++) {
		const struct worker_group *g = &cfg->groups[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", g->name);
		cJSON_AddItemToObject(o, "resources", resmap_to_json(&g->resources));
		cJSON_AddNumberToObject(o, "min_workers", g->min_workers);
		cJSON_AddNumberToObject(o, "max_workers", g->max_workers);
		cJSON_AddNumberToObject(o, "idle_timeout_s",
					g->idle_timeout_s >= 0 ? g->idle_timeout_s : cfg->idle_timeout_s);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static void publish(struct controller *c, cJSON *st, bool ok)
{
	/* Built here, on the loop thread: HTTP threads must not read the
	 * provider's state. */
	char *pm = c->o.provider.ops->metrics_text ?
		   c->o.provider.ops->metrics_text(&c->o.provider) : NULL;

	pthread_mutex_lock(&c->lock);
	if (pm) {
		free(c->provider_metrics);
		c->provider_metrics = pm;
	}
	if (st) {
		cJSON_AddStringToObject(st, "ray_version", c->ray_version);
		cJSON_Delete(c->status);
		c->status = st;
	}
	if (ok)
		c->last_ok_fetch = rs_now_unix();
	pthread_mutex_unlock(&c->lock);
}

static cJSON *status_base(struct controller *c, double now)
{
	cJSON *st = cJSON_CreateObject();
	char ts[40];

	iso_time(now, ts, sizeof(ts));
	cJSON_AddStringToObject(st, "time", ts);
	cJSON_AddBoolToObject(st, "dry_run", c->o.dry_run);
	cJSON_AddStringToObject(st, "provider", c->o.provider.ops->name);
	if (c->o.provider.ops->status_json)
		cJSON_AddItemToObject(st, "provider_status",
				      c->o.provider.ops->status_json(&c->o.provider));
	cJSON_AddItemToObject(st, "node_types", types_json(c->o.config));
	cJSON_AddItemToObject(st, "agents", signals_to_json(c->signals, now));
	return st;
}

/* ---------------------------------------------------------------- the tick */

static void hold(struct controller *c, enum dash_source src, const char *err, double now)
{
	cJSON *st;

	count_error(c, (int)src);
	if (!c->holding) {
		cJSON *d = cJSON_CreateObject();
		char msg[768];

		snprintf(msg, sizeof(msg), "hold: no launch or termination until the dashboard "
			 "answers again (%s: %.600s)", dash_source_name(src), err);
		cJSON_AddStringToObject(d, "action", "hold");
		cJSON_AddStringToObject(d, "source", dash_source_name(src));
		cJSON_AddStringToObject(d, "error", err);
		record(c, d, msg);
		c->holding = true;
	} else {
		rs_warn("still holding: %s: %s", dash_source_name(src), err);
	}
	pthread_mutex_lock(&c->lock);
	st = c->status ? cJSON_Duplicate(c->status, true) : status_base(c, now);
	pthread_mutex_unlock(&c->lock);
	if (st) {
		cJSON_DeleteItemFromObject(st, "holding");
		cJSON_AddItemToObject(st, "holding", cJSON_CreateString(err));
	}
	publish(c, st, false);
}

static void resume(struct controller *c)
{
	char err[DASH_ERR_LEN], v[32] = "";

	if (!c->ray_version[0] && dash_fetch_version(&c->o.dash, v, sizeof(v), err) == 0) {
		pthread_mutex_lock(&c->lock);
		snprintf(c->ray_version, sizeof(c->ray_version), "%s", v);
		pthread_mutex_unlock(&c->lock);
		rs_info("connected to Ray %s at %s", v, c->o.dash.base_url);
	}
	if (c->holding) {
		cJSON *d = cJSON_CreateObject();

		cJSON_AddStringToObject(d, "action", "resume");
		record(c, d, "resume: the dashboard answers again");
		c->holding = false;
	}
}

static void observe_loop(struct controller *c, double secs)
{
	size_t b = 0;

	while (b < N_BUCKETS && secs > loop_buckets[b])
		b++;
	pthread_mutex_lock(&c->lock);
	c->loop_hist[b]++;
	c->loop_sum += secs;
	c->loop_count++;
	pthread_mutex_unlock(&c->lock);
}

/* Say (once per change) where the demand comes from, why the autoscaler-v2
 * data is missing, and which placement groups are held. */
static void note_source(struct controller *c, const struct dash_snapshot *s)
{
	char sig[sizeof(c->held_sig)] = "";
	size_t len = 0;

	if (c->demand_source != (int)s->cs.source) {
		rs_info("demand source: %s (%s)", dash_cs_source_name(s->cs.source),
			s->cs.source == DASH_CS_STRUCTURED ? "the v1 monitor's structured report" :
			s->cs.source == DASH_CS_V2_TEXT ? "autoscaler v2: clusterStatus null, "
			"reading the status text, placement groups and node summary" :
			"no cluster status: state-API tasks only, no placement groups, "
			"no scale-down");
		c->demand_source = (int)s->cs.source;
	}
	if (strcmp(c->v2_error, s->v2_error)) {
		if (s->v2_error[0])
			rs_warn("autoscaler-v2 data missing or partial: %s", s->v2_error);
		snprintf(c->v2_error, sizeof(c->v2_error), "%s", s->v2_error);
	}
	for (size_t i = 0; i < s->cs.held_count && len < sizeof(sig) - 1; i++)
		len += (size_t)snprintf(sig + len, sizeof(sig) - len, "%s,", s->cs.held[i].id);
	if (strcmp(sig, c->held_sig)) {
		for (size_t i = 0; i < s->cs.held_count; i++)
			rs_warn("holding placement group %s (%zu bundles): no launch for it: %s",
				s->cs.held[i].id, s->cs.held[i].bundle_count, s->cs.held_why);
		snprintf(c->held_sig, sizeof(c->held_sig), "%s", sig);
	}
}

static int plan_and_act(struct controller *c, struct dash_snapshot *s, double now)
{
	struct plan_ctx p = { .now = now };
	struct planner_output out = { 0 };
	cJSON *st;
	int rc;

	note_source(c, s);
	p.usage_fresh = s->cs.present && now - s->cs.time <= c->o.stale_after_s;
	if (dash_merge_demand(s, p.usage_fresh)) {
		count_error(c, ERR_PLANNER);
		return -ENOMEM;
	}
	update_idle(c, s, p.usage_fresh, now);
	rc = build_input(c, s, &p);
	if (!rc)
		rc = planner_plan(&p.in, &out);
	if (rc) {
		count_error(c, ERR_PLANNER);
		rs_error("planner: %s", rc == -EINVAL ? out.error : strerror(-rc));
		plan_ctx_free(&p);
		return rc;
	}
	note_infeasible(c, &p, &out);
	if (!dry_run_repeat(c, &out)) {
		do_launches(c, &p, &out);
		do_terminations(c, &p, &out);
	}
	st = status_base(c, now);
	cJSON_AddItemToObject(st, "nodes", nodes_json(c, &p));
	cJSON_AddItemToObject(st, "demand", demand_status(s, &p));
	cJSON_AddItemToObject(st, "last_plan", plan_json(&p, &out));
	publish(c, st, true);
	planner_output_free(&out);
	plan_ctx_free(&p);
	return 0;
}

int controller_tick(struct controller *c)
{
	double t0 = rs_now_mono(), now = rs_now_unix();
	struct dash_snapshot snap;
	enum dash_source src;
	char err[DASH_ERR_LEN] = "";
	int rc;

	if (c->o.provider.ops->refresh(&c->o.provider, now))
		count_error(c, ERR_PROVIDER);
	rc = dash_fetch_snapshot(&c->o.dash, &snap, &src, err);
	if (rc) {
		hold(c, src, err, now);
		observe_loop(c, rs_now_mono() - t0);
		return 0;
	}
	resume(c);
	rc = plan_and_act(c, &snap, rs_now_unix());
	dash_snapshot_free(&snap);
	observe_loop(c, rs_now_mono() - t0);
	return rc;
}

void controller_run(struct controller *c, volatile sig_atomic_t *stop)
{
	while (!*stop) {
		double start = rs_now_mono();

		controller_tick(c);
		while (!*stop && rs_now_mono() - start < c->o.interval_s)
			usleep(20000);
	}
}

/* ---------------------------------------------------------------- lifecycle */

int controller_create(const struct controller_opts *opts, struct controller **out)
{
	struct controller *c = calloc(1, sizeof(*c));
	size_t ng = opts->config->group_count;

	if (!c)
		return -ENOMEM;
	c->o = *opts;
	if (c->o.interval_s <= 0)
		c->o.interval_s = 1;
	if (c->o.stale_after_s <= 0)
		c->o.stale_after_s = 15;
	if (c->o.scale_down_cooldown_s < 0)
		c->o.scale_down_cooldown_s = 10;
	if (c->o.launch_timeout_s <= 0)
		c->o.launch_timeout_s = 180;
	if (c->o.signal_max_age_s <= 0)
		c->o.signal_max_age_s = 30;
	if (!c->o.decision_history)
		c->o.decision_history = 500;
	c->demand_source = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->signals = signals_new();
	c->decisions = calloc(c->o.decision_history, sizeof(*c->decisions));
	c->launches = calloc(ng + 1, sizeof(*c->launches));
	c->terminations = calloc(ng + 1, sizeof(*c->terminations));
	c->last_launch_at = calloc(ng + 1, sizeof(*c->last_launch_at));
	if (!c->signals || !c->decisions || !c->launches || !c->terminations ||
	    !c->last_launch_at) {
		controller_destroy(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void controller_destroy(struct controller *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->decisions && i < c->dec_count; i++)
		cJSON_Delete(c->decisions[(c->dec_head + i) % c->o.decision_history]);
	free(c->decisions);
	free(c->launches);
	free(c->terminations);
	free(c->last_launch_at);
	free(c->idle);
	cJSON_Delete(c->status);
	free(c->provider_metrics);
	signals_free(c->signals);
	if (c->o.provider.ops)
		c->o.provider.ops->destroy(&c->o.provider);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---------------------------------------------------------------- API views */

struct signals *controller_signals(struct controller *c)
{
	return c->signals;
}

bool controller_ready(struct controller *c)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = c->last_ok_fetch > 0 && rs_now_unix() - c->last_ok_fetch < 10 * c->o.interval_s + 5;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

cJSON *controller_status_json(struct controller *c)
{
	cJSON *st;

	pthread_mutex_lock(&c->lock);
	st = c->status ? cJSON_Duplicate(c->status, true) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!st) {
		st = cJSON_CreateObject();
		cJSON_AddStringToObject(st, "holding", "no successful fetch yet");
	}
	return st;
}

cJSON *controller_decisions_json(struct controller *c, size_t limit)
{
	cJSON *arr = cJSON_CreateArray();
	size_t start;

	pthread_mutex_lock(&c->lock);
	start = limit && limit < c->dec_count ? c->dec_count - limit : 0;
	for (size_t i = start; arr && i < c->dec_count; i++)
		cJSON_AddItemToArray(arr, cJSON_Duplicate(
			c->decisions[(c->dec_head + i) % c->o.decision_history], true));
	pthread_mutex_unlock(&c->lock);
	return arr;
}

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap : 4096);
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return;
		b->s = s;
		b->cap = cap;
	}
}

char *controller_metrics_text(struct controller *c)
{
	const struct controller_config *cfg = c->o.config;
	struct buf b = { 0 };
	unsigned long cum = 0;

	pthread_mutex_lock(&c->lock);
	bprintf(&b, "# HELP raysense_controller_decisions_total Decisions recorded (launch, "
		"terminate, keep, hold, resume, infeasible).\n"
		"# TYPE raysense_controller_decisions_total counter\n"
		"raysense_controller_decisions_total %lu\n", c->decisions_total);
	bprintf(&b, "# HELP raysense_controller_launches_total Nodes launched, per worker group.\n"
		"# TYPE raysense_controller_launches_total counter\n");
	for (size_t g = 0; g < cfg->group_count; g++)
		bprintf(&b, "raysense_controller_launches_total{type=\"%s\"} %lu\n",
			cfg->groups[g].name, c->launches[g]);
	bprintf(&b, "# HELP raysense_controller_terminations_total Nodes terminated, per worker "
		"group and reason.\n# TYPE raysense_controller_terminations_total counter\n");
	for (size_t g = 0; g < cfg->group_count; g++)
		for (int r = 0; r < TR_COUNT; r++)
			bprintf(&b, "raysense_controller_terminations_total{type=\"%s\",reason=\"%s\"} "
				"%lu\n", cfg->groups[g].name, term_reason_names[r],
				c->terminations[g][r]);
	bprintf(&b, "# HELP raysense_controller_infeasible_demand Demand units no node type can "
		"hold (or capped by max), last round.\n"
		"# TYPE raysense_controller_infeasible_demand gauge\n"
		"raysense_controller_infeasible_demand %g\n", c->infeasible_units);
	bprintf(&b, "# HELP raysense_controller_loop_duration_seconds Duration of one control "
		"loop round.\n# TYPE raysense_controller_loop_duration_seconds histogram\n");
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += c->loop_hist[i];
		bprintf(&b, "raysense_controller_loop_duration_seconds_bucket{le=\"%g\"} %lu\n",
			loop_buckets[i], cum);
	}
	cum += c->loop_hist[N_BUCKETS];
	bprintf(&b, "raysense_controller_loop_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
		"raysense_controller_loop_duration_seconds_sum %g\n"
		"raysense_controller_loop_duration_seconds_count %lu\n", cum, c->loop_sum,
		c->loop_count);
	bprintf(&b, "# HELP raysense_controller_errors_total Failed calls, per source.\n"
		"# TYPE raysense_controller_errors_total counter\n");
	for (int i = 0; i < ERR_COUNT; i++)
		bprintf(&b, "raysense_controller_errors_total{source=\"%s\"} %lu\n",
			i == ERR_PROVIDER ? "provider" : i == ERR_PLANNER ? "planner" :
			dash_source_name((enum dash_source)i), c->errors[i]);
	bprintf(&b, "# HELP raysense_controller_agents Agents whose latest snapshot is kept.\n"
		"# TYPE raysense_controller_agents gauge\nraysense_controller_agents %zu\n",
		signals_count(c->signals));
	if (c->provider_metrics)
		bprintf(&b, "%s", c->provider_metrics);
	pthread_mutex_unlock(&c->lock);
	return b.s;
}
