/* test_push_queue.c -- the push path without BPF: the bounded queue drops the
 * oldest snapshot and counts it; the snapshot document carries
 * schema_version, node identity, totals and deltas; and the push thread,
 * pointed at a real local HTTP server (common/http_server), retries while
 * the target is down, keeps memory bounded, re-reads a rotated token, and
 * delivers gzip JSON (the compact push by default) once the target comes
 * back. */
#include "check.h"
#include "agent/push.h"
#include "agent/push_compact.h"
#include "agent/push_queue.h"
#include "common/http_server.h"
#include "common/json_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dupn(const char *s) { return strdup(s); }

static void test_queue_drop_oldest(void)
{
	struct rs_push_queue q;
	struct rs_push_queue_stats st;
	struct rs_push_item it;

	CHECK(rs_push_queue_init(&q, 3, 1000) == 0, "init");
	CHECK(rs_push_queue_init(&q, 0, 1000) == -EINVAL, "zero capacity rejected");
	for (int i = 1; i <= 5; i++)
		CHECK(rs_push_queue_put(&q, dupn("abcd"), 4, (uint64_t)i) == (i > 3 ? 1u : 0u),
		      "put %d drop count", i);
	rs_push_queue_stats(&q, &st);
	CHECK(st.len == 3 && st.dropped == 2 && st.bytes == 12, "len %zu dropped %llu bytes %zu",
	      st.len, (unsigned long long)st.dropped, st.bytes);
	CHECK(rs_push_queue_front(&q, &it) && it.seq == 3, "oldest kept is seq 3, got %llu",
	      (unsigned long long)it.seq);
	rs_push_queue_pop(&q, false);
	CHECK(rs_push_queue_front(&q, &it) && it.seq == 4, "then seq 4");
	rs_push_queue_pop(&q, true);
	rs_push_queue_stats(&q, &st);
	CHECK(st.dropped == 3 && st.len == 1, "pop(dropped) counts");
	rs_push_queue_destroy(&q);

	/* Byte bound (items bound not reached): the 4th 300-byte item evicts the
	 * oldest; an item larger than the whole budget is dropped itself. */
	CHECK(rs_push_queue_init(&q, 10, 1000) == 0, "init");
	for (int i = 1; i <= 4; i++)
		CHECK(rs_push_queue_put(&q, calloc(1, 300), 300, (uint64_t)i) == (i == 4 ? 1u : 0u),
		      "byte bound put %d", i);
	rs_push_queue_stats(&q, &st);
	CHECK(st.len == 3 && st.bytes == 900 && st.dropped == 1, "byte bound: len %zu bytes %zu",
	      st.len, st.bytes);
	CHECK(rs_push_queue_front(&q, &it) && it.seq == 2, "oldest dropped first");
	CHECK(rs_push_queue_put(&q, calloc(1, 2000), 2000, 5) == 1, "oversize dropped");
	rs_push_queue_stats(&q, &st);
	CHECK(st.len == 3 && st.dropped == 2, "oversize evicts nothing: len %zu", st.len);
	rs_push_queue_destroy(&q);
}

static struct rs_hist_series test_hist;

static void fill_snapshot(struct rs_snapshot *s, unsigned long long n)
{
	memset(s, 0, sizeof(*s));
	s->taken_unix_ns = 1700000000000000000ull;
	snprintf(s->node_name, sizeof(s->node_name), "node-a");
	snprintf(s->hostname, sizeof(s->hostname), "host-a");
	memset(&test_hist, 0, sizeof(test_hist));
	test_hist.family = "raysense_raylet_lease_latency_seconds";
	snprintf(test_hist.labels[0].key, RS_LABEL_KEY_LEN, "raylet_pid");
	snprintf(test_hist.labels[0].value, RS_LABEL_VALUE_LEN, "42");
	test_hist.n_labels = 1;
	test_hist.hist.slots[3] = n;
	test_hist.hist.count = n;
	test_hist.hist.sum_ns = 10 * n;
	s->hists = &test_hist;
	s->n_hists = 1;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : -12345;
}

static void test_snapshot_document(void)
{
	struct rs_snapshot s;
	struct rs_push_prev prev = { 0 };
	cJSON *doc, *h;

	fill_snapshot(&s, 5);
	doc = rs_push_build_snapshot(&s, &prev, 1, 5.0, 0);
	CHECK(jnum(doc, "schema_version") == RS_SNAPSHOT_SCHEMA_VERSION, "schema_version");
	CHECK(jnum(doc, "seq") == 1, "seq");
	CHECK(jnum(doc, "taken_unix_ms") == 1700000000000.0, "taken_unix_ms");
	CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "node"), "node_name")->valuestring,
		      "node-a"), "node identity");
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "histograms"), 0);
	CHECK(jnum(cJSON_GetObjectItem(h, "total"), "count") == 5, "total count");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "total"), "slots")) == 4,
	      "slots trimmed after the last non-zero slot");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(h, "delta")), "first snapshot: delta unknown");
	cJSON_Delete(doc);

	fill_snapshot(&s, 8);
	doc = rs_push_build_snapshot(&s, &prev, 2, 5.0, 3);
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "histograms"), 0);
	CHECK(jnum(cJSON_GetObjectItem(h, "delta"), "count") == 3, "delta count");
	CHECK(jnum(cJSON_GetObjectItem(h, "delta"), "sum_ns") == 30, "delta sum");
	CHECK(jnum(doc, "push_dropped_total") == 3, "drops reported");
	cJSON_Delete(doc);

	fill_snapshot(&s, 2); /* maps recreated: counts went backwards */
	doc = rs_push_build_snapshot(&s, &prev, 3, 5.0, 3);
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "histograms"), 0);
	CHECK(jnum(cJSON_GetObjectItem(h, "delta"), "count") == 2, "reset: delta restarts from 0");
	cJSON_Delete(doc);
	rs_push_prev_free(&prev);
}

/* ---- push thread against a real HTTP server ---- */

static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static int rx_count, rx_bad_auth;
static uint64_t rx_last_seq, rx_first_seq;
static const char *rx_token = "tok-1";
static const char *rx_answer;	/* the 202 answer's body; NULL: {} */
static double rx_last_interval;	/* the last document's interval_seconds */
static int collect_calls;

static int fake_collect(const char *pin_dir, struct rs_snapshot *snap)
{
	(void)pin_dir;
	fill_snapshot(snap, (unsigned long long)++collect_calls);
	return 0;
}

static void intake(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	struct rs_json_error jerr;
	cJSON *doc = NULL;

	(void)ctx;
	pthread_mutex_lock(&rx_lock);
	if (!rs_http_bearer_ok(req, rx_token)) {
		rx_bad_auth++;
		pthread_mutex_unlock(&rx_lock);
		rs_http_reply_error(resp, 401, "bad token");
		return;
	}
	if (rs_json_parse(req->body, req->body_len, &doc, &jerr) == 0 &&
	    /* the push thread's default format, the compact push */
	    jnum(doc, "schema_version") == RS_PUSH_COMPACT_SCHEMA_VERSION) {
		rx_count++;
		rx_last_seq = (uint64_t)jnum(doc, "seq");
		rx_last_interval = jnum(doc, "interval_seconds");
		if (!rx_first_seq)
			rx_first_seq = rx_last_seq;
	}
	const char *answer = rx_answer;
	pthread_mutex_unlock(&rx_lock);
	cJSON_Delete(doc);
	rs_http_reply_json(resp, 202, answer ? cJSON_Parse(answer) : cJSON_CreateObject());
}

static int free_port(void)
{
	static const struct rs_http_route none[] = { { "GET", "/x", intake, NULL, NULL, false } };
	struct rs_http_server_config cfg = { .host = "127.0.0.1", .port = 0, .routes = none, .n_routes = 1 };
	struct rs_http_server *srv;
	int port;

	if (rs_http_server_start(&cfg, &srv))
		return -1;
	port = rs_http_server_port(srv);
	rs_http_server_stop(srv);
	return port;
}

static void write_token(const char *path, const char *tok)
{
	char tmp[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s\n", tok);
	fclose(f);
	rename(tmp, path);
}

static void test_push_down_then_up(void)
{
	static const struct rs_http_route routes[] = { { "POST", "/v1/snapshots", intake, NULL, NULL, false } };
	char url[128], token_path[] = "/tmp/rs-test-token-XXXXXX";
	int port = free_port(), fd = mkstemp(token_path);
	struct rs_push_config cfg = {
		.url = url, .token_file = token_path, .interval_s = 0.05, .pin_dir = "/nonexistent",
		.queue_items = 4, .queue_bytes = 1 << 20, .timeout_ms = 500, .max_backoff_s = 0.2,
		.collect = fake_collect, .free_snapshot = NULL,
	};
	struct rs_http_server_config scfg = { .host = "127.0.0.1", .port = port, .routes = routes,
					      .n_routes = 1 };
	struct rs_http_server *srv = NULL;
	struct rs_push *p = NULL;
	struct rs_push_stats st;
	int n;

	CHECK(port > 0 && fd >= 0, "setup");
	close(fd);
	write_token(token_path, "tok-1");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/snapshots", port);
	CHECK(rs_push_start(&cfg, &p) == 0, "push start");
	usleep(800 * 1000); /* target down: ~16 snapshots into a 4-slot queue */
	rs_push_get_stats(p, &st);
	CHECK(st.queued <= 4, "queue bounded while down: %zu", st.queued);
	CHECK(st.dropped >= 8, "drops counted while down: %llu", (unsigned long long)st.dropped);
	CHECK(st.failures >= 2, "failed attempts counted: %llu", (unsigned long long)st.failures);
	CHECK(st.sent == 0, "nothing sent while down");

	CHECK(rs_http_server_start(&scfg, &srv) == 0, "server start");
	for (n = 0; n < 50; n++) {
		usleep(50 * 1000);
		pthread_mutex_lock(&rx_lock);
		bool got = rx_count >= 3;
		pthread_mutex_unlock(&rx_lock);
		if (got)
			break;
	}
	rs_push_get_stats(p, &st);
	pthread_mutex_lock(&rx_lock);
	CHECK(rx_count >= 3, "recovered after the target came back: %d received", rx_count);
	CHECK(rx_first_seq > 1, "oldest snapshots were dropped, first delivered seq %llu",
	      (unsigned long long)rx_first_seq);
	pthread_mutex_unlock(&rx_lock);
	CHECK(st.sent >= 3, "sent counter %llu", (unsigned long long)st.sent);

	/* Rotate the token on the server and in the file: the agent re-reads it. */
	pthread_mutex_lock(&rx_lock);
	rx_token = "tok-2";
	rx_count = 0;
	pthread_mutex_unlock(&rx_lock);
	write_token(token_path, "tok-2");
	for (n = 0; n < 60; n++) {
		usleep(50 * 1000);
		pthread_mutex_lock(&rx_lock);
		bool got = rx_count >= 2;
		pthread_mutex_unlock(&rx_lock);
		if (got)
			break;
	}
	pthread_mutex_lock(&rx_lock);
	CHECK(rx_count >= 2, "delivered with the rotated token: %d", rx_count);
	pthread_mutex_unlock(&rx_lock);
	rs_push_stop(p);
	rs_http_server_stop(srv);
	unlink(token_path);
}

static int received(void)
{
	int n;

	pthread_mutex_lock(&rx_lock);
	n = rx_count;
	pthread_mutex_unlock(&rx_lock);
	return n;
}

/* What the controller answers from now on; the received count restarts. */
static void answer_with(const char *answer)
{
	pthread_mutex_lock(&rx_lock);
	rx_answer = answer;
	rx_count = 0;
	pthread_mutex_unlock(&rx_lock);
}

/* Poll the push thread's interval until it is `want` (within 2 s). */
static double wait_interval(struct rs_push *p, double want)
{
	struct rs_push_stats st;

	for (int n = 0; n < 100; n++) {
		rs_push_get_stats(p, &st);
		if (st.interval_s == want)
			break;
		usleep(20 * 1000);
	}
	return st.interval_s;
}

/* The controller's 202 answer asks for a longer push interval: the agent
 * pushes that much less often (and says so in interval_seconds), returns to
 * its own interval when the answers stop asking, and never goes past
 * RS_PUSH_MAX_REQUESTED_INTERVAL_S. */
static void test_push_asked_interval(void)
{
	static const struct rs_http_route routes[] = { { "POST", "/v1/snapshots", intake, NULL, NULL, false } };
	char url[128], token_path[] = "/tmp/rs-test-token-XXXXXX";
	int port = free_port(), fd = mkstemp(token_path), n;
	struct rs_push_config cfg = {
		.url = url, .token_file = token_path, .interval_s = 0.05, .pin_dir = "/nonexistent",
		.timeout_ms = 500, .max_backoff_s = 0.2, .collect = fake_collect,
	};
	struct rs_http_server_config scfg = { .host = "127.0.0.1", .port = port, .routes = routes,
					      .n_routes = 1 };
	struct rs_http_server *srv = NULL;
	struct rs_push *p = NULL;
	double iv;

	CHECK(port > 0 && fd >= 0, "setup");
	close(fd);
	pthread_mutex_lock(&rx_lock);
	rx_token = "tok-1";
	pthread_mutex_unlock(&rx_lock);
	write_token(token_path, "tok-1");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/snapshots", port);
	CHECK(rs_http_server_start(&scfg, &srv) == 0, "server start");
	answer_with("{\"push_interval_s\":0.4}");
	CHECK(rs_push_start(&cfg, &p) == 0, "push start");
	CHECK((iv = wait_interval(p, 0.4)) == 0.4, "asked 0.4 s: pushing every %g s", iv);
	answer_with("{\"push_interval_s\":0.4}");
	usleep(1200 * 1000);
	n = received();
	/* 2-4 at 0.4 s (the first at a random point of it); ~24 at its own 0.05 s */
	CHECK(n >= 1 && n <= 5, "pushed %d times in 1.2 s when asked for 0.4 s", n);
	pthread_mutex_lock(&rx_lock);
	CHECK(rx_last_interval == 0.4, "the document says interval_seconds %g", rx_last_interval);
	pthread_mutex_unlock(&rx_lock);

	answer_with(NULL);
	CHECK((iv = wait_interval(p, 0.05)) == 0.05, "no ask: back to its own 0.05 s (%g)", iv);
	answer_with(NULL);
	usleep(600 * 1000);
	CHECK((n = received()) >= 4, "pushed %d times in 0.6 s at its own 0.05 s", n);

	answer_with("{\"push_interval_s\":1e9}");
	CHECK((iv = wait_interval(p, RS_PUSH_MAX_REQUESTED_INTERVAL_S)) ==
	      RS_PUSH_MAX_REQUESTED_INTERVAL_S, "an ask of 1e9 s is bounded: %g", iv);
	rs_push_stop(p);
	rs_http_server_stop(srv);
	unlink(token_path);
}

int main(void)
{
	test_queue_drop_oldest();
	test_snapshot_document();
	test_push_down_then_up();
	test_push_asked_interval();
	CHECK_EXIT();
}
