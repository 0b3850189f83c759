/* test_fusion.c -- the fusion rules (fusion/fusion.h) on plan inputs built
 * by hand, each checked with fusion on and off (off must leave the input
 * and the plan exactly as the planner makes them):
 *   faster group on ties, launch timeout from the startup model, back-off
 *   of a stuck group, the unschedulable fallback (a table), adaptive idle
 *   timeout, the keep rules, started nodes out of the in-flight count; and
 *   the startup model's percentiles. */
#include "check.h"
#include "controller/fusion/fusion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct planner_resource cpu1[] = { { "CPU", 1 } };

/* head, unmanaged, "slow", "fast": both groups one CPU, max 4, idle 10 s. */
struct world {
	struct planner_node_type types[4];
	struct planner_node nodes[4];
	struct node_ref refs[4];
	struct planner_shape_demand shape;
	struct plan_input p;
};

static void world_init(struct world *w, long demand)
{
	memset(w, 0, sizeof(*w));
	w->types[0] = (struct planner_node_type){ .name = "head", .is_head = true,
						  .idle_timeout_s = -1 };
	w->types[1] = (struct planner_node_type){ .name = "unmanaged", .is_head = true,
						  .idle_timeout_s = -1 };
	for (int g = 0; g < 2; g++)
		w->types[2 + g] = (struct planner_node_type){ .name = g ? "fast" : "slow",
			.resources = { cpu1, 1 }, .max_workers = 4, .idle_timeout_s = 10 };
	w->shape = (struct planner_shape_demand){ PLANNER_DEMAND_TASK, { cpu1, 1 }, demand };
	w->p.types = w->types;
	w->p.nodes = w->nodes;
	w->p.refs = w->refs;
	w->p.now = 1000;
	w->p.usage_fresh = true;
	w->p.in = (struct planner_input){ .node_types = w->types, .node_type_count = 4,
		.max_workers = -1, .upscaling_speed = 1000, .idle_timeout_s = 60,
		.nodes = w->nodes, .shapes = &w->shape, .shape_count = demand ? 1 : 0 };
}

/* One idle running worker of group g (index 2 + g) with Ray's idle time. */
static void add_idle_node(struct world *w, int g, const char *id, double idle_s)
{
	size_t i = w->p.in.node_count++;

	w->nodes[i] = (struct planner_node){ .id = id, .type = w->types[2 + g].name,
		.status = PLANNER_NODE_RUNNING, .have_resources = true, .total = { cpu1, 1 },
		.available = { cpu1, 1 }, .idle_s = idle_s, .busy_workers = -1, .busy_age_s = -1 };
	w->refs[i] = (struct node_ref){ .kind = REF_PROVIDER };
}

static void learn(struct fusion *f, double slow_s, double fast_s, int n)
{
	for (int i = 0; i < n; i++) {
		fusion_node_alive(f, 0, slow_s);
		fusion_node_alive(f, 1, fast_s);
	}
}

static const char *launched_type(const struct world *w, const struct planner_output *out)
{
	for (size_t t = 0; t < out->launch_count; t++)
		if (out->launches[t].count > 0)
			return w->types[t].name;
	return "(none)";
}

static void test_faster_group_on_ties(bool on)
{
	struct fusion_config cfg;
	struct fusion f;
	struct world w;
	struct planner_output out = { 0 };

	fusion_config_defaults(&cfg);
	cfg.enabled = on;
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	world_init(&w, 1);
	learn(&f, 40, 8, 5);
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan: %s", out.error);
	CHECK(!strcmp(launched_type(&w, &out), on ? "fast" : "slow"),
	      "tie between equal groups goes to %s (fusion %s), got %s", on ? "fast" : "slow",
	      on ? "on" : "off", launched_type(&w, &out));
	planner_output_free(&out);
	fusion_fini(&f);
}

static void test_launch_timeout(void)
{
	struct fusion_config cfg;
	struct fusion f;

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	CHECK(fusion_launch_timeout(&f, 0, 180) == 180, "no samples: the configured timeout");
	learn(&f, 10, 100, 5);
	CHECK(fusion_launch_timeout(&f, 0, 180) == 30, "3 x p95 10 s = 30 s: %g",
	      fusion_launch_timeout(&f, 0, 180));
	CHECK(fusion_launch_timeout(&f, 1, 180) == 180, "3 x 100 s > 180 s: bounded by configured");
	f.cfg.enabled = false;
	CHECK(fusion_launch_timeout(&f, 0, 180) == 180, "off: the configured timeout");
	fusion_fini(&f);
}

/* A stuck launch in "slow" backs it off: the same demand then goes to
 * "fast", never both. */
static void test_backoff(void)
{
	struct fusion_config cfg;
	struct fusion_notes notes = { .n = 0 };
	struct fusion f;
	struct world w;
	struct planner_output out = { 0 };

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	fusion_launch_given_up(&f, 0, "w1", 31, 990, &notes);
	CHECK(notes.n == 1 && notes.v[0].kind == FUSION_FALLBACK && !strcmp(notes.v[0].node, "w1"),
	      "a fallback note");
	world_init(&w, 1);
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(w.types[2].max_workers == 0, "slow backed off: max %d", w.types[2].max_workers);
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan");
	CHECK(!strcmp(launched_type(&w, &out), "fast"), "demand goes to fast: %s",
	      launched_type(&w, &out));
	planner_output_free(&out);
	world_init(&w, 1);
	w.p.now = 990 + cfg.backoff_s + 1;
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(w.types[2].max_workers == 4, "back-off expired");
	fusion_fini(&f);
}

static void test_adaptive_idle(void)
{
	struct fusion_config cfg;
	struct fusion_notes notes = { .n = 0 };
	struct fusion f;
	struct world w;

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	learn(&f, 40, 8, 5);
	world_init(&w, 0);
	fusion_adjust_input(&f, &w.p, &notes);
	CHECK(w.types[2].idle_timeout_s == 10, "no returning demand: configured idle timeout");
	fusion_node_stopped_idle(&f, 0, 900);
	fusion_node_launched(&f, 0, 950);	/* demand came back 50 s later */
	fusion_adjust_input(&f, &w.p, &notes);
	CHECK(w.types[2].idle_timeout_s == 80, "2 x p90 40 s: %g", w.types[2].idle_timeout_s);
	CHECK(w.types[3].idle_timeout_s == 10, "the other group unchanged");
	CHECK(notes.n >= 1 && notes.v[notes.n - 1].kind == FUSION_ADAPTIVE_IDLE, "noted");
	fusion_fini(&f);
}

static void test_keep_rules(void)
{
	struct fusion_config cfg;
	struct fusion_notes notes = { .n = 0 };
	struct fusion f;
	struct world w;
	struct planner_output out = { 0 };
	double leases[4] = { 0, 990, 0, 0 };
	struct fusion_signals sig = { leases, 0 };

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	world_init(&w, 0);
	add_idle_node(&w, 0, "w1", 20);
	add_idle_node(&w, 0, "w2", 20);
	CHECK(planner_plan(&w.p.in, &out) == 0 && out.termination_count == 2, "both idle: %zu",
	      out.termination_count);
	fusion_filter_plan(&f, &w.p, &out, &sig, &notes);
	CHECK(out.termination_count == 1 && !strcmp(out.terminations[0].id, "w1"),
	      "w2 served a lease 10 s ago: kept");
	CHECK(notes.n == 1 && notes.v[0].kind == FUSION_KEEP_LEASE && !strcmp(notes.v[0].node, "w2"),
	      "noted");
	planner_output_free(&out);
	memset(&out, 0, sizeof(out));
	sig.reject_rate = 6;
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan");
	fusion_filter_plan(&f, &w.p, &out, &sig, &notes);
	CHECK(out.termination_count == 0, "reject burst: no idle stop");
	planner_output_free(&out);
	memset(&out, 0, sizeof(out));
	f.cfg.enabled = false;
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan");
	fusion_filter_plan(&f, &w.p, &out, &sig, &notes);
	CHECK(out.termination_count == 2, "off: the planner's terminations stand");
	planner_output_free(&out);
	fusion_fini(&f);
}

/* Two started, not-yet-ALIVE nodes with max_concurrent_launches 2: Ray
 * waits; fusion launches the rest of the demand. */
static void test_started_not_in_flight(bool on)
{
	struct fusion_config cfg;
	struct fusion f;
	struct world w;
	struct planner_output out = { 0 };

	fusion_config_defaults(&cfg);
	cfg.enabled = on;
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	world_init(&w, 4);
	w.p.in.max_concurrent_launches = 2;
	for (int i = 0; i < 2; i++) {
		size_t k = w.p.in.node_count++;

		w.nodes[k] = (struct planner_node){ .id = i ? "p2" : "p1", .type = "slow",
			.status = PLANNER_NODE_PENDING, .idle_s = -1, .busy_workers = -1,
			.busy_age_s = -1 };
		w.refs[k] = (struct node_ref){ .kind = REF_PROVIDER, .started_at = 995 };
	}
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan");
	/* Equal groups alternate as Ray's template pool does: count both. */
	CHECK(out.launches[2].count + out.launches[3].count == (on ? 2 : 0),
	      "fusion %s: %d launched", on ? "on" : "off",
	      out.launches[2].count + out.launches[3].count);
	planner_output_free(&out);
	fusion_fini(&f);
}

/* ---- the unschedulable rule (fusion_unschedulable) ---- */

/* A pending "slow" launch the provider reports Unschedulable since `since`
 * (0 = not reported). */
static void add_unplaceable(struct world *w, const char *id, double since)
{
	size_t k = w->p.in.node_count++;

	w->nodes[k] = (struct planner_node){ .id = id, .type = "slow",
		.status = PLANNER_NODE_PENDING, .idle_s = -1, .busy_workers = -1, .busy_age_s = -1 };
	w->refs[k] = (struct node_ref){ .kind = REF_PROVIDER, .launched_at = 980,
					.unschedulable_since = since };
	if (since > 0)
		snprintf(w->refs[k].unschedulable, sizeof(w->refs[k].unschedulable),
			 "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
}

struct unsched_case {
	const char *name;
	bool on;			/* --signals */
	double grace;			/* unschedulable_grace_s */
	long demand;			/* {CPU: 1} tasks */
	int stuck;			/* pending slow launches */
	double since;			/* Unschedulable since (now is 1000), 0 = not */
	int fast_max;			/* max_workers of "fast" */
	/* expected */
	size_t given_up;		/* in this order: w1 (oldest), w2 */
	int fast_launches;
	int slow_launches;
};

static const struct unsched_case unsched_cases[] = {
	{ "past the grace: moved to fast", true, 10, 1, 1, 985, 4, 1, 1, 0 },
	{ "within the grace: waits", true, 10, 1, 1, 995, 4, 0, 0, 0 },
	{ "exactly the grace", true, 10, 1, 1, 990, 4, 1, 1, 0 },
	{ "no other group has room: waits", true, 10, 1, 1, 985, 0, 0, 0, 0 },
	{ "not Unschedulable: waits", true, 10, 1, 1, 0, 4, 0, 0, 0 },
	{ "no demand behind it: waits", true, 10, 0, 1, 985, 4, 0, 0, 0 },
	{ "rule off (--unschedulable-grace off)", true, -1, 1, 1, 985, 4, 0, 0, 0 },
	{ "signals off", false, 10, 1, 1, 985, 4, 0, 0, 0 },
	{ "two stuck, room for one elsewhere", true, 10, 2, 2, 985, 1, 1, 1, 0 },
	{ "two stuck, room for both", true, 10, 2, 2, 985, 4, 2, 2, 0 },
	{ "grace 0: at once", true, 0, 1, 1, 1000, 4, 1, 1, 0 },
};

/* Nodes the adopted input and plan hold for the groups: pending + launched. */
static int total_nodes(const struct world *w, const struct planner_output *out)
{
	int n = (int)w->p.in.node_count;

	for (size_t t = PLAN_FIRST_GROUP_TYPE; t < out->launch_count; t++)
		n += out->launches[t].count;
	return n;
}

static void run_unsched_case(const struct unsched_case *tc)
{
	struct fusion_config cfg;
	struct fusion_notes notes = { .n = 0 };
	struct fusion_giveups gu = { .n = 9 };
	struct fusion f;
	struct world w, base;
	struct planner_output out = { 0 }, want = { 0 };

	fusion_config_defaults(&cfg);
	cfg.enabled = tc->on;
	cfg.unschedulable_grace_s = tc->grace;
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	world_init(&w, tc->demand);
	w.types[3].max_workers = tc->fast_max;
	for (int i = 0; i < tc->stuck; i++)	/* w1 is the older */
		add_unplaceable(&w, i ? "w2" : "w1", tc->since > 0 ? tc->since + i : 0);
	base = w;	/* the planner's own plan, for comparison */
	base.p.types = base.types;
	base.p.nodes = base.nodes;
	base.p.refs = base.refs;
	base.p.in.node_types = base.types;
	base.p.in.nodes = base.nodes;
	base.p.in.shapes = &base.shape;
	fusion_adjust_input(&f, &w.p, &notes);
	fusion_adjust_input(&f, &base.p, NULL);
	CHECK(planner_plan(&w.p.in, &out) == 0 && planner_plan(&base.p.in, &want) == 0, "plan");
	CHECK(fusion_unschedulable(&f, &w.p, &out, &gu, &notes) == 0, "%s: rc", tc->name);
	CHECK(gu.n == tc->given_up, "%s: %zu given up, want %zu", tc->name, gu.n, tc->given_up);
	CHECK(out.launches[3].count == tc->fast_launches && out.launches[2].count == tc->slow_launches,
	      "%s: launches slow %d fast %d, want %d %d", tc->name, out.launches[2].count,
	      out.launches[3].count, tc->slow_launches, tc->fast_launches);
	/* The demand's nodes, never more: what stays plus what starts. */
	CHECK(total_nodes(&w, &out) <= (tc->demand > tc->stuck ? tc->demand : tc->stuck),
	      "%s: %d nodes for %ld tasks", tc->name, total_nodes(&w, &out), tc->demand);
	CHECK(w.p.in.node_count == (size_t)tc->stuck - gu.n, "%s: the given-up nodes left the input",
	      tc->name);
	if (gu.n) {
		CHECK(!strcmp(gu.v[0].node, "w1") && gu.v[0].group == 0 && gu.v[0].waited_s == 20 &&
		      strstr(gu.v[0].detail, "node affinity"), "%s: w1 first, its facts", tc->name);
		CHECK(notes.n == gu.n && notes.v[0].kind == FUSION_FALLBACK_UNSCHEDULABLE &&
		      notes.v[0].to_group == 1 && notes.v[0].unschedulable_s == 1000 - tc->since &&
		      !strcmp(fusion_note_kind_name(notes.v[0].kind), "unschedulable"),
		      "%s: a fallback note per give-up", tc->name);
		CHECK(f.g[0].backoff_until == 1000 + cfg.backoff_s && f.g[1].backoff_until == 0,
		      "%s: slow backed off", tc->name);
		for (size_t i = 0; i < w.p.in.node_count; i++)
			CHECK(w.nodes[i].id && strcmp(w.nodes[i].id, "w1"), "%s: w1 gone", tc->name);
	} else {
		/* Nothing given up: the plan and its input are the planner's own. */
		CHECK(notes.n == 0 && f.g[0].backoff_until == 0, "%s: no note, no back-off", tc->name);
		CHECK(w.p.in.node_count == base.p.in.node_count &&
		      !memcmp(w.types, base.types, sizeof(w.types)) &&
		      out.launch_count == want.launch_count &&
		      out.termination_count == want.termination_count &&
		      out.new_node_count == want.new_node_count, "%s: plan unchanged", tc->name);
		for (size_t t = 0; t < out.launch_count && t < want.launch_count; t++)
			CHECK(out.launches[t].count == want.launches[t].count &&
			      out.launches[t].desired == want.launches[t].desired,
			      "%s: type %zu unchanged", tc->name, t);
		for (size_t i = 0; i < w.p.in.node_count; i++)
			CHECK(w.nodes[i].id == base.nodes[i].id &&
			      w.refs[i].unschedulable_since == base.refs[i].unschedulable_since,
			      "%s: node %zu restored", tc->name, i);
	}
	planner_output_free(&out);
	planner_output_free(&want);
	fusion_fini(&f);
}

/* After the give-up the group stays backed off for backoff_s, then plans
 * normally again (config order: slow first). */
static void test_unsched_backoff_expiry(void)
{
	struct fusion_config cfg;
	struct fusion_giveups gu;
	struct fusion f;
	struct world w;
	struct planner_output out = { 0 };

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	world_init(&w, 1);
	add_unplaceable(&w, "w1", 985);
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(planner_plan(&w.p.in, &out) == 0, "plan");
	CHECK(fusion_unschedulable(&f, &w.p, &out, &gu, NULL) == 0 && gu.n == 1,
	      "given up (no notes wanted)");
	planner_output_free(&out);
	memset(&out, 0, sizeof(out));
	world_init(&w, 1);
	w.p.now = 1000 + cfg.backoff_s - 1;
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(planner_plan(&w.p.in, &out) == 0 && out.launches[2].count == 0 &&
	      out.launches[3].count == 1, "still backed off: fast");
	planner_output_free(&out);
	memset(&out, 0, sizeof(out));
	world_init(&w, 1);
	w.p.now = 1000 + cfg.backoff_s + 1;
	fusion_adjust_input(&f, &w.p, NULL);
	CHECK(w.types[2].max_workers == 4, "back-off expired");
	CHECK(planner_plan(&w.p.in, &out) == 0 && out.launches[2].count == 1,
	      "slow is tried first again");
	planner_output_free(&out);
	fusion_fini(&f);
}

static void test_percentiles(void)
{
	struct startup_group g = { 0 };
	const struct startup_series *c = &g.src[STARTUP_SRC_CONTROLLER];
	struct startup_stats st;

	for (int i = 1; i <= 100; i++)
		startup_add(&g, STARTUP_SRC_CONTROLLER, i);
	startup_stats(&g, &st);
	CHECK(st.n == STARTUP_SAMPLES, "keeps the last %d", STARTUP_SAMPLES);
	CHECK(st.p50 == 68 && st.p90 == 94 && st.p95 == 97, "nearest rank over 37..100: %g %g %g",
	      st.p50, st.p90, st.p95);
	CHECK(c->count == 100 && c->hist[STARTUP_BUCKETS - 1] + c->hist[STARTUP_BUCKETS] == 0 &&
	      c->hist[0] == 1, "histogram counts every sample");
	startup_add(&g, STARTUP_SRC_CONTROLLER, -1);
	CHECK(c->count == 100, "a negative sample is ignored");
	startup_add(&g, STARTUP_SRC_CONTROLLER, 0.0 / 0.0);
	startup_add(&g, STARTUP_SRC_CONTROLLER, 1.0 / 0.0);
	startup_add(&g, (enum startup_source)7, 5);
	CHECK(c->count == 100 && g.src[STARTUP_SRC_AGENT].count == 0,
	      "NaN, infinity and an unknown source are ignored");
}

/* The model is the controller's samples when it has any, else the agent's;
 * each source keeps its own. */
static void test_sources(void)
{
	static const struct {
		const char *name;
		double ctl[3], agent[3];	/* 0 = none */
		size_t want_n;
		enum startup_source want_src;
		double want_p50;
	} cases[] = {
		{ "none", { 0 }, { 0 }, 0, STARTUP_SRC_AGENT, 0 },
		{ "agent only", { 0 }, { 4, 6, 5 }, 3, STARTUP_SRC_AGENT, 5 },
		{ "controller only", { 30, 10, 20 }, { 0 }, 3, STARTUP_SRC_CONTROLLER, 20 },
		{ "both: the controller's win", { 40, 41, 0 }, { 4, 5, 6 }, 2,
		  STARTUP_SRC_CONTROLLER, 40 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct startup_group g = { 0 };
		struct startup_stats st, sa;

		for (int k = 0; k < 3; k++) {
			if (cases[i].ctl[k] > 0)
				startup_add(&g, STARTUP_SRC_CONTROLLER, cases[i].ctl[k]);
			if (cases[i].agent[k] > 0)
				startup_add(&g, STARTUP_SRC_AGENT, cases[i].agent[k]);
		}
		startup_stats(&g, &st);
		CHECK(st.n == cases[i].want_n && st.p50 == cases[i].want_p50 &&
		      (!st.n || st.source == cases[i].want_src),
		      "%s: n %zu p50 %g source %d", cases[i].name, st.n, st.p50, st.source);
		startup_series_stats(&g.src[STARTUP_SRC_AGENT], &sa);
		CHECK(sa.n == (size_t)((cases[i].agent[0] > 0) + (cases[i].agent[1] > 0) +
				       (cases[i].agent[2] > 0)), "%s: the agent's samples kept apart",
		      cases[i].name);
	}
}

/* fusion_agent_startup feeds the agent source of the group only. */
static void test_agent_feed(void)
{
	struct fusion_config cfg;
	struct fusion f;

	fusion_config_defaults(&cfg);
	CHECK(fusion_init(&f, &cfg, 2) == 0, "init");
	for (int i = 0; i < 5; i++)
		fusion_agent_startup(&f, 1, 4);
	fusion_agent_startup(&f, 2, 4);		/* no such group: ignored */
	CHECK(f.g[1].startup.src[STARTUP_SRC_AGENT].count == 5 &&
	      f.g[1].startup.src[STARTUP_SRC_CONTROLLER].count == 0 &&
	      f.g[0].startup.src[STARTUP_SRC_AGENT].count == 0, "agent samples in group 1 only");
	CHECK(fusion_launch_timeout(&f, 1, 180) == 12, "agent-only model: 3 x p95 4 s = %g",
	      fusion_launch_timeout(&f, 1, 180));
	for (int i = 0; i < 5; i++)
		fusion_node_alive(&f, 1, 50);
	CHECK(fusion_launch_timeout(&f, 1, 180) == 150, "the controller's samples win: %g",
	      fusion_launch_timeout(&f, 1, 180));
	fusion_fini(&f);
}

int main(void)
{
	test_faster_group_on_ties(true);
	test_faster_group_on_ties(false);
	test_launch_timeout();
	test_backoff();
	test_adaptive_idle();
	test_keep_rules();
	test_started_not_in_flight(true);
	test_started_not_in_flight(false);
	for (size_t i = 0; i < sizeof(unsched_cases) / sizeof(unsched_cases[0]); i++)
		run_unsched_case(&unsched_cases[i]);
	test_unsched_backoff_expiry();
	test_percentiles();
	test_sources();
	test_agent_feed();
	CHECK_EXIT();
}
