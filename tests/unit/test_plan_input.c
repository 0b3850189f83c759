/* test_plan_input.c -- the planner input built from a snapshot, the
 * provider's nodes, idle runs and agent hints (plan_input.h), table-driven:
 * which Ray and provider nodes become which planner nodes (head, unmanaged,
 * pending, running, left out), when usage and idle time are trusted, where
 * busy hints land, which demand reaches the planner, and when a node's new
 * use is credited back (counted as empty, scale-down held). */
#include "check.h"
#include "controller/config.h"
#include "controller/plan/plan_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Ray node in the snapshot. */
struct rnode {
	const char *id, *name, *label;
	bool head, alive, usage, busy;
};

/* A provider node. */
struct pnode {
	const char *id, *type;
	double launched_at, stop_at;
};

struct expect_node {
	const char *id, *type;
	enum node_ref_kind kind;
	enum planner_node_status status;
	bool have_resources;
	double idle_s;		/* -1 = unknown */
	int busy_workers;	/* -1 = no hint */
};

#define MAXN 6

struct pcase {
	const char *name;
	struct rnode ray[MAXN];
	struct pnode prov[MAXN];
	bool fresh;
	bool report_present;
	double idle_since;		/* idle run start for every tracked node; 0 = busy */
	const char *hinted;		/* ray node id with an agent busy hint */
	/* New use: every busy node's busy run began at busy_since (0 = none
	 * tracked), the report was written at report_time, the margin is
	 * margin_s (0 = Ray's plans); `credited` is the provider id expected
	 * to count as empty (NULL = none), which holds scale-down. */
	double busy_since, report_time, margin_s;
	const char *credited;
	struct expect_node want[MAXN];
	size_t want_count;
	size_t want_shapes, want_pgs;
};

#define NOW 1000.0

static const struct pcase cases[] = {
	{ "head, unmanaged, ours running and pending",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "u", "10.0.0.9", NULL, false, true, true, false },
		   { "r1", "w1", "w1", false, true, true, false } },
	  .prov = { { "w1", "cpu1", 900, 0 }, { "w2", "cpu1", 990, 0 } },
	  .fresh = true, .report_present = true, .idle_since = 980,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "u", "unmanaged", REF_UNMANAGED, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 20, -1 },
		    { "w2", "cpu1", REF_PROVIDER, PLANNER_NODE_PENDING, false, -1, -1 } },
	  .want_count = 4, .want_shapes = 1, .want_pgs = 1 },
	{ "stale usage: no resources, no idle time, no report demand",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, false } },
	  .prov = { { "w1", "cpu1", 900, 0 } },
	  .fresh = false, .report_present = true, .idle_since = 980,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, false, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, false, -1, -1 } },
	  .want_count = 2, .want_shapes = 1, .want_pgs = 0 },
	{ "stopping, expired and unknown-group nodes are left out",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false } },
	  .prov = { { "w1", "cpu1", 990, 995 }, { "w2", "cpu1", 100, 0 },
		    { "w3", "gone", 990, 0 }, { "w4", "cpu1", 999, 0 } },
	  .fresh = true, .report_present = true,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w4", "cpu1", REF_PROVIDER, PLANNER_NODE_PENDING, false, -1, -1 } },
	  .want_count = 2, .want_shapes = 1, .want_pgs = 1 },
	{ "a node we stopped that Ray still lists is not unmanaged",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r9", "w9", "w9", false, true, true, false },
		   { "dead", "10.0.0.7", NULL, false, false, false, false } },
	  .fresh = true, .report_present = true,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 } },
	  .want_count = 1, .want_shapes = 1, .want_pgs = 1 },
	{ "busy hint and a busy node (idle 0)",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, true },
		   { "r2", "w2", "w2", false, true, false, false } },
	  .prov = { { "w1", "cpu1", 900, 0 }, { "w2", "cpu1", 900, 0 } },
	  .fresh = true, .report_present = true, .idle_since = 0, .hinted = "r2",
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 0, -1 },
		    { "w2", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, false, -1, 3 } },
	  .want_count = 3, .want_shapes = 1, .want_pgs = 1 },
	{ "new use 1 s before the demand: counted as empty, scale-down held",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, true },
		   { "r2", "w2", "w2", false, true, true, false } },
	  .prov = { { "w1", "cpu1", 990, 0 }, { "w2", "cpu1", 900, 0 }, { "w3", "cpu1", 995, 0 } },
	  .fresh = true, .report_present = true, .idle_since = 980,
	  .busy_since = 998, .report_time = 999, .margin_s = 2, .credited = "w1",
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 0, -1 },
		    { "w2", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 20, -1 },
		    { "w3", "cpu1", REF_PROVIDER, PLANNER_NODE_PENDING, false, -1, -1 } },
	  .want_count = 4, .want_shapes = 1, .want_pgs = 1 },
	{ "new use as old as the margin: as reported",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, true } },
	  .prov = { { "w1", "cpu1", 990, 0 } },
	  .fresh = true, .report_present = true,
	  .busy_since = 997, .report_time = 999, .margin_s = 2,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 0, -1 } },
	  .want_count = 2, .want_shapes = 1, .want_pgs = 1 },
	{ "new use, Ray's plans (no margin): as reported",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, true } },
	  .prov = { { "w1", "cpu1", 990, 0 } },
	  .fresh = true, .report_present = true,
	  .busy_since = 998.5, .report_time = 999,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, true, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, true, 0, -1 } },
	  .want_count = 2, .want_shapes = 1, .want_pgs = 1 },
	{ "new use, stale usage: nothing to credit",
	  .ray = { { "h", "10.0.0.1", NULL, true, true, true, false },
		   { "r1", "w1", "w1", false, true, true, true } },
	  .prov = { { "w1", "cpu1", 990, 0 } },
	  .fresh = false, .report_present = true,
	  .busy_since = 998.5, .report_time = 999, .margin_s = 2,
	  .want = { { "h", "head", REF_HEAD, PLANNER_NODE_RUNNING, false, -1, -1 },
		    { "w1", "cpu1", REF_PROVIDER, PLANNER_NODE_RUNNING, false, -1, -1 } },
	  .want_count = 2, .want_shapes = 1, .want_pgs = 0 },
};

static bool hint(void *ctx, const char *ray_node_id, int *busy, double *age)
{
	const char *hinted = ctx;

	if (!hinted || strcmp(hinted, ray_node_id))
		return false;
	*busy = 3;
	*age = 1;
	return true;
}

static void fill_snapshot(const struct pcase *tc, struct dash_snapshot *s)
{
	struct dash_pg *pg;

	memset(s, 0, sizeof(*s));
	s->nodes = calloc(MAXN, sizeof(*s->nodes));
	for (size_t i = 0; i < MAXN && tc->ray[i].id; i++) {
		const struct rnode *r = &tc->ray[i];
		struct dash_node *n = &s->nodes[s->node_count++];

		n->node_id = strdup(r->id);
		n->node_name = strdup(r->name);
		n->label_node = r->label ? strdup(r->label) : NULL;
		n->is_head = r->head;
		n->alive = r->alive;
		n->have_usage = r->usage;
		n->busy = r->busy;
		resmap_set(&n->total, "CPU", r->head ? 0 : 1);
		resmap_set(&n->available, "CPU", r->busy || r->head ? 0 : 1);
	}
	s->shapes = calloc(1, sizeof(*s->shapes));
	s->shape_count = 1;
	s->shapes[0].count = 2;
	resmap_set(&s->shapes[0].shape, "CPU", 1);
	s->cs.present = tc->report_present;
	s->cs.time = tc->report_time;
	s->cs.pgs = pg = calloc(1, sizeof(*pg));
	s->cs.pg_count = 1;
	pg->strategy = PLANNER_PG_STRICT_SPREAD;
	pg->count = 1;
	dash_bundles_append(&pg->bundles, &pg->bundle_count, &s->shapes[0].shape, 2);
}

static void fill_idle(const struct pcase *tc, const struct dash_snapshot *s, struct idle_tracker *t)
{
	memset(t, 0, sizeof(*t));
	t->v = calloc(MAXN, sizeof(*t->v));
	for (size_t i = 0; i < s->node_count; i++) {
		struct idle_entry *e = &t->v[t->n++];

		snprintf(e->node_id, sizeof(e->node_id), "%s", s->nodes[i].node_id);
		e->idle_since = s->nodes[i].busy ? 0 : tc->idle_since;
		e->busy_since = s->nodes[i].busy ? tc->busy_since : 0;
		e->last_seen = NOW;
	}
}

static void check_node(const char *name, size_t i, const struct plan_input *p,
		       const struct expect_node *w)
{
	const struct planner_node *n = &p->in.nodes[i];
	const struct node_ref *r = &p->refs[i];

	CHECK(!strcmp(n->id, w->id) && !strcmp(n->type, w->type), "%s #%zu: %s/%s, want %s/%s",
	      name, i, n->id, n->type, w->id, w->type);
	CHECK(r->kind == w->kind && n->status == w->status, "%s #%zu (%s): kind %d status %d",
	      name, i, w->id, r->kind, n->status);
	CHECK(n->have_resources == w->have_resources, "%s #%zu (%s): have_resources %d", name, i,
	      w->id, n->have_resources);
	CHECK(n->idle_s == w->idle_s, "%s #%zu (%s): idle_s %g, want %g", name, i, w->id,
	      n->idle_s, w->idle_s);
	CHECK(n->busy_workers == w->busy_workers, "%s #%zu (%s): busy_workers %d, want %d", name,
	      i, w->id, n->busy_workers, w->busy_workers);
}

static double cpu_of(const struct planner_resources *r)
{
	for (size_t i = 0; i < r->count; i++)
		if (!strcmp(r->items[i].name, "CPU"))
			return r->items[i].value;
	return -1;
}

/* Worker nodes with resources: CPU available as reported (0 when busy),
 * except the credited node, which counts as empty; scale-down held then. */
static void check_credit(const struct pcase *tc, const struct plan_input *p)
{
	for (size_t i = 0; i < p->in.node_count; i++) {
		const struct planner_node *n = &p->in.nodes[i];
		const struct dash_node *dn = p->refs[i].dn;
		bool credited = tc->credited && !strcmp(n->id, tc->credited);
		double want;

		if (!n->have_resources || p->refs[i].kind != REF_PROVIDER)
			continue;
		want = credited || !dn->busy ? 1 : 0;
		CHECK(cpu_of(&n->available) == want, "%s (%s): CPU available %g, want %g",
		      tc->name, n->id, cpu_of(&n->available), want);
	}
	CHECK(p->credited == (tc->credited ? 1u : 0u), "%s: %zu credited", tc->name, p->credited);
	CHECK(!tc->credited || (p->scale_down_hold && strstr(p->scale_down_hold, tc->credited)),
	      "%s: scale-down hold '%s'", tc->name, p->scale_down_hold ? p->scale_down_hold : "");
	CHECK(tc->credited || !p->scale_down_hold, "%s: unexpected hold '%s'", tc->name,
	      p->scale_down_hold ? p->scale_down_hold : "");
}

static void run_case(const struct pcase *tc, const struct controller_config *cfg)
{
	struct dash_snapshot s;
	struct idle_tracker idle;
	struct provider_node pn[MAXN];
	struct plan_input p;
	size_t np = 0;

	fill_snapshot(tc, &s);
	fill_idle(tc, &s, &idle);
	memset(pn, 0, sizeof(pn));
	for (; np < MAXN && tc->prov[np].id; np++) {
		snprintf(pn[np].id, sizeof(pn[np].id), "%s", tc->prov[np].id);
		snprintf(pn[np].type, sizeof(pn[np].type), "%s", tc->prov[np].type);
		pn[np].launched_at = tc->prov[np].launched_at;
		pn[np].stop_requested_at = tc->prov[np].stop_at;
	}
	struct plan_sources src = {
		.config = cfg, .snap = &s, .pnodes = pn, .pnode_count = np, .idle = &idle,
		.busy_hint = hint, .hint_ctx = (void *)tc->hinted, .usage_fresh = tc->fresh,
		.launch_timeout_s = 180, .new_use_margin_s = tc->margin_s, .now = NOW,
	};
	CHECK(plan_input_build(&src, &p) == 0, "%s: build", tc->name);
	CHECK(p.in.node_count == tc->want_count, "%s: %zu nodes, want %zu", tc->name,
	      p.in.node_count, tc->want_count);
	for (size_t i = 0; i < tc->want_count && i < p.in.node_count; i++)
		check_node(tc->name, i, &p, &tc->want[i]);
	check_credit(tc, &p);
	CHECK(p.in.shape_count == tc->want_shapes && p.in.pg_count == tc->want_pgs,
	      "%s: %zu shapes %zu pgs", tc->name, p.in.shape_count, p.in.pg_count);
	CHECK(p.in.node_type_count == 3 && p.in.node_types[0].is_head &&
	      p.in.node_types[1].is_head && !strcmp(p.in.node_types[2].name, "cpu1"),
	      "%s: types head, unmanaged, cpu1", tc->name);
	CHECK(p.in.upscaling_speed == cfg->upscaling_speed && p.in.max_workers == cfg->max_workers,
	      "%s: cluster settings", tc->name);
	plan_input_free(&p);
	idle_tracker_free(&idle);
	dash_snapshot_free(&s);
}

static void test_helpers(void)
{
	struct provider_node pn = { .launched_at = 100 };
	struct dash_node dn = { 0 };

	CHECK(!plan_launch_expired(&pn, NULL, 279, 180), "179 s pending: not expired");
	CHECK(plan_launch_expired(&pn, NULL, 281, 180), "181 s pending: expired");
	CHECK(!plan_launch_expired(&pn, &dn, 1000, 180), "ALIVE: never expired");
}

int main(void)
{
	struct controller_config cfg;
	char err[256];

	config_init(&cfg);
	cfg.upscaling_speed = 1000;
	CHECK(config_add_group_spec(&cfg, "cpu1:CPU=1,min=0,max=4", err, sizeof(err)) == 0, "%s",
	      err);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], &cfg);
	test_helpers();
	config_free(&cfg);
	CHECK_EXIT();
}
