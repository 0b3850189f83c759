/* views.c -- /api/v1/status JSON (views.h). */
#include "controller/views.h"

#include "common/util.h"
#include "controller/plan/plan_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
		cJSON_AddStringToObject(o, "platform", config_platform_name(g->platform));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

cJSON *views_status_base(const struct controller_config *cfg, struct provider *prov,
			 struct signals *sig, bool dry_run, double now)
{
	cJSON *st = cJSON_CreateObject();
	char ts[40];

	rs_iso_time(now, ts, sizeof(ts));
	cJSON_AddStringToObject(st, "time", ts);
	cJSON_AddBoolToObject(st, "dry_run", dry_run);
	cJSON_AddStringToObject(st, "provider", prov->ops->name);
	if (prov->ops->status_json)
		cJSON_AddItemToObject(st, "provider_status", prov->ops->status_json(prov));
	cJSON_AddItemToObject(st, "node_types", types_json(cfg));
	cJSON_AddItemToObject(st, "agents", signals_to_json(sig, now));
	return st;
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

static cJSON *node_json(const struct node_ref *r, const struct planner_node *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", n->id);
	cJSON_AddStringToObject(o, "type", n->type);
	cJSON_AddStringToObject(o, "state", node_state(r));
	if (r->dn) {
		cJSON_AddStringToObject(o, "ray_node_id", r->dn->node_id);
		cJSON_AddItemToObject(o, "total", resmap_to_json(&r->dn->total));
		if (r->dn->have_usage)
			cJSON_AddItemToObject(o, "available", resmap_to_json(&r->dn->available));
	}
	if (n->idle_s >= 0)
		cJSON_AddNumberToObject(o, "idle_s", round(n->idle_s * 10) / 10);
	if (n->busy_workers >= 0)
		cJSON_AddNumberToObject(o, "agent_busy_workers", n->busy_workers);
	if (r->kind == REF_PROVIDER)
		cJSON_AddNumberToObject(o, "launched_at", r->launched_at);
	return o;
}

static cJSON *nodes_json(struct provider *prov, const struct plan_input *p)
{
	cJSON *arr = cJSON_CreateArray();
	const struct provider_node *pn;
	size_t np = prov->ops->list(prov, &pn);

	for (size_t i = 0; arr && i < p->in.node_count; i++) {
		const struct node_ref *r = &p->refs[i];

		/* Stopped during this tick: listed below as stopping. */
		if (r->kind == REF_PROVIDER && stopping_now(pn, np, r->provider_id))
			continue;
		cJSON_AddItemToArray(arr, node_json(r, &p->in.nodes[i]));
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

static void add_demand_list(cJSON *o, const char *key, const struct planner_input *in,
			    enum planner_cause cause, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);

	for (size_t i = 0; a && i < n; i++) {
		long count = cause == PLANNER_CAUSE_SHAPE ? in->shapes[i].count :
			     cause == PLANNER_CAUSE_PLACEMENT_GROUP ? in->pgs[i].count :
			     in->requests[i].count;

		cJSON_AddItemToArray(a, plan_json_demand(in, cause, i, count));
	}
}

static void add_held(cJSON *o, const struct dash_cluster_status *cs)
{
	cJSON *a = cJSON_AddArrayToObject(o, "held_placement_groups");

	for (size_t i = 0; a && i < cs->held_count; i++) {
		const struct dash_api_pg *pg = &cs->held[i];
		cJSON *h = cJSON_CreateObject(), *b;

		cJSON_AddStringToObject(h, "id", pg->id);
		cJSON_AddStringToObject(h, "state", pg->state);
		b = cJSON_AddArrayToObject(h, "bundles");
		for (size_t k = 0; b && k < pg->bundle_count; k++)
			cJSON_AddItemToArray(b, resmap_to_json(&pg->bundles[k]));
		cJSON_AddStringToObject(h, "reason", cs->held_why);
		cJSON_AddItemToArray(a, h);
	}
}

static cJSON *demand_json(const struct dash_snapshot *s, const struct plan_input *p)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "pending_tasks", (double)s->pending_tasks);
	cJSON_AddNumberToObject(o, "pending_actors", (double)s->pending_actors);
	cJSON_AddNumberToObject(o, "pending_newer_than_report", (double)s->new_since_report);
	add_demand_list(o, "shapes", &p->in, PLANNER_CAUSE_SHAPE, p->in.shape_count);
	add_demand_list(o, "placement_groups", &p->in, PLANNER_CAUSE_PLACEMENT_GROUP,
			p->in.pg_count);
	add_demand_list(o, "request_resources", &p->in, PLANNER_CAUSE_REQUEST_RESOURCES,
			p->in.request_count);
	add_held(o, &s->cs);
	cJSON_AddStringToObject(o, "source", dash_cs_source_name(s->cs.source));
	if (s->v2_error[0])
		cJSON_AddStringToObject(o, "v2_error", s->v2_error);
	cJSON_AddBoolToObject(o, "demand_from_gcs", s->cs.demand_from_gcs);
	if (s->gcs_error[0])
		cJSON_AddStringToObject(o, "gcs_error", s->gcs_error);
	cJSON_AddBoolToObject(o, "cluster_status_present", s->cs.present);
	if (s->cs.present)
		cJSON_AddNumberToObject(o, "cluster_status_age_s",
					round((p->now - s->cs.time) * 10) / 10);
	cJSON_AddBoolToObject(o, "usage_fresh", p->usage_fresh);
	cJSON_AddBoolToObject(o, "pending_list_complete", dash_pending_complete(s));
	if (s->pending_read_at > 0)
		cJSON_AddNumberToObject(o, "pending_list_age_s",
					round((p->now - s->pending_read_at) * 10) / 10);
	if (s->pending_error[0])
		cJSON_AddStringToObject(o, "pending_list_error", s->pending_error);
	if (p->scale_down_hold)
		cJSON_AddStringToObject(o, "scale_down_hold", p->scale_down_hold);
	return o;
}

void views_add_plan(cJSON *st, struct provider *prov, const struct dash_snapshot *s,
		    const struct plan_input *p, const struct planner_output *out)
{
	cJSON_AddItemToObject(st, "nodes", nodes_json(prov, p));
	cJSON_AddItemToObject(st, "demand", demand_json(s, p));
	cJSON_AddItemToObject(st, "last_plan", plan_json_render(&p->in, out));
}

/* p50/p90/p95 to 0.1 s, as key prefix + "p50_s"... */
static void add_percentiles(cJSON *o, const char *prefix, const struct startup_stats *st)
{
	static const char *const q[] = { "p50_s", "p90_s", "p95_s" };
	const double v[] = { st->p50, st->p90, st->p95 };
	char key[32];

	for (size_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "%s%s", prefix, q[i]);
		cJSON_AddNumberToObject(o, key, round(v[i] * 10) / 10);
	}
}

/* "startup_sources": per source, its sample count and percentiles. */
static void add_sources(cJSON *o, const struct startup_group *model)
{
	cJSON *srcs = cJSON_AddObjectToObject(o, "startup_sources");

	for (int s = 0; srcs && s < STARTUP_SOURCES; s++) {
		cJSON *so = cJSON_AddObjectToObject(srcs, startup_source_names[s]);
		struct startup_stats st;

		startup_series_stats(&model->src[s], &st);
		cJSON_AddNumberToObject(so, "samples", (double)st.n);
		if (st.n)
			add_percentiles(so, "", &st);
	}
}

static cJSON *group_fusion_json(const struct fusion *f, const struct controller_config *cfg,
				const struct plan_input *p, size_t g)
{
	const struct planner_node_type *t = &p->types[PLAN_FIRST_GROUP_TYPE + g];
	cJSON *o = cJSON_CreateObject();
	struct startup_stats st;

	fusion_startup_stats(f, g, &st);
	cJSON_AddStringToObject(o, "type", t->name);
	cJSON_AddStringToObject(o, "platform", config_platform_name(cfg->groups[g].platform));
	/* The model the rules use: the controller's samples, else the agent's. */
	cJSON_AddNumberToObject(o, "startup_samples", (double)st.n);
	if (st.n) {
		cJSON_AddStringToObject(o, "startup_source", startup_source_names[st.source]);
		add_percentiles(o, "startup_", &st);
	}
	add_sources(o, &f->g[g].startup);
	if (f->g[g].backoff_until > p->now)
		cJSON_AddNumberToObject(o, "backed_off_s", round((f->g[g].backoff_until - p->now) * 10) / 10);
	cJSON_AddNumberToObject(o, "idle_timeout_s", t->idle_timeout_s >= 0 ? t->idle_timeout_s :
				p->in.idle_timeout_s);
	return o;
}

void views_add_fusion(cJSON *st, const struct fusion *f, const struct controller_config *cfg,
		      const struct plan_input *p)
{
	cJSON *o = cJSON_AddObjectToObject(st, "fusion"), *groups;

	if (!o)
		return;
	cJSON_AddBoolToObject(o, "enabled", f->cfg.enabled);
	groups = cJSON_AddArrayToObject(o, "groups");
	for (size_t g = 0; groups && g < cfg->group_count && g < f->group_count; g++)
		cJSON_AddItemToArray(groups, group_fusion_json(f, cfg, p, g));
}
