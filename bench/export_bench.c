/* export_bench.c -- cost of rendering /metrics and /metrics.json, as ratios
 * to what a scrape costs anyway in the same run: gzipping the exposition
 * (always) and, with a pin dir, reading the pinned maps (rs_snapshot_collect).
 *
 * Usage: export_bench [PIN_DIR]   (PIN_DIR of a running agent: real series;
 * without it a synthetic snapshot shaped like 16 raylets is used). */
#include "agent/export.h"
#include "agent/snapshot.h"
#include "common/gzip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 300

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 16 raylets x (2 histograms + 8 counters/gauges), labels as the probes set them. */
static void synthetic(struct rs_snapshot *s)
{
	static struct rs_hist_series h[32];
	static struct rs_value_series v[128];

	memset(s, 0, sizeof(*s));
	snprintf(s->node_name, sizeof(s->node_name), "node-a");
	for (int r = 0; r < 16; r++) {
		for (int k = 0; k < 2; k++) {
			struct rs_hist_series *x = &h[r * 2 + k];

			memset(x, 0, sizeof(*x));
			x->family = k ? "raysense_raylet_runq_latency_seconds"
				      : "raysense_raylet_lease_latency_seconds";
			snprintf(x->labels[0].key, RS_LABEL_KEY_LEN, "raylet_pid");
			snprintf(x->labels[0].value, RS_LABEL_VALUE_LEN, "%d", 1000 + r);
			snprintf(x->labels[1].key, RS_LABEL_KEY_LEN, "node_id");
			snprintf(x->labels[1].value, RS_LABEL_VALUE_LEN, "%056d", r);
			x->n_labels = 2;
			for (int i = 10; i < 30; i++)
				x->hist.slots[i] = (unsigned long long)(i * 37 + r);
			x->hist.sum_ns = 123456789;
		}
		for (int k = 0; k < 8; k++) {
			struct rs_value_series *x = &v[r * 8 + k];

			memset(x, 0, sizeof(*x));
			x->family = k < 4 ? "raysense_raylet_leases_total" : "raysense_workers";
			x->kind = k < 4 ? RS_VALUE_COUNTER : RS_VALUE_GAUGE;
			x->labels[0] = h[r * 2].labels[0];
			snprintf(x->labels[1].key, RS_LABEL_KEY_LEN, "state");
			snprintf(x->labels[1].value, RS_LABEL_VALUE_LEN, "s%d", k);
			x->n_labels = 2;
			x->value = k * 3;
		}
	}
	s->hists = h;
	s->n_hists = 32;
	s->values = v;
	s->n_values = 128;
}

int main(int argc, char **argv)
{
	struct rs_export_ctx ctx = { .families = rs_metric_families };
	struct rs_snapshot snap;
	double t0, t_collect = 0, t_prom, t_json, t_gzip;
	char *text = NULL, *gz;
	size_t len, gz_len;

	if (argc > 1) {
		t0 = now_s();
		for (int i = 0; i < ROUNDS; i++) {
			if (rs_snapshot_collect(argv[1], &snap)) {
				fprintf(stderr, "export_bench: nothing pinned under %s\n", argv[1]);
				return 1;
			}
			if (i + 1 < ROUNDS)
				rs_snapshot_free(&snap);
		}
		t_collect = (now_s() - t0) / ROUNDS;
	} else {
		synthetic(&snap);
	}
	t0 = now_s();
	for (int i = 0; i < ROUNDS; i++) {
		free(text);
		rs_export_prom(&snap, &ctx, &text, &len);
	}
	t_prom = (now_s() - t0) / ROUNDS;
	t0 = now_s();
	for (int i = 0; i < ROUNDS; i++) {
		cJSON *rows = rs_export_json(&snap, &ctx);
		char *js = cJSON_PrintUnformatted(rows);

		free(js);
		cJSON_Delete(rows);
	}
	t_json = (now_s() - t0) / ROUNDS;
	t0 = now_s();
	for (int i = 0; i < ROUNDS; i++) {
		rs_gzip_compress(text, len, &gz, &gz_len);
		free(gz);
	}
	t_gzip = (now_s() - t0) / ROUNDS;
	printf("snapshot: %zu histograms, %zu values; /metrics %zu bytes\n", snap.n_hists,
	       snap.n_values, len);
	printf("render /metrics      %8.3f ms  = %5.2fx gzip of it%s", t_prom * 1e3, t_prom / t_gzip,
	       t_collect > 0 ? "" : "\n");
	if (t_collect > 0)
		printf(", %5.2fx collect\n", t_prom / t_collect);
	printf("render /metrics.json %8.3f ms  = %5.2fx gzip of /metrics%s", t_json * 1e3,
	       t_json / t_gzip, t_collect > 0 ? "" : "\n");
	if (t_collect > 0)
		printf(", %5.2fx collect\n", t_json / t_collect);
	printf("baselines: gzip %.3f ms%s", t_gzip * 1e3, t_collect > 0 ? "" : "\n");
	if (t_collect > 0)
		printf(", collect %.3f ms\n", t_collect * 1e3);
	free(text);
	if (argc > 1)
		rs_snapshot_free(&snap);
	return 0;
}
