/* test_scenario.c -- the scenario parser refuses bad input with a message
 * naming the JSON path, accepts the documented format with its defaults,
 * and renders plans with the public fields (launch, terminate, infeasible). */
#include "check.h"
#include "controller/plan/plan_json.h"
#include "controller/plan/planner.h"
#include "controller/plan/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



#define TYPES "\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 2}}"

struct bad {
	const char *doc;
	const char *msg;	/* expected substring of the error */
};

static const struct bad bads[] = {
	{ "", "empty document" },
	{ "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 2}", "malformed JSON at byte" },
	{ "{\"node_types\": {}} trailing", "trailing data" },
	{ "[1, 2]", "$: expected an object" },
	{ "{}", "$.node_types: required field is missing" },
	{ "{\"node_types\": {}}", "$.node_types: expected 1 to" },
	{ "{\"node_types\": []}", "$.node_types" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"n1\", \"type\": \"gpu\"}]}",
	  "$.nodes[0].type: unknown node type 'gpu'" },
	{ "{" TYPES ", \"nodes\": [{\"type\": \"w\"}]}", "$.nodes[0].id: required field is missing" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"a\", \"type\": \"w\"}, {\"id\": \"a\", \"type\": \"w\"}]}",
	  "$.nodes[1].id: 'a' also used by $.nodes[0]" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"a\", \"type\": \"w\", \"status\": \"up\"}]}",
	  "$.nodes[0].status: expected \"running\" or \"pending\"" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"a\", \"type\": \"w\", \"total\": {\"CPU\": 1}}]}",
	  "$.nodes[0]: 'total' and 'available' must be given together" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"a\", \"type\": \"w\", \"idle_s\": -5}]}",
	  "$.nodes[0].idle_s: must be a finite number >= 0" },
	{ "{" TYPES ", \"nodes\": [{\"id\": \"a\", \"type\": \"w\", \"idle_s\": \"5\"}]}",
	  "$.nodes[0].idle_s: expected a number" },
	{ "{" TYPES ", \"nodes\": {}}", "$.nodes" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": -1}]}}",
	  "$.demand.tasks[0].count: -1 is out of range" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 1.5}]}}",
	  "$.demand.tasks[0].count: expected a whole number" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": [1], \"count\": 1}]}}",
	  "$.demand.tasks[0].shape: expected an object of resource amounts" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": 3}]}}",
	  "$.demand.tasks[0].shape: expected an object" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"count\": 3}]}}",
	  "$.demand.tasks[0].shape: required field is missing" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": -1}}]}}",
	  "$.demand.tasks[0].shape.CPU: amount must be >= 0" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": \"1\"}}]}}",
	  "$.demand.tasks[0].shape.CPU: expected a number" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1, \"CPU\": 2}}]}}",
	  "resource appears twice" },
	{ "{" TYPES ", \"demand\": {\"tasks\": {}}}", "$.demand" },
	{ "{" TYPES ", \"demand\": {\"task\": []}}", "$.demand: unknown field 'task'" },
	{ "{" TYPES ", \"demand\": {\"actors\": [5]}}", "$.demand.actors[0]: expected an object" },
	{ "{" TYPES ", \"demand\": {\"placement_groups\": [{\"strategy\": \"FOO\", \"bundles\": [{}]}]}}",
	  "$.demand.placement_groups[0].strategy: expected PACK, SPREAD, STRICT_PACK or STRICT_SPREAD" },
	{ "{" TYPES ", \"demand\": {\"placement_groups\": [{\"strategy\": \"PACK\", \"bundles\": []}]}}",
	  "$.demand.placement_groups[0].bundles: expected 1 to" },
	{ "{" TYPES ", \"demand\": {\"placement_groups\": [{\"strategy\": \"PACK\"}]}}",
	  "$.demand.placement_groups[0].bundles: required field is missing" },
	{ "{" TYPES ", \"demand\": {\"placement_groups\": [{\"strategy\": \"PACK\", \"bundles\": [5]}]}}",
	  "$.demand.placement_groups[0].bundles[0]: expected an object" },
	{ "{" TYPES ", \"demand\": {\"request_resources\": [{\"shape\": {\"CPU\": 1}, \"count\": -2}]}}",
	  "$.demand.request_resources[0].count" },
	{ "{" TYPES ", \"demand\": {\"request_resources\": [{\"CPU\": true}]}}",
	  "$.demand.request_resources[0].CPU: expected a number" },
	{ "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}}}}",
	  "$.node_types.w.max_workers: required field is missing" },
	{ "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 1, \"min_workers\": 2}}}",
	  "$.node_types.w: min_workers (2) > max_workers (1)" },
	{ "{\"node_types\": {\"w\": {\"max_workers\": 1}}}",
	  "$.node_types.w.resources: required field is missing" },
	{ "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 1, \"maxworkers\": 3}}}",
	  "$.node_types.w: unknown field 'maxworkers'" },
	{ "{\"node_types\": {\"w\": 3}}", "$.node_types.w: expected an object" },
	{ "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 1}, "
	  "\"w\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 1}}}", "node type defined twice" },
	{ "{" TYPES ", \"head_node_type\": \"h\"}", "$.head_node_type: unknown node type 'h'" },
	{ "{" TYPES ", \"head_node_type\": 1}", "$.head_node_type: expected a string" },
	{ "{" TYPES ", \"upscaling_speed\": -1}", "$.upscaling_speed: must be a finite number >= 0" },
	{ "{" TYPES ", \"max_workers\": -1}", "$.max_workers: -1 is out of range" },
	{ "{" TYPES ", \"max_workers\": 1e300}", "$.max_workers" },
	{ "{" TYPES ", \"idle_timeout_s\": null, \"bogus\": 1}", "$: unknown field 'bogus'" },
	{ "{" TYPES ", " TYPES "}", "$: field 'node_types' appears twice" },
	/* the demand lists are read one entry at a time (scenario_stream.c) */
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}}, ", "(truncated?)" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [], \"tasks\": []}}",
	  "$.demand: field 'tasks' appears twice" },
	{ "{" TYPES ", \"demand\": {}, \"demand\": {}}", "$: field 'demand' appears twice" },
	{ "{" TYPES ", \"demand\": {\"request_resources\": 5}}",
	  "$.demand.request_resources: expected an array" },
	{ "{" TYPES ", \"demand\": {\"actors\": [{\"shape\": {\"CPU\": 1}, \"count\": 2e8}]}}",
	  "$.demand.actors[0].count" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}}]}} x", "trailing data" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"shape\": {}}]}}",
	  "$.demand.tasks[0]: field 'shape' appears twice" },
};

/* Syntax and string errors name the byte in the whole document, wherever the
 * reader is (between members, inside a streamed entry): at marks it. */
struct bad_at {
	const char *doc;
	const char *at;		/* the offending byte is where this first occurs */
	const char *msg;
};

static const struct bad_at bads_at[] = {
	{ "{\"node_types\" {}}", " {}", "malformed JSON at byte" },
	{ "{1: 2}", "1:", "malformed JSON at byte" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}} {\"shape\": {}}]}}",
	  " {\"shape\": {}}]", "malformed JSON at byte" },
	{ "{" TYPES ", \"demand\": {\"tasks\": [{\"shape\": {\"C\xffU\": 1}}]}}", "\xff",
	  "invalid UTF-8 in a string at byte" },
	{ "{" TYPES ", \"demand\": {\"actors\": [{\"shape\": {\"C\\u0000\": 1}}]}}", "\\u0000",
	  "NUL character (\\u0000) in a string at byte" },
	{ "{" TYPES ", \"n\tx\": 1}", "\tx", "control character in a string at byte" },
};

static void test_bad_documents_at(void)
{
	for (size_t i = 0; i < sizeof(bads_at) / sizeof(bads_at[0]); i++) {
		const struct bad_at *b = &bads_at[i];
		struct scenario sc;
		struct rs_json_error err = { { 0 } };
		char want[160];
		size_t off = (size_t)(strstr(b->doc, b->at) - b->doc);

		/* cJSON reports a bad token after the blanks before it */
		while (b->doc[off] == ' ')
			off++;
		snprintf(want, sizeof(want), "%s %zu", b->msg, off);
		CHECK(scenario_parse(b->doc, strlen(b->doc), &sc, &err) == -EINVAL &&
		      strstr(err.msg, want), "doc %zu: want '%s', got '%s'", i, want, err.msg);
	}
}

/* The streamed lists give the same input as one parsed tree did: tasks
 * before actors whatever the document order, entries in document order,
 * identical resource maps shared, bare request bundles. */
struct good {
	const char *demand;
	const char *kinds;	/* shape kinds in input order: t = task, a = actor */
	const char *counts;	/* their counts, one digit each */
	size_t requests;
	size_t distinct;	/* distinct resource map pointers among the shapes */
};

static const struct good goods[] = {
	{ "{}", "", "", 0, 0 },
	{ "{\"tasks\": [], \"actors\": null}", "", "", 0, 0 },
	{ "{\"actors\": [{\"shape\": {\"CPU\": 1}, \"count\": 3}], "
	  "\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}, {\"shape\": {\"GPU\": 1}}]}",
	  "tta", "213", 0, 2 },
	{ "{\"tasks\": [{\"shape\": {\"CPU\": 1, \"mem\": 2}}, {\"shape\": {\"mem\": 2, \"CPU\": 1}},"
	  "{\"shape\": {\"CPU\": 1, \"mem\": 2}, \"count\": 4}], \"_note\": [1, 2],"
	  "\"request_resources\": [{\"CPU\": 1, \"mem\": 2}, {\"shape\": {\"GPU\": 2}, \"count\": 5}]}",
	  "ttt", "114", 2, 2 },
	{ "\n\t{ \"tasks\" :\r[ { \"shape\" : { \"CPU\" : 0.5 } } , { \"count\": 7, \"shape\": {\"CPU\": 0.5} } ] }\n",
	  "tt", "17", 0, 1 },
};

static void test_streamed_lists(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		char doc[1024], kinds[16] = "", counts[16] = "";
		const void *maps[16];
		size_t distinct = 0;
		struct scenario sc;
		struct rs_json_error err = { { 0 } };

		snprintf(doc, sizeof(doc), "{" TYPES ", \"demand\": %s}", g->demand);
		if (scenario_parse(doc, strlen(doc), &sc, &err)) {
			CHECK(0, "good %zu: %s", i, err.msg);
			continue;
		}
		for (size_t k = 0; k < sc.in.shape_count && k < 15; k++) {
			size_t d = 0;

			kinds[k] = sc.shapes[k].kind == PLANNER_DEMAND_ACTOR ? 'a' : 't';
			counts[k] = (char)('0' + sc.shapes[k].count);
			kinds[k + 1] = counts[k + 1] = 0;
			while (d < distinct && maps[d] != sc.shapes[k].shape.items)
				d++;
			if (d == distinct)
				maps[distinct++] = sc.shapes[k].shape.items;
		}
		CHECK(strcmp(kinds, g->kinds) == 0 && strcmp(counts, g->counts) == 0,
		      "good %zu: kinds %s counts %s", i, kinds, counts);
		CHECK(sc.in.request_count == g->requests, "good %zu: %zu requests", i,
		      sc.in.request_count);
		CHECK(distinct == g->distinct, "good %zu: %zu distinct maps", i, distinct);
		if (g->requests == 2)	/* the bare bundle is the first task's map */
			CHECK(sc.requests[0].shape.items == sc.shapes[0].shape.items &&
			      sc.requests[1].count == 5, "good %zu: requests", i);
		scenario_free(&sc);
	}
}

static void test_bad_documents(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct scenario sc;
		struct rs_json_error err = { { 0 } };
		int rc = scenario_parse(bads[i].doc, strlen(bads[i].doc), &sc, &err);
		CHECK(rc == -EINVAL, "#%zu: rc %d for %s", i, rc, bads[i].doc);
		CHECK(strstr(err.msg, bads[i].msg) != NULL, "#%zu: message '%s' lacks '%s'", i,
		      err.msg, bads[i].msg);
		if (rc == 0)
			scenario_free(&sc);
	}
}

static void test_huge_document(void)
{
	size_t len = SCENARIO_MAX_BYTES + 1;
	char *buf = malloc(len);
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	CHECK(buf != NULL, "malloc");
	if (!buf)
		return;
	memset(buf, ' ', len);
	CHECK(scenario_parse(buf, len, &sc, &err) == -EFBIG, "huge document accepted");
	CHECK(strstr(err.msg, "limit") != NULL, "message: %s", err.msg);
	free(buf);
}

static void test_deep_nesting(void)
{
	/* cJSON's nesting limit turns this into a parse error, not a crash. */
	size_t depth = 100000;
	char *buf = malloc(2 * depth + 1);
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	CHECK(buf != NULL, "malloc");
	if (!buf)
		return;
	memset(buf, '[', depth);
	memset(buf + depth, ']', depth);
	CHECK(scenario_parse(buf, 2 * depth, &sc, &err) == -EINVAL, "deep nesting accepted");
	free(buf);
}

static void test_defaults_and_render(void)
{
	const char *doc =
		"{\"_comment\": \"seed\", \"node_types\": {\"head\": {\"resources\": {\"CPU\": 0}},"
		"\"w\": {\"resources\": {\"CPU\": 1, \"memory\": 1073741824}, \"max_workers\": 4}},"
		"\"head_node_type\": \"head\", \"upscaling_speed\": 1000,"
		"\"nodes\": [{\"id\": \"h\", \"type\": \"head\"},"
		"{\"id\": \"old\", \"type\": \"w\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 1}, \"idle_s\": 61}],"
		"\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}, {\"shape\": {\"GPU\": 1}}],"
		"\"request_resources\": [{\"CPU\": 0.5}]}}";
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output out = { 0 };

	CHECK(scenario_parse(doc, strlen(doc), &sc, &err) == 0, "parse: %s", err.msg);
	CHECK(sc.in.node_type_count == 2 && sc.types[0].is_head && !sc.types[1].is_head, "head flag");
	CHECK(sc.types[0].max_workers == 0 && sc.types[1].min_workers == 0, "defaults");
	CHECK(sc.in.idle_timeout_s == 60 && sc.in.max_workers == -1, "cluster defaults");
	CHECK(sc.nodes[0].status == PLANNER_NODE_RUNNING && !sc.nodes[0].have_resources &&
	      sc.nodes[0].idle_s < 0 && sc.nodes[0].busy_workers < 0, "node defaults");
	CHECK(sc.in.shape_count == 2 && sc.shapes[1].count == 1, "count defaults to 1");
	CHECK(sc.in.request_count == 1 && sc.requests[0].shape.count == 1, "bare bundle");

	CHECK(planner_plan(&sc.in, &out) == 0, "plan: %s", out.error);
	cJSON *json = plan_json_render(&sc.in, &out);
	CHECK(json != NULL, "render");
	/* request_resources {CPU: 0.5} lands on the idle node, so it stays. The
	 * two tasks: one new node can hold one; the old node is reserved only
	 * for request_resources (total), its available CPU still takes a task. */
	const cJSON *launch = cJSON_GetObjectItemCaseSensitive(json, "launch");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(launch, "w");
	CHECK(cJSON_IsNumber(w) && w->valueint == 1, "launch.w");
	const cJSON *term = cJSON_GetObjectItemCaseSensitive(json, "terminate");
	CHECK(cJSON_IsArray(term) && cJSON_GetArraySize(term) == 0, "nothing terminated");
	const cJSON *inf = cJSON_GetObjectItemCaseSensitive(json, "infeasible");
	CHECK(cJSON_IsArray(inf) && cJSON_GetArraySize(inf) == 1, "one infeasible entry");
	const cJSON *first = cJSON_GetArrayItem(inf, 0);
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(first, "shape");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(first, "count");
	CHECK(cJSON_IsObject(shape) && cJSON_GetObjectItemCaseSensitive(shape, "GPU"), "shape");
	CHECK(cJSON_IsNumber(count) && count->valueint == 1, "count");
	const cJSON *explain = cJSON_GetObjectItemCaseSensitive(json, "explain");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(explain, 0), "text");
	CHECK(cJSON_IsString(text) && strstr(text->valuestring, "task {CPU: 1}"),
	      "explain text: %s", cJSON_IsString(text) ? text->valuestring : "(none)");
	cJSON_Delete(json);
	planner_output_free(&out);
	scenario_free(&sc);
}


/* A plan's JSON stays bounded: past 1,000 planned nodes "explain" sums the
 * rest per action and type, past 1,000 infeasible entries "infeasible" sums
 * the rest per cause, kind and reason; no node or unit is lost. */
static void test_render_bounded(void)
{
	enum { NODES = 1500, INFEASIBLE = 1200 };
	size_t cap = 256 + (NODES + INFEASIBLE) * 40, w;
	char *doc = malloc(cap);
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output out = { 0 };

	CHECK(doc != NULL, "out of memory");
	if (!doc)
		return;
	w = (size_t)snprintf(doc, cap, "{\"node_types\": {\"w\": {\"resources\": {\"CPU\": 1}, "
			     "\"max_workers\": %d}}, \"upscaling_speed\": 1, \"demand\": {\"tasks\": [",
			     NODES);
	for (int i = 0; i < NODES + INFEASIBLE; i++)
		w += (size_t)snprintf(doc + w, cap - w, "%s{\"shape\": {\"%s\": 1}}", i ? "," : "",
				      i < NODES ? "CPU" : "GPU");
	snprintf(doc + w, cap - w, "]}}");
	CHECK(scenario_parse(doc, strlen(doc), &sc, &err) == 0, "parse: %s", err.msg);
	free(doc);
	CHECK(planner_plan(&sc.in, &out) == 0 && out.new_node_count == NODES &&
	      out.infeasible_count == INFEASIBLE, "plan: %zu nodes, %zu infeasible",
	      out.new_node_count, out.infeasible_count);
	cJSON *json = plan_json_render(&sc.in, &out);
	CHECK(json != NULL, "render");
	const cJSON *e, *explain = cJSON_GetObjectItemCaseSensitive(json, "explain");
	int entries = 0, nodes = 0, units = 0;
	cJSON_ArrayForEach(e, explain) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "count"), *b;
		entries++;
		nodes += cJSON_IsNumber(n) ? n->valueint : 1;
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(e, "because"))
			units += cJSON_GetObjectItemCaseSensitive(b, "count")->valueint;
	}
	CHECK(entries == 1001 && nodes == NODES && units == NODES,
	      "explain: %d entries for %d nodes and %d tasks", entries, nodes, units);
	const cJSON *inf = cJSON_GetObjectItemCaseSensitive(json, "infeasible");
	const cJSON *last = cJSON_GetArrayItem(inf, 1000);
	CHECK(cJSON_GetArraySize(inf) == 1001 && last &&
	      cJSON_GetObjectItemCaseSensitive(last, "count")->valueint == INFEASIBLE - 1000 &&
	      cJSON_GetObjectItemCaseSensitive(last, "entries")->valueint == INFEASIBLE - 1000 &&
	      strcmp(cJSON_GetObjectItemCaseSensitive(last, "kind")->valuestring, "task") == 0,
	      "infeasible: %d entries, the summary is wrong", cJSON_GetArraySize(inf));
	cJSON_Delete(json);
	planner_output_free(&out);
	scenario_free(&sc);
}

int main(void)
{
	test_bad_documents();
	test_bad_documents_at();
	test_streamed_lists();
	test_huge_document();
	test_deep_nesting();
	test_defaults_and_render();
	test_render_bounded();
	if (check_failures) {
		fprintf(stderr, "test_scenario: %d check(s) failed\n", check_failures);
		return 1;
	}
	printf("test_scenario: %zu bad documents refused with their JSON path; defaults and "
	       "rendering ok, bounded past 1,000 nodes\n", sizeof(bads) / sizeof(bads[0]));
	return 0;
}
