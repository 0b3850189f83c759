/* cmd_replay.c -- `raysensectl replay [--json] TRACE`: replay a demand trace
 * (format in docs/replay.md, parser and simulation in
 * userspace/controller/plan/replay.h) through Ray's semantics and through
 * raysense with signals, and print node-seconds, time to capacity, launches,
 * peak nodes and unserved demand for both, with the ratios raysense / Ray.
 * Exit codes as `raysensectl plan`: 0 printed, 2 bad usage or bad trace
 * (the message names the line), 1 other failures. */
#include "ctl/commands.h"
#include "common/cli.h"
#include "controller/plan/replay.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "raysensectl replay"

static void replay_usage(FILE *out)
{
	fprintf(out,
		"Usage: raysensectl replay [--json] TRACE\n"
		"\n"
		"Replay the demand trace in TRACE ('-' reads stdin; JSON lines, see\n"
		"docs/replay.md) through (a) Ray's autoscaler semantics (5 s loop, in flight\n"
		"until ALIVE, plain idle timeout) and (b) raysense with signals (1 s loop, the\n"
		"fusion rules), and print for each: node-seconds, time to capacity p50/p99,\n"
		"launches, peak nodes and tasks never served, with the ratios raysense / Ray.\n"
		"\n"
		"Options:\n"
		"  --json      print one JSON object\n"
		"  -h, --help  show this help\n"
		"\n"
		"Exit status: 0 printed, 2 bad usage or invalid trace (the message names the\n"
		"line), 1 other errors.\n");
}

struct row {
	const char *label, *key;
	double ray, rs;
	bool ratio;
};

static void rows_of(const struct replay_metrics *a, const struct replay_metrics *b,
		    struct row r[9])
{
	struct row v[9] = {
		{ "node-seconds", "node_seconds", a->node_seconds, b->node_seconds, true },
		{ "time to capacity p50 (s)", "ttc_p50_s", a->ttc_p50_s, b->ttc_p50_s, true },
		{ "time to capacity p99 (s)", "ttc_p99_s", a->ttc_p99_s, b->ttc_p99_s, true },
		{ "time to capacity mean (s)", "ttc_mean_s", a->ttc_mean_s, b->ttc_mean_s, true },
		{ "launches", "launches", (double)a->launches, (double)b->launches, true },
		{ "launches given up", "gave_up", (double)a->gave_up, (double)b->gave_up, false },
		{ "idle stops", "idle_stops", (double)a->idle_stops, (double)b->idle_stops, false },
		{ "peak nodes", "peak_nodes", a->peak_nodes, b->peak_nodes, true },
		{ "tasks never served", "unserved", (double)a->unserved, (double)b->unserved, false },
	};
	memcpy(r, v, sizeof(v));
}

static cJSON *arm_json(const struct replay_metrics *m, const struct replay_loop *l,
		       const struct row *rows, bool ray)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "loop_s", l->interval_s);
	cJSON_AddBoolToObject(o, "signals", l->signals);
	for (size_t i = 0; i < 9; i++)
		cJSON_AddNumberToObject(o, rows[i].key, ray ? rows[i].ray : rows[i].rs);
	cJSON_AddNumberToObject(o, "ttc_max_s", m->ttc_max_s);
	cJSON_AddNumberToObject(o, "fallbacks", (double)m->fallbacks);
	cJSON_AddNumberToObject(o, "served", (double)m->served);
	return o;
}

static int print_json(const char *path, const struct replay_trace *t,
		      const struct replay_metrics m[2], const struct row *rows)
{
	cJSON *o = cJSON_CreateObject(), *ratio = cJSON_CreateObject();
	char *text;
	int rc;

	cJSON_AddStringToObject(o, "trace", path);
	cJSON_AddNumberToObject(o, "tasks", (double)t->task_count);
	cJSON_AddNumberToObject(o, "end_s", t->end_s);
	cJSON_AddItemToObject(o, "ray", arm_json(&m[0], &t->ray, rows, true));
	cJSON_AddItemToObject(o, "raysense", arm_json(&m[1], &t->raysense, rows, false));
	for (size_t i = 0; i < 9; i++)
		if (rows[i].ratio && rows[i].ray > 0)
			cJSON_AddNumberToObject(ratio, rows[i].key, rows[i].rs / rows[i].ray);
		else if (rows[i].ratio)
			cJSON_AddNullToObject(ratio, rows[i].key);
	cJSON_AddItemToObject(o, "ratio", ratio);
	text = ctl_pretty_output ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return RS_EXIT_FAILURE;
	rc = puts(text) == EOF ? RS_EXIT_FAILURE : RS_EXIT_OK;
	free(text);
	return rc;
}

static void print_text(const char *path, const struct replay_trace *t, const struct row *rows)
{
	printf("trace %s: %ld tasks, %zu group(s), %.0f s simulated\n", path, t->task_count,
	       t->cfg.group_count, t->end_s);
	printf("%-27s %14s %14s %10s\n", "", "ray", "raysense", "rs/ray");
	printf("%-27s %12.0f s %12.0f s\n", "control loop", t->ray.interval_s,
	       t->raysense.interval_s);
	for (size_t i = 0; i < 9; i++) {
		printf("%-27s %14.1f %14.1f", rows[i].label, rows[i].ray, rows[i].rs);
		if (rows[i].ratio && rows[i].ray > 0)
			printf(" %10.3f", rows[i].rs / rows[i].ray);
		putchar('\n');
	}
}

static int run(const char *path, const struct replay_trace *t, bool json)
{
	struct replay_metrics m[2];
	const struct replay_loop *loops[2] = { &t->ray, &t->raysense };
	struct row rows[9];
	char err[512];

	for (size_t a = 0; a < 2; a++) {
		int rc = replay_run(t, loops[a], &m[a], err, sizeof(err));

		if (rc) {
			fprintf(stderr, PROG ": %s: %s arm: %s\n", path, a ? "raysense" : "ray", err);
			return rc == -EINVAL ? RS_EXIT_USAGE : RS_EXIT_FAILURE;
		}
	}
	rows_of(&m[0], &m[1], rows);
	if (json)
		return print_json(path, t, m, rows);
	print_text(path, t, rows);
	return fflush(stdout) ? RS_EXIT_FAILURE : RS_EXIT_OK;
}

static int load(const char *path, struct replay_trace *t)
{
	const char *src = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
	char *buf = NULL, err[600];
	size_t len = 0;
	int rc = rs_read_file(src, REPLAY_MAX_BYTES, &buf, &len);

	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", path, rc == -EFBIG ? "file too large" :
			strerror(-rc));
		return rc == -EFBIG ? RS_EXIT_USAGE : RS_EXIT_FAILURE;
	}
	rc = replay_trace_parse(buf, len, t, err, sizeof(err));
	free(buf);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", path, rc == -ENOMEM ? "out of memory" : err);
		replay_trace_free(t);
		return rc == -ENOMEM ? RS_EXIT_FAILURE : RS_EXIT_USAGE;
	}
	return RS_EXIT_OK;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = ctl_json_output;
	struct replay_trace t;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			replay_usage(stdout);
			return RS_EXIT_OK;
		} else {
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return RS_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": expected exactly one TRACE (or '-')\n"
				"Try '" PROG " --help'.\n");
		return RS_EXIT_USAGE;
	}
	if ((rc = load(argv[optind], &t)))
		return rc;
	rc = run(argv[optind], &t, json);
	replay_trace_free(&t);
	return rc;
}
