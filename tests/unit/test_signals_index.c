/* test_signals_index.c -- the agent table's indexes (issue 16, 10,000
 * agents): common/str_index against a plain reference under random
 * put/get/delete, and controller/source/signals.c finding every agent by
 * name and by Ray node id through replace, shared ids, staleness and
 * eviction. */
#include "check.h"
#include "common/str_index.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ str_index */

struct op {
	char kind;		/* 'p' put, 'g' get, 'd' delete-if */
	const char *key;
	size_t value;
	bool want;		/* get / del_if: found or removed */
	size_t want_value;	/* get */
};

static void test_str_index_table(void)
{
	static const struct op ops[] = {
		{ 'g', "a", 0, false, 0 },		/* empty index */
		{ 'd', "a", 0, false, 0 },
		{ 'p', "a", 1, false, 0 },
		{ 'g', "a", 0, true, 1 },
		{ 'p', "a", 2, false, 0 },		/* replace the value */
		{ 'g', "a", 0, true, 2 },
		{ 'd', "a", 1, false, 0 },		/* maps to 2, not 1: kept */
		{ 'g', "a", 0, true, 2 },
		{ 'p', "", 7, false, 0 },		/* the empty key is a key */
		{ 'g', "", 0, true, 7 },
		{ 'g', "b", 0, false, 0 },
		{ 'd', "a", 2, true, 0 },
		{ 'g', "a", 0, false, 0 },
		{ 'g', "", 0, true, 7 },
		{ 'd', "a", 2, false, 0 },		/* already gone */
	};
	struct str_index ix = { 0 };
	size_t v;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const struct op *o = &ops[i];

		switch (o->kind) {
		case 'p':
			CHECK(str_index_put(&ix, o->key, o->value) == 0, "op %zu: put", i);
			break;
		case 'g': {
			const char *copy = str_index_key(&ix, o->key);

			v = 12345;
			CHECK(str_index_get(&ix, o->key, &v) == o->want &&
			      (!o->want || v == o->want_value), "op %zu: get '%s' -> %zu", i,
			      o->key, v);
			/* The key copy: present with the key, its own storage. */
			CHECK(o->want ? copy && copy != o->key && !strcmp(copy, o->key) : !copy,
			      "op %zu: key copy of '%s'", i, o->key);
			break;
		}
		case 'd':
			CHECK(str_index_del_if(&ix, o->key, o->value) == o->want, "op %zu: del '%s'",
			      i, o->key);
			break;
		}
	}
	CHECK(ix.count == 1, "one key left, not %zu", ix.count);
	str_index_free(&ix);
	CHECK(!ix.slots && !ix.count, "freed index is empty");
}

/* Random operations on 3,000 keys, checked against an array after each
 * one: growth, long probe runs and backward-shift deletion. */
static void test_str_index_random(void)
{
	enum { KEYS = 3000, OPS = 60000 };
	static long ref[KEYS];	/* value + 1; 0 = absent */
	struct str_index ix = { 0 };
	unsigned long long x = 88172645463325252ULL;
	size_t present = 0, v, bad = 0;
	char key[32];

	for (int i = 0; i < OPS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int k = (int)(x % KEYS), what = (int)((x >> 20) % 3);
		size_t val = (size_t)((x >> 32) % 4);

		snprintf(key, sizeof(key), "ray-%08x", k * 2654435761u);
		if (what == 0) {
			CHECK(str_index_put(&ix, key, val) == 0, "put");
			present += !ref[k];
			ref[k] = (long)val + 1;
		} else if (what == 1) {
			bool removed = str_index_del_if(&ix, key, val);

			bad += removed != (ref[k] == (long)val + 1);
			if (removed) {
				ref[k] = 0;
				present--;
			}
		} else {
			bool found = str_index_get(&ix, key, &v);

			bad += found != (ref[k] != 0) || (found && (long)v + 1 != ref[k]);
		}
	}
	for (int k = 0; k < KEYS; k++) {
		snprintf(key, sizeof(key), "ray-%08x", k * 2654435761u);
		bool found = str_index_get(&ix, key, &v);

		bad += found != (ref[k] != 0) || (found && (long)v + 1 != ref[k]);
	}
	CHECK(!bad, "%zu answers differ from the reference", bad);
	CHECK(ix.count == present, "count %zu, reference %zu", ix.count, present);
	CHECK(ix.count * 2 <= ix.nslots, "load %zu/%zu above 1/2", ix.count, ix.nslots);
	str_index_free(&ix);
}

/* -------------------------------------------------------------- signals */

/* One agent's snapshot: its Ray node ids with busy counts, and optionally a
 * Ray node id that only the lease family names. */
static int push(struct signals *s, const char *node, const char *const *ids, const int *busy,
		size_t n, const char *lease_id, double now)
{
	char doc[8192], workers[4096] = "", values[512] = "", err[256];
	size_t w = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		w += (size_t)snprintf(workers + w, sizeof(workers) - w,
				      "%s{\"ray_node_id\":\"%s\",\"busy_workers\":%d}", i ? "," : "",
				      ids[i], busy[i]);
	if (lease_id)
		snprintf(values, sizeof(values),
			 "{\"family\":\"raysense_raylet_leases_total\",\"kind\":\"counter\","
			 "\"labels\":{\"node_id\":\"%s\",\"outcome\":\"rejected\"},\"value\":3}",
			 lease_id);
	snprintf(doc, sizeof(doc),
		 "{\"schema_version\":1,\"seq\":1,\"taken_unix_ms\":%.0f,\"interval_seconds\":1,"
		 "\"node\":{\"node_name\":\"%s\"},\"workers\":[%s],\"histograms\":[],"
		 "\"values\":[%s]}", now * 1000, node, workers, values);
	rc = signals_ingest(s, doc, strlen(doc), now, err, sizeof(err));
	if (rc && rc != -ENOSPC)
		fprintf(stderr, "push %s: %s\n", node, err);
	return rc;
}

static int busy_of(struct signals *s, const char *id, double now, double max_age)
{
	int busy;
	double age;

	return signals_busy_hint(s, id, now, max_age, &busy, &age) ? busy : -1;
}

/* 10,000 agents, one raylet each: every hint comes from its own agent. */
static void test_signals_many(void)
{
	enum { N = 10000 };
	struct signals *s = signals_new();
	char node[32], id[64];
	const char *ids[1] = { id };
	size_t wrong = 0;

	CHECK(s && signals_configure(s, N, 30) == 0, "configure");
	for (int i = 0; i < N; i++) {
		int busy = i % 7;

		snprintf(node, sizeof(node), "node-%05d", i);
		snprintf(id, sizeof(id), "%056x", i);
		CHECK(push(s, node, ids, &busy, 1, NULL, 100) == 0, "push %d", i);
	}
	for (int i = 0; i < N; i++) {	/* every agent again: replaced, not added */
		int busy = (i + 1) % 7;

		snprintf(node, sizeof(node), "node-%05d", i);
		snprintf(id, sizeof(id), "%056x", i);
		CHECK(push(s, node, ids, &busy, 1, NULL, 101) == 0, "push %d again", i);
	}
	CHECK(signals_count(s) == N, "%zu agents kept", signals_count(s));
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%056x", i);
		wrong += busy_of(s, id, 101, 30) != (i + 1) % 7;
	}
	CHECK(!wrong, "%zu of %d hints wrong", wrong, N);
	snprintf(id, sizeof(id), "%056x", N);
	CHECK(busy_of(s, id, 101, 30) == -1, "a Ray node no agent reported has no hint");
	signals_free(s);
}

struct step {
	const char *what;
	const char *node;	/* push from this agent (NULL: only check) */
	const char *ids[2];
	int busy[2];
	const char *lease_id;
	double at;
	int want_rc;
	/* then: the hint for `check` at `at` with max age 10 */
	const char *check;
	int want_busy;		/* -1 = none */
};

/* One table of capacity 3, max age 10, driven step by step. */
static void test_signals_steps(void)
{
	static const struct step steps[] = {
		{ "a reports r1", "a", { "r1" }, { 1 }, NULL, 0, 0, "r1", 1 },
		{ "b reports r2, r3", "b", { "r2", "r3" }, { 2, 3 }, NULL, 0, 0, "r3", 3 },
		{ "r2 too", NULL, { NULL }, { 0 }, NULL, 0, 0, "r2", 2 },
		{ "a moves to r4: r1 is gone", "a", { "r4" }, { 4 }, NULL, 1, 0, "r1", -1 },
		{ "r4 found", NULL, { NULL }, { 0 }, NULL, 1, 0, "r4", 4 },
		{ "c also claims r2: the latest report wins", "c", { "r2" }, { 9 }, NULL, 2, 0,
		  "r2", 9 },
		{ "b reports r2 again: b is latest", "b", { "r2", "r3" }, { 5, 3 }, NULL, 3, 0,
		  "r2", 5 },
		{ "b stale at 14: its hints end", NULL, { NULL }, { 0 }, NULL, 14, 0, "r3", -1 },
		{ "a fresh at 14 (pushed then)", "a", { "r4" }, { 6 }, "r7", 14, 0, "r4", 6 },
		{ "d: full, the oldest stale entry (c) makes room", "d", { "r5" }, { 7 }, NULL,
		  14, 0, "r5", 7 },
		{ "c's r2 claim went with it; b's is stale", NULL, { NULL }, { 0 }, NULL, 14, 0,
		  "r2", -1 },
		{ "e: full of live agents? b is stale: it goes", "e", { "r6" }, { 8 }, NULL, 14, 0,
		  "r6", 8 },
		{ "f: a, d, e all live: refused", "f", { "r8" }, { 1 }, NULL, 15, -ENOSPC, "r8",
		  -1 },
		{ "a refused nothing: r4 still found", NULL, { NULL }, { 0 }, NULL, 15, 0, "r4", 6 },
	};
	struct signals *s = signals_new();
	struct node_leases nl;

	CHECK(s && signals_configure(s, 3, 10) == 0, "configure");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *st = &steps[i];
		size_t n = st->ids[1] ? 2 : st->ids[0] ? 1 : 0;

		if (st->node)
			CHECK(push(s, st->node, st->ids, st->busy, n, st->lease_id, st->at) ==
			      st->want_rc, "step %zu (%s): push", i, st->what);
		CHECK(busy_of(s, st->check, st->at, 10) == st->want_busy,
		      "step %zu (%s): busy of %s is %d, want %d", i, st->what, st->check,
		      busy_of(s, st->check, st->at, 10), st->want_busy);
	}
	/* A Ray node named only by the lease family is found through the index. */
	CHECK(signals_node_leases(s, "r7", 15, 10, &nl), "r7's lease report found");
	CHECK(!signals_node_leases(s, "r1", 15, 10, &nl), "r1 has no lease report");
	CHECK(signals_count(s) == 3, "%zu agents", signals_count(s));
	signals_free(s);
}

int main(void)
{
	test_str_index_table();
	test_str_index_random();
	test_signals_many();
	test_signals_steps();
	CHECK_EXIT();
}
