/* agent_http.h -- the agent's HTTP endpoints (default 0.0.0.0:9640):
 *   /metrics       Prometheus text exposition (export_prom.c)
 *   /metrics.json  rows for Grafana's Infinity datasource (export_json.c)
 *   /healthz       200 while the process serves requests
 *   /readyz        200 once main.c marked the probes attached AND the pinned
 *                  maps can be read; 503 otherwise, with the reason. Either
 *                  way it lists each probe family's attach result, and when
 *                  ready, the lease probes missing on some raylet
 * /healthz and /readyz are also served on the probe listener (default port
 * 9641), which keeps its own connection slots (common/http_server.h).
 * Requests run on the HTTP server's thread pool; they only read pinned maps
 * (never the probes' hot path), and concurrent scrapes share one collection
 * per RS_AGENT_HTTP_CACHE_MS so a scrape storm costs one map walk. */
#ifndef RAYSENSE_AGENT_HTTP_H
#define RAYSENSE_AGENT_HTTP_H

#include <stdbool.h>

#include "agent/push.h"
#include "agent/snapshot.h"

#define RS_AGENT_DEFAULT_LISTEN "0.0.0.0:9640"
#define RS_AGENT_DEFAULT_PORT 9640
#define RS_AGENT_HTTP_CACHE_MS 250

struct rs_agent_http_config {
	const char *host;           /* numeric address; default 0.0.0.0 */
	int port;                   /* default 9640; 0 = any free port */
	const char *pin_dir;
	int (*collect)(const char *pin_dir, struct rs_snapshot *snap);
	void (*free_snapshot)(struct rs_snapshot *snap);
	const struct rs_family_info *families;  /* rs_metric_families */
	struct rs_push *push;       /* for raysense_agent_push_*; may be NULL */
	unsigned per_ip_limit;      /* 0 = RS_HTTP_DEFAULT_PER_IP_LIMIT */
	unsigned request_deadline_ms; /* 0 = RS_HTTP_DEFAULT_DEADLINE_MS */
	const char *probe_host;     /* default: host */
	int probe_port;             /* probe listener; 0 = any free port, -1 = none */
	bool probe_required;        /* fail to start when the probe port is taken */
	bool debug_labels;          /* rs_export_ctx.debug_labels */
};

struct rs_agent_http;

int rs_agent_http_start(const struct rs_agent_http_config *cfg, struct rs_agent_http **out);
int rs_agent_http_port(const struct rs_agent_http *h);
/* The probe listener's port, or -1 without one. */
int rs_agent_http_probe_port(const struct rs_agent_http *h);
/* main.c: true once every probe family is attached, false while detaching. */
void rs_agent_http_set_ready(struct rs_agent_http *h, bool attached);
/* main.c: family (a static string) attached (err 0) or failed with -errno;
 * shown in /readyz and raysense_agent_probe_family_attached. */
void rs_agent_http_set_family(struct rs_agent_http *h, const char *family, int err);
void rs_agent_http_stop(struct rs_agent_http *h);

#endif
