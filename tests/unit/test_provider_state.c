/* test_provider_state.c -- the local provider's state file: encode/decode
 * round trip, bad documents rejected with a message, a corrupt file refused
 * at start (and left untouched, so running nodes are not orphaned), a dead
 * pid dropped, a live process re-adopted and stopped through its process
 * group (SIGTERM), and the state file rewritten after each change. */
#include "check.h"
#include "common/cli.h"
#include "controller/provider/provider.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

static void test_roundtrip(void)
{
	struct provider_node in[2] = {
		{ .id = "rs-cpu1-0", .type = "cpu1", .pid = 4242, .launched_at = 1795764000.5 },
		{ .id = "rs-gpu-3", .type = "gpu", .pid = 77, .launched_at = 1795764001,
		  .stop_requested_at = 1795764100 },
	};
	struct provider_node *out = NULL;
	unsigned long seq = 0;
	size_t n = 0;
	char err[PROVIDER_ERR_LEN] = "", *doc = provider_local_state_encode(in, 2, 9);

	CHECK(doc != NULL, "encode");
	CHECK(provider_local_state_decode(doc, strlen(doc), &out, &n, &seq, err) == 0, "%s", err);
	CHECK(n == 2 && seq == 9, "n %zu seq %lu", n, seq);
	CHECK(n == 2 && !strcmp(out[1].id, "rs-gpu-3") && out[1].pid == 77 &&
	      out[1].stop_requested_at == 1795764100 && out[0].launched_at == 1795764000.5,
	      "fields survive");
	free(out);
	free(doc);
}

static void test_bad_documents(void)
{
	static const char *bad[] = {
		"",
		"{\"version\":1,\"next_seq\":1,\"nodes\":[",
		"{\"version\":2,\"next_seq\":1,\"nodes\":[]}",
		"{\"version\":1,\"next_seq\":-1,\"nodes\":[]}",
		"{\"version\":1,\"next_seq\":1,\"nodes\":[{\"id\":\"a\",\"type\":\"t\",\"pid\":1,"
		"\"launched_at\":0}]}",
		"{\"version\":1,\"next_seq\":1,\"nodes\":[{\"id\":\"\",\"type\":\"t\",\"pid\":10,"
		"\"launched_at\":0}]}",
		"{\"version\":1,\"next_seq\":1,\"nodes\":[{\"id\":\"a\",\"type\":\"t\",\"pid\":\"10\","
		"\"launched_at\":0}]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct provider_node *out = NULL;
		unsigned long seq;
		size_t n;
		char err[PROVIDER_ERR_LEN] = "";

		CHECK(provider_local_state_decode(bad[i], strlen(bad[i]), &out, &n, &seq, err) ==
		      -EINVAL && err[0], "bad state %zu rejected (%s)", i, err);
		CHECK(out == NULL, "nothing returned");
	}
}

/* A stand-in for `ray start --block`: a process in its own session whose
 * command line carries --node-name=<id>, like the real one. */
static pid_t spawn_fake_node(const char *id)
{
	char arg[128];
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		snprintf(arg, sizeof(arg), "--node-name=%s", id);
		execl("/bin/sh", "sh", "-c", "sleep 60", "fake-ray", arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_adopt_and_stop(void)
{
	char dir[] = "/tmp/rs-prov-XXXXXX", path[256], doc[1024], err[PROVIDER_ERR_LEN] = "";
	struct provider_local_config cfg = { .address = "127.0.0.1:1", .stop_grace_s = 5 };
	struct provider p = { 0 };
	const struct provider_node *nodes;
	char *buf = NULL;
	size_t len;
	pid_t live;
	double t0;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	cfg.state_dir = dir;
	cfg.node_temp_root = dir;
	snprintf(path, sizeof(path), "%s/local-provider.json", dir);

	/* Corrupt: refuse to start, keep the file as it is. */
	write_file(path, "{\"version\":1,\"nodes\":[{\"id\":");
	CHECK(provider_local_create(&cfg, &p, err) == -EINVAL && strstr(err, "corrupt"),
	      "corrupt state refused: %s", err);
	CHECK(rs_read_file(path, 4096, &buf, &len) == 0 && strstr(buf, "\"nodes\":[{\"id\":"),
	      "corrupt file untouched");
	free(buf);

	/* One live fake node, one whose pid does not run it any more. */
	live = spawn_fake_node("rs-cpu1-4");
	usleep(200000);
	snprintf(doc, sizeof(doc),
		 "{\"version\":1,\"next_seq\":5,\"nodes\":["
		 "{\"id\":\"rs-cpu1-4\",\"type\":\"cpu1\",\"pid\":%d,\"launched_at\":1},"
		 "{\"id\":\"rs-cpu1-3\",\"type\":\"cpu1\",\"pid\":%d,\"launched_at\":1}]}",
		 (int)live, (int)getpid());
	write_file(path, doc);
	CHECK(provider_local_create(&cfg, &p, err) == 0, "start: %s", err);
	if (!p.ops)
		goto out;
	CHECK(p.ops->list(&p, &nodes) == 1 && !strcmp(nodes[0].id, "rs-cpu1-4"),
	      "live node re-adopted, stale entry dropped (pid %d is us, not a node)", getpid());
	CHECK(rs_read_file(path, 4096, &buf, &len) == 0 && !strstr(buf, "rs-cpu1-3") &&
	      strstr(buf, "\"next_seq\":5"), "state rewritten: %s", buf ? buf : "");
	free(buf);
	buf = NULL;

	CHECK(p.ops->terminate(&p, "rs-cpu1-4", err) == 0, "terminate: %s", err);
	CHECK(p.ops->terminate(&p, "rs-cpu1-4", err) == 0, "terminate is idempotent");
	CHECK(p.ops->terminate(&p, "rs-nope-1", err) == -ENOENT, "unknown id");
	t0 = now_s();
	while (now_s() - t0 < 5 && p.ops->list(&p, &nodes) > 0) {
		p.ops->refresh(&p, now_s());
		usleep(100000);
	}
	CHECK(p.ops->list(&p, &nodes) == 0, "node gone after SIGTERM to its group");
	CHECK(rs_read_file(path, 4096, &buf, &len) == 0 && strstr(buf, "\"nodes\":[]"),
	      "state file empty again: %s", buf ? buf : "");
	free(buf);
	p.ops->destroy(&p);
out:
	kill(-live, SIGKILL);
	waitpid(live, NULL, 0);
	snprintf(doc, sizeof(doc), "rm -rf %s", dir);
	CHECK(system(doc) == 0, "cleanup");
}

/* `ray start --labels` syntax by Ray version: JSON before 2.45. */
static void test_labels_syntax(void)
{
	static const struct {
		const char *version;
		bool json;
	} rows[] = {
		{ "2.41.0", true }, { "2.44.1", true }, { "1.13.0", true },
		{ "2.45.0", false }, { "2.47.1", false }, { "2.60.0", false },
		{ "3.0.0", false }, { "2.100.0", false },
		/* unreadable: keep the current syntax */
		{ "", false }, { "x.y", false }, { "2", false }, { NULL, false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(provider_local_labels_json(rows[i].version) == rows[i].json, "version %s",
		      rows[i].version ? rows[i].version : "(null)");
}

int main(void)
{
	test_labels_syntax();
	test_roundtrip();
	test_bad_documents();
	test_adopt_and_stop();
	CHECK_EXIT();
}
