/* kuberay_node_type.c -- a worker group's Ray node type from its spec,
 * with the rules of Ray's KubeRay integration
 * (python/ray/autoscaler/_private/kuberay/autoscaling_config.py):
 * rayStartParams first, then the container's limits (kuberay_node_type.h).
 * Pure, table-tested through test_kuberay.c. */
#include "controller/provider/kuberay_node_type.h"

#include "common/json_util.h"
#include "common/util.h"
#include "controller/provider/kube_quantity.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest whole amount taken from a quantity or rayStartParams (2^53: every
 * integer below is exact as a double). */
#define AMOUNT_MAX 9007199254740992.0


/* Ray does int(rayStartParams[...]): only a plain non-negative integer. */
static int start_param_int(const cJSON *params, const char *key, double *out, char *err,
			   size_t err_size)
{
	const char *s = rs_json_opt_str(params, key);
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
	custom = rs_json_opt_str(params, "resources");
	if (custom && (rc = custom_resources(custom, out, err, err_size)))
		return rc;
	return group_resources_override(cJSON_GetObjectItemCaseSensitive(group, "resources"), out,
					err, err_size);
}

/* ------------------------------------------------------------- RayCluster */

/* An int32 count of the CRD (replicas, minReplicas, ...), at least `min`;
 * `dflt` when missing.  0 or -EINVAL (err names the field). */
