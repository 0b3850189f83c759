/* cmd_plan.c -- `raysensectl plan FILE`: run the planner offline on a
 * scenario (format in userspace/controller/plan/scenario.h) and print the plan as
 * JSON.  Exit codes: 0 plan printed, 2 bad usage or bad scenario, 1 other
 * failures (unreadable file, out of memory). */
#include "ctl/commands.h"
#include "common/cli.h"
#include "controller/plan/plan_json.h"
#include "controller/plan/planner.h"
#include "controller/plan/scenario.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "raysensectl plan"

static void plan_usage(FILE *out)
{
	fprintf(out,
		"Usage: raysensectl plan [--compact] FILE\n"
		"\n"
		"Plan one scaling round for the scenario in FILE ('-' reads stdin) with\n"
		"Ray's autoscaler (v2) semantics, and print the plan as JSON:\n"
		"  {\"launch\": {TYPE: N}, \"terminate\": [{\"id\", \"reason\"}],\n"
		"   \"infeasible\": [{\"shape\", \"count\"}], \"desired\", \"kept\", \"explain\"}\n"
		"\n"
		"Options:\n"
		"  --compact   print the JSON on one line\n"
		"  -h, --help  show this help\n"
		"\n"
		"Exit status: 0 plan printed, 2 bad usage or invalid scenario (the message\n"
		"names the JSON path), 1 other errors.\n");
}

static int read_input(const char *path, char **buf, size_t *len)
{
	const char *src = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
	int err = rs_read_file(src, SCENARIO_MAX_BYTES, buf, len);
	if (err == -EFBIG) {
		fprintf(stderr, PROG ": %s: larger than %u bytes\n", path, SCENARIO_MAX_BYTES);
		return RS_EXIT_USAGE;
	}
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-err));
		return RS_EXIT_FAILURE;
	}
	return RS_EXIT_OK;
}

static int print_plan(const struct scenario *sc, const struct planner_output *plan,
		      bool compact)
{
	cJSON *json = plan_json_render(&sc->in, plan);
	char *text = NULL;
	if (json)
		text = compact ? cJSON_PrintUnformatted(json) : cJSON_Print(json);
	cJSON_Delete(json);
	if (!text) {
		fprintf(stderr, PROG ": out of memory rendering the plan\n");
		return RS_EXIT_FAILURE;
	}
	int rc = puts(text) == EOF || fflush(stdout) ? RS_EXIT_FAILURE : RS_EXIT_OK;
	if (rc)
		fprintf(stderr, PROG ": writing the plan: %s\n", strerror(errno));
	free(text);
	return rc;
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compact", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool compact = false;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			compact = true;
			break;
		case 'h':
			plan_usage(stdout);
			return RS_EXIT_OK;
		default:
			fprintf(stderr, "Try 'raysensectl plan --help'.\n");
			return RS_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": expected exactly one FILE (or '-')\n"
				"Try 'raysensectl plan --help'.\n");
		return RS_EXIT_USAGE;
	}
	const char *path = argv[optind];
	char *buf = NULL;
	size_t len = 0;
	int rc = read_input(path, &buf, &len);
	if (rc)
		return rc;

	struct scenario sc;
	struct rs_json_error jerr = { { 0 } };
	int err = scenario_parse(buf, len, &sc, &jerr);
	free(buf);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", path, jerr.msg);
		return err == -ENOMEM ? RS_EXIT_FAILURE : RS_EXIT_USAGE;
	}

	struct planner_output plan = { 0 };
	err = planner_plan(&sc.in, &plan);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", path, plan.error[0] ? plan.error : strerror(-err));
		scenario_free(&sc);
		return err == -EINVAL ? RS_EXIT_USAGE : RS_EXIT_FAILURE;
	}
	rc = print_plan(&sc, &plan, compact);
	planner_output_free(&plan);
	scenario_free(&sc);
	return rc;
}
