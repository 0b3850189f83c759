/* api.c -- HTTP handlers of the controller (see api.h). */
#include "common/util.h"
#include "controller/api.h"

#include "controller/auth/agent_auth.h"

#include "common/http_server.h"
#include "common/prom_text.h"
#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct api_ctx {
	struct controller *c;
	const char *token;
	struct agent_auth *auth;
	double max_push_rate;
};

/* One context for every route; lives as long as the process. */
static struct api_ctx g_ctx;

static void h_metrics(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	struct api_ctx *a = ctx;
	char *text = controller_metrics_text(a->c), *more = NULL, *all = NULL;

	(void)req;
	if (text && a->auth && (more = agent_auth_metrics_text(a->auth)) &&
	    (all = malloc(strlen(text) + strlen(more) + 1))) {
		strcpy(all, text);
		strcat(all, more);
	}
	if (a->auth) {
		free(text);
		text = all;
	}
	free(more);
	if (!text) {
		rs_http_reply_error(resp, 500, "out of memory");
		return;
	}
	rs_http_reply_text(resp, 200, RS_PROM_CONTENT_TYPE, text, strlen(text));
}

static void h_status(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	struct api_ctx *a = ctx;

	(void)req;
	rs_http_reply_json(resp, 200, controller_status_json(a->c));
}

static void h_decisions(const struct rs_http_request *req, struct rs_http_response *resp,
			void *ctx)
{
	struct api_ctx *a = ctx;
	const char *l = rs_http_query(req, "limit");
	char *end = NULL;
	long limit = 0;

	if (l) {
		limit = strtol(l, &end, 10);
		if (!*l || *end || limit < 0 || limit > 100000) {
			rs_http_reply_error(resp, 400, "limit must be an integer in [0, 100000]");
			return;
		}
	}
	rs_http_reply_json(resp, 200, controller_decisions_json(a->c, (size_t)limit));
}

/* On the headers, before the (gzip) body is read or inflated. */
static bool auth_signals(const struct rs_http_request *req, struct rs_http_response *resp,
			 void *ctx, char *principal)
{
	struct api_ctx *a = ctx;
	char msg[512];
	int st;

	if (a->auth) {
		st = agent_auth_check(a->auth, req->authorization, principal,
				      RS_HTTP_PRINCIPAL_MAX, msg, sizeof(msg));
		if (!st)
			return true;
		rs_http_reply_error(resp, st, "%s", msg);
		return false;
	}
	if (!a->token || rs_http_bearer_ok(req, a->token))
		return true;
	rs_warn("signals: rejected a snapshot with a missing or wrong bearer token");
	rs_http_reply_error(resp, 401, "missing or wrong bearer token");
	return false;
}

/* The 202 answer to a push: asks for a longer push interval when the live
 * agents at 1 Hz would push more than max_push_rate a second. */
static cJSON *push_answer(const struct api_ctx *a)
{
	cJSON *o = cJSON_CreateObject();
	double interval;

	if (!o || a->max_push_rate <= 0)
		return o;
	interval = ceil((double)signals_live_count(controller_signals(a->c), rs_now_unix()) /
			a->max_push_rate);
	if (interval > CONTROLLER_MAX_ASKED_PUSH_INTERVAL_S)
		interval = CONTROLLER_MAX_ASKED_PUSH_INTERVAL_S;
	if (interval > 1 && !cJSON_AddNumberToObject(o, "push_interval_s", interval)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static void h_signals(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	struct api_ctx *a = ctx;
	char err[512];
	int rc;

	if (a->auth)
		rc = agent_auth_ingest(a->auth, controller_signals(a->c), req->principal, req->body,
				       req->body_len, rs_now_unix(), err, sizeof(err));
	else
		rc = signals_ingest(controller_signals(a->c), req->body, req->body_len,
				    rs_now_unix(), err, sizeof(err));
	if (rc == -EPERM) {	/* counted and logged by agent_auth */
		rs_http_reply_error(resp, 403, "%s", err);
		return;
	}
	if (rc == -EINVAL) {
		rs_warn("signals: rejected a snapshot: %s", err);
		rs_http_reply_error(resp, 400, "bad snapshot: %s", err);
		return;
	}
	if (rc) {
		rs_http_reply_error(resp, rc == -ENOSPC ? 507 : 500, "%s", err);
		return;
	}
	rs_http_reply_json(resp, 202, push_answer(a));
}

static void h_healthz(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	rs_http_reply_text(resp, 200, "text/plain", strdup("ok\n"), 3);
}

static void h_readyz(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	struct api_ctx *a = ctx;
	char why[1024];

	(void)req;
	if (controller_ready_why(a->c, why, sizeof(why)))
		rs_http_reply_text(resp, 200, "text/plain", strdup("ready\n"), 6);
	else
		rs_http_reply_error(resp, 503, "%s", why);
}

int controller_api_start(struct controller *c, const struct controller_api_config *cfg,
			 struct rs_http_server **out)
{
	static struct rs_http_route routes[] = {
		{ "GET", "/metrics", h_metrics, &g_ctx, NULL, false },
		{ "GET", "/api/v1/status", h_status, &g_ctx, NULL, false },
		{ "GET", "/api/v1/decisions", h_decisions, &g_ctx, NULL, false },
		{ "POST", "/api/v1/signals", h_signals, &g_ctx, auth_signals, false },
		{ "GET", "/healthz", h_healthz, &g_ctx, NULL, true },
		{ "GET", "/readyz", h_readyz, &g_ctx, NULL, true },
	};
	struct rs_http_server_config sc = {
		.host = cfg->host,
		.port = cfg->port,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
		.max_body = cfg->max_body ? cfg->max_body : (1u << 20),
		.per_ip_limit = cfg->per_ip_limit,
		.request_deadline_ms = cfg->request_deadline_ms,
		.probe_listener = cfg->probe_port >= 0,
		.probe_port = cfg->probe_port > 0 ? cfg->probe_port : cfg->port ? cfg->port + 1 : 0,
		/* An explicit --probe-listen must bind (the chart's probes point at
		 * it); the derived default only warns. */
		.probe_required = cfg->probe_port > 0,
	};
	int rc;

	g_ctx.c = c;
	g_ctx.token = cfg->token;
	g_ctx.auth = cfg->auth;
	g_ctx.max_push_rate = cfg->max_push_rate;
	rc = rs_http_server_start(&sc, out);
	if (!rc && rs_http_server_probe_port(*out) > 0)
		rs_info("/healthz and /readyz also on the probe listener %s:%d",
			cfg->host ? cfg->host : "0.0.0.0",
			rs_http_server_probe_port(*out));
	return rc;
}

void controller_api_stop(struct rs_http_server *srv)
{
	rs_http_server_stop(srv);
}

int controller_api_port(const struct rs_http_server *srv)
{
	return rs_http_server_port(srv);
}

int controller_api_probe_port(const struct rs_http_server *srv)
{
	return rs_http_server_probe_port(srv);
}
