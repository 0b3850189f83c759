/* lease_window.c -- --lease-probes parsing and the duty-cycle schedule
 * (lease_window.h). */
#include "agent/lease_window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rs_lease_mode_default(struct rs_lease_mode *m)
{
	m->kind = RS_LEASE_MODE_ALL;
	m->on_ms = m->period_ms = 0;
}

static int parse_ms(const char *s, char **end, unsigned int *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v == 0 || v > 3600u * 1000u)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

int rs_lease_mode_parse(const char *s, struct rs_lease_mode *out)
{
	struct rs_lease_mode m;
	char *end;

	if (!strcmp(s, "all") || !strcmp(s, "rpc")) {
		m.kind = s[0] == 'a' ? RS_LEASE_MODE_ALL : RS_LEASE_MODE_RPC;
		m.on_ms = m.period_ms = 0;
		*out = m;
		return 0;
	}
	m.kind = RS_LEASE_MODE_DUTY;
	m.on_ms = RS_LEASE_DUTY_ON_MS;
	m.period_ms = RS_LEASE_DUTY_PERIOD_MS;
	if (!strcmp(s, "duty")) {
		*out = m;
		return 0;
	}
	if (strncmp(s, "duty:", 5))
		return -EINVAL;
	if (parse_ms(s + 5, &end, &m.on_ms) || *end != '/' ||
	    parse_ms(end + 1, &end, &m.period_ms) || *end)
		return -EINVAL;
	if (m.on_ms < RS_LEASE_DUTY_MIN_ON_MS || m.on_ms > m.period_ms)
		return -EINVAL;
	*out = m;
	return 0;
}

void rs_lease_mode_format(const struct rs_lease_mode *m, char *buf, unsigned int len)
{
	if (m->kind == RS_LEASE_MODE_DUTY)
		snprintf(buf, len, "duty:%u/%u", m->on_ms, m->period_ms);
	else
		snprintf(buf, len, "%s", m->kind == RS_LEASE_MODE_ALL ? "all" : "rpc");
}

bool rs_lease_window_open(const struct rs_lease_mode *m, uint64_t unix_ms)
{
	if (m->kind != RS_LEASE_MODE_DUTY)
		return true;
	return unix_ms % m->period_ms < m->on_ms;
}

uint64_t rs_lease_next_poll_ms(uint64_t unix_ms, unsigned int interval_ms)
{
	return (unix_ms / interval_ms + 1) * interval_ms;
}

bool rs_lease_mode_outcomes(const struct rs_lease_mode *m)
{
	return m->kind != RS_LEASE_MODE_RPC;
}
