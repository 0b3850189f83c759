/* node_map.c -- Ray node -> Kubernetes node (see node_map.h): two sorted
 * tables under one lock, Ray node id -> IP and pod IP -> node name. */
#include "common/util.h"
#include "controller/auth/node_map.h"

#include "common/json_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ray_ip {
	char id[64];
	char ip[64];
};

struct node_map {
	pthread_mutex_t lock;
	struct ray_ip *ray;
	size_t n_ray;
	struct node_map_pod *pods;	/* sorted by IP; node "" = ambiguous */
	size_t n_pods;
	bool have_pods;
};

struct node_map *node_map_new(void)
{
	struct node_map *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void node_map_free(struct node_map *m)
{
	if (!m)
		return;
	free(m->ray);
	free(m->pods);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int cmp_ray(const void *a, const void *b)
{
	return strcmp(((const struct ray_ip *)a)->id, ((const struct ray_ip *)b)->id);
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct node_map_pod *)a)->ip, ((const struct node_map_pod *)b)->ip);
}

int node_map_set_ray_nodes(struct node_map *m, const struct dash_snapshot *snap)
{
	struct ray_ip *r = calloc(snap->node_count + 1, sizeof(*r));
	size_t n = 0;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < snap->node_count; i++) {
		const struct dash_node *d = &snap->nodes[i];

		if (!d->node_ip || strlen(d->node_id) >= sizeof(r->id) ||
		    strlen(d->node_ip) >= sizeof(r->ip))
			continue;
		snprintf(r[n].id, sizeof(r[n].id), "%s", d->node_id);
		snprintf(r[n].ip, sizeof(r[n].ip), "%s", d->node_ip);
		n++;
	}
	qsort(r, n, sizeof(*r), cmp_ray);
	pthread_mutex_lock(&m->lock);
	free(m->ray);
	m->ray = r;
	m->n_ray = n;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Sort by IP and fold duplicates: one node, or "" when they disagree. */
static size_t fold_pods(struct node_map_pod *p, size_t n)
{
	size_t out = 0;

	qsort(p, n, sizeof(*p), cmp_pod);
	for (size_t i = 0; i < n; i++) {
		if (out && !strcmp(p[out - 1].ip, p[i].ip)) {
			if (strcmp(p[out - 1].node, p[i].node))
				p[out - 1].node[0] = '\0';
			continue;
		}
		p[out++] = p[i];
	}
	return out;
}

void node_map_set_pods(struct node_map *m, struct node_map_pod *pods, size_t n)
{
	n = pods ? fold_pods(pods, n) : 0;
	pthread_mutex_lock(&m->lock);
	free(m->pods);
	m->pods = pods;
	m->n_pods = n;
	m->have_pods = true;
	pthread_mutex_unlock(&m->lock);
}

bool node_map_has_pods(struct node_map *m)
{
	bool have;

	pthread_mutex_lock(&m->lock);
	have = m->have_pods;
	pthread_mutex_unlock(&m->lock);
	return have;
}

static bool parse_pod(const cJSON *item, struct node_map_pod *p)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(item, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "status");
	const char *ip = rs_json_opt_str(status, "podIP"), *node = rs_json_opt_str(spec, "nodeName");
	const char *phase = rs_json_opt_str(status, "phase");

	if (!ip || !*ip || !node || !*node || strlen(ip) >= sizeof(p->ip) ||
	    strlen(node) >= sizeof(p->node))
		return false;
	if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
		return false;
	snprintf(p->ip, sizeof(p->ip), "%s", ip);
	snprintf(p->node, sizeof(p->node), "%s", node);
	return true;
}

int node_map_parse_pods(const char *body, size_t len, struct node_map_pod **pods, size_t *n,
			char *err, size_t err_size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *items, *item;
	cJSON *root = NULL;

	*pods = NULL;
	*n = 0;
	if (rs_json_parse(body, len, &root, &jerr) ||
	    rs_json_get_array(root, "$", "items", true, &items, &jerr)) {
		rs_errf(err, err_size, "PodList: %s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	*pods = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(**pods));
	if (!*pods) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, items)
		*n += parse_pod(item, &(*pods)[*n]);
	cJSON_Delete(root);
	return 0;
}

bool node_map_where(struct node_map *m, const char *ray_node_id, char *node, size_t size)
{
	struct ray_ip rkey;
	struct node_map_pod pkey;
	const struct ray_ip *r;
	const struct node_map_pod *p = NULL;

	memset(&rkey, 0, sizeof(rkey));
	memset(&pkey, 0, sizeof(pkey));
	if (strlen(ray_node_id) >= sizeof(rkey.id))
		return false;
	snprintf(rkey.id, sizeof(rkey.id), "%s", ray_node_id);
	pthread_mutex_lock(&m->lock);
	r = m->n_ray ? bsearch(&rkey, m->ray, m->n_ray, sizeof(*m->ray), cmp_ray) : NULL;
	if (r) {
		snprintf(pkey.ip, sizeof(pkey.ip), "%s", r->ip);
		p = m->n_pods ? bsearch(&pkey, m->pods, m->n_pods, sizeof(*m->pods), cmp_pod)
			      : NULL;
	}
	if (p && p->node[0])
		snprintf(node, size, "%s", p->node);
	pthread_mutex_unlock(&m->lock);
	return p && p->node[0];
}
