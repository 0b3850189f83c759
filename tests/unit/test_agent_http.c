/* test_agent_http.c -- the agent's endpoints over real HTTP (libmicrohttpd
 * server, libcurl client) with an injected collector, no BPF needed:
 * /readyz follows the attached flag AND map readability and lists each
 * family's attach result and the lease probes missing on a raylet, /metrics
 * has raysense_agent_probe_family_attached per family, /metrics and
 * /metrics.json answer 503 with a reason when nothing is pinned, gzip is
 * negotiated, unknown paths are 404, and a burst of concurrent scrapes
 * shares collections (the maps are walked a bounded number of times). */
#include "check.h"
#include "agent/agent_http.h"
#include "agent/export.h"
#include "common/http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int collect_calls;
static atomic_int maps_pinned;
static struct rs_hist_series hist;
static struct rs_value_series missing;

static int fake_collect(const char *pin_dir, struct rs_snapshot *snap)
{
	(void)pin_dir;
	atomic_fetch_add(&collect_calls, 1);
	memset(snap, 0, sizeof(*snap));
	if (!atomic_load(&maps_pinned))
		return -ENOENT;
	snap->taken_unix_ns = 1700000000000000000ull;
	snprintf(snap->node_name, sizeof(snap->node_name), "node-a");
	memset(&hist, 0, sizeof(hist));
	hist.family = "raysense_raylet_lease_latency_seconds";
	hist.hist.slots[12] = 3;
	hist.hist.count = 3;
	hist.hist.sum_ns = 15000;
	snap->hists = &hist;
	snap->n_hists = 1;
	/* One lease probe off on one raylet, as raylet_collect.c reports it. */
	memset(&missing, 0, sizeof(missing));
	missing.family = RS_FAMILY_LEASE_PROBE_MISSING;
	missing.kind = RS_VALUE_GAUGE;
	missing.value = 1;
	snprintf(missing.labels[0].key, RS_LABEL_KEY_LEN, "raylet_pid");
	snprintf(missing.labels[0].value, RS_LABEL_VALUE_LEN, "42");
	snprintf(missing.labels[1].key, RS_LABEL_KEY_LEN, "probe");
	snprintf(missing.labels[1].value, RS_LABEL_VALUE_LEN, "GenericSerialize<RequestWorkerLeaseReply>");
	snprintf(missing.labels[2].key, RS_LABEL_KEY_LEN, "reason");
	snprintf(missing.labels[2].value, RS_LABEL_VALUE_LEN, "symbol_not_found");
	missing.n_labels = 3;
	snap->values = &missing;
	snap->n_values = 1;
	return 0;
}

static char base[64];

static long get(const char *path, const char *accept, struct rs_http_client_response *resp)
{
	char url[128], hdr[64];
	const char *headers[2] = { NULL, NULL };
	struct rs_http_client_request req = { .url = url, .headers = headers, .timeout_ms = 5000 };

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (accept) {
		snprintf(hdr, sizeof(hdr), "Accept-Encoding: %s", accept);
		headers[0] = hdr;
	}
	memset(resp, 0, sizeof(*resp));
	if (rs_http_do(&req, resp))
		return -1;
	return resp->status;
}

static void *scraper(void *arg)
{
	struct rs_http_client_response resp;
	long *ok = arg;

	for (int i = 0; i < 10; i++) {
		if (get(i % 2 ? "/metrics" : "/metrics.json", NULL, &resp) == 200)
			(*ok)++;
		rs_http_response_free(&resp);
	}
	return NULL;
}

int main(void)
{
	struct rs_agent_http_config cfg = {
		.host = "127.0.0.1", .port = 0, .pin_dir = "/nonexistent",
		.collect = fake_collect, .free_snapshot = NULL,
		/* 32 scrapers on one address, each closing and reopening: above
		 * the default per-address limit (32), which counts closed
		 * connections until the server reaps them. */
		.per_ip_limit = 128, .probe_port = -1,
	};
	struct rs_agent_http *h = NULL;
	struct rs_http_client_response resp;
	pthread_t th[32];
	long ok[32] = { 0 }, total = 0;
	int calls;

	rs_http_global_init();
	CHECK(rs_agent_http_start(&cfg, &h) == 0, "start");
	if (!h)
		return 1;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", rs_agent_http_port(h));

	CHECK(get("/healthz", NULL, &resp) == 200, "healthz");
	rs_http_response_free(&resp);
	CHECK(get("/readyz", NULL, &resp) == 503 && strstr(resp.body, "not attached"),
	      "readyz before attach: %ld %s", resp.status, resp.body);
	rs_http_response_free(&resp);
	/* One family failed: /readyz says which and why. */
	rs_agent_http_set_family(h, "raylet", 0);
	rs_agent_http_set_family(h, "lifecycle", -EPERM);
	CHECK(get("/readyz", NULL, &resp) == 503 &&
		      strstr(resp.body, "{\"family\":\"raylet\",\"attached\":true}") &&
		      strstr(resp.body, "{\"family\":\"lifecycle\",\"attached\":false,"
				       "\"error\":\"Operation not permitted\"}"),
	      "readyz names the failed family: %ld %s", resp.status, resp.body);
	rs_http_response_free(&resp);
	rs_agent_http_set_ready(h, true);
	CHECK(get("/readyz", NULL, &resp) == 503 && strstr(resp.body, "no raysense maps pinned"),
	      "readyz with unreadable maps: %ld %s", resp.status, resp.body);
	rs_http_response_free(&resp);
	CHECK(get("/metrics", NULL, &resp) == 503, "metrics without maps: %ld", resp.status);
	rs_http_response_free(&resp);

	atomic_store(&maps_pinned, 1);
	usleep((RS_AGENT_HTTP_CACHE_MS + 50) * 1000); /* let the cached failure expire */
	CHECK(get("/readyz", NULL, &resp) == 200 &&
		      strstr(resp.body, "\"missing_probes\":[{\"raylet_pid\":\"42\",\"probe\":"
				       "\"GenericSerialize<RequestWorkerLeaseReply>\",\"reason\":"
				       "\"symbol_not_found\"}]"),
	      "readyz: %ld %s", resp.status, resp.body);
	rs_http_response_free(&resp);
	CHECK(get("/metrics", NULL, &resp) == 200 &&
		      strstr(resp.body, "family=\"raylet\",reason=\"\"} 1\n") &&
		      strstr(resp.body, "family=\"lifecycle\",reason=\"Operation not permitted\"} 0\n") &&
		      strstr(resp.body, "raysense_raylet_lease_latency_seconds_bucket{node=\"node-a\",le=\"8.192e-06\"} 3\n") &&
		      strstr(resp.body, "raysense_agent_ready{node=\"node-a\"} 1\n") &&
		      strstr(resp.body, "raysense_agent_build_info{node=\"node-a\",version=\""),
	      "metrics body:\n%s", resp.body);
	rs_http_response_free(&resp);
	/* libcurl (common/http_client) always offers gzip and decodes the
	 * answer, so this checks the gzip path end to end; the bytes on the wire
	 * are checked in tests/agent/test_outputs.py. */
	CHECK(get("/metrics", "gzip", &resp) == 200 &&
		      strstr(resp.body, "# TYPE raysense_raylet_lease_latency_seconds histogram\n"),
	      "gzip-negotiated answer decodes to the exposition");
	rs_http_response_free(&resp);
	CHECK(get("/metrics.json", NULL, &resp) == 200 && resp.body[0] == '[', "json array");
	rs_http_response_free(&resp);
	CHECK(get("/nope", NULL, &resp) == 404, "unknown path");
	rs_http_response_free(&resp);

	/* 32 clients x 10 scrapes: all answered, maps walked far fewer times. */
	usleep((RS_AGENT_HTTP_CACHE_MS + 50) * 1000);
	calls = atomic_load(&collect_calls);
	for (int i = 0; i < 32; i++)
		pthread_create(&th[i], NULL, scraper, &ok[i]);
	for (int i = 0; i < 32; i++) {
		pthread_join(th[i], NULL);
		total += ok[i];
	}
	calls = atomic_load(&collect_calls) - calls;
	CHECK(total == 320, "all concurrent scrapes answered: %ld", total);
	CHECK(calls < 320 / 4, "collections shared across concurrent scrapes: %d walks for 320", calls);
	printf("test_agent_http: 320 concurrent scrapes, %d map walks\n", calls);

	rs_agent_http_set_ready(h, false);
	CHECK(get("/readyz", NULL, &resp) == 503, "readyz while detaching");
	rs_http_response_free(&resp);
	rs_agent_http_stop(h);
	CHECK_EXIT();
}
