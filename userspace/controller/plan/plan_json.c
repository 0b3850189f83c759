/* plan_json.c -- plans and demand as JSON (plan_json.h). */
#include "controller/plan/plan_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define NCAUSES (PLANNER_CAUSE_SHAPE + 1)

static cJSON *render_resources(const struct planner_resources *r)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < r->count; i++)
		if (!cJSON_AddNumberToObject(o, r->items[i].name, r->items[i].value)) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

/* Sum of a placement group's bundles: the resources one copy needs. */
static cJSON *render_pg_total(const struct planner_pg_demand *g)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t b = 0; o && b < g->bundle_count; b++)
		for (size_t i = 0; i < g->bundles[b].count; i++) {
			const struct planner_resource *r = &g->bundles[b].items[i];
			cJSON *have = cJSON_GetObjectItemCaseSensitive(o, r->name);
			if (have)
				cJSON_SetNumberValue(have, have->valuedouble + r->value);
			else if (!cJSON_AddNumberToObject(o, r->name, r->value)) {
				cJSON_Delete(o);
				return NULL;
			}
		}
	return o;
}

static cJSON *render_bundles(const struct planner_pg_demand *g)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t b = 0; arr && b < g->bundle_count; b++) {
		cJSON *o = render_resources(&g->bundles[b]);
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

static const char *kind_name(enum planner_demand_kind k)
{
	return k == PLANNER_DEMAND_ACTOR ? "actor" : "task";
}

/* Short text such as {CPU: 1, GPU: 1} for explanations. */
static void shape_text(const struct planner_resources *r, char *buf, size_t len)
{
	size_t w = (size_t)snprintf(buf, len, "{");
	for (size_t i = 0; i < r->count && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%s: %g", i ? ", " : "",
				      r->items[i].name, r->items[i].value);
	if (w < len)
		snprintf(buf + w, len - w, "}");
}

/* The demand in words, for "explain". */
static void demand_text(const struct planner_input *in, enum planner_cause cause, size_t index,
			char *text, size_t len)
{
	char shape[192];

	switch (cause) {
	case PLANNER_CAUSE_MIN_WORKERS:
		snprintf(text, len, "min_workers of %s", in->node_types[index].name);
		return;
	case PLANNER_CAUSE_SHAPE:
		shape_text(&in->shapes[index].shape, shape, sizeof(shape));
		snprintf(text, len, "%s %s", kind_name(in->shapes[index].kind), shape);
		return;
	case PLANNER_CAUSE_REQUEST_RESOURCES:
		shape_text(&in->requests[index].shape, shape, sizeof(shape));
		snprintf(text, len, "request_resources %s", shape);
		return;
	case PLANNER_CAUSE_PLACEMENT_GROUP:
		snprintf(text, len, "placement group #%zu (%s, %zu bundles)", index,
			 planner_pg_strategy_name(in->pgs[index].strategy),
			 in->pgs[index].bundle_count);
		return;
	}
	snprintf(text, len, "?");
}

/* A demand is rendered once per node planned for it, and one placement
 * group may have 10,000 bundles and as many nodes: past this many bundles a
 * group's DEMAND says "bundle_count" instead of listing them, so a plan's
 * JSON stays linear in its size. */
#define PLAN_JSON_MAX_BUNDLES 64

static int add_pg(cJSON *o, const struct planner_pg_demand *g)
{
	if (g->bundle_count > PLAN_JSON_MAX_BUNDLES)
		return cJSON_AddStringToObject(o, "kind", "placement_group") &&
		       cJSON_AddStringToObject(o, "strategy", planner_pg_strategy_name(g->strategy)) &&
		       cJSON_AddNumberToObject(o, "bundle_count", (double)g->bundle_count) ? 0 : -ENOMEM;
	cJSON *shape = render_pg_total(g), *bundles = render_bundles(g);

	if (!shape || !bundles || !cJSON_AddStringToObject(o, "kind", "placement_group") ||
	    !cJSON_AddStringToObject(o, "strategy", planner_pg_strategy_name(g->strategy)) ||
	    !cJSON_AddItemToObject(o, "shape", shape)) {
		cJSON_Delete(shape);
		cJSON_Delete(bundles);
		return -ENOMEM;
	}
	return cJSON_AddItemToObject(o, "bundles", bundles) ? 0 : (cJSON_Delete(bundles), -ENOMEM);
}

static int add_shape(cJSON *o, const char *kind, const struct planner_resources *r)
{
	cJSON *shape = render_resources(r);

	if (!shape || !cJSON_AddStringToObject(o, "kind", kind) ||
	    !cJSON_AddItemToObject(o, "shape", shape)) {
		cJSON_Delete(shape);
		return -ENOMEM;
	}
	return 0;
}

static int add_source(cJSON *o, const struct planner_input *in, enum planner_cause cause,
		      size_t index)
{
	switch (cause) {
	case PLANNER_CAUSE_MIN_WORKERS:
		return cJSON_AddStringToObject(o, "type", in->node_types[index].name) ? 0 : -ENOMEM;
	case PLANNER_CAUSE_SHAPE:
		return add_shape(o, kind_name(in->shapes[index].kind), &in->shapes[index].shape);
	case PLANNER_CAUSE_REQUEST_RESOURCES:
		return add_shape(o, "request_resources", &in->requests[index].shape);
	case PLANNER_CAUSE_PLACEMENT_GROUP:
		return add_pg(o, &in->pgs[index]);
	}
	return -EINVAL;
}

cJSON *plan_json_demand(const struct planner_input *in, enum planner_cause cause, size_t index,
			long count)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "cause", planner_cause_name(cause)) ||
	    !cJSON_AddNumberToObject(o, "count", (double)count) ||
	    add_source(o, in, cause, index) ||
	    (cause != PLANNER_CAUSE_MIN_WORKERS &&
	     !cJSON_AddNumberToObject(o, "index", (double)index))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Append item to arr; frees item when it cannot. */
static int append(cJSON *arr, cJSON *item)
{
	if (item && cJSON_AddItemToArray(arr, item))
		return 0;
	cJSON_Delete(item);
	return -ENOMEM;
}

static int render_launches(const struct planner_output *p, cJSON *root)
{
	cJSON *launch = cJSON_AddObjectToObject(root, "launch");
	cJSON *desired = cJSON_AddObjectToObject(root, "desired");
	if (!launch || !desired)
		return -ENOMEM;
	for (size_t t = 0; t < p->launch_count; t++) {
		if (p->launches[t].count > 0 &&
		    !cJSON_AddNumberToObject(launch, p->launches[t].type, p->launches[t].count))
			return -ENOMEM;
		if (p->launches[t].desired > 0 &&
		    !cJSON_AddNumberToObject(desired, p->launches[t].type, p->launches[t].desired))
			return -ENOMEM;
	}
	return 0;
}

static int render_terminations(const struct planner_input *in, const struct planner_output *p,
			       cJSON *root)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "terminate");
	cJSON *kept = cJSON_AddArrayToObject(root, "kept");
	if (!arr || !kept)
		return -ENOMEM;
	for (size_t i = 0; i < p->termination_count; i++) {
		const struct planner_termination *t = &p->terminations[i];
		cJSON *o = cJSON_CreateObject();
		if (append(arr, o))
			return -ENOMEM;
		if (!cJSON_AddStringToObject(o, "id", t->id) ||
		    !cJSON_AddStringToObject(o, "reason", planner_term_reason_name(t->reason)) ||
		    !cJSON_AddStringToObject(o, "type", t->type) ||
		    (t->idle_s >= 0 && !cJSON_AddNumberToObject(o, "idle_s", t->idle_s)) ||
		    (t->timeout_s >= 0 && !cJSON_AddNumberToObject(o, "timeout_s", t->timeout_s)))
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->kept_count; i++) {
		const struct planner_keep *k = &p->kept[i];
		cJSON *o = cJSON_CreateObject();
		if (append(kept, o))
			return -ENOMEM;
		if (!cJSON_AddStringToObject(o, "id", in->nodes[k->node_index].id) ||
		    !cJSON_AddStringToObject(o, "reason", planner_keep_reason_name(k->reason)))
			return -ENOMEM;
	}
	return 0;
}

/* Past this many infeasible entries, the rest is summarized per cause,
 * kind and reason ({"cause", "kind", "count": UNITS, "entries", "reason"}):
 * a million task entries over the node cap would otherwise be listed one by
 * one. */
#define PLAN_JSON_MAX_INFEASIBLE 1000

static const char *infeasible_kind(const struct planner_input *in,
				   const struct planner_infeasible *f)
{
	switch (f->cause) {
	case PLANNER_CAUSE_SHAPE: return kind_name(in->shapes[f->index].kind);
	case PLANNER_CAUSE_PLACEMENT_GROUP: return "placement_group";
	case PLANNER_CAUSE_REQUEST_RESOURCES: return "request_resources";
	case PLANNER_CAUSE_MIN_WORKERS: break;
	}
	return "min_workers";
}

struct infeasible_sum {
	const char *kind;
	enum planner_cause cause;
	enum planner_infeasible_reason reason;
	long units, entries;
};

/* Groups: (cause, actor or not, reason), in that order. */
#define INFEASIBLE_GROUPS (NCAUSES * 2 * 2)

static int render_infeasible_rest(const struct planner_input *in,
				  const struct planner_output *p, cJSON *arr)
{
	struct infeasible_sum g[INFEASIBLE_GROUPS] = { { 0 } };

	for (size_t i = PLAN_JSON_MAX_INFEASIBLE; i < p->infeasible_count; i++) {
		const struct planner_infeasible *f = &p->infeasible[i];
		bool actor = f->cause == PLANNER_CAUSE_SHAPE &&
			     in->shapes[f->index].kind == PLANNER_DEMAND_ACTOR;
		size_t k = (((size_t)f->cause % NCAUSES) * 2 + actor) * 2 + (f->reason != 0);
		g[k] = (struct infeasible_sum){ infeasible_kind(in, f), f->cause, f->reason,
						g[k].units + f->count, g[k].entries + 1 };
	}
	for (size_t k = 0; k < INFEASIBLE_GROUPS; k++) {
		cJSON *o;
		if (!g[k].entries)
			continue;
		o = cJSON_CreateObject();
		if (append(arr, o) ||
		    !cJSON_AddStringToObject(o, "cause", planner_cause_name(g[k].cause)) ||
		    !cJSON_AddNumberToObject(o, "count", (double)g[k].units) ||
		    !cJSON_AddStringToObject(o, "kind", g[k].kind) ||
		    !cJSON_AddNumberToObject(o, "entries", (double)g[k].entries) ||
		    !cJSON_AddStringToObject(o, "reason", planner_infeasible_reason_name(g[k].reason)))
			return -ENOMEM;
	}
	return 0;
}

static int render_infeasible(const struct planner_input *in, const struct planner_output *p,
			     cJSON *root)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "infeasible");
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < p->infeasible_count && i < PLAN_JSON_MAX_INFEASIBLE; i++) {
		const struct planner_infeasible *f = &p->infeasible[i];
		cJSON *o = plan_json_demand(in, f->cause, f->index, f->count);
		if (append(arr, o) ||
		    !cJSON_AddStringToObject(o, "reason", planner_infeasible_reason_name(f->reason)))
			return -ENOMEM;
	}
	return render_infeasible_rest(in, p, arr);
}

/* One planned node: the demand it is for, in data and in words. */
static int render_new_node(const struct planner_input *in, const struct planner_output *p,
			   const struct planner_new_node *nn, cJSON *arr)
{
	const char *type = in->node_types[nn->type_index].name;
	cJSON *o = cJSON_CreateObject(), *because;
	char text[1024], part[320];
	size_t w;

	if (append(arr, o) || !cJSON_AddStringToObject(o, "action", nn->deferred ? "defer" : "launch") ||
	    !cJSON_AddStringToObject(o, "type", type) ||
	    !(because = cJSON_AddArrayToObject(o, "because")))
		return -ENOMEM;
	w = (size_t)snprintf(text, sizeof(text), "%s %s for",
			     nn->deferred ? "defer (upscaling limit)" : "launch", type);
	for (size_t r = 0; r < nn->reason_count; r++) {
		const struct planner_reason *rs = &p->reasons[nn->reason_start + r];

		if (append(because, plan_json_demand(in, rs->cause, rs->index, rs->count)))
			return -ENOMEM;
		demand_text(in, rs->cause, rs->index, part, sizeof(part));
		if (w < sizeof(text))
			w += (size_t)snprintf(text + w, sizeof(text) - w,
					      rs->cause == PLANNER_CAUSE_PLACEMENT_GROUP ?
					      "%s %ld bundle(s) of %s" : "%s %ld x %s",
					      r ? "," : "", rs->count, part);
	}
	return cJSON_AddStringToObject(o, "text", text) ? 0 : -ENOMEM;
}

static int render_termination_text(const struct planner_termination *t, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();
	char text[512];

	if (append(arr, o))
		return -ENOMEM;
	if (t->reason == PLANNER_TERM_IDLE)
		snprintf(text, sizeof(text), "terminate %s (%s): idle %gs > timeout %gs",
			 t->id, t->type, t->idle_s, t->timeout_s);
	else
		snprintf(text, sizeof(text), "terminate %s (%s): %s", t->id, t->type,
			 planner_term_reason_name(t->reason));
	if (!cJSON_AddStringToObject(o, "action", "terminate") ||
	    !cJSON_AddStringToObject(o, "id", t->id) ||
	    !cJSON_AddStringToObject(o, "text", text))
		return -ENOMEM;
	return 0;
}

/* Past this many planned nodes, "explain" summarizes the rest, one entry
 * per action and type: a plan of 100,000 nodes for a million task entries
 * would otherwise render every entry again (hundreds of MiB). */
#define PLAN_JSON_MAX_EXPLAIN 1000

/* Nodes past PLAN_JSON_MAX_EXPLAIN of one action and type, and the units of
 * demand of each cause placed on them. */
struct summary {
	long nodes;
	long units[NCAUSES];
};

static int render_summary_entry(const struct planner_input *in, size_t type, bool deferred,
				const struct summary *sm, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject(), *because;
	char text[512];
	size_t w;

	if (append(arr, o) || !cJSON_AddStringToObject(o, "action", deferred ? "defer" : "launch") ||
	    !cJSON_AddStringToObject(o, "type", in->node_types[type].name) ||
	    !cJSON_AddNumberToObject(o, "count", (double)sm->nodes) ||
	    !(because = cJSON_AddArrayToObject(o, "because")))
		return -ENOMEM;
	w = (size_t)snprintf(text, sizeof(text), "%s %ld more %s nodes (not itemized past %d) for",
			     deferred ? "defer (upscaling limit)" : "launch", sm->nodes,
			     in->node_types[type].name, PLAN_JSON_MAX_EXPLAIN);
	for (int c = 0, first = 1; c < NCAUSES; c++) {
		if (!sm->units[c])
			continue;
		cJSON *d = cJSON_CreateObject();
		if (append(because, d) ||
		    !cJSON_AddStringToObject(d, "cause", planner_cause_name((enum planner_cause)c)) ||
		    !cJSON_AddNumberToObject(d, "count", (double)sm->units[c]))
			return -ENOMEM;
		if (w < sizeof(text))
			w += (size_t)snprintf(text + w, sizeof(text) - w, "%s %ld x %s",
					      first ? "" : ",", sm->units[c],
					      planner_cause_name((enum planner_cause)c));
		first = 0;
	}
	return cJSON_AddStringToObject(o, "text", text) ? 0 : -ENOMEM;
}

/* The nodes past PLAN_JSON_MAX_EXPLAIN: per type in type order, launched
 * then deferred. */
static int render_summary(const struct planner_input *in, const struct planner_output *p,
			  cJSON *arr)
{
	size_t T = in->node_type_count;
	struct summary *sm = calloc(2 * T + 1, sizeof(*sm));
	int err = 0;

	if (!sm)
		return -ENOMEM;
	for (size_t i = PLAN_JSON_MAX_EXPLAIN; i < p->new_node_count; i++) {
		const struct planner_new_node *nn = &p->new_nodes[i];
		struct summary *s = &sm[2 * nn->type_index + nn->deferred];
		s->nodes++;
		for (size_t r = 0; r < nn->reason_count; r++) {
			const struct planner_reason *rs = &p->reasons[nn->reason_start + r];
			if ((unsigned)rs->cause < NCAUSES)
				s->units[rs->cause] += rs->count;
		}
	}
	for (size_t k = 0; k < 2 * T && !err; k++)
		if (sm[k].nodes)
			err = render_summary_entry(in, k / 2, k % 2, &sm[k], arr);
	free(sm);
	return err;
}

static int render_explain(const struct planner_input *in, const struct planner_output *p,
			  cJSON *root)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "explain");
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < p->new_node_count && i < PLAN_JSON_MAX_EXPLAIN; i++)
		if (render_new_node(in, p, &p->new_nodes[i], arr))
			return -ENOMEM;
	if (p->new_node_count > PLAN_JSON_MAX_EXPLAIN && render_summary(in, p, arr))
		return -ENOMEM;
	for (size_t i = 0; i < p->termination_count; i++)
		if (render_termination_text(&p->terminations[i], arr))
			return -ENOMEM;
	return 0;
}

cJSON *plan_json_render(const struct planner_input *in, const struct planner_output *p)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	/* Only a cut plan says so: plans of rounds that finished keep their
	 * shape. */
	if (p->cut && (!cJSON_AddTrueToObject(root, "cut") ||
		       !cJSON_AddStringToObject(root, "cut_stage", planner_stage_name(p->cut_stage)))) {
		cJSON_Delete(root);
		return NULL;
	}
	if (render_launches(p, root) || render_terminations(in, p, root) ||
	    render_infeasible(in, p, root) || render_explain(in, p, root)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
