/* dash_source.c -- the Ray dashboard as the control loop's cluster source
 * (source.h).  The cheap reads (nodes, cluster status, v2 views) run in the
 * tick; the pending-task list, whose cost on the head grows with the number
 * of tasks, is read in the background (bg_fetch.h), paced by its own cost,
 * and only while the cheap reads show at most tasks_max_pending pending
 * tasks: above that the list costs the dashboard seconds, during which its
 * event loop serves nothing else (measured: /api/v0/nodes timed out at
 * 10,000 pending tasks), and the report already carries the demand; a
 * tick whose report read failed goes by the last report for up to 10 s.  The
 * exception is a truncated v1 report: then the list is read whole, in
 * rounds past the state API's cap (task_rounds.h).  A tick asks for a
 * fresh list after its cheap reads and waits for it at most tasks_wait_s,
 * and never past the tick's read budget (tick_budget_ms, counted from the
 * start of its cheap reads); otherwise it takes the last one.  A list older
 * than the report adds no demand (dash_merge_demand only counts tasks
 * pending after the report) and holds scale-down (dash_pending_complete);
 * so a slow list never delays a launch the report justifies.  When the
 * demand was read live from the GCS (gcs_load.h) no list is read at all:
 * it is complete and current, and the list costs the dashboard more CPU
 * than everything else raysense reads (measured: 0.13 core at 1,000
 * pending tasks, docs/demand-at-scale.md). */
#include "controller/source/source.h"

#include "common/log.h"
#include "common/util.h"
#include "controller/source/bg_fetch.h"
#include "controller/source/task_rounds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Without a report (no cluster status) the list is all the demand: older
 * than this it may count tasks that have started since, so it is dropped. */
#define PENDING_MAX_AGE_S 10.0
/* After a failed GCS demand read, the next is tried this much later: a GCS
 * address that swallows connections would otherwise cost every tick the
 * rest of its read budget. */
#define GCS_RETRY_S 5.0

struct dash_reader {
	struct dash_client client;
	double tasks_wait_s;
	long tasks_max_pending;
	struct bg_fetch *tasks;
	/* The last report's pending count and when it was read (loop thread
	 * only): a tick whose report is missing (a v2 text read that timed
	 * out) uses it to decide on the list (report_or_last). */
	long last_report;
	double last_report_at;
	/* The GCS demand read (loop thread only): when to try it again after
	 * a failure, and why it failed. */
	double gcs_retry_at;
	char gcs_error[DASH_ERR_LEN];
};

static struct dash_reader *impl(struct cluster_source *s)
{
	return s->impl;
}

struct list_size {
	bool known;
	size_t count;
	double read_at;
};

static void look_size(const void *answer, const struct bg_fetch_info *info, void *ctx)
{
	struct list_size *ls = ctx;

	ls->known = answer != NULL;
	ls->count = answer ? ((const struct dash_snapshot *)answer)->pending_count : 0;
	ls->read_at = info->answer_started_at;
}

struct rounds_ctx {
	struct dash_reader *d;
	const struct dash_client *client;
	double started;
};

static int read_round(void *ctx, const char *const *exclude, size_t n, struct task_round *r,
		      char *err)
{
	struct rounds_ctx *rc = ctx;

	return dash_fetch_pending_round(rc->client, exclude, n, r, err);
}

/* Each round's tasks are used at once, not after the last round (at
 * 100,000 pending tasks a round takes 5-13 s), unless the kept answer (the
 * last sweep's) lists more: a new sweep's first rounds must not hide the
 * shapes its later rounds will find again (measured: the plan flapped
 * between three and four shapes at 20,000 tasks). */
static void publish_round(void *ctx, const struct dash_snapshot *sofar)
{
	struct rounds_ctx *rc = ctx;
	struct dash_snapshot *copy;
	struct list_size ls;

	bg_fetch_with(rc->d->tasks, look_size, &ls);
	if (ls.known && ls.count >= sofar->pending_count)
		return;
	if (!(copy = calloc(1, sizeof(*copy))))
		return;
	if (dash_pending_copy(copy, sofar)) {
		free(copy);
		return;
	}
	bg_fetch_publish(rc->d->tasks, copy, rc->started);
}

/* The whole list past the state API's cap, in rounds (task_rounds.h). */
static int read_rounds(struct dash_reader *d, const struct dash_client *client,
		       struct dash_snapshot *snap, char *err)
{
	struct rounds_ctx rc = { d, client, rs_now_unix() };
	struct task_rounds_stats st;
	int r;

	memset(snap, 0, sizeof(*snap));
	r = task_rounds_run(read_round, publish_round, &rc, TASK_ROUNDS_MAX, snap, &st, err);
	if (r) {
		dash_snapshot_free(snap);
		return r;
	}
	if (st.complete)
		rs_debug("task list: %zu pending tasks in %d round(s)", snap->pending_count,
			 st.rounds);
	else
		rs_info("task list: %zu pending tasks in %d round(s), %ld more not listed (%s)",
			snap->pending_count, st.rounds, st.unseen, st.stop);
	return 0;
}

static int read_pending(void *ctx, void **answer, char *err)
{
	struct dash_reader *d = ctx;
	struct dash_snapshot *snap = malloc(sizeof(*snap));
	struct dash_client client = d->client;	/* strings and timeouts: fixed */
	char e[DASH_ERR_LEN] = "";
	int rc;

	if (!snap)
		return -ENOMEM;
	client.tasks_limit = __atomic_load_n(&d->client.tasks_limit, __ATOMIC_RELAXED);
	/* tasks_limit 0: the report is truncated, read the whole list. */
	rc = client.tasks_limit ? dash_fetch_pending(&client, snap, e) :
	     read_rounds(d, &client, snap, e);
	if (rc) {
		free(snap);
		snprintf(err, BG_ERR_LEN, "%s", e);
		return rc;
	}
	*answer = snap;
	return 0;
}

static void free_pending(void *answer)
{
	dash_snapshot_free(answer);
	free(answer);
}

struct take_ctx {
	struct dash_snapshot *snap;
	double now;
};

static void take_pending(const void *answer, const struct bg_fetch_info *info, void *ctx)
{
	struct take_ctx *t = ctx;
	struct dash_snapshot *s = t->snap;
	double age = t->now - info->answer_started_at;

	if (!answer) {
		rs_errf(s->pending_error, DASH_ERR_LEN, "task list not read yet%s%.400s",
			info->last_error[0] ? ": " : "", info->last_error);
		return;
	}
	if (!s->cs.present && age > PENDING_MAX_AGE_S) {
		rs_errf(s->pending_error, DASH_ERR_LEN, "task list is %.0f s old (read took %.1f s)",
			age, info->last_duration_s);
		return;
	}
	if (dash_pending_copy(s, answer)) {
		rs_errf(s->pending_error, DASH_ERR_LEN, "out of memory");
		return;
	}
	s->pending_read_at = info->answer_started_at;
	if (info->last_error[0])
		rs_errf(s->pending_error, DASH_ERR_LEN, "the last task-list read failed: %.400s",
			info->last_error);
}


/* Read the list now?  Not while the report shows more than
 * tasks_max_pending pending tasks; and after a list that was full (more
 * than that), not until a report written since says the backlog is below
 * it (the report lags a burst by up to its 5 s cadence).  Without a report
 * only the pace limits it.  Except: a truncated report (demand.h) hides
 * whole shapes, and the list is the one place they show: then it is read
 * whole (the state API's limit) as often as the pace allows. */
static bool list_wanted(struct dash_reader *d, const struct dash_snapshot *s, long report)
{
	struct list_size ls;

	if (s->cs.demand_truncated) {
		__atomic_store_n(&d->client.tasks_limit, 0, __ATOMIC_RELAXED);	/* list_limit */
		return true;
	}
	__atomic_store_n(&d->client.tasks_limit, d->tasks_max_pending + 1, __ATOMIC_RELAXED);
	if (report > d->tasks_max_pending)
		return false;
	bg_fetch_with(d->tasks, look_size, &ls);
	if (!ls.known || ls.count <= (size_t)d->tasks_max_pending || !s->cs.present)
		return true;
	return s->cs.time > ls.read_at;
}

/* Pending tasks and actors the cheap reads show (the report's demand or
 * the v2 text's); -1 when there is no report. */
static long report_pending(const struct dash_snapshot *s)
{
	long n = 0;

	if (!s->cs.present)
		return -1;
	for (size_t i = 0; i < s->cs.demand_count; i++)
		n += s->cs.demand[i].count;
	return n;
}

/* The pending count the report shows, or, when this tick has none, the
 * last one's if it is at most PENDING_MAX_AGE_S old (*age says how old;
 * 0 = this tick's).  Measured at 100,000 pending tasks under autoscaler
 * v2: the status text timed out once, the tick then had no report, read
 * the task list, and that read stalled the dashboard for 10 s (every
 * /api/v0/nodes read timed out): a backlog the last report showed large
 * does not shrink below tasks_max_pending because one read failed. */
static long report_or_last(struct dash_reader *d, const struct dash_snapshot *s, double now,
			   double *age)
{
	long n = report_pending(s);

	*age = 0;
	if (n >= 0) {
		d->last_report = n;
		d->last_report_at = now;
		return n;
	}
	if (d->last_report_at <= 0 || now - d->last_report_at > PENDING_MAX_AGE_S)
		return -1;
	*age = now - d->last_report_at;
	return d->last_report;
}

/* After a tick's reads: back off from a GCS read that failed, and say why
 * a skipped one was not made. */
static void pace_gcs(struct dash_reader *d, struct dash_snapshot *snap, double start, bool skipped)
{
	if (skipped) {
		if (snap->cs.source == DASH_CS_STRUCTURED)
			rs_errf(snap->gcs_error, DASH_ERR_LEN, "not read for %.0f s after a failure: "
				"%.400s", d->gcs_retry_at - start, d->gcs_error);
	} else if (snap->gcs_error[0]) {
		d->gcs_retry_at = start + GCS_RETRY_S;
		snprintf(d->gcs_error, sizeof(d->gcs_error), "%s", snap->gcs_error);
	}
}

static int ds_fetch(struct cluster_source *src, struct dash_snapshot *snap,
		    enum dash_source *failed, char *err)
{
	struct dash_reader *d = impl(src);
	struct take_ctx t = { snap, 0 };
	double start = rs_now_unix(), left, age;
	struct dash_client client;
	unsigned long gen;
	long pending;
	bool wanted, skip_gcs;
	int rc;

	client = d->client;
	skip_gcs = client.gcs_address && start < d->gcs_retry_at;
	if (skip_gcs)
		client.gcs_address = NULL;
	rc = dash_fetch_cluster(&client, snap, failed, err);
	if (rc)
		return rc;
	pace_gcs(d, snap, start, skip_gcs);
	if (snap->cs.demand_from_gcs)
		return 0;	/* live and complete: the list would add nothing */
	pending = report_or_last(d, snap, rs_now_unix(), &age);
	wanted = list_wanted(d, snap, pending);
	if (wanted) {
		gen = bg_fetch_generation(d->tasks);
		bg_fetch_kick(d->tasks);
		/* The wait comes out of the tick's read budget: a dashboard
		 * slowed by a list read must not push the tick past it. */
		left = dash_tick_budget_s(&d->client) - (rs_now_unix() - start);
		if (left > 0)
			bg_fetch_wait(d->tasks, gen, left < d->tasks_wait_s ? left : d->tasks_wait_s);
	}
	t.now = rs_now_unix();
	bg_fetch_with(d->tasks, take_pending, &t);
	if (!wanted)
		rs_errf(snap->pending_error, DASH_ERR_LEN, "not read: more than %ld tasks pending "
			"(report %ld%s), the list would stall the dashboard", d->tasks_max_pending,
			pending, age > 0 ? ", the last one read; none this tick" : "");
	return 0;
}

static int ds_version(struct cluster_source *s, char *out, size_t size, char *err)
{
	return dash_fetch_version(&impl(s)->client, out, size, err);
}

static int ds_node_has_work(struct cluster_source *s, const char *ray_node_id, bool *busy,
			    char *err)
{
	return dash_node_has_work(&impl(s)->client, ray_node_id, busy, err);
}

static const char *ds_describe(struct cluster_source *s)
{
	return impl(s)->client.base_url;
}

static void ds_destroy(struct cluster_source *s)
{
	struct dash_reader *d = impl(s);

	if (!d)
		return;
	bg_fetch_stop(d->tasks);
	free(d);
	s->impl = NULL;
}

static const struct cluster_source_ops dash_source_ops = {
	.name = "dashboard",
	.fetch = ds_fetch,
	.version = ds_version,
	.node_has_work = ds_node_has_work,
	.describe = ds_describe,
	.destroy = ds_destroy,
};

int dash_source_create(const struct dash_client *cfg, double tasks_wait_s,
		       long tasks_max_pending, struct cluster_source *out)
{
	struct dash_reader *d = calloc(1, sizeof(*d));
	struct bg_fetch_config bc = {
		.name = "task list",
		.fetch = read_pending,
		.free_answer = free_pending,
		.kick_only = true,
	};
	int rc;

	if (!d)
		return -ENOMEM;
	d->client = *cfg;
	d->tasks_wait_s = tasks_wait_s >= 0 ? tasks_wait_s : 0.3;
	d->tasks_max_pending = tasks_max_pending >= 0 ? tasks_max_pending : 2000;
	/* One more than the most it may see: a full answer means "too many". */
	d->client.tasks_limit = d->tasks_max_pending + 1;
	bc.ctx = d;
	rc = bg_fetch_start(&bc, &d->tasks);
	if (rc) {
		free(d);
		return rc;
	}
	out->ops = &dash_source_ops;
	out->impl = d;
	return 0;
}
