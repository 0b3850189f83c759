/* export_prom.c -- Prometheus text exposition (format 0.0.4) of a snapshot.
 *
 * Rules followed (prometheus/docs exposition_formats.md):
 *  - one HELP and one TYPE line per family, before its samples, and all the
 *    samples of a family in one uninterrupted group;
 *  - histogram buckets cumulative with ascending `le`, a `+Inf` bucket equal to
 *    `_count`, and `_sum` in seconds;
 *  - label values escaped (\\, \", \n); HELP escaped (\\, \n).
 * log2 slot i holds [2^i, 2^(i+1)) ns, so its bucket is le = 2^(i+1) ns stated
 * in seconds. The last slot also absorbs everything larger, so it gets no
 * finite bound and is only counted in +Inf. */
#include "agent/export.h"
#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct rs_family_info rs_export_families[] = {
	{ "raysense_startup_phase_timestamp_seconds",
	  "UNIX time at which a pod or Ray node reached a startup phase "
	  "(cgroup_created, first_exec, raylet_exec, raylet_listen, gcs_connected).", "gauge" },
	{ "raysense_startup_phase_seconds",
	  "Seconds from the first observed startup event of a pod or Ray node "
	  "(cgroup creation, else first exec) to each later phase.", "gauge" },
	{ "raysense_workers",
	  "Ray worker processes of a raylet by state (busy = running a task or actor, idle = leased out nothing).",
	  "gauge" },
	{ "raysense_raylet_seconds_since_busy",
	  "Seconds since any worker of the raylet was last seen busy.", "gauge" },
	{ "raysense_agent_push_dropped_total",
	  "Snapshots dropped from the push queue (oldest first) because the controller was unreachable or slow.",
	  "counter" },
	{ "raysense_agent_push_sent_total", "Snapshots delivered to the controller (2xx answer).", "counter" },
	{ "raysense_agent_push_failures_total", "Push attempts that failed (no answer, timeout or non-2xx).",
	  "counter" },
	{ "raysense_agent_push_queue_snapshots", "Snapshots waiting in the push queue.", "gauge" },
	{ "raysense_agent_push_queue_bytes", "Bytes of gzip snapshots waiting in the push queue.", "gauge" },
	{ "raysense_agent_ready", "1 when the probes are attached and the pinned maps are readable.", "gauge" },
	{ "raysense_agent_build_info", "Agent version (value is always 1).", "gauge" },
	{ NULL, NULL, NULL },
};

static const char *const phase_names[] = {
	"cgroup_created", "first_exec", "raylet_exec", "raylet_listen", "gcs_connected",
};
#define N_PHASES (sizeof(phase_names) / sizeof(phase_names[0]))

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

void rs_format_double(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* %.17g always round-trips but prints 2.0000000000000001e-09; take the
	 * shortest precision that reads back exactly. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
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

/* ---- name validation and escaping ---- */

static bool valid_name(const char *s, bool allow_colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static bool valid_labels(const struct rs_label *labels, int n)
{
	for (int i = 0; i < n; i++) {
		if (!valid_name(labels[i].key, false) || strncmp(labels[i].key, "__", 2) == 0 ||
		    strcmp(labels[i].key, "le") == 0)
			return false;
	}
	return true;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq_len(const unsigned char *p)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0 && p[0] >= 0xC2)
		n = 2;
	else if ((p[0] & 0xF0) == 0xE0)
		n = 3;
	else if ((p[0] & 0xF8) == 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* A growing text buffer for one series' label block. Label keys and values
 * are bounded (RS_LABEL_*_LEN), so the block is bounded too:
 * (RS_MAX_LABELS + 1) * (key + "=\"" + 3 * value + "\",") < LABELS_MAX. */
#define LABELS_MAX 4096

struct labels_buf {
	char s[LABELS_MAX];
	size_t len;
};

static void lb_put(struct labels_buf *b, const char *p, size_t n)
{
	size_t room = b->len < sizeof(b->s) - 1 ? sizeof(b->s) - 1 - b->len : 0;

	if (n > room)
		n = room; /* unreachable given the bounds above */
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Label value: escape \\, \" and \n; replace invalid UTF-8 with U+FFFD so
 * the whole exposition stays valid UTF-8. */
static void lb_put_value(struct labels_buf *b, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	while (*p) {
		size_t n = utf8_seq_len(p);

		if (n == 0) {
			lb_put(b, "\xEF\xBF\xBD", 3);
			p++;
			continue;
		}
		if (*p == '\\')
			lb_put(b, "\\\\", 2);
		else if (*p == '"')
			lb_put(b, "\\\"", 2);
		else if (*p == '\n')
			lb_put(b, "\\n", 2);
		else
			lb_put(b, (const char *)p, n);
		p += n;
	}
}

static void put_help(FILE *f, const char *family, const char *help)
{
	fprintf(f, "# HELP %s ", family);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('\n', f);
}

/* ---- series rendering ---- */

/* A series' labels plus the node label (when known and not already set). */
struct label_set {
	const struct rs_label *labels;
	int n;
	const char *node;
};

static bool has_label(const struct rs_label *labels, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(labels[i].key, key) == 0)
			return true;
	return false;
}

static struct label_set make_label_set(const struct rs_snapshot *snap,
				       const struct rs_label *labels, int n)
{
	struct label_set ls = { labels, n, NULL };

	if (n < 0)
		ls.n = 0;
	if (ls.n > RS_MAX_LABELS)
		ls.n = RS_MAX_LABELS;
	if (snap->node_name[0] && !has_label(labels, ls.n, "node"))
		ls.node = snap->node_name;
	return ls;
}

/* The label pairs of a series without braces: node="a",raylet_pid="1". */
static void render_labels(const struct label_set *ls, struct labels_buf *b)
{
	b->len = 0;
	b->s[0] = '\0';
	if (ls->node) {
		lb_put(b, "node=\"", 6);
		lb_put_value(b, ls->node);
		lb_put(b, "\"", 1);
	}
	for (int i = 0; i < ls->n; i++) {
		if (b->len)
			lb_put(b, ",", 1);
		lb_put(b, ls->labels[i].key, strlen(ls->labels[i].key));
		lb_put(b, "=\"", 2);
		lb_put_value(b, ls->labels[i].value);
		lb_put(b, "\"", 1);
	}
}

/* name{labels} or name{labels,le="x"} or bare name. */
static void put_series_name(FILE *f, const char *family, const char *suffix,
			    const struct labels_buf *b, const char *le)
{
	if (!b->len && !le) {
		fprintf(f, "%s%s", family, suffix);
		return;
	}
	if (!le)
		fprintf(f, "%s%s{%s}", family, suffix, b->s);
	else
		fprintf(f, "%s%s{%s%sle=\"%s\"}", family, suffix, b->s, b->len ? "," : "", le);
}

static bool same_labels(const struct rs_label *a, int na, const struct rs_label *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++) {
		bool found = false;

		for (int j = 0; j < nb && !found; j++)
			found = strcmp(a[i].key, b[j].key) == 0 &&
				strcmp(a[i].value, b[j].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* The finite bucket bounds as text, computed once: "2e-09" ... "549.755813888". */
static char le_text[RS_HIST_SLOTS - 1][32];
static pthread_once_t le_once = PTHREAD_ONCE_INIT;

static void init_le_text(void)
{
	for (unsigned i = 0; i + 1 < RS_HIST_SLOTS; i++)
		rs_format_double(rs_hist_slot_le_seconds(i), le_text[i], sizeof(le_text[i]));
}

static void put_hist(FILE *f, const char *family, const struct label_set *ls,
		     const struct rs_hist *h)
{
	struct labels_buf b;
	unsigned long long cum = 0;
	char sum[40];

	pthread_once(&le_once, init_le_text);
	render_labels(ls, &b);
	/* Every finite bucket on every scrape: Prometheus needs a stable set. */
	for (unsigned i = 0; i + 1 < RS_HIST_SLOTS; i++) {
		cum += h->slots[i];
		put_series_name(f, family, "_bucket", &b, le_text[i]);
		fprintf(f, " %llu\n", cum);
	}
	cum += h->slots[RS_HIST_SLOTS - 1];
	put_series_name(f, family, "_bucket", &b, "+Inf");
	fprintf(f, " %llu\n", cum);
	rs_format_double((double)h->sum_ns / 1e9, sum, sizeof(sum));
	put_series_name(f, family, "_sum", &b, NULL);
	fprintf(f, " %s\n", sum);
	put_series_name(f, family, "_count", &b, NULL);
	fprintf(f, " %llu\n", cum);
}

static void put_header(FILE *f, const struct rs_export_ctx *ctx, const char *family,
		       const char *type)
{
	const struct rs_family_info *info = rs_export_family_info(ctx, family);

	put_help(f, family, info && info->help ? info->help : "raysense metric (no description).");
	fprintf(f, "# TYPE %s %s\n", family, type);
}

static void put_hist_families(FILE *f, const struct rs_snapshot *snap,
			      const struct rs_export_ctx *ctx)
{
	for (size_t i = 0; i < snap->n_hists; i++) {
		const char *family = snap->hists[i].family;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(snap->hists[j].family, family) == 0;
		if (seen)
			continue;
		if (!valid_name(family, true)) {
			rs_warn("prometheus: skipping histogram with invalid name '%s'", family);
			continue;
		}
		put_header(f, ctx, family, "histogram");
		for (size_t k = i; k < snap->n_hists; k++) {
			const struct rs_hist_series *s = &snap->hists[k];
			struct label_set ls = make_label_set(snap, s->labels, s->n_labels);
			bool dup = false;

			if (strcmp(s->family, family) != 0)
				continue;
			if (!valid_labels(s->labels, ls.n)) {
				rs_warn("prometheus: skipping %s series with an invalid label name", family);
				continue;
			}
			for (size_t j = i; j < k && !dup; j++)
				dup = strcmp(snap->hists[j].family, family) == 0 &&
				      same_labels(snap->hists[j].labels, snap->hists[j].n_labels,
						  s->labels, s->n_labels);
			if (!dup)
				put_hist(f, family, &ls, &s->hist);
		}
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

static bool family_is_hist(const struct rs_snapshot *snap, const char *family)
{
	for (size_t i = 0; i < snap->n_hists; i++)
		if (strcmp(snap->hists[i].family, family) == 0)
			return true;
	return false;
}

static void put_value(FILE *f, const char *family, const struct label_set *ls, double v)
{
	struct labels_buf b;
	char buf[40];

	render_labels(ls, &b);
	rs_format_double(v, buf, sizeof(buf));
	put_series_name(f, family, "", &b, NULL);
	fprintf(f, " %s\n", buf);
}

static void put_value_families(FILE *f, const struct rs_snapshot *snap,
			       const struct rs_export_ctx *ctx)
{
	size_t n = snap->n_values + (ctx->extra ? ctx->n_extra : 0);

	for (size_t i = 0; i < n; i++) {
		const struct rs_value_series *s = value_at(snap, ctx, i);
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(value_at(snap, ctx, j)->family, s->family) == 0;
		if (seen)
			continue;
		if (!valid_name(s->family, true) || family_is_hist(snap, s->family)) {
			rs_warn("prometheus: skipping value family '%s' (invalid or clashing name)",
				s->family);
			continue;
		}
		put_header(f, ctx, s->family, s->kind == RS_VALUE_COUNTER ? "counter" : "gauge");
		for (size_t k = i; k < n; k++) {
			const struct rs_value_series *v = value_at(snap, ctx, k);
			struct label_set ls = make_label_set(snap, v->labels, v->n_labels);
			bool dup = false;

			if (strcmp(v->family, s->family) != 0 || !valid_labels(v->labels, ls.n))
				continue;
			for (size_t j = i; j < k && !dup; j++) {
				const struct rs_value_series *w = value_at(snap, ctx, j);

				dup = strcmp(w->family, s->family) == 0 &&
				      same_labels(w->labels, w->n_labels, v->labels, v->n_labels);
			}
			if (!dup)
				put_value(f, s->family, &ls, v->value);
		}
	}
}

/* True when the probe side (or an extra) already exports `family`. */
static bool family_exported(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
			    const char *family)
{
	size_t n = snap->n_values + (ctx->extra ? ctx->n_extra : 0);

	if (family_is_hist(snap, family))
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(value_at(snap, ctx, i)->family, family) == 0)
			return true;
	return false;
}

static uint64_t phase_ns(const struct rs_timeline *t, size_t phase)
{
	const uint64_t v[N_PHASES] = { t->cgroup_created_ns, t->first_exec_ns, t->raylet_exec_ns,
				       t->raylet_listen_ns, t->gcs_connected_ns };
	return v[phase];
}

static uint64_t timeline_start_ns(const struct rs_timeline *t)
{
	return t->cgroup_created_ns ? t->cgroup_created_ns : t->first_exec_ns;
}

static void add_label(struct rs_label *out, int *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_label(struct rs_label *out, int *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	snprintf(out[*n].key, sizeof(out[*n].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(out[*n].value, sizeof(out[*n].value), fmt, ap);
	va_end(ap);
	(*n)++;
}

/* Labels of one timeline phase sample. */
static int timeline_labels(const struct rs_timeline *t, const char *phase,
			   struct rs_label *out)
{
	int n = 0;

	add_label(out, &n, "timeline", "%s", t->key);
	if (t->pod_uid[0])
		add_label(out, &n, "pod_uid", "%s", t->pod_uid);
	if (t->raylet_pid)
		add_label(out, &n, "raylet_pid", "%u", t->raylet_pid);
	add_label(out, &n, "phase", "%s", phase);
	return n;
}

static void put_timelines(FILE *f, const struct rs_snapshot *snap,
			  const struct rs_export_ctx *ctx, bool relative)
{
	const char *family = relative ? "raysense_startup_phase_seconds"
				      : "raysense_startup_phase_timestamp_seconds";
	bool header = false;

	if (family_exported(snap, ctx, family))
		return;
	for (size_t i = 0; i < snap->n_timelines; i++) {
		const struct rs_timeline *t = &snap->timelines[i];
		uint64_t start = timeline_start_ns(t);

		for (size_t p = 0; p < N_PHASES; p++) {
			struct rs_label labels[RS_MAX_LABELS];
			struct label_set ls;
			uint64_t at = phase_ns(t, p);

			if (!at || (relative && (!start || at < start)))
				continue;
			ls = make_label_set(snap, labels, timeline_labels(t, phase_names[p], labels));
			if (!header) {
				put_header(f, ctx, family, "gauge");
				header = true;
			}
			put_value(f, family, &ls,
				  relative ? (double)(at - start) / 1e9 : (double)at / 1e9);
		}
	}
}

static int worker_labels(const struct rs_worker_activity *w, const char *state,
			 struct rs_label *out)
{
	int n = 0;

	add_label(out, &n, "raylet_pid", "%u", w->raylet_pid);
	if (w->node_id[0])
		add_label(out, &n, "ray_node_id", "%s", w->node_id);
	if (state)
		add_label(out, &n, "state", "%s", state);
	return n;
}

static void put_workers(FILE *f, const struct rs_snapshot *snap, const struct rs_export_ctx *ctx)
{
	static const char *workers = "raysense_workers";
	static const char *since = "raysense_raylet_seconds_since_busy";
	struct rs_label labels[RS_MAX_LABELS];
	struct label_set ls;
	bool header = false;

	if (snap->n_workers && !family_exported(snap, ctx, workers)) {
		put_header(f, ctx, workers, "gauge");
		for (size_t i = 0; i < snap->n_workers; i++) {
			const struct rs_worker_activity *w = &snap->workers[i];

			ls = make_label_set(snap, labels, worker_labels(w, "busy", labels));
			put_value(f, workers, &ls, w->busy_workers);
			ls = make_label_set(snap, labels, worker_labels(w, "idle", labels));
			put_value(f, workers, &ls, w->idle_workers);
		}
	}
	if (family_exported(snap, ctx, since))
		return;
	for (size_t i = 0; i < snap->n_workers; i++) {
		const struct rs_worker_activity *w = &snap->workers[i];

		if (w->seconds_since_busy < 0)
			continue;
		if (!header) {
			put_header(f, ctx, since, "gauge");
			header = true;
		}
		ls = make_label_set(snap, labels, worker_labels(w, NULL, labels));
		put_value(f, since, &ls, w->seconds_since_busy);
	}
}

int rs_export_prom(const struct rs_snapshot *snap, const struct rs_export_ctx *ctx,
		   char **out, size_t *out_len)
{
	static const struct rs_export_ctx no_ctx = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	if (!ctx)
		ctx = &no_ctx;
	put_hist_families(f, snap, ctx);
	put_value_families(f, snap, ctx);
	put_timelines(f, snap, ctx, false);
	put_timelines(f, snap, ctx, true);
	put_workers(f, snap, ctx);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*out_len = len;
	return 0;
}
