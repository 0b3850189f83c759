/* export.h -- render a snapshot for the outside world: Prometheus text
 * exposition (export_prom.c) and the Grafana-friendly JSON of /metrics.json
 * (export_json.c).
 *
 * Exporters are pure functions of a snapshot: they never touch BPF maps, so
 * they are unit-tested on hand-built snapshots. Series the probe side appends
 * (histograms, counters, gauges) keep their family names; timelines and worker
 * activity are rendered under the derived families listed in
 * rs_export_families[] unless the probe side already emits a family of that
 * name. */
#ifndef RAYSENSE_AGENT_EXPORT_H
#define RAYSENSE_AGENT_EXPORT_H

#include "agent/family_names.h"

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "agent/snapshot.h"

/* The families the exporters derive from timelines and worker activity. */
/* The agent's own metrics (agent_http.c appends them as ctx->extra). */

/* Families derived by the exporters (timelines, workers) and the agent's own
 * metrics (push, build info), NULL-terminated. */
extern const struct rs_family_info rs_export_families[];

/* What the exporters need besides the snapshot. */
struct rs_export_ctx {
	/* HELP/TYPE of the probe side's families (rs_metric_families in the
	 * agent); may be NULL. rs_export_families is always consulted too. */
	const struct rs_family_info *families;
	/* Agent self-metrics appended after the snapshot's own values (e.g.
	 * raysense_agent_push_dropped_total); may be NULL. */
	const struct rs_value_series *extra;
	size_t n_extra;
	/* Prometheus only: keep the labels naming one process or pod
	 * (raylet_pid, pod_uid, gcs_pid) and the per-peer GCS series.  Off:
	 * those labels are dropped, per-peer series and series only a process
	 * id told apart are left out (--debug-labels). */
	bool debug_labels;
};

/* HELP/TYPE for a family: first in ctx->families, then rs_export_families.
 * NULL when unknown. */
const struct rs_family_info *rs_export_family_info(const struct rs_export_ctx *ctx,
						   const char *family);

/* Prometheus upper bound, in seconds, of log2 slot `slot` (le = 2^(slot+1) ns).
 * The last slot also holds every larger value, so it has no finite bound:
 * exporters fold it into +Inf only. */
double rs_hist_slot_le_seconds(unsigned slot);

/* Prometheus text format 0.0.4 (served as RS_PROM_CONTENT_TYPE,
 * common/prom_text.h) into a malloc'd, NUL-terminated buffer.
 * Returns 0 or -ENOMEM. Series with invalid metric or label names are
 * skipped, never emitted half-valid (skipped families and histogram series
 * are logged as warnings; counter and gauge series silently). */
int rs_export_prom(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
		   char **out, size_t *out_len);

#define RS_METRICS_JSON_SCHEMA_VERSION 1

/* /metrics.json: a root-level array of row objects (README.md, section "/metrics.json schema").
 * Returns NULL on allocation failure. */
cJSON *rs_export_json(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx);

/* Helpers shared by the JSON exporters and the push snapshot. */
cJSON *rs_json_labels(const struct rs_label *labels, int n_labels);
/* One startup timeline: key, pod_uid, raylet_pid, phases_unix_seconds and
 * phases_seconds (relative to the first event); absent phases are null. */
cJSON *rs_json_timeline(const struct rs_timeline *t);
/* Cumulative count of a histogram: the sum of its slots (so +Inf == _count
 * even when the BPF side's `count` field raced with a slot update). */
unsigned long long rs_hist_total(const struct rs_hist *h);
/* Quantile estimate in seconds from the log2 slots (linear inside a slot),
 * or -1 when the histogram is empty. */
double rs_hist_quantile_seconds(const struct rs_hist *h, double q);

#endif
