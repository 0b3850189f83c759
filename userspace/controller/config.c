/* config.c -- worker groups from JSON or flags (see config.h). */
#include "common/util.h"
#include "controller/config.h"

#include "common/cli.h"
#include "common/json_util.h"
#include "controller/plan/planner_types.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1u << 20)

/* Format the error (common/util.h) and return -EINVAL. */
#define fail(err, size, ...) (rs_errf(err, size, __VA_ARGS__), -EINVAL)

void config_init(struct controller_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_workers = -1;
	cfg->upscaling_speed = 1.0;
	cfg->idle_timeout_s = 60;
}

void config_free(struct controller_config *cfg)
{
	for (size_t i = 0; i < cfg->group_count; i++)
		resmap_free(&cfg->groups[i].resources);
	free(cfg->groups);
	cfg->groups = NULL;
	cfg->group_count = 0;
}

static const char *const platform_names[PLATFORM_COUNT] = { "unset", "local", "ecs", "eci" };

const char *config_platform_name(enum group_platform p)
{
	return (unsigned)p < PLATFORM_COUNT ? platform_names[p] : "unset";
}

enum group_platform config_platform_from_name(const char *name)
{
	for (int p = PLATFORM_LOCAL; name && p < PLATFORM_COUNT; p++)
		if (!strcmp(name, platform_names[p]))
			return (enum group_platform)p;
	return PLATFORM_UNSET;
}

void config_default_platform(struct controller_config *cfg, enum group_platform p)
{
	for (size_t i = 0; i < cfg->group_count; i++)
		if (cfg->groups[i].platform == PLATFORM_UNSET)
			cfg->groups[i].platform = p;
}

const struct worker_group *config_find_group(const struct controller_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->group_count; i++)
		if (strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}

static bool group_equal(const struct worker_group *a, const struct worker_group *b)
{
	return !strcmp(a->name, b->name) && a->min_workers == b->min_workers &&
	       a->max_workers == b->max_workers && a->idle_timeout_s == b->idle_timeout_s &&
	       a->platform == b->platform && resmap_equal(&a->resources, &b->resources);
}

bool config_equal(const struct controller_config *a, const struct controller_config *b)
{
	if (a->group_count != b->group_count || a->max_workers != b->max_workers ||
	    a->upscaling_speed != b->upscaling_speed || a->idle_timeout_s != b->idle_timeout_s ||
	    a->max_concurrent_launches != b->max_concurrent_launches)
		return false;
	for (size_t i = 0; i < a->group_count; i++)
		if (!group_equal(&a->groups[i], &b->groups[i]))
			return false;
	return true;
}

void config_group_map(const struct controller_config *from, const struct controller_config *to,
		      int *map)
{
	for (size_t i = 0; i < to->group_count; i++) {
		const struct worker_group *g = config_find_group(from, to->groups[i].name);

		map[i] = g ? (int)(g - from->groups) : -1;
	}
}

/* Group names become parts of Ray node names, labels and file names. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static struct worker_group *add_group(struct controller_config *cfg, const char *name)
{
	struct worker_group *g = realloc(cfg->groups, (cfg->group_count + 1) * sizeof(*g));

	if (!g)
		return NULL;
	cfg->groups = g;
	g = &cfg->groups[cfg->group_count++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->max_workers = cfg->narrowing ? -1 : 10;
	g->min_workers = cfg->narrowing ? -1 : 0;
	g->idle_timeout_s = -1;
	return g;
}

static int get_int(const cJSON *o, const char *path, const char *key, int lo, int hi, int *out,
		   char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	double v;
	int rc = rs_json_get_number(o, path, key, false, &v, &jerr);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return fail(err, size, "%s", jerr.msg);
	if (v != floor(v) || v < lo || v > hi)
		return fail(err, size, "%s.%s: expected an integer in [%d, %d]", path, key, lo, hi);
	*out = (int)v;
	return 0;
}

static int get_num(const cJSON *o, const char *path, const char *key, double lo, double hi,
		   double *out, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	double v;
	int rc = rs_json_get_number(o, path, key, false, &v, &jerr);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return fail(err, size, "%s", jerr.msg);
	if (!isfinite(v) || v < lo || v > hi)
		return fail(err, size, "%s.%s: expected a number in [%g, %g]", path, key, lo, hi);
	*out = v;
	return 0;
}

/* "platform": "local", "ecs" or "eci" (absent: the provider's). */
static int get_platform(const cJSON *o, const char *path, struct worker_group *g, char *err,
			size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const char *name;
	int rc = rs_json_get_string(o, path, "platform", false, &name, &jerr);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return fail(err, size, "%s (\"local\", \"ecs\" or \"eci\")", jerr.msg);
	g->platform = config_platform_from_name(name);
	if (g->platform == PLATFORM_UNSET)
		return fail(err, size, "%s.platform: '%.40s' is not \"local\", \"ecs\" or \"eci\"",
			    path, name);
	return 0;
}

static int parse_group(struct controller_config *cfg, const cJSON *o, size_t i, char *err,
		       size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *res = NULL;
	const char *name;
	struct worker_group *g;
	char path[64], rpath[96];

	snprintf(path, sizeof(path), "$.worker_groups[%zu]", i);
	if (rs_json_get_string(o, path, "name", true, &name, &jerr) ||
	    rs_json_get_object(o, path, "resources", !cfg->narrowing, &res, &jerr) == -EINVAL)
		return fail(err, size, "%s", jerr.msg);
	if (!name_ok(name))
		return fail(err, size, "%s.name: '%.60s' must be 1-%d characters [A-Za-z0-9_-]",
			    path, name, CONFIG_NAME_MAX);
	g = add_group(cfg, name);
	if (!g)
		return -ENOMEM;
	snprintf(rpath, sizeof(rpath), "%s.resources", path);
	if (res && resmap_from_json(&g->resources, res, rpath, false, &jerr))
		return fail(err, size, "%s", jerr.msg);
	if (get_int(o, path, "min_workers", 0, PLANNER_MAX_NODES, &g->min_workers, err, size) ||
	    get_int(o, path, "max_workers", 0, PLANNER_MAX_NODES, &g->max_workers, err, size) ||
	    get_num(o, path, "idle_timeout_s", 0, 1e9, &g->idle_timeout_s, err, size) ||
	    get_platform(o, path, g, err, size))
		return -EINVAL;
	return 0;
}

int config_parse_json(struct controller_config *cfg, const char *buf, size_t len, char *err,
		      size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *groups, *g;
	cJSON *root;
	size_t i = 0;
	int rc = 0;

	if (rs_json_parse(buf, len, &root, &jerr))
		return fail(err, size, "%s", jerr.msg);
	if (rs_json_get_array(root, "$", "worker_groups", true, &groups, &jerr)) {
		cJSON_Delete(root);
		return fail(err, size, "%s", jerr.msg);
	}
	if (get_int(root, "$", "max_workers", -1, PLANNER_MAX_NODES, &cfg->max_workers, err, size) ||
	    get_num(root, "$", "upscaling_speed", 0, 1e6, &cfg->upscaling_speed, err, size) ||
	    get_num(root, "$", "idle_timeout_s", 0, 1e9, &cfg->idle_timeout_s, err, size) ||
	    get_int(root, "$", "max_concurrent_launches", 0, PLANNER_MAX_NODES,
		    &cfg->max_concurrent_launches,
		    err, size))
		rc = -EINVAL;
	cJSON_ArrayForEach(g, groups) {
		if (rc)
			break;
		rc = parse_group(cfg, g, i++, err, size);
	}
	cJSON_Delete(root);
	return rc;
}

int config_load_file(struct controller_config *cfg, const char *path, char *err, size_t size)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = rs_read_file(path, CONFIG_MAX_BYTES, &buf, &len);

	if (rc)
		return fail(err, size, "cannot read config %s: %s", path, strerror(-rc));
	rc = config_parse_json(cfg, buf, len, err, size);
	free(buf);
	return rc;
}

/* One "key=value" of a --worker-group spec. */
static int spec_item(struct worker_group *g, const char *key, const char *val, char *err,
		     size_t size)
{
	double d;
	long l;

	if (!strcmp(key, "min") || !strcmp(key, "max")) {
		if (rs_parse_long(val, 0, PLANNER_MAX_NODES, &l))
			return fail(err, size, "--worker-group %s: %s=%s is not an integer in "
				    "[0, %d]", g->name, key, val, PLANNER_MAX_NODES);
		*(key[1] == 'i' ? &g->min_workers : &g->max_workers) = (int)l;
		return 0;
	}
	if (!strcmp(key, "idle")) {
		if (rs_parse_double(val, 0, 1e9, &d))
			return fail(err, size, "--worker-group %s: idle=%s is not a number of "
				    "seconds in [0, 1e9]", g->name, val);
		g->idle_timeout_s = d;
		return 0;
	}
	/* Resource amounts go up to Ray's MAX_RESOURCE_QUANTITY (100e12):
	 * memory=N is in bytes, as in the JSON config. */
	if (rs_parse_double(val, 0, 100e12, &d))
		return fail(err, size, "--worker-group %s: %s=%s is not a number in [0, 1e14]",
			    g->name, key, val);
	if (!key[0])
		return fail(err, size, "--worker-group %s: empty resource name", g->name);
	return d > 0 ? resmap_set(&g->resources, key, d) : 0;
}

int config_add_group_spec(struct controller_config *cfg, const char *spec, char *err, size_t size)
{
	const char *colon = strchr(spec, ':');
	char name[CONFIG_NAME_MAX + 2], *rest, *save = NULL, *tok;
	struct worker_group *g;
	int rc = 0;

	if (!colon || (size_t)(colon - spec) > CONFIG_NAME_MAX)
		return fail(err, size, "--worker-group '%.80s': expected NAME:KEY=VALUE,...", spec);
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	if (!name_ok(name))
		return fail(err, size, "--worker-group: bad name '%s' ([A-Za-z0-9_-], 1-%d chars)",
			    name, CONFIG_NAME_MAX);
	g = add_group(cfg, name);
	rest = strdup(colon + 1);
	if (!g || !rest) {
		free(rest);
		return -ENOMEM;
	}
	for (tok = strtok_r(rest, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			rc = fail(err, size, "--worker-group %s: '%s' is not KEY=VALUE", name, tok);
			break;
		}
		*eq = '\0';
		rc = spec_item(g, tok, eq + 1, err, size);
	}
	free(rest);
	return rc;
}

int config_validate(const struct controller_config *cfg, char *err, size_t size)
{
	if (cfg->group_count == 0 && !cfg->narrowing)
		return fail(err, size, "no worker group: give --config FILE or --worker-group");
	for (size_t i = 0; i < cfg->group_count; i++) {
		const struct worker_group *g = &cfg->groups[i];

		if (g->min_workers > g->max_workers && g->max_workers >= 0)
			return fail(err, size, "worker group %s: min %d > max %d", g->name,
				    g->min_workers, g->max_workers);
		if (g->resources.count == 0 && !cfg->narrowing)
			return fail(err, size, "worker group %s declares no resources", g->name);
		if (!strcmp(g->name, "head"))
			return fail(err, size, "worker group name 'head' is reserved for the head");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->groups[j].name, g->name))
				return fail(err, size, "worker group %s is defined twice", g->name);
	}
	return 0;
}
