/* api.h -- the controller's HTTP API (libmicrohttpd via common/http_server):
 *   GET  /metrics            Prometheus text (raysense_controller_*)
 *   GET  /api/v1/status      node types, nodes, current demand, last plan, agents
 *   GET  /api/v1/decisions   recent decisions, JSON array with "time" (?limit=N)
 *   POST /api/v1/signals     agent snapshots (gzip JSON; who may push is
 *                            --agent-auth, auth/agent_auth.h, checked on the
 *                            headers before the body is read; 401 bad token,
 *                            403 a report about another node); the 202
 *                            answer may ask the agent for a longer push
 *                            interval, {"push_interval_s": S}, when
 *                            max_push_rate is set (docs/agent-load.md)
 *   GET  /healthz, /readyz   also on the probe listener (API port + 1 by
 *                            default), which keeps its own connection slots */
#ifndef RAYSENSE_CONTROLLER_API_H
#define RAYSENSE_CONTROLLER_API_H

#include <stddef.h>

#include "controller/controller.h"

struct agent_auth;

struct controller_api_config {
	const char *host;
	int port;
	/* Who may push signals: auth when set (the controller's --agent-auth);
	 * else token, the required bearer token (NULL = none; unit tests). */
	struct agent_auth *auth;
	const char *token;
	size_t max_body;		/* default 1 MiB */
	unsigned per_ip_limit;		/* 0 = RS_HTTP_DEFAULT_PER_IP_LIMIT */
	unsigned request_deadline_ms;	/* 0 = RS_HTTP_DEFAULT_DEADLINE_MS */
	int probe_port;			/* 0 = port + 1 (any free one when port is 0); -1 = none */
	/* Pushes per second the agents are asked to stay under: with L live
	 * agents the 202 answer asks for push_interval_s = ceil(L / rate) when
	 * that is over 1 s, at most CONTROLLER_MAX_ASKED_PUSH_INTERVAL_S.
	 * 0 = never ask. */
	double max_push_rate;
};

/* The longest push interval the controller asks for: an agent's hints stay
 * younger than the default --stale-after (15 s) with one push lost. */
#define CONTROLLER_MAX_ASKED_PUSH_INTERVAL_S 10.0

struct rs_http_server;

int controller_api_start(struct controller *c, const struct controller_api_config *cfg,
			 struct rs_http_server **out);
void controller_api_stop(struct rs_http_server *srv);
int controller_api_port(const struct rs_http_server *srv);
/* The probe listener's port, or -1 without one. */
int controller_api_probe_port(const struct rs_http_server *srv);

#endif
