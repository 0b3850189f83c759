/* http_server.h -- small routing layer over libmicrohttpd for the agent's and
 * the controller's HTTP endpoints.
 *
 * The server owns request parsing (libmicrohttpd), request-body limits (413),
 * gzip request bodies, gzip responses for clients that accept them, 404/405,
 * connection limits and timeouts. Handlers run on a thread pool, so they must
 * be thread-safe; they fill a response with a malloc'd body that the server
 * frees.
 *
 * Hostile clients (docs/controller-config.md, "HTTP limits"):
 *  - at most per_ip_limit connections per client address (more are closed
 *    at once), conn_limit in all;
 *  - each request (headers, body and answer) must finish within
 *    request_deadline_ms of the connection's accept or of the previous
 *    request's end (http_deadline.h); a late body gets a raw 408 and the
 *    connection is closed, a late header block is closed;
 *  - a route's authorize hook runs on the headers, before any body byte is
 *    read or inflated, and so does the body-size check on Content-Length;
 *  - routes marked `probe` (/healthz, /readyz) are also served by a second,
 *    small listener (probe_port) with its own connection slots, so that
 *    Kubernetes probes pointed there answer while the main port is flooded. */
#ifndef RAYSENSE_HTTP_SERVER_H
#define RAYSENSE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct MHD_Connection;

struct rs_http_request {
	const char *method;         /* "GET" for HEAD too */
	const char *path;           /* without the query string */
	const char *body;           /* decoded (gunzipped) body, NUL-terminated; "" if none */
	size_t body_len;
	const char *authorization;  /* Authorization header or NULL */
	const char *principal;      /* what the route's authorize hook named ("" if none) */
	bool accept_gzip;
	struct MHD_Connection *conn;
};

struct rs_http_response {
	int status;
	const char *content_type;   /* static string; default application/json */
	char *body;                 /* malloc'd; freed by the server */
	size_t body_len;
};

typedef void (*rs_http_handler_fn)(const struct rs_http_request *req,
				   struct rs_http_response *resp, void *ctx);
/* Runs on the headers alone (req->body is ""): return true to go on and read
 * the body, or false with `resp` filled (say 401), which is sent without
 * reading the body; the connection is then closed.  It may name who sent
 * the request in `principal` (NUL-terminated, at most RS_HTTP_PRINCIPAL_MAX
 * bytes with the NUL); the handler then sees it as req->principal. */
#define RS_HTTP_PRINCIPAL_MAX 256
typedef bool (*rs_http_authorize_fn)(const struct rs_http_request *req,
				     struct rs_http_response *resp, void *ctx,
				     char *principal);

struct rs_http_route {
	const char *method;         /* "GET" or "POST" */
	const char *path;           /* exact match */
	rs_http_handler_fn fn;
	void *ctx;
	rs_http_authorize_fn authorize; /* optional; gets ctx too */
	bool probe;                 /* also served on the probe listener */
};

#define RS_HTTP_DEFAULT_CONN_LIMIT 256
#define RS_HTTP_DEFAULT_PER_IP_LIMIT 32
#define RS_HTTP_DEFAULT_DEADLINE_MS 5000
#define RS_HTTP_PROBE_CONN_LIMIT 32      /* the probe listener's own slots */
#define RS_HTTP_PROBE_PER_IP_LIMIT 8
#define RS_HTTP_PROBE_DEADLINE_MS 2000   /* or request_deadline_ms if lower */

struct rs_http_server_config {
	const char *host;           /* numeric address, e.g. "0.0.0.0", "127.0.0.1", "::" */
	int port;                   /* 0 = any free port (see rs_http_server_port) */
	const struct rs_http_route *routes;
	size_t n_routes;
	size_t max_body;            /* request body limit; default 1 MiB */
	unsigned threads;           /* default 4 */
	unsigned conn_limit;        /* default 256 */
	unsigned conn_timeout_s;    /* idle connection timeout; default 10 */
	unsigned per_ip_limit;      /* connections per client address; default 32 */
	unsigned request_deadline_ms; /* total time per request; default 5000 */
	bool probe_listener;        /* serve the `probe` routes on probe_host:probe_port too */
	const char *probe_host;     /* default: host */
	int probe_port;             /* 0 = any free port (see rs_http_server_probe_port) */
	bool probe_required;        /* fail when the probe port cannot be bound; else warn */
};

struct rs_http_server;

/* Returns 0 or -errno (-EADDRINUSE, -EINVAL for a bad host, ...). */
int rs_http_server_start(const struct rs_http_server_config *cfg,
			 struct rs_http_server **out);
int rs_http_server_port(const struct rs_http_server *srv);
/* The probe listener's port, or -1 without one. */
int rs_http_server_probe_port(const struct rs_http_server *srv);
void rs_http_server_stop(struct rs_http_server *srv);

/* Query-string argument, or NULL. */
const char *rs_http_query(const struct rs_http_request *req, const char *key);
/* True when `req` carries "Authorization: Bearer <token>" (constant-time compare). */
bool rs_http_bearer_ok(const struct rs_http_request *req, const char *token);

/* Response helpers; they take ownership of what they are given. */
void rs_http_reply_json(struct rs_http_response *resp, int status, cJSON *json);
void rs_http_reply_text(struct rs_http_response *resp, int status,
			const char *content_type, char *body, size_t len);
void rs_http_reply_error(struct rs_http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
