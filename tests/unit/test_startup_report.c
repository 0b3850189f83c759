/* test_startup_report.c -- the agents' startup timelines on the controller
 * side (source/startup_report.h, signals_node_startup): one sample per Ray
 * node, start (cgroup_created, else first_exec) -> gcs_connected, matched to
 * the node through $.workers[] by raylet pid; hostile values (negative,
 * NaN-like, huge, wrong types, duplicates) are an error or no sample, as the
 * table says; a rejected snapshot keeps the agent's previous one. */
#include "check.h"
#include "controller/source/signals.h"
#include "controller/source/startup_report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W1 "{\"raylet_pid\":100,\"ray_node_id\":\"n1\",\"busy_workers\":0}"
#define W2 "{\"raylet_pid\":200,\"ray_node_id\":\"n2\",\"busy_workers\":0}"
#define W_NOID "{\"raylet_pid\":300,\"ray_node_id\":\"\",\"busy_workers\":0}"
/* A timeline of raylet `pid` with these phases_unix_seconds members. */
#define TL(pid, phases) "{\"timeline\":\"pid:" #pid "\",\"pod_uid\":\"\",\"raylet_pid\":" #pid \
	",\"phases_unix_seconds\":{" phases "}}"
#define OK_PHASES "\"cgroup_created\":null,\"first_exec\":1000.5,\"raylet_exec\":1001," \
	"\"raylet_listen\":1002,\"gcs_connected\":1003"

struct rcase {
	const char *label;
	const char *workers;		/* $.workers[] items */
	const char *timelines;		/* $.timelines value; NULL = no key */
	int rc;
	const char *err;		/* in the message, when rc */
	size_t n;			/* samples */
	const char *id0;		/* first sample's node */
	double s0;			/* and its seconds */
};

static const struct rcase rcases[] = {
	{ "no timelines (an older agent)", W1, NULL, 0, NULL, 0, NULL, 0 },
	{ "timelines null", W1, "null", 0, NULL, 0, NULL, 0 },
	{ "empty", W1, "[]", 0, NULL, 0, NULL, 0 },
	{ "ray start: first_exec -> gcs_connected", W1, "[" TL(100, OK_PHASES) "]", 0, NULL, 1,
	  "n1", 2.5 },
	{ "pod: cgroup_created first", W1, "[" TL(100, "\"cgroup_created\":990,\"first_exec\":995,"
	  "\"gcs_connected\":1002") "]", 0, NULL, 1, "n1", 12 },
	{ "two raylets", W1 "," W2, "[" TL(100, OK_PHASES) "," TL(200, "\"first_exec\":50,"
	  "\"gcs_connected\":57") "]", 0, NULL, 2, "n1", 2.5 },
	{ "duplicate timelines of a node: the first", W1, "[" TL(100, OK_PHASES) ","
	  TL(100, "\"first_exec\":1,\"gcs_connected\":9") "]", 0, NULL, 1, "n1", 2.5 },
	{ "not connected yet", W1, "[" TL(100, "\"first_exec\":1000,\"gcs_connected\":null") "]",
	  0, NULL, 0, NULL, 0 },
	{ "no start", W1, "[" TL(100, "\"gcs_connected\":1000") "]", 0, NULL, 0, NULL, 0 },
	{ "end before start", W1, "[" TL(100, "\"first_exec\":1000,\"gcs_connected\":999") "]", 0,
	  NULL, 0, NULL, 0 },
	{ "longer than a day", W1, "[" TL(100, "\"first_exec\":1,\"gcs_connected\":86402") "]", 0,
	  NULL, 0, NULL, 0 },
	{ "raylet not in workers", W2, "[" TL(100, OK_PHASES) "]", 0, NULL, 0, NULL, 0 },
	{ "raylet without a Ray node id", W_NOID, "[" TL(300, OK_PHASES) "]", 0, NULL, 0, NULL, 0 },
	{ "no raylet_pid", W1, "[{\"phases_unix_seconds\":{" OK_PHASES "}}]", 0, NULL, 0, NULL, 0 },
	{ "raylet_pid 0", W1, "[" TL(0, OK_PHASES) "]", 0, NULL, 0, NULL, 0 },
	{ "no phases", W1, "[{\"raylet_pid\":100}]", 0, NULL, 0, NULL, 0 },
	{ "negative phase", W1, "[" TL(100, "\"first_exec\":-5,\"gcs_connected\":1") "]", -EINVAL,
	  "$.timelines[0].phases_unix_seconds.first_exec: -5 is not a UNIX time", 0, NULL, 0 },
	{ "huge phase", W1, "[" TL(100, "\"first_exec\":1,\"gcs_connected\":1e300") "]", -EINVAL,
	  "gcs_connected: 1.0000000000000001e+300 is not a UNIX time", 0, NULL, 0 },
	{ "NaN-like (1e999 is infinite)", W1, "[" TL(100, "\"first_exec\":1,\"gcs_connected\":1e999")
	  "]", -EINVAL, "gcs_connected: number out of range", 0, NULL, 0 },
	{ "phase a string", W1, "[" TL(100, "\"first_exec\":\"NaN\",\"gcs_connected\":1") "]",
	  -EINVAL, "first_exec: expected a number", 0, NULL, 0 },
	{ "negative raylet_pid", W1, "[" TL(-1, OK_PHASES) "]", -EINVAL,
	  "$.timelines[0].raylet_pid", 0, NULL, 0 },
	{ "fractional raylet_pid", W1, "[{\"raylet_pid\":100.5,\"phases_unix_seconds\":{"
	  OK_PHASES "}}]", -EINVAL, "raylet_pid", 0, NULL, 0 },
	{ "raylet_pid past 2^32", W1, "[" TL(4294967296, OK_PHASES) "]", -EINVAL, "raylet_pid", 0,
	  NULL, 0 },
	{ "phases not an object", W1, "[{\"raylet_pid\":100,\"phases_unix_seconds\":[1,2]}]",
	  -EINVAL, "$.timelines[0].phases_unix_seconds: expected an object", 0, NULL, 0 },
	{ "entry not an object", W1, "[" TL(100, OK_PHASES) ",7]", -EINVAL,
	  "$.timelines[1]: expected an object", 0, NULL, 0 },
	{ "timelines an object", W1, "{}", -EINVAL, "$.timelines: expected an array", 0, NULL, 0 },
};

static char *doc(const char *workers, const char *timelines, const char *node, double seq)
{
	size_t size = 4096 + (timelines ? strlen(timelines) : 0);
	char *d = malloc(size);

	if (d)
		snprintf(d, size, "{\"schema_version\":1,\"seq\":%.0f,\"taken_unix_ms\":1,"
			 "\"node\":{\"node_name\":\"%s\"},\"workers\":[%s]%s%s}", seq, node,
			 workers, timelines ? ",\"timelines\":" : "", timelines ? timelines : "");
	return d;
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		const struct rcase *tc = &rcases[i];
		struct startup_report r;
		char *d = doc(tc->workers, tc->timelines, "vm", 1), err[256] = "";
		cJSON *root = d ? cJSON_Parse(d) : NULL;
		int rc = root ? startup_report_parse(root, &r, err, sizeof(err)) : -EIO;

		CHECK(rc == tc->rc, "%s: rc %d, want %d (%s)", tc->label, rc, tc->rc, err);
		if (tc->rc)
			CHECK(strstr(err, tc->err), "%s: error '%s', want '%s'", tc->label, err,
			      tc->err);
		else
			CHECK(r.n == tc->n && (!tc->n || (!strcmp(r.v[0].ray_node_id, tc->id0) &&
							  r.v[0].seconds == tc->s0)),
			      "%s: %zu samples, first %s %g", tc->label, r.n,
			      r.n ? r.v[0].ray_node_id : "-", r.n ? r.v[0].seconds : -1);
		cJSON_Delete(root);
		free(d);
	}
}

/* Many timelines: bounded work and a bounded report. */
static void test_bounds(void)
{
	size_t n = STARTUP_REPORT_TIMELINES + 1, len = 0, size = n * 160 + 16;
	char *tl = malloc(size), *workers = malloc(64 * 80), *d, err[256] = "";
	size_t wl = 0;
	struct startup_report r;
	cJSON *root;

	CHECK(tl && workers, "malloc");
	if (!tl || !workers)
		goto out;
	for (int w = 0; w < 64; w++)
		wl += (size_t)snprintf(workers + wl, 64 * 80 - wl, "%s{\"raylet_pid\":%d,"
				       "\"ray_node_id\":\"n%d\",\"busy_workers\":0}", w ? "," : "",
				       w + 1, w);
	len += (size_t)snprintf(tl + len, size - len, "[");
	for (size_t i = 0; i < 64; i++)
		len += (size_t)snprintf(tl + len, size - len, "%s{\"raylet_pid\":%zu,"
					"\"phases_unix_seconds\":{\"first_exec\":1,"
					"\"gcs_connected\":%zu}}", i ? "," : "", i + 1, i + 2);
	snprintf(tl + len, size - len, "]");
	d = doc(workers, tl, "vm", 1);
	root = d ? cJSON_Parse(d) : NULL;
	CHECK(root && startup_report_parse(root, &r, err, sizeof(err)) == 0 &&
	      r.n == STARTUP_REPORT_MAX && r.v[0].seconds == 1 && !strcmp(r.v[0].ray_node_id, "n0"),
	      "64 raylets: the first %d kept (%zu; %s)", STARTUP_REPORT_MAX, r.n, err);
	cJSON_Delete(root);
	free(d);
	/* More entries than the bound: an error naming it. */
	len = (size_t)snprintf(tl, size, "[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(tl + len, size - len, "%s{}", i ? "," : "");
	snprintf(tl + len, size - len, "]");
	d = doc("", tl, "vm", 1);
	root = d ? cJSON_Parse(d) : NULL;
	CHECK(root && startup_report_parse(root, &r, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "$.timelines: more than 4096"), "too many timelines: %s", err);
	cJSON_Delete(root);
	free(d);
out:
	free(tl);
	free(workers);
}

/* A push as the agent sends it (push.c): a `ray start` node's timeline
 * and a pod's next to it (seeds the signals fuzz target too). */
static void test_agent_push(void)
{
	static const char push[] =
		"{\"schema_version\":1,\"agent_version\":\"0.1.0\",\"seq\":3,"
		"\"taken_unix_ms\":1764900000000,\"interval_seconds\":1,\"push_dropped_total\":0,"
		"\"node\":{\"node_name\":\"ecs-1\",\"hostname\":\"ecs-1\"},\"histograms\":[],"
		"\"values\":[],\"workers\":[{\"raylet_pid\":4242,\"ray_node_id\":\"f00d\","
		"\"busy_workers\":0,\"idle_workers\":1,\"seconds_since_busy\":null}],"
		"\"timelines\":[{\"timeline\":\"pid:4200\",\"pod_uid\":\"\",\"raylet_pid\":4242,"
		"\"phases_unix_seconds\":{\"cgroup_created\":null,\"first_exec\":1764899990.25,"
		"\"raylet_exec\":1764899991,\"raylet_listen\":1764899992.5,"
		"\"gcs_connected\":1764899993.75},\"phases_seconds\":{\"cgroup_created\":null,"
		"\"first_exec\":0,\"raylet_exec\":0.75,\"raylet_listen\":2.25,"
		"\"gcs_connected\":3.5}},{\"timeline\":\"1d2c3b4a-0000-4000-8000-000000000001\","
		"\"pod_uid\":\"1d2c3b4a-0000-4000-8000-000000000001\",\"raylet_pid\":0,"
		"\"phases_unix_seconds\":{\"cgroup_created\":1764899000,\"first_exec\":null,"
		"\"raylet_exec\":null,\"raylet_listen\":null,\"gcs_connected\":null},"
		"\"phases_seconds\":{\"cgroup_created\":0,\"first_exec\":null,\"raylet_exec\":null,"
		"\"raylet_listen\":null,\"gcs_connected\":null}}]}";
	struct signals *s = signals_new();
	char err[256] = "";
	double sec = -1;

	CHECK(s && signals_ingest(s, push, strlen(push), 50, err, sizeof(err)) == 0, "%s", err);
	CHECK(s && signals_node_startup(s, "f00d", 51, 30, &sec) && sec == 3.5,
	      "the ray start node took 3.5 s: %g", sec);
	signals_free(s);
}

/* Through the signals table: fresh snapshots only; a bad timeline refuses
 * the snapshot and the agent's previous one stays. */
static void test_signals(void)
{
	struct signals *s = signals_new();
	char *good = doc(W1, "[" TL(100, OK_PHASES) "]", "vm", 1);
	char *bad = doc(W1, "[" TL(100, "\"first_exec\":-1") "]", "vm", 2);
	char *other = doc(W2, "[" TL(200, "\"first_exec\":5,\"gcs_connected\":9") "]", "vm2", 1);
	char err[256] = "";
	double sec = -1;

	CHECK(s && good && bad && other, "alloc");
	if (!s || !good || !bad || !other)
		goto out;
	CHECK(!signals_node_startup(s, "n1", 100, 30, &sec), "nothing before a push");
	CHECK(signals_ingest(s, good, strlen(good), 100, err, sizeof(err)) == 0, "%s", err);
	CHECK(signals_node_startup(s, "n1", 110, 30, &sec) && sec == 2.5, "n1 2.5 s: %g", sec);
	CHECK(!signals_node_startup(s, "n2", 110, 30, &sec), "n2 unknown");
	CHECK(signals_ingest(s, bad, strlen(bad), 105, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "first_exec"), "bad timeline refused: %s", err);
	CHECK(signals_node_startup(s, "n1", 110, 30, &sec) && sec == 2.5, "previous kept");
	CHECK(signals_ingest(s, other, strlen(other), 120, err, sizeof(err)) == 0, "%s", err);
	CHECK(signals_node_startup(s, "n2", 125, 30, &sec) && sec == 4, "n2 from vm2: %g", sec);
	CHECK(!signals_node_startup(s, "n1", 140, 30, &sec), "n1's agent is stale at 40 s");
out:
	free(good);
	free(bad);
	free(other);
	signals_free(s);
}

int main(void)
{
	test_table();
	test_bounds();
	test_agent_push();
	test_signals();
	CHECK_EXIT();
}
