/* test_lease_report.c -- the agents' lease reports on the controller side
 * when the agent samples (--lease-probes=duty): the sampled seconds
 * (raysense_raylet_lease_probes_attached_seconds_total) are parsed, the
 * reject rate is per second sampled (source/lease_report.c), an interval
 * that sampled nothing keeps the previous rate instead of reading as 0, an
 * agent without the counter is taken as sampling all the time, and
 * signals_reject_rate (the reject-burst keep rule's input) sums those
 * rates. */
#include "check.h"
#include "controller/source/lease_report.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ID "0123abcd"

/* A snapshot of one raylet: cumulative rejected and spilled-back replies,
 * and its sampled seconds (< 0: the agent does not report them). */
static void doc_of(char *doc, size_t size, double rejected, double spilled, double attached,
		   double interval_s)
{
	char att[256] = "";

	if (attached >= 0)
		snprintf(att, sizeof(att),
			 ",{\"family\":\"raysense_raylet_lease_probes_attached_seconds_total\","
			 "\"kind\":\"counter\",\"labels\":{\"node_id\":\"" ID "\"},\"value\":%g}",
			 attached);
	snprintf(doc, size,
		 "{\"schema_version\":1,\"agent_version\":\"0.1.0\",\"seq\":1,"
		 "\"taken_unix_ms\":1000,\"interval_seconds\":%g,\"push_dropped_total\":0,"
		 "\"node\":{\"node_name\":\"vm\",\"hostname\":\"vm\"},\"histograms\":[],"
		 "\"values\":[{\"family\":\"raysense_raylet_leases_total\",\"kind\":\"counter\","
		 "\"labels\":{\"node_id\":\"" ID "\",\"outcome\":\"rejected\"},\"value\":%g},"
		 "{\"family\":\"raysense_raylet_leases_total\",\"kind\":\"counter\","
		 "\"labels\":{\"node_id\":\"" ID "\",\"outcome\":\"spilled_back\"},\"value\":%g}%s],"
		 "\"workers\":[],\"timelines\":[]}", interval_s, rejected, spilled, att);
}

static int parse(const char *doc, struct lease_report *out, char *err, size_t size)
{
	cJSON *root = cJSON_Parse(doc);
	int rc;

	if (!root)
		return -EINVAL;
	rc = lease_report_parse(root, out, err, size);
	cJSON_Delete(root);
	return rc;
}

static void test_parse(void)
{
	struct lease_report r;
	char doc[2048], err[256] = "";
	static const char *const bad[] = { "-1", "\"3\"", "true", "{}" };

	doc_of(doc, sizeof(doc), 4, 6, 2.5, 5);
	CHECK(parse(doc, &r, err, sizeof(err)) == 0 && r.n == 1, "parse: %s", err);
	CHECK(r.r[0].attached_s == 2.5 && r.r[0].rejected == 4 && r.r[0].spilled == 6,
	      "attached %g rejected %g spilled %g", r.r[0].attached_s, r.r[0].rejected,
	      r.r[0].spilled);
	CHECK(r.r[0].attached_delta == -1 && r.r[0].reject_rate == -1, "nothing followed yet");
	doc_of(doc, sizeof(doc), 4, 6, -1, 5);
	CHECK(parse(doc, &r, err, sizeof(err)) == 0 && r.r[0].attached_s == -1,
	      "no counter: not reported (%g)", r.r[0].attached_s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char v[512];

		snprintf(v, sizeof(v),
			 "{\"values\":[{\"family\":\"raysense_raylet_lease_probes_attached_seconds_total\","
			 "\"labels\":{\"node_id\":\"" ID "\"},\"value\":%s}]}", bad[i]);
		err[0] = 0;
		CHECK(parse(v, &r, err, sizeof(err)) == -EINVAL && strstr(err, "$.values[0].value"),
		      "value %s refused with its path: '%s'", bad[i], err);
	}
}

struct step {
	const char *what;
	double rejected, spilled, attached;	/* attached < 0: not reported */
	double want;				/* reject rate after it; -1 unknown */
};

/* One agent pushing every 5 s. */
static void run_steps(const char *name, const struct step *st, size_t n)
{
	struct lease_report prev = { .n = 0 }, cur;
	char doc[2048], err[256];

	for (size_t i = 0; i < n; i++) {
		doc_of(doc, sizeof(doc), st[i].rejected, st[i].spilled, st[i].attached, 5);
		CHECK(parse(doc, &cur, err, sizeof(err)) == 0, "%s: %s", name, err);
		lease_report_follow(&cur, i ? &prev : NULL, 1000 + 5.0 * (double)i, 5);
		CHECK(fabs(cur.r[0].reject_rate - st[i].want) < 1e-9, "%s, %s: rate %g, want %g", name,
		      st[i].what, cur.r[0].reject_rate, st[i].want);
		prev = cur;
	}
}

static void test_follow(void)
{
	/* 0.4 of every second sampled: 2 of the 5 s. */
	static const struct step sampled[] = {
		{ "first snapshot", 0, 0, 10, -1 },
		{ "8 rejected + 12 spilled in 2 s sampled", 8, 12, 12, 10 },
		{ "quiet", 8, 12, 14, 0 },
		{ "an interval with no window: the last rate, not 0", 8, 12, 14, 0 },
		{ "burst", 28, 12, 16, 10 },
		{ "no window again: still the burst", 28, 12, 16, 10 },
		{ "agent restarted (seconds from 0): kept", 30, 12, 0.4, 10 },
		{ "then followed again", 30, 14, 2.4, 1 },
	};
	/* An agent without the counter looks all the time: per interval second. */
	static const struct step unsampled[] = {
		{ "first snapshot", 3, 0, -1, 0 },
		{ "10 in 5 s", 13, 0, -1, 2 },
		{ "lease maps recreated (counter back): unknown delta, 0 events", 1, 0, -1, 0 },
	};

	run_steps("sampled", sampled, sizeof(sampled) / sizeof(sampled[0]));
	run_steps("unsampled", unsampled, sizeof(unsampled) / sizeof(unsampled[0]));
}

/* The reject-burst rule's input: 10 rejections in 1 s sampled of a 5 s
 * push is 10/s (above the default burst of 5), not 2/s. */
static void test_signals_rate(void)
{
	struct signals *s = signals_new();
	char doc[2048], err[256];

	CHECK(s && signals_configure(s, 16, 30) == 0, "configure");
	CHECK(signals_reject_rate(s, 100, 30) < 0, "no agent: unknown");
	doc_of(doc, sizeof(doc), 0, 0, 20, 5);
	CHECK(signals_ingest(s, doc, strlen(doc), 100, err, sizeof(err)) == 0, "%s", err);
	CHECK(signals_reject_rate(s, 100, 30) == 0, "a fresh agent with no rate yet adds 0: %g",
	      signals_reject_rate(s, 100, 30));
	doc_of(doc, sizeof(doc), 10, 0, 21, 5);
	CHECK(signals_ingest(s, doc, strlen(doc), 105, err, sizeof(err)) == 0, "%s", err);
	CHECK(fabs(signals_reject_rate(s, 105, 30) - 10) < 1e-9, "per second sampled: %g",
	      signals_reject_rate(s, 105, 30));
	doc_of(doc, sizeof(doc), 10, 0, 21, 5);
	CHECK(signals_ingest(s, doc, strlen(doc), 110, err, sizeof(err)) == 0, "%s", err);
	CHECK(fabs(signals_reject_rate(s, 110, 30) - 10) < 1e-9,
	      "an interval with no window keeps the burst: %g", signals_reject_rate(s, 110, 30));
	CHECK(signals_reject_rate(s, 150, 30) < 0, "stale: unknown");
	signals_free(s);
}

/* Two hosts' agents, each with one raylet bursting 10/s.  An agent reports
 * every raylet on its host, other Ray clusters' too: once the loop says
 * which Ray nodes are its cluster's, only those count. */
static void test_rate_of_the_cluster_only(void)
{
	static const char *const mine[] = { ID }, *const all[] = { "ffffffff", ID };
	struct signals *s = signals_new();
	char doc[2048], err[256];

	CHECK(s && signals_configure(s, 16, 30) == 0, "configure");
	for (int round = 0; round < 2; round++)
		for (int host = 0; host < 2; host++) {
			char *at;

			doc_of(doc, sizeof(doc), 10.0 * round, 0, 20 + round, 5);
			if (host) {	/* the other host's raylet is "ffffffff" */
				while ((at = strstr(doc, ID)))
					memcpy(at, "ffff" "ffff", 8);
				at = strstr(doc, "\"node_name\":\"vm\"");
				memcpy(at, "\"node_name\":\"v2\"", 16);
			}
			CHECK(signals_ingest(s, doc, strlen(doc), 100 + 5 * round, err,
					     sizeof(err)) == 0, "%s", err);
		}
	CHECK(fabs(signals_reject_rate(s, 105, 30) - 20) < 1e-9, "no cluster said yet: all, %g",
	      signals_reject_rate(s, 105, 30));
	CHECK(signals_set_cluster_nodes(s, mine, 1) == 0, "set");
	CHECK(fabs(signals_reject_rate(s, 105, 30) - 10) < 1e-9, "only the cluster's: %g",
	      signals_reject_rate(s, 105, 30));
	CHECK(signals_set_cluster_nodes(s, NULL, 0) == 0, "an empty list keeps the set");
	CHECK(fabs(signals_reject_rate(s, 105, 30) - 10) < 1e-9, "kept: %g",
	      signals_reject_rate(s, 105, 30));
	CHECK(signals_set_cluster_nodes(s, all, 2) == 0, "set");
	CHECK(fabs(signals_reject_rate(s, 105, 30) - 20) < 1e-9, "both in it: %g",
	      signals_reject_rate(s, 105, 30));
	signals_free(s);
}

int main(void)
{
	test_parse();
	test_follow();
	test_signals_rate();
	test_rate_of_the_cluster_only();
	CHECK_EXIT();
}
