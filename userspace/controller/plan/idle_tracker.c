/* idle_tracker.c -- per-node idle runs across ticks (idle_tracker.h). */
#include "controller/plan/idle_tracker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct idle_entry *find(const struct idle_tracker *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].node_id, id))
			return &t->v[i];
	return NULL;
}

static struct idle_entry *find_or_add(struct idle_tracker *t, const char *id, double now)
{
	struct idle_entry *e = find(t, id);

	if (e)
		return e;
	e = realloc(t->v, (t->n + 1) * sizeof(*e));
	if (!e)
		return NULL;
	t->v = e;
	e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->node_id, sizeof(e->node_id), "%s", id);
	e->last_seen = now;
	return e;
}

static void forget_old(struct idle_tracker *t, double now)
{
	size_t w = 0;

	for (size_t i = 0; i < t->n; i++)
		if (now - t->v[i].last_seen < IDLE_FORGET_S)
			t->v[w++] = t->v[i];
	t->n = w;
}

int idle_tracker_update(struct idle_tracker *t, const struct dash_snapshot *s, bool fresh,
			double now)
{
	int rc = 0;

	for (size_t i = 0; i < s->node_count; i++) {
		const struct dash_node *n = &s->nodes[i];
		struct idle_entry *e;

		if (!n->alive || n->is_head)
			continue;
		if (!(e = find_or_add(t, n->node_id, now))) {
			rc = -ENOMEM;
			continue;
		}
		e->last_seen = now;
		if (fresh && n->have_usage && n->busy && e->busy_since == 0)
			e->busy_since = s->cs.time;
		else if (fresh && n->have_usage && !n->busy)
			e->busy_since = 0;
		if (!fresh || !n->have_usage || n->busy)
			e->idle_since = 0;
		else if (e->idle_since == 0)
			e->idle_since = s->cs.time;
	}
	forget_old(t, now);
	return rc;
}

double idle_tracker_busy_since(const struct idle_tracker *t, const char *node_id)
{
	const struct idle_entry *e = find(t, node_id);

	return e ? e->busy_since : 0;
}

double idle_tracker_seconds(const struct idle_tracker *t, const char *node_id, double now)
{
	const struct idle_entry *e = find(t, node_id);

	if (!e)
		return -1;
	return e->idle_since > 0 ? now - e->idle_since : 0;
}

void idle_tracker_free(struct idle_tracker *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
