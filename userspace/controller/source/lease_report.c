/* lease_report.c -- lease traffic per raylet from an agent snapshot
 * (lease_report.h). */
#include "controller/source/lease_report.h"

#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FAMILY_LATENCY "raysense_raylet_lease_latency_seconds"
#define FAMILY_LEASES "raysense_raylet_leases_total"
#define FAMILY_ATTACHED "raysense_raylet_lease_probes_attached_seconds_total"

static struct raylet_leases *entry(struct lease_report *r, const char *id)
{
	struct raylet_leases *e;

	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->r[i].ray_node_id, id))
			return &r->r[i];
	if (r->n == LEASE_MAX_RAYLETS || strlen(id) >= sizeof(e->ray_node_id))
		return NULL;
	e = &r->r[r->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->ray_node_id, sizeof(e->ray_node_id), "%s", id);
	e->leases = -1;
	e->rejected_delta = e->spilled_delta = -1;
	e->attached_s = e->attached_delta = e->reject_rate = -1;
	return e;
}

static const char *label(const cJSON *item, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(item, "labels"), key);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool count_ok(const cJSON *v)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0;
}

/* One histogram entry's delta: leases served, and how many waited long. */
static int add_latency(const cJSON *h, size_t i, struct lease_report *r, char *err, size_t size)
{
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(h, "delta"), *slots, *s;
	const char *id = label(h, "node_id");
	struct raylet_leases *e;
	double slow = 0;
	int k = 0;

	if (!id || cJSON_IsNull(delta) || !(e = entry(r, id)))
		return 0;
	slots = cJSON_GetObjectItemCaseSensitive(delta, "slots");
	if (!count_ok(cJSON_GetObjectItemCaseSensitive(delta, "count")) || !cJSON_IsArray(slots)) {
		rs_errf(err, size, "$.histograms[%zu].delta: count and slots expected", i);
		return -EINVAL;
	}
	cJSON_ArrayForEach(s, slots) {
		if (!count_ok(s)) {
			rs_errf(err, size, "$.histograms[%zu].delta.slots[%d]: not a count", i, k);
			return -EINVAL;
		}
		if (k++ >= LEASE_SLOW_SLOT)
			slow += s->valuedouble;
	}
	e->leases = (e->leases < 0 ? 0 : e->leases) +
		    cJSON_GetObjectItemCaseSensitive(delta, "count")->valuedouble;
	e->slow += slow;
	return 0;
}

static int add_outcome(const cJSON *v, size_t i, struct lease_report *r, char *err, size_t size)
{
	const char *id = label(v, "node_id"), *outcome = label(v, "outcome");
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(v, "value");
	struct raylet_leases *e;

	if (!id || !outcome || cJSON_IsNull(value) || !(e = entry(r, id)))
		return 0;
	if (!count_ok(value)) {
		rs_errf(err, size, "$.values[%zu].value: not a count", i);
		return -EINVAL;
	}
	if (!strcmp(outcome, "rejected"))
		e->rejected += value->valuedouble;
	else if (!strcmp(outcome, "spilled_back"))
		e->spilled += value->valuedouble;
	return 0;
}

static int add_attached(const cJSON *v, size_t i, struct lease_report *r, char *err, size_t size)
{
	const char *id = label(v, "node_id");
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(v, "value");
	struct raylet_leases *e;

	if (!id || cJSON_IsNull(value) || !(e = entry(r, id)))
		return 0;
	if (!count_ok(value)) {
		rs_errf(err, size, "$.values[%zu].value: not a count of seconds", i);
		return -EINVAL;
	}
	e->attached_s = (e->attached_s < 0 ? 0 : e->attached_s) + value->valuedouble;
	return 0;
}

static bool family_is(const cJSON *item, const char *name)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(item, "family");

	return cJSON_IsString(f) && !strcmp(f->valuestring, name);
}

int lease_report_parse(const cJSON *root, struct lease_report *out, char *err, size_t size)
{
	const cJSON *item;
	size_t i = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "histograms")) {
		if (family_is(item, FAMILY_LATENCY) && (rc = add_latency(item, i, out, err, size)))
			return rc;
		i++;
	}
	i = 0;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "values")) {
		if (family_is(item, FAMILY_LEASES) && (rc = add_outcome(item, i, out, err, size)))
			return rc;
		if (family_is(item, FAMILY_ATTACHED) && (rc = add_attached(item, i, out, err, size)))
			return rc;
		i++;
	}
	return 0;
}

const struct raylet_leases *lease_report_find(const struct lease_report *r,
					      const char *ray_node_id)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (!strcmp(r->r[i].ray_node_id, ray_node_id))
			return &r->r[i];
	return NULL;
}

/* A counter that went backwards restarted (the agent's maps were
 * recreated): its delta is unknown this time. */
static double counter_delta(double cur, double prev)
{
	return cur >= prev ? cur - prev : -1;
}

/* Rejected + spilled-back replies per second looked at, this interval; the
 * previous interval's when this one looked at nothing (or its time is
 * unknown: the agent restarted and its seconds counter with it). */
static double reject_rate(const struct raylet_leases *e, const struct raylet_leases *p,
			  double interval_s)
{
	double events = (e->rejected_delta > 0 ? e->rejected_delta : 0) +
			(e->spilled_delta > 0 ? e->spilled_delta : 0);
	double seconds = e->attached_s < 0 ? interval_s : e->attached_delta;

	if (seconds > 0)
		return events / seconds;
	return p ? p->reject_rate : -1;
}

void lease_report_follow(struct lease_report *cur, const struct lease_report *prev, double now,
			 double interval_s)
{
	for (size_t i = 0; i < cur->n; i++) {
		struct raylet_leases *e = &cur->r[i];
		const struct raylet_leases *p = lease_report_find(prev, e->ray_node_id);

		if (p) {
			e->rejected_delta = counter_delta(e->rejected, p->rejected);
			e->spilled_delta = counter_delta(e->spilled, p->spilled);
			e->last_lease_at = p->last_lease_at;
			if (e->attached_s >= 0 && p->attached_s >= 0)
				e->attached_delta = counter_delta(e->attached_s, p->attached_s);
		}
		if (e->leases > 0)
			e->last_lease_at = now;
		e->reject_rate = reject_rate(e, p, interval_s);
	}
}
