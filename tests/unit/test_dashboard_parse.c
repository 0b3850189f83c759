/* test_dashboard_parse.c -- the dashboard client's parsers on answers
 * recorded from a real Ray 2.60.0 head (tests/fixtures/dashboard, captured
 * with `ray start --head --num-cpus=0` plus one 1-CPU worker with the
 * custom resource custom_x; see docs/dashboard-facts.md), the camelCase
 * un-mangling of usageByNode, the demand merge, and bad input: malformed,
 * truncated, result=false, wrong types, bad strategies. */
#include "check.h"
#include "dashboard_fixture.h"
#include "common/cli.h"
#include "controller/source/dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct dash_node *by_name(const struct dash_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->node_count; i++)
		if (s->nodes[i].node_name && !strcmp(s->nodes[i].node_name, name))
			return &s->nodes[i];
	return NULL;
}

static void test_camel_case(void)
{
	static const char *cases[][2] = {
		{ "CPU", "CPU" },
		{ "object_store_memory", "objectStoreMemory" },
		{ "node:__internal_head__", "node:InternalHead" },
		{ "custom_x", "customX" },
		{ "accelerator_type:A100", "acceleratorType:A100" },
		{ "gpu_workers", "gpuWorkers" },
		/* str.title() upper-cases a letter after a digit */
		{ "node_5d6bfeba56fc", "node5D6Bfeba56Fc" },
		{ "node:192.0.2.2", "node:192.0.2.2" },
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ray_camel_case(cases[i][0], out, sizeof(out));
		CHECK(!strcmp(out, cases[i][1]), "%s -> %s, want %s", cases[i][0], out, cases[i][1]);
	}
	ray_camel_case("object_store_memory", out, 5);
	CHECK(strlen(out) == 4, "truncation keeps the NUL: '%s'", out);
}

static void test_version(void)
{
	size_t len;
	char *b = load("version.json", &len), v[32], err[DASH_ERR_LEN];

	CHECK(dash_parse_version(b, len, v, sizeof(v), err) == 0, "%s", err);
	CHECK(!strcmp(v, "2.60.0"), "version %s", v);
	CHECK(dash_parse_version("{\"version\": \"4\"}", 16, v, sizeof(v), err) == -EINVAL,
	      "missing ray_version");
	CHECK(strstr(err, "ray_version") != NULL, "err names the field: %s", err);
	free(b);
}

static void test_nodes_and_usage(void)
{
	size_t ln, lc;
	char *nodes = load("nodes_with_worker.json", &ln);
	char *cs = load("cluster_status_busy_worker.json", &lc);
	char err[DASH_ERR_LEN] = "";
	struct dash_snapshot s = { 0 };
	const struct dash_node *w, *h;

	CHECK(dash_parse_nodes(nodes, ln, &s, err) == 0, "%s", err);
	CHECK(s.node_count == 2, "node_count %zu", s.node_count);
	w = by_name(&s, "rs-g1-1");
	h = by_name(&s, "192.0.2.2");
	CHECK(w && h, "worker and head by node_name");
	if (!w || !h)
		goto out;
	CHECK(w->alive && !w->is_head && h->alive && h->is_head, "flags");
	CHECK(w->label_node && !strcmp(w->label_node, "rs-g1-1"), "raysense.io/node label");
	CHECK(resmap_get(&w->total, "CPU", -1) == 1 && resmap_get(&w->total, "custom_x", -1) == 1,
	      "worker totals keep raw names");
	CHECK(resmap_get(&h->total, "CPU", -1) == -1, "num-cpus=0 head has NO CPU key");
	CHECK(resmap_get(&h->total, "node:__internal_head__", -1) == 1, "raw head marker");

	CHECK(dash_parse_cluster_status(cs, lc, &s.cs, err) == 0, "%s", err);
	CHECK(s.cs.present && s.cs.time > 1.7e9, "present, time %f", s.cs.time);
	CHECK(s.cs.usage_count == 2, "usage_count %zu", s.cs.usage_count);
	dash_attach_usage(&s);
	CHECK(w->have_usage && h->have_usage, "usage attached by node id");
	CHECK(w->busy && !h->busy, "worker busy (CPU and customX used), head idle");
	CHECK(resmap_get(&w->available, "CPU", -1) == 0, "CPU available 0");
	CHECK(resmap_get(&w->available, "custom_x", -1) == 0,
	      "customX in the report maps back to custom_x: %g",
	      resmap_get(&w->available, "custom_x", -1));
	CHECK(resmap_get(&w->available, "object_store_memory", -1) > 1e9, "object store free");
out:
	dash_snapshot_free(&s);
	free(nodes);
	free(cs);
}

static void test_cluster_status_demand(void)
{
	size_t len;
	char *b = load("cluster_status_demand.json", &len), err[DASH_ERR_LEN] = "";
	struct dash_cluster_status cs;

	CHECK(dash_parse_cluster_status(b, len, &cs, err) == 0, "%s", err);
	CHECK(cs.demand_count == 3, "3 demand shapes, got %zu", cs.demand_count);
	CHECK(cs.pg_count == 1 && cs.pgs[0].strategy == PLANNER_PG_STRICT_SPREAD,
	      "one STRICT_SPREAD group");
	CHECK(cs.pg_count == 1 && cs.pgs[0].bundle_count == 2 &&
	      resmap_get(&cs.pgs[0].bundles[1], "CPU", 0) == 1, "[[{CPU:1}, 2]] -> 2 bundles");
	CHECK(cs.request_count == 1 && resmap_get(&cs.requests[0].shape, "CPU", 0) == 8,
	      "request_resources CPU 8");
	for (size_t i = 0; i < cs.demand_count; i++)
		if (resmap_find(&cs.demand[i].shape, "custom_x"))
			CHECK(cs.demand[i].count == 1, "shapes inside [dict,count] are not mangled");
	dash_cluster_status_free(&cs);
	free(b);

	b = load("cluster_status_idle.json", &len);
	CHECK(dash_parse_cluster_status(b, len, &cs, err) == 0, "%s", err);
	CHECK(cs.present && cs.demand_count == 0 && cs.pg_count == 0, "idle report");
	dash_cluster_status_free(&cs);
	free(b);
}

static void test_pending_and_merge(void)
{
	size_t lt, lc;
	char *tasks = load("tasks_pending.json", &lt), *cs = load("cluster_status_demand.json", &lc);
	char err[DASH_ERR_LEN] = "";
	struct dash_snapshot s = { 0 };
	long units = 0;

	CHECK(dash_parse_pending(tasks, lt, &s, err) == 0, "%s", err);
	CHECK(s.pending_tasks == 3 && s.pending_actors == 1, "3 tasks + 1 actor creation task, "
	      "got %ld + %ld", s.pending_tasks, s.pending_actors);
	for (size_t i = 0; i < s.pending_count; i++)
		CHECK(s.pending[i].pending_since_ms > 1.7e12, "event time parsed");
	CHECK(dash_parse_cluster_status(cs, lc, &s.cs, err) == 0, "%s", err);

	/* All four were submitted before the report: the report's demand only. */
	CHECK(dash_merge_demand(&s, true) == 0, "merge");
	CHECK(s.new_since_report == 0, "nothing newer than the report");
	for (size_t i = 0; i < s.shape_count; i++)
		units += s.shapes[i].count;
	CHECK(units == 4, "report demand: 4 units, got %ld", units);

	/* A task that became pending after the report is added on top. */
	s.pending[0].pending_since_ms = s.cs.time * 1000 + 50;
	CHECK(dash_merge_demand(&s, true) == 0 && s.new_since_report == 1, "one newer task");
	units = 0;
	for (size_t i = 0; i < s.shape_count; i++)
		units += s.shapes[i].count;
	CHECK(units == 5, "4 + 1 units, got %ld", units);

	/* No usable report: every pending task, actors kept apart. */
	CHECK(dash_merge_demand(&s, false) == 0, "merge without report");
	units = 0;
	for (size_t i = 0; i < s.shape_count; i++) {
		units += s.shapes[i].count;
		if (resmap_find(&s.shapes[i].shape, "custom_x"))
			CHECK(s.shapes[i].kind == PLANNER_DEMAND_ACTOR, "actor kind");
	}
	CHECK(units == 4 && s.shape_count == 3, "4 units in 3 shapes, got %ld in %zu", units,
	      s.shape_count);
	dash_snapshot_free(&s);
	free(tasks);
	free(cs);
}

#define EXPECT_BAD(call, what)                                                   \
	do {                                                                     \
		char err[DASH_ERR_LEN] = "";                                     \
		int rc_ = (call);                                                \
		CHECK(rc_ == -EINVAL, "%s: rc %d", what, rc_);                   \
		CHECK(err[0] != '\0', "%s: an error message", what);             \
	} while (0)

static void add_pending(struct dash_snapshot *s, const char *res, double amount, double since_ms)
{
	struct dash_pending *p = realloc(s->pending, (s->pending_count + 1) * sizeof(*p));

	CHECK(p != NULL, "realloc");
	if (!p)
		return;
	s->pending = p;
	p = &s->pending[s->pending_count++];
	memset(p, 0, sizeof(*p));
	p->pending_since_ms = since_ms;
	CHECK(resmap_set(&p->shape, res, amount) == 0, "resmap_set");
}

/* A truncated v1 report lists whole shapes until its vector passes 1000:
 * the shapes it leaves out come from the task list, whatever their age;
 * the shapes it lists come from it alone (no double count). */
static void test_truncated_report_merge(void)
{
	struct dash_snapshot s = { 0 };
	struct dash_shape *d = calloc(1, sizeof(*d));
	long cpu1 = 0, cpu4 = 0;

	CHECK(d != NULL, "calloc");
	if (!d)
		return;
	s.cs.present = true;
	s.cs.source = DASH_CS_STRUCTURED;
	s.cs.time = 1000;
	d->count = 5000;
	resmap_set(&d->shape, "CPU", 4);
	s.cs.demand = d;
	s.cs.demand_count = 1;
	add_pending(&s, "CPU", 4, 900e3);
	add_pending(&s, "CPU", 1, 900e3);
	add_pending(&s, "CPU", 1, 950e3);
	for (int truncated = 0; truncated < 2; truncated++) {
		s.cs.demand_truncated = truncated;
		CHECK(dash_merge_demand(&s, true) == 0, "merge");
		cpu1 = cpu4 = 0;
		for (size_t i = 0; i < s.shape_count; i++) {
			double cpu = resmap_get(&s.shapes[i].shape, "CPU", 0);

			if (cpu == 1)
				cpu1 += s.shapes[i].count;
			else if (cpu == 4)
				cpu4 += s.shapes[i].count;
		}
		CHECK(cpu4 == 5000, "truncated %d: {CPU:4} from the report only: %ld", truncated, cpu4);
		CHECK(cpu1 == (truncated ? 2 : 0), "truncated %d: {CPU:1} from the list: %ld", truncated,
		      cpu1);
	}
	dash_snapshot_free(&s);
}

static void test_bad_input(void)
{
	struct dash_snapshot s = { 0 };
	struct dash_cluster_status cs;
	size_t len;
	char *nodes = load("nodes_with_worker.json", &len);
	const char *bad_strategy =
		"{\"result\":true,\"msg\":\"\",\"data\":{\"clusterStatus\":{\"time\":1,"
		"\"loadMetricsReport\":{\"resourceDemand\":[],\"requestDemand\":[],"
		"\"pgDemand\":[[{\"bundles\":[[{\"CPU\":1},2]],\"strategy\":\"NEAR\"},1]]}}}}";
	const char *neg = "{\"result\":true,\"msg\":\"\",\"data\":{\"clusterStatus\":{\"time\":1,"
		"\"loadMetricsReport\":{\"resourceDemand\":[[{\"CPU\":-1},1]],\"requestDemand\":[],"
		"\"pgDemand\":[]}}}}";
	const char *bad_pair = "{\"result\":true,\"msg\":\"\",\"data\":{\"clusterStatus\":{\"time\":1,"
		"\"loadMetricsReport\":{\"resourceDemand\":[[{\"CPU\":1}]],\"requestDemand\":[],"
		"\"pgDemand\":[]}}}}";
	const char *bad_usage = "{\"result\":true,\"msg\":\"\",\"data\":{\"clusterStatus\":{\"time\":1,"
		"\"loadMetricsReport\":{\"resourceDemand\":[],\"requestDemand\":[],\"pgDemand\":[],"
		"\"usageByNode\":{\"n1\":{\"CPU\":\"1/2\"}}}}}}";
	const char *null_status = "{\"result\":true,\"msg\":\"Got cluster status.\",\"data\":"
		"{\"autoscalingStatus\":null,\"autoscalingError\":null,\"clusterStatus\":null}}";
	const char *failed = "{\"result\":false,\"msg\":\"Traceback: boom\",\"data\":{}}";
	const char *partial = "{\"result\":true,\"msg\":\"\",\"data\":{\"result\":{\"total\":0,"
		"\"result\":[],\"partial_failure_warning\":\"2 raylets did not answer\"}}}";
	const char *str_res = "{\"result\":true,\"msg\":\"\",\"data\":{\"result\":{\"result\":"
		"[{\"node_id\":\"a\",\"state\":\"ALIVE\",\"resources_total\":\"CPU=1\"}]}}}";

	EXPECT_BAD(dash_parse_nodes(nodes, len / 2, &s, err), "truncated nodes");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_nodes("{\"result\":true,", 15, &s, err), "malformed");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_nodes("<html>502</html>", 16, &s, err), "HTML");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_nodes(failed, strlen(failed), &s, err), "result=false");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_nodes(partial, strlen(partial), &s, err), "partial failure");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_nodes(str_res, strlen(str_res), &s, err), "resources_total string");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_pending("[]", 2, &s, err), "array instead of envelope");
	dash_snapshot_free(&s);
	EXPECT_BAD(dash_parse_cluster_status(bad_strategy, strlen(bad_strategy), &cs, err),
		   "unknown strategy");
	EXPECT_BAD(dash_parse_cluster_status(neg, strlen(neg), &cs, err), "negative amount");
	EXPECT_BAD(dash_parse_cluster_status(bad_pair, strlen(bad_pair), &cs, err), "1-element pair");
	EXPECT_BAD(dash_parse_cluster_status(bad_usage, strlen(bad_usage), &cs, err), "usage string");
	{
		char err[DASH_ERR_LEN] = "";

		CHECK(dash_parse_cluster_status(null_status, strlen(null_status), &cs, err) == 0,
		      "clusterStatus null is not an error: %s", err);
		CHECK(!cs.present, "null -> not present (autoscaler v2 / no monitor)");
		dash_cluster_status_free(&cs);
	}
	free(nodes);
}

int main(void)
{
	test_truncated_report_merge();
	test_camel_case();
	test_version();
	test_nodes_and_usage();
	test_cluster_status_demand();
	test_pending_and_merge();
	test_bad_input();
	CHECK_EXIT();
}
