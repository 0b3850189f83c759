/* test_lease_window.c -- --lease-probes parsing and the duty-cycle schedule
 * (userspace/agent/lease_window.c): bad values are refused, the window is
 * open for exactly ON of every PERIOD ms, aligned to UNIX time; plain "duty"
 * (400 of every 1000 ms) seen from the agent's polls on the 200 ms grid; the
 * default is all. */
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
	CHECK(m.kind == RS_LEASE_MODE_ALL, "default is all");
	for (int i = 0; bad[i]; i++) {
		rs_lease_mode_parse("duty:700/1400", &m);
		CHECK(rs_lease_mode_parse(bad[i], &m) == -EINVAL, "'%s' refused", bad[i]);
		CHECK(m.kind == RS_LEASE_MODE_DUTY && m.on_ms == 700 && m.period_ms == 1400,
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

	rs_lease_mode_default(&m);
	rs_lease_mode_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "all"), "format default: %s", buf);
	/* Plain "duty": 400 of every 1000 ms, so no closed gap reaches 1 s. */
	CHECK(rs_lease_mode_parse("duty", &m) == 0 && m.kind == RS_LEASE_MODE_DUTY &&
	      m.on_ms == 400 && m.period_ms == 1000, "duty = duty:%u/%u", m.on_ms, m.period_ms);
	rs_lease_mode_format(&m, buf, sizeof(buf));
	CHECK(!strcmp(buf, "duty:400/1000"), "format duty: %s", buf);
	/* The agent's polls, on the 200 ms grid of UNIX time: two of every five
	 * find the window open, each period, whatever the start. */
	CHECK(rs_lease_next_poll_ms(1764000000000ull, 200) == 1764000000200ull, "on the grid: next");
	CHECK(rs_lease_next_poll_ms(1764000000001ull, 200) == 1764000000200ull, "1 ms past");
	CHECK(rs_lease_next_poll_ms(1764000000199ull, 200) == 1764000000200ull, "1 ms before");
	{
		uint64_t t = 1764000000123ull;
		unsigned int polls_open = 0, longest_gap = 0, gap = 0;

		for (int i = 0; i < 50; i++) {   /* 10 s of polls */
			t = rs_lease_next_poll_ms(t + 3, 200);   /* each poll takes a few ms */
			if (rs_lease_window_open(&m, t)) {
				polls_open++;
				gap = 0;
			} else if ((gap += 200) > longest_gap) {
				longest_gap = gap;
			}
		}
		CHECK(polls_open == 20, "%u of 50 polls open", polls_open);
		CHECK(longest_gap == 600, "closed for %u ms at most", longest_gap);
	}
	CHECK_EXIT();
}
