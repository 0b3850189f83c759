/* test_push_compact.c -- the compact push document (agent/push_compact.h,
 * schema_version 2) gives the controller the same signals as the full
 * snapshot (schema_version 1) it was cut from: busy hints, lease reports
 * (with deltas over two pushes), startup times, reject rate and the status
 * view, from a synthetic snapshot of two raylets and from a real agent's
 * capture (tests/fixtures/agent/snapshot_full.json); a real agent's
 * compact push is read (snapshot_compact.json); the sender checks
 * (signals_ingest_from) refuse the same documents; a version the controller
 * does not read is refused with an error naming the versions it reads; a
 * push with queued leases calls the queueing hook (the early tick), one
 * without does not. */
#include "check.h"
#include "agent/family_names.h"
#include "agent/push.h"
#include "agent/push_compact.h"
#include "common/cli.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define T0 1700000000.0

static void label(struct rs_label *l, int *n, const char *k, const char *v)
{
	snprintf(l[*n].key, RS_LABEL_KEY_LEN, "%s", k);
	snprintf(l[*n].value, RS_LABEL_VALUE_LEN, "%s", v);
	++*n;
}

static struct rs_hist_series hists[4];
static struct rs_value_series values[6];
static struct rs_worker_activity workers[2];
static struct rs_timeline timelines[2];

static void hist(int i, const char *family, const char *id, const char *pid)
{
	memset(&hists[i], 0, sizeof(hists[i]));
	hists[i].family = family;
	if (id)
		label(hists[i].labels, &hists[i].n_labels, "node_id", id);
	label(hists[i].labels, &hists[i].n_labels, "raylet_pid", pid);
}

static void value(int i, const char *family, const char *id, const char *outcome, double v)
{
	memset(&values[i], 0, sizeof(values[i]));
	values[i].family = family;
	label(values[i].labels, &values[i].n_labels, "node_id", id);
	if (outcome)
		label(values[i].labels, &values[i].n_labels, "outcome", outcome);
	label(values[i].labels, &values[i].n_labels, "raylet_pid", "11");
	values[i].value = v;
}

/* Round r (1, 2, ...) of a node with raylets A (pid 11, busy, leases
 * queueing, rejects) and B (pid 22, idle, never busy). */
static void fill(struct rs_snapshot *s, int r)
{
	memset(s, 0, sizeof(*s));
	s->taken_unix_ns = (unsigned long long)(T0 + r) * 1000000000ull;
	snprintf(s->node_name, sizeof(s->node_name), "node-a");
	snprintf(s->hostname, sizeof(s->hostname), "host-a");
	hist(0, RS_FAMILY_LEASE_LATENCY, ID_A, "11");
	hists[0].hist.slots[3] = 10ull * r;
	hists[0].hist.slots[28] = (unsigned long long)r;	/* >= 2^27 ns: queued */
	hist(1, RS_FAMILY_LEASE_LATENCY, ID_B, "22");
	hists[1].hist.slots[5] = 4;
	hist(2, RS_FAMILY_RUNQ_LATENCY, NULL, "11");
	hists[2].hist.slots[10] = 100ull * r;
	hist(3, RS_FAMILY_LEASE_PHASE, ID_A, "11");
	hists[3].hist.slots[12] = 7ull * r;
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < RS_HIST_SLOTS; k++) {
			hists[i].hist.count += hists[i].hist.slots[k];
			hists[i].hist.sum_ns += hists[i].hist.slots[k] << k;
		}
	value(0, RS_FAMILY_LEASES, ID_A, "rejected", 5.0 * r);
	value(1, RS_FAMILY_LEASES, ID_A, "spilled_back", 2.0 * r);
	value(2, RS_FAMILY_LEASES, ID_A, "granted", 100.0 * r);
	value(3, RS_FAMILY_LEASES, ID_B, "rejected", 1);
	value(4, RS_FAMILY_LEASE_REQUESTS, ID_A, NULL, 300.0 * r);
	value(5, RS_FAMILY_WORKERS, ID_A, "busy", 3);
	values[5].kind = RS_VALUE_GAUGE;
	workers[0] = (struct rs_worker_activity){ .raylet_pid = 11, .busy_workers = 3,
						  .idle_workers = 1, .seconds_since_busy = 2.5 };
	snprintf(workers[0].node_id, sizeof(workers[0].node_id), ID_A);
	workers[1] = (struct rs_worker_activity){ .raylet_pid = 22, .busy_workers = 0,
						  .idle_workers = 4, .seconds_since_busy = -1 };
	snprintf(workers[1].node_id, sizeof(workers[1].node_id), ID_B);
	memset(timelines, 0, sizeof(timelines));
	snprintf(timelines[0].key, sizeof(timelines[0].key), "pod-uid-a");
	snprintf(timelines[0].pod_uid, sizeof(timelines[0].pod_uid), "pod-uid-a");
	timelines[0].raylet_pid = 11;
	timelines[0].cgroup_created_ns = 1000000000000ull;	/* 1000 s */
	timelines[0].first_exec_ns = 1001000000000ull;
	timelines[0].raylet_exec_ns = 1002000000000ull;
	timelines[0].gcs_connected_ns = 1010000000000ull;	/* 10 s after the cgroup */
	snprintf(timelines[1].key, sizeof(timelines[1].key), "pid:900");
	timelines[1].raylet_pid = 22;
	timelines[1].first_exec_ns = 2000000000000ull;
	timelines[1].gcs_connected_ns = 2003500000000ull;	/* 3.5 s after exec */
	s->hists = hists;
	s->n_hists = 4;
	s->values = values;
	s->n_values = 6;
	s->workers = workers;
	s->n_workers = 2;
	s->timelines = timelines;
	s->n_timelines = 2;
}

static char *print(const cJSON *doc)
{
	char *json = doc ? cJSON_PrintUnformatted(doc) : NULL;

	CHECK(json, "printed");
	return json;
}

static char *status_json(struct signals *s, double now)
{
	cJSON *arr = signals_to_json(s, now);
	char *json = print(arr);

	cJSON_Delete(arr);
	return json;
}

/* Every signal the controller reads about Ray node `id`, in both tables. */
static void same_signals(struct signals *full, struct signals *compact, const char *id,
			 double now, const char *what)
{
	struct node_leases lf, lc;
	int bf, bc;
	double af, ac, sf = -7, sc = -7;
	bool ff, fc;

	ff = signals_busy_hint(full, id, now, 30, &bf, &af);
	fc = signals_busy_hint(compact, id, now, 30, &bc, &ac);
	CHECK(ff == fc && bf == bc && af == ac, "%s %.8s: busy hint %d/%d/%g vs %d/%d/%g", what,
	      id, ff, bf, af, fc, bc, ac);
	ff = signals_node_leases(full, id, now, 30, &lf);
	fc = signals_node_leases(compact, id, now, 30, &lc);
	CHECK(ff == fc && lf.last_lease_at == lc.last_lease_at && lf.queued == lc.queued,
	      "%s %.8s: leases %d/%g/%d vs %d/%g/%d", what, id, ff, lf.last_lease_at, lf.queued,
	      fc, lc.last_lease_at, lc.queued);
	ff = signals_node_startup(full, id, now, 30, &sf);
	fc = signals_node_startup(compact, id, now, 30, &sc);
	CHECK(ff == fc && sf == sc, "%s %.8s: startup %d/%g vs %d/%g", what, id, ff, sf, fc, sc);
}

static void same_tables(struct signals *full, struct signals *compact, double now,
			const char *what)
{
	char *a = status_json(full, now), *b = status_json(compact, now);

	CHECK(a && b && !strcmp(a, b), "%s: status differs:\n%s\n%s", what, a, b);
	free(a);
	free(b);
	CHECK(signals_reject_rate(full, now, 30) == signals_reject_rate(compact, now, 30),
	      "%s: reject rate %g vs %g", what, signals_reject_rate(full, now, 30),
	      signals_reject_rate(compact, now, 30));
}

static int ingest(struct signals *s, const char *json, double now)
{
	char err[512] = "";
	int rc = signals_ingest(s, json, strlen(json), now, err, sizeof(err));

	CHECK(!rc, "ingest: %s", err);
	return rc;
}

static void test_synthetic(void)
{
	struct signals *full = signals_new(), *compact = signals_new();
	struct rs_push_prev pf = { 0 }, pc = { 0 };
	struct rs_snapshot snap;
	int busy;
	double age, secs, now = 0;

	for (int r = 1; r <= 2; r++) {
		cJSON *df, *dc;
		char *jf, *jc;

		fill(&snap, r);
		df = rs_push_build_snapshot(&snap, &pf, (uint64_t)r, 1.0, 0);
		dc = rs_push_build_snapshot(&snap, &pc, (uint64_t)r, 1.0, 0);
		CHECK(rs_push_compact(dc) == 0, "compact round %d", r);
		CHECK(rs_push_compact(dc) == -EINVAL, "a compact document is not cut again");
		jf = print(df);
		jc = print(dc);
		CHECK(strlen(jc) * 5 < strlen(jf) * 3, "round %d: compact %zu bytes, full %zu", r,
		      strlen(jc), strlen(jf));
		CHECK(!strstr(jc, "\"total\"") && !strstr(jc, "runq") && !strstr(jc, "phase_seconds") &&
		      !strstr(jc, "\"kind\"") && !strstr(jc, "raylet_pid\":\"") &&
		      !strstr(jc, "raylet_exec") && !strstr(jc, "pod_uid") &&
		      strstr(jc, "\"schema_version\":2"), "round %d: only what is read: %s", r, jc);
		now = T0 + r;
		ingest(full, jf, now);
		ingest(compact, jc, now);
		same_signals(full, compact, ID_A, now, "synthetic");
		same_signals(full, compact, ID_B, now, "synthetic");
		same_signals(full, compact, "cccc", now, "synthetic");
		same_tables(full, compact, now, "synthetic");
		free(jf);
		free(jc);
		cJSON_Delete(df);
		cJSON_Delete(dc);
	}
	/* And the signals are the ones the snapshot holds (not just equal). */
	CHECK(signals_busy_hint(compact, ID_A, now, 30, &busy, &age) && busy == 3 && age == 2.5,
	      "A busy 3, 2.5 s ago: %d %g", busy, age);
	CHECK(signals_busy_hint(compact, ID_B, now, 30, &busy, &age) && busy == 0 && age < 0,
	      "B idle, never busy");
	CHECK(signals_node_startup(compact, ID_A, now, 30, &secs) && secs == 10, "A started in %g",
	      secs);
	CHECK(signals_node_startup(compact, ID_B, now, 30, &secs) && secs == 3.5,
	      "B started in %g", secs);
	{
		struct node_leases l;

		CHECK(signals_node_leases(compact, ID_A, now, 30, &l) && l.queued &&
		      l.last_lease_at == now, "A: leases served and queued in round 2");
	}
	/* A: 5 more rejected + 2 more spilled back in 1 s; B: none. */
	CHECK(signals_reject_rate(compact, now, 30) == 7, "reject rate %g",
	      signals_reject_rate(compact, now, 30));
	rs_push_prev_free(&pf);
	rs_push_prev_free(&pc);
	signals_free(full);
	signals_free(compact);
}

static bool where_b_elsewhere(void *ctx, const char *id, char *out, size_t size)
{
	(void)ctx;
	snprintf(out, size, "%s", strcmp(id, ID_B) ? "node-a" : "node-c");
	return true;
}

static bool where_all_here(void *ctx, const char *id, char *out, size_t size)
{
	(void)ctx;
	(void)id;
	snprintf(out, size, "node-a");
	return true;
}

/* The sender checks see the same node name and raylets in both formats. */
static void test_sender(void)
{
	bool (*where[])(void *, const char *, char *, size_t) = { where_b_elsewhere,
								   where_all_here };
	const char *node[] = { "node-b", "node-a" };
	struct rs_push_prev prev = { 0 };
	struct rs_snapshot snap;
	cJSON *doc;
	char *jf, *jc, err[512];

	fill(&snap, 1);
	doc = rs_push_build_snapshot(&snap, &prev, 1, 1.0, 0);
	jf = print(doc);
	CHECK(rs_push_compact(doc) == 0, "compact");
	jc = print(doc);
	for (int n = 0; n < 2; n++)
		for (int w = 0; w < 2; w++) {
			struct signals *s = signals_new();
			struct signals_sender ff = { .node = node[n], .where = where[w] };
			struct signals_sender fc = ff;
			int rf = signals_ingest_from(s, jf, strlen(jf), T0, &ff, err, sizeof(err));
			int rcc = signals_ingest_from(s, jc, strlen(jc), T0, &fc, err, sizeof(err));

			CHECK(rf == rcc && (ff.refused == fc.refused ||
					    (ff.refused && fc.refused && !strcmp(ff.refused, fc.refused))),
			      "sender %s/%d: full %d (%s), compact %d (%s)", node[n], w, rf,
			      ff.refused ? ff.refused : "-", rcc, fc.refused ? fc.refused : "-");
			CHECK((n == 1 && w == 1) == (rcc == 0), "sender %s/%d: accepted only when all "
			      "is on its node (%d)", node[n], w, rcc);
			signals_free(s);
		}
	free(jf);
	free(jc);
	cJSON_Delete(doc);
	rs_push_prev_free(&prev);
}

/* The Ray node id of a $.workers[] entry; NULL while the agent does not
 * know it yet. */
static const char *worker_id(const cJSON *w)
{
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(w, "ray_node_id"));

	return id && id[0] ? id : NULL;
}

/* tests/fixtures/agent/NAME (malloc'd), or NULL after a failed check. */
static char *fixture(const char *name)
{
	const char *src = getenv("RAYSENSE_SOURCE_DIR");
	char path[4096], *text = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/tests/fixtures/agent/%s", src ? src : ".", name);
	rc = rs_read_file_trimmed(path, 1 << 20, &text);
	CHECK(!rc, "read %s: %d", path, rc);
	return rc ? NULL : text;
}

/* A real agent's full snapshot (captured by bench/agent_load/run.py) and its
 * compact cut give the same signals. */
static void test_real_capture(void)
{
	char *text = fixture("snapshot_full.json"), *jc;
	struct signals *full, *compact;
	cJSON *doc, *w;
	int n = 0;

	if (!text)
		return;
	full = signals_new();
	compact = signals_new();
	doc = cJSON_Parse(text);
	CHECK(doc && rs_push_compact(doc) == 0, "the capture is a version 1 document");
	jc = print(doc);
	CHECK(strlen(jc) * 4 < strlen(text), "compact %zu bytes of %zu", strlen(jc), strlen(text));
	ingest(full, text, T0);
	ingest(compact, jc, T0);
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(doc, "workers")) {
		const char *id = worker_id(w);

		if (!id)
			continue;
		n++;
		same_signals(full, compact, id, T0, "capture");
	}
	CHECK(n > 0, "the capture lists raylets with Ray node ids");
	same_tables(full, compact, T0, "capture");
	free(text);
	free(jc);
	cJSON_Delete(doc);
	signals_free(full);
	signals_free(compact);
}

/* A real agent's own compact push (captured by run.py) is read, with every
 * raylet it lists. */
static void test_real_compact_capture(void)
{
	char *text = fixture("snapshot_compact.json");
	struct signals *s;
	const cJSON *w;
	cJSON *doc;
	int busy, held = 0;
	double age;

	if (!text)
		return;
	s = signals_new();
	doc = cJSON_Parse(text);
	CHECK(doc && cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "schema_version")) == 2,
	      "a version 2 capture");
	ingest(s, text, T0);
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(doc, "workers")) {
		const char *id = worker_id(w);

		if (!id)
			continue;
		held++;
		CHECK(signals_busy_hint(s, id, T0, 30, &busy, &age) &&
		      busy == (int)cJSON_GetNumberValue(cJSON_GetObjectItem(w, "busy_workers")),
		      "raylet %s held", id);
	}
	CHECK(held > 0, "the capture lists raylets with Ray node ids");
	free(text);
	cJSON_Delete(doc);
	signals_free(s);
}

static void test_unknown_version(void)
{
	struct signals *s = signals_new();
	const char *doc = "{\"schema_version\":3,\"seq\":1,\"taken_unix_ms\":1,"
			  "\"node\":{\"node_name\":\"n\"},\"workers\":[]}";
	char err[512] = "";

	CHECK(signals_ingest(s, doc, strlen(doc), T0, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "$.schema_version: 3") && strstr(err, "1: full") &&
	      strstr(err, "2: compact"), "version 3 refused, naming 1 and 2: %s", err);
	CHECK(signals_count(s) == 0, "nothing kept");
	signals_free(s);
}

/* Rule 6's trigger (the controller's early tick): a compact push whose
 * lease-latency delta has leases that waited >= 2^27 ns calls the queueing
 * hook once; a push whose delta has none (the same counters again) does
 * not. */
static int queueing_calls;

static void count_queueing(void *ctx)
{
	(void)ctx;
	queueing_calls++;
}

/* Three rounds of pushes into a fresh table whose cluster is `cluster`
 * (n ids; 0 = never set); the hook calls per round in calls[1..3]. */
static void queueing_rounds(const char *const *cluster, size_t n, int calls[4])
{
	struct signals *s = signals_new();
	struct rs_push_prev prev = { 0 };
	struct rs_snapshot snap;

	signals_set_queueing_hook(s, count_queueing, NULL);
	CHECK(signals_set_cluster_nodes(s, cluster, n) == 0, "cluster of %zu", n);
	for (int r = 1; r <= 3; r++) {
		cJSON *doc;
		char *json;

		/* Round 3 repeats round 2's counters a second later: no new lease. */
		fill(&snap, r < 3 ? r : 2);
		snap.taken_unix_ns = (unsigned long long)(T0 + r) * 1000000000ull;
		doc = rs_push_build_snapshot(&snap, &prev, (uint64_t)r, 1.0, 0);
		CHECK(doc && rs_push_compact(doc) == 0, "round %d: compact", r);
		json = print(doc);
		queueing_calls = 0;
		ingest(s, json, T0 + r);
		calls[r] = queueing_calls;
		free(json);
		cJSON_Delete(doc);
	}
	rs_push_prev_free(&prev);
	signals_free(s);
}

static void test_queueing_hook(void)
{
	const char *only_b[] = { ID_B }, *both[] = { ID_B, ID_A };
	int calls[4] = { 0 };

	queueing_rounds(NULL, 0, calls);
	CHECK(calls[2] == 1, "round 2: one more lease of A waited >= 2^27 ns: %d call(s)",
	      calls[2]);
	CHECK(calls[3] == 0, "round 3: no new lease: %d call(s)", calls[3]);
	/* A host may run raylets of another Ray cluster: A's queueing is not
	 * this controller's business when its cluster lists only B. */
	queueing_rounds(only_b, 1, calls);
	CHECK(calls[2] == 0, "A is another cluster's raylet: %d call(s)", calls[2]);
	queueing_rounds(both, 2, calls);
	CHECK(calls[2] == 1, "A in the cluster: %d call(s)", calls[2]);
}

int main(void)
{
	test_synthetic();
	test_queueing_hook();
	test_sender();
	test_real_capture();
	test_real_compact_capture();
	test_unknown_version();
	CHECK_EXIT();
}
