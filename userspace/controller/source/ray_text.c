/* ray_text.c -- strict parsers for Ray's autoscaler-v2 status text and
 * per-node usage text (see ray_text.h for the formats and why). */
#include "common/util.h"
#include "controller/source/ray_text.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define seterr(err, ...) rs_errf(err, DASH_ERR_LEN, __VA_ARGS__)

#define MAX_NAME 255
#define MAX_NUMBER 64
#define MAX_BUNDLES 1000	/* per group, as for the structured pgDemand */

/* A cursor over one line (or one dict); never reads past end. */
struct cur {
	const char *p, *end;
};

static bool eat(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool at_end(const struct cur *c)
{
	return c->p == c->end;
}

/* How many bytes of [p, end) a message may quote ("%.*s"): at most cap.
 * The text is not NUL-terminated, so "%.Ns" could read past its end. */
static int quote_len(const char *p, const char *end, int cap)
{
	return end - p < cap ? (int)(end - p) : cap;
}

/* Decimal integer 0..max, digits only. */
static int read_count(struct cur *c, long max, long *out)
{
	long v = 0;
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (*c->p - '0');
		if (v > max)
			return -EINVAL;
		c->p++;
	}
	if (c->p == start)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A Python float/int repr: starts with a digit, then [0-9.eE+-]; finite,
 * non-negative (the caller's context forbids a sign). */
static int read_number(struct cur *c, double *out)
{
	char buf[MAX_NUMBER + 1], *endp;
	size_t n = 0;

	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return -EINVAL;
	while (c->p + n < c->end && c->p[n] && strchr("0123456789.eE+-", c->p[n]))
		if (++n > MAX_NUMBER)
			return -EINVAL;
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtod(buf, &endp);
	if (errno || endp != buf + n || !isfinite(*out) || *out < 0)
		return -EINVAL;
	c->p += n;
	return 0;
}

/* Ray's format_memory(): "<int>B" or "<x.xx>KiB|MiB|GiB|TiB". */
static int read_memory(struct cur *c, double *out)
{
	static const struct { const char *suffix; double unit; } units[] = {
		{ "TiB", 1099511627776.0 }, { "GiB", 1073741824.0 },
		{ "MiB", 1048576.0 }, { "KiB", 1024.0 }, { "B", 1.0 },
	};
	double v;

	if (read_number(c, &v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (eat(c, units[i].suffix)) {
			*out = v * units[i].unit;
			return 0;
		}
	return -EINVAL;
}

/* 'name': single quotes, no quote, backslash or control character inside
 * (Python would then print it differently; we refuse to guess). */
static int read_name(struct cur *c, char *name)
{
	size_t n = 0;

	if (!eat(c, "'"))
		return -EINVAL;
	while (c->p < c->end && *c->p != '\'') {
		unsigned char ch = (unsigned char)*c->p;

		if (ch < 0x20 || ch == '\\' || ch == '"' || n >= MAX_NAME)
			return -EINVAL;
		name[n++] = *c->p++;
	}
	name[n] = '\0';
	return n && eat(c, "'") ? 0 : -EINVAL;
}

static int parse_pydict(struct cur *c, struct resmap *out, char *err)
{
	const char *start = c->p;
	char name[MAX_NAME + 1];
	double v;

	if (!eat(c, "{"))
		goto bad;
	if (eat(c, "}"))
		return 0;
	for (;;) {
		if (read_name(c, name) || !eat(c, ": ") || read_number(c, &v))
			goto bad;
		if (resmap_find(out, name)) {
			seterr(err, "resource '%.80s' twice in one dict", name);
			return -EINVAL;
		}
		if (resmap_set(out, name, v))
			return -ENOMEM;
		if (eat(c, "}"))
			return 0;
		if (!eat(c, ", "))
			goto bad;
	}
bad:
	seterr(err, "not a resource dict repr at offset %td: '%.*s'", c->p - start,
	       quote_len(start, c->end, 60), start);
	return -EINVAL;
}

int rtext_parse_pydict(const char *s, size_t len, size_t *consumed, struct resmap *out,
		       char *err)
{
	struct cur c = { s, s + len };
	int rc = parse_pydict(&c, out, err);

	if (!rc)
		*consumed = (size_t)(c.p - s);
	return rc;
}

/* ---------------------------------------------------------------- status text */

static int shape_push(struct dash_shape **arr, size_t *n, struct resmap *shape, long count)
{
	struct dash_shape *g = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (!g)
		return -ENOMEM;
	*arr = g;
	g[*n] = (struct dash_shape){ .kind = PLANNER_DEMAND_TASK, .shape = *shape, .count = count };
	memset(shape, 0, sizeof(*shape));	/* ownership moved */
	(*n)++;
	return 0;
}

/*  {'CPU': 4.0}: 2 from request_resources() */
static int parse_request_line(struct cur *c, struct rtext_status *st, char *err)
{
	struct resmap shape = { 0 };
	long n;
	int rc = parse_pydict(c, &shape, err);

	if (!rc && (!eat(c, ": ") || read_count(c, PLANNER_MAX_COUNT, &n) ||
		    !eat(c, " from request_resources()") || !at_end(c))) {
		seterr(err, "unexpected request_resources line");
		rc = -EINVAL;
	}
	if (!rc && shape.count)
		rc = shape_push(&st->requests, &st->request_count, &shape, n);
	resmap_free(&shape);
	return rc;
}

/* After the dict: ": N+ pending tasks/actors[ (K+ using placement groups)]".
 * Tasks inside placement groups are the groups' demand: only N-K count. */
static int parse_task_tail(struct cur *c, struct resmap *shape, struct rtext_status *st)
{
	long n, in_pg = 0;

	if (read_count(c, PLANNER_MAX_COUNT, &n) || !eat(c, "+ pending tasks/actors"))
		return -EINVAL;
	if (eat(c, " (") && (read_count(c, n, &in_pg) || !eat(c, "+ using placement groups)")))
		return -EINVAL;
	if (!at_end(c))
		return -EINVAL;
	if (n - in_pg > 0 && shape->count)
		return shape_push(&st->tasks, &st->task_count, shape, n - in_pg);
	return 0;
}

static int pg_add_bundles(struct dash_pg *pg, const struct resmap *b, long n)
{
	if (n < 1 || pg->bundle_count + (size_t)n > MAX_BUNDLES)
		return -EINVAL;
	return dash_bundles_append(&pg->bundles, &pg->bundle_count, b, n);
}

static void pg_free(struct dash_pg *pg)
{
	dash_bundles_free(pg->bundles, pg->bundle_count);
	memset(pg, 0, sizeof(*pg));
}

/* After the first dict: " * N[, {..} * N]... (STRATEGY): M+ pending placement groups" */
static int parse_pg_tail(struct cur *c, struct resmap *first, struct rtext_status *st, char *err)
{
	struct dash_pg pg = { 0 }, *g;
	char strategy[32];
	size_t sn = 0;
	long n;
	int rc;

	rc = read_count(c, MAX_BUNDLES, &n) ? -EINVAL : pg_add_bundles(&pg, first, n);
	while (!rc && eat(c, ", ")) {
		struct resmap b = { 0 };

		rc = parse_pydict(c, &b, err);
		if (!rc)
			rc = !eat(c, " * ") || read_count(c, MAX_BUNDLES, &n) ? -EINVAL :
			     pg_add_bundles(&pg, &b, n);
		resmap_free(&b);
	}
	if (!rc && !eat(c, " ("))
		rc = -EINVAL;
	while (!rc && c->p < c->end && *c->p != ')' && sn < sizeof(strategy) - 1)
		strategy[sn++] = *c->p++;
	strategy[sn] = '\0';
	if (!rc && (!eat(c, "): ") || read_count(c, PLANNER_MAX_COUNT, &pg.count) ||
		    !eat(c, "+ pending placement groups") || !at_end(c)))
		rc = -EINVAL;
	if (!rc && planner_pg_strategy_parse(strategy, &pg.strategy)) {
		seterr(err, "unknown placement strategy '%s'", strategy);
		rc = -EINVAL;
		goto out;
	}
	if (!rc && !(g = realloc(st->pg_lines, (st->pg_line_count + 1) * sizeof(*g))))
		rc = -ENOMEM;
	if (!rc) {
		st->pg_lines = g;
		g[st->pg_line_count++] = pg;
		return 0;
	}
out:
	pg_free(&pg);
	return rc;
}

static int parse_demand_line(struct cur *c, struct rtext_status *st, char *err)
{
	struct resmap shape = { 0 };
	int rc = parse_pydict(c, &shape, err);

	if (!rc) {
		if (eat(c, ": "))
			rc = parse_task_tail(c, &shape, st);
		else if (eat(c, " * "))
			rc = parse_pg_tail(c, &shape, st, err);
		else
			rc = -EINVAL;
	}
	resmap_free(&shape);
	return rc;
}

enum section { SEC_HEADER, SEC_BEFORE, SEC_REQUESTS, SEC_DEMANDS, SEC_AFTER };

static int parse_status_line(struct cur *line, enum section *sec, bool *none_seen,
			     struct rtext_status *st, char *err)
{
	switch (*sec) {
	case SEC_HEADER:
		if (!eat(line, "======== Autoscaler status: "))
			return -EINVAL;
		*sec = SEC_BEFORE;
		return 0;
	case SEC_BEFORE:
		if (eat(line, "From request_resources:") && at_end(line))
			*sec = SEC_REQUESTS;
		return 0;	/* node status, usage: not read */
	case SEC_REQUESTS:
		if (eat(line, "Pending Demands:") && at_end(line)) {
			*sec = SEC_DEMANDS;
			*none_seen = false;
			return 0;
		}
		if (eat(line, " (none)") && at_end(line) && !st->request_count && !*none_seen)
			return (*none_seen = true), 0;
		if (*none_seen || !eat(line, " "))
			return -EINVAL;
		return parse_request_line(line, st, err);
	case SEC_DEMANDS:
		if (at_end(line)) {	/* verbose output continues with node usage */
			*sec = SEC_AFTER;
			return 0;
		}
		if (eat(line, " (no resource demands)") && at_end(line) && !st->task_count &&
		    !st->pg_line_count && !*none_seen)
			return (*none_seen = true), 0;
		if (*none_seen || !eat(line, " "))
			return -EINVAL;
		return parse_demand_line(line, st, err);
	case SEC_AFTER:
		return 0;
	}
	return -EINVAL;
}

int rtext_parse_status(const char *text, size_t len, struct rtext_status *out, char *err)
{
	enum section sec = SEC_HEADER;
	const char *p = text, *end = text + len;
	bool none_seen = false;
	unsigned lineno = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > RTEXT_MAX_LEN) {
		seterr(err, "status text of %zu bytes is beyond the limit %u", len, RTEXT_MAX_LEN);
		return -EINVAL;
	}
	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cur line = { p, nl ? nl : end };
		char perr[DASH_ERR_LEN] = "";

		lineno++;
		rc = parse_status_line(&line, &sec, &none_seen, out, perr);
		if (rc == -EINVAL)
			seterr(err, "status text line %u: unexpected '%.*s'%s%s", lineno,
			       quote_len(p, line.end, 120), p, perr[0] ? ": " : "", perr);
		p = nl ? nl + 1 : end;
	}
	if (!rc && sec != SEC_DEMANDS && sec != SEC_AFTER) {
		seterr(err, "status text: no %s section",
		       sec == SEC_HEADER ? "'Autoscaler status' header" :
		       sec == SEC_BEFORE ? "'From request_resources:'" : "'Pending Demands:'");
		rc = -EINVAL;
	}
	if (rc)
		rtext_status_free(out);
	return rc;
}

void rtext_status_free(struct rtext_status *st)
{
	dash_shapes_free(st->tasks, st->task_count);
	dash_shapes_free(st->requests, st->request_count);
	for (size_t i = 0; i < st->pg_line_count; i++)
		pg_free(&st->pg_lines[i]);
	free(st->pg_lines);
	memset(st, 0, sizeof(*st));
}

/* ---------------------------------------------------------------- node usage */

static bool is_memory(const char *name)
{
	return !strcmp(name, "memory") || !strcmp(name, "object_store_memory");
}

/* "U/T name[ (PU used of PT reserved in placement groups)]" */
static int parse_usage_line(struct cur *c, struct resmap *used, struct resmap *total)
{
	static const char pg_tail[] = " reserved in placement groups)";
	const size_t tail_len = sizeof(pg_tail) - 1;
	const char *name_end = c->end, *slash = memchr(c->p, '/', (size_t)(c->end - c->p));
	double u, t, pg_used = 0, pg_total = 0;
	char name[MAX_NAME + 1];
	struct cur suffix = { 0 };
	size_t nlen;

	if ((size_t)(c->end - c->p) > tail_len && !memcmp(c->end - tail_len, pg_tail, tail_len)) {
		for (name_end = c->end - tail_len; name_end > c->p && memcmp(name_end, " (", 2);)
			name_end--;
		suffix = (struct cur){ name_end + 2, c->end - tail_len };
	}
	if (!slash || slash > name_end)
		return -EINVAL;
	/* The name decides how the numbers are written: find it first. */
	const char *sp = memchr(slash, ' ', (size_t)(name_end - slash));

	if (!sp || (nlen = (size_t)(name_end - sp - 1)) == 0 || nlen > MAX_NAME)
		return -EINVAL;
	memcpy(name, sp + 1, nlen);
	name[nlen] = '\0';
	if (memchr(name, '\n', nlen) || resmap_find(total, name))
		return -EINVAL;
	int (*num)(struct cur *, double *) = is_memory(name) ? read_memory : read_number;
	struct cur a = { c->p, slash }, b = { slash + 1, sp };

	if (num(&a, &u) || !at_end(&a) || num(&b, &t) || !at_end(&b))
		return -EINVAL;
	if (suffix.p && (num(&suffix, &pg_used) || !eat(&suffix, " used of ") ||
			 num(&suffix, &pg_total) || !at_end(&suffix)))
		return -EINVAL;
	/* Ray printed used - pg_total + pg_used: a bundle's reservation is
	 * capacity in use for the node, whether or not a task runs in it. */
	u = u - pg_used + pg_total;
	if (u < 0)
		u = 0;
	return resmap_set(used, name, u) || resmap_set(total, name, t) ? -ENOMEM : 0;
}

int rtext_parse_node_usage(const char *text, size_t len, struct resmap *used,
			   struct resmap *total, char *err)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	if (len > RTEXT_MAX_LEN) {
		seterr(err, "usage text of %zu bytes is beyond the limit", len);
		return -EINVAL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cur line = { p, nl ? nl : end };
		int rc;

		lineno++;
		rc = parse_usage_line(&line, used, total);
		if (rc == -EINVAL)
			seterr(err, "usage text line %u: unexpected '%.*s'", lineno,
			       quote_len(p, line.end, 120), p);
		if (rc)
			return rc;
		p = nl ? nl + 1 : end;
		if (nl && p == end) {	/* a trailing newline: Ray joins without one */
			seterr(err, "usage text line %u: unexpected empty line", lineno + 1);
			return -EINVAL;
		}
	}
	return 0;
}
