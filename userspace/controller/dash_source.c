/* dash_source.c -- the Ray dashboard as the control loop's cluster source
 * (source.h): a thin adapter over the dashboard client (dashboard.h). */
#include "controller/source.h"

#include <errno.h>
#include <stdlib.h>

static struct dash_client *client(struct cluster_source *s)
{
	return s->impl;
}

static int ds_fetch(struct cluster_source *s, struct dash_snapshot *snap,
		    enum dash_source *failed, char *err)
{
	return dash_fetch_snapshot(client(s), snap, failed, err);
}

static int ds_version(struct cluster_source *s, char *out, size_t size, char *err)
{
	return dash_fetch_version(client(s), out, size, err);
}

static int ds_node_has_work(struct cluster_source *s, const char *ray_node_id, bool *busy,
			    char *err)
{
	return dash_node_has_work(client(s), ray_node_id, busy, err);
}

static const char *ds_describe(struct cluster_source *s)
{
	return client(s)->base_url;
}

static void ds_destroy(struct cluster_source *s)
{
	free(s->impl);
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

int dash_source_create(const struct dash_client *cfg, struct cluster_source *out)
{
	struct dash_client *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	*c = *cfg;
	out->ops = &dash_source_ops;
	out->impl = c;
	return 0;
}
