/* test_fuzz_regress.c -- regression tests made from the reproducers that
 * libFuzzer (tests/fuzz, docs/fuzzing.md) found, one table per root fix:
 * the checked JSON accessors (strings, int32 ranges, UTF-8, NUL, duplicate
 * keys), (ptr, len) buffers that are not NUL-terminated, and the agent
 * table's capacity, eviction and counters. */
#include "check.h"

#include "agent/raylet_proc.h"
#include "common/json_util.h"
#include "controller/provider/leader.h"
#include "controller/provider/provider_kuberay.h"
#include "controller/source/ray_text.h"
#include "controller/plan/resmap.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define GROUP_TMPL "\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]}}"
#define RC(groups) "{\"spec\":{\"workerGroupSpecs\":[" groups "]}}"

struct bad_case {
	const char *in;
	const char *msg;	/* expected in the error */
};

/* A document strings and numbers of which rs_json_parse must refuse. */
static void test_json_text(void)
{
	static const struct bad_case bad[] = {
		{ "{\"a\":\"x\\u0000y\"}", "NUL" },
		{ "{\"a\":\"\\u0000\"}", "NUL" },
		{ "{\"a\":\"x\x01y\"}", "control character" },
		{ "{\"a\":\"\xc0\xaf\"}", "invalid UTF-8" },		/* overlong '/' */
		{ "{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8" },	/* surrogate */
		{ "{\"a\":\"\xe2\x82\"}", "invalid UTF-8" },		/* truncated */
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8" },	/* > U+10FFFF */
		{ "{\"a\":\"\xff\"}", "invalid UTF-8" },
	};
	static const char *const good[] = {
		"{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", "{\"a\":\"\\\\u0000\"}",
		"{\"a\":\"\\\"\\u00e9\"}", "[\"\\n\\t\"]",
	};
	struct rs_json_error err;
	cJSON *root;

	for (size_t i = 0; i < N(bad); i++) {
		err.msg[0] = '\0';
		CHECK(rs_json_parse(bad[i].in, strlen(bad[i].in), &root, &err) == -EINVAL &&
		      strstr(err.msg, bad[i].msg), "bad #%zu: '%s'", i, err.msg);
	}
	/* A raw NUL inside a string (strlen would stop there: pass the length). */
	CHECK(rs_json_parse("{\"a\":\"x\0y\"}", 11, &root, &err) == -EINVAL &&
	      strstr(err.msg, "control character"), "raw NUL: '%s'", err.msg);
	for (size_t i = 0; i < N(good); i++) {
		root = NULL;
		CHECK(rs_json_parse(good[i], strlen(good[i]), &root, &err) == 0, "good #%zu: %s", i,
		      err.msg);
		cJSON_Delete(root);
	}
}

struct int_case {
	const char *doc;
	int64_t min, max;
	int rc;
	int64_t want;
};

static void test_json_int(void)
{
	static const struct int_case cases[] = {
		{ "{\"n\":5}", 0, INT32_MAX, 0, 5 },
		{ "{\"n\":2147483647}", 0, INT32_MAX, 0, INT32_MAX },
		{ "{\"n\":2147483648}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":1e10}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":1e999}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":-1e999}", INT32_MIN, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":-1}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":1.5}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":\"5\"}", 0, INT32_MAX, -EINVAL, 0 },
		{ "{\"n\":null}", 0, INT32_MAX, -ENOENT, 0 },
		{ "{}", 0, INT32_MAX, -ENOENT, 0 },
	};
	struct rs_json_error err;

	for (size_t i = 0; i < N(cases); i++) {
		cJSON *root = NULL;
		int64_t v = 0;
		int rc;

		CHECK(rs_json_parse(cases[i].doc, strlen(cases[i].doc), &root, &err) == 0, "%s",
		      err.msg);
		rc = rs_json_get_int(root, "$", "n", false, cases[i].min, cases[i].max, &v, &err);
		CHECK(rc == cases[i].rc && (rc || v == cases[i].want),
		      "int #%zu %s: rc %d v %lld", i, cases[i].doc, rc, (long long)v);
		cJSON_Delete(root);
	}
}

/* Duplicate keys at both sides of the pairwise/sorted threshold (16). */
static void test_json_unique_keys_sizes(void)
{
	static const struct { int members, dup_a, dup_b; } cases[] = {
		{ 2, -1, -1 }, { 2, 0, 1 }, { 16, -1, -1 }, { 16, 0, 15 }, { 16, 7, 8 },
		{ 17, -1, -1 }, { 17, 0, 16 }, { 40, -1, -1 }, { 40, 39, 3 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct rs_json_error err = { { 0 } };
		cJSON *o = cJSON_CreateObject();
		char key[16];

		for (int i = 0; i < cases[c].members; i++) {
			snprintf(key, sizeof(key), "k%d", i == cases[c].dup_b ? cases[c].dup_a : i);
			cJSON_AddItemToObject(o, key, cJSON_CreateNumber(i));
		}
		CHECK(rs_json_check_unique_keys(o, &err) == (cases[c].dup_a < 0 ? 0 : -EINVAL),
		      "case %zu (%d members, duplicate %d/%d): %s", c, cases[c].members,
		      cases[c].dup_a, cases[c].dup_b, err.msg);
		cJSON_Delete(o);
	}
}

static void test_json_str_and_keys(void)
{
	const char *doc = "{\"s\":\"abcd\",\"z\":null,\"n\":1,\"o\":{\"k\":1,\"k\":2}}";
	struct rs_json_error err;
	const char *s = NULL;
	cJSON *root = NULL;

	CHECK(rs_json_parse(doc, strlen(doc), &root, &err) == 0, "%s", err.msg);
	CHECK(rs_json_get_str(root, "$", "s", true, 4, &s, &err) == 0 && !strcmp(s, "abcd"),
	      "4 bytes fit");
	CHECK(rs_json_get_str(root, "$", "s", true, 3, &s, &err) == -EINVAL &&
	      strstr(err.msg, "$.s: longer than 3"), "too long: %s", err.msg);
	CHECK(rs_json_get_str(root, "$", "z", true, 0, &s, &err) == -EINVAL, "null required");
	CHECK(rs_json_get_str(root, "$", "z", false, 0, &s, &err) == -ENOENT, "null optional");
	CHECK(rs_json_get_str(root, "$", "n", false, 0, &s, &err) == -EINVAL, "number");
	CHECK(rs_json_check_unique_keys(root, &err) == -EINVAL && strstr(err.msg, "'k'"),
	      "nested duplicate: %s", err.msg);
	CHECK(!strcmp(rs_json_key(cJSON_GetArrayItem(root, 0)), "s"), "key of a member");
	cJSON_Delete(root);
	root = cJSON_Parse("[1]");
	CHECK(!strcmp(rs_json_key(cJSON_GetArrayItem(root, 0)), ""), "key of an array item");
	cJSON_Delete(root);
	CHECK(rs_json_key(NULL)[0] == '\0', "key of nothing");
}

/* null or an array where a name or a map is expected, and counts out of
 * the CRD's int32 range. */
static void test_raycluster(void)
{
	static const struct bad_case bad[] = {
		{ RC("{\"groupName\":null," GROUP_TMPL "}"), "groupName" },
		{ RC("{\"groupName\":\"g\",\"replicas\":1e10," GROUP_TMPL "}"), "replicas" },
		{ RC("{\"groupName\":\"g\",\"replicas\":1e999," GROUP_TMPL "}"), "replicas" },
		{ RC("{\"groupName\":\"g\",\"minReplicas\":-1," GROUP_TMPL "}"), "minReplicas" },
		{ RC("{\"groupName\":\"g\",\"maxReplicas\":2.5," GROUP_TMPL "}"), "maxReplicas" },
		{ RC("{\"groupName\":\"g\",\"numOfHosts\":0," GROUP_TMPL "}"), "numOfHosts" },
		{ RC("{\"groupName\":\"g\",\"minReplicas\":100000,\"numOfHosts\":100000,"
		     GROUP_TMPL "}"), "beyond int32" },
	};
	static const struct bad_case bad_type[] = {
		{ RC("{\"groupName\":\"g\",\"rayStartParams\":{\"num-cpus\":\"1\"},\"template\":"
		     "{\"spec\":{\"containers\":[{\"resources\":{\"limits\":[\"1\"]}}]}}}"),
		  "not a map" },
		{ RC("{\"groupName\":\"g\",\"resources\":[\"1\"]," GROUP_TMPL "}"), "not a map" },
		{ RC("{\"groupName\":\"g\",\"resources\":{\"\":\"1\"}," GROUP_TMPL "}"), "empty name" },
		{ RC("{\"groupName\":\"g\",\"rayStartParams\":{\"num-cpus\":\"99999999999999999999\"},"
		     GROUP_TMPL "}"), "whole number" },
		{ RC("{\"groupName\":\"g\",\"template\":{\"spec\":{\"containers\":[{\"resources\":"
		     "{\"limits\":{\"cpu\":1e999}}}]}}}"), "not a quantity" },
		{ RC("{\"groupName\":\"g\",\"rayStartParams\":{\"resources\":\"'[1]'\"},"
		     GROUP_TMPL "}"), "not a quoted JSON object" },
		{ RC("{\"groupName\":\"g\",\"rayStartParams\":{\"resources\":\"'{\\\"\\\": 1}'\"},"
		     GROUP_TMPL "}"), "empty name" },
	};
	struct kuberay_group *gs;
	char err[300];
	size_t n;

	for (size_t i = 0; i < N(bad); i++) {
		err[0] = '\0';
		CHECK(kuberay_parse_raycluster(bad[i].in, strlen(bad[i].in), &gs, &n, err,
					       sizeof(err)) == -EINVAL && strstr(err, bad[i].msg),
		      "bad #%zu: '%s'", i, err);
	}
	for (size_t i = 0; i < N(bad_type); i++) {
		int rc = kuberay_parse_raycluster(bad_type[i].in, strlen(bad_type[i].in), &gs, &n,
						  err, sizeof(err));

		CHECK(rc == 0 && n == 1 && !gs[0].type_ok && strstr(gs[0].type_error, bad_type[i].msg),
		      "bad type #%zu: rc %d '%s'", i, rc, rc ? err : gs[0].type_error);
		if (!rc)
			kuberay_groups_free(gs, n);
	}
	CHECK(resmap_set(&(struct resmap){ 0 }, NULL, 1) == -EINVAL, "resmap_set(NULL name)");
}

static void test_lease(void)
{
	static const char *const bad[] = { "1e10", "-1", "1.5", "1e999", "\"15\"" };
	struct lease_record r;
	char doc[256], err[KUBE_ERR_LEN], rv[32];

	for (size_t i = 0; i < N(bad); i++) {
		snprintf(doc, sizeof(doc), "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
			 "\"holderIdentity\":\"a\",\"leaseDurationSeconds\":%s}}", bad[i]);
		err[0] = '\0';
		CHECK(lease_record_decode(doc, strlen(doc), &r, rv, sizeof(rv), err) == -EINVAL &&
		      strstr(err, "leaseDurationSeconds"), "duration %s: '%s'", bad[i], err);
		snprintf(doc, sizeof(doc), "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
			 "\"leaseTransitions\":%s}}", bad[i]);
		CHECK(lease_record_decode(doc, strlen(doc), &r, rv, sizeof(rv), err) == -EINVAL,
		      "transitions %s", bad[i]);
	}
	snprintf(doc, sizeof(doc), "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
		 "\"leaseDurationSeconds\":2147483647,\"leaseTransitions\":3}}");
	CHECK(lease_record_decode(doc, strlen(doc), &r, rv, sizeof(rv), err) == 0 &&
	      r.duration_s == INT32_MAX && r.transitions == 3, "int32 max: %s", err);
}

/* The input sits in a larger buffer followed by bytes that must never
 * appear in a message: the parsers get (ptr, len), no NUL. */
static void test_unterminated_text(void)
{
	static const struct { const char *in; int which; } cases[] = {
		{ "{'CPU' 1.0", 0 }, { "{'CPU': x", 0 }, { "garbage", 1 },
		{ "======== Autoscaler status: x\nFrom request_resources:\n {'A", 1 },
		{ "1.0/2.0", 2 },
	};
	char err[DASH_ERR_LEN];

	for (size_t i = 0; i < N(cases); i++) {
		size_t len = strlen(cases[i].in);
		char *buf = malloc(len + 8);
		struct resmap a = { 0 }, b = { 0 };
		struct rtext_status st;
		size_t used;
		int rc;

		if (!buf)
			abort();
		memcpy(buf, cases[i].in, len);
		memcpy(buf + len, "SECRET!", 8);
		err[0] = '\0';
		rc = cases[i].which == 0 ? rtext_parse_pydict(buf, len, &used, &a, err) :
		     cases[i].which == 1 ? rtext_parse_status(buf, len, &st, err) :
					   rtext_parse_node_usage(buf, len, &a, &b, err);
		CHECK(rc == -EINVAL && err[0] && !strstr(err, "SECRET"), "#%zu: '%s'", i, err);
		resmap_free(&a);
		resmap_free(&b);
		free(buf);
	}
}

/* The last argument runs to the end of the buffer: a prefix of a flag
 * must not be read on into what follows. */
static void test_raylet_argv(void)
{
	static const struct { const char *buf; size_t len; const char *node; unsigned mp; } cases[] = {
		{ "--node_id=abcdef", 9, "", 0 },
		{ "--node_id=abcdef", 12, "ab", 0 },
		{ "x\0--node_id", 11, "", 0 },
		{ "--metrics_export_port=80801", 24, "", 80 },
	};

	for (size_t i = 0; i < N(cases); i++) {
		char node[RS_NODE_ID_LEN] = "junk";
		unsigned int mp = 1, nm = 1;

		rs_raylet_parse_argv(cases[i].buf, cases[i].len, node, sizeof(node), &mp, &nm);
		CHECK(!strcmp(node, cases[i].node) && mp == cases[i].mp && nm == 0,
		      "#%zu: node '%s' metrics %u", i, node, mp);
	}
}

#define DOC(seq, name) "{\"schema_version\":1,\"seq\":" seq ",\"taken_unix_ms\":1," \
	"\"node\":{\"node_name\":\"" name "\"},\"workers\":[]}"

static void test_signals_parse(void)
{
	static const struct bad_case bad[] = {
		{ "{\"schema_version\":1,\"seq\":1,\"seq\":2,\"taken_unix_ms\":1,"
		  "\"node\":{\"node_name\":\"a\"},\"workers\":[]}", "duplicate key 'seq'" },
		{ DOC("1e999", "a"), "$.seq" },
		{ DOC("-1", "a"), "$.seq" },
		{ DOC("1.5", "a"), "$.seq" },
		{ DOC("1", "a\\u0000b"), "NUL" },
		{ DOC("1", "a\xff"), "UTF-8" },
		{ "{\"schema_version\":1,\"seq\":1,\"taken_unix_ms\":1e999,"
		  "\"node\":{\"node_name\":\"a\"},\"workers\":[]}", "taken_unix_ms" },
		{ "{\"schema_version\":1,\"seq\":1,\"taken_unix_ms\":1,\"node\":{\"node_name\":\"a\"},"
		  "\"workers\":[{\"ray_node_id\":\"x\",\"busy_workers\":1e999}]}", "busy_workers" },
	};
	struct signals *s = signals_new();
	char err[256];

	if (!s)
		abort();
	for (size_t i = 0; i < N(bad); i++) {
		err[0] = '\0';
		CHECK(signals_ingest(s, bad[i].in, strlen(bad[i].in), 0, err, sizeof(err)) == -EINVAL &&
		      strstr(err, bad[i].msg), "bad #%zu: '%s'", i, err);
	}
	/* A raw NUL byte in a name. */
	CHECK(signals_ingest(s, DOC("1", "a\0b"), sizeof(DOC("1", "a\0b")) - 1, 0, err,
			     sizeof(err)) == -EINVAL, "raw NUL in node_name");
	CHECK(signals_count(s) == 0, "nothing kept");
	signals_free(s);
}

static int ingest(struct signals *s, const char *doc, double now)
{
	char err[256];

	return signals_ingest(s, doc, strlen(doc), now, err, sizeof(err));
}

/* Full of live agents: refuse and count; an entry past the max age makes
 * room (counted as evicted). */
static void test_signals_capacity(void)
{
	struct signals *s = signals_new();
	struct signals_stats st;

	if (!s)
		abort();
	signals_stats(s, &st);
	CHECK(st.capacity == SIGNALS_DEFAULT_CAPACITY, "default capacity %zu", st.capacity);
	CHECK(signals_configure(s, 0, 30) == -EINVAL, "capacity 0");
	CHECK(signals_configure(s, 2, 30) == 0, "capacity 2");
	CHECK(ingest(s, DOC("1", "a"), 0) == 0 && ingest(s, DOC("1", "b"), 5) == 0, "2 fit");
	CHECK(ingest(s, DOC("1", "c"), 10) == -ENOSPC, "third refused while a, b are live");
	CHECK(ingest(s, DOC("2", "a"), 20) == 0, "a known agent still updates when full");
	CHECK(signals_configure(s, 1, 30) == -EINVAL, "cannot shrink below the agents kept");
	signals_stats(s, &st);
	CHECK(st.entries == 2 && st.rejected_full_total == 1 && st.evicted_total == 0,
	      "entries %zu rejected %llu evicted %llu", st.entries, st.rejected_full_total,
	      st.evicted_total);
	CHECK(ingest(s, DOC("1", "c"), 36) == 0, "b (heard at 5) is stale at 36: evicted");
	signals_stats(s, &st);
	CHECK(st.entries == 2 && st.evicted_total == 1 && st.rejected_full_total == 1,
	      "after eviction: entries %zu evicted %llu", st.entries, st.evicted_total);
	CHECK(ingest(s, DOC("1", "d"), 40) == -ENOSPC, "a (20) and c (36) live");
	signals_stats(s, &st);
	CHECK(st.rejected_full_total == 2, "rejections counted: %llu", st.rejected_full_total);
	signals_free(s);
}

int main(void)
{
	test_json_text();
	test_json_int();
	test_json_str_and_keys();
	test_json_unique_keys_sizes();
	test_raycluster();
	test_lease();
	test_unterminated_text();
	test_raylet_argv();
	test_signals_parse();
	test_signals_capacity();
	CHECK_EXIT();
}
