/* scenario_stream.c -- the scenario read one member or list entry at a time
 * (scenario_stream.h).  Only the structure between members ({ } [ ] , :) is
 * read here; every key and value is parsed by cJSON (rs_json_parse_at). */
#include "controller/plan/scenario_stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The streamed lists, by depth: members of the root, members of "demand". */
static const char *const streamed_root[] = { "nodes", NULL };
static const char *const streamed_demand[] = { "tasks", "actors", "request_resources", NULL };

struct walker {
	const char *doc;
	size_t len, pos;
	scenario_entry_fn fn;
	void *ctx;
	struct rs_json_error *err;
};

/* cJSON skips every byte <= ' ' between tokens; so does the walker, so both
 * accept the same documents. */
static bool at(struct walker *w, char c)
{
	while (w->pos < w->len && (unsigned char)w->doc[w->pos] <= ' ')
		w->pos++;
	return w->pos < w->len && w->doc[w->pos] == c;
}

static int expect(struct walker *w, char c)
{
	if (at(w, c)) {
		w->pos++;
		return 0;
	}
	rs_json_syntax_error(w->err, w->doc, w->len, w->pos);
	return -EINVAL;
}

static bool is_streamed(int depth, const char *key)
{
	const char *const *lists = depth == 0 ? streamed_root : streamed_demand;

	for (size_t i = 0; lists[i]; i++)
		if (strcmp(lists[i], key) == 0)
			return true;
	return false;
}

/* At '[': each entry to the callback, then an empty array in the skeleton. */
static int walk_list(struct walker *w, const char *key, cJSON *skel, int depth)
{
	char list[64];
	size_t index = 0;
	int rc;

	snprintf(list, sizeof(list), "$.%s%s", depth ? "demand." : "", key);

	w->pos++;
	if (at(w, ']')) {
		w->pos++;
	} else {
		for (;;) {
			cJSON *entry;

			if ((rc = rs_json_parse_at(w->doc, w->len, &w->pos, &entry, w->err)))
				return rc;
			rc = w->fn(w->ctx, list, index++, entry, w->err);
			cJSON_Delete(entry);
			if (rc)
				return rc;
			if (at(w, ']')) {
				w->pos++;
				break;
			}
			if ((rc = expect(w, ',')))
				return rc;
		}
	}
	return cJSON_AddArrayToObject(skel, key) ? 0 : -ENOMEM;
}

/* At '{': members into skel; depth 0 is the root, 1 is "demand". */
static int walk_object(struct walker *w, cJSON *skel, int depth)
{
	int rc = expect(w, '{');

	if (rc)
		return rc;
	if (at(w, '}')) {
		w->pos++;
		return 0;
	}
	for (;;) {
		cJSON *key, *value;

		if (!at(w, '"')) {
			rs_json_syntax_error(w->err, w->doc, w->len, w->pos);
			return -EINVAL;
		}
		if ((rc = rs_json_parse_at(w->doc, w->len, &w->pos, &key, w->err)))
			return rc;
		if ((rc = expect(w, ':')))
			goto out;
		if (depth == 0 && strcmp(key->valuestring, "demand") == 0 && at(w, '{')) {
			value = cJSON_AddObjectToObject(skel, key->valuestring);
			rc = value ? walk_object(w, value, 1) : -ENOMEM;
		} else if (is_streamed(depth, key->valuestring) && at(w, '[')) {
			rc = walk_list(w, key->valuestring, skel, depth);
		} else if (!(rc = rs_json_parse_at(w->doc, w->len, &w->pos, &value, w->err))) {
			if (!cJSON_AddItemToObject(skel, key->valuestring, value)) {
				cJSON_Delete(value);
				rc = -ENOMEM;
			}
		}
out:
		cJSON_Delete(key);
		if (rc)
			return rc;
		if (at(w, '}')) {
			w->pos++;
			return 0;
		}
		if ((rc = expect(w, ',')))
			return rc;
	}
}

int scenario_stream_read(const char *buf, size_t len, scenario_entry_fn fn, void *ctx,
			 cJSON **skeleton, struct rs_json_error *err)
{
	struct walker w = { buf, len, 0, fn, ctx, err };
	cJSON *skel;
	int rc;

	*skeleton = NULL;
	if (!buf || len == 0 || !at(&w, '{'))	/* not an object: nothing to stream */
		return rs_json_parse(buf, len, skeleton, err);
	skel = cJSON_CreateObject();
	if (!skel)
		return -ENOMEM;
	if ((rc = walk_object(&w, skel, 0)) ||
	    (rc = rs_json_check_trailing(buf, len, w.pos, err))) {
		cJSON_Delete(skel);
		return rc;
	}
	*skeleton = skel;
	return 0;
}
