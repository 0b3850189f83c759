/* export_prom.c -- Prometheus text exposition (format 0.0.4) of a snapshot,
 * written with the common writer (common/prom_text.h, which does the
 * escaping and number formatting).
 *
 * What this file adds: one HELP and one TYPE line per family and all the
 * samples of a family in one group even when the snapshot interleaves them;
 * duplicate series dropped; a node label on every series; log2 histograms
 * as cumulative buckets. Slot i holds [2^i, 2^(i+1)) ns, so its bucket is
 * le = 2^(i+1) ns stated in seconds; the last slot also absorbs everything
 * larger, so it gets no finite bound and is only counted in +Inf. _sum is in
 * seconds. */
#include "agent/export.h"
#include "common/log.h"
#include "common/prom_text.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct rs_family_info rs_export_families[] = {
	{ RS_FAMILY_STARTUP_PHASE_TIMESTAMP,
	  "UNIX time at which a pod or Ray node reached a startup phase "
	  "(cgroup_created, first_exec, raylet_exec, raylet_listen, gcs_connected).", "gauge" },
	{ RS_FAMILY_STARTUP_PHASE_SECONDS,
	  "Seconds from the first observed startup event of a pod or Ray node "
	  "(cgroup creation, else first exec) to each later phase.", "gauge" },
	{ RS_FAMILY_WORKERS,
	  "Ray worker processes of a raylet by state (busy = running a task or actor, idle = leased out nothing).",
	  "gauge" },
	{ RS_FAMILY_SECONDS_SINCE_BUSY,
	  "Seconds since any worker of the raylet was last seen busy.", "gauge" },
	{ RS_FAMILY_PUSH_DROPPED,
	  "Snapshots dropped from the push queue (oldest first) because the controller was unreachable or slow.",
	  "counter" },
	{ RS_FAMILY_PUSH_SENT, "Snapshots delivered to the controller (2xx answer).", "counter" },
	{ RS_FAMILY_PUSH_FAILURES, "Push attempts that failed (no answer, timeout or non-2xx).",
	  "counter" },
	{ RS_FAMILY_PUSH_QUEUE_SNAPSHOTS, "Snapshots waiting in the push queue.", "gauge" },
	{ RS_FAMILY_PUSH_QUEUE_BYTES, "Bytes of gzip snapshots waiting in the push queue.", "gauge" },
	{ RS_FAMILY_AGENT_READY, "1 when the probes are attached and the pinned maps are readable.", "gauge" },
	{ RS_FAMILY_AGENT_BUILD_INFO, "Agent version (value is always 1).", "gauge" },
	{ RS_FAMILY_AGENT_PROBE_FAMILY_ATTACHED,
	  "1 when this probe family attached, 0 when its attach failed (reason: the error; the "
	  "other families keep running).", "gauge" },
	{ NULL, NULL, NULL },
};

/* ---- shared helpers (also used by export_json.c) ---- */

const struct rs_family_info *rs_export_family_info(const struct rs_export_ctx *ctx,
						   const char *family)
{
	const struct rs_family_info *tables[2] = { ctx ? ctx->families : NULL,
						   rs_export_families };

	for (int t = 0; t < 2; t++) {
		if (!tables[t])
			continue;
		for (const struct rs_family_info *f = tables[t]; f->family; f++)
			if (strcmp(f->family, family) == 0)
				return f;
	}
	return NULL;
}

double rs_hist_slot_le_seconds(unsigned slot)
{
	return ldexp(1.0, (int)slot + 1) / 1e9;
}

unsigned long long rs_hist_total(const struct rs_hist *h)
{
	unsigned long long n = 0;

	for (unsigned i = 0; i < RS_HIST_SLOTS; i++)
		n += h->slots[i];
	return n;
}

double rs_hist_quantile_seconds(const struct rs_hist *h, double q)
{
	unsigned long long total = rs_hist_total(h), seen = 0;
	double rank;

	if (total == 0)
		return -1;
	rank = q * (double)total;
	for (unsigned i = 0; i < RS_HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if ((double)(seen + h->slots[i]) >= rank) {
			double lo = i == 0 ? 0 : ldexp(1.0, (int)i) / 1e9;
			double hi = rs_hist_slot_le_seconds(i);
			double frac = (rank - (double)seen) / (double)h->slots[i];

			return lo + (hi - lo) * frac;
		}
		seen += h->slots[i];
	}
	return rs_hist_slot_le_seconds(RS_HIST_SLOTS - 1);
}

/* ---- labels ---- */

static const char *label_value(const struct rs_label *labels, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(labels[i].key, key) == 0)
			return labels[i].value;
	return NULL;
}

static bool has_label(const struct rs_label *labels, int n, const char *key)
{
	return label_value(labels, n, key) != NULL;
}

static bool has_value(const struct rs_label *labels, int n, const char *key)
{
	const char *v = label_value(labels, n, key);

	return v && v[0];
}

/* Labels naming one process, pod or peer: only with ctx->debug_labels. */
static bool debug_key(const char *key)
{
	static const char *const keys[] = { "raylet_pid", "pod_uid", "gcs_pid", "peer" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static bool label_kept(const struct rs_export_ctx *ctx, const char *key)
{
	return ctx->debug_labels || !debug_key(key);
}

/* Without debug labels, a per-peer series and one that only its process id
 * told apart from the others (no node_id, raylet_port or ray_node_id) are
 * left out. */
static bool series_hidden(const struct rs_export_ctx *ctx, const struct rs_label *labels, int n)
{
	if (ctx->debug_labels)
		return false;
	n = n < 0 ? 0 : n > RS_MAX_LABELS ? RS_MAX_LABELS : n;
	if (has_label(labels, n, "peer"))
		return true;
	return has_label(labels, n, "raylet_pid") && !has_value(labels, n, "node_id") &&
	       !has_value(labels, n, "raylet_port") && !has_value(labels, n, "ray_node_id");
}

/* The node label first (when the snapshot knows the node); returns how
 * many labels it put in out[]. */
static size_t node_label(const struct rs_snapshot *snap, struct rs_prom_label *out)
{
	if (!snap->node_name[0])
		return 0;
	out[0] = (struct rs_prom_label){ "node", snap->node_name };
	return 1;
}

/* A series' labels as the writer takes them: node (unless the series sets
 * its own) then the series' labels, at most RS_MAX_LABELS of them. */
static size_t series_labels(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			    const struct rs_label *labels, int n, struct rs_prom_label *out)
{
	size_t k;

	n = n < 0 ? 0 : n > RS_MAX_LABELS ? RS_MAX_LABELS : n;
	k = has_label(labels, n, "node") ? 0 : node_label(snap, out);
	for (int i = 0; i < n; i++)
		if (label_kept(ctx, labels[i].key))
			out[k++] = (struct rs_prom_label){ labels[i].key, labels[i].value };
	return k;
}

static int kept_count(const struct rs_export_ctx *ctx, const struct rs_label *l, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += label_kept(ctx, l[i].key);
	return k;
}

/* The same series as exported (the labels ctx keeps). */
static bool same_labels(const struct rs_export_ctx *ctx, const struct rs_label *a, int na,
			const struct rs_label *b, int nb)
{
	if (kept_count(ctx, a, na) != kept_count(ctx, b, nb))
		return false;
	for (int i = 0; i < na; i++) {
		bool found = !label_kept(ctx, a[i].key);

		for (int j = 0; j < nb && !found; j++)
			found = strcmp(a[i].key, b[j].key) == 0 &&
				strcmp(a[i].value, b[j].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* ---- families ---- */

static void put_header(struct rs_prom_text *w, const struct rs_export_ctx *ctx,
		       const char *family, enum rs_prom_type type)
{
	const struct rs_family_info *info = rs_export_family_info(ctx, family);

	rs_prom_family(w, family, info && info->help ? info->help
						      : "raysense metric (no description).", type);
}

/* The finite bucket bounds as text, computed once: "2e-09" ... "549.755813888". */
static char le_text[RS_HIST_SLOTS - 1][32];
static const char *le_ptrs[RS_HIST_SLOTS - 1];
static pthread_once_t le_once = PTHREAD_ONCE_INIT;

static void init_le_text(void)
{
	for (unsigned i = 0; i + 1 < RS_HIST_SLOTS; i++) {
		rs_prom_format_double(rs_hist_slot_le_seconds(i), RS_PROM_FLOAT_SHORTEST,
				      le_text[i], sizeof(le_text[i]));
		le_ptrs[i] = le_text[i];
	}
}

/* Every finite bucket on every scrape: Prometheus needs a stable set. */
static int put_hist(struct rs_prom_text *w, const char *family,
		    const struct rs_prom_label *labels, size_t n, const struct rs_hist *h)
{
	uint64_t cum[RS_HIST_SLOTS - 1], total = 0;
	struct rs_prom_hist ph = { .n_buckets = RS_HIST_SLOTS - 1, .le_text = le_ptrs,
				   .cumulative = cum, .sum = (double)h->sum_ns / 1e9 };

	pthread_once(&le_once, init_le_text);
	for (unsigned i = 0; i + 1 < RS_HIST_SLOTS; i++) {
		total += h->slots[i];
		cum[i] = total;
	}
	ph.count = total + h->slots[RS_HIST_SLOTS - 1];
	return rs_prom_histogram(w, family, labels, n, &ph);
}

/* True when series k repeats an earlier series (from `first`) of its family. */
static bool hist_is_dup(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			size_t first, size_t k)
{
	const struct rs_hist_series *s = &snap->hists[k];

	for (size_t j = first; j < k; j++)
		if (strcmp(snap->hists[j].family, s->family) == 0 &&
		    !series_hidden(ctx, snap->hists[j].labels, snap->hists[j].n_labels) &&
		    same_labels(ctx, snap->hists[j].labels, snap->hists[j].n_labels, s->labels,
				s->n_labels))
			return true;
	return false;
}

static void put_hist_family(struct rs_prom_text *w, const struct rs_snapshot *snap,
			    const struct rs_export_ctx *ctx, size_t first)
{
	const char *family = snap->hists[first].family;

	if (!rs_prom_valid_metric_name(family)) {
		rs_warn("prometheus: skipping histogram with invalid name '%s'", family);
		return;
	}
	put_header(w, ctx, family, RS_PROM_HISTOGRAM);
	for (size_t k = first; k < snap->n_hists; k++) {
		const struct rs_hist_series *s = &snap->hists[k];
		struct rs_prom_label labels[RS_MAX_LABELS + 1];
		size_t n;

		if (strcmp(s->family, family) != 0 || series_hidden(ctx, s->labels, s->n_labels) ||
		    hist_is_dup(snap, ctx, first, k))
			continue;
		n = series_labels(snap, ctx, s->labels, s->n_labels, labels);
		if (put_hist(w, family, labels, n, &s->hist) == -EINVAL)
			rs_warn("prometheus: skipping %s series with an invalid label name", family);
	}
}

static void put_hist_families(struct rs_prom_text *w, const struct rs_snapshot *snap,
			      const struct rs_export_ctx *ctx)
{
	for (size_t i = 0; i < snap->n_hists; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(snap->hists[j].family, snap->hists[i].family) == 0;
		if (!seen)
			put_hist_family(w, snap, ctx, i);
	}
}

/* Values come from the snapshot, then ctx->extra; index them as one list. */
static const struct rs_value_series *value_at(const struct rs_snapshot *snap,
					      const struct rs_export_ctx *ctx, size_t i)
{
	if (i < snap->n_values)
		return &snap->values[i];
	return &ctx->extra[i - snap->n_values];
}

static size_t n_values(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx)
{
	return snap->n_values + (ctx->extra ? ctx->n_extra : 0);
}

static bool family_is_hist(const struct rs_snapshot *snap, const char *family)
{
	for (size_t i = 0; i < snap->n_hists; i++)
		if (strcmp(snap->hists[i].family, family) == 0)
			return true;
	return false;
}

static bool value_is_dup(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			 size_t first, size_t k)
{
	const struct rs_value_series *v = value_at(snap, ctx, k);

	for (size_t j = first; j < k; j++) {
		const struct rs_value_series *u = value_at(snap, ctx, j);

		if (strcmp(u->family, v->family) == 0 && !series_hidden(ctx, u->labels, u->n_labels) &&
		    same_labels(ctx, u->labels, u->n_labels, v->labels, v->n_labels))
			return true;
	}
	return false;
}

/* One sample of a counter or gauge series; "le" is refused as a label name
 * here too (it would read as a bucket bound). */
static void put_value(struct rs_prom_text *w, const struct rs_snapshot *snap,
		      const struct rs_export_ctx *ctx, const struct rs_value_series *v)
{
	struct rs_prom_label labels[RS_MAX_LABELS + 1];
	size_t n = series_labels(snap, ctx, v->labels, v->n_labels, labels);

	if (has_label(v->labels, v->n_labels < RS_MAX_LABELS ? v->n_labels : RS_MAX_LABELS, "le"))
		return;
	rs_prom_sample(w, v->family, NULL, labels, n, v->value);
}

static void put_value_family(struct rs_prom_text *w, const struct rs_snapshot *snap,
			     const struct rs_export_ctx *ctx, size_t first)
{
	const struct rs_value_series *s = value_at(snap, ctx, first);

	if (!rs_prom_valid_metric_name(s->family) || family_is_hist(snap, s->family)) {
		rs_warn("prometheus: skipping value family '%s' (invalid or clashing name)",
			s->family);
		return;
	}
	put_header(w, ctx, s->family, s->kind == RS_VALUE_COUNTER ? RS_PROM_COUNTER : RS_PROM_GAUGE);
	for (size_t k = first; k < n_values(snap, ctx); k++) {
		const struct rs_value_series *v = value_at(snap, ctx, k);

		if (strcmp(v->family, s->family) == 0 && !series_hidden(ctx, v->labels, v->n_labels) &&
		    !value_is_dup(snap, ctx, first, k))
			put_value(w, snap, ctx, v);
	}
}

static void put_value_families(struct rs_prom_text *w, const struct rs_snapshot *snap,
			       const struct rs_export_ctx *ctx)
{
	for (size_t i = 0; i < n_values(snap, ctx); i++) {
		const char *family = value_at(snap, ctx, i)->family;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(value_at(snap, ctx, j)->family, family) == 0;
		if (!seen)
			put_value_family(w, snap, ctx, i);
	}
}

/* True when the probe side (or an extra) already exports `family`. */
static bool family_exported(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			    const char *family)
{
	if (family_is_hist(snap, family))
		return true;
	for (size_t i = 0; i < n_values(snap, ctx); i++)
		if (strcmp(value_at(snap, ctx, i)->family, family) == 0)
			return true;
	return false;
}

/* ---- derived families: startup timelines, worker activity ---- */

/* Writes the family header before the first sample only (*header). */
static void put_derived(struct rs_prom_text *w, const struct rs_export_ctx *ctx,
			const char *family, bool *header, const struct rs_prom_label *labels,
			size_t n, double v)
{
	if (!*header) {
		put_header(w, ctx, family, RS_PROM_GAUGE);
		*header = true;
	}
	rs_prom_sample(w, family, NULL, labels, n, v);
}

/* Labels of one timeline phase sample (at most 6); pid is the caller's
 * buffer. Default labels name the timeline by its Ray node id; its key (a pod
 * UID or "pid:<ray start pid>"), pod_uid and raylet_pid are debug labels. 0
 * when a default series could not be told apart (no node id yet, or gone). */
static size_t timeline_labels(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			      const struct rs_timeline *t, const char *phase, char pid[16],
			      struct rs_prom_label *out)
{
	size_t n = node_label(snap, out);

	if (!ctx->debug_labels && !t->node_id[0])
		return 0;
	if (ctx->debug_labels) {
		out[n++] = (struct rs_prom_label){ "timeline", t->key };
		if (t->pod_uid[0])
			out[n++] = (struct rs_prom_label){ "pod_uid", t->pod_uid };
		if (t->raylet_pid) {
			snprintf(pid, 16, "%u", t->raylet_pid);
			out[n++] = (struct rs_prom_label){ "raylet_pid", pid };
		}
	}
	if (t->node_id[0])
		out[n++] = (struct rs_prom_label){ "ray_node_id", t->node_id };
	out[n++] = (struct rs_prom_label){ "phase", phase };
	return n;
}

/* Without debug labels two timelines of one raylet (its pod's and its
 * `ray start`'s) would be the same series: the first one is exported. */
static bool timeline_shadowed(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			      size_t i)
{
	if (ctx->debug_labels)
		return false;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(snap->timelines[j].node_id, snap->timelines[i].node_id))
			return true;
	return false;
}

static void put_timelines(struct rs_prom_text *w, const struct rs_snapshot *snap,
			  const struct rs_export_ctx *ctx, bool relative)
{
	const char *family = relative ? RS_FAMILY_STARTUP_PHASE_SECONDS
				      : RS_FAMILY_STARTUP_PHASE_TIMESTAMP;
	bool header = false;

	if (family_exported(snap, ctx, family))
		return;
	for (size_t i = 0; i < snap->n_timelines; i++) {
		const struct rs_timeline *t = &snap->timelines[i];
		uint64_t start = rs_timeline_start_ns(t);

		if (timeline_shadowed(snap, ctx, i))
			continue;
		for (int p = 0; p < RS_STARTUP_PHASES; p++) {
			struct rs_prom_label labels[6];
			char pid[16];
			uint64_t at = rs_timeline_phase_ns(t, p);
			size_t n;

			if (!at || (relative && (!start || at < start)))
				continue;
			n = timeline_labels(snap, ctx, t, rs_startup_phase_names[p], pid, labels);
			if (!n)
				break;
			put_derived(w, ctx, family, &header, labels, n,
				    relative ? (double)(at - start) / 1e9 : (double)at / 1e9);
		}
	}
}

/* Labels of one worker activity sample (state NULL: none); 0 when the
 * raylet cannot be told apart without debug labels (no node id yet). */
static size_t worker_labels(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			    const struct rs_worker_activity *a, const char *state, char pid[16],
			    struct rs_prom_label *out)
{
	size_t n = node_label(snap, out);

	if (!ctx->debug_labels && !a->node_id[0])
		return 0;
	snprintf(pid, 16, "%u", a->raylet_pid);
	if (ctx->debug_labels)
		out[n++] = (struct rs_prom_label){ "raylet_pid", pid };
	if (a->node_id[0])
		out[n++] = (struct rs_prom_label){ "ray_node_id", a->node_id };
	if (state)
		out[n++] = (struct rs_prom_label){ "state", state };
	return n;
}

static void put_workers(struct rs_prom_text *w, const struct rs_snapshot *snap,
			const struct rs_export_ctx *ctx)
{
	bool header = false;

	if (family_exported(snap, ctx, RS_FAMILY_WORKERS))
		return;
	for (size_t i = 0; i < snap->n_workers; i++) {
		const struct rs_worker_activity *a = &snap->workers[i];
		struct rs_prom_label labels[4];
		char pid[16];
		size_t n;

		if (!(n = worker_labels(snap, ctx, a, "busy", pid, labels)))
			continue;
		put_derived(w, ctx, RS_FAMILY_WORKERS, &header, labels, n, a->busy_workers);
		n = worker_labels(snap, ctx, a, "idle", pid, labels);
		put_derived(w, ctx, RS_FAMILY_WORKERS, &header, labels, n, a->idle_workers);
	}
}

static void put_since_busy(struct rs_prom_text *w, const struct rs_snapshot *snap,
			   const struct rs_export_ctx *ctx)
{
	bool header = false;

	if (family_exported(snap, ctx, RS_FAMILY_SECONDS_SINCE_BUSY))
		return;
	for (size_t i = 0; i < snap->n_workers; i++) {
		const struct rs_worker_activity *a = &snap->workers[i];
		struct rs_prom_label labels[3];
		char pid[16];
		size_t n;

		if (a->seconds_since_busy < 0 ||
		    !(n = worker_labels(snap, ctx, a, NULL, pid, labels)))
			continue;
		put_derived(w, ctx, RS_FAMILY_SECONDS_SINCE_BUSY, &header, labels, n,
			    a->seconds_since_busy);
	}
}

int rs_export_prom(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
		   char **out, size_t *out_len)
{
	static const struct rs_export_ctx no_ctx = { 0 };
	struct rs_prom_text w;

	if (!ctx)
		ctx = &no_ctx;
	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	put_hist_families(&w, snap, ctx);
	put_value_families(&w, snap, ctx);
	put_timelines(&w, snap, ctx, false);
	put_timelines(&w, snap, ctx, true);
	put_workers(&w, snap, ctx);
	put_since_busy(&w, snap, ctx);
	*out = rs_prom_finish(&w, out_len);
	return *out ? 0 : -ENOMEM;
}
