/* test_export_json.c -- /metrics.json rows of a hand-built snapshot: the root
 * is an array, every row has time/time_ms/node/type/metric, histogram rows
 * carry cumulative buckets plus the 40 raw slots, non-finite values become
 * null, timelines and workers flatten into rows. (The pytest suite validates
 * a live agent's output against docs/metrics-json.schema.json.) */
#include "check.h"
#include "agent/export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(it) ? it->valuestring : "";
}

static void check_hist_row(const cJSON *row)
{
	const cJSON *buckets = cJSON_GetObjectItemCaseSensitive(row, "buckets");
	const cJSON *slots = cJSON_GetObjectItemCaseSensitive(row, "slots");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(row, "labels");
	double prev_le = 0, prev_count = 0;
	int i = 0;

	CHECK(strcmp(str(row, "metric"), "raysense_raylet_lease_latency_seconds") == 0, "metric");
	CHECK(strcmp(str(labels, "raylet_pid"), "42") == 0, "labels object");
	CHECK(num(row, "count") == 6, "count = sum of slots, got %g", num(row, "count"));
	CHECK(num(row, "sum_seconds") == 0.003, "sum_seconds %g", num(row, "sum_seconds"));
	CHECK(num(row, "sum_ns") == 3000000, "sum_ns");
	CHECK(fabs(num(row, "mean_seconds") - 0.0005) < 1e-12, "mean");
	/* 4 values in slot 10 ([1024,2048) ns), 2 in slot 20: p50 in slot 10. */
	CHECK(num(row, "p50_seconds") > 1.024e-6 && num(row, "p50_seconds") <= 2.048e-6, "p50 %g",
	      num(row, "p50_seconds"));
	CHECK(num(row, "p99_seconds") > ldexp(1, 20) / 1e9 &&
		      num(row, "p99_seconds") <= ldexp(1, 21) / 1e9, "p99 %g", num(row, "p99_seconds"));
	CHECK(cJSON_GetArraySize(buckets) == RS_HIST_SLOTS - 1, "finite buckets");
	CHECK(cJSON_GetArraySize(slots) == RS_HIST_SLOTS, "raw slots");
	for (const cJSON *b = buckets ? buckets->child : NULL; b; b = b->next, i++) {
		CHECK(num(b, "le_seconds") == ldexp(1, i + 1) / 1e9, "bucket %d le %g", i,
		      num(b, "le_seconds"));
		CHECK(num(b, "le_seconds") > prev_le && num(b, "count") >= prev_count,
		      "bucket %d not ascending/cumulative", i);
		prev_le = num(b, "le_seconds");
		prev_count = num(b, "count");
		if (i == 10)
			CHECK(num(b, "count") == 4, "le=2048ns holds the slot-10 values");
		if (i == 9)
			CHECK(num(b, "count") == 0, "le=1024ns holds nothing");
	}
	CHECK(cJSON_GetArrayItem(slots, 10)->valuedouble == 4, "raw slot 10");
}

int main(void)
{
	struct rs_snapshot s;
	struct rs_hist_series h;
	struct rs_value_series v[2];
	struct rs_timeline t;
	struct rs_worker_activity w;
	struct rs_export_ctx ctx = { 0 };
	cJSON *arr;
	int n_rows;
	char *text;

	memset(&s, 0, sizeof(s));
	s.taken_unix_ns = 1700000000123456789ull;
	snprintf(s.node_name, sizeof(s.node_name), "node-a");
	memset(&h, 0, sizeof(h));
	h.family = "raysense_raylet_lease_latency_seconds";
	snprintf(h.labels[0].key, RS_LABEL_KEY_LEN, "raylet_pid");
	snprintf(h.labels[0].value, RS_LABEL_VALUE_LEN, "42");
	h.n_labels = 1;
	h.hist.slots[10] = 4;
	h.hist.slots[20] = 2;
	h.hist.count = 6;
	h.hist.sum_ns = 3000000;
	memset(v, 0, sizeof(v));
	v[0].family = "raysense_test_events_total";
	v[0].kind = RS_VALUE_COUNTER;
	v[0].value = 12;
	v[1].family = "raysense_test_gauge";
	v[1].kind = RS_VALUE_GAUGE;
	v[1].value = NAN;
	memset(&t, 0, sizeof(t));
	snprintf(t.key, sizeof(t.key), "pid:99");
	t.first_exec_ns = 2000000000ull;
	t.raylet_exec_ns = 2500000000ull;
	t.raylet_pid = 99;
	memset(&w, 0, sizeof(w));
	w.raylet_pid = 99;
	w.busy_workers = 2;
	w.idle_workers = 5;
	w.seconds_since_busy = -1;
	s.hists = &h;
	s.n_hists = 1;
	s.values = v;
	s.n_values = 2;
	s.timelines = &t;
	s.n_timelines = 1;
	s.workers = &w;
	s.n_workers = 1;

	arr = rs_export_json(&s, &ctx);
	CHECK(cJSON_IsArray(arr), "root must be an array");
	n_rows = cJSON_GetArraySize(arr);
	CHECK(n_rows == 5, "want 5 rows, got %d", n_rows);
	for (const cJSON *row = arr ? arr->child : NULL; row; row = row->next) {
		CHECK(strcmp(str(row, "time"), "2023-11-14T22:13:20.123Z") == 0, "time '%s'",
		      str(row, "time"));
		CHECK(num(row, "time_ms") == 1700000000123.0, "time_ms");
		CHECK(strcmp(str(row, "node"), "node-a") == 0, "node");
	}
	check_hist_row(cJSON_GetArrayItem(arr, 0));
	CHECK(strcmp(str(cJSON_GetArrayItem(arr, 1), "type"), "counter") == 0, "counter row");
	CHECK(num(cJSON_GetArrayItem(arr, 1), "value") == 12, "counter value");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "value")),
	      "NaN must become null");
	{
		const cJSON *tl = cJSON_GetArrayItem(arr, 3);
		const cJSON *rel = cJSON_GetObjectItem(tl, "phases_seconds");

		CHECK(strcmp(str(tl, "type"), "timeline") == 0, "timeline row");
		CHECK(strcmp(str(tl, "timeline"), "pid:99") == 0, "timeline key flattened");
		CHECK(num(rel, "raylet_exec") == 0.5, "relative raylet_exec");
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(rel, "cgroup_created")), "unseen phase null");
	}
	{
		const cJSON *wr = cJSON_GetArrayItem(arr, 4);

		CHECK(num(wr, "busy_workers") == 2 && num(wr, "idle_workers") == 5, "workers");
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(wr, "seconds_since_busy")), "never busy");
	}
	/* cJSON must never print NaN/Infinity (invalid JSON). */
	text = cJSON_PrintUnformatted(arr);
	CHECK(text && !strstr(text, "nan") && !strstr(text, "inf"), "non-finite leaked: %s", text);
	free(text);
	cJSON_Delete(arr);

	/* Empty snapshot: an empty array, still valid for Infinity. */
	memset(&s, 0, sizeof(s));
	arr = rs_export_json(&s, NULL);
	CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 0, "empty snapshot");
	cJSON_Delete(arr);
	CHECK_EXIT();
}
