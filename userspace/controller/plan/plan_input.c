/* plan_input.c -- dashboard snapshot + provider nodes + idle runs + agent
 * hints -> planner input (plan_input.h).  Pure. */
#include "controller/plan/plan_input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plan_group_index(const struct controller_config *cfg, const char *type)
{
	for (size_t i = 0; i < cfg->group_count; i++)
		if (!strcmp(cfg->groups[i].name, type))
			return (int)i;
	return -1;
}

const struct dash_node *plan_ray_node_of(const struct dash_snapshot *s, const char *id)
{
	for (size_t i = 0; i < s->node_count; i++) {
		const struct dash_node *n = &s->nodes[i];

		if (n->alive && ((n->label_node && !strcmp(n->label_node, id)) ||
				 (n->node_name && !strcmp(n->node_name, id))))
			return n;
	}
	return NULL;
}

bool plan_launch_expired(const struct provider_node *pn, const struct dash_node *dn,
			 double now, double launch_timeout_s)
{
	return !dn && now - pn->launched_at > launch_timeout_s;
}

static bool owned_by_provider(const struct plan_sources *src, const struct dash_node *n)
{
	if (n->label_node)	/* ours, or a node we stopped that Ray still lists */
		return true;
	for (size_t i = 0; i < src->pnode_count; i++)
		if (n->node_name && !strcmp(n->node_name, src->pnodes[i].id))
			return true;
	return false;
}

static void build_types(const struct plan_sources *src, struct plan_input *p)
{
	const struct controller_config *cfg = src->config;
	const struct dash_snapshot *s = src->snap;

	p->types[0] = (struct planner_node_type){ .name = PLAN_HEAD_TYPE, .is_head = true,
						  .idle_timeout_s = -1 };
	for (size_t i = 0; i < s->node_count; i++)
		if (s->nodes[i].alive && s->nodes[i].is_head)
			p->types[0].resources = resmap_view(&s->nodes[i].total);
	p->types[1] = (struct planner_node_type){ .name = PLAN_UNMANAGED_TYPE, .is_head = true,
						  .idle_timeout_s = -1 };
	for (size_t g = 0; g < cfg->group_count; g++) {
		const struct worker_group *wg = &cfg->groups[g];

		p->types[PLAN_FIRST_GROUP_TYPE + g] = (struct planner_node_type){
			.name = wg->name,
			.resources = resmap_view(&wg->resources),
			.min_workers = wg->min_workers,
			.max_workers = wg->max_workers,
			.idle_timeout_s = wg->idle_timeout_s,
		};
	}
	p->in.node_types = p->types;
	p->in.node_type_count = PLAN_FIRST_GROUP_TYPE + cfg->group_count;
}

static struct planner_node *add_node(struct plan_input *p, enum node_ref_kind kind,
				     const char *type, const struct provider_node *pn,
				     const struct dash_node *dn)
{
	size_t i = p->in.node_count++;
	struct planner_node *n = &p->nodes[i];
	struct node_ref *r = &p->refs[i];

	*r = (struct node_ref){ .kind = kind, .dn = dn };
	if (pn) {
		snprintf(r->provider_id, PROVIDER_ID_MAX, "%s", pn->id);
		r->launched_at = pn->launched_at;
		r->started_at = pn->started_at;
		r->unschedulable_since = pn->unschedulable_since;
		snprintf(r->unschedulable, sizeof(r->unschedulable), "%s", pn->unschedulable);
	}
	memset(n, 0, sizeof(*n));
	n->id = pn ? r->provider_id : dn->node_id;
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
	return n;
}

static void add_ray_nodes(const struct plan_sources *src, struct plan_input *p)
{
	for (size_t i = 0; i < src->snap->node_count; i++) {
		const struct dash_node *n = &src->snap->nodes[i];

		if (!n->alive)
			continue;
		if (n->is_head)
			add_node(p, REF_HEAD, PLAN_HEAD_TYPE, NULL, n);
		else if (!owned_by_provider(src, n))
			add_node(p, REF_UNMANAGED, PLAN_UNMANAGED_TYPE, NULL, n);
	}
}

/* The node's use is newer than the demand in hand (PLAN_NEW_USE_MARGIN_S):
 * count it as empty, as it was before that use. */
static void credit_new_use(const struct plan_sources *src, struct plan_input *p,
			   struct planner_node *n, const struct dash_node *dn)
{
	double since;

	if (src->new_use_margin_s <= 0 || !src->idle || !n->have_resources)
		return;
	since = idle_tracker_busy_since(src->idle, dn->node_id);
	/* With fresh usage the demand is the report's (dash_merge_demand),
	 * read at the report's time; the pending tasks it adds are newer than
	 * the report, so no usage in it can hold them. */
	if (since <= 0 || src->snap->cs.time >= since + src->new_use_margin_s)
		return;
	n->available = n->total;
	if (p->credited++ == 0)
		snprintf(p->hold_why, sizeof(p->hold_why),
			 "the demand was read %.1f s after %s was first seen in use (< %.1f s): "
			 "it may still list what runs there", src->snap->cs.time - since, n->id,
			 src->new_use_margin_s);
}

static void add_provider_node(const struct plan_sources *src, struct plan_input *p,
			      const struct provider_node *pn, int g)
{
	const struct dash_node *dn = plan_ray_node_of(src->snap, pn->id);
	double timeout = src->group_launch_timeout_s ? src->group_launch_timeout_s[g] :
			 src->launch_timeout_s;
	struct planner_node *n;

	if (plan_launch_expired(pn, dn, src->now, timeout))
		return;
	n = add_node(p, REF_PROVIDER, src->config->groups[g].name, pn, dn);
	if (!dn)
		return;
	if (p->usage_fresh && dn->have_usage && src->idle)
		n->idle_s = idle_tracker_seconds(src->idle, dn->node_id, src->now);
	credit_new_use(src, p, n, dn);
	if (src->busy_hint)
		src->busy_hint(src->hint_ctx, dn->node_id, &n->busy_workers, &n->busy_age_s);
}

static void add_provider_nodes(const struct plan_sources *src, struct plan_input *p)
{
	for (size_t i = 0; i < src->pnode_count; i++) {
		const struct provider_node *pn = &src->pnodes[i];
		int g = plan_group_index(src->config, pn->type);

		/* Stopping nodes are left out here (the actuator still counts
		 * them against max); so are nodes of a group no longer
		 * configured. */
		if (pn->stop_requested_at > 0 || g < 0)
			continue;
		add_provider_node(src, p, pn, g);
	}
}

static int alloc_demand(const struct dash_snapshot *s, struct plan_input *p)
{
	const struct dash_cluster_status *cs = &s->cs;
	size_t nb = 0;

	for (size_t i = 0; i < cs->pg_count; i++)
		nb += cs->pgs[i].bundle_count;
	p->shapes = calloc(s->shape_count + 1, sizeof(*p->shapes));
	p->pgs = calloc(cs->pg_count + 1, sizeof(*p->pgs));
	p->requests = calloc(cs->request_count + 1, sizeof(*p->requests));
	p->bundles = calloc(nb + 1, sizeof(*p->bundles));
	return p->shapes && p->pgs && p->requests && p->bundles ? 0 : -ENOMEM;
}

static void add_report_demand(const struct dash_cluster_status *cs, struct plan_input *p)
{
	size_t k = 0;

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
}

static int build_demand(const struct dash_snapshot *s, struct plan_input *p)
{
	if (alloc_demand(s, p))
		return -ENOMEM;
	for (size_t i = 0; i < s->shape_count; i++)
		p->shapes[i] = (struct planner_shape_demand){ s->shapes[i].kind,
			resmap_view(&s->shapes[i].shape), s->shapes[i].count };
	p->in.shapes = p->shapes;
	p->in.shape_count = s->shape_count;
	/* PGs and request_resources only exist in the report; a stale report
	 * would replay demand that may be gone. */
	if (s->cs.present && p->usage_fresh)
		add_report_demand(&s->cs, p);
	return 0;
}

static void set_cluster(const struct controller_config *cfg, struct planner_input *in)
{
	in->max_workers = cfg->max_workers;
	in->upscaling_speed = cfg->upscaling_speed;
	in->max_concurrent_launches = cfg->max_concurrent_launches;
	in->idle_timeout_s = cfg->idle_timeout_s;
}

int plan_input_build(const struct plan_sources *src, struct plan_input *out)
{
	size_t max_nodes = src->snap->node_count + src->pnode_count + 1;

	memset(out, 0, sizeof(*out));
	out->usage_fresh = src->usage_fresh;
	out->scale_down_hold = src->scale_down_hold;
	out->now = src->now;
	out->types = calloc(PLAN_FIRST_GROUP_TYPE + src->config->group_count, sizeof(*out->types));
	out->nodes = calloc(max_nodes, sizeof(*out->nodes));
	out->refs = calloc(max_nodes, sizeof(*out->refs));
	if (!out->types || !out->nodes || !out->refs)
		return -ENOMEM;
	build_types(src, out);
	out->in.nodes = out->nodes;
	add_ray_nodes(src, out);
	add_provider_nodes(src, out);
	set_cluster(src->config, &out->in);
	if (build_demand(src->snap, out))
		return -ENOMEM;
	/* Without demand the credit moves no placement, so it cannot free a
	 * node; holding then would only keep idle nodes longer (a cluster of
	 * short tasks has some node in its margin most of the time). */
	if (out->credited && !out->scale_down_hold &&
	    (out->in.shape_count || out->in.pg_count || out->in.request_count))
		out->scale_down_hold = out->hold_why;
	return 0;
}

void plan_input_free(struct plan_input *p)
{
	free(p->types);
	free(p->nodes);
	free(p->refs);
	free(p->shapes);
	free(p->pgs);
	free(p->bundles);
	free(p->requests);
	memset(p, 0, sizeof(*p));
}
