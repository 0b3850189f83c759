/* kuberay_groups.c -- a RayCluster's worker groups, autoscaler options and
 * in-tree-autoscaler flag as the controller's config, and the merge with the
 * operator's narrowing config (kuberay_groups.h).  Pure: no I/O, no clock;
 * table-tested in tests/unit/test_kuberay_groups.c. */
#include "controller/provider/kuberay_groups.h"

#include "common/json_util.h"
#include "common/util.h"
#include "controller/plan/planner.h"
#include "controller/provider/kuberay_node_type.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT32_FIELD_MAX 2147483647.0

static void note(char *notes, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *notes, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(notes, size);
	va_list ap;

	if (used + 2 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(notes + used, size - used - 1, fmt, ap);
	va_end(ap);
	used = strlen(notes);
	notes[used] = '\n';
	notes[used + 1] = '\0';
}

/* An int32 field >= 0 (null or absent = dflt).  0 or -EINVAL. */
static int int32_field(const cJSON *o, const char *key, int64_t dflt, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v || cJSON_IsNull(v)) {
		*out = dflt;
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > INT32_FIELD_MAX || v->valuedouble != floor(v->valuedouble))
		return -EINVAL;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static bool name_usable(const char *name)
{
	return name && *name && strlen(name) <= CONFIG_NAME_MAX && strcmp(name, "head") != 0;
}

/* min/max workers: replicas x numOfHosts, clamped to what the planner takes. */
static int group_bounds(const cJSON *o, const char *name, struct worker_group *g, char *notes,
			size_t size)
{
	int64_t minr, maxr, hosts, lo, hi;

	if (int32_field(o, "minReplicas", 0, &minr) || int32_field(o, "maxReplicas", INT32_MAX, &maxr) ||
	    int32_field(o, "numOfHosts", 1, &hosts)) {
		note(notes, size, "worker group %s left out: minReplicas, maxReplicas and numOfHosts "
		     "must be whole numbers in [0, 2^31-1]", name);
		return -EINVAL;
	}
	lo = minr * hosts;
	hi = maxr * hosts;
	if (lo > hi) {
		note(notes, size, "worker group %s left out: minReplicas %lld > maxReplicas %lld", name,
		     (long long)minr, (long long)maxr);
		return -EINVAL;
	}
	if (hi > PLANNER_MAX_NODES) {
		note(notes, size, "worker group %s: maxReplicas %lld x numOfHosts %lld = %lld is "
		     "clamped to %d (the planner's limit)", name, (long long)maxr, (long long)hosts,
		     (long long)hi, PLANNER_MAX_NODES);
		hi = PLANNER_MAX_NODES;
	}
	if (lo > hi) {
		note(notes, size, "worker group %s: minReplicas x numOfHosts %lld is clamped to %d",
		     name, (long long)lo, PLANNER_MAX_NODES);
		lo = hi;
	}
	g->min_workers = (int)lo;
	g->max_workers = (int)hi;
	return 0;
}

static int idle_field(const cJSON *o, double dflt, double *out)
{
	int64_t v;

	if (int32_field(o, "idleTimeoutSeconds", -1, &v))
		return -EINVAL;
	*out = v < 0 ? dflt : (double)v;
	return 0;
}

#define ECI_LABEL "alibabacloud.com/eci"
#define VNODE_LABEL "type"
#define VNODE_VALUE "virtual-kubelet"
#define VNODE_TAINT "virtual-kubelet.io/provider"

static const cJSON *member(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static bool string_is(const cJSON *v, const char *want)
{
	return cJSON_IsString(v) && v->valuestring && !strcmp(v->valuestring, want);
}

/* A matchExpression type In [..., virtual-kubelet, ...]. */
static bool expr_requires_vnode(const cJSON *e)
{
	const cJSON *values = member(e, "values"), *v;

	if (!string_is(member(e, "key"), VNODE_LABEL) || !string_is(member(e, "operator"), "In") ||
	    !cJSON_IsArray(values))
		return false;
	cJSON_ArrayForEach(v, values)
		if (string_is(v, VNODE_VALUE))
			return true;
	return false;
}

static bool affinity_requires_vnode(const cJSON *spec)
{
	const cJSON *terms = member(member(member(member(spec, "affinity"), "nodeAffinity"),
					   "requiredDuringSchedulingIgnoredDuringExecution"),
				    "nodeSelectorTerms"), *t, *e;

	if (!cJSON_IsArray(terms))
		return false;
	cJSON_ArrayForEach(t, terms) {
		const cJSON *exprs = member(t, "matchExpressions");

		if (!cJSON_IsArray(exprs))
			continue;
		cJSON_ArrayForEach(e, exprs)
			if (expr_requires_vnode(e))
				return true;
	}
	return false;
}

static bool tolerates_vnode(const cJSON *spec)
{
	const cJSON *tols = member(spec, "tolerations"), *t;

	if (!cJSON_IsArray(tols))
		return false;
	cJSON_ArrayForEach(t, tols)
		if (string_is(member(t, "key"), VNODE_TAINT))
			return true;
	return false;
}

enum group_platform kuberay_group_platform(const cJSON *group)
{
	const cJSON *tpl = member(group, "template");
	const cJSON *spec = member(tpl, "spec");

	if (string_is(member(member(member(tpl, "metadata"), "labels"), ECI_LABEL), "true") ||
	    string_is(member(member(spec, "nodeSelector"), VNODE_LABEL), VNODE_VALUE) ||
	    affinity_requires_vnode(spec) || tolerates_vnode(spec))
		return PLATFORM_ECI;
	return PLATFORM_ECS;
}

/* One workerGroupSpecs entry; a group that cannot be read is left out. */
static int parse_group(const cJSON *o, int index, struct controller_config *cfg, char *notes,
		       size_t size)
{
	const cJSON *nv = cJSON_GetObjectItemCaseSensitive(o, "groupName");
	const char *name = cJSON_IsString(nv) ? nv->valuestring : NULL;
	struct worker_group g = { .idle_timeout_s = -1, .platform = kuberay_group_platform(o) };
	struct worker_group *ng;
	char err[200];
	int rc;

	if (!name_usable(name) || config_find_group(cfg, name)) {
		note(notes, size, "workerGroupSpecs[%d] left out: groupName missing, duplicate, "
		     "'head' or longer than %d characters", index, CONFIG_NAME_MAX);
		return 0;
	}
	snprintf(g.name, sizeof(g.name), "%s", name);
	if (group_bounds(o, name, &g, notes, size))
		return 0;
	if (idle_field(o, -1, &g.idle_timeout_s)) {
		note(notes, size, "worker group %s: idleTimeoutSeconds is not a whole number >= 0; "
		     "using the cluster's", name);
		g.idle_timeout_s = -1;
	}
	rc = kuberay_node_type(o, &g.resources, err, sizeof(err));
	if (rc) {
		resmap_free(&g.resources);
		if (rc == -ENOMEM)
			return rc;
		note(notes, size, "worker group %s left out: %s", name, err);
		return 0;
	}
	ng = realloc(cfg->groups, (cfg->group_count + 1) * sizeof(*ng));
	if (!ng) {
		resmap_free(&g.resources);
		return -ENOMEM;
	}
	cfg->groups = ng;
	cfg->groups[cfg->group_count++] = g;
	return 0;
}

/* autoscalerOptions: idleTimeoutSeconds (default 60), upscalingMode. */
static void parse_options(const cJSON *spec, struct kuberay_spec *out)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(spec, "autoscalerOptions");
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(opts, "upscalingMode");

	if (idle_field(opts, 60, &out->cfg.idle_timeout_s)) {
		note(out->notes, sizeof(out->notes), "autoscalerOptions.idleTimeoutSeconds is not a "
		     "whole number >= 0; using 60");
		out->cfg.idle_timeout_s = 60;
	}
	out->cfg.upscaling_speed = cJSON_IsString(mode) &&
				   !strcmp(mode->valuestring, "Conservative") ? 1 : 1000;
}

int kuberay_spec_parse(const char *body, size_t len, struct kuberay_spec *out, char *err,
		       size_t err_size)
{
	const cJSON *spec, *list, *o;
	struct rs_json_error jerr;
	cJSON *root = NULL;
	int i = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	config_init(&out->cfg);
	if (rs_json_parse(body, len, &root, &jerr) ||
	    rs_json_get_object(root, "$", "spec", true, &spec, &jerr) ||
	    rs_json_get_array(spec, "$.spec", "workerGroupSpecs", false, &list, &jerr) == -EINVAL) {
		rs_errf(err, err_size, "RayCluster: %s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	list = cJSON_GetObjectItemCaseSensitive(spec, "workerGroupSpecs");
	out->in_tree_autoscaling =
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "enableInTreeAutoscaling"));
	parse_options(spec, out);
	cJSON_ArrayForEach(o, list) {
		rc = parse_group(o, i++, &out->cfg, out->notes, sizeof(out->notes));
		if (rc)
			break;
	}
	cJSON_Delete(root);
	return rc;
}

void kuberay_spec_free(struct kuberay_spec *s)
{
	config_free(&s->cfg);
}

/* ------------------------------------------------------------------ merge */

struct merge_ctx {
	char *notes;
	size_t size;
};

/* A narrowing value: a user value that is set and not wider than the
 * RayCluster's wins; a wider one is a conflict (the RayCluster's is used). */
static double narrow(const struct merge_ctx *m, const char *what, double user, double rc,
		     bool lower_is_narrower)
{
	if (user < 0 || user == rc)
		return rc;
	if (lower_is_narrower ? user < rc : user > rc)
		return user;
	note(m->notes, m->size, "%s: %g in the controller config would widen the RayCluster's %g; "
	     "using %g", what, user, rc, rc);
	return rc;
}

static void merge_group(const struct merge_ctx *m, const struct worker_group *u,
			struct worker_group *g, double cluster_idle)
{
	char what[CONFIG_NAME_MAX + 64];
	double rc_idle = g->idle_timeout_s >= 0 ? g->idle_timeout_s : cluster_idle;

	snprintf(what, sizeof(what), "worker group %s max_workers", g->name);
	g->max_workers = (int)narrow(m, what, u->max_workers, g->max_workers, true);
	snprintf(what, sizeof(what), "worker group %s min_workers", g->name);
	g->min_workers = (int)narrow(m, what, u->min_workers, g->min_workers, false);
	if (g->min_workers > g->max_workers)
		g->min_workers = g->max_workers;
	snprintf(what, sizeof(what), "worker group %s idle_timeout_s", g->name);
	if (u->idle_timeout_s >= 0)
		g->idle_timeout_s = narrow(m, what, u->idle_timeout_s, rc_idle, false);
	if (u->platform != PLATFORM_UNSET && u->platform != g->platform) {
		note(m->notes, m->size, "worker group %s: platform %s from the controller config "
		     "(the RayCluster's pod template says %s)", g->name,
		     config_platform_name(u->platform), config_platform_name(g->platform));
		g->platform = u->platform;
	}
	if (u->resources.count && !resmap_equal(&u->resources, &g->resources))
		note(m->notes, m->size, "worker group %s: resources in the controller config differ "
		     "from the RayCluster's node type; using the RayCluster's", g->name);
}

static int copy_groups(const struct controller_config *rc, struct controller_config *out)
{
	out->groups = calloc(rc->group_count ? rc->group_count : 1, sizeof(*out->groups));
	if (!out->groups)
		return -ENOMEM;
	for (size_t i = 0; i < rc->group_count; i++) {
		out->groups[i] = rc->groups[i];
		memset(&out->groups[i].resources, 0, sizeof(out->groups[i].resources));
		out->group_count++;
		if (resmap_copy(&out->groups[i].resources, &rc->groups[i].resources))
			return -ENOMEM;
	}
	return 0;
}

int kuberay_spec_merge(const struct controller_config *rc, const struct controller_config *user,
		       struct controller_config *out, char *notes, size_t notes_size)
{
	struct merge_ctx m = { notes, notes_size };

	config_init(out);
	out->max_workers = user->max_workers;
	out->max_concurrent_launches = user->max_concurrent_launches;
	out->upscaling_speed = narrow(&m, "upscaling_speed", user->upscaling_speed,
				      rc->upscaling_speed, true);
	out->idle_timeout_s = narrow(&m, "idle_timeout_s", user->idle_timeout_s,
				     rc->idle_timeout_s, false);
	if (copy_groups(rc, out))
		return -ENOMEM;
	for (size_t i = 0; i < user->group_count; i++) {
		const struct worker_group *u = &user->groups[i];
		struct worker_group *g = (struct worker_group *)config_find_group(out, u->name);

		if (g)
			merge_group(&m, u, g, out->idle_timeout_s);
		else
			note(notes, notes_size, "worker group %s of the controller config is not in "
			     "the RayCluster; ignored", u->name);
	}
	return 0;
}
