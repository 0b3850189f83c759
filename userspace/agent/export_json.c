/* export_json.c -- /metrics.json: the snapshot as a root-level array of flat
 * row objects, each with a `time` field, which is the shape Grafana's
 * Infinity datasource reads with no root selector. Histogram rows also carry
 * the raw log2 slots. The schema is documented in README.md, section "/metrics.json schema" and
 * pinned by docs/metrics-json.schema.json. */
#include "agent/export.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

cJSON *rs_json_labels(const struct rs_label *labels, int n_labels)
{
	cJSON *obj = cJSON_CreateObject();

	if (n_labels > RS_MAX_LABELS)
		n_labels = RS_MAX_LABELS;
	for (int i = 0; obj && i < n_labels; i++)
		if (!cJSON_AddStringToObject(obj, labels[i].key, labels[i].value)) {
			cJSON_Delete(obj);
			return NULL;
		}
	return obj;
}

static void format_time(uint64_t unix_ns, char *buf, size_t len)
{
	rs_format_time_rfc3339(unix_ns, buf, len);
}

/* Fields every row carries. */
static cJSON *new_row(const struct rs_snapshot *snap, const char *type, const char *metric)
{
	cJSON *row = cJSON_CreateObject();
	char when[40];

	if (!row)
		return NULL;
	format_time(snap->taken_unix_ns, when, sizeof(when));
	cJSON_AddStringToObject(row, "time", when);
	cJSON_AddNumberToObject(row, "time_ms", (double)(snap->taken_unix_ns / 1000000ull));
	cJSON_AddStringToObject(row, "node", snap->node_name);
	cJSON_AddStringToObject(row, "type", type);
	cJSON_AddStringToObject(row, "metric", metric);
	return row;
}

static void add_number_or_null(cJSON *obj, const char *key, double v, bool present)
{
	if (present)
		cJSON_AddNumberToObject(obj, key, v);
	else
		cJSON_AddNullToObject(obj, key);
}

static cJSON *hist_row(const struct rs_snapshot *snap, const struct rs_hist_series *s)
{
	const struct rs_hist *h = &s->hist;
	unsigned long long total = rs_hist_total(h), cum = 0;
	cJSON *row = new_row(snap, "histogram", s->family);
	cJSON *buckets, *slots;

	if (!row)
		return NULL;
	cJSON_AddItemToObject(row, "labels", rs_json_labels(s->labels, s->n_labels));
	cJSON_AddNumberToObject(row, "count", (double)total);
	cJSON_AddNumberToObject(row, "sum_seconds", (double)h->sum_ns / 1e9);
	add_number_or_null(row, "mean_seconds", total ? (double)h->sum_ns / 1e9 / (double)total : 0,
			   total > 0);
	add_number_or_null(row, "p50_seconds", rs_hist_quantile_seconds(h, 0.50), total > 0);
	add_number_or_null(row, "p90_seconds", rs_hist_quantile_seconds(h, 0.90), total > 0);
	add_number_or_null(row, "p99_seconds", rs_hist_quantile_seconds(h, 0.99), total > 0);
	/* Cumulative buckets as Prometheus states them (finite bounds only; the
	 * +Inf bucket is `count`). */
	buckets = cJSON_AddArrayToObject(row, "buckets");
	for (unsigned i = 0; buckets && i + 1 < RS_HIST_SLOTS; i++) {
		cJSON *b = cJSON_CreateObject();

		cum += h->slots[i];
		cJSON_AddNumberToObject(b, "le_seconds", rs_hist_slot_le_seconds(i));
		cJSON_AddNumberToObject(b, "count", (double)cum);
		cJSON_AddItemToArray(buckets, b);
	}
	/* Raw log2 slots: slot i counts values in [2^i, 2^(i+1)) ns. */
	cJSON_AddNumberToObject(row, "sum_ns", (double)h->sum_ns);
	slots = cJSON_AddArrayToObject(row, "slots");
	for (unsigned i = 0; slots && i < RS_HIST_SLOTS; i++)
		cJSON_AddItemToArray(slots, cJSON_CreateNumber((double)h->slots[i]));
	return row;
}

static cJSON *value_row(const struct rs_snapshot *snap, const struct rs_value_series *v)
{
	cJSON *row = new_row(snap, v->kind == RS_VALUE_COUNTER ? "counter" : "gauge", v->family);

	if (!row)
		return NULL;
	cJSON_AddItemToObject(row, "labels", rs_json_labels(v->labels, v->n_labels));
	/* JSON has no NaN/Inf; such values become null. */
	add_number_or_null(row, "value", v->value, v->value == v->value &&
			   v->value - v->value == 0);
	return row;
}

cJSON *rs_json_timeline(const struct rs_timeline *t)
{
	uint64_t start = rs_timeline_start_ns(t);
	cJSON *obj = cJSON_CreateObject();
	cJSON *at, *rel;

	if (!obj)
		return NULL;
	cJSON_AddStringToObject(obj, "timeline", t->key);
	cJSON_AddStringToObject(obj, "pod_uid", t->pod_uid);
	cJSON_AddNumberToObject(obj, "raylet_pid", t->raylet_pid);
	at = cJSON_AddObjectToObject(obj, "phases_unix_seconds");
	rel = cJSON_AddObjectToObject(obj, "phases_seconds");
	for (int p = 0; at && rel && p < RS_STARTUP_PHASES; p++) {
		uint64_t ns = rs_timeline_phase_ns(t, p);

		add_number_or_null(at, rs_startup_phase_names[p], (double)ns / 1e9, ns != 0);
		add_number_or_null(rel, rs_startup_phase_names[p], (double)(ns - start) / 1e9,
				   ns && start && ns >= start);
	}
	return obj;
}

static cJSON *timeline_row(const struct rs_snapshot *snap, const struct rs_timeline *t)
{
	cJSON *row = new_row(snap, "timeline", RS_FAMILY_STARTUP_PHASE_SECONDS);
	cJSON *tl = rs_json_timeline(t);

	if (!row || !tl) {
		cJSON_Delete(row);
		cJSON_Delete(tl);
		return NULL;
	}
	/* Flatten the timeline's fields into the row. */
	while (tl->child) {
		cJSON *item = cJSON_DetachItemViaPointer(tl, tl->child);

		cJSON_AddItemToObject(row, item->string, item);
	}
	cJSON_Delete(tl);
	return row;
}

static cJSON *workers_row(const struct rs_snapshot *snap, const struct rs_worker_activity *w)
{
	cJSON *row = new_row(snap, "workers", RS_FAMILY_WORKERS);

	if (!row)
		return NULL;
	cJSON_AddNumberToObject(row, "raylet_pid", w->raylet_pid);
	cJSON_AddStringToObject(row, "ray_node_id", w->node_id);
	cJSON_AddNumberToObject(row, "busy_workers", w->busy_workers);
	cJSON_AddNumberToObject(row, "idle_workers", w->idle_workers);
	add_number_or_null(row, "seconds_since_busy", w->seconds_since_busy,
			   w->seconds_since_busy >= 0);
	return row;
}

static bool append(cJSON *arr, cJSON *row)
{
	if (!row)
		return false;
	cJSON_AddItemToArray(arr, row);
	return true;
}

cJSON *rs_export_json(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx)
{
	cJSON *arr = cJSON_CreateArray();
	bool ok = arr != NULL;

	for (size_t i = 0; ok && i < snap->n_hists; i++)
		ok = append(arr, hist_row(snap, &snap->hists[i]));
	for (size_t i = 0; ok && i < snap->n_values; i++)
		ok = append(arr, value_row(snap, &snap->values[i]));
	for (size_t i = 0; ok && ctx && ctx->extra && i < ctx->n_extra; i++)
		ok = append(arr, value_row(snap, &ctx->extra[i]));
	for (size_t i = 0; ok && i < snap->n_timelines; i++)
		ok = append(arr, timeline_row(snap, &snap->timelines[i]));
	for (size_t i = 0; ok && i < snap->n_workers; i++)
		ok = append(arr, workers_row(snap, &snap->workers[i]));
	if (!ok) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}
