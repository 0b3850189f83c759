/* test_task_rounds.c -- the task list past the state API's cap
 * (task_rounds.h) against a scripted state API: a backlog of named tasks in
 * submission order, a cap per answer (10 here, 10,000 in Ray), the name
 * filter applied before the cap as the GCS does, and state-API JSON
 * answers parsed by dash_parse_pending_round.  Checks: every name and
 * shape is found in ceil(N/cap) (+1) rounds; a name the cap cuts is a
 * lower bound; nothing is counted twice (a state API that ignores the
 * filter stops the rounds); a failed later round keeps the earlier ones;
 * the round limit holds; each round is handed on as it comes; and merged
 * with a truncated report, the report's shape keeps the report's count and
 * the others never exceed what was listed. */
#include "check.h"
#include "controller/source/dashboard.h"
#include "controller/source/task_rounds.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 10

struct script {
	const char *names[10];		/* one function per shape: name, CPUs = index + 1 */
	int counts[10];			/* pending tasks per name, submitted in this order */
	bool ignore_filter;
	int fail_round;			/* this round fails (-1 none) */
	int calls;
	size_t progress_tasks[16];	/* tasks handed on after each round */
	int progress_calls;
};

static bool excluded(const char *const *ex, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ex[i], name))
			return true;
	return false;
}

/* A state-API answer for the tasks the filter matches, capped. */
static char *answer(struct script *s, const char *const *ex, size_t n)
{
	size_t size = 1 << 16, w = 0;
	char *body = malloc(size);
	long total = 0, returned = 0;

	w += (size_t)snprintf(body + w, size - w, "{\"result\":true,\"msg\":\"\",\"data\":{\"result\":"
			      "{\"result\":[");
	for (int k = 0; s->names[k]; k++) {
		if (!s->ignore_filter && excluded(ex, n, s->names[k]))
			continue;
		for (int i = 0; i < s->counts[k]; i++, total++) {
			if (returned == CAP)
				continue;
			w += (size_t)snprintf(body + w, size - w,
					      "%s{\"task_id\":\"t%d_%d\",\"name\":\"%s\",\"type\":"
					      "\"NORMAL_TASK\",\"state\":\"PENDING_NODE_ASSIGNMENT\","
					      "\"required_resources\":{\"CPU\":%d},"
					      "\"creation_time_ms\":1000}", returned ? "," : "", k, i,
					      s->names[k], k + 1);
			returned++;
		}
	}
	snprintf(body + w, size - w, "],\"total\":%ld,\"num_after_truncation\":%ld,"
		 "\"num_filtered\":%ld}}}", total, returned, returned);
	return body;
}

static int scripted_round(void *ctx, const char *const *ex, size_t n, struct task_round *r,
			  char *err)
{
	struct script *s = ctx;
	char *body;
	int rc;

	if (s->calls++ == s->fail_round) {
		snprintf(err, DASH_ERR_LEN, "HTTP 500");
		return -EIO;
	}
	body = answer(s, ex, n);
	memset(r, 0, sizeof(*r));
	rc = dash_parse_pending_round(body, strlen(body), r, err);
	free(body);
	if (rc)
		task_round_free(r);
	return rc;
}

static void progress(void *ctx, const struct dash_snapshot *sofar)
{
	struct script *s = ctx;

	if (s->progress_calls < 16)
		s->progress_tasks[s->progress_calls++] = sofar->pending_count;
}

/* Tasks listed per CPU amount (1..8). */
static void per_shape(const struct dash_snapshot *snap, int out[9])
{
	memset(out, 0, 9 * sizeof(*out));
	for (size_t i = 0; i < snap->pending_count; i++) {
		double cpu = 0;

		for (size_t k = 0; k < snap->pending[i].shape.count; k++)
			if (!strcmp(snap->pending[i].shape.items[k].name, "CPU"))
				cpu = snap->pending[i].shape.items[k].value;
		if (cpu >= 1 && cpu <= 8)
			out[(int)cpu]++;
	}
}

static int run(struct script *s, int max_rounds, struct dash_snapshot *snap,
	       struct task_rounds_stats *st, char *err)
{
	memset(snap, 0, sizeof(*snap));
	return task_rounds_run(scripted_round, progress, s, max_rounds, snap, st, err);
}

/* 4 names x 5, cap 10: two whole names per round; round 1 holds the rest. */
static void test_whole_names(void)
{
	struct script s = { { "cpu1", "cpu2", "cpu4", "mem" }, { 5, 5, 5, 5 }, false, -1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";
	int n[9];

	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	per_shape(&snap, n);
	CHECK(st.complete && st.rounds == 2 && s.calls == 2, "complete in 2 rounds: %d %d",
	      st.rounds, st.complete);
	CHECK(snap.pending_count == 20 && snap.pending_tasks == 20, "all 20 tasks: %zu",
	      snap.pending_count);
	CHECK(n[1] == 5 && n[2] == 5 && n[3] == 5 && n[4] == 5, "5 per shape: %d %d %d %d", n[1],
	      n[2], n[3], n[4]);
	CHECK(s.progress_calls == 1 && s.progress_tasks[0] == 10,
	      "round 0 handed on before round 1: %d calls", s.progress_calls);
	dash_snapshot_free(&snap);
}

/* 4 names x 6, cap 10: the cap cuts cpu2 and mem; excluding them hides the
 * rest of their tasks, so their counts are lower bounds (4 of 6); a third
 * round finds nothing left.  Every shape is found, none over-counted. */
static void test_cut_names(void)
{
	struct script s = { { "cpu1", "cpu2", "cpu3", "cpu4" }, { 6, 6, 6, 6 }, false, -1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";
	int n[9];

	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	per_shape(&snap, n);
	CHECK(st.complete && st.rounds == 3, "complete in 3 rounds: %d", st.rounds);
	CHECK(n[1] == 6 && n[2] == 4 && n[3] == 6 && n[4] == 4,
	      "lower bounds, never more than pending: %d %d %d %d", n[1], n[2], n[3], n[4]);
	dash_snapshot_free(&snap);
}

/* 8 names x 10 (80 tasks, like 80,000 with Ray's cap), limit 4 rounds:
 * stops there, says so, and keeps the 40 listed. */
static void test_round_limit(void)
{
	struct script s = { { "a", "b", "c", "d", "e", "f", "g", "h" },
			    { 10, 10, 10, 10, 10, 10, 10, 10 }, false, -1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";

	CHECK(run(&s, 4, &snap, &st, err) == 0, "%s", err);
	CHECK(!st.complete && st.rounds == 4 && snap.pending_count == 40 && st.unseen == 40 &&
	      strstr(st.stop, "round limit"), "stopped at 4 rounds: %d %zu %ld '%s'", st.rounds,
	      snap.pending_count, st.unseen, st.stop);
	dash_snapshot_free(&snap);
	/* Without the limit: one name per round; the 8th holds all it matched. */
	memset(&s.calls, 0, sizeof(s) - offsetof(struct script, calls));
	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	CHECK(st.complete && st.rounds == 8 && snap.pending_count == 80, "8 rounds: %d %zu",
	      st.rounds, snap.pending_count);
	dash_snapshot_free(&snap);
}

/* A state API that ignores the name filter returns round 0's names again:
 * that round is dropped (nothing counted twice) and the rounds stop. */
static void test_filter_ignored(void)
{
	struct script s = { { "cpu1", "cpu2", "cpu4", "mem" }, { 5, 5, 5, 5 }, true, -1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";

	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	CHECK(!st.complete && st.rounds == 1 && snap.pending_count == 10 &&
	      strstr(st.stop, "ignored the name filter"), "stopped after round 0: %d %zu '%s'",
	      st.rounds, snap.pending_count, st.stop);
	dash_snapshot_free(&snap);
}

/* Round 1 fails: round 0's tasks stay.  Round 0 fails: the error. */
static void test_failures(void)
{
	struct script s = { { "cpu1", "cpu2", "cpu4", "mem" }, { 5, 5, 5, 5 }, false, 1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";

	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	CHECK(!st.complete && st.rounds == 1 && snap.pending_count == 10 &&
	      strstr(st.stop, "HTTP 500"), "round 0 kept: %d %zu '%s'", st.rounds,
	      snap.pending_count, st.stop);
	dash_snapshot_free(&snap);
	s.fail_round = 0;
	s.calls = 0;
	CHECK(run(&s, 0, &snap, &st, err) == -EIO && strstr(err, "HTTP 500") &&
	      snap.pending_count == 0, "round 0 failing fails: '%s'", err);
	dash_snapshot_free(&snap);
}

/* With a truncated report listing only {CPU:4} (its exact count, 500
 * pending in the cluster), the demand is the report's 500 for it, and the
 * listed tasks for the shapes it left out. */
static void test_merge_with_report(void)
{
	struct script s = { { "cpu1", "cpu2", "cpu4", "mem" }, { 5, 5, 5, 5 }, false, -1, 0, {0}, 0 };
	struct task_rounds_stats st;
	struct dash_snapshot snap;
	char err[DASH_ERR_LEN] = "";
	long got[9] = { 0 };

	CHECK(run(&s, 0, &snap, &st, err) == 0, "%s", err);
	snap.cs.present = true;
	snap.cs.source = DASH_CS_STRUCTURED;
	snap.cs.time = 2.0;	/* after every listed task became pending (1 s) */
	snap.cs.demand_truncated = true;
	snap.cs.demand = calloc(1, sizeof(*snap.cs.demand));
	snap.cs.demand_count = 1;
	snap.cs.demand[0].count = 500;
	CHECK(resmap_set(&snap.cs.demand[0].shape, "CPU", 3) == 0, "shape");	/* "cpu4" is index 2: CPU 3 */
	CHECK(dash_merge_demand(&snap, true) == 0, "merge");
	for (size_t i = 0; i < snap.shape_count; i++)
		got[(int)snap.shapes[i].shape.items[0].value] += snap.shapes[i].count;
	CHECK(snap.shape_count == 4 && got[1] == 5 && got[2] == 5 && got[3] == 500 && got[4] == 5,
	      "report count for its shape, listed tasks for the others: %zu %ld %ld %ld %ld",
	      snap.shape_count, got[1], got[2], got[3], got[4]);
	dash_snapshot_free(&snap);
}

int main(void)
{
	test_whole_names();
	test_cut_names();
	test_round_limit();
	test_filter_ignored();
	test_failures();
	test_merge_with_report();
	CHECK_EXIT();
}
