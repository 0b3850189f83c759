/* agent_load.c -- N simulated agents pushing snapshots to one controller.
 *
 * Issue 16's load bench: every simulated agent POSTs a gzip snapshot to
 * /api/v1/signals once per --period seconds, as the real agent's push thread
 * does (one new connection per push, `Content-Encoding: gzip`, optional
 * bearer token).  The body is a real snapshot captured from a real agent
 * (bench/agent_load/run.py captures one), made into agent i's by
 * sim_snapshot.c (node name, hostname, Ray node ids) so that the controller
 * sees N distinct nodes.  Pushes are spread evenly over the period.  Each agent connects from
 * its own loopback address (127.1.x.y) so that the controller's per-address
 * connection limit applies per agent, as it would across nodes.
 *
 * An agent whose previous push has not finished when its next one is due
 * skips that one (the real agent would queue it): counted as "late".
 *
 * Usage: agent_load --url URL --agents N --seconds S --snapshot FILE
 *                   [--period S] [--token-file F] [--timeout-ms MS]
 * Prints one JSON object on stdout: pushes, accepted (2xx), rejected by HTTP
 * status, transport errors, late, p50/p99/max latency in ms. */
#include "common/cli.h"
#include "sim_snapshot.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "agent_load"
#define SNAPSHOT_MAX_BYTES (4u << 20)
#define HTTP_CODES 600

struct sim_agent {
	CURL *easy;
	struct curl_slist *headers;
	char *gz;
	size_t gz_len;
	double started;
	bool busy;
};

struct load {
	const char *url;
	long agents;
	double seconds, period;
	long timeout_ms;
	char *token_header;
	cJSON *templ;
	struct sim_agent *sims;
	CURLM *multi;
	double *lat_ms;
	size_t lat_n, lat_cap;
	long long pushes, late, transport_errors, by_code[HTTP_CODES];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Answers are counted by status only. */
static size_t discard(char *ptr, size_t size, size_t n, void *user)
{
	(void)ptr;
	(void)user;
	return size * n;
}

/* Render and gzip agent i's body once: the controller keys agents by node
 * name and does not order snapshots by seq, and rendering 10,000 bodies a
 * second would cost the load generator more CPU than the controller. */
static int prepare_body(struct load *ld, long i)
{
	struct sim_agent *a = &ld->sims[i];

	return sim_snapshot_gzip(ld->templ, i, 1, &a->gz, &a->gz_len);
}

static int start_push(struct load *ld, long i)
{
	struct sim_agent *a = &ld->sims[i];
	char iface[40];

	if (!a->easy && !(a->easy = curl_easy_init()))
		return -ENOMEM;
	curl_easy_reset(a->easy);
	snprintf(iface, sizeof(iface), "host!127.1.%ld.%ld", i / 250, i % 250 + 1);
	curl_easy_setopt(a->easy, CURLOPT_URL, ld->url);
	curl_easy_setopt(a->easy, CURLOPT_INTERFACE, iface);
	curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(a->easy, CURLOPT_POSTFIELDS, a->gz);
	curl_easy_setopt(a->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->gz_len);
	curl_easy_setopt(a->easy, CURLOPT_TIMEOUT_MS, ld->timeout_ms);
	curl_easy_setopt(a->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(a->easy, CURLOPT_FORBID_REUSE, 1L); /* the agent connects anew */
	curl_easy_setopt(a->easy, CURLOPT_PRIVATE, (void *)(intptr_t)i);
	if (curl_multi_add_handle(ld->multi, a->easy) != CURLM_OK)
		return -EIO;
	a->busy = true;
	a->started = now_s();
	ld->pushes++;
	return 0;
}

static void record_latency(struct load *ld, double ms)
{
	if (ld->lat_n == ld->lat_cap) {
		size_t cap = ld->lat_cap ? ld->lat_cap * 2 : 4096;
		double *p = realloc(ld->lat_ms, cap * sizeof(*p));
		if (!p)
			return;
		ld->lat_ms = p;
		ld->lat_cap = cap;
	}
	ld->lat_ms[ld->lat_n++] = ms;
}

static void reap(struct load *ld)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(ld->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		void *priv = NULL;
		long code = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		struct sim_agent *a = &ld->sims[(intptr_t)priv];
		record_latency(ld, (now_s() - a->started) * 1000.0);
		if (msg->data.result != CURLE_OK)
			ld->transport_errors++;
		else if (curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
			 code > 0 && code < HTTP_CODES)
			ld->by_code[code]++;
		else
			ld->transport_errors++;
		curl_multi_remove_handle(ld->multi, msg->easy_handle);
		a->busy = false;
	}
}

/* Agent (cursor % N) is due at t0 + cursor * period / N. */
static int run(struct load *ld)
{
	double t0 = now_s(), end = t0 + ld->seconds, step = ld->period / (double)ld->agents;
	long long cursor = 0;
	int running = 0;

	for (;;) {
		double now = now_s();
		while (now < end && t0 + (double)cursor * step <= now) {
			long i = (long)(cursor++ % ld->agents);
			if (ld->sims[i].busy) {
				ld->late++;
				continue;
			}
			int err = start_push(ld, i);
			if (err) {
				fprintf(stderr, PROG ": cannot start a push: %s\n", strerror(-err));
				return err;
			}
		}
		curl_multi_perform(ld->multi, &running);
		reap(ld);
		if (now >= end && !running)
			return 0;
		double next = t0 + (double)cursor * step - now_s();
		int wait_ms = next > 0.01 ? 10 : next > 0 ? (int)(next * 1000.0) : 0;
		curl_multi_poll(ld->multi, NULL, 0, now >= end ? 50 : wait_ms, NULL);
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static double quantile(const double *v, size_t n, double q)
{
	return n ? v[(size_t)(q * (double)(n - 1) + 0.5)] : 0.0;
}

static void report(struct load *ld)
{
	long long accepted = 0, rejected = 0;
	qsort(ld->lat_ms, ld->lat_n, sizeof(double), cmp_double);
	for (int c = 200; c < 300; c++)
		accepted += ld->by_code[c];
	printf("{\"agents\": %ld, \"period_s\": %g, \"seconds\": %g, \"pushes\": %lld, "
	       "\"accepted\": %lld, \"rejected_by_status\": {", ld->agents, ld->period, ld->seconds,
	       ld->pushes, accepted);
	const char *sep = "";
	for (int c = 0; c < HTTP_CODES; c++) {
		if ((c >= 200 && c < 300) || !ld->by_code[c])
			continue;
		printf("%s\"%d\": %lld", sep, c, ld->by_code[c]);
		rejected += ld->by_code[c];
		sep = ", ";
	}
	printf("}, \"rejected\": %lld, \"transport_errors\": %lld, \"late\": %lld, "
	       "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
	       rejected, ld->transport_errors, ld->late, quantile(ld->lat_ms, ld->lat_n, 0.50),
	       quantile(ld->lat_ms, ld->lat_n, 0.99),
	       ld->lat_n ? ld->lat_ms[ld->lat_n - 1] : 0.0);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --url URL --agents N --seconds S --snapshot FILE\n"
		   "       [--period S (1)] [--token-file F] [--timeout-ms MS (5000)]\n");
}

static int parse_args(struct load *ld, int argc, char **argv, const char **snap, const char **tok)
{
	long v;
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(k, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!val)
			return -EINVAL;
		i++;
		if (!strcmp(k, "--url"))
			ld->url = val;
		else if (!strcmp(k, "--snapshot"))
			*snap = val;
		else if (!strcmp(k, "--token-file"))
			*tok = val;
		else if (!strcmp(k, "--agents") && !rs_parse_long(val, 1, 250 * 250, &v))
			ld->agents = v;
		else if (!strcmp(k, "--seconds") && !rs_parse_long(val, 1, 86400, &v))
			ld->seconds = (double)v;
		else if (!strcmp(k, "--period") && !rs_parse_long(val, 1, 3600, &v))
			ld->period = (double)v;
		else if (!strcmp(k, "--timeout-ms") && !rs_parse_long(val, 1, 600000, &v))
			ld->timeout_ms = v;
		else
			return -EINVAL;
	}
	return ld->url && *snap && ld->agents && ld->seconds ? 0 : -EINVAL;
}

static int setup(struct load *ld, const char *snap_path, const char *token_path)
{
	char *buf = NULL, *tok = NULL;
	size_t len;
	int err = rs_read_file(snap_path, SNAPSHOT_MAX_BYTES, &buf, &len);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", snap_path, strerror(-err));
		return err;
	}
	ld->templ = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!cJSON_IsObject(ld->templ) || !cJSON_IsObject(cJSON_GetObjectItem(ld->templ, "node"))) {
		fprintf(stderr, PROG ": %s: not a snapshot (no node object)\n", snap_path);
		return -EINVAL;
	}
	if (token_path) {
		if ((err = rs_read_file_trimmed(token_path, 16384, &tok))) {
			fprintf(stderr, PROG ": %s: %s\n", token_path, strerror(-err));
			return err;
		}
		if (asprintf(&ld->token_header, "Authorization: Bearer %s", tok) < 0)
			ld->token_header = NULL;
		free(tok);
		if (!ld->token_header)
			return -ENOMEM;
	}
	ld->sims = calloc((size_t)ld->agents, sizeof(*ld->sims));
	ld->multi = curl_multi_init();
	if (!ld->sims || !ld->multi)
		return -ENOMEM;
	for (long i = 0; i < ld->agents; i++) {
		struct curl_slist *h = curl_slist_append(NULL, "Content-Encoding: gzip");
		h = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
		if (h && ld->token_header)
			h = curl_slist_append(h, ld->token_header);
		if (!h)
			return -ENOMEM;
		ld->sims[i].headers = h;
		if ((err = prepare_body(ld, i)))
			return err;
	}
	return 0;
}

static void cleanup(struct load *ld)
{
	for (long i = 0; ld->sims && i < ld->agents; i++) {
		if (ld->sims[i].easy) {
			curl_multi_remove_handle(ld->multi, ld->sims[i].easy);
			curl_easy_cleanup(ld->sims[i].easy);
		}
		curl_slist_free_all(ld->sims[i].headers);
		free(ld->sims[i].gz);
	}
	if (ld->multi)
		curl_multi_cleanup(ld->multi);
	free(ld->sims);
	free(ld->lat_ms);
	free(ld->token_header);
	cJSON_Delete(ld->templ);
}

int main(int argc, char **argv)
{
	struct load ld = { .period = 1.0, .timeout_ms = 5000 };
	const char *snap = NULL, *tok = NULL;
	int err;

	if (parse_args(&ld, argc, argv, &snap, &tok)) {
		usage(stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	err = setup(&ld, snap, tok);
	if (!err)
		err = run(&ld);
	if (!err)
		report(&ld);
	cleanup(&ld);
	curl_global_cleanup();
	return err ? 1 : 0;
}
