/* task_rounds.h -- the pending-task list past the state API's cap.  The
 * GCS returns at most 10,000 tasks per call (RAY_MAX_LIMIT_FROM_DATA_SOURCE,
 * whatever `limit` says), so at 20,000-100,000 pending tasks whole shapes
 * never show in one answer.  The list is then read in rounds: each round
 * excludes, with the state API's `name != X` filter (applied in the GCS
 * before its cap, like the state filter), every task name an earlier round
 * returned, until an answer holds every task its filters match (`total` =
 * what the GCS returned) or a limit is reached.  Measured at 20,000 tasks
 * of four functions: 2 rounds (docs/demand-at-scale.md).
 *
 * What it gives: every name pending, each with at least one answer's worth
 * of its tasks; counts are lower bounds (a name the cap cut is excluded
 * with the rest of its tasks unseen), never more than was listed.  Blind
 * spot: one function submitted in several shapes whose tasks of one shape
 * all lie past the cut of the round that returned the name.
 *
 * Pure: one round is read through a callback (the dashboard in
 * dash_source.c, a script in tests/unit/test_task_rounds.c). */
#ifndef RAYSENSE_CONTROLLER_TASK_ROUNDS_H
#define RAYSENSE_CONTROLLER_TASK_ROUNDS_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/source/demand.h"

#define TASK_ROUNDS_MAX 12		/* 100,000 tasks of ~10 names with room */
#define TASK_ROUNDS_NAMES_MAX 64	/* names excluded at most (the URL grows) */

/* One round's answer. */
struct task_round {
	struct dash_snapshot snap;	/* its pending tasks (pending fields only) */
	char **names;			/* distinct task names in the answer, all kinds */
	size_t name_count;
	long total;			/* tasks the GCS matched (the state API's `total`) */
	long returned;			/* of those, returned by the GCS (num_after_truncation) */
};
void task_round_free(struct task_round *r);
/* Add name to r->names unless there.  0 or -ENOMEM. */
int task_round_add_name(struct task_round *r, const char *name);

/* Read one round, excluding those names.  0 or -errno with err
 * (DASH_ERR_LEN). */
typedef int (*task_round_fn)(void *ctx, const char *const *exclude, size_t exclude_count,
			     struct task_round *r, char *err);
/* After each round that is not the last: the tasks so far (borrowed). */
typedef void (*task_progress_fn)(void *ctx, const struct dash_snapshot *sofar);

struct task_rounds_stats {
	int rounds;			/* rounds whose tasks were kept */
	bool complete;			/* the last round held every task it matched */
	long unseen;			/* when not: tasks the last kept round matched, not returned */
	char stop[DASH_ERR_LEN];	/* when not complete: why it stopped */
};

/* Read rounds into out's pending fields (out has none) until complete, a
 * round fails (the earlier rounds are kept; round 0 failing returns its
 * error), a round returns an excluded name (the filter was ignored: that
 * round is dropped, so nothing is counted twice), nothing new is left to
 * exclude, or TASK_ROUNDS_NAMES_MAX / max_rounds is reached.  0 or -errno.
 * progress may be NULL. */
int task_rounds_run(task_round_fn read, task_progress_fn progress, void *ctx, int max_rounds,
		    struct dash_snapshot *out, struct task_rounds_stats *st, char *err);

#endif
