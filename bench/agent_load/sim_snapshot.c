/* sim_snapshot.c -- per-agent copies of a real snapshot (see sim_snapshot.h). */
#include "sim_snapshot.h"

#include "common/gzip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RAYLETS_MAX 64

void sim_ray_id(long i, int k, char *out, size_t size)
{
	snprintf(out, size, "%048lx%08x", i, k);
}

struct ids {
	const char *from[RAYLETS_MAX];
	int n;
	long agent;
};

/* Rewrite every string that is one of the template's Ray node ids. */
static void rewrite(cJSON *item, const struct ids *ids)
{
	char id[64];
	cJSON *c;

	if (cJSON_IsString(item)) {
		for (int k = 0; k < ids->n; k++) {
			if (!strcmp(item->valuestring, ids->from[k])) {
				sim_ray_id(ids->agent, k, id, sizeof(id));
				cJSON_SetValuestring(item, id);
				return;
			}
		}
		return;
	}
	cJSON_ArrayForEach(c, item)
		rewrite(c, ids);
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsString(item))
		cJSON_SetValuestring(item, value);
}

int sim_snapshot_gzip(const cJSON *templ, long i, long long seq, char **gz, size_t *gz_len)
{
	const cJSON *workers = cJSON_GetObjectItemCaseSensitive(templ, "workers"), *w;
	struct ids ids = { .agent = i };
	cJSON *doc, *node;
	char name[32], *json;
	int err;

	if (!cJSON_IsArray(workers) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(templ, "node")))
		return -EINVAL;
	cJSON_ArrayForEach(w, workers) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "ray_node_id");

		if (cJSON_IsString(id) && id->valuestring[0] && ids.n < RAYLETS_MAX)
			ids.from[ids.n++] = id->valuestring;
	}
	if (!(doc = cJSON_Duplicate(templ, 1)))
		return -ENOMEM;
	rewrite(doc, &ids);
	node = cJSON_GetObjectItemCaseSensitive(doc, "node");
	snprintf(name, sizeof(name), "sim-%05ld", i);
	set_string(node, "node_name", name);
	set_string(node, "hostname", name);
	cJSON_ReplaceItemInObjectCaseSensitive(doc, "seq", cJSON_CreateNumber((double)seq));
	cJSON_ReplaceItemInObjectCaseSensitive(doc, "taken_unix_ms",
					       cJSON_CreateNumber((double)time(NULL) * 1000.0));
	json = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!json)
		return -ENOMEM;
	err = rs_gzip_compress(json, strlen(json), gz, gz_len);
	free(json);
	return err;
}
