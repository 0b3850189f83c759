/* task_rounds.c -- the pending-task list in rounds that exclude the names
 * already seen (task_rounds.h).  Pure. */
#include "controller/source/task_rounds.h"

#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void task_round_free(struct task_round *r)
{
	dash_snapshot_free(&r->snap);
	for (size_t i = 0; i < r->name_count; i++)
		free(r->names[i]);
	free(r->names);
	memset(r, 0, sizeof(*r));
}

static bool has_name(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

int task_round_add_name(struct task_round *r, const char *name)
{
	char **grown;

	if (has_name(r->names, r->name_count, name))
		return 0;
	grown = realloc(r->names, (r->name_count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	r->names = grown;
	if (!(r->names[r->name_count] = strdup(name)))
		return -ENOMEM;
	r->name_count++;
	return 0;
}

/* Move r's pending tasks to the end of out's.  0 or -ENOMEM (nothing moved). */
static int take_tasks(struct dash_snapshot *out, struct task_round *r)
{
	struct dash_pending *grown;

	if (!r->snap.pending_count)
		return 0;
	grown = realloc(out->pending, (out->pending_count + r->snap.pending_count) *
			sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	out->pending = grown;
	memcpy(out->pending + out->pending_count, r->snap.pending,
	       r->snap.pending_count * sizeof(*grown));
	out->pending_count += r->snap.pending_count;
	out->pending_tasks += r->snap.pending_tasks;
	out->pending_actors += r->snap.pending_actors;
	free(r->snap.pending);		/* the shapes now belong to out */
	r->snap.pending = NULL;
	r->snap.pending_count = 0;
	return 0;
}

/* Why the names of round r cannot extend the exclusion list, or NULL
 * (then they are added).  exclude has room for TASK_ROUNDS_NAMES_MAX. */
static const char *extend(char **exclude, size_t *n, const struct task_round *r)
{
	size_t added = 0;

	if (*n + r->name_count > TASK_ROUNDS_NAMES_MAX)
		return "more task names than the exclusion list holds";
	for (size_t i = 0; i < r->name_count; i++)
		exclude[(*n)++] = r->names[i], added++;
	return added ? NULL : "no task name to exclude";
}

static void set_stop(struct task_rounds_stats *st, const char *why, const char *detail)
{
	snprintf(st->stop, sizeof(st->stop), "%s%s%.400s", why, detail[0] ? ": " : "", detail);
}

int task_rounds_run(task_round_fn read, task_progress_fn progress, void *ctx, int max_rounds,
		    struct dash_snapshot *out, struct task_rounds_stats *st, char *err)
{
	char *exclude[TASK_ROUNDS_NAMES_MAX];
	struct task_round kept[TASK_ROUNDS_MAX];	/* own the excluded names */
	size_t n = 0;
	int rc = 0, k = 0;

	memset(st, 0, sizeof(*st));
	if (max_rounds < 1 || max_rounds > TASK_ROUNDS_MAX)
		max_rounds = TASK_ROUNDS_MAX;
	for (;;) {
		struct task_round *r = &kept[k];
		char e[DASH_ERR_LEN] = "";
		const char *why;

		memset(r, 0, sizeof(*r));
		rc = read(ctx, (const char *const *)exclude, n, r, e);
		if (rc) {
			task_round_free(r);
			if (!k) {
				snprintf(err, DASH_ERR_LEN, "%s", e);
				break;
			}
			set_stop(st, "a round failed", e);
			rc = 0;
			break;
		}
		for (size_t i = 0; i < r->name_count; i++)
			if (has_name(exclude, n, r->names[i])) {
				set_stop(st, "the state API ignored the name filter", r->names[i]);
				task_round_free(r);
				goto done;
			}
		if ((rc = take_tasks(out, r))) {
			snprintf(err, DASH_ERR_LEN, "out of memory");
			task_round_free(r);
			break;
		}
		k++;
		st->rounds = k;
		if (r->total <= r->returned) {
			st->complete = true;
			break;
		}
		st->unseen = r->total - r->returned;
		if (k == max_rounds) {
			set_stop(st, "round limit reached", "");
			break;
		}
		if ((why = extend(exclude, &n, r))) {
			set_stop(st, why, "");
			break;
		}
		if (progress)
			progress(ctx, out);
	}
done:
	for (int i = 0; i < k; i++)
		task_round_free(&kept[i]);
	return rc;
}
