/* signals_scale.c -- the controller's agent table at N agents, without HTTP.
 *
 * Issue 16's 10,000-agent goal: agent_load.c measures the whole intake over
 * HTTP, but its real Ray cluster has a handful of Ray nodes, so a tick there
 * asks the table about a handful of nodes.  A cluster of N agents has N Ray
 * nodes, and every tick asks, per Ray node, for its busy hint, lease report
 * and startup time (loop.c, fusion_loop.c).  This program fills a table with
 * N agents, each sending a real snapshot (run.py's capture made into agent
 * i's by sim_snapshot.c, as agent_load sends it), and prints the CPU time of:
 *  - one push: inflate the gzip body and signals_ingest(), as the HTTP
 *    handler does (averaged over --rounds pushes of every agent);
 *  - one tick's table lookups: busy hint, lease report and startup time for
 *    each of the N agents' Ray nodes.
 * CPU time (CLOCK_PROCESS_CPUTIME_ID), so that other work on a shared
 * machine inflates it less than wall time.
 *
 * Usage: signals_scale --snapshot FILE [--agents N ...] [--rounds R]
 * Prints one JSON object per N on stdout. */
#include "common/cli.h"
#include "common/gzip.h"
#include "controller/source/signals.h"
#include "sim_snapshot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "signals_scale"
#define SNAPSHOT_MAX_BYTES (4u << 20)
#define MAX_SIZES 8

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ingest(struct signals *s, const char *gz, size_t gz_len, double now)
{
	char *plain, err[512];
	size_t len;
	int rc = rs_gzip_decompress(gz, gz_len, 1u << 20, &plain, &len);

	if (rc)
		return rc;
	rc = signals_ingest(s, plain, len, now, err, sizeof(err));
	free(plain);
	if (rc)
		fprintf(stderr, PROG ": ingest: %s\n", err);
	return rc;
}

static int one_size(cJSON *templ, long n, int rounds, int raylets)
{
	struct signals *s = signals_new();
	char **gz = calloc((size_t)n, sizeof(*gz)), id[64];
	size_t *gz_len = calloc((size_t)n, sizeof(*gz_len));
	struct node_leases nl;
	double t0, push_cpu, tick_cpu, age, secs;
	long found = 0;
	int rc = -ENOMEM, busy;

	if (!s || !gz || !gz_len || signals_configure(s, (size_t)n, 30.0))
		goto out;
	for (long i = 0; i < n; i++)
		if ((rc = sim_snapshot_gzip(templ, i, 1, &gz[i], &gz_len[i])))
			goto out;
	for (long i = 0; i < n; i++)	/* fill the table */
		if ((rc = ingest(s, gz[i], gz_len[i], 1000.0)))
			goto out;
	t0 = cpu_s();
	for (int r = 1; r <= rounds; r++)
		for (long i = 0; i < n; i++)
			if ((rc = ingest(s, gz[i], gz_len[i], 1000.0 + r)))
				goto out;
	push_cpu = (cpu_s() - t0) / ((double)n * rounds);
	t0 = cpu_s();
	for (long i = 0; i < n; i++) {
		for (int k = 0; k < raylets; k++) {
			sim_ray_id(i, k, id, sizeof(id));
			found += signals_busy_hint(s, id, 1000.0 + rounds, 30.0, &busy, &age);
			signals_node_leases(s, id, 1000.0 + rounds, 30.0, &nl);
			signals_node_startup(s, id, 1000.0 + rounds, 30.0, &secs);
		}
	}
	tick_cpu = cpu_s() - t0;
	printf("{\"agents\": %ld, \"raylets_per_agent\": %d, \"push_cpu_us\": %.1f, "
	       "\"tick_lookups_cpu_ms\": %.2f, \"hints_found\": %ld}\n", n, raylets,
	       push_cpu * 1e6, tick_cpu * 1e3, found);
	fflush(stdout);
	rc = 0;
out:
	for (long i = 0; gz && i < n; i++)
		free(gz[i]);
	free(gz);
	free(gz_len);
	signals_free(s);
	return rc;
}

int main(int argc, char **argv)
{
	long sizes[MAX_SIZES] = { 1000, 5000, 10000 }, v;
	int n_sizes = 3, rounds = 3, rc = 0;
	const char *snap = NULL;
	char *buf = NULL;
	size_t len;
	cJSON *templ;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--snapshot") && i + 1 < argc) {
			snap = argv[++i];
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
			   !rs_parse_long(argv[i + 1], 1, 1000, &v)) {
			rounds = (int)v;
			i++;
		} else if (!strcmp(argv[i], "--agents")) {
			n_sizes = 0;
			while (i + 1 < argc && n_sizes < MAX_SIZES &&
			       !rs_parse_long(argv[i + 1], 1, 1000000, &v)) {
				sizes[n_sizes++] = v;
				i++;
			}
		} else {
			fprintf(stderr, "usage: " PROG " --snapshot FILE [--agents N ...] "
				"[--rounds R (3)]\n");
			return 2;
		}
	}
	if (!snap || !n_sizes) {
		fprintf(stderr, PROG ": --snapshot FILE and at least one --agents size needed\n");
		return 2;
	}
	if ((rc = rs_read_file(snap, SNAPSHOT_MAX_BYTES, &buf, &len))) {
		fprintf(stderr, PROG ": %s: %s\n", snap, strerror(-rc));
		return 1;
	}
	templ = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(templ, "workers"))) {
		fprintf(stderr, PROG ": %s: not a snapshot (no workers array)\n", snap);
		cJSON_Delete(templ);
		return 1;
	}
	for (int i = 0; i < n_sizes && !rc; i++)
		rc = one_size(templ, sizes[i], rounds,
			      cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(templ, "workers")));
	cJSON_Delete(templ);
	return rc ? 1 : 0;
}
