/* push_compact.c -- the full snapshot cut down to the compact push document
 * (see push_compact.h). */
#include "agent/push_compact.h"
#include "agent/family_names.h"
#include "common/json_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Delete every member of object `o` whose name is not in keep[]. */
static void keep_only(cJSON *o, const char *const *keep)
{
	cJSON *item = o ? o->child : NULL;

	while (item) {
		cJSON *next = item->next;
		bool wanted = false;

		for (size_t k = 0; keep[k] && !wanted; k++)
			wanted = item->string && !strcmp(item->string, keep[k]);
		if (!wanted)
			cJSON_Delete(cJSON_DetachItemViaPointer(o, item));
		item = next;
	}
}

static bool family_in(const cJSON *item, const char *const *families)
{
	const char *f = rs_json_opt_str(item, "family");

	for (; f && *families; families++)
		if (!strcmp(f, *families))
			return true;
	return false;
}

/* Keep the entries of array `arr` of the families[] (NULL-terminated), each
 * cut down to keep[] with labels cut down to labels[]; delete the others. */
static void keep_family(cJSON *arr, const char *const *families, const char *const *keep,
			const char *const *labels)
{
	cJSON *item = arr ? arr->child : NULL;

	while (item) {
		cJSON *next = item->next;

		if (family_in(item, families)) {
			keep_only(item, keep);
			keep_only(cJSON_GetObjectItemCaseSensitive(item, "labels"), labels);
		} else {
			cJSON_Delete(cJSON_DetachItemViaPointer(arr, item));
		}
		item = next;
	}
}

static const char *label(const cJSON *item, const char *key)
{
	return rs_json_opt_str(cJSON_GetObjectItemCaseSensitive(item, "labels"), key);
}

static bool outcome_added_up(const cJSON *item)
{
	const char *outcome = label(item, "outcome");

	return outcome && (!strcmp(outcome, "rejected") || !strcmp(outcome, "spilled_back"));
}

/* Of the lease outcome counters the controller adds up "rejected" and
 * "spilled_back" only; another outcome just makes its raylet known to the
 * lease report, which one of those two with a value does as well.  So an
 * entry of another outcome goes when such an entry of the same raylet stays
 * (the agent writes all five outcomes of a raylet together, so the order in
 * which raylets first appear does not change either).  Quadratic in the
 * entries: five per raylet of one node. */
static void drop_unread_outcomes(cJSON *values)
{
	static const char *const leases_family[] = { RS_FAMILY_LEASES, NULL };
	cJSON *item = values ? values->child : NULL;

	while (item) {
		cJSON *next = item->next, *other;
		const char *id = label(item, "node_id");
		bool covered = false;

		if (outcome_added_up(item) || !family_in(item, leases_family)) {
			item = next;
			continue;
		}
		cJSON_ArrayForEach(other, values) {
			const char *oid = label(other, "node_id");

			covered = covered || (id && oid && !strcmp(id, oid) && outcome_added_up(other) &&
					      cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(other,
											      "value")));
		}
		if (covered)
			cJSON_Delete(cJSON_DetachItemViaPointer(values, item));
		item = next;
	}
}

int rs_push_compact(cJSON *doc)
{
	static const char *const top[] = { "schema_version", "seq", "taken_unix_ms",
					   "interval_seconds", "node", "workers", "histograms",
					   "values", "timelines", NULL };
	static const char *const hist[] = { "family", "labels", "delta", NULL };
	static const char *const hist_labels[] = { "node_id", NULL };
	static const char *const delta[] = { "count", "slots", NULL };
	static const char *const value[] = { "family", "labels", "value", NULL };
	static const char *const value_labels[] = { "node_id", "outcome", NULL };
	static const char *const timeline[] = { "raylet_pid", "phases_unix_seconds", NULL };
	static const char *const phases[] = { "cgroup_created", "first_exec", "gcs_connected",
					      NULL };
	/* The sampled seconds: the controller's reject rate is per second the
	 * lease probes were attached (--lease-probes duty). */
	static const char *const hist_families[] = { RS_FAMILY_LEASE_LATENCY, NULL };
	static const char *const value_families[] = { RS_FAMILY_LEASES,
						      RS_FAMILY_LEASE_ATTACHED_SECONDS, NULL };
	cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "schema_version"), *item;

	if (!cJSON_IsNumber(version) || version->valuedouble != 1)
		return -EINVAL;
	keep_only(doc, top);
	keep_family(cJSON_GetObjectItemCaseSensitive(doc, "histograms"), hist_families,
		    hist, hist_labels);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "histograms"))
		keep_only(cJSON_GetObjectItemCaseSensitive(item, "delta"), delta);
	keep_family(cJSON_GetObjectItemCaseSensitive(doc, "values"), value_families, value,
		    value_labels);
	drop_unread_outcomes(cJSON_GetObjectItemCaseSensitive(doc, "values"));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "timelines")) {
		keep_only(item, timeline);
		keep_only(cJSON_GetObjectItemCaseSensitive(item, "phases_unix_seconds"), phases);
	}
	cJSON_SetNumberValue(version, RS_PUSH_COMPACT_SCHEMA_VERSION);
	return 0;
}
