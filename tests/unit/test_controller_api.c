/* test_controller_api.c -- the controller's HTTP API over real HTTP
 * (libmicrohttpd server, libcurl client): POST /api/v1/signals rejects a
 * missing or wrong bearer token (401), a malformed or invalid snapshot (400)
 * and an oversized body (413), keeps a valid gzip snapshot (202) as the
 * latest per agent node and turns it into busy hints; /healthz, /readyz
 * (503 before any fetch), /metrics, /api/v1/status and /api/v1/decisions
 * answer; unknown paths 404.  Also the worker-group config parser. */
#include "check.h"
#include "common/http_client.h"
#include "common/util.h"
#include "controller/api.h"
#include "controller/config.h"
#include "controller/controller.h"
#include "controller/plan/planner_types.h"
#include "controller/provider/provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "s3cret-token"

static const char *snapshot =
	"{\"schema_version\":1,\"agent_version\":\"0.1.0\",\"seq\":7,\"taken_unix_ms\":1795764000000,"
	"\"interval_seconds\":5,\"push_dropped_total\":0,"
	"\"node\":{\"node_name\":\"vm\",\"hostname\":\"vm\"},\"histograms\":[],\"values\":[],"
	"\"workers\":[{\"raylet_pid\":123,\"ray_node_id\":\"abc123\",\"busy_workers\":2,"
	"\"idle_workers\":1,\"seconds_since_busy\":0.5},"
	"{\"raylet_pid\":124,\"ray_node_id\":\"def456\",\"busy_workers\":0,"
	"\"idle_workers\":0,\"seconds_since_busy\":null}],\"timelines\":[]}";

/* What an agent pushes by default (agent/push_compact.h). */
static const char *compact =
	"{\"schema_version\":2,\"seq\":3,\"taken_unix_ms\":1795764000000,\"interval_seconds\":5,"
	"\"node\":{\"node_name\":\"vm2\",\"hostname\":\"vm2\"},\"histograms\":[],\"values\":[],"
	"\"workers\":[{\"raylet_pid\":125,\"ray_node_id\":\"ghi789\",\"busy_workers\":3,"
	"\"idle_workers\":0,\"seconds_since_busy\":1.5}],\"timelines\":[]}";

static long post(int port, const char *token, const char *body, size_t len, bool gzip,
		 char *out, size_t out_size)
{
	char url[128];
	struct rs_http_client_request req = {
		.method = "POST", .url = url, .bearer_token = token, .body = body,
		.body_len = len, .gzip_body = gzip, .timeout_ms = 5000,
	};
	struct rs_http_client_response resp;
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/signals", port);
	if (rs_http_do(&req, &resp)) {
		rs_http_response_free(&resp);
		return -1;
	}
	status = resp.status;
	snprintf(out, out_size, "%s", resp.body ? resp.body : "");
	rs_http_response_free(&resp);
	return status;
}

static long get(int port, const char *path, char **body)
{
	char url[256];
	struct rs_http_client_request req = { .url = url, .timeout_ms = 5000 };
	struct rs_http_client_response resp;
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	if (rs_http_do(&req, &resp)) {
		rs_http_response_free(&resp);
		return -1;
	}
	status = resp.status;
	if (body)
		*body = resp.body ? strdup(resp.body) : strdup("");
	rs_http_response_free(&resp);
	return status;
}

static void test_api(void)
{
	char dir[] = "/tmp/rs-ctl-api-XXXXXX", err[256], out[1024];
	struct controller_config cfg;
	struct provider_local_config lp = { 0 };
	struct controller_opts o = { 0 };
	struct dash_client dash = { 0 };
	struct controller_api_config ac = { .host = "127.0.0.1", .port = 0, .token = TOKEN,
					    .max_body = 64 * 1024 };
	struct controller *c = NULL;
	struct rs_http_server *srv = NULL;
	char *big, *body = NULL;
	int port, busy;
	double age;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	config_init(&cfg);
	CHECK(config_add_group_spec(&cfg, "cpu1:CPU=1,min=0,max=4,idle=15", err, sizeof(err)) == 0,
	      "%s", err);
	lp.address = "127.0.0.1:1";
	lp.state_dir = dir;
	lp.node_temp_root = dir;
	CHECK(provider_local_create(&lp, &o.provider, err) == 0, "provider: %s", err);
	/* A dashboard nobody listens on: the controller must hold, not act. */
	dash.base_url = "http://127.0.0.1:1";
	dash.timeout_ms = 500;
	CHECK(dash_source_create(&dash, -1, -1, &o.source) == 0, "dash_source_create");
	o.config = &cfg;
	CHECK(controller_create(&o, &c) == 0, "controller_create");
	CHECK(controller_api_start(c, &ac, &srv) == 0, "api start");
	if (!srv)
		return;
	port = controller_api_port(srv);

	CHECK(post(port, NULL, snapshot, strlen(snapshot), true, out, sizeof(out)) == 401,
	      "no token -> 401 (%s)", out);
	CHECK(post(port, "wrong", snapshot, strlen(snapshot), true, out, sizeof(out)) == 401,
	      "wrong token -> 401");
	CHECK(post(port, TOKEN, "{\"schema_version\":1,", 20, true, out, sizeof(out)) == 400,
	      "truncated JSON -> 400");
	CHECK(strstr(out, "truncated") || strstr(out, "malformed"), "says why: %s", out);
	CHECK(post(port, TOKEN, "{\"schema_version\":2}", 20, false, out, sizeof(out)) == 400,
	      "missing fields -> 400 (%s)", out);
	CHECK(post(port, TOKEN, "{\"schema_version\":3}", 20, false, out, sizeof(out)) == 400 &&
	      strstr(out, "1: full snapshot, 2: compact push"),
	      "unknown version -> 400 naming the versions read (%s)", out);
	CHECK(post(port, TOKEN, "[1,2]", 5, false, out, sizeof(out)) == 400, "array -> 400");
	big = malloc(200 * 1024);
	memset(big, ' ', 200 * 1024);
	CHECK(post(port, TOKEN, big, 200 * 1024, false, out, sizeof(out)) == 413,
	      "200 KiB over a 64 KiB limit -> 413 (%s)", out);
	free(big);
	CHECK(signals_count(controller_signals(c)) == 0, "nothing kept from bad posts");

	CHECK(post(port, TOKEN, snapshot, strlen(snapshot), true, out, sizeof(out)) == 202,
	      "valid gzip snapshot -> 202 (%s)", out);
	CHECK(post(port, TOKEN, snapshot, strlen(snapshot), false, out, sizeof(out)) == 202,
	      "plain JSON accepted too");
	CHECK(signals_count(controller_signals(c)) == 1, "latest per agent node: 1 agent");
	CHECK(post(port, TOKEN, compact, strlen(compact), true, out, sizeof(out)) == 202,
	      "compact push (schema_version 2) -> 202 (%s)", out);
	CHECK(!strcmp(out, "{}"), "no --max-push-rate: the answer asks nothing (%s)", out);
	CHECK(signals_count(controller_signals(c)) == 2, "the compact push's agent kept too");
	CHECK(signals_busy_hint(controller_signals(c), "ghi789", 1e12, 1e13, &busy, &age) &&
	      busy == 3 && age >= 1.5, "busy hint from the compact push %d %f", busy, age);
	CHECK(signals_busy_hint(controller_signals(c), "abc123", 1e12, 1e13, &busy, &age) &&
	      busy == 2 && age >= 0.5, "busy hint %d %f", busy, age);
	CHECK(signals_busy_hint(controller_signals(c), "def456", 1e12, 1e13, &busy, &age) &&
	      busy == 0 && age < 0, "never busy -> age unknown");
	CHECK(!signals_busy_hint(controller_signals(c), "zzz", 1e12, 1e13, &busy, &age) &&
	      busy == -1, "unknown node -> no hint");

	CHECK(get(port, "/healthz", NULL) == 200, "healthz");
	CHECK(get(port, "/readyz", NULL) == 503, "not ready before a successful fetch");
	CHECK(controller_tick(c) == 0, "a tick against a dead dashboard holds");
	CHECK(get(port, "/readyz", NULL) == 503, "still not ready");
	CHECK(get(port, "/api/v1/decisions", &body) == 200 && strstr(body, "\"hold\""),
	      "hold decision recorded: %s", body ? body : "");
	free(body);
	CHECK(get(port, "/api/v1/status", &body) == 200 && strstr(body, "holding") &&
	      strstr(body, "\"vm\""), "status shows hold and the agent: %.300s", body ? body : "");
	free(body);
	CHECK(get(port, "/metrics", &body) == 200 &&
	      strstr(body, "raysense_controller_errors_total{source=\"gcs_healthz\"} 1") &&
	      strstr(body, "raysense_controller_launches_total{type=\"cpu1\"} 0") &&
	      strstr(body, "raysense_controller_loop_duration_seconds_count 1"),
	      "metrics: %.600s", body ? body : "");
	free(body);
	CHECK(get(port, "/api/v1/decisions?limit=x", NULL) == 400, "bad limit -> 400");
	CHECK(get(port, "/nope", NULL) == 404, "unknown path -> 404");

	/* --max-push-rate: two live agents (vm, vm2) at 1 a second ask for 2 s,
	 * at 0.1 a second for 20 s, bounded to 10; at 4 a second for nothing. */
	static const struct { double rate; const char *answer; } asks[] = {
		{ 1, "{\"push_interval_s\":2}" },
		{ 0.1, "{\"push_interval_s\":10}" },
		{ 4, "{}" },
	};
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		controller_api_stop(srv);
		ac.max_push_rate = asks[i].rate;
		srv = NULL;
		CHECK(controller_api_start(c, &ac, &srv) == 0, "api restart");
		if (!srv)
			return;
		port = controller_api_port(srv);
		CHECK(post(port, TOKEN, compact, strlen(compact), true, out, sizeof(out)) == 202 &&
		      !strcmp(out, asks[i].answer), "max_push_rate %g: %s", asks[i].rate, out);
	}
	CHECK(signals_live_count(controller_signals(c), rs_now_unix()) == 2, "2 live agents");
	CHECK(signals_live_count(controller_signals(c), rs_now_unix() + 1e6) == 0,
	      "silent longer than the signal max age: not live");

	controller_api_stop(srv);
	controller_destroy(c);
	config_free(&cfg);
	snprintf(out, sizeof(out), "rm -rf %s", dir);
	CHECK(system(out) == 0, "cleanup");
}

static void test_config(void)
{
	struct controller_config cfg;
	char err[256];
	const char *good = "{\"max_workers\": 6, \"upscaling_speed\": 2, \"idle_timeout_s\": 30,"
		"\"worker_groups\": [{\"name\": \"cpu1\", \"resources\": {\"CPU\": 1},"
		"\"min_workers\": 1, \"max_workers\": 4, \"idle_timeout_s\": 15},"
		"{\"name\": \"custom\", \"resources\": {\"CPU\": 1, \"custom_x\": 2}}]}";
	static const char *bad_json[] = {
		"{\"worker_groups\": [{\"name\": \"a b\", \"resources\": {\"CPU\": 1}}]}",
		"{\"worker_groups\": [{\"name\": \"a\", \"resources\": {\"CPU\": -1}}]}",
		"{\"worker_groups\": [{\"name\": \"a\", \"resources\": {\"CPU\": 1}, \"max_workers\": 1.5}]}",
		"{\"worker_groups\": {}}",
		"{\"worker_groups\": [], \"upscaling_speed\": \"fast\"}",
		"{\"worker_groups\": [",
	};
	static const char *bad_specs[] = {
		"nocolon", "cpu:CPU", "cpu:min=-1", "cpu:CPU=abc", "c/d:CPU=1", ":CPU=1",
		"m:CPU=1,memory=1e15", "m:CPU=1,memory=-1", "m:CPU=1,idle=1e10",
	};

	config_init(&cfg);
	CHECK(config_parse_json(&cfg, good, strlen(good), err, sizeof(err)) == 0, "%s", err);
	CHECK(cfg.group_count == 2 && cfg.max_workers == 6 && cfg.upscaling_speed == 2,
	      "parsed");
	CHECK(cfg.groups[0].min_workers == 1 && cfg.groups[0].idle_timeout_s == 15 &&
	      cfg.groups[1].idle_timeout_s < 0 && cfg.groups[1].max_workers == 10, "defaults");
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	CHECK(config_add_group_spec(&cfg, "cpu1:CPU=1", err, sizeof(err)) == 0, "spec");
	CHECK(config_validate(&cfg, err, sizeof(err)) == -EINVAL && strstr(err, "twice"),
	      "duplicate: %s", err);
	config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		config_init(&cfg);
		err[0] = '\0';
		CHECK(config_parse_json(&cfg, bad_json[i], strlen(bad_json[i]), err, sizeof(err)) ==
		      -EINVAL && err[0], "bad config %zu rejected with a message", i);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		config_init(&cfg);
		err[0] = '\0';
		CHECK(config_add_group_spec(&cfg, bad_specs[i], err, sizeof(err)) == -EINVAL && err[0],
		      "bad spec '%s' rejected", bad_specs[i]);
		config_free(&cfg);
	}
	config_init(&cfg);
	CHECK(config_add_group_spec(&cfg, "g:CPU=1,min=3,max=2", err, sizeof(err)) == 0 &&
	      config_validate(&cfg, err, sizeof(err)) == -EINVAL, "min > max rejected");
	config_free(&cfg);
	/* memory in bytes, as in the JSON config (was refused above 1e9). */
	config_init(&cfg);
	CHECK(config_add_group_spec(&cfg, "m:CPU=1,memory=4294967296,object_store_memory=1e9",
				    err, sizeof(err)) == 0 &&
	      resmap_get(&cfg.groups[0].resources, "memory", 0) == 4294967296.0 &&
	      resmap_get(&cfg.groups[0].resources, "object_store_memory", 0) == 1e9,
	      "memory=N accepted: %s", err);
	config_free(&cfg);
	/* Group and launch limits go up to the planner's node limit, so that a
	 * backlog of 100,000 tasks can be planned in one tick (demand-at-scale
	 * bench: ~50,000 four-CPU nodes), and no further. */
	for (int over = 0; over <= 1; over++) {
		char doc[256], spec[64];
		long n = PLANNER_MAX_NODES + over;
		int want = over ? -EINVAL : 0;

		snprintf(doc, sizeof(doc), "{\"max_concurrent_launches\": %ld, \"worker_groups\": "
			 "[{\"name\": \"w\", \"resources\": {\"CPU\": 4}, \"min_workers\": 0, "
			 "\"max_workers\": %ld}]}", n, n);
		config_init(&cfg);
		err[0] = '\0';
		CHECK(config_parse_json(&cfg, doc, strlen(doc), err, sizeof(err)) == want &&
		      (over ? err[0] != '\0' : cfg.max_concurrent_launches == n &&
		       cfg.groups[0].max_workers == n), "limits %ld: %s", n, err);
		config_free(&cfg);
		snprintf(spec, sizeof(spec), "w:CPU=4,min=0,max=%ld", n);
		config_init(&cfg);
		CHECK(config_add_group_spec(&cfg, spec, err, sizeof(err)) == want &&
		      (over || cfg.groups[0].max_workers == n), "spec %s: %s", spec, err);
		config_free(&cfg);
	}
}

int main(void)
{
	if (rs_http_global_init())
		return 1;
	test_config();
	test_api();
	rs_http_global_cleanup();
	CHECK_EXIT();
}
