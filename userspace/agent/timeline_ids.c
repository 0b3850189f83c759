/* timeline_ids.c -- remembered Ray node ids of startup timelines (see
 * timeline_ids.h). A fixed table, replaced round-robin; a mutex around it. */
#include "agent/timeline_ids.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct timeline_id {
	uint64_t key;
	char node_id[64];
};

static struct timeline_id g_ids[RS_TIMELINE_IDS];
static size_t g_used, g_next;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static struct timeline_id *find(uint64_t key)
{
	for (size_t i = 0; i < g_used; i++)
		if (g_ids[i].key == key)
			return &g_ids[i];
	return NULL;
}

static void remember(uint64_t key, const char *node_id)
{
	struct timeline_id *e = find(key);

	if (!e) {
		e = &g_ids[g_next];
		g_next = (g_next + 1) % RS_TIMELINE_IDS;
		if (g_used < RS_TIMELINE_IDS)
			g_used++;
		e->key = key;
	}
	snprintf(e->node_id, sizeof(e->node_id), "%s", node_id);
}

void rs_timeline_id_resolve(uint64_t key, char *node_id, size_t len)
{
	const struct timeline_id *e;

	if (!len)
		return;
	pthread_mutex_lock(&g_lock);
	if (node_id[0]) {
		remember(key, node_id);
	} else if ((e = find(key))) {
		snprintf(node_id, len, "%s", e->node_id);
	}
	pthread_mutex_unlock(&g_lock);
}
