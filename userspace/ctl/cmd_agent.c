/* cmd_agent.c -- `raysensectl agent [--url URL]`: fetch a running agent's
 * /metrics.json and /readyz and print a human summary (or, with -j, the rows
 * as JSON), with what /readyz says failed to attach (families, and lease
 * probes per raylet). Exit codes: 0 ok, 1 agent unreachable or answering garbage,
 * 2 bad usage. */
#include "ctl/commands.h"
#include "ctl/summary.h"
#include "common/cli.h"
#include "common/http_client.h"
#include "common/json_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "raysensectl agent"
#define DEFAULT_AGENT_URL "http://127.0.0.1:9640"
#define MAX_ANSWER (32u << 20)

static void agent_usage(FILE *out)
{
	fprintf(out,
		"Usage: raysensectl [-j|-p] agent [--url URL] [--timeout MS]\n"
		"\n"
		"Summarize a running raysense-agent's signals: latency histograms\n"
		"(count, p50/p90/p99, mean), counters and gauges, busy/idle workers and\n"
		"startup timelines, read from URL/metrics.json; readiness from URL/readyz.\n"
		"\n"
		"Options:\n"
		"  --url URL      agent base URL (default " DEFAULT_AGENT_URL ")\n"
		"  --timeout MS   per-request timeout (default 5000)\n"
		"  -h, --help     show this help\n");
}

/* GET base+path; 0 and the answer, or a message on stderr and -errno. */
static int get(const char *base, const char *path, long timeout_ms,
	       struct rs_http_client_response *resp)
{
	char url[2048];
	struct rs_http_client_request req = { .method = "GET", .url = url, .timeout_ms = timeout_ms,
				       .max_response = MAX_ANSWER };
	int err;

	snprintf(url, sizeof(url), "%s%s", base, path);
	memset(resp, 0, sizeof(*resp));
	err = rs_http_do(&req, resp);
	if (err)
		fprintf(stderr, PROG ": GET %s: %s\n", url, resp->error[0] ? resp->error : strerror(-err));
	return err;
}

static int fetch_rows(const char *base, long timeout_ms, cJSON **rows)
{
	struct rs_http_client_response resp;
	struct rs_json_error jerr;
	int rc = RS_EXIT_FAILURE;

	if (get(base, "/metrics.json", timeout_ms, &resp))
		goto out;
	if (resp.status != 200) {
		fprintf(stderr, PROG ": %s/metrics.json answered HTTP %ld: %.300s\n", base, resp.status,
			resp.body ? resp.body : "");
		goto out;
	}
	if (rs_json_parse(resp.body, resp.body_len, rows, &jerr)) {
		fprintf(stderr, PROG ": %s/metrics.json is not valid JSON: %s\n", base, jerr.msg);
		goto out;
	}
	rc = RS_EXIT_OK;
out:
	rs_http_response_free(&resp);
	return rc;
}

/* What /readyz says beyond ready or not: each probe family that failed to
 * attach and why, and each lease probe off on some raylet and why. Prints
 * nothing for an answer of another shape (an older agent). */
static void print_readyz_detail(const struct rs_http_client_response *ready)
{
	struct rs_json_error jerr;
	const cJSON *item;
	cJSON *doc = NULL;

	if (!ready->body || rs_json_parse(ready->body, ready->body_len, &doc, &jerr))
		return;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "families")) {
		const char *err = rs_json_opt_str(item, "error");

		if (err)
			printf("  probe family %s: NOT attached: %s\n",
			       rs_json_opt_str(item, "family") ? rs_json_opt_str(item, "family") : "?", err);
	}
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "missing_probes")) {
		const char *pid = rs_json_opt_str(item, "raylet_pid");
		const char *node = rs_json_opt_str(item, "node_id");
		const char *probe = rs_json_opt_str(item, "probe");
		const char *reason = rs_json_opt_str(item, "reason");

		printf("  raylet pid %s (node %s): lease probe %s off: %s\n", pid ? pid : "?",
		       node && *node ? node : "?", probe ? probe : "?", reason ? reason : "?");
	}
	cJSON_Delete(doc);
}

int cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char base[1024];
	const char *url = DEFAULT_AGENT_URL;
	long timeout_ms = 5000;
	struct rs_http_client_response ready;
	struct rs_json_error jerr;
	cJSON *rows = NULL;
	bool is_ready;
	int c, rc;
	size_t n;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 't':
			if (rs_parse_long(optarg, 1, 600000, &timeout_ms))
				rs_cli_usage_error(PROG, "bad --timeout '%s' (want 1..600000 ms)", optarg);
			break;
		case 'h':
			agent_usage(stdout);
			return RS_EXIT_OK;
		default:
			fprintf(stderr, "Try '" PROG " --help' for more information.\n");
			return RS_EXIT_USAGE;
		}
	}
	if (optind < argc)
		rs_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		rs_cli_usage_error(PROG, "bad --url '%s' (want http://HOST:PORT)", url);
	snprintf(base, sizeof(base), "%s", url);
	n = strlen(base);
	while (n && base[n - 1] == '/')
		base[--n] = '\0';
	if (rs_http_global_init()) {
		fprintf(stderr, PROG ": cannot initialize libcurl\n");
		return RS_EXIT_FAILURE;
	}
	if (get(base, "/readyz", timeout_ms, &ready)) {
		rs_http_response_free(&ready);
		return RS_EXIT_FAILURE;
	}
	is_ready = ready.status == 200;
	rc = fetch_rows(base, timeout_ms, &rows);
	if (rc == RS_EXIT_OK && ctl_json_output) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "url", base);
		cJSON *detail = NULL;

		cJSON_AddBoolToObject(doc, "ready", is_ready);
		/* /readyz's own answer: families and missing probes. */
		if (ready.body && !rs_json_parse(ready.body, ready.body_len, &detail, &jerr))
			cJSON_AddItemToObject(doc, "readyz", detail);
		cJSON_AddItemToObject(doc, "rows", rows);
		rows = NULL;
		if (ctl_print_json(stdout, doc))
			rc = RS_EXIT_FAILURE;
		cJSON_Delete(doc);
	} else if (rc == RS_EXIT_OK) {
		printf("Agent %s: %s\n", base, is_ready ? "ready" : "NOT ready");
		if (!is_ready)
			printf("  readyz: %.300s\n", ready.body ? ready.body : "");
		print_readyz_detail(&ready);
		if (ctl_print_summary(stdout, rows, &jerr)) {
			fprintf(stderr, PROG ": %s/metrics.json has an unexpected shape: %s\n", base, jerr.msg);
			rc = RS_EXIT_FAILURE;
		}
	}
	cJSON_Delete(rows);
	rs_http_response_free(&ready);
	return rc;
}
