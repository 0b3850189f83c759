/* test_ray_text.c -- the autoscaler-v2 fallback's parsers and matcher:
 * Python dict reprs, the ?format=1 status text, per-node usage text
 * (ray_text.c), placement-group strategy matching (pg_match.c) and the
 * dashboard client's v2 JSON wrappers, on answers recorded from a real Ray
 * 2.60.0 head with RAY_enable_autoscaler_v2=1 (tests/fixtures/dashboard/v2_*:
 * two workers, 1 CPU and 2 CPU + custom_x; a PACK group with a task in it;
 * 2 running + 2 pending 1-CPU tasks; a pending 2-CPU actor; pending groups
 * STRICT_SPREAD [{CPU:1}]x2, PACK [{CPU:2}], PACK [{CPU:1, memory:1e9}];
 * request_resources([{CPU:4}]x2 + [{custom_x:1}])), plus malformed,
 * truncated and oversized input. */
#include "check.h"
#include <cjson/cJSON.h>
#include "dashboard_fixture.h"
#include "common/cli.h"
#include "controller/source/dashboard.h"
#include "controller/source/pg_match.h"
#include "controller/source/ray_text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W1 "573402c3c20ce5ba6d8f2d86fa25b601472d2efaebda6d1a349c12a8"	/* 1 CPU */
#define W2 "268d15a7c82755a7f90d8ad7bdd9c983fe85b998e327ebde19b14d61"	/* 2 CPU */
#define HEAD "c000bd7521b8b61d6f05966daad55773c3c36616a6dc05ab125b1098"

/* ---------------------------------------------------------------- dict repr */

static void test_pydict(void)
{
	static const struct {
		const char *in;
		int rc;
		size_t consumed, n;
		const char *name;
		double value;
	} cases[] = {
		{ "{'CPU': 1.0}", 0, 12, 1, "CPU", 1.0 },
		{ "{'CPU': 1.0} * 2", 0, 12, 1, "CPU", 1.0 },
		{ "{'memory': 1000000000.0, 'CPU': 1.0}", 0, 36, 2, "memory", 1e9 },
		{ "{'CPU': 4}", 0, 10, 1, "CPU", 4 },
		{ "{'custom_x': 1e-05}", 0, 19, 1, "custom_x", 1e-5 },
		{ "{'GPU': 2.5e+20}", 0, 16, 1, "GPU", 2.5e20 },
		{ "{'CPU': 0.0}", 0, 12, 1, "CPU", 0 },
		{ "{}", 0, 2, 0, NULL, 0 },
		{ "{\"CPU\": 1.0}", -EINVAL, 0, 0, NULL, 0 },	/* JSON quotes: not Ray's repr */
		{ "{'CPU': -1.0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': inf}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': nan}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': 1e999}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': 1..0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU':1.0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': 1.0,}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': 1.0", -EINVAL, 0, 0, NULL, 0 },		/* truncated */
		{ "{'CPU': ", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CP", -EINVAL, 0, 0, NULL, 0 },
		{ "{", -EINVAL, 0, 0, NULL, 0 },
		{ "", -EINVAL, 0, 0, NULL, 0 },
		{ "{'': 1.0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'a\\'b': 1.0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': 1.0, 'CPU': 2.0}", -EINVAL, 0, 0, NULL, 0 },
		{ "{'CPU': True}", -EINVAL, 0, 0, NULL, 0 },
		{ "['CPU', 1.0]", -EINVAL, 0, 0, NULL, 0 },
	};
	char err[DASH_ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resmap m = { 0 };
		size_t used = 0;
		int rc = rtext_parse_pydict(cases[i].in, strlen(cases[i].in), &used, &m, err);

		CHECK(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		if (!rc && !cases[i].rc) {
			CHECK(used == cases[i].consumed, "'%s': consumed %zu", cases[i].in, used);
			CHECK(m.count == cases[i].n, "'%s': %zu entries", cases[i].in, m.count);
			if (cases[i].name)
				CHECK(resmap_get(&m, cases[i].name, -1) == cases[i].value,
				      "'%s': %s = %g", cases[i].in, cases[i].name,
				      resmap_get(&m, cases[i].name, -1));
		}
		if (rc)
			CHECK(err[0], "'%s': an error message", cases[i].in);
		resmap_free(&m);
	}
	/* A huge name is refused, not truncated. */
	char big[600] = "{'";
	memset(big + 2, 'a', 400);
	strcpy(big + 402, "': 1.0}");
	struct resmap m = { 0 };
	size_t used;
	CHECK(rtext_parse_pydict(big, strlen(big), &used, &m, err) == -EINVAL, "huge name");
	resmap_free(&m);
}

/* ---------------------------------------------------------------- status text */

#define HDR "======== Autoscaler status: 2026-11-27 10:40:57.327847 ========\n" \
	"Node status\n---\nActive:\n (no active nodes)\nIdle:\n 1 node_x\nPending:\n" \
	" (no pending nodes)\nRecent failures:\n (no failures)\n\nResources\n---\n" \
	"Total Usage:\n 0.0/1.0 CPU\n\n"

static void test_status_text_fixture(void)
{
	char err[DASH_ERR_LEN] = "";
	struct rtext_status st;
	size_t len;
	char *body = load("v2_cluster_status_text_demand.json", &len);

	CHECK(dash_parse_status_text(body, len, &st, err) == 0, "demand text: %s", err);
	CHECK(st.task_count == 2, "2 task shapes, got %zu", st.task_count);
	if (st.task_count == 2) {
		CHECK(resmap_get(&st.tasks[0].shape, "CPU", 0) == 1 && st.tasks[0].count == 2,
		      "2 x CPU:1 pending tasks");
		CHECK(resmap_get(&st.tasks[1].shape, "CPU", 0) == 2 && st.tasks[1].count == 1,
		      "1 x CPU:2 pending actor");
	}
	CHECK(st.pg_line_count == 2, "2 PG lines, got %zu", st.pg_line_count);
	if (st.pg_line_count == 2) {
		CHECK(st.pg_lines[0].strategy == PLANNER_PG_STRICT_SPREAD &&
		      st.pg_lines[0].bundle_count == 2 && st.pg_lines[0].count == 1,
		      "STRICT_SPREAD {CPU:1}*2, 1 group");
		/* Ray's caveat, seen live: two PACK groups print as one line. */
		CHECK(st.pg_lines[1].strategy == PLANNER_PG_PACK &&
		      st.pg_lines[1].bundle_count == 1 && st.pg_lines[1].count == 2 &&
		      resmap_get(&st.pg_lines[1].bundles[0], "memory", 0) == 1e9,
		      "PACK example {memory:1e9, CPU:1}, 2 groups");
	}
	CHECK(st.request_count == 2 && resmap_get(&st.requests[0].shape, "CPU", 0) == 4 &&
	      st.requests[0].count == 2 && resmap_get(&st.requests[1].shape, "custom_x", 0) == 1,
	      "request_resources: {CPU:4}x2, {custom_x:1}x1");
	rtext_status_free(&st);
	free(body);

	body = load("v2_cluster_status_text_idle.json", &len);
	CHECK(dash_parse_status_text(body, len, &st, err) == 0, "idle text: %s", err);
	CHECK(st.task_count == 0 && st.pg_line_count == 0 && st.request_count == 2,
	      "idle: no demand, the request_resources constraint persists");
	rtext_status_free(&st);
	free(body);

	/* format=0 under v2: clusterStatus null is not text. */
	body = load("v2_cluster_status_null.json", &len);
	CHECK(dash_parse_status_text(body, len, &st, err) == -EINVAL, "null is not text");
	free(body);
}

static void test_status_text_table(void)
{
	static const struct {
		const char *name, *tail;
		int rc;
		size_t tasks, pgs, requests;
		long first_count;
	} cases[] = {
		{ "empty", "From request_resources:\n (none)\nPending Demands:\n (no resource demands)",
		  0, 0, 0, 0, 0 },
		{ "pg tasks subtracted",
		  "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0}: 3+ pending tasks/actors (2+ using placement groups)", 0, 1, 0, 0, 1 },
		{ "only pg tasks",
		  "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0}: 2+ pending tasks/actors (2+ using placement groups)", 0, 0, 0, 0, 0 },
		{ "mixed bundles pg",
		  "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0} * 2, {'GPU': 1.0} * 1 (STRICT_PACK): 3+ pending placement groups",
		  0, 0, 1, 0, 3 },
		{ "verbose node report after a blank line",
		  "From request_resources:\n (none)\nPending Demands:\n (no resource demands)\n\n"
		  "Node: x\n Id: y\n Usage:\n  0.0/1.0 CPU", 0, 0, 0, 0, 0 },
		{ "unknown strategy", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0} * 2 (SOMETIMES): 1+ pending placement groups", -EINVAL, 0, 0, 0, 0 },
		{ "unknown demand line", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0}: 2+ pending things", -EINVAL, 0, 0, 0, 0 },
		{ "more in-pg than total", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0}: 2+ pending tasks/actors (3+ using placement groups)",
		  -EINVAL, 0, 0, 0, 0 },
		{ "(none) plus a line", "From request_resources:\n (none)\n"
		  " {'CPU': 1.0}: 1 from request_resources()\nPending Demands:\n (no resource demands)",
		  -EINVAL, 0, 0, 0, 0 },
		{ "line without indent", "From request_resources:\n (none)\nPending Demands:\n"
		  "{'CPU': 1.0}: 2+ pending tasks/actors", -EINVAL, 0, 0, 0, 0 },
		{ "truncated pg line", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0} * 2 (STRICT_SPR", -EINVAL, 0, 0, 0, 0 },
		{ "truncated request line", "From request_resources:\n {'CPU': 4.0}: 2 fro",
		  -EINVAL, 0, 0, 0, 0 },
		{ "no demands section", "From request_resources:\n (none)\n", -EINVAL, 0, 0, 0, 0 },
		{ "no sections", "", -EINVAL, 0, 0, 0, 0 },
		{ "zero bundles", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0} * 0 (PACK): 1+ pending placement groups", -EINVAL, 0, 0, 0, 0 },
		{ "too many bundles", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0} * 1001 (PACK): 1+ pending placement groups", -EINVAL, 0, 0, 0, 0 },
		{ "count overflow", "From request_resources:\n (none)\nPending Demands:\n"
		  " {'CPU': 1.0}: 99999999999999999999+ pending tasks/actors", -EINVAL, 0, 0, 0, 0 },
	};
	char text[4096], err[DASH_ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rtext_status st;
		int rc;

		snprintf(text, sizeof(text), "%s%s", HDR, cases[i].tail);
		err[0] = '\0';
		rc = rtext_parse_status(text, strlen(text), &st, err);
		CHECK(rc == cases[i].rc, "%s: rc %d want %d (%s)", cases[i].name, rc, cases[i].rc, err);
		if (!rc && !cases[i].rc) {
			CHECK(st.task_count == cases[i].tasks && st.pg_line_count == cases[i].pgs &&
			      st.request_count == cases[i].requests, "%s: %zu/%zu/%zu", cases[i].name,
			      st.task_count, st.pg_line_count, st.request_count);
			if (st.task_count)
				CHECK(st.tasks[0].count == cases[i].first_count, "%s: count %ld",
				      cases[i].name, st.tasks[0].count);
			if (st.pg_line_count)
				CHECK(st.pg_lines[0].count == cases[i].first_count &&
				      st.pg_lines[0].bundle_count == 3, "%s: pg", cases[i].name);
		} else if (rc) {
			CHECK(err[0], "%s: an error message", cases[i].name);
		}
		rtext_status_free(&st);
	}
	/* No header: the v1 "No cluster status." text is not parsed. */
	struct rtext_status st;
	CHECK(rtext_parse_status("No cluster status.", 18, &st, err) == -EINVAL, "v1 placeholder");
	/* Truncations of a real answer: a cut JSON document is refused; a cut
	 * text is refused while it lacks the "Pending Demands:" section, and
	 * otherwise parses or fails cleanly (ASan checks the reads). */
	size_t len, json_end, sec_end, text_len;
	char *body = load("v2_cluster_status_text_demand.json", &len);
	char e[DASH_ERR_LEN];
	for (json_end = len; json_end > 0 && body[json_end - 1] != '}'; json_end--)
		;
	for (size_t cut = 0; cut < json_end; cut++)
		CHECK(dash_parse_status_text(body, cut, &st, e) == -EINVAL,
		      "JSON cut at %zu of %zu accepted", cut, json_end);
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "data"), "clusterStatus");
	const char *sec = cJSON_IsString(rec) ? strstr(rec->valuestring, "Pending Demands:") : NULL;
	CHECK(sec, "the recorded text has a Pending Demands section");
	if (sec) {
		text_len = strlen(rec->valuestring);
		sec_end = (size_t)(sec - rec->valuestring) + strlen("Pending Demands:");
		for (size_t cut = 0; cut <= text_len; cut++) {
			int rc = rtext_parse_status(rec->valuestring, cut, &st, e);

			CHECK(cut >= sec_end || rc == -EINVAL, "text cut at %zu (section ends at %zu) "
			      "accepted", cut, sec_end);
			CHECK(rc == 0 || rc == -EINVAL, "text cut at %zu: rc %d", cut, rc);
			if (rc == 0)
				rtext_status_free(&st);
		}
		CHECK(rtext_parse_status(rec->valuestring, text_len, &st, e) == 0, "whole text: %s", e);
		rtext_status_free(&st);
	}
	cJSON_Delete(doc);
	free(body);
	/* Oversized text is refused before parsing. */
	size_t huge = RTEXT_MAX_LEN + 1;
	char *h = malloc(huge);
	CHECK(h, "malloc %zu", huge);	/* no silent skip of the size check */
	if (h) {
		memset(h, ' ', huge);
		CHECK(rtext_parse_status(h, huge, &st, err) == -EINVAL && strstr(err, "limit"),
		      "oversized text: %s", err);
		free(h);
	}
}

/* ---------------------------------------------------------------- usage text */

static void test_usage_text(void)
{
	static const struct {
		const char *in;
		int rc;
		const char *name;
		double used, total;
	} cases[] = {
		{ "0.0/1.0 CPU\n0B/16.01GiB memory\n0B/6.86GiB object_store_memory", 0, "CPU", 0, 1 },
		{ "1.0/1.0 CPU", 0, "CPU", 1, 1 },
		/* Reserved but idle PG capacity is in use for the node. */
		{ "0.0/2.0 CPU (0.0 used of 1.0 reserved in placement groups)", 0, "CPU", 1, 2 },
		{ "2.0/2.0 CPU (1.0 used of 1.0 reserved in placement groups)", 0, "CPU", 2, 2 },
		{ "1.00GiB/2.00GiB memory", 0, "memory", 1073741824.0, 2147483648.0 },
		{ "512B/1.00KiB memory", 0, "memory", 512, 1024 },
		{ "0B/1.00GiB memory (0B used of 512.00MiB reserved in placement groups)", 0,
		  "memory", 536870912.0, 1073741824.0 },
		{ "0.0/2.0 custom_x", 0, "custom_x", 0, 2 },
		{ "", 0, NULL, 0, 0 },		/* a node with no resources */
		{ "0.0/1.0CPU", -EINVAL, NULL, 0, 0 },
		{ "0.0-1.0 CPU", -EINVAL, NULL, 0, 0 },
		{ "0.0/1.0 ", -EINVAL, NULL, 0, 0 },
		{ "/1.0 CPU", -EINVAL, NULL, 0, 0 },
		{ "0.0/1.0 CPU\n", -EINVAL, NULL, 0, 0 },
		{ "0.0/1.0 CPU\n\n0B/1.00GiB memory", -EINVAL, NULL, 0, 0 },
		{ "0.0/1.0 CPU\n0.0/1.0 CPU", -EINVAL, NULL, 0, 0 },
		{ "0B/16.01XiB memory", -EINVAL, NULL, 0, 0 },
		{ "0.0/16.01 memory", -EINVAL, NULL, 0, 0 },
		{ "-1.0/1.0 CPU", -EINVAL, NULL, 0, 0 },
		{ "0.0/1.0 CPU (0.0 used of reserved in placement groups)", -EINVAL, NULL, 0, 0 },
	};
	char err[DASH_ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resmap used = { 0 }, total = { 0 };
		int rc = rtext_parse_node_usage(cases[i].in, strlen(cases[i].in), &used, &total, err);

		CHECK(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		if (!rc && cases[i].name) {
			double u = resmap_get(&used, cases[i].name, -1);
			double t = resmap_get(&total, cases[i].name, -1);

			CHECK(u == cases[i].used && t == cases[i].total, "'%s': %s %g/%g", cases[i].in,
			      cases[i].name, u, t);
		}
		resmap_free(&used);
		resmap_free(&total);
	}
}

/* ---------------------------------------------------------------- matching */

static struct resmap cpu(double n)
{
	struct resmap m = { 0 };

	if (resmap_set(&m, "CPU", n))
		exit(1);
	return m;
}

struct mcase {
	const char *name;
	/* lines: strategy, bundle CPU amounts (0-terminated), count */
	struct { int strategy; double b[3]; long count; } lines[3];
	size_t nl;
	struct { double b[3]; } pgs[4];
	size_t np;
	int rc;
	int want[4];		/* strategy, or -1 = held */
};

static void fill_bundles(const double *b, struct resmap *out, size_t *n)
{
	*n = 0;
	for (size_t k = 0; k < 3 && b[k] > 0; k++)
		out[(*n)++] = cpu(b[k]);
}

static void test_pg_match(void)
{
	enum { P = PLANNER_PG_PACK, SS = PLANNER_PG_STRICT_SPREAD, SP = PLANNER_PG_SPREAD };
	static const struct mcase cases[] = {
		{ "one group", { { SS, { 1, 1 }, 1 } }, 1, { { { 1, 1 } } }, 1, 0, { SS } },
		{ "one strategy, different bundles (the merge caveat)",
		  { { P, { 2 }, 2 } }, 1, { { { 2 } }, { { 1, 1 } } }, 2, 0, { P, P } },
		{ "the recorded mix: examples then the rest",
		  { { SS, { 1, 1 }, 1 }, { P, { 3 }, 2 } }, 2,
		  { { { 2 } }, { { 3 } }, { { 1, 1 } } }, 3, 0, { P, P, SS } },
		{ "two strategies, the same bundles: unknown",
		  { { SS, { 1, 1 }, 1 }, { P, { 1, 1 }, 1 } }, 2,
		  { { { 1, 1 } }, { { 1, 1 } } }, 2, 0, { -1, -1 } },
		{ "non-example groups of two strategies: unknown",
		  { { SS, { 1 }, 2 }, { SP, { 2 }, 2 } }, 2,
		  { { { 1 } }, { { 2 } }, { { 3 } }, { { 4 } } }, 4, 0, { SS, SP, -1, -1 } },
		{ "counts disagree (read at different moments)",
		  { { SS, { 1, 1 }, 2 } }, 1, { { { 1, 1 } } }, 1, -EINVAL, { -1 } },
		{ "an example with no group", { { SS, { 1, 1 }, 1 } }, 1, { { { 2 } } }, 1,
		  -EINVAL, { -1 } },
		{ "nothing pending", { { 0 } }, 0, { { { 0 } } }, 0, 0, { 0 } },
	};
	char why[DASH_ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mcase *mc = &cases[i];
		struct resmap lb[3][3], pb[4][3];
		struct dash_pg lines[3];
		struct dash_api_pg pgs[4];
		int rc;

		memset(lines, 0, sizeof(lines));
		memset(pgs, 0, sizeof(pgs));
		for (size_t l = 0; l < mc->nl; l++) {
			lines[l].strategy = (enum planner_pg_strategy)mc->lines[l].strategy;
			lines[l].count = mc->lines[l].count;
			lines[l].bundles = lb[l];
			fill_bundles(mc->lines[l].b, lb[l], &lines[l].bundle_count);
		}
		for (size_t p = 0; p < mc->np; p++) {
			pgs[p].bundles = pb[p];
			fill_bundles(mc->pgs[p].b, pb[p], &pgs[p].bundle_count);
		}
		rc = pg_match_strategies(lines, mc->nl, pgs, mc->np, why, sizeof(why));
		CHECK(rc == mc->rc, "%s: rc %d want %d (%s)", mc->name, rc, mc->rc, why);
		for (size_t p = 0; p < mc->np; p++) {
			int got = pgs[p].known ? (int)pgs[p].strategy : -1;

			CHECK(got == mc->want[p], "%s: group %zu strategy %d, want %d", mc->name, p,
			      got, mc->want[p]);
		}
		for (size_t l = 0; l < mc->nl; l++)
			for (size_t k = 0; k < lines[l].bundle_count; k++)
				resmap_free(&lb[l][k]);
		for (size_t p = 0; p < mc->np; p++)
			for (size_t k = 0; k < pgs[p].bundle_count; k++)
				resmap_free(&pb[p][k]);
	}
}

/* ---------------------------------------------------------------- end to end on fixtures */

static const struct dash_usage *usage_of(const struct dash_cluster_status *cs, const char *id)
{
	for (size_t i = 0; i < cs->usage_count; i++)
		if (!strcmp(cs->usage[i].key, id))
			return &cs->usage[i];
	return NULL;
}

static void test_v2_fixtures(void)
{
	struct dash_cluster_status cs = { 0 };
	struct rtext_status st;
	struct dash_api_pg *pgs;
	size_t len, np;
	char err[DASH_ERR_LEN] = "", warn[DASH_ERR_LEN] = "";
	char *body = load("v2_pgs_pending.json", &len);

	CHECK(dash_parse_api_pgs(body, len, &pgs, &np, err) == 0, "pgs: %s", err);
	CHECK(np == 3, "3 pending groups, got %zu", np);
	free(body);
	body = load("v2_cluster_status_text_demand.json", &len);
	CHECK(dash_parse_status_text(body, len, &st, err) == 0, "text: %s", err);
	free(body);
	CHECK(dash_v2_status_build(&cs, &st, pgs, np, 1000.0) == 0, "build");
	CHECK(cs.present && cs.source == DASH_CS_V2_TEXT && cs.time == 1000.0, "present, v2");
	CHECK(cs.pg_count == 3 && cs.held_count == 0, "all 3 groups resolved (%zu held: %s)",
	      cs.held_count, cs.held_why);
	long ss = 0, pack = 0;
	for (size_t i = 0; i < cs.pg_count; i++) {
		if (cs.pgs[i].strategy == PLANNER_PG_STRICT_SPREAD)
			ss += cs.pgs[i].bundle_count == 2;
		if (cs.pgs[i].strategy == PLANNER_PG_PACK)
			pack += cs.pgs[i].bundle_count == 1;
	}
	CHECK(ss == 1 && pack == 2, "1 STRICT_SPREAD x2 and 2 PACK x1 (%ld, %ld)", ss, pack);
	CHECK(cs.demand_count == 2 && cs.request_count == 2, "task demand and requests moved");

	body = load("v2_nodes_summary_busy.json", &len);
	CHECK(dash_parse_node_summary(body, len, &cs, warn, err) == 0 && !warn[0],
	      "summary: %s %s", err, warn);
	free(body);
	CHECK(cs.usage_count == 3, "3 nodes' usage");
	const struct dash_usage *u2 = usage_of(&cs, W2), *u1 = usage_of(&cs, W1),
				*h = usage_of(&cs, HEAD);
	CHECK(u2 && resmap_get(&u2->used, "CPU", -1) == 2 && resmap_get(&u2->total, "CPU", -1) == 2,
	      "worker 2: 2/2 CPU including its PG reservation");
	CHECK(u1 && resmap_get(&u1->used, "CPU", -1) == 1, "worker 1: 1 CPU used");
	CHECK(h && !resmap_find(&h->total, "CPU") && resmap_get(&h->used, "memory", -1) == 0,
	      "head: no CPU key, memory unused");

	/* Attach to nodes: worker 1 busy now, idle in the idle recording. */
	struct dash_snapshot snap = { 0 };
	/* The demand merge on the v2 data, with the state API's answer recorded
	 * at the same moment (2 pending 1-CPU tasks, the 2-CPU actor). */
	body = load("v2_tasks_pending.json", &len);
	CHECK(dash_parse_pending(body, len, &snap, err) == 0 && snap.pending_tasks == 2 &&
	      snap.pending_actors == 1, "v2 pending: %s", err);
	free(body);
	snap.cs = cs;
	snap.cs.time = 4e9;	/* every task older than the cut-off: the text's demand only */
	CHECK(dash_merge_demand(&snap, true) == 0 && snap.shape_count == 2 &&
	      snap.new_since_report == 0, "text demand only: %zu shapes", snap.shape_count);
	snap.cs.time = 1;	/* every task newer: added to the text's demand */
	CHECK(dash_merge_demand(&snap, true) == 0 && snap.new_since_report == 3,
	      "tasks newer than the cut-off added: %ld", snap.new_since_report);
	memset(&cs, 0, sizeof(cs));	/* now owned by snap */
	snap.nodes = calloc(2, sizeof(*snap.nodes));
	snap.node_count = 2;
	snap.nodes[0].node_id = strdup(W1);
	snap.nodes[0].alive = true;
	snap.nodes[1].node_id = strdup(W2);
	snap.nodes[1].alive = true;
	if (resmap_set(&snap.nodes[0].total, "CPU", 1) ||
	    resmap_set(&snap.nodes[0].total, "node:127.0.0.1", 1) ||
	    resmap_set(&snap.nodes[1].total, "CPU", 2))
		exit(1);
	dash_attach_usage(&snap);
	CHECK(snap.nodes[0].have_usage && snap.nodes[0].busy &&
	      resmap_get(&snap.nodes[0].available, "CPU", -1) == 0, "worker 1 busy, 0 CPU free");
	CHECK(snap.nodes[1].have_usage && snap.nodes[1].busy, "worker 2 busy");
	dash_cluster_status_free(&snap.cs);
	body = load("v2_nodes_summary_idle.json", &len);
	CHECK(dash_parse_node_summary(body, len, &snap.cs, warn, err) == 0, "idle summary: %s", err);
	free(body);
	dash_attach_usage(&snap);
	CHECK(snap.nodes[0].have_usage && !snap.nodes[0].busy &&
	      resmap_get(&snap.nodes[0].available, "CPU", -1) == 1, "worker 1 idle");
	CHECK(snap.nodes[1].have_usage && !snap.nodes[1].busy, "worker 2 idle");
	dash_snapshot_free(&snap);
}

static void test_v2_bad_json(void)
{
	static const char *summaries[] = {
		"", "{", "{\"result\": true, \"data\": {}}",
		"{\"result\": true, \"data\": {\"nodeLogicalResources\": []}}",
		"{\"result\": false, \"msg\": \"boom\", \"data\": {}}",
	};
	static const char *pgs_bodies[] = {
		"{\"result\": true, \"data\": {\"result\": {\"result\": [{\"state\": \"PENDING\"}]}}}",
		"{\"result\": true, \"data\": {\"result\": {\"result\": [{\"placement_group_id\": "
		"\"a\", \"state\": \"PENDING\", \"bundles\": [{\"unit_resources\": {\"CPU\": -1}}]}]}}}",
		"{\"result\": true, \"data\": {\"result\": {\"result\": [{\"placement_group_id\": "
		"\"a\", \"state\": \"PENDING\", \"bundles\": [{\"unit_resources\": {}, \"node_id\": 5}]}]}}}",
		"{\"result\": true, \"data\": {\"result\": {\"result\": [], "
		"\"partial_failure_warning\": \"raylet down\"}}}",
	};
	char err[DASH_ERR_LEN], warn[DASH_ERR_LEN];

	for (size_t i = 0; i < sizeof(summaries) / sizeof(summaries[0]); i++) {
		struct dash_cluster_status cs = { 0 };

		err[0] = '\0';
		CHECK(dash_parse_node_summary(summaries[i], strlen(summaries[i]), &cs, warn, err) ==
		      -EINVAL && err[0], "summary #%zu rejected", i);
		dash_cluster_status_free(&cs);
	}
	/* One bad node text: that node is left out, the others kept. */
	const char *one_bad = "{\"result\": true, \"data\": {\"nodeLogicalResources\": "
			      "{\"a\": \"0.0/1.0 CPU\", \"b\": \"zero of one CPU\", \"c\": 7}}}";
	struct dash_cluster_status cs = { 0 };
	CHECK(dash_parse_node_summary(one_bad, strlen(one_bad), &cs, warn, err) == 0 &&
	      cs.usage_count == 1 && !strcmp(cs.usage[0].key, "a") && warn[0],
	      "bad nodes left out: %zu kept, warn '%s'", cs.usage_count, warn);
	dash_cluster_status_free(&cs);
	for (size_t i = 0; i < sizeof(pgs_bodies) / sizeof(pgs_bodies[0]); i++) {
		struct dash_api_pg *pgs = NULL;
		size_t n = 0;

		err[0] = '\0';
		CHECK(dash_parse_api_pgs(pgs_bodies[i], strlen(pgs_bodies[i]), &pgs, &n, err) ==
		      -EINVAL && err[0] && !pgs, "pgs #%zu rejected", i);
	}
	/* Placed bundles and created groups are not demand. */
	const char *placed = "{\"result\": true, \"data\": {\"result\": {\"result\": ["
		"{\"placement_group_id\": \"a\", \"state\": \"RESCHEDULING\", \"bundles\": ["
		"{\"unit_resources\": {\"CPU\": 1}, \"node_id\": \"n1\"},"
		"{\"unit_resources\": {\"CPU\": 2}, \"node_id\": null}]},"
		"{\"placement_group_id\": \"b\", \"state\": \"CREATED\", \"bundles\": ["
		"{\"unit_resources\": {\"CPU\": 1}, \"node_id\": \"\"}]}]}}}";
	struct dash_api_pg *pgs = NULL;
	size_t n = 0;
	CHECK(dash_parse_api_pgs(placed, strlen(placed), &pgs, &n, err) == 0 && n == 1 &&
	      pgs[0].bundle_count == 1 && resmap_get(&pgs[0].bundles[0], "CPU", 0) == 2,
	      "only the unplaced bundle of the rescheduling group (%s)", err);
	dash_api_pgs_free(pgs, n);
}

int main(void)
{
	test_pydict();
	test_status_text_fixture();
	test_status_text_table();
	test_usage_text();
	test_pg_match();
	test_v2_fixtures();
	test_v2_bad_json();
	CHECK_EXIT();
}
