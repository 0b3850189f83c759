/* trace_record.c -- write a replay trace from the controller's ticks
 * (trace_record.h). */
#include "controller/trace_record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen {
	struct resmap shape;
	long count;			/* pending at the previous tick */
	bool present;			/* pending this tick */
};

struct trace_record {
	FILE *f;
	double t0;
	const struct controller_config *cfg;
	struct seen *seen;
	size_t nseen;
	uint64_t *startups;		/* [group]: model samples already written */
};

static int put(struct trace_record *r, cJSON *line)
{
	char *text = line ? cJSON_PrintUnformatted(line) : NULL;
	int rc = 0;

	if (!text)
		rc = -ENOMEM;
	else if (fprintf(r->f, "%s\n", text) < 0 || fflush(r->f))
		rc = -EIO;
	free(text);
	cJSON_Delete(line);
	return rc;
}

static cJSON *group_json(const struct worker_group *g)
{
	cJSON *o = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(o, "startup_s");

	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddItemToObject(o, "resources", resmap_to_json(&g->resources));
	cJSON_AddNumberToObject(o, "min", g->min_workers);
	cJSON_AddNumberToObject(o, "max", g->max_workers);
	if (g->idle_timeout_s >= 0)
		cJSON_AddNumberToObject(o, "idle_timeout_s", g->idle_timeout_s);
	cJSON_AddStringToObject(st, "dist", "recorded");
	return o;
}

static cJSON *header_json(const struct controller_config *cfg, double launch_timeout_s,
			  double task_duration_s)
{
	cJSON *h = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(h, "cluster");
	cJSON *groups = cJSON_AddArrayToObject(h, "groups");

	cJSON_AddNumberToObject(h, "replay", 1);
	cJSON_AddStringToObject(h, "_recorded_by", "raysense controller");
	cJSON_AddNumberToObject(h, "task_duration_s", task_duration_s);
	cJSON_AddNumberToObject(c, "max_workers", cfg->max_workers);
	cJSON_AddNumberToObject(c, "upscaling_speed", cfg->upscaling_speed);
	cJSON_AddNumberToObject(c, "idle_timeout_s", cfg->idle_timeout_s);
	cJSON_AddNumberToObject(c, "max_concurrent_launches", cfg->max_concurrent_launches);
	cJSON_AddNumberToObject(c, "launch_timeout_s", launch_timeout_s);
	for (size_t g = 0; g < cfg->group_count; g++)
		cJSON_AddItemToArray(groups, group_json(&cfg->groups[g]));
	return h;
}

int trace_record_open(struct trace_record **out, const char *path,
		      const struct controller_config *cfg, double launch_timeout_s,
		      double task_duration_s, double now)
{
	struct trace_record *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r || !(r->startups = calloc(cfg->group_count + 1, sizeof(*r->startups)))) {
		free(r);
		return -ENOMEM;
	}
	r->cfg = cfg;
	r->t0 = now;
	if (!(r->f = fopen(path, "w"))) {
		rc = -errno;
		trace_record_close(r);
		return rc;
	}
	if ((rc = put(r, header_json(cfg, launch_timeout_s, task_duration_s)))) {
		trace_record_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* The count this shape had at the previous tick, and remember now's. */
static long previous(struct trace_record *r, const struct planner_resources *shape, long now,
		     int *err)
{
	struct resmap m = { 0 };
	struct seen *v;

	for (size_t i = 0; i < shape->count && !*err; i++)
		*err = resmap_set(&m, shape->items[i].name, shape->items[i].value);
	for (size_t i = 0; i < r->nseen && !*err; i++)
		if (resmap_equal(&r->seen[i].shape, &m)) {
			long was = r->seen[i].count;

			r->seen[i].count = now;
			r->seen[i].present = true;
			resmap_free(&m);
			return was;
		}
	if (*err || !(v = realloc(r->seen, (r->nseen + 1) * sizeof(*v)))) {
		*err = -ENOMEM;
		resmap_free(&m);
		return now;
	}
	r->seen = v;
	v[r->nseen++] = (struct seen){ m, now, true };
	return 0;
}

static cJSON *new_demand(struct trace_record *r, const struct plan_input *p, int *err)
{
	cJSON *subs = cJSON_CreateArray();

	for (size_t i = 0; i < r->nseen; i++)
		r->seen[i].present = false;
	for (size_t i = 0; subs && i < p->in.shape_count; i++) {
		const struct planner_shape_demand *d = &p->in.shapes[i];
		long was = previous(r, &d->shape, d->count, err);
		cJSON *o;

		if (d->count <= was || !(o = cJSON_CreateObject()))
			continue;
		cJSON_AddItemToObject(o, "shape", resources_to_json(&d->shape));
		cJSON_AddNumberToObject(o, "count", (double)(d->count - was));
		cJSON_AddItemToArray(subs, o);
	}
	for (size_t i = 0; i < r->nseen; i++)
		if (!r->seen[i].present)
			r->seen[i].count = 0;	/* gone: if it comes back, all of it is new */
	return subs;
}

static int put_startups(struct trace_record *r, const struct fusion *f, double t)
{
	int rc = 0;

	for (size_t g = 0; g < r->cfg->group_count && g < f->group_count && !rc; g++) {
		/* The replay simulates the controller's launches: its own samples. */
		const struct startup_series *sg = &f->g[g].startup.src[STARTUP_SRC_CONTROLLER];
		uint64_t k = sg->count - r->startups[g];

		if (k > STARTUP_SAMPLES)
			k = STARTUP_SAMPLES;
		for (uint64_t i = 0; i < k && !rc; i++) {
			size_t at = (sg->next + STARTUP_SAMPLES - (size_t)k + (size_t)i) % STARTUP_SAMPLES;
			cJSON *line = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(line, "startup");

			cJSON_AddNumberToObject(line, "t", t);
			cJSON_AddStringToObject(s, "group", r->cfg->groups[g].name);
			cJSON_AddNumberToObject(s, "s", sg->samples[at]);
			rc = put(r, line);
		}
		r->startups[g] = sg->count;
	}
	return rc;
}

int trace_record_tick(struct trace_record *r, const struct plan_input *p, const struct fusion *f)
{
	double t;
	cJSON *subs, *line;
	int err = 0;

	if (!r)
		return 0;
	t = p->now - r->t0 > 0 ? p->now - r->t0 : 0;
	subs = new_demand(r, p, &err);
	if (subs && cJSON_GetArraySize(subs) > 0 && (line = cJSON_CreateObject())) {
		cJSON_AddNumberToObject(line, "t", t);
		cJSON_AddItemToObject(line, "submit", subs);
		subs = NULL;
		err = err ? err : put(r, line);
	}
	cJSON_Delete(subs);
	if (f && !err)
		err = put_startups(r, f, t);
	return err;
}

void trace_record_close(struct trace_record *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	for (size_t i = 0; i < r->nseen; i++)
		resmap_free(&r->seen[i].shape);
	free(r->seen);
	free(r->startups);
	free(r);
}
