/* prom_text.h -- the one writer of Prometheus text exposition (format 0.0.4)
 * used by every /metrics producer (agent exporter, controller, providers).
 *
 * A growable buffer: rs_prom_family() writes the HELP and TYPE lines of a
 * family, then rs_prom_sample*() / rs_prom_histogram() its samples. Callers
 * keep a family's samples together (the format requires it); the writer
 * takes care of the text: label-value escaping (\\, \", \n; invalid UTF-8
 * becomes U+FFFD), HELP escaping (\\, \n), counters as integers, doubles in
 * the writer's float style, histograms with cumulative `le` buckets, a +Inf
 * bucket equal to _count, and _sum.
 *
 * Errors: a name that is not a valid metric or label name makes that one
 * call write nothing and return -EINVAL (the exposition stays valid). An
 * allocation failure is remembered: every later call does nothing and
 * returns -ENOMEM, and rs_prom_finish() reports it once, so callers need not
 * check each call.
 *
 *	struct rs_prom_text w;
 *
 *	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
 *	rs_prom_family(&w, "x_total", "Things.", RS_PROM_COUNTER);
 *	rs_prom_sample_u64(&w, "x_total", NULL, RS_PROM_LABELS({ "kind", k }), n);
 *	text = rs_prom_finish(&w, &len);	// NULL = -ENOMEM
 */
#ifndef RAYSENSE_COMMON_PROM_TEXT_H
#define RAYSENSE_COMMON_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum rs_prom_type {
	RS_PROM_COUNTER,
	RS_PROM_GAUGE,
	RS_PROM_HISTOGRAM,
	RS_PROM_SUMMARY,
	RS_PROM_UNTYPED,
};

/* How double values (gauges, _sum, le bounds given as doubles) are printed. */
enum rs_prom_float {
	RS_PROM_FLOAT_SHORTEST,	/* shortest "%.Ng" that reads back exactly */
	RS_PROM_FLOAT_G,	/* printf "%g" (6 significant digits) */
	RS_PROM_FLOAT_FIXED6,	/* printf "%.6f" */
};

struct rs_prom_label {
	const char *name;
	const char *value;
};

/* A label list literal and its length, for the (labels, n_labels) pair:
 * RS_PROM_LABELS({ "phase", p }, { "eci", "true" }). */
#define RS_PROM_LABELS(...)                                                    \
	(const struct rs_prom_label[]){ __VA_ARGS__ },                         \
	sizeof((const struct rs_prom_label[]){ __VA_ARGS__ }) /                \
		sizeof(struct rs_prom_label)

/* A histogram from cumulative buckets: cumulative[i] observations are
 * <= bound i. Bounds come as doubles (le, printed in the float style) or as
 * text (le_text, e.g. precomputed once); exactly one of them is set. */
struct rs_prom_hist {
	size_t n_buckets;		/* finite buckets, ascending */
	const double *le;
	const char *const *le_text;
	const uint64_t *cumulative;
	uint64_t count;			/* the +Inf bucket and _count */
	double sum;
};

struct rs_prom_text {
	char *buf;
	size_t len, cap;
	size_t limit;			/* 0 = none; else growing past it = -ENOMEM */
	enum rs_prom_float float_style;
	int err;			/* first allocation failure, sticky */
};

void rs_prom_init(struct rs_prom_text *w, enum rs_prom_float float_style);
/* "# HELP name help" (help escaped; NULL = no HELP line) and "# TYPE". */
int rs_prom_family(struct rs_prom_text *w, const char *name, const char *help,
		   enum rs_prom_type type);
/* One sample line: name, suffix (NULL or e.g. "_sum"), labels, value. */
int rs_prom_sample(struct rs_prom_text *w, const char *name, const char *suffix,
		   const struct rs_prom_label *labels, size_t n_labels, double value);
int rs_prom_sample_u64(struct rs_prom_text *w, const char *name, const char *suffix,
		       const struct rs_prom_label *labels, size_t n_labels, uint64_t value);
int rs_prom_sample_i64(struct rs_prom_text *w, const char *name, const char *suffix,
		       const struct rs_prom_label *labels, size_t n_labels, int64_t value);
/* name_bucket{labels,le="..."} for each bucket and +Inf, name_sum, name_count. */
int rs_prom_histogram(struct rs_prom_text *w, const char *name,
		      const struct rs_prom_label *labels, size_t n_labels,
		      const struct rs_prom_hist *h);
/* Append text that already is exposition (e.g. another producer's). */
int rs_prom_raw(struct rs_prom_text *w, const char *text);

/* The text (malloc'd, NUL-terminated; "" when nothing was written) and its
 * length, or NULL when an allocation failed (the buffer is freed either way
 * and the writer is reset). */
char *rs_prom_finish(struct rs_prom_text *w, size_t *len);
/* Drop the buffer without returning it. */
void rs_prom_free(struct rs_prom_text *w);

/* Name checks the writer applies: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics;
 * labels have no ':' and must not start with "__" (reserved). */
bool rs_prom_valid_metric_name(const char *s);
bool rs_prom_valid_label_name(const char *s);
/* A double as the style prints it; "NaN", "+Inf", "-Inf" in every style. */
void rs_prom_format_double(double v, enum rs_prom_float style, char *buf, size_t len);

#endif
