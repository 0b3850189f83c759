/* kuberay_types.c -- pure parsing for the kuberay provider: a worker
 * group's Ray node type (the rules of Ray's KubeRay integration,
 * python/ray/autoscaler/_private/kuberay/autoscaling_config.py), the
 * RayCluster's worker groups, worker pods, and the JSON Patch documents the
 * provider sends.  No I/O here, so all of it is table-tested. */
#include "common/util.h"
#include "controller/provider/provider_kuberay.h"
#include "controller/provider/kube_quantity.h"
#include "controller/provider/leader.h"

#include "common/json_util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest whole amount taken from a quantity or rayStartParams (2^53: every
 * integer below is exact as a double). */
#define AMOUNT_MAX 9007199254740992.0

/* Optional string member: NULL when missing, null or not a string. */
static const char *obj_str(const cJSON *o, const char *key)
{
	const char *s = NULL;

	return rs_json_get_str(o, "$", key, false, 0, &s, NULL) ? NULL : s;
}

/* Ray does int(rayStartParams[...]): only a plain non-negative integer. */
static int start_param_int(const cJSON *params, const char *key, double *out, char *err,
			   size_t err_size)
{
	const char *s = obj_str(params, key);
	const char *p;

	if (!s)
		return -ENOENT;
	for (p = s; *p == ' '; p++)
		;
	if (!*p)
		goto bad;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q) && !(*q == ' ' && !q[strspn(q, " ")]))
			goto bad;
	*out = strtod(p, NULL);
	if (*out > AMOUNT_MAX)
		goto bad;
	return 0;
bad:
	rs_errf(err, err_size, "rayStartParams.%s '%.40s' is not a whole number", key, s);
	return -EINVAL;
}

/* limits first, then requests: ceil(quantity) of resource `key`. */
static int container_amount(const cJSON *resources, const char *key, double *out, char *err,
			    size_t err_size)
{
	static const char *const kinds[] = { "limits", "requests" };
	char qerr[160];

	for (int i = 0; i < 2; i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(resources, kinds[i]);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
		double q;

		if (!v)
			continue;
		if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
			goto bad_type;
		if (cJSON_IsNumber(v)) {
			q = v->valuedouble;
			if (!(q >= 0 && q <= AMOUNT_MAX))
				goto bad_type;
		} else if (kube_quantity_parse(v->valuestring, &q, qerr, sizeof(qerr))) {
			rs_errf(err, err_size, "container resources.%s.%s: %s", kinds[i], key, qerr);
			return -EINVAL;
		}
		*out = kube_quantity_ceil(q);
		return 0;
bad_type:
		rs_errf(err, err_size, "container resources.%s.%s is not a quantity", kinds[i], key);
		return -EINVAL;
	}
	return -ENOENT;
}

/* A string quantity rounded up, or -EINVAL naming `what`.`key`. */
static int quantity_member(const cJSON *v, const char *what, double *out, char *err,
			   size_t err_size)
{
	char qerr[160];
	double q;

	if (!cJSON_IsString(v) || kube_quantity_parse(v->valuestring, &q, qerr, sizeof(qerr)) ||
	    !(q >= 0 && q <= AMOUNT_MAX)) {
		rs_errf(err, err_size, "%s.%.64s is not a quantity", what, rs_json_key(v));
		return -EINVAL;
	}
	*out = kube_quantity_ceil(q);
	return 0;
}

/* A map of named values: an object whose member names are not empty. */
static int check_map(const cJSON *m, const char *what, char *err, size_t err_size)
{
	const cJSON *v;

	if (m && !cJSON_IsObject(m)) {
		rs_errf(err, err_size, "%s is not a map", what);
		return -EINVAL;
	}
	cJSON_ArrayForEach(v, m) {
		if (!rs_json_key(v)[0]) {
			rs_errf(err, err_size, "%s has an empty name", what);
			return -EINVAL;
		}
	}
	return 0;
}

/* First limits/requests key ending in "gpu" with a positive amount. */
static int container_gpus(const cJSON *resources, double *out, char *err, size_t err_size)
{
	static const char *const kinds[] = { "limits", "requests" };

	for (int i = 0; i < 2; i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(resources, kinds[i]), *v;
		char what[40];

		snprintf(what, sizeof(what), "container resources.%s", kinds[i]);
		if (check_map(m, what, err, err_size))
			return -EINVAL;
		cJSON_ArrayForEach(v, m) {
			const char *name = rs_json_key(v);
			size_t n = strlen(name);
			double q;

			if (n < 3 || strcasecmp(name + n - 3, "gpu"))
				continue;
			if (quantity_member(v, what, &q, err, err_size))
				return -EINVAL;
			if (q > 0) {
				*out = q;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* rayStartParams.resources: '"{\"Custom1\": 1}"' -- Ray drops the first and
 * last character, removes backslashes and parses JSON with int values. */
static int custom_resources(const char *s, struct resmap *out, char *err, size_t err_size)
{
	size_t n = strlen(s), o = 0;
	struct rs_json_error jerr;
	cJSON *root, *v;
	char *buf;
	int rc = 0;

	if (n < 2)
		goto bad;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 1; i + 1 < n; i++)
		if (s[i] != '\\')
			buf[o++] = s[i];
	if (rs_json_parse(buf, o, &root, &jerr)) {
		free(buf);
		goto bad;
	}
	free(buf);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		goto bad;
	}
	if (check_map(root, "rayStartParams.resources", err, err_size)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_ArrayForEach(v, root) {
		int64_t amount;

		if (rs_json_int_value(v, "", 0, (int64_t)AMOUNT_MAX, &amount, NULL)) {
			rs_errf(err, err_size, "rayStartParams.resources: '%.40s' must be a whole number >= 0",
				v->string);
			rc = -EINVAL;
			break;
		}
		if (resmap_set(out, v->string, v->valuedouble)) {
			rc = -ENOMEM;
			break;
		}
	}
	cJSON_Delete(root);
	return rc;
bad:
	rs_errf(err, err_size, "rayStartParams.resources '%.60s' is not a quoted JSON object "
		"like '\"{\\\"Custom1\\\": 1}\"'", s);
	return -EINVAL;
}

/* KubeRay >= 1.5 group-level `resources` (map of quantities) overrides all. */
static int group_resources_override(const cJSON *map, struct resmap *out, char *err,
				    size_t err_size)
{
	const cJSON *v;

	if (check_map(map, "resources", err, err_size))
		return -EINVAL;
	cJSON_ArrayForEach(v, map) {
		double q;

		if (quantity_member(v, "resources", &q, err, err_size))
			return -EINVAL;
		if (resmap_set(out, v->string, q))
			return -ENOMEM;
	}
	return 0;
}

int kuberay_node_type(const cJSON *group, struct resmap *out, char *err, size_t err_size)
{
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(group, "rayStartParams");
	const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(group, "template");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(tmpl, "spec");
	const cJSON *containers = cJSON_GetObjectItemCaseSensitive(spec, "containers");
	const cJSON *c0 = cJSON_GetArrayItem(containers, 0);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(c0, "resources");
	const char *custom;
	double v;
	int rc;

	if (!cJSON_IsObject(c0)) {
		rs_errf(err, err_size, "template.spec.containers[0] is missing");
		return -EINVAL;
	}
	if (params && !cJSON_IsObject(params)) {
		rs_errf(err, err_size, "rayStartParams is not an object");
		return -EINVAL;
	}
	/* CPU: required, as in Ray ("Autoscaler failed to detect `CPU` resources"). */
	rc = start_param_int(params, "num-cpus", &v, err, err_size);
	if (rc == -ENOENT)
		rc = container_amount(res, "cpu", &v, err, err_size);
	if (rc == -ENOENT && !cJSON_GetObjectItemCaseSensitive(
				     cJSON_GetObjectItemCaseSensitive(group, "resources"), "CPU")) {
		rs_errf(err, err_size, "cannot derive CPU: no rayStartParams.num-cpus and no cpu "
			"limit or request on containers[0]");
		return -EINVAL;
	}
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && resmap_set(out, "CPU", v))
		return -ENOMEM;
	rc = start_param_int(params, "num-gpus", &v, err, err_size);
	if (rc == -ENOENT)
		rc = container_gpus(res, &v, err, err_size);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && resmap_set(out, "GPU", v))
		return -ENOMEM;
	rc = start_param_int(params, "memory", &v, err, err_size);
	if (rc == -ENOENT)
		rc = container_amount(res, "memory", &v, err, err_size);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && resmap_set(out, "memory", v))
		return -ENOMEM;
	custom = obj_str(params, "resources");
	if (custom && (rc = custom_resources(custom, out, err, err_size)))
		return rc;
	return group_resources_override(cJSON_GetObjectItemCaseSensitive(group, "resources"), out,
					err, err_size);
}

/* ------------------------------------------------------------- RayCluster */

/* An int32 count of the CRD (replicas, minReplicas, ...), at least `min`;
 * `dflt` when missing.  0 or -EINVAL (err names the field). */
static int int32_field(const cJSON *o, const char *path, const char *key, int min, int dflt,
		       int *out, bool *present, char *err, size_t err_size)
{
	struct rs_json_error jerr = { { 0 } };
	int64_t v = dflt;
	int rc = rs_json_get_int(o, path, key, false, min, INT32_MAX, &v, &jerr);

	if (rc == -EINVAL) {
		rs_errf(err, err_size, "%s", jerr.msg);
		return rc;
	}
	if (present)
		*present = rc == 0;
	*out = (int)v;
	return 0;
}

/* Ray's worker counts are replicas x numOfHosts: both must fit in int32. */
static int check_workers(const struct kuberay_group *g, const char *path, char *err,
			 size_t err_size)
{
	int64_t lo = (int64_t)g->min_replicas * g->num_of_hosts;

	if (lo > INT32_MAX) {
		rs_errf(err, err_size, "%s: minReplicas x numOfHosts = %lld is beyond int32", path,
			(long long)lo);
		return -EINVAL;
	}
	return 0;
}

static int parse_wtd(struct kuberay_group *g, const cJSON *group)
{
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(group, "scaleStrategy");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(ss, "workersToDelete"), *v;
	int n = cJSON_GetArraySize(list);

	if (!cJSON_IsArray(list) || n == 0)
		return 0;
	g->workers_to_delete = calloc((size_t)n, sizeof(char *));
	if (!g->workers_to_delete)
		return -ENOMEM;
	cJSON_ArrayForEach(v, list) {
		if (!cJSON_IsString(v))
			continue;
		g->workers_to_delete[g->wtd_count] = strdup(v->valuestring);
		if (!g->workers_to_delete[g->wtd_count])
			return -ENOMEM;
		g->wtd_count++;
	}
	return 0;
}

static int parse_group(const cJSON *o, int index, struct kuberay_group *g, char *err,
		       size_t err_size)
{
	const char *name = obj_str(o, "groupName");
	const cJSON *labels;
	const char *eci;
	char path[48];

	if (!name || !*name || strlen(name) > CONFIG_NAME_MAX) {
		rs_errf(err, err_size, "$.spec.workerGroupSpecs[%d].groupName is missing or longer "
			"than %d characters", index, CONFIG_NAME_MAX);
		return -EINVAL;
	}
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->index = index;
	snprintf(path, sizeof(path), "$.spec.workerGroupSpecs[%d]", index);
	if (int32_field(o, path, "replicas", 0, 0, &g->replicas, &g->replicas_present, err,
			err_size) ||
	    int32_field(o, path, "minReplicas", 0, 0, &g->min_replicas, NULL, err, err_size) ||
	    int32_field(o, path, "maxReplicas", 0, INT32_MAX, &g->max_replicas, NULL, err,
			err_size) ||
	    int32_field(o, path, "numOfHosts", 1, 1, &g->num_of_hosts, NULL, err, err_size) ||
	    check_workers(g, path, err, err_size))
		return -EINVAL;
	labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "template"),
						 "metadata"), "labels");
	eci = obj_str(labels, KUBERAY_ECI_LABEL);
	g->eci = eci && !strcmp(eci, "true");
	g->type_ok = kuberay_node_type(o, &g->node_type, g->type_error, sizeof(g->type_error)) == 0;
	return parse_wtd(g, o);
}

int kuberay_parse_raycluster(const char *body, size_t len, struct kuberay_group **groups,
			     size_t *count, char *err, size_t err_size)
{
	const cJSON *spec, *list, *o;
	struct rs_json_error jerr;
	struct kuberay_group *gs;
	cJSON *root;
	int n, i = 0, rc = 0;

	*groups = NULL;
	*count = 0;
	if (rs_json_parse(body, len, &root, &jerr)) {
		rs_errf(err, err_size, "RayCluster: %s", jerr.msg);
		return -EINVAL;
	}
	if (rs_json_get_object(root, "$", "spec", true, &spec, &jerr) ||
	    rs_json_get_array(spec, "$.spec", "workerGroupSpecs", false, &list, &jerr) == -EINVAL) {
		rs_errf(err, err_size, "RayCluster: %s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	list = cJSON_GetObjectItemCaseSensitive(spec, "workerGroupSpecs");
	n = cJSON_GetArraySize(list);
	gs = calloc(n ? (size_t)n : 1, sizeof(*gs));
	if (!gs) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(o, list) {
		rc = parse_group(o, i, &gs[i], err, err_size);
		i++;
		if (rc)
			break;
	}
	cJSON_Delete(root);
	if (rc) {
		kuberay_groups_free(gs, (size_t)i);
		return rc;
	}
	*groups = gs;
	*count = (size_t)n;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void kuberay_groups_free(struct kuberay_group *groups, size_t count)
{
	for (size_t i = 0; groups && i < count; i++) {
		resmap_free(&groups[i].node_type);
		free_strv(groups[i].workers_to_delete, groups[i].wtd_count);
		free_strv(groups[i].victims, groups[i].victim_count);
		free_strv(groups[i].inflight_victims, groups[i].inflight_victim_count);
	}
	free(groups);
}

/* ------------------------------------------------------------------- pods */

static double time_field(const char *s)
{
	double t;

	return s && !lease_time_parse(s, &t) ? t : 0;
}

static double condition_time(const cJSON *status, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions")) {
		const char *t = obj_str(c, "type"), *st = obj_str(c, "status");

		if (t && st && !strcmp(t, type) && !strcmp(st, "True"))
			return time_field(obj_str(c, "lastTransitionTime"));
	}
	return 0;
}

static void parse_pod(const cJSON *item, struct kuberay_pod *p)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "status");
	const char *s;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", obj_str(meta, "name"));
	snprintf(p->group, sizeof(p->group), "%s", (s = obj_str(labels, "ray.io/group")) ? s : "");
	snprintf(p->ip, sizeof(p->ip), "%s", (s = obj_str(status, "podIP")) ? s : "");
	snprintf(p->host_ip, sizeof(p->host_ip), "%s", (s = obj_str(status, "hostIP")) ? s : "");
	snprintf(p->phase, sizeof(p->phase), "%s", (s = obj_str(status, "phase")) ? s : "");
	p->deleting = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
	p->created = time_field(obj_str(meta, "creationTimestamp"));
	p->scheduled = condition_time(status, "PodScheduled");
	p->ready = condition_time(status, "ContainersReady");
}

int kuberay_parse_pods(const char *body, size_t len, struct kuberay_pod **pods, size_t *count,
		       char *err, size_t err_size)
{
	struct rs_json_error jerr;
	const cJSON *items, *item;
	struct kuberay_pod *out;
	cJSON *root = NULL;
	size_t n = 0;

	*pods = NULL;
	*count = 0;
	if (rs_json_parse(body, len, &root, &jerr) ||
	    rs_json_get_array(root, "$", "items", true, &items, &jerr)) {
		rs_errf(err, err_size, "PodList: %s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	out = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(*out));
	if (!out) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, items) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
		const char *type = obj_str(cJSON_GetObjectItemCaseSensitive(meta, "labels"),
					   "ray.io/node-type");
		const char *name = obj_str(meta, "name");

		if (!name || strlen(name) >= PROVIDER_ID_MAX) {
			rs_errf(err, err_size, "PodList: $.items[%zu].metadata.name is missing or too long", n);
			free(out);
			cJSON_Delete(root);
			return -EINVAL;
		}
		if (type && !strcmp(type, "worker"))
			parse_pod(item, &out[n++]);
	}
	cJSON_Delete(root);
	*pods = out;
	*count = n;
	return 0;
}

/* --------------------------------------------------------------- patches */

static void add_op(cJSON *doc, const char *op, const char *path, cJSON *value)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "op", op);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddItemToObject(o, "value", value);
	cJSON_AddItemToArray(doc, o);
}

char *kuberay_patch_document(int index, const char *group, int base, int target,
			     const char *const *victims, size_t victim_count, bool set_victims)
{
	cJSON *doc = cJSON_CreateArray(), *ss, *list;
	char path[128];
	char *out;

	if (!doc)
		return NULL;
	snprintf(path, sizeof(path), "/spec/workerGroupSpecs/%d/groupName", index);
	add_op(doc, "test", path, cJSON_CreateString(group));
	snprintf(path, sizeof(path), "/spec/workerGroupSpecs/%d/replicas", index);
	if (base >= 0) {
		add_op(doc, "test", path, cJSON_CreateNumber(base));
		add_op(doc, "replace", path, cJSON_CreateNumber(target));
	} else {	/* replicas absent: nothing to test, add creates it */
		add_op(doc, "add", path, cJSON_CreateNumber(target));
	}
	if (set_victims) {
		ss = cJSON_CreateObject();
		list = cJSON_AddArrayToObject(ss, "workersToDelete");
		for (size_t i = 0; i < victim_count; i++)
			cJSON_AddItemToArray(list, cJSON_CreateString(victims[i]));
		/* "add" replaces an existing member and creates a missing one. */
		snprintf(path, sizeof(path), "/spec/workerGroupSpecs/%d/scaleStrategy", index);
		add_op(doc, "add", path, ss);
	}
	out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return out;
}
