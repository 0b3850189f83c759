/* test_raylet_parse.c -- raylet identity from argv (raylet_proc.c) and lease
 * symbol resolution (raylet_symbols.c), including bad input. The raylets of
 * the pinned Ray wheel (<source>/.venv) and of the Task-era one
 * (<source>/.venv-ray-taskera), both installed by tools/setup.sh, must
 * resolve every lease probe (the facts in docs/raylet-symbols.md). A missing
 * wheel or an unset RAYSENSE_SOURCE_DIR (ctest sets it) is a failure, not a
 * skip; RAYSENSE_TEST_ALLOW_NO_RAY=1 turns it into a loud "not checked". */
#include "check.h"

#include "agent/raylet_proc.h"
#include "agent/raylet_symbols.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGV(s) s, sizeof(s) - 1   /* keep embedded NULs, drop the final one */

static void test_argv(void)
{
	char node[RS_NODE_ID_LEN];
	unsigned int port, nm_port;

	rs_raylet_parse_argv(ARGV("/x/raylet\0--node_id=5d6bfeba56fcccfe\0--metrics_export_port=48080\0"),
			     node, sizeof(node), &port, &nm_port);
	CHECK(!strcmp(node, "5d6bfeba56fcccfe"), "node '%s'", node);
	CHECK(port == 48080, "port %u", port);
	CHECK(nm_port == 0, "no --node_manager_port: %u", nm_port);

	/* A Task-era (Ray 2.49.2) raylet's argv, as ray start passes it. */
	rs_raylet_parse_argv(ARGV("/x/raylet\0--raylet_socket_name=/tmp/s\0--node_manager_port=55505\0"
				  "--node_id=f0bd1682b4fc\0--metrics_export_port=55507\0"),
			     node, sizeof(node), &port, &nm_port);
	CHECK(nm_port == 55505 && port == 55507 && !strcmp(node, "f0bd1682b4fc"),
	      "2.49 argv: nm_port %u port %u node '%s'", nm_port, port, node);
	/* Ray before ~2.30 passed no --node_id: the port still tells raylets apart. */
	rs_raylet_parse_argv(ARGV("/x/raylet\0--node_manager_port=41000\0"), node, sizeof(node), &port,
			     &nm_port);
	CHECK(nm_port == 41000 && node[0] == '\0', "no node id: nm_port %u node '%s'", nm_port, node);
	/* Bad or truncated port values give 0, never a prefix. */
	rs_raylet_parse_argv(ARGV("r\0--node_manager_port=12x\0"), node, sizeof(node), &port, &nm_port);
	CHECK(nm_port == 0, "bad nm port %u", nm_port);
	rs_raylet_parse_argv(ARGV("r\0--node_manager_port=-1\0"), node, sizeof(node), &port, &nm_port);
	CHECK(nm_port == 0, "negative nm port %u", nm_port);
	rs_raylet_parse_argv(ARGV("r\0--node_manager_port=+5\0--metrics_export_port= 6\0"), node,
			     sizeof(node), &port, &nm_port);
	CHECK(nm_port == 0 && port == 0, "sign/space accepted: nm port %u port %u", nm_port, port);
	rs_raylet_parse_argv(ARGV("r\0--node_manager_port=123456789012345678\0"), node, sizeof(node),
			     &port, &nm_port);
	CHECK(nm_port == 0, "long nm port %u", nm_port);
	{
		char cut[] = { 'r', 0, '-', '-', 'n', 'o', 'd', 'e', '_', 'm' };

		rs_raylet_parse_argv(cut, sizeof(cut), node, sizeof(node), &port, &nm_port);
		CHECK(nm_port == 0 && port == 0, "cut flag: %u %u", nm_port, port);
	}

	rs_raylet_parse_argv(ARGV("/x/raylet\0--head\0"), node, sizeof(node), &port, &nm_port);
	CHECK(node[0] == '\0' && port == 0, "missing flags: '%s' %u", node, port);

	/* Bad values are ignored, never half-parsed. */
	rs_raylet_parse_argv(ARGV("raylet\0--node_id=xyz!\0--metrics_export_port=80a\0"), node,
			     sizeof(node), &port, &nm_port);
	CHECK(node[0] == '\0' && port == 0, "bad values: '%s' %u", node, port);
	rs_raylet_parse_argv(ARGV("raylet\0--metrics_export_port=70000\0--node_id=\0"), node,
			     sizeof(node), &port, &nm_port);
	CHECK(node[0] == '\0' && port == 0, "out of range: '%s' %u", node, port);
	rs_raylet_parse_argv(ARGV("raylet\0--metrics_export_port=\0"), node, sizeof(node), &port, &nm_port);
	CHECK(port == 0, "empty port %u", port);

	/* Too long for the buffer: rejected rather than truncated. */
	rs_raylet_parse_argv(ARGV("raylet\0--node_id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123\0"),
			     node, sizeof(node), &port, &nm_port);
	CHECK(node[0] == '\0', "long node id accepted: '%s'", node);

	/* Last argument not NUL-terminated (cmdline cut short): no overrun. */
	{
		char buf[] = { 'r', 0, '-', '-', 'n', 'o', 'd', 'e', '_', 'i', 'd', '=', 'a', 'b' };

		rs_raylet_parse_argv(buf, sizeof(buf), node, sizeof(node), &port, &nm_port);
		CHECK(!strcmp(node, "ab"), "unterminated: '%s'", node);
	}
	rs_raylet_parse_argv("", 0, node, sizeof(node), &port, &nm_port);
	CHECK(node[0] == '\0' && port == 0, "empty argv");
}

static void test_symbols_bad_input(void)
{
	struct rs_lease_syms syms;
	char path[] = "/tmp/rs-test-notelf-XXXXXX";
	int fd = mkstemp(path);

	CHECK(rs_lease_syms_resolve("/nonexistent/raylet", &syms) == -ENOENT, "missing file");
	CHECK(fd >= 0, "mkstemp");
	if (fd >= 0) {
		CHECK(write(fd, "not an elf file\n", 16) == 16, "write");
		close(fd);
		CHECK(rs_lease_syms_resolve(path, &syms) == -ENOEXEC, "text file");
		unlink(path);
	}
	/* An ELF file without any lease symbol: resolves to nothing. */
	CHECK(rs_lease_syms_resolve("/proc/self/exe", &syms) == 0 && syms.found == 0,
	      "found %#x in the test binary", syms.found);
}

/* A prerequisite of the real-raylet checks is missing: fail, unless the
 * caller opted out with RAYSENSE_TEST_ALLOW_NO_RAY=1. */
static void missing_prerequisite(const char *version, const char *what)
{
	const char *allow = getenv("RAYSENSE_TEST_ALLOW_NO_RAY");

	if (allow && !strcmp(allow, "1")) {
		fprintf(stderr, "*** test_raylet_parse: Ray %s NOT CHECKED: %s "
			"(RAYSENSE_TEST_ALLOW_NO_RAY=1) ***\n", version, what);
		return;
	}
	CHECK(false, "Ray %s: %s (run tools/setup.sh, or set RAYSENSE_TEST_ALLOW_NO_RAY=1 to skip)",
	      version, what);
}

/* Resolve the raylet of the Ray wheel in <source>/<venv>, expecting every
 * probe. False when it cannot be checked (a failure unless opted out). */
static bool resolve_venv_raylet(const char *venv, const char *version, struct rs_lease_syms *syms)
{
	const char *src = getenv("RAYSENSE_SOURCE_DIR");
	char path[1024], what[1100], list[512];
	int err;

	if (!src) {
		missing_prerequisite(version, "RAYSENSE_SOURCE_DIR is not set (ctest sets it)");
		return false;
	}
	snprintf(path, sizeof(path),
		 "%s/%s/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet", src, venv);
	if (access(path, R_OK)) {
		snprintf(what, sizeof(what), "no raylet at %s", path);
		missing_prerequisite(version, what);
		return false;
	}
	err = rs_lease_syms_resolve(path, syms);
	CHECK(err == 0, "resolve Ray %s raylet: %s", version, strerror(-err));
	rs_lease_probe_list(((1u << RS_LP_COUNT) - 1) & ~syms->found, list, sizeof(list));
	CHECK(syms->found == (1u << RS_LP_COUNT) - 1, "probes not found in Ray %s: %s", version, list);
	return err == 0;
}

static void test_real_raylet(void)
{
	struct rs_lease_syms syms;

	if (!resolve_venv_raylet(".venv", "2.60.0", &syms))
		return;
	/* Offsets checked with nm on the 2.60.0 wheel (PIE, text vaddr == offset). */
	CHECK(syms.offset[RS_LP_REQUEST] == 0x321230, "HandleRequest at %#llx",
	      (unsigned long long)syms.offset[RS_LP_REQUEST]);
	CHECK(syms.offset[RS_LP_REPLY_SENT] == 0x311160, "OnReplySent at %#llx",
	      (unsigned long long)syms.offset[RS_LP_REPLY_SENT]);
}

/* The Task-era Ray of tools/requirements-taskera.txt (2.49.2), installed by
 * tools/setup.sh in <source>/.venv-ray-taskera: the same probes resolve to
 * the Task-era names (docs/raylet-symbols.md, "Task-era raylet"). */
static void test_taskera_raylet(void)
{
	static const struct {
		enum rs_lease_probe probe;
		uint64_t offset;     /* nm on the 2.49.2 wheel; text vaddr == offset */
		const char *in_name; /* in the first 95 bytes of the mangled name */
	} want[] = {
		/* the three names differ only after the 95 bytes kept */
		{ RS_LP_REQUEST, 0x2c25b0, "25RequestWorkerLeaseRequest" },
		{ RS_LP_REPLY_SENT, 0x2a7700, "25RequestWorkerLeaseRequest" },
		{ RS_LP_REPLY_FAILED, 0x2ad300, "25RequestWorkerLeaseRequest" },
		{ RS_LP_SCHEDULE, 0x5386f0, "18ClusterTaskManager14ScheduleOnNode" },
		{ RS_LP_LOCAL_QUEUE, 0x3178f0, "16LocalTaskManager20QueueAndScheduleTask" },
		{ RS_LP_POP_WORKER, 0x343450, "9PopWorkerERKNS_17TaskSpecification" },
		{ RS_LP_POPPED, 0x3129f0, "16LocalTaskManager19PoppedWorkerHandler" },
		{ RS_LP_GRANT, 0x30c270, "16LocalTaskManager8Dispatch" },
		{ RS_LP_OUTCOME, 0x2c1fe0, "23RequestWorkerLeaseReply" },
		{ RS_LP_OUTCOME_RET, 0x2c1fe0, "23RequestWorkerLeaseReply" },
	};
	struct rs_lease_syms syms;

	if (!resolve_venv_raylet(".venv-ray-taskera", "2.49.2", &syms))
		return;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		enum rs_lease_probe p = want[i].probe;

		CHECK(syms.offset[p] == want[i].offset, "2.49.2 %s at %#llx, want %#llx",
		      rs_lease_probe_name(p), (unsigned long long)syms.offset[p],
		      (unsigned long long)want[i].offset);
		CHECK(strstr(syms.name[p], want[i].in_name) != NULL, "2.49.2 %s matched %s",
		      rs_lease_probe_name(p), syms.name[p]);
	}
}

int main(void)
{
	test_argv();
	test_symbols_bad_input();
	test_real_raylet();
	test_taskera_raylet();
	CHECK_EXIT();
}
