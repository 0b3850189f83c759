/* startup_report.c -- startup samples per Ray node from an agent snapshot
 * (startup_report.h). */
#include "controller/source/startup_report.h"

#include "common/json_util.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RAYLET_PID_MAX 4294967295LL

/* Format the error (common/util.h) and return -EINVAL. */
#define fail(err, size, ...) (rs_errf(err, size, __VA_ARGS__), -EINVAL)

/* The Ray node id $.workers[] gives the raylet, or NULL.  The workers were
 * checked by the signals parser (ray_node_id a string); a pid is matched
 * only when it is a whole number. */
static const char *node_of(const cJSON *root, int64_t pid)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(root, "workers")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(w, "raylet_pid");
		const char *id = rs_json_opt_str(w, "ray_node_id");

		if (cJSON_IsNumber(p) && p->valuedouble == (double)pid && id && id[0])
			return id;
	}
	return NULL;
}

/* One phase time: 0 = not seen (null or absent). */
static int phase(const cJSON *phases, const char *path, const char *key, double *out, char *err,
		 size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	int rc = rs_json_get_number(phases, path, key, false, out, &jerr);

	if (rc == -ENOENT) {
		*out = 0;
		return 0;
	}
	if (rc)
		return fail(err, size, "%s", jerr.msg);
	if (*out < 0 || *out > STARTUP_REPORT_MAX_UNIX)
		return fail(err, size, "%s.%s: %.17g is not a UNIX time in [0, %g]", path, key, *out,
			    STARTUP_REPORT_MAX_UNIX);
	return 0;
}

static void add(struct startup_report *r, const char *id, double seconds)
{
	if (r->n == STARTUP_REPORT_MAX || strlen(id) >= sizeof(r->v[0].ray_node_id) ||
	    startup_report_find(r, id))
		return;
	snprintf(r->v[r->n].ray_node_id, sizeof(r->v[0].ray_node_id), "%s", id);
	r->v[r->n++].seconds = seconds;
}

static int parse_timeline(const cJSON *root, const cJSON *t, size_t i, struct startup_report *r,
			  size_t *lookups, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *phases = NULL;
	double cgroup, exec, gcs, start;
	int64_t pid = 0;
	char path[48], ppath[80];
	const char *id;
	int rc;

	snprintf(path, sizeof(path), "$.timelines[%zu]", i);
	if (!cJSON_IsObject(t))
		return fail(err, size, "%s: expected an object", path);
	rc = rs_json_get_int(t, path, "raylet_pid", false, 0, RAYLET_PID_MAX, &pid, &jerr);
	if (rc < -ENOENT || rs_json_get_object(t, path, "phases_unix_seconds", false, &phases,
					       &jerr) < -ENOENT)
		return fail(err, size, "%s", jerr.msg);
	if (!phases)
		return 0;
	snprintf(ppath, sizeof(ppath), "%s.phases_unix_seconds", path);
	if (phase(phases, ppath, "cgroup_created", &cgroup, err, size) ||
	    phase(phases, ppath, "first_exec", &exec, err, size) ||
	    phase(phases, ppath, "gcs_connected", &gcs, err, size))
		return -EINVAL;
	start = cgroup > 0 ? cgroup : exec;
	if (!pid || start <= 0 || gcs <= 0 || gcs < start || gcs - start > STARTUP_REPORT_MAX_S ||
	    r->n == STARTUP_REPORT_MAX || *lookups >= STARTUP_REPORT_LOOKUPS)
		return 0;
	++*lookups;
	if (!(id = node_of(root, pid)))
		return 0;
	add(r, id, gcs - start);
	return 0;
}

int startup_report_parse(const cJSON *root, struct startup_report *out, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *list = NULL, *t;
	size_t i = 0, lookups = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (rs_json_get_array(root, "$", "timelines", false, &list, &jerr) < -ENOENT)
		return fail(err, size, "%s", jerr.msg);
	if (!list)
		return 0;
	if (cJSON_GetArraySize(list) > STARTUP_REPORT_TIMELINES)
		return fail(err, size, "$.timelines: more than %d entries", STARTUP_REPORT_TIMELINES);
	cJSON_ArrayForEach(t, list) {
		if ((rc = parse_timeline(root, t, i++, out, &lookups, err, size)))
			return rc;
	}
	return 0;
}

const struct node_startup *startup_report_find(const struct startup_report *r,
					       const char *ray_node_id)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (!strcmp(r->v[i].ray_node_id, ray_node_id))
			return &r->v[i];
	return NULL;
}
