/* cmd_status.c -- `raysensectl status [--url U] [--decisions N]`: the
 * controller's node types, nodes, current demand, last plan and recent
 * decisions, as text (default) or JSON (-j/-p). */
#include "common/cli.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "ctl/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:9650"

static int fetch(const char *url, const char *path, cJSON **out)
{
	char full[1024];
	struct rs_http_client_request req = { .url = full, .timeout_ms = 5000, .max_response = 16u << 20 };
	struct rs_http_client_response resp;
	struct rs_json_error jerr = { { 0 } };
	int rc;

	snprintf(full, sizeof(full), "%s%s", url, path);
	rc = rs_http_do(&req, &resp);
	if (rc || resp.status != 200) {
		fprintf(stderr, "raysensectl status: GET %s: %s\n", full,
			rc ? resp.error : (resp.body ? resp.body : "error"));
		rs_http_response_free(&resp);
		return -1;
	}
	rc = rs_json_parse(resp.body, resp.body_len, out, &jerr);
	if (rc)
		fprintf(stderr, "raysensectl status: %s: %s\n", full, jerr.msg);
	rs_http_response_free(&resp);
	return rc ? -1 : 0;
}

static const char *str(const cJSON *o, const char *k, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static char *compact(const cJSON *o)
{
	return o ? cJSON_PrintUnformatted(o) : strdup("-");
}

static void print_types(const cJSON *st)
{
	const cJSON *t;

	printf("Worker groups:\n");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "node_types")) {
		char *res = compact(cJSON_GetObjectItemCaseSensitive(t, "resources"));

		/* A member missing or of another type prints as -1, never a crash. */
		printf("  %-16s %-5s %-28s min %g max %g idle %gs\n", str(t, "name", "?"),
		       str(t, "platform", "?"), res, num(t, "min_workers", -1),
		       num(t, "max_workers", -1), num(t, "idle_timeout_s", -1));
		free(res);
	}
}

static void print_nodes(const cJSON *st)
{
	const cJSON *n;

	printf("Nodes:\n");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(st, "nodes")) {
		const cJSON *idle = cJSON_GetObjectItemCaseSensitive(n, "idle_s");
		char idle_s[32] = "-";

		if (cJSON_IsNumber(idle))
			snprintf(idle_s, sizeof(idle_s), "%.1fs", idle->valuedouble);
		printf("  %-20.20s %-10s %-9s idle %-8s ray %.16s\n", str(n, "id", "?"),
		       str(n, "type", "?"), str(n, "state", "?"), idle_s,
		       str(n, "ray_node_id", "-"));
	}
}

static void print_demand_plan(const cJSON *st)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "demand");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "last_plan");
	char *shapes = compact(cJSON_GetObjectItemCaseSensitive(d, "shapes"));
	char *pgs = compact(cJSON_GetObjectItemCaseSensitive(d, "placement_groups"));
	char *req = compact(cJSON_GetObjectItemCaseSensitive(d, "request_resources"));
	char *held = compact(cJSON_GetObjectItemCaseSensitive(d, "held_placement_groups"));
	char *plan = compact(p);

	printf("Demand (source %s):\n  shapes %s\n  placement groups %s\n"
	       "  held placement groups %s\n  request_resources %s\n",
	       str(d, "source", "-"), shapes, pgs, held, req);
	if (str(d, "v2_error", NULL))
		printf("  autoscaler-v2 data missing: %s\n", str(d, "v2_error", ""));
	printf("Last plan:\n  %s\n", plan);
	free(held);
	free(shapes);
	free(pgs);
	free(req);
	free(plan);
}

/* One line per startup source: its sample count and percentiles. */
static void print_sources(const cJSON *srcs)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, srcs) {
		double n = num(s, "samples", 0);

		printf("  %-16s %-5s   %-10s %g samples", "", "", s->string ? s->string : "?", n);
		if (n > 0)
			printf(": p50 %.1fs p90 %.1fs p95 %.1fs", num(s, "p50_s", 0),
			       num(s, "p90_s", 0), num(s, "p95_s", 0));
		printf("\n");
	}
}

static void print_fusion(const cJSON *st)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(st, "fusion"), *g;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "demand");

	if (str(d, "scale_down_hold", NULL))
		printf("Scale-down held: %s\n", str(d, "scale_down_hold", ""));
	if (!f)
		return;
	printf("Signal fusion: %s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "enabled")) ?
	       "on" : "off (Ray's plans)");
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(f, "groups")) {
		double n = num(g, "startup_samples", 0), off = num(g, "backed_off_s", 0);

		printf("  %-16s %-5s startup", str(g, "type", "?"), str(g, "platform", "?"));
		if (n > 0)
			printf(" p50 %.1fs p90 %.1fs p95 %.1fs (%g samples, %s)",
			       num(g, "startup_p50_s", 0), num(g, "startup_p90_s", 0),
			       num(g, "startup_p95_s", 0), n, str(g, "startup_source", "?"));
		else
			printf(" not measured yet");
		printf(", idle timeout %gs", num(g, "idle_timeout_s", 0));
		if (off > 0)
			printf(", BACKED OFF %.0fs more", off);
		printf("\n");
		print_sources(cJSON_GetObjectItemCaseSensitive(g, "startup_sources"));
	}
}

static void print_decisions(const cJSON *decisions)
{
	const cJSON *d;

	printf("Recent decisions:\n");
	cJSON_ArrayForEach(d, decisions)
		printf("  %s  %s\n", str(d, "time", "?"), str(d, "message", "?"));
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "decisions", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = DEFAULT_URL;
	cJSON *st = NULL, *dec = NULL;
	char path[64];
	long n = 10;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'n':
			if (rs_parse_long(optarg, 0, 10000, &n))
				rs_cli_usage_error("raysensectl status", "bad --decisions '%s'", optarg);
			break;
		case 'h':
			printf("Usage: raysensectl [-j|-p] status [--url %s] [--decisions N]\n",
			       DEFAULT_URL);
			return RS_EXIT_OK;
		default:
			return RS_EXIT_USAGE;
		}
	}
	if (optind < argc)
		rs_cli_usage_error("raysensectl status", "unexpected argument '%s'", argv[optind]);
	snprintf(path, sizeof(path), "/api/v1/decisions?limit=%ld", n);
	if (rs_http_global_init() || fetch(url, "/api/v1/status", &st) ||
	    (n > 0 && fetch(url, path, &dec))) {
		cJSON_Delete(st);
		return RS_EXIT_FAILURE;
	}
	if (ctl_json_output || ctl_pretty_output) {
		char *s;

		if (dec)
			cJSON_AddItemToObject(st, "recent_decisions", dec);
		s = ctl_pretty_output ? cJSON_Print(st) : cJSON_PrintUnformatted(st);
		printf("%s\n", s ? s : "{}");
		free(s);
	} else {
		const char *hold = str(st, "holding", NULL);

		printf("Controller %s (provider %s, Ray %s)%s\n", url, str(st, "provider", "?"),
		       str(st, "ray_version", "?"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "dry_run")) ? " DRY RUN" : "");
		if (hold)
			printf("HOLDING: %s\n", hold);
		print_types(st);
		print_nodes(st);
		print_demand_plan(st);
		print_fusion(st);
		print_decisions(dec);
		cJSON_Delete(dec);
	}
	cJSON_Delete(st);
	rs_http_global_cleanup();
	return RS_EXIT_OK;
}
