/* prom_text.c -- Prometheus text exposition writer (prom_text.h).
 *
 * Rules followed (prometheus/docs exposition_formats.md): HELP escapes \\ and
 * \n; label values escape \\, \" and \n; histogram buckets are cumulative
 * with ascending `le`, and the +Inf bucket equals _count. Label values are
 * also made valid UTF-8 (invalid bytes become U+FFFD), so one odd process
 * name cannot make a scraper reject the whole page. */
#include "common/prom_text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
	[RS_PROM_COUNTER] = "counter",
	[RS_PROM_GAUGE] = "gauge",
	[RS_PROM_HISTOGRAM] = "histogram",
	[RS_PROM_SUMMARY] = "summary",
	[RS_PROM_UNTYPED] = "untyped",
};

void rs_prom_init(struct rs_prom_text *w, enum rs_prom_float float_style)
{
	memset(w, 0, sizeof(*w));
	w->float_style = float_style;
}

void rs_prom_free(struct rs_prom_text *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

/* ---- the buffer ---- */

/* Room for n more bytes plus a NUL; 0 or the sticky -ENOMEM. */
static int reserve(struct rs_prom_text *w, size_t n)
{
	size_t need = w->len + n + 1, cap = w->cap ? w->cap : 4096;
	char *p;

	if (w->err)
		return w->err;
	if (need <= w->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (w->limit && cap > w->limit)
		cap = need <= w->limit ? w->limit : 0;
	p = cap ? realloc(w->buf, cap) : NULL;
	if (!p) {
		w->err = -ENOMEM;
		return w->err;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

static void put(struct rs_prom_text *w, const char *s, size_t n)
{
	if (reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void puts_(struct rs_prom_text *w, const char *s)
{
	put(w, s, strlen(s));
}

/* ---- names, values, escaping ---- */

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

bool rs_prom_valid_metric_name(const char *s)
{
	return valid_name(s, true);
}

bool rs_prom_valid_label_name(const char *s)
{
	return valid_name(s, false) && strncmp(s, "__", 2) != 0;
}

static bool valid_labels(const struct rs_prom_label *labels, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!rs_prom_valid_label_name(labels[i].name) || !labels[i].value)
			return false;
	return true;
}

static bool has_label(const struct rs_prom_label *labels, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].name, name) == 0)
			return true;
	return false;
}

/* Shortest "%.Ng" that reads back as exactly v; whole numbers below 2^53
 * print as plain integers ("100", not "1e+02"). */
static void format_shortest(double v, char *buf, size_t len)
{
	if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

void rs_prom_format_double(double v, enum rs_prom_float style, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	else if (style == RS_PROM_FLOAT_G)
		snprintf(buf, len, "%g", v);
	else if (style == RS_PROM_FLOAT_FIXED6)
		snprintf(buf, len, "%.6f", v);
	else
		format_shortest(v, buf, len);
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

static void put_label_value(struct rs_prom_text *w, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	while (*p) {
		size_t n = utf8_seq_len(p);

		if (n == 0)
			put(w, "\xEF\xBF\xBD", 3);
		else if (*p == '\\')
			put(w, "\\\\", 2);
		else if (*p == '"')
			put(w, "\\\"", 2);
		else if (*p == '\n')
			put(w, "\\n", 2);
		else
			put(w, (const char *)p, n);
		p += n ? n : 1;
	}
}

static void put_help(struct rs_prom_text *w, const char *help)
{
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			put(w, "\\\\", 2);
		else if (*p == '\n')
			put(w, "\\n", 2);
		else
			put(w, p, 1);
	}
}

/* ---- lines ---- */

int rs_prom_family(struct rs_prom_text *w, const char *name, const char *help,
		   enum rs_prom_type type)
{
	if (w->err)
		return w->err;
	if (!rs_prom_valid_metric_name(name) || (unsigned)type > RS_PROM_UNTYPED)
		return -EINVAL;
	if (help) {
		puts_(w, "# HELP ");
		puts_(w, name);
		put(w, " ", 1);
		put_help(w, help);
		put(w, "\n", 1);
	}
	puts_(w, "# TYPE ");
	puts_(w, name);
	put(w, " ", 1);
	puts_(w, type_names[type]);
	put(w, "\n", 1);
	return w->err;
}

/* k="v",... (no braces). */
static void put_label_pairs(struct rs_prom_text *w, const struct rs_prom_label *labels, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(w, ",", 1);
		puts_(w, labels[i].name);
		put(w, "=\"", 2);
		put_label_value(w, labels[i].value);
		put(w, "\"", 1);
	}
}

/* name+suffix, then {labels} when there are any. */
static void put_series(struct rs_prom_text *w, const char *name, const char *suffix,
		       const struct rs_prom_label *labels, size_t n)
{
	puts_(w, name);
	if (suffix)
		puts_(w, suffix);
	if (!n)
		return;
	put(w, "{", 1);
	put_label_pairs(w, labels, n);
	put(w, "}", 1);
}

static void put_value_text(struct rs_prom_text *w, const char *text)
{
	put(w, " ", 1);
	puts_(w, text);
	put(w, "\n", 1);
}

static int check_sample(const struct rs_prom_text *w, const char *name,
			const struct rs_prom_label *labels, size_t n)
{
	if (w->err)
		return w->err;
	if (!rs_prom_valid_metric_name(name) || (n && !labels) || !valid_labels(labels, n))
		return -EINVAL;
	return 0;
}

/* One sample line whose value is already text. */
static int put_sample(struct rs_prom_text *w, const char *name, const char *suffix,
		      const struct rs_prom_label *labels, size_t n, const char *text)
{
	int err = check_sample(w, name, labels, n);

	if (err)
		return err;
	put_series(w, name, suffix, labels, n);
	put_value_text(w, text);
	return w->err;
}

int rs_prom_sample(struct rs_prom_text *w, const char *name, const char *suffix,
		   const struct rs_prom_label *labels, size_t n_labels, double value)
{
	char text[40];

	rs_prom_format_double(value, w->float_style, text, sizeof(text));
	return put_sample(w, name, suffix, labels, n_labels, text);
}

int rs_prom_sample_u64(struct rs_prom_text *w, const char *name, const char *suffix,
		       const struct rs_prom_label *labels, size_t n_labels, uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	return put_sample(w, name, suffix, labels, n_labels, text);
}

int rs_prom_sample_i64(struct rs_prom_text *w, const char *name, const char *suffix,
		       const struct rs_prom_label *labels, size_t n_labels, int64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRId64, value);
	return put_sample(w, name, suffix, labels, n_labels, text);
}

/* Copy `len` bytes of already written text from offset `at` (a histogram
 * repeats one escaped label block on ~40 lines: render it once). */
static void put_copy(struct rs_prom_text *w, size_t at, size_t len)
{
	if (reserve(w, len))
		return;
	memcpy(w->buf + w->len, w->buf + at, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

static void put_u64_line(struct rs_prom_text *w, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), " %" PRIu64 "\n", v);
	puts_(w, text);
}

/* name_bucket{labels,le="bound"} cum; the first call renders the label
 * pairs and records where (*at, *len), later calls copy them. */
static void put_bucket(struct rs_prom_text *w, const char *name,
		       const struct rs_prom_label *labels, size_t n, const char *bound,
		       uint64_t cum, size_t *at, size_t *len)
{
	puts_(w, name);
	put(w, "_bucket{", 8);
	if (*at) {
		put_copy(w, *at, *len);
	} else {
		*at = w->len;
		put_label_pairs(w, labels, n);
		*len = w->len - *at;
	}
	puts_(w, n ? ",le=\"" : "le=\"");
	puts_(w, bound);
	put(w, "\"}", 2);
	put_u64_line(w, cum);
}

/* name_sum / name_count with the label block rendered by put_bucket. */
static void put_hist_tail(struct rs_prom_text *w, const char *name, const char *suffix,
			  size_t at, size_t len)
{
	puts_(w, name);
	puts_(w, suffix);
	if (!len)
		return;
	put(w, "{", 1);
	put_copy(w, at, len);
	put(w, "}", 1);
}

static bool valid_hist(const struct rs_prom_hist *h)
{
	return h && !h->le != !h->le_text && (!h->n_buckets || h->cumulative);
}

int rs_prom_histogram(struct rs_prom_text *w, const char *name,
		      const struct rs_prom_label *labels, size_t n_labels,
		      const struct rs_prom_hist *h)
{
	char bound[40];
	size_t at = 0, len = 0;
	int err = check_sample(w, name, labels, n_labels);

	if (err)
		return err;
	if (has_label(labels, n_labels, "le") || !valid_hist(h))
		return -EINVAL;
	for (size_t i = 0; i < h->n_buckets; i++) {
		if (!h->le_text)
			rs_prom_format_double(h->le[i], w->float_style, bound, sizeof(bound));
		put_bucket(w, name, labels, n_labels, h->le_text ? h->le_text[i] : bound,
			   h->cumulative[i], &at, &len);
	}
	put_bucket(w, name, labels, n_labels, "+Inf", h->count, &at, &len);
	rs_prom_format_double(h->sum, w->float_style, bound, sizeof(bound));
	put_hist_tail(w, name, "_sum", at, len);
	put_value_text(w, bound);
	put_hist_tail(w, name, "_count", at, len);
	put_u64_line(w, h->count);
	return w->err;
}

int rs_prom_raw(struct rs_prom_text *w, const char *text)
{
	if (w->err)
		return w->err;
	if (text)
		puts_(w, text);
	return w->err;
}

char *rs_prom_finish(struct rs_prom_text *w, size_t *len)
{
	char *out;

	if (!reserve(w, 0))
		w->buf[w->len] = '\0'; /* "" when nothing was written */
	if (w->err) {
		rs_prom_free(w);
		w->err = 0;
		return NULL;
	}
	out = w->buf;
	if (len)
		*len = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return out;
}
