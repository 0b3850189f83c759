/* planner_scale.c -- one scale case: parse a scenario, plan it once, render
 * the plan as JSON (what `raysensectl plan` does), and print wall time and
 * peak RSS.  bench/run_planner_scale.sh runs it on every case of
 * bench/gen_scale_cases.py, built from this tree and from a baseline commit.
 *
 * Uses only the public planner API so the same file builds against older
 * trees.  Times are CPU seconds of this process (the goal is per core, and
 * the bench machine is shared: wall time measures the neighbours too).
 * Usage: planner_scale SCENARIO.json
 * Env:   PLANNER_SCALE_BUDGET=N plans with work_budget N instead of the
 *        default (a large N shows what an uncut plan costs)
 * Prints: plan_s render_s peak_rss_kib new_nodes json_bytes cut|- parse_s
 *         parse_rss_kib (peak RSS once the scenario is parsed) */
#include "common/cli.h"
#include "controller/plan/plan_json.h"
#include "controller/plan/planner.h"
#include "controller/plan/scenario.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SCENARIO.json\n", argv[0]);
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
	long parse_rss = peak_rss_kib();
	free(buf);
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], jerr.msg);
		return 2;
	}
	const char *budget = getenv("PLANNER_SCALE_BUDGET");
	long budget_n;
	if (budget) {
		if (rs_parse_long(budget, 1, LONG_MAX, &budget_n)) {
			fprintf(stderr, "%s: PLANNER_SCALE_BUDGET: not a positive number: %s\n",
				argv[0], budget);
			return 2;
		}
		sc.in.work_budget = (unsigned long long)budget_n;
	}
	struct planner_output out = { 0 };
	t0 = now_s();
	err = planner_plan(&sc.in, &out);
	double plan_s = now_s() - t0;
	if (err) {
		fprintf(stderr, "%s: planner: %s\n", argv[0], out.error);
		return 1;
	}
	t0 = now_s();
	cJSON *doc = plan_json_render(&sc.in, &out);
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
	double render_s = now_s() - t0;
	if (!text) {
		fprintf(stderr, "%s: out of memory rendering the plan\n", argv[0]);
		return 1;
	}
	printf("%.3f %.3f %ld %zu %zu %s %.3f %ld\n", plan_s, render_s, peak_rss_kib(),
	       out.new_node_count, strlen(text), strstr(text, "\"cut\"") ? "cut" : "-",
	       parse_s, parse_rss);
	free(text);
	cJSON_Delete(doc);
	planner_output_free(&out);
	scenario_free(&sc);
	return 0;
}
