/* test_lifecycle_proc.c -- the lifecycle family's command-line helpers:
 * finding "--flag=" values in a NUL-separated /proc cmdline, parsing the
 * GCS port out of --gcs-address, and reading a real /proc/self/cmdline;
 * bad input (missing, malformed, out of range) yields "absent", not junk. */
#include "check.h"
#include "agent/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_flag(void)
{
	static const char cmd[] = "/x/raylet\0--node_id=abc\0--gcs-address=10.0.0.1:6379\0--gcs-address-x=1";
	const char *v;

	v = rs_lc_cmdline_flag(cmd, sizeof(cmd), "--gcs-address=");
	CHECK(v && strcmp(v, "10.0.0.1:6379") == 0, "gcs-address: %s", v ? v : "(null)");
	v = rs_lc_cmdline_flag(cmd, sizeof(cmd), "--node_id=");
	CHECK(v && strcmp(v, "abc") == 0, "node_id");
	CHECK(rs_lc_cmdline_flag(cmd, sizeof(cmd), "--missing=") == NULL, "missing flag");
	CHECK(rs_lc_cmdline_flag(cmd, 0, "--node_id=") == NULL, "empty buffer");
	/* A truncated read (no final NUL inside len) must not run past len. */
	v = rs_lc_cmdline_flag(cmd, 12, "--node_id=");
	CHECK(v == NULL, "flag cut by len must not match");
}

static void test_port(void)
{
	static const struct {
		const char *in;
		unsigned short want;
	} rows[] = {
		{ "127.0.0.1:6379", 6379 }, { "[::1]:26379", 26379 }, { "head-svc.ns.svc:6380", 6380 },
		{ "host", 0 }, { "host:", 0 }, { "host:abc", 0 }, { "host:12x", 0 }, { "host:0", 0 },
		{ "host:65536", 0 }, { "host:-5", 0 }, { "host: 5", 0 }, { "host:99999999999999999999", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned short got = rs_lc_parse_port(rows[i].in);

		CHECK(got == rows[i].want, "'%s': got %u want %u", rows[i].in, got, rows[i].want);
	}
	CHECK(rs_lc_parse_port(NULL) == 0, "NULL");
}

static void test_read_cmdline(void)
{
	char buf[4096];
	size_t len = 0;
	int err = rs_lc_read_cmdline(getpid(), buf, sizeof(buf), &len);

	CHECK(err == 0 && len > 0, "own cmdline: %d", err);
	CHECK(strstr(buf, "test_lifecycle_proc") != NULL, "argv[0] = %s", buf);
	CHECK(rs_lc_read_cmdline(-1, buf, sizeof(buf), &len) < 0, "bad pid");
	CHECK(rs_lc_read_cmdline(getpid(), buf, 1, &len) == -EINVAL, "tiny buffer");
}

int main(void)
{
	test_flag();
	test_port();
	test_read_cmdline();
	CHECK_EXIT();
}
