/* test_provider_serial_start.c -- the local provider starts nodes one at a
 * time before Ray 2.50 (whose workers share the head's session dir and can
 * take the same socket name when started at once): which versions do, and,
 * with a fake `ray` that prints Ray's "started" line only when told, that a
 * launch waits until the node before it printed that line or was listed
 * ALIVE or ended, that a waiting launch stopped before its turn never starts
 * and that waiting launches are not in the state file, and that 2.60.0
 * starts every launch at once. */
#include "check.h"
#include "common/cli.h"
#include "controller/config.h"
#include "controller/plan/resmap.h"
#include "controller/provider/provider.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void test_versions(void)
{
	static const struct {
		const char *version;
		bool serial;
	} rows[] = {
		{ "2.41.0", true }, { "2.47.1", true }, { "2.49.2", true }, { "1.13.0", true },
		{ "2.50.0", false }, { "2.60.0", false }, { "3.0.0", false }, { "2.100.0", false },
		/* unreadable: taken as a current release */
		{ "", false }, { "x.y", false }, { "2", false }, { NULL, false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(provider_local_serial_start(rows[i].version) == rows[i].serial, "version %s",
		      rows[i].version ? rows[i].version : "(null)");
}

/* A fake `ray`: blocks until <dir>/go-<node name> exists, then prints
 * Ray's line and keeps running like `ray start --block`. */
static int write_fake_ray(const char *dir, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/fake-ray", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "#!/bin/sh\n"
		   "for a in \"$@\"; do case \"$a\" in --node-name=*) id=${a#--node-name=};; "
		   "esac; done\n"
		   "while [ ! -e '%s/go-'\"$id\" ]; do sleep 0.05; done\n"
		   "echo 'Ray runtime started.'\n"
		   "exec sleep 60\n", dir);
	fclose(f);
	return chmod(path, 0755) ? -errno : 0;
}

/* Let the fake `ray` of node id print Ray's started line. */
static void let_start(const char *dir, const char *id)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/go-%s", dir, id);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

static const struct provider_node *node(struct provider *p, const char *id)
{
	const struct provider_node *nodes;
	size_t n = p->ops->list(p, &nodes);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(nodes[i].id, id))
			return &nodes[i];
	return NULL;
}

/* Refresh every 50 ms until id has a process (or timeout_s passed). */
static bool started_within(struct provider *p, const char *id, double timeout_s)
{
	double t0 = now_s();

	for (;;) {
		const struct provider_node *n;

		p->ops->refresh(p, now_s());
		n = node(p, id);
		if (n && n->pid > 0)
			return true;
		if (now_s() - t0 > timeout_s)
			return false;
		usleep(50000);
	}
}

static void stop_all(struct provider *p)
{
	const struct provider_node *nodes;
	char err[PROVIDER_ERR_LEN];
	double t0 = now_s();
	size_t n = p->ops->list(p, &nodes);

	for (size_t i = 0; i < n; i++) {
		char id[PROVIDER_ID_MAX];

		snprintf(id, sizeof(id), "%s", nodes[i].id);
		CHECK(p->ops->terminate(p, id, err) == 0, "terminate %s: %s", id, err);
		n = p->ops->list(p, &nodes);
	}
	while (now_s() - t0 < 10 && p->ops->list(p, &nodes) > 0) {
		p->ops->refresh(p, now_s());
		usleep(100000);
	}
	CHECK(p->ops->list(p, &nodes) == 0, "every node stopped");
}

static void make_provider(const char *dir, const char *ray_bin, struct provider *p)
{
	struct provider_local_config cfg = { .address = "127.0.0.1:1", .stop_grace_s = 2 };
	char err[PROVIDER_ERR_LEN] = "";

	cfg.ray_bin = ray_bin;
	cfg.state_dir = dir;
	cfg.node_temp_root = dir;
	CHECK(provider_local_create(&cfg, p, err) == 0, "create: %s", err);
}

static void test_one_at_a_time(const char *dir, const char *ray_bin,
			       const struct worker_group *g)
{
	struct provider p = { 0 };
	char a[PROVIDER_ID_MAX], b[PROVIDER_ID_MAX], c[PROVIDER_ID_MAX], d[PROVIDER_ID_MAX],
	     e[PROVIDER_ID_MAX], err[PROVIDER_ERR_LEN] = "", path[512], *buf = NULL;
	size_t len;
	double t0;

	make_provider(dir, ray_bin, &p);
	if (!p.ops)
		return;
	p.ops->ray_version(&p, "2.41.0");
	CHECK(p.ops->launch(&p, g, a, err) == 0, "launch a: %s", err);
	CHECK(p.ops->launch(&p, g, b, err) == 0, "launch b: %s", err);
	CHECK(p.ops->launch(&p, g, c, err) == 0, "launch c: %s", err);
	CHECK(node(&p, a) && node(&p, a)->pid > 0, "the first launch starts at once");
	CHECK(node(&p, b) && node(&p, b)->pid == 0 && node(&p, b)->started_at == 0 &&
	      node(&p, c) && node(&p, c)->pid == 0, "the others wait, listed without a process");
	snprintf(path, sizeof(path), "%s/local-provider.json", dir);
	CHECK(rs_read_file(path, 65536, &buf, &len) == 0 && strstr(buf, a) && !strstr(buf, b),
	      "only started nodes are in the state file: %s", buf ? buf : "");
	free(buf);

	/* a runs but has not registered: b still waits. */
	t0 = now_s();
	while (now_s() - t0 < 0.5) {
		p.ops->refresh(&p, now_s());
		usleep(50000);
	}
	CHECK(node(&p, b) && node(&p, b)->pid == 0, "b waits while a has not registered");

	let_start(dir, a);
	CHECK(started_within(&p, b, 5), "b starts once a printed Ray's started line");
	CHECK(node(&p, c) && node(&p, c)->pid == 0, "c waits for b");

	/* c is stopped before its turn: dropped, never started. */
	CHECK(p.ops->terminate(&p, c, err) == 0, "terminate queued c: %s", err);
	p.ops->refresh(&p, now_s());
	CHECK(!node(&p, c), "a stopped waiting launch is gone after the refresh");
	snprintf(path, sizeof(path), "%s/logs/%s.log", dir, c);
	CHECK(access(path, F_OK) != 0, "c never ran (no log %s)", path);

	/* d waits for b; b listed ALIVE by the loop lets d start. */
	CHECK(p.ops->launch(&p, g, d, err) == 0, "launch d: %s", err);
	CHECK(node(&p, d) && node(&p, d)->pid == 0, "d waits for b");
	p.ops->node_alive(&p, b, now_s());
	CHECK(started_within(&p, d, 5), "d starts once b is ALIVE in Ray");

	/* e waits for d; d ends on its own before registering: e starts. */
	CHECK(p.ops->launch(&p, g, e, err) == 0, "launch e: %s", err);
	CHECK(node(&p, e) && node(&p, e)->pid == 0, "e waits for d");
	if (node(&p, d) && node(&p, d)->pid > 0)
		kill(-node(&p, d)->pid, SIGKILL);
	CHECK(started_within(&p, e, 5), "e starts once d ended");
	CHECK(!node(&p, d), "d is gone");
	CHECK(p.ops->list(&p, &(const struct provider_node *){ NULL }) == 3, "a, b, e listed");
	stop_all(&p);
	p.ops->destroy(&p);
}

static void test_at_once_on_current_ray(const char *dir, const char *ray_bin,
					const struct worker_group *g)
{
	struct provider p = { 0 };
	char a[PROVIDER_ID_MAX], b[PROVIDER_ID_MAX], err[PROVIDER_ERR_LEN] = "";

	make_provider(dir, ray_bin, &p);
	if (!p.ops)
		return;
	p.ops->ray_version(&p, "2.60.0");
	CHECK(p.ops->launch(&p, g, a, err) == 0, "launch a: %s", err);
	CHECK(p.ops->launch(&p, g, b, err) == 0, "launch b: %s", err);
	CHECK(node(&p, a) && node(&p, a)->pid > 0 && node(&p, b) && node(&p, b)->pid > 0,
	      "2.60.0: both start at once");
	stop_all(&p);
	p.ops->destroy(&p);
}

int main(void)
{
	char dir[] = "/tmp/rs-serial-XXXXXX", sub[256], ray_bin[256], cmd[300];
	struct worker_group g = { .name = "cpu1" };

	test_versions();
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	CHECK(write_fake_ray(dir, ray_bin, sizeof(ray_bin)) == 0, "fake ray");
	CHECK(resmap_set(&g.resources, "CPU", 1) == 0, "resources");
	snprintf(sub, sizeof(sub), "%s/current", dir);
	CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
	test_one_at_a_time(dir, ray_bin, &g);
	test_at_once_on_current_ray(sub, ray_bin, &g);
	resmap_free(&g.resources);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	CHECK_EXIT();
}
