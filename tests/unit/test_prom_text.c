/* test_prom_text.c -- the Prometheus text writer (common/prom_text.h):
 * HELP and label-value escaping, invalid UTF-8, name validation, histogram
 * lines from cumulative buckets, float styles, the sticky -ENOMEM path (via
 * the writer's size limit), and `promtool check metrics` on a full page when
 * promtool is installed. */
#include "check.h"
#include "common/prom_text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *finish(struct rs_prom_text *w)
{
	size_t len = 0;
	char *out = rs_prom_finish(w, &len);

	CHECK(out != NULL, "finish failed");
	CHECK(!out || strlen(out) == len, "length mismatch");
	return out;
}

static void test_family_and_escaping(void)
{
	struct rs_prom_text w;
	char *out;

	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	CHECK(rs_prom_family(&w, "x_total", "Back \\ slash\nnew \"line\"", RS_PROM_COUNTER) == 0,
	      "family");
	CHECK(rs_prom_sample_u64(&w, "x_total", NULL,
				 RS_PROM_LABELS({ "pod", "we\"ird\\pod\nname" }, { "b", "" }),
				 18446744073709551615ull) == 0, "sample");
	CHECK(rs_prom_sample_u64(&w, "x_total", NULL,
				 RS_PROM_LABELS({ "pod", "\xff\xfe ok \xc3\xa9" }), 3) == 0,
	      "utf8 sample");
	rs_prom_family(&w, "g", NULL, RS_PROM_GAUGE);
	rs_prom_sample(&w, "g", NULL, NULL, 0, 0.25);
	rs_prom_sample_i64(&w, "g", "_min", NULL, 0, -5);
	out = finish(&w);
	CHECK(out && strcmp(out,
		"# HELP x_total Back \\\\ slash\\nnew \"line\"\n"
		"# TYPE x_total counter\n"
		"x_total{pod=\"we\\\"ird\\\\pod\\nname\",b=\"\"} 18446744073709551615\n"
		"x_total{pod=\"\xEF\xBF\xBD\xEF\xBF\xBD ok \xc3\xa9\"} 3\n"
		"# TYPE g gauge\n"
		"g 0.25\n"
		"g_min -5\n") == 0, "got:\n%s", out);
	free(out);
}

static void test_invalid_names(void)
{
	struct rs_prom_text w;
	char *out;

	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	CHECK(rs_prom_family(&w, "bad-name", "h", RS_PROM_GAUGE) == -EINVAL, "family name");
	CHECK(rs_prom_family(&w, "9x", "h", RS_PROM_GAUGE) == -EINVAL, "leading digit");
	CHECK(rs_prom_family(&w, "ok", "h", (enum rs_prom_type)99) == -EINVAL, "type");
	CHECK(rs_prom_sample(&w, "a:b", NULL, RS_PROM_LABELS({ "__x", "1" }), 1) == -EINVAL,
	      "reserved label");
	CHECK(rs_prom_sample(&w, "a", NULL, RS_PROM_LABELS({ "a:b", "1" }), 1) == -EINVAL,
	      "colon in label name");
	CHECK(rs_prom_sample(&w, "a", NULL, RS_PROM_LABELS({ "x", NULL }), 1) == -EINVAL,
	      "NULL label value");
	CHECK(rs_prom_sample(&w, "a:b", NULL, NULL, 0, 1) == 0, "colon in metric name");
	out = finish(&w);
	CHECK(out && strcmp(out, "a:b 1\n") == 0, "invalid calls must write nothing:\n%s", out);
	free(out);
	CHECK(rs_prom_valid_label_name("le") && !rs_prom_valid_label_name(""), "label names");
	CHECK(!rs_prom_valid_metric_name(NULL), "NULL name");
}

static void test_histogram(void)
{
	static const double le[] = { 0.005, 0.1, 1 };
	static const uint64_t cum[] = { 1, 4, 4 };
	struct rs_prom_hist h = { .n_buckets = 3, .le = le, .cumulative = cum, .count = 6,
				  .sum = 12.5 };
	struct rs_prom_text w;
	char *out;

	rs_prom_init(&w, RS_PROM_FLOAT_G);
	rs_prom_family(&w, "d_seconds", "D.", RS_PROM_HISTOGRAM);
	CHECK(rs_prom_histogram(&w, "d_seconds", NULL, 0, &h) == 0, "no labels");
	CHECK(rs_prom_histogram(&w, "d_seconds", RS_PROM_LABELS({ "k", "a\"b" }, { "j", "2" }),
				&h) == 0, "labels");
	CHECK(rs_prom_histogram(&w, "d_seconds", RS_PROM_LABELS({ "le", "1" }), &h) == -EINVAL,
	      "le label is reserved in a histogram");
	h.le_text = (const char *const[]){ "a", "b", "c" };
	CHECK(rs_prom_histogram(&w, "d_seconds", NULL, 0, &h) == -EINVAL, "le and le_text");
	out = finish(&w);
	CHECK(out && strcmp(out,
		"# HELP d_seconds D.\n"
		"# TYPE d_seconds histogram\n"
		"d_seconds_bucket{le=\"0.005\"} 1\n"
		"d_seconds_bucket{le=\"0.1\"} 4\n"
		"d_seconds_bucket{le=\"1\"} 4\n"
		"d_seconds_bucket{le=\"+Inf\"} 6\n"
		"d_seconds_sum 12.5\n"
		"d_seconds_count 6\n"
		"d_seconds_bucket{k=\"a\\\"b\",j=\"2\",le=\"0.005\"} 1\n"
		"d_seconds_bucket{k=\"a\\\"b\",j=\"2\",le=\"0.1\"} 4\n"
		"d_seconds_bucket{k=\"a\\\"b\",j=\"2\",le=\"1\"} 4\n"
		"d_seconds_bucket{k=\"a\\\"b\",j=\"2\",le=\"+Inf\"} 6\n"
		"d_seconds_sum{k=\"a\\\"b\",j=\"2\"} 12.5\n"
		"d_seconds_count{k=\"a\\\"b\",j=\"2\"} 6\n") == 0, "got:\n%s", out);
	free(out);
}

static void test_float_styles(void)
{
	static const struct {
		double v;
		enum rs_prom_float style;
		const char *want;
	} cases[] = {
		{ 2e-9, RS_PROM_FLOAT_SHORTEST, "2e-09" },
		{ 0.001024, RS_PROM_FLOAT_SHORTEST, "0.001024" },
		{ 0.1 + 0.2, RS_PROM_FLOAT_SHORTEST, "0.30000000000000004" },
		{ 100, RS_PROM_FLOAT_SHORTEST, "100" },
		{ 1700000000, RS_PROM_FLOAT_SHORTEST, "1700000000" },
		{ 1e21, RS_PROM_FLOAT_SHORTEST, "1e+21" },
		{ 1700000000.1234567, RS_PROM_FLOAT_SHORTEST, "1700000000.1234567" },
		{ 1.0 / 3, RS_PROM_FLOAT_G, "0.333333" },
		{ 1.5, RS_PROM_FLOAT_FIXED6, "1.500000" },
		{ NAN, RS_PROM_FLOAT_FIXED6, "NaN" },
		{ INFINITY, RS_PROM_FLOAT_G, "+Inf" },
		{ -INFINITY, RS_PROM_FLOAT_SHORTEST, "-Inf" },
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rs_prom_format_double(cases[i].v, cases[i].style, buf, sizeof(buf));
		CHECK(strcmp(buf, cases[i].want) == 0, "case %zu: got %s want %s", i, buf,
		      cases[i].want);
	}
	for (int e = -12; e < 4; e++) {
		double v = ldexp(1.0, e * 3) / 1e9;

		rs_prom_format_double(v, RS_PROM_FLOAT_SHORTEST, buf, sizeof(buf));
		CHECK(strtod(buf, NULL) == v, "%s must read back exactly", buf);
	}
}

/* Past the limit every call fails with -ENOMEM, and finish reports it. */
static void test_out_of_memory(void)
{
	struct rs_prom_text w;
	size_t len = 7;
	int err = 0, calls = 0;

	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	w.limit = 64;
	rs_prom_family(&w, "a", "help", RS_PROM_GAUGE);
	while (!err && calls++ < 100)
		err = rs_prom_sample(&w, "a", NULL, RS_PROM_LABELS({ "k", "v" }), 1);
	CHECK(err == -ENOMEM, "want -ENOMEM past the limit, got %d", err);
	CHECK(rs_prom_family(&w, "b", "h", RS_PROM_GAUGE) == -ENOMEM, "sticky");
	CHECK(rs_prom_raw(&w, "x 1\n") == -ENOMEM, "sticky raw");
	CHECK(rs_prom_finish(&w, &len) == NULL && len == 7, "finish reports the failure");
	CHECK(w.buf == NULL && w.err == 0, "writer reset after finish");
}

static void test_empty_and_raw(void)
{
	struct rs_prom_text w;
	char *out;

	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	out = finish(&w);
	CHECK(out && out[0] == '\0', "empty page is \"\"");
	free(out);
	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	rs_prom_raw(&w, "# TYPE y gauge\ny 1\n");
	rs_prom_raw(&w, NULL);
	out = finish(&w);
	CHECK(out && strcmp(out, "# TYPE y gauge\ny 1\n") == 0, "raw text");
	free(out);
}

/* A page exercising every line kind, through promtool when installed. */
static void test_promtool(void)
{
	static const double le[] = { 0.5, 1 };
	static const uint64_t cum[] = { 1, 2 };
	struct rs_prom_hist h = { .n_buckets = 2, .le = le, .cumulative = cum, .count = 3,
				  .sum = 1.75 };
	struct rs_prom_text w;
	char *out;
	FILE *p;
	int st;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_prom_text: promtool not installed, skipping its check\n");
		return;
	}
	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	rs_prom_family(&w, "t_events_total", "Events \\ with\nodd help.", RS_PROM_COUNTER);
	rs_prom_sample_u64(&w, "t_events_total", NULL,
			   RS_PROM_LABELS({ "pod", "a\"b\\c\nd\xff" }), 5);
	rs_prom_family(&w, "t_temperature_celsius", "Temperature.", RS_PROM_GAUGE);
	rs_prom_sample(&w, "t_temperature_celsius", NULL, NULL, 0, NAN);
	rs_prom_family(&w, "t_wait_seconds", "Wait.", RS_PROM_HISTOGRAM);
	rs_prom_histogram(&w, "t_wait_seconds", RS_PROM_LABELS({ "q", "x" }), &h);
	rs_prom_family(&w, "t_phase_seconds", "Phases.", RS_PROM_SUMMARY);
	rs_prom_sample(&w, "t_phase_seconds", "_sum", RS_PROM_LABELS({ "phase", "a" }), 0.5);
	rs_prom_sample_u64(&w, "t_phase_seconds", "_count", RS_PROM_LABELS({ "phase", "a" }), 2);
	out = finish(&w);
	p = popen("promtool check metrics >&2", "w");
	CHECK(p != NULL, "popen promtool");
	if (!p || !out) {
		free(out);
		return;
	}
	fputs(out, p);
	st = pclose(p);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool rejected:\n%s", out);
	free(out);
}

int main(void)
{
	test_family_and_escaping();
	test_invalid_names();
	test_histogram();
	test_float_styles();
	test_out_of_memory();
	test_empty_and_raw();
	test_promtool();
	CHECK_EXIT();
}
