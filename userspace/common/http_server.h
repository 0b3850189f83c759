/* http_server.h -- small routing layer over libmicrohttpd for the agent's and
 * the controller's HTTP endpoints.
 *
 * The server owns request parsing (libmicrohttpd), request-body limits (413),
 * gzip request bodies, gzip responses for clients that accept them, 404/405,
 * connection limits and timeouts. Handlers run on a thread pool, so they must
 * be thread-safe; they fill a response with a malloc'd body that the server
 * frees. */
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

struct rs_http_route {
	const char *method;         /* "GET" or "POST" */
	const char *path;           /* exact match */
	rs_http_handler_fn fn;
	void *ctx;
};

struct rs_http_server_config {
	const char *host;           /* numeric address, e.g. "0.0.0.0", "127.0.0.1", "::" */
	int port;                   /* 0 = any free port (see rs_http_server_port) */
	const struct rs_http_route *routes;
	size_t n_routes;
	size_t max_body;            /* request body limit; default 1 MiB */
	unsigned threads;           /* default 4 */
	unsigned conn_limit;        /* default 256 */
	unsigned conn_timeout_s;    /* idle connection timeout; default 10 */
};

struct rs_http_server;

/* Returns 0 or -errno (-EADDRINUSE, -EINVAL for a bad host, ...). */
int rs_http_server_start(const struct rs_http_server_config *cfg,
			 struct rs_http_server **out);
int rs_http_server_port(const struct rs_http_server *srv);
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
