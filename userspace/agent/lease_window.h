/* lease_window.h -- which lease uprobes the agent attaches, and when
 * (--lease-probes). Pure: parsing and the window schedule, no I/O; raylet.c
 * does the attaching.
 *
 * Each uprobe hit costs a trap (6-27 us on the reference VM), so the cost of
 * the lease probes is hits per lease times the share of time they are
 * attached (docs/raylet-measures.md, "Probe cost"). Modes:
 *   all          request/reply pair + outcome pair, always attached (4 hits;
 *                the default)
 *   rpc          request/reply pair only, always attached (2 hits; no
 *                raysense_raylet_leases_total)
 *   duty[:ON/P]  "all", attached for ON ms of every P ms (400 of every 1000
 *                when not given: a closed gap of 600 ms). Windows are aligned
 *                to UNIX time (open while time mod P < ON), so the agents of
 *                one cluster sample the same windows, and so are the agent's
 *                200 ms polls (main.c) that open and close them. Not the
 *                default: on a real raylet, detaching the window's probes
 *                took seconds (docs/raylet-measures.md, "Probe cost"). */
#ifndef RAYSENSE_AGENT_LEASE_WINDOW_H
#define RAYSENSE_AGENT_LEASE_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

enum rs_lease_mode_kind {
	RS_LEASE_MODE_DUTY = 0,
	RS_LEASE_MODE_ALL,
	RS_LEASE_MODE_RPC,
};

#define RS_LEASE_DUTY_ON_MS 400u
#define RS_LEASE_DUTY_PERIOD_MS 1000u
/* Windows shorter than this would spend their time attaching. */
#define RS_LEASE_DUTY_MIN_ON_MS 200u

struct rs_lease_mode {
	enum rs_lease_mode_kind kind;
	unsigned int on_ms, period_ms;   /* duty only */
};

#define RS_LEASE_MODE_USAGE \
	"  --lease-probes M    all | rpc | duty[:ON_MS/PERIOD_MS] (default all; duty = duty:400/1000):\n" \
	"                      which lease uprobes attach, and for what share of the time\n"

void rs_lease_mode_default(struct rs_lease_mode *m);

/* "all", "rpc", "duty", "duty:ON/PERIOD" (ms, RS_LEASE_DUTY_MIN_ON_MS <= ON
 * <= PERIOD). Returns 0 or -EINVAL (out untouched). */
int rs_lease_mode_parse(const char *s, struct rs_lease_mode *out);

/* "all", "rpc", "duty:400/1000". */
void rs_lease_mode_format(const struct rs_lease_mode *m, char *buf, unsigned int len);

/* Whether the probes should be attached at UNIX time unix_ms. */
bool rs_lease_window_open(const struct rs_lease_mode *m, uint64_t unix_ms);

/* The first multiple of interval_ms of UNIX time after unix_ms: when the
 * agent polls next, so that its polls (which open and close the windows)
 * land on the windows' edges whenever ON and PERIOD are multiples of the
 * poll interval, on every agent alike. */
uint64_t rs_lease_next_poll_ms(uint64_t unix_ms, unsigned int interval_ms);

/* Whether the mode attaches the outcome pair. */
bool rs_lease_mode_outcomes(const struct rs_lease_mode *m);

#endif
