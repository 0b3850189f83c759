/* kuberay_types.c -- pure parsing for the kuberay provider: the
 * RayCluster's worker groups (their node type: kuberay_node_type.c), worker
 * pods, and the JSON Patch documents the provider sends.  No I/O here, so
 * all of it is table-tested. */
#include "common/util.h"
#include "controller/provider/provider_kuberay.h"
#include "controller/provider/kuberay_node_type.h"
#include "controller/provider/leader.h"

#include "common/json_util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	const char *name = rs_json_opt_str(o, "groupName");
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
	eci = rs_json_opt_str(labels, KUBERAY_ECI_LABEL);
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
		const char *t = rs_json_opt_str(c, "type"), *st = rs_json_opt_str(c, "status");

		if (t && st && !strcmp(t, type) && !strcmp(st, "True"))
			return time_field(rs_json_opt_str(c, "lastTransitionTime"));
	}
	return 0;
}

/* The scheduler's message, one line, cut short for a decision's text at a
 * character boundary (rs_json_parse let only valid UTF-8 through). */
static void copy_message(char *dst, size_t size, const char *msg)
{
	size_t i = 0;

	while (msg && *msg) {
		unsigned char c = (unsigned char)*msg;
		size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		if (i + len >= size || strnlen(msg, len) < len)
			break;
		for (size_t k = 0; k < len; k++)
			dst[i++] = len == 1 && c < 0x20 ? ' ' : msg[k];
		msg += len;
	}
	dst[i] = '\0';
}

/* PodScheduled False with reason Unschedulable: the scheduler tried and
 * found no node.  Since its lastTransitionTime (else the pod's creation),
 * unless a preemption is already under way for the pod
 * (status.nominatedNodeName): then it will be placed once the victims
 * are gone. */
static void parse_unschedulable(const cJSON *status, struct kuberay_pod *p)
{
	const cJSON *c;
	const char *nominated = rs_json_opt_str(status, "nominatedNodeName");

	if (nominated && *nominated)
		return;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions")) {
		const char *t = rs_json_opt_str(c, "type"), *st = rs_json_opt_str(c, "status");
		const char *why = rs_json_opt_str(c, "reason");

		if (!t || !st || !why || strcmp(t, "PodScheduled") || strcmp(st, "False") ||
		    strcmp(why, "Unschedulable"))
			continue;
		p->unschedulable_since = time_field(rs_json_opt_str(c, "lastTransitionTime"));
		if (p->unschedulable_since <= 0)
			p->unschedulable_since = p->created;
		copy_message(p->unschedulable, sizeof(p->unschedulable),
			     rs_json_opt_str(c, "message"));
		return;
	}
}

static void parse_pod(const cJSON *item, struct kuberay_pod *p)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "status");
	const char *s;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", rs_json_opt_str(meta, "name"));
	snprintf(p->group, sizeof(p->group), "%s", (s = rs_json_opt_str(labels, "ray.io/group")) ? s : "");
	snprintf(p->ip, sizeof(p->ip), "%s", (s = rs_json_opt_str(status, "podIP")) ? s : "");
	snprintf(p->host_ip, sizeof(p->host_ip), "%s", (s = rs_json_opt_str(status, "hostIP")) ? s : "");
	snprintf(p->phase, sizeof(p->phase), "%s", (s = rs_json_opt_str(status, "phase")) ? s : "");
	p->deleting = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
	p->created = time_field(rs_json_opt_str(meta, "creationTimestamp"));
	p->scheduled = condition_time(status, "PodScheduled");
	p->ready = condition_time(status, "ContainersReady");
	if (!p->scheduled)
		parse_unschedulable(status, p);
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
		const char *type = rs_json_opt_str(cJSON_GetObjectItemCaseSensitive(meta, "labels"),
					   "ray.io/node-type");
		const char *name = rs_json_opt_str(meta, "name");

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
