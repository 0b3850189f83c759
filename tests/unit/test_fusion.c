/* test_fusion.c -- the fusion rules (fusion/fusion.h) on plan inputs built
 * by hand, each checked with fusion on and off (off must leave the input
 * and the plan exactly as the planner makes them):
 *   faster group on ties, launch timeout from the startup model, back-off
 *   of a stuck group, adaptive idle timeout, the keep rules, started nodes
 *   out of the in-flight count; and the startup model's percentiles. */
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
	test_percentiles();
	test_sources();
	test_agent_feed();
	CHECK_EXIT();
}
