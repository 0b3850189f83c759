/* test_lease_window.c -- --lease-probes parsing and the duty-cycle schedule
 * (userspace/agent/lease_window.c): bad values are refused, the window is
 * open for exactly ON of every PERIOD ms, aligned to UNIX time. */
#include "check.h"
#include "agent/lease_window.h"

#include <errno.h>
#include <string.h>

int main(void)
{
	struct rs_lease_mode m;
	char buf[32];
	static const char *const bad[] = {
		"", "duty:", "duty:100/1000", "duty:3000/2000", "duty:0/10", "duty:500/",
		"duty:500/1000x", "duty:-5/1000", "duty:500", "All", "rpcx", "duty:500:1000", NULL,
	};
	unsigned int open = 0;

	rs_lease_mode_default(&m);
	CHECK(m.kind == RS_LEASE_MODE_DUTY && m.on_ms == RS_LEASE_DUTY_ON_MS &&
	      m.period_ms == RS_LEASE_DUTY_PERIOD_MS, "default is the duty cycle");
	for (int i = 0; bad[i]; i++) {
		rs_lease_mode_default(&m);
		CHECK(rs_lease_mode_parse(bad[i], &m) == -EINVAL, "'%s' refused", bad[i]);
		CHECK(m.kind == RS_LEASE_MODE_DUTY && m.on_ms == RS_LEASE_DUTY_ON_MS,
		      "'%s' leaves the mode untouched", bad[i]);
	}
	CHECK(rs_lease_mode_parse("all", &m) == 0 && m.kind == RS_LEASE_MODE_ALL, "all");
	CHECK(rs_lease_window_open(&m, 12345) && rs_lease_mode_outcomes(&m), "all: always, outcomes");
	CHECK(rs_lease_mode_parse("rpc", &m) == 0 && m.kind == RS_LEASE_MODE_RPC, "rpc");
	CHECK(rs_lease_window_open(&m, 7) && !rs_lease_mode_outcomes(&m), "rpc: always, no outcomes");
	rs_lease_mode_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "rpc"), "format rpc: %s", buf);
	CHECK(rs_lease_mode_parse("duty", &m) == 0 && m.on_ms == RS_LEASE_DUTY_ON_MS, "duty");
	CHECK(rs_lease_mode_parse("duty:500/2000", &m) == 0 && m.kind == RS_LEASE_MODE_DUTY &&
	      m.on_ms == 500 && m.period_ms == 2000, "duty:500/2000");
	rs_lease_mode_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "duty:500/2000"), "format duty: %s", buf);
	CHECK(rs_lease_mode_outcomes(&m), "duty keeps the outcomes");
	/* Aligned to UNIX time: open on [k*2000, k*2000+500). */
	CHECK(rs_lease_window_open(&m, 1764000000000ull), "open at a period boundary");
	CHECK(rs_lease_window_open(&m, 1764000000499ull), "open 499 ms in");
	CHECK(!rs_lease_window_open(&m, 1764000000500ull), "closed at ON");
	CHECK(!rs_lease_window_open(&m, 1764000001999ull), "closed to the end of the period");
	for (uint64_t t = 0; t < 20000; t++)
		open += rs_lease_window_open(&m, 1764000000000ull + t);
	CHECK(open == 5000, "open 1/4 of the time: %u ms of 20000", open);
	CHECK(rs_lease_mode_parse("duty:1000/1000", &m) == 0 && rs_lease_window_open(&m, 999) &&
	      rs_lease_window_open(&m, 1000), "ON == PERIOD: always open");
	CHECK_EXIT();
}
