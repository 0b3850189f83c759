/* test_export_prom.c -- Prometheus exposition of hand-built snapshots: log2
 * bucket bounds, cumulative buckets, +Inf == _count, _sum in seconds, label
 * and HELP escaping, family grouping, derived timeline/worker families;
 * process/pod labels and per-peer series only with debug_labels. */
#include "check.h"
#include "agent/export.h"
#include "common/prom_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct rs_family_info test_families[] = {
	{ "raysense_raylet_lease_latency_seconds", "Lease \\ latency\nsecond line", "histogram" },
	{ "raysense_test_events_total", "Events.", "counter" },
	{ NULL, NULL, NULL },
};

static struct rs_snapshot base_snapshot(void)
{
	struct rs_snapshot s;

	memset(&s, 0, sizeof(s));
	s.taken_unix_ns = 1700000000123456789ull;
	snprintf(s.hostname, sizeof(s.hostname), "host-a");
	snprintf(s.node_name, sizeof(s.node_name), "node-a");
	return s;
}

static void set_label(struct rs_label *l, const char *k, const char *v)
{
	snprintf(l->key, sizeof(l->key), "%s", k);
	snprintf(l->value, sizeof(l->value), "%s", v);
}

static char *render_with(const struct rs_snapshot *s, bool debug_labels)
{
	struct rs_export_ctx ctx = { .families = test_families, .debug_labels = debug_labels };
	char *out = NULL;
	size_t len = 0;
	int err = rs_export_prom(s, &ctx, &out, &len);

	CHECK(err == 0, "rs_export_prom returned %d", err);
	CHECK(out && strlen(out) == len, "length mismatch");
	CHECK(len == 0 || out[len - 1] == '\n', "exposition must end with a newline");
	return out;
}

static char *render(const struct rs_snapshot *s)
{
	return render_with(s, true);
}

/* One timeline and n worker rows in s. */
static void set_activity(struct rs_snapshot *s, struct rs_timeline *t, struct rs_worker_activity *w,
			 size_t n)
{
	s->timelines = t;
	s->n_timelines = 1;
	s->workers = w;
	s->n_workers = n;
}

/* Value of the first sample line starting with `prefix` (name{labels}), or NaN. */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

/* For one value v in ns: the first bucket (ascending le) counting it must be
 * le = 2^(floor(log2 v)+1) ns, and every lower bucket must not count it. */
static void check_bucket_bounds_for(unsigned long long v)
{
	struct rs_snapshot s = base_snapshot();
	struct rs_hist_series h;
	char *text, *p;
	unsigned slot = rs_hist_slot(v);
	double want_le = ldexp(1.0, (int)slot + 1) / 1e9;
	double first_le = -1;

	memset(&h, 0, sizeof(h));
	h.family = "raysense_raylet_lease_latency_seconds";
	h.hist.slots[slot] = 1;
	h.hist.count = 1;
	h.hist.sum_ns = v;
	s.hists = &h;
	s.n_hists = 1;
	text = render(&s);
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *le = strstr(p, "le=\"");
		const char *eol = strchr(p, '\n');

		if (strncmp(p, "raysense_raylet_lease_latency_seconds_bucket{", 45) || !le ||
		    (eol && le > eol))
			continue;
		if (strtod(strchr(le + 4, '"') + 2, NULL) >= 1 && first_le < 0)
			first_le = strncmp(le + 4, "+Inf", 4) == 0 ? INFINITY : strtod(le + 4, NULL);
	}
	if (slot == RS_HIST_SLOTS - 1) {
		/* The last slot also holds larger values: only +Inf may state it. */
		CHECK(isinf(first_le), "v=%llu: overflow slot must appear first in +Inf, got %g",
		      v, first_le);
	} else {
		CHECK(first_le == want_le, "v=%llu ns (slot %u): first bucket le=%.17g, want %.17g",
		      v, slot, first_le, want_le);
		/* Slot i is [2^i, 2^(i+1)) ns: v is strictly below its le and at
		 * least half of it (slot 0 also holds 0 and 1). */
		CHECK((double)v < first_le * 1e9, "v=%llu not below its bucket's le", v);
		CHECK((double)v >= first_le * 1e9 / 2 || v < 2, "v=%llu below its slot", v);
	}
	CHECK(sample(text, "raysense_raylet_lease_latency_seconds_sum{node=\"node-a\"}") ==
		      (double)v / 1e9, "v=%llu: _sum must be in seconds", v);
	free(text);
}

static void test_bucket_bounds(void)
{
	const unsigned long long values[] = {
		0, 1, 2, 3, 4, 7, 8, 1000, 1023, 1024, 1025, 999999, 1000000, 123456789,
		(1ull << 38), (1ull << 39) - 1, (1ull << 39), (1ull << 45),
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		check_bucket_bounds_for(values[i]);
	CHECK(rs_hist_slot_le_seconds(0) == 2e-9, "slot 0 le must be 2ns");
	CHECK(rs_hist_slot_le_seconds(9) == 1.024e-6, "slot 9 le must be 1024ns");
}

static void test_cumulative_inf_count(void)
{
	struct rs_snapshot s = base_snapshot();
	struct rs_hist_series h[2];
	char *text;
	const char *fam = "raysense_raylet_lease_latency_seconds";
	unsigned long long total = 0;
	double prev = -1;
	int n_buckets = 0;

	memset(h, 0, sizeof(h));
	h[0].family = fam;
	set_label(&h[0].labels[0], "raylet_pid", "42");
	h[0].n_labels = 1;
	for (unsigned i = 0; i < RS_HIST_SLOTS; i++) {
		h[0].hist.slots[i] = i % 3;
		total += i % 3;
	}
	h[0].hist.count = total + 5; /* raced with a slot update: ignored */
	h[0].hist.sum_ns = 1500000000ull;
	h[1] = h[0];
	set_label(&h[1].labels[0], "raylet_pid", "43");
	s.hists = h;
	s.n_hists = 2;
	text = render(&s);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "raysense_raylet_lease_latency_seconds_bucket{node=\"node-a\",raylet_pid=\"42\"", 74))
			continue;
		double v = strtod(strchr(p, ' ') + 1, NULL);

		CHECK(v >= prev, "buckets must be cumulative (%g after %g)", v, prev);
		prev = v;
		n_buckets++;
	}
	CHECK(n_buckets == RS_HIST_SLOTS, "want %d bucket lines, got %d", RS_HIST_SLOTS, n_buckets);
	CHECK(sample(text, "raysense_raylet_lease_latency_seconds_bucket{node=\"node-a\",raylet_pid=\"42\",le=\"+Inf\"}") == (double)total,
	      "+Inf bucket must hold every observation");
	CHECK(sample(text, "raysense_raylet_lease_latency_seconds_count{node=\"node-a\",raylet_pid=\"42\"}") == (double)total,
	      "_count must equal +Inf");
	CHECK(sample(text, "raysense_raylet_lease_latency_seconds_sum{node=\"node-a\",raylet_pid=\"43\"}") == 1.5,
	      "_sum in seconds");
	CHECK(strstr(text, "# TYPE raysense_raylet_lease_latency_seconds histogram\n") != NULL,
	      "TYPE line");
	/* One HELP per family even with two series, HELP escaped. */
	CHECK(strstr(text, "# HELP raysense_raylet_lease_latency_seconds Lease \\\\ latency\\nsecond line\n"),
	      "HELP escaping:\n%s", text);
	CHECK(strstr(strstr(text, "# HELP") + 1, "# HELP") == NULL, "one HELP per family");
	CHECK(strstr(text, "le=\"2e-09\"") && strstr(text, "le=\"1.024e-06\""), "le rendering");
	free(text);
}

static void test_escaping_and_grouping(void)
{
	struct rs_snapshot s = base_snapshot();
	struct rs_value_series v[4];
	char *text;
	const char *a, *b, *c;

	memset(v, 0, sizeof(v));
	v[0].family = "raysense_test_events_total";
	v[0].kind = RS_VALUE_COUNTER;
	set_label(&v[0].labels[0], "pod", "we\"ird\\pod\nname");
	v[0].n_labels = 1;
	v[0].value = 7;
	v[1].family = "raysense_test_gauge";
	v[1].kind = RS_VALUE_GAUGE;
	v[1].value = 0.25;
	v[2] = v[0]; /* same family again, later: must be grouped with v[0] */
	set_label(&v[2].labels[0], "pod", "\xff\xfe bad utf8");
	v[2].value = 8;
	v[3].family = "bad-name"; /* invalid metric name: skipped */
	v[3].kind = RS_VALUE_GAUGE;
	s.values = v;
	s.n_values = 4;
	snprintf(s.node_name, sizeof(s.node_name), "node\"x");
	text = render(&s);
	CHECK(strstr(text, "raysense_test_events_total{node=\"node\\\"x\",pod=\"we\\\"ird\\\\pod\\nname\"} 7\n"),
	      "label value escaping:\n%s", text);
	CHECK(strstr(text, "pod=\"\xEF\xBF\xBD\xEF\xBF\xBD bad utf8\"} 8\n"), "invalid UTF-8 replaced");
	a = strstr(text, "we\\\"ird");
	b = strstr(text, "bad utf8");
	c = strstr(text, "raysense_test_gauge ");
	CHECK(a && b && c && a < b && b < c, "family samples must be contiguous");
	CHECK(strstr(text, "# TYPE raysense_test_events_total counter\n"), "counter TYPE");
	CHECK(strstr(text, "# TYPE raysense_test_gauge gauge\n"), "gauge TYPE");
	CHECK(strstr(text, "# HELP raysense_test_gauge "), "HELP even without description");
	CHECK(!strstr(text, "bad-name"), "invalid name must be skipped");
	free(text);
}

static void test_timelines_and_workers(void)
{
	struct rs_snapshot s = base_snapshot();
	struct rs_timeline t;
	struct rs_worker_activity w[2];
	struct rs_value_series extra;
	struct rs_export_ctx ctx = { .families = test_families, .extra = &extra, .n_extra = 1,
				     .debug_labels = true };
	char *text = NULL;
	size_t len;

	memset(&t, 0, sizeof(t));
	snprintf(t.key, sizeof(t.key), "pod-uid-1");
	snprintf(t.pod_uid, sizeof(t.pod_uid), "pod-uid-1");
	t.cgroup_created_ns = 1000000000000ull;
	t.first_exec_ns = 1000500000000ull;
	t.raylet_exec_ns = 1001000000000ull;
	t.raylet_pid = 77;
	memset(w, 0, sizeof(w));
	w[0].raylet_pid = 77;
	w[0].busy_workers = 3;
	w[0].idle_workers = 1;
	w[0].seconds_since_busy = 0.5;
	w[1].raylet_pid = 78;
	w[1].seconds_since_busy = -1;
	memset(&extra, 0, sizeof(extra));
	extra.family = "raysense_agent_push_dropped_total";
	extra.kind = RS_VALUE_COUNTER;
	extra.value = 4;
	set_activity(&s, &t, w, 2);
	CHECK(rs_export_prom(&s, &ctx, &text, &len) == 0, "render");
	CHECK(sample(text, "raysense_startup_phase_seconds{node=\"node-a\",timeline=\"pod-uid-1\",pod_uid=\"pod-uid-1\",raylet_pid=\"77\",phase=\"raylet_exec\"}") == 1.0,
	      "relative phase seconds:\n%s", text);
	CHECK(sample(text, "raysense_startup_phase_timestamp_seconds{node=\"node-a\",timeline=\"pod-uid-1\",pod_uid=\"pod-uid-1\",raylet_pid=\"77\",phase=\"cgroup_created\"}") == 1000.0,
	      "absolute phase timestamp");
	CHECK(!strstr(text, "phase=\"gcs_connected\""), "unseen phases are not exported");
	CHECK(sample(text, "raysense_workers{node=\"node-a\",raylet_pid=\"77\",state=\"busy\"}") == 3,
	      "busy workers");
	CHECK(sample(text, "raysense_workers{node=\"node-a\",raylet_pid=\"78\",state=\"idle\"}") == 0,
	      "idle workers");
	CHECK(sample(text, "raysense_raylet_seconds_since_busy{node=\"node-a\",raylet_pid=\"77\"}") == 0.5,
	      "since busy");
	CHECK(!strstr(text, "raysense_raylet_seconds_since_busy{node=\"node-a\",raylet_pid=\"78\"}"),
	      "never-busy raylet has no since_busy sample");
	CHECK(sample(text, "raysense_agent_push_dropped_total{node=\"node-a\"}") == 4, "extra values");
	CHECK(strstr(text, "# TYPE raysense_agent_push_dropped_total counter\n"), "extra TYPE");
	free(text);
}

/* Default labels: no raylet_pid/pod_uid/gcs_pid, no per-peer series, no
 * series only a pid told apart; two series that differ only in a pid are
 * one series. Timelines are named by their Ray node id, not by their pod
 * UID or pid key. */
static void test_default_labels(void)
{
	struct rs_snapshot s = base_snapshot();
	struct rs_value_series v[5];
	struct rs_timeline t[3];
	struct rs_worker_activity w[2];
	char *text;

	memset(v, 0, sizeof(v));
	memset(&t, 0, sizeof(t));
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 5; i++) {
		v[i].family = "raysense_test_events_total";
		v[i].kind = RS_VALUE_COUNTER;
		v[i].value = i + 1;
		set_label(&v[i].labels[0], "raylet_pid", i == 1 ? "8" : "7");
		set_label(&v[i].labels[1], "node_id", i < 2 ? "abc" : "");
		v[i].n_labels = 2;
	}
	set_label(&v[3].labels[0], "peer", "10.0.0.1");		/* per peer */
	set_label(&v[4].labels[0], "gcs_pid", "9");		/* a pid beside a port */
	set_label(&v[4].labels[1], "gcs_port", "6379");
	/* t[0]: a pod's timeline whose raylet runs; t[1]: the same raylet's
	 * `ray start` timeline (same node id); t[2]: no node id (not started, or
	 * gone). */
	for (int i = 0; i < 3; i++) {
		snprintf(t[i].key, sizeof(t[i].key), i == 0 ? "uid-1" : i == 1 ? "pid:5" : "pid:6");
		t[i].raylet_pid = i == 2 ? 6 : 5;
		t[i].first_exec_ns = 1;
		t[i].raylet_exec_ns = 1000000001ull + (unsigned long long)i * 1000000000ull;
		if (i < 2)
			snprintf(t[i].node_id, sizeof(t[i].node_id), "abc");
	}
	snprintf(t[0].pod_uid, sizeof(t[0].pod_uid), "uid-1");
	w[0] = (struct rs_worker_activity){ .raylet_pid = 7, .busy_workers = 2, .seconds_since_busy = 0 };
	snprintf(w[0].node_id, sizeof(w[0].node_id), "abc");
	w[1] = (struct rs_worker_activity){ .raylet_pid = 8, .seconds_since_busy = 1 };  /* no node id */
	s.values = v;
	s.n_values = 5;
	set_activity(&s, t, w, 2);
	s.n_timelines = 3;
	text = render_with(&s, false);
	CHECK(sample(text, "raysense_test_events_total{node=\"node-a\",node_id=\"abc\"}") == 1,
	      "pid dropped, the first of two same series kept:\n%s", text);
	CHECK(sample(text, "raysense_test_events_total{node=\"node-a\",gcs_port=\"6379\"}") == 5,
	      "gcs_pid dropped");
	CHECK(!strstr(text, "raylet_pid") && !strstr(text, "pod_uid") && !strstr(text, "peer=") &&
	      !strstr(text, "gcs_pid"), "no process, pod or peer label:\n%s", text);
	CHECK(!strstr(text, "} 3\n") && !strstr(text, "} 4\n"), "pid-only and per-peer series left out");
	CHECK(sample(text, "raysense_startup_phase_seconds{node=\"node-a\",ray_node_id=\"abc\",phase=\"raylet_exec\"}") == 1,
	      "timeline by its Ray node id:\n%s", text);
	CHECK(!strstr(text, "timeline=") && !strstr(text, "uid-1") && !strstr(text, "pid:"),
	      "no timeline key (pod UID, pid) by default:\n%s", text);
	{
		size_t rows = 0;

		for (const char *p = text; (p = strstr(p, "\nraysense_startup_phase_seconds{")); p++)
			rows++;
		CHECK(rows == 2, "one timeline per node id, none without (first_exec, raylet_exec): "
		      "%zu rows\n%s", rows, text);
	}
	CHECK(sample(text, "raysense_workers{node=\"node-a\",ray_node_id=\"abc\",state=\"busy\"}") == 2 &&
	      !strstr(text, "raysense_raylet_seconds_since_busy{node=\"node-a\"} "),
	      "workers by node id; a raylet without one left out");
	free(text);
}

/* The bucket bounds as the exporter prints them read back exactly (the
 * number formats themselves are test_prom_text's). */
static void test_format_double(void)
{
	char buf[40];

	for (unsigned i = 0; i < RS_HIST_SLOTS; i++) {
		rs_prom_format_double(rs_hist_slot_le_seconds(i), RS_PROM_FLOAT_SHORTEST, buf,
				      sizeof(buf));
		CHECK(strtod(buf, NULL) == rs_hist_slot_le_seconds(i), "slot %u round trip", i);
	}
}

static void test_empty(void)
{
	struct rs_snapshot s = base_snapshot();
	char *text = render(&s);

	CHECK(text && text[0] == '\0', "empty snapshot renders nothing");
	free(text);
}

int main(void)
{
	test_bucket_bounds();
	test_cumulative_inf_count();
	test_escaping_and_grouping();
	test_timelines_and_workers();
	test_default_labels();
	test_format_double();
	test_empty();
	CHECK_EXIT();
}
