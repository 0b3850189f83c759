/* planner_bench.c -- time the planner on one scenario (bench/run_planner_bench.sh
 * feeds it the 10,000-entry / 8-type / 500-node scenario and compares with
 * Ray's own scheduler timed in the same run).
 *
 * Usage: planner_bench SCENARIO.json [REPEAT]
 * Prints one JSON object: parse time, planner time (median and min over
 * REPEAT runs, default 20), and the plan summary used for the agreement
 * check (desired launches per type, infeasible counts, terminations). */
#include "common/cli.h"
#include "controller/plan/planner.h"
#include "controller/plan/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time is reported too: the machine may be shared, and CPU time is
 * less sensitive to other processes than wall time. */
static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void print_summary(const struct scenario *sc, const struct planner_output *out)
{
	long tasks = 0, pgs = 0;
	int rr = 0;
	printf("\"desired\": {");
	for (size_t t = 0, n = 0; t < out->launch_count; t++)
		if (out->launches[t].desired)
			printf("%s\"%s\": %d", n++ ? ", " : "", out->launches[t].type,
			       out->launches[t].desired);
	printf("}, \"launch\": {");
	for (size_t t = 0, n = 0; t < out->launch_count; t++)
		if (out->launches[t].count)
			printf("%s\"%s\": %d", n++ ? ", " : "", out->launches[t].type,
			       out->launches[t].count);
	for (size_t i = 0; i < out->infeasible_count; i++) {
		if (out->infeasible[i].cause == PLANNER_CAUSE_SHAPE)
			tasks += out->infeasible[i].count;
		else if (out->infeasible[i].cause == PLANNER_CAUSE_PLACEMENT_GROUP)
			pgs += out->infeasible[i].count;
		else
			rr = 1;
	}
	printf("}, \"infeasible\": {\"tasks\": %ld, \"placement_groups\": %ld, "
	       "\"request_resources\": %s}, \"terminate\": [", tasks, pgs, rr ? "true" : "false");
	for (size_t i = 0; i < out->termination_count; i++)
		printf("%s{\"id\": \"%s\", \"reason\": \"%s\"}", i ? ", " : "",
		       out->terminations[i].id, planner_term_reason_name(out->terminations[i].reason));
	printf("], \"demand_entries\": %zu, \"node_types\": %zu, \"nodes\": %zu",
	       sc->in.shape_count + sc->in.pg_count + sc->in.request_count,
	       sc->in.node_type_count, sc->in.node_count);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SCENARIO.json [REPEAT]\n", argv[0]);
		return 2;
	}
	long repeat = 20;
	if (argc == 3 && rs_parse_long(argv[2], 1, 100000, &repeat)) {
		fprintf(stderr, "%s: bad REPEAT '%s'\n", argv[0], argv[2]);
		return 2;
	}
	char *buf;
	size_t len;
	int err = rs_read_file(argv[1], SCENARIO_MAX_BYTES, &buf, &len);
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(-err));
		return 1;
	}
	struct scenario sc;
	struct rs_json_error jerr = { { 0 } };
	double t0 = now_s();
	err = scenario_parse(buf, len, &sc, &jerr);
	double parse_s = now_s() - t0;
	free(buf);
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], jerr.msg);
		return 2;
	}
	double *times = calloc((size_t)repeat, sizeof(*times));
	double *cpu = calloc((size_t)repeat, sizeof(*cpu));
	struct planner_output out = { 0 };
	if (!times || !cpu)
		return 1;
	for (long i = 0; i < repeat; i++) {
		planner_output_free(&out);
		double c0 = cpu_s();
		t0 = now_s();
		err = planner_plan(&sc.in, &out);
		times[i] = now_s() - t0;
		cpu[i] = cpu_s() - c0;
		if (err) {
			fprintf(stderr, "%s: planner: %s\n", argv[0], out.error);
			return 1;
		}
	}
	qsort(times, (size_t)repeat, sizeof(*times), cmp_double);
	qsort(cpu, (size_t)repeat, sizeof(*cpu), cmp_double);
	printf("{\"parse_s\": %.6f, \"plan_s_median\": %.6f, \"plan_s_min\": %.6f, "
	       "\"plan_cpu_s_median\": %.6f, \"repeat\": %ld, ", parse_s, times[repeat / 2],
	       times[0], cpu[repeat / 2], repeat);
	print_summary(&sc, &out);
	printf("}\n");
	planner_output_free(&out);
	scenario_free(&sc);
	free(times);
	free(cpu);
	return 0;
}
