/* test_snapshot.c -- the snapshot appenders (snapshot.c) and collect() over a
 * pin dir that holds nothing (bad input: no agent ever ran there). */
#include "check.h"

#include "agent/probe.h"

#include <errno.h>
#include <string.h>

static void test_appenders(void)
{
	struct rs_snapshot snap = { 0 };
	struct rs_hist h = { .count = 3, .sum_ns = 42 };
	char long_value[300];
	const char *labels[] = { "raylet_pid", "7", "node_id", "abc", NULL };
	const char *odd[] = { "a", "1", "dangling", NULL };
	const char *many[] = { "k1", "v", "k2", "v", "k3", "v", "k4", "v", "k5", "v", "k6", "v",
			       "k7", "v", NULL };

	h.slots[20] = 3;
	CHECK(rs_snapshot_add_hist(&snap, "fam_h", labels, &h) == 0, "add hist");
	CHECK(snap.n_hists == 1 && snap.hists[0].n_labels == 2, "labels %d", snap.hists[0].n_labels);
	CHECK(!strcmp(snap.hists[0].labels[1].value, "abc") && snap.hists[0].hist.slots[20] == 3,
	      "hist copied");

	/* A key without a value is dropped, not read past the end. */
	CHECK(rs_snapshot_add_value(&snap, "fam_v", RS_VALUE_GAUGE, odd, 1.5) == 0, "add value");
	CHECK(snap.values[0].n_labels == 1, "odd labels -> %d", snap.values[0].n_labels);
	/* More than RS_MAX_LABELS pairs: the first RS_MAX_LABELS are kept. */
	CHECK(rs_snapshot_add_value(&snap, "fam_v", RS_VALUE_COUNTER, many, 2) == 0, "add many");
	CHECK(snap.values[1].n_labels == RS_MAX_LABELS, "many -> %d", snap.values[1].n_labels);
	/* Over-long values are truncated and stay NUL-terminated. */
	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	{
		const char *l[] = { "k", long_value, NULL };

		CHECK(rs_snapshot_add_value(&snap, "fam_v", RS_VALUE_GAUGE, l, 3) == 0, "add long");
		CHECK(strlen(snap.values[2].labels[0].value) == RS_LABEL_VALUE_LEN - 1, "truncated");
	}
	CHECK(rs_snapshot_add_value(&snap, "fam_v", RS_VALUE_GAUGE, NULL, 4) == 0 &&
	      snap.values[3].n_labels == 0, "no labels");
	rs_snapshot_free(&snap);
	CHECK(snap.n_hists == 0 && snap.hists == NULL && snap.n_values == 0, "freed");
}

static void test_collect_empty(void)
{
	struct rs_snapshot snap;

	CHECK(rs_snapshot_collect("/nonexistent/raysense-pins", &snap) == -ENOENT,
	      "collect on an empty pin dir must say -ENOENT");
	CHECK(snap.n_hists == 0 && snap.n_values == 0, "nothing collected");
	rs_snapshot_free(&snap);
}

static void test_families_documented(void)
{
	/* Every family raylet_collect.c emits. */
	static const char *const mine[] = {
		"raysense_raylet_up", "raysense_raylet_lease_probes_attached",
		"raysense_raylet_lease_probes_attach_fraction",
		"raysense_raylet_lease_probes_attached_seconds_total",
		"raysense_raylet_lease_latency_seconds", "raysense_raylet_lease_phase_seconds",
		"raysense_raylet_lease_requests_total", "raysense_raylet_leases_total",
		"raysense_raylet_lease_replies_total", "raysense_raylet_lease_probe_events_total",
		"raysense_raylet_runq_latency_seconds", NULL,
	};

	for (const char *const *m = mine; *m; m++) {
		int found = 0;

		for (const struct rs_family_info *f = rs_metric_families; f->family; f++)
			if (!strcmp(f->family, *m) && f->help && *f->help && f->type)
				found = 1;
		CHECK(found, "family %s has no HELP/TYPE in rs_metric_families", *m);
	}
}

int main(void)
{
	test_appenders();
	test_collect_empty();
	test_families_documented();
	CHECK_EXIT();
}
