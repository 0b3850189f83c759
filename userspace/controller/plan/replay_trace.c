/* replay_trace.c -- parse a replay trace (JSON lines, docs/replay.md) into
 * struct replay_trace (replay.h).  Strict like the scenario parser: unknown
 * keys are refused (keys starting with '_' are comments), every value is
 * type- and range-checked, and every error names its line and JSON path.
 * Pure. */
#include "controller/plan/replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 64
#define MAX_SAMPLES 100000
#define PATH_LEN 128

struct parse {
	struct replay_trace *t;
	struct rs_json_error err;
	double task_duration_s;		/* default for submits; < 0 = none */
	double drain_s;
	double last_t;			/* events come in time order */
	double last_busy;		/* latest submit t + duration */
	size_t sub_cap;
};

static void *grow(void *v, size_t *cap, size_t need, size_t size)
{
	size_t cap2;
	void *p;

	if (need <= *cap)
		return v;
	cap2 = *cap ? *cap * 2 : 16;
	while (cap2 < need)
		cap2 *= 2;
	p = realloc(v, cap2 * size);
	if (p)
		*cap = cap2;
	return p;
}

/* An optional number in [min, max]; absent leaves *out unchanged. */
static int get_number(const cJSON *o, const char *path, const char *key, double min, double max,
		      double *out, struct rs_json_error *err)
{
	double v = min;
	int rc;

	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		return 0;
	if ((rc = rs_json_get_nonneg(o, path, key, &v, err)))
		return rc;
	if (v < min || v > max) {
		rs_json_set_error(err, "%s.%s: %g is out of range [%g, %g]", path, key, v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- header */

static int parse_dist(const cJSON *o, const char *path, struct replay_startup *s,
		      struct rs_json_error *err)
{
	static const char *const names[] = { "fixed", "lognormal", "samples", "recorded", NULL };
	const char *d;
	int rc = rs_json_get_string(o, path, "dist", true, &d, err);

	if (rc)
		return rc;
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(d, names[i])) {
			s->dist = (enum replay_dist)i;
			return 0;
		}
	rs_json_set_error(err, "%s.dist: '%s' is not fixed, lognormal, samples or recorded", path, d);
	return -EINVAL;
}

static int parse_samples(const cJSON *o, const char *path, struct replay_startup *s,
			 struct rs_json_error *err)
{
	const cJSON *arr, *it;
	int rc = rs_json_get_array(o, path, "samples_s", true, &arr, err);
	int n = arr ? cJSON_GetArraySize(arr) : 0;

	if (rc)
		return rc;
	if (n < 1 || n > MAX_SAMPLES) {
		rs_json_set_error(err, "%s.samples_s: expected 1 to %d numbers", path, MAX_SAMPLES);
		return -EINVAL;
	}
	if (!(s->samples = calloc((size_t)n, sizeof(double))))
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0) {
			rs_json_set_error(err, "%s.samples_s[%zu]: expected a number >= 0", path,
					  s->sample_count);
			return -EINVAL;
		}
		s->samples[s->sample_count++] = it->valuedouble;
	}
	return 0;
}

static int parse_startup(const cJSON *o, const char *path, struct replay_startup *s,
			 struct rs_json_error *err)
{
	static const char *const keys[] = { "dist", "s", "median_s", "sigma", "samples_s",
					    "never_p", NULL };
	int rc;

	if (!cJSON_IsObject(o)) {
		rs_json_set_error(err, "%s: expected an object", path);
		return -EINVAL;
	}
	s->s = 60;
	if ((rc = rs_json_check_keys(o, path, keys, err)) || (rc = parse_dist(o, path, s, err)) ||
	    (rc = get_number(o, path, "s", 0, 86400, &s->s, err)) ||
	    (rc = get_number(o, path, "never_p", 0, 1, &s->never_p, err)))
		return rc;
	if (s->dist == REPLAY_LOGNORMAL &&
	    ((rc = rs_json_get_number(o, path, "median_s", true, &s->median_s, err)) ||
	     (rc = get_number(o, path, "median_s", 0, 86400, &s->median_s, err)) ||
	     (rc = get_number(o, path, "sigma", 0, 5, &s->sigma, err))))
		return rc;
	if (s->dist == REPLAY_SAMPLES)
		return parse_samples(o, path, s, err);
	return 0;
}

static int check_group(struct parse *ps, const char *path, const char *name, long min,
		       long max)
{
	if (!name[0] || strlen(name) > CONFIG_NAME_MAX) {
		rs_json_set_error(&ps->err, "%s.name: empty or longer than %d", path,
				  CONFIG_NAME_MAX);
		return -EINVAL;
	}
	if (config_find_group(&ps->t->cfg, name)) {
		rs_json_set_error(&ps->err, "%s.name: '%s' appears twice", path, name);
		return -EINVAL;
	}
	if (min > max) {
		rs_json_set_error(&ps->err, "%s: min %ld > max %ld", path, min, max);
		return -EINVAL;
	}
	return 0;
}

static int parse_group(struct parse *ps, const cJSON *o, size_t i)
{
	static const char *const keys[] = { "name", "resources", "min", "max", "idle_timeout_s",
					    "started_after_s", "startup_s", NULL };
	struct worker_group *g = &ps->t->cfg.groups[i];
	struct replay_startup *s = &ps->t->startup[i];
	const cJSON *res, *st;
	const char *name;
	long min = 0, max = 0;
	char path[PATH_LEN], sub[PATH_LEN + 16];
	int rc;

	snprintf(path, sizeof(path), "$.groups[%zu]", i);
	g->idle_timeout_s = -1;
	if ((rc = rs_json_check_keys(o, path, keys, &ps->err)) ||
	    (rc = rs_json_get_string(o, path, "name", true, &name, &ps->err)) ||
	    (rc = rs_json_get_object(o, path, "resources", true, &res, &ps->err)) ||
	    (rc = rs_json_get_object(o, path, "startup_s", true, &st, &ps->err)) ||
	    (rc = rs_json_get_whole(o, path, "min", false, 0, PLANNER_MAX_NODES, &min, &ps->err)) ||
	    (rc = rs_json_get_whole(o, path, "max", true, 0, PLANNER_MAX_NODES, &max, &ps->err)) ||
	    (rc = get_number(o, path, "idle_timeout_s", 0, 86400, &g->idle_timeout_s, &ps->err)) ||
	    (rc = get_number(o, path, "started_after_s", 0, 86400, &s->started_after_s, &ps->err)) ||
	    (rc = check_group(ps, path, name, min, max)))
		return rc;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->min_workers = (int)min;
	g->max_workers = (int)max;
	snprintf(sub, sizeof(sub), "%s.resources", path);
	if ((rc = resmap_from_json(&g->resources, res, sub, false, &ps->err)))
		return rc;
	snprintf(sub, sizeof(sub), "%s.startup_s", path);
	return parse_startup(st, sub, s, &ps->err);
}

static int parse_groups(struct parse *ps, const cJSON *doc)
{
	const cJSON *arr, *it;
	int rc = rs_json_get_array(doc, "$", "groups", true, &arr, &ps->err);
	int n = arr ? cJSON_GetArraySize(arr) : 0;
	size_t i = 0;

	if (rc)
		return rc;
	if (n < 1 || n > MAX_GROUPS) {
		rs_json_set_error(&ps->err, "$.groups: expected 1 to %d worker groups", MAX_GROUPS);
		return -EINVAL;
	}
	ps->t->cfg.groups = calloc((size_t)n, sizeof(*ps->t->cfg.groups));
	ps->t->startup = calloc((size_t)n, sizeof(*ps->t->startup));
	if (!ps->t->cfg.groups || !ps->t->startup)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		ps->t->cfg.group_count = i + 1;
		if ((rc = parse_group(ps, it, i++)))
			return rc;
	}
	return 0;
}

static int parse_cluster(struct parse *ps, const cJSON *doc)
{
	static const char *const keys[] = { "max_workers", "upscaling_speed", "idle_timeout_s",
					    "max_concurrent_launches", "launch_timeout_s", NULL };
	struct controller_config *c = &ps->t->cfg;
	const cJSON *o;
	long maxw = c->max_workers, mcl = 0;
	int rc = rs_json_get_object(doc, "$", "cluster", false, &o, &ps->err);

	if (rc == -ENOENT)
		return 0;
	if (rc || (rc = rs_json_check_keys(o, "$.cluster", keys, &ps->err)) ||
	    (rc = rs_json_get_whole(o, "$.cluster", "max_workers", false, -1, PLANNER_MAX_NODES,
				    &maxw, &ps->err)) ||
	    (rc = rs_json_get_whole(o, "$.cluster", "max_concurrent_launches", false, 0, 100000,
				    &mcl, &ps->err)) ||
	    (rc = get_number(o, "$.cluster", "upscaling_speed", 0, 1e6, &c->upscaling_speed,
			     &ps->err)) ||
	    (rc = get_number(o, "$.cluster", "idle_timeout_s", 0, 86400, &c->idle_timeout_s,
			     &ps->err)) ||
	    (rc = get_number(o, "$.cluster", "launch_timeout_s", 1, 86400,
			     &ps->t->launch_timeout_s, &ps->err)))
		return rc;
	c->max_workers = (int)maxw;
	c->max_concurrent_launches = (int)mcl;
	return 0;
}

static int parse_loops(struct parse *ps, const cJSON *doc)
{
	static const char *const keys[] = { "ray_s", "raysense_s", "ray_demand_lag_s", NULL };
	struct replay_trace *t = ps->t;
	const cJSON *o;
	int rc = rs_json_get_object(doc, "$", "loops", false, &o, &ps->err);

	if (rc == -ENOENT)
		return 0;
	if (rc || (rc = rs_json_check_keys(o, "$.loops", keys, &ps->err)) ||
	    (rc = get_number(o, "$.loops", "ray_s", 1, 3600, &t->ray.interval_s, &ps->err)) ||
	    (rc = get_number(o, "$.loops", "raysense_s", 1, 3600, &t->raysense.interval_s,
			     &ps->err)))
		return rc;
	return get_number(o, "$.loops", "ray_demand_lag_s", 0, 3600, &t->ray.demand_lag_s,
			  &ps->err);
}

static int parse_fusion(struct parse *ps, const cJSON *doc)
{
	static const char *const keys[] = { "keep_after_lease_s", "stuck_factor",
					    "stuck_min_samples", "backoff_s", "idle_beta",
					    "idle_max_s", "returned_window_s", NULL };
	struct fusion_config *f = &ps->t->fusion;
	const char *p = "$.fusion";
	const cJSON *o;
	long n = (long)f->stuck_min_samples;
	int rc = rs_json_get_object(doc, "$", "fusion", false, &o, &ps->err);

	if (rc == -ENOENT)
		return 0;
	if (rc || (rc = rs_json_check_keys(o, p, keys, &ps->err)) ||
	    (rc = rs_json_get_nonneg(o, p, "keep_after_lease_s", &f->keep_after_lease_s, &ps->err)) ||
	    (rc = rs_json_get_nonneg(o, p, "stuck_factor", &f->stuck_factor, &ps->err)) ||
	    (rc = rs_json_get_whole(o, p, "stuck_min_samples", false, 1, STARTUP_SAMPLES, &n,
				    &ps->err)) ||
	    (rc = rs_json_get_nonneg(o, p, "backoff_s", &f->backoff_s, &ps->err)) ||
	    (rc = rs_json_get_nonneg(o, p, "idle_beta", &f->idle_beta, &ps->err)) ||
	    (rc = rs_json_get_nonneg(o, p, "idle_max_s", &f->idle_max_s, &ps->err)))
		return rc;
	f->stuck_min_samples = (size_t)n;
	return rs_json_get_nonneg(o, p, "returned_window_s", &f->returned_window_s, &ps->err);
}

static void set_defaults(struct replay_trace *t)
{
	config_init(&t->cfg);
	t->launch_timeout_s = 180;
	t->end_s = -1;
	t->ray = (struct replay_loop){ .interval_s = 5, .signals = false };
	t->raysense = (struct replay_loop){ .interval_s = 1, .signals = true };
	fusion_config_defaults(&t->fusion);
}

static int parse_header(struct parse *ps, const cJSON *doc)
{
	static const char *const keys[] = { "replay", "seed", "end_s", "drain_s", "task_duration_s",
					    "cluster", "groups", "loops", "fusion", NULL };
	long version = 1, seed = 0;
	int rc;

	if ((rc = rs_json_check_keys(doc, "$", keys, &ps->err)) ||
	    (rc = rs_json_get_whole(doc, "$", "replay", false, 1, 1, &version, &ps->err)) ||
	    (rc = rs_json_get_whole(doc, "$", "seed", false, 0, 1L << 52, &seed, &ps->err)) ||
	    (rc = get_number(doc, "$", "end_s", 1, REPLAY_MAX_END_S, &ps->t->end_s, &ps->err)) ||
	    (rc = get_number(doc, "$", "drain_s", 0, REPLAY_MAX_END_S, &ps->drain_s, &ps->err)) ||
	    (rc = get_number(doc, "$", "task_duration_s", 0, REPLAY_MAX_END_S,
			     &ps->task_duration_s, &ps->err)) ||
	    (rc = parse_cluster(ps, doc)) || (rc = parse_loops(ps, doc)) ||
	    (rc = parse_fusion(ps, doc)))
		return rc;
	ps->t->seed = (uint64_t)seed;
	return parse_groups(ps, doc);
}

/* ---------------------------------------------------------------- events */

static int shape_index(struct replay_trace *t, struct resmap *m, size_t *out)
{
	struct resmap *v;

	for (size_t i = 0; i < t->shape_count; i++)
		if (resmap_equal(&t->shapes[i], m)) {
			resmap_free(m);
			*out = i;
			return 0;
		}
	if (!(v = realloc(t->shapes, (t->shape_count + 1) * sizeof(*v))))
		return -ENOMEM;
	t->shapes = v;
	v[t->shape_count] = *m;
	*out = t->shape_count++;
	return 0;
}

static int parse_submit(struct parse *ps, const cJSON *o, size_t i, double at)
{
	static const char *const keys[] = { "shape", "count", "duration_s", NULL };
	struct replay_submit sub = { .t = at, .count = 1, .duration_s = ps->task_duration_s };
	struct resmap m = { 0 };
	const cJSON *shape;
	char path[PATH_LEN];
	int rc;

	snprintf(path, sizeof(path), "$.submit[%zu]", i);
	if ((rc = rs_json_check_keys(o, path, keys, &ps->err)) ||
	    (rc = rs_json_get_object(o, path, "shape", true, &shape, &ps->err)) ||
	    (rc = rs_json_get_whole(o, path, "count", false, 0, REPLAY_MAX_TASKS, &sub.count,
				    &ps->err)) ||
	    (rc = get_number(o, path, "duration_s", 0, REPLAY_MAX_END_S, &sub.duration_s,
			     &ps->err)))
		return rc;
	if (sub.duration_s < 0) {
		rs_json_set_error(&ps->err, "%s.duration_s: missing (and no task_duration_s in the "
				  "header)", path);
		return -EINVAL;
	}
	if ((ps->t->task_count += sub.count) > REPLAY_MAX_TASKS) {
		rs_json_set_error(&ps->err, "%s: more than %ld tasks in the trace", path,
				  REPLAY_MAX_TASKS);
		return -EINVAL;
	}
	snprintf(path + strlen(path), sizeof(path) - strlen(path), ".shape");
	if ((rc = resmap_from_json(&m, shape, path, false, &ps->err)) ||
	    (!m.count && (rc = -EINVAL)) || (rc = shape_index(ps->t, &m, &sub.shape))) {
		if (rc == -EINVAL && !m.count)
			rs_json_set_error(&ps->err, "%s: no resource > 0", path);
		resmap_free(&m);
		return rc;
	}
	if (!(ps->t->subs = grow(ps->t->subs, &ps->sub_cap, ps->t->sub_count + 1, sizeof(sub))))
		return -ENOMEM;
	ps->t->subs[ps->t->sub_count++] = sub;
	ps->last_busy = fmax(ps->last_busy, at + sub.duration_s);
	return 0;
}

/* {"group": "eci", "s": 41.5}: one startup the controller saw. */
static int parse_startup_sample(struct parse *ps, const cJSON *o)
{
	static const char *const keys[] = { "group", "s", NULL };
	const char *name;
	double s = -1;
	int g, rc;
	struct replay_startup *st;
	double *v;

	if ((rc = rs_json_check_keys(o, "$.startup", keys, &ps->err)) ||
	    (rc = rs_json_get_string(o, "$.startup", "group", true, &name, &ps->err)) ||
	    (rc = rs_json_get_number(o, "$.startup", "s", true, &s, &ps->err)) ||
	    (rc = get_number(o, "$.startup", "s", 0, 86400, &s, &ps->err)))
		return rc;
	if ((g = plan_group_index(&ps->t->cfg, name)) < 0) {
		rs_json_set_error(&ps->err, "$.startup.group: no group '%s' in the header", name);
		return -EINVAL;
	}
	st = &ps->t->startup[g];
	if (st->dist != REPLAY_RECORDED || st->sample_count >= MAX_SAMPLES)
		return 0;
	if (!(v = realloc(st->samples, (st->sample_count + 1) * sizeof(*v))))
		return -ENOMEM;
	st->samples = v;
	v[st->sample_count++] = s;
	return 0;
}

static int parse_event(struct parse *ps, const cJSON *doc)
{
	static const char *const keys[] = { "t", "submit", "startup", NULL };
	const cJSON *arr = NULL, *st = NULL, *it;
	double at = -1;
	size_t i = 0;
	int rc;

	if ((rc = rs_json_check_keys(doc, "$", keys, &ps->err)) ||
	    (rc = rs_json_get_number(doc, "$", "t", true, &at, &ps->err)) ||
	    (rc = get_number(doc, "$", "t", 0, REPLAY_MAX_END_S, &at, &ps->err)) ||
	    ((rc = rs_json_get_array(doc, "$", "submit", false, &arr, &ps->err)) && rc != -ENOENT) ||
	    ((rc = rs_json_get_object(doc, "$", "startup", false, &st, &ps->err)) && rc != -ENOENT))
		return rc;
	if (at < ps->last_t) {
		rs_json_set_error(&ps->err, "$.t: %g is before the previous event's %g (events come "
				  "in time order)", at, ps->last_t);
		return -EINVAL;
	}
	ps->last_t = at;
	if (st && (rc = parse_startup_sample(ps, st)))
		return rc;
	cJSON_ArrayForEach(it, arr)
		if ((rc = parse_submit(ps, it, i++, at)))
			return rc;
	return 0;
}

/* ---------------------------------------------------------------- lines */

static int parse_line(struct parse *ps, const char *line, size_t len, bool header)
{
	cJSON *doc = NULL;
	int rc = rs_json_parse(line, len, &doc, &ps->err);

	if (!rc && !cJSON_IsObject(doc)) {
		rs_json_set_error(&ps->err, "$: expected a JSON object");
		rc = -EINVAL;
	}
	if (!rc)
		rc = header ? parse_header(ps, doc) : parse_event(ps, doc);
	cJSON_Delete(doc);
	return rc;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int finish(struct parse *ps, char *err, size_t err_size)
{
	struct replay_trace *t = ps->t;

	if (!t->cfg.group_count) {
		snprintf(err, err_size, "no header line (the first line names the worker groups)");
		return -EINVAL;
	}
	if (t->end_s < 0)
		t->end_s = fmin(REPLAY_MAX_END_S, ps->last_busy + ps->drain_s);
	return 0;
}

int replay_trace_parse(const char *buf, size_t len, struct replay_trace *out, char *err,
		       size_t err_size)
{
	struct parse ps = { .t = out, .task_duration_s = -1, .drain_s = 900 };
	size_t lineno = 0, at = 0;
	bool header = true;

	memset(out, 0, sizeof(*out));
	set_defaults(out);
	if (len > REPLAY_MAX_BYTES) {
		snprintf(err, err_size, "larger than %u bytes", REPLAY_MAX_BYTES);
		return -EFBIG;
	}
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (buf + at)) : len - at;
		int rc;

		lineno++;
		if (!blank(buf + at, n)) {
			if ((rc = parse_line(&ps, buf + at, n, header))) {
				snprintf(err, err_size, "line %zu: %s", lineno, ps.err.msg);
				return rc;
			}
			header = false;
		}
		at += n + 1;
	}
	return finish(&ps, err, err_size);
}

void replay_trace_free(struct replay_trace *t)
{
	for (size_t g = 0; t->startup && g < t->cfg.group_count; g++)
		free(t->startup[g].samples);
	free(t->startup);
	for (size_t i = 0; i < t->shape_count; i++)
		resmap_free(&t->shapes[i]);
	free(t->shapes);
	free(t->subs);
	config_free(&t->cfg);
	memset(t, 0, sizeof(*t));
}
