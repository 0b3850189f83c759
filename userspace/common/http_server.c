/* http_server.c -- libmicrohttpd routing, limits and gzip (see http_server.h). */
#include "common/http_server.h"
#include "common/gzip.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_THREADS 4
#define DEFAULT_CONN_LIMIT 256
#define DEFAULT_CONN_TIMEOUT_S 10
#define GZIP_MIN_BYTES 512 /* below this gzip costs more than it saves */

struct rs_http_server {
	struct MHD_Daemon *daemon;
	struct rs_http_route *routes;
	size_t n_routes;
	size_t max_body;
	int port;
};

/* Per-connection upload state, kept in MHD's *con_cls between calls. */
struct upload {
	char *buf;
	size_t len, cap;
	bool too_large;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n'))
		msg[--n] = '\0';
	rs_log(RS_LOG_WARN, "http server: %s", msg);
}

static enum MHD_Result upload_append(struct upload *up, const char *data, size_t n,
				     size_t max)
{
	if (up->too_large || up->len + n > max) {
		up->too_large = true;
		return MHD_YES; /* keep reading, answer 413 at the end */
	}
	if (up->len + n + 1 > up->cap) {
		size_t cap = up->cap ? up->cap : 4096;
		char *nbuf;

		while (cap < up->len + n + 1)
			cap *= 2;
		nbuf = realloc(up->buf, cap);
		if (!nbuf)
			return MHD_NO;
		up->buf = nbuf;
		up->cap = cap;
	}
	memcpy(up->buf + up->len, data, n);
	up->len += n;
	up->buf[up->len] = '\0';
	return MHD_YES;
}

static const struct rs_http_route *find_route(const struct rs_http_server *srv,
					      const char *method, const char *path,
					      bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < srv->n_routes; i++) {
		if (strcmp(srv->routes[i].path, path) != 0)
			continue;
		*path_known = true;
		if (strcmp(srv->routes[i].method, method) == 0)
			return &srv->routes[i];
	}
	return NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *conn,
				     struct rs_http_response *resp, bool accept_gzip)
{
	struct MHD_Response *r;
	char *body = resp->body;
	size_t len = resp->body_len;
	bool gzipped = false;
	enum MHD_Result ret;

	if (accept_gzip && len >= GZIP_MIN_BYTES) {
		char *gz;
		size_t gz_len;

		if (rs_gzip_compress(body, len, &gz, &gz_len) == 0) {
			free(body);
			body = gz;
			len = gz_len;
			gzipped = true;
		}
	}
	resp->body = NULL;
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type : "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (gzipped)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool decode_body(struct upload *up, const char *encoding, size_t max,
			struct rs_http_response *resp)
{
	char *plain;
	size_t plain_len;
	int err;

	if (!encoding || strcasecmp(encoding, "identity") == 0)
		return true;
	if (strcasecmp(encoding, "gzip") != 0) {
		rs_http_reply_error(resp, 415, "unsupported Content-Encoding '%s'", encoding);
		return false;
	}
	err = rs_gzip_decompress(up->buf ? up->buf : "", up->len, max, &plain, &plain_len);
	if (err == -EFBIG) {
		rs_http_reply_error(resp, 413, "decompressed body larger than %zu bytes", max);
		return false;
	}
	if (err) {
		rs_http_reply_error(resp, 400, "corrupt or truncated gzip body");
		return false;
	}
	free(up->buf);
	up->buf = plain;
	up->len = plain_len;
	up->cap = plain_len + 1;
	return true;
}

static void dispatch(struct rs_http_server *srv, struct MHD_Connection *conn,
		     const char *method, const char *url, struct upload *up,
		     struct rs_http_response *resp, bool *accept_gzip)
{
	const char *encoding;
	const struct rs_http_route *route;
	struct rs_http_request req = { 0 };
	bool path_known;

	*accept_gzip = rs_accepts_gzip(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	if (up->too_large) {
		rs_http_reply_error(resp, 413, "request body larger than %zu bytes", srv->max_body);
		return;
	}
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	route = find_route(srv, method, url, &path_known);
	if (!route) {
		if (path_known)
			rs_http_reply_error(resp, 405, "method %s not allowed on %s", method, url);
		else
			rs_http_reply_error(resp, 404, "no such path: %s", url);
		return;
	}
	encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					       MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (!decode_body(up, encoding, srv->max_body, resp))
		return;
	req.method = method;
	req.path = url;
	req.body = up->buf ? up->buf : "";
	req.body_len = up->len;
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION);
	req.accept_gzip = *accept_gzip;
	req.conn = conn;
	resp->status = 500;
	route->fn(&req, resp, route->ctx);
	if (!resp->body) {
		resp->body = calloc(1, 1);
		resp->body_len = 0;
	}
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct rs_http_server *srv = cls;
	struct upload *up = *con_cls;
	struct rs_http_response resp = { 0 };
	bool accept_gzip = false;

	(void)version;
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size) {
		enum MHD_Result r = upload_append(up, upload_data, *upload_data_size,
						  srv->max_body);
		*upload_data_size = 0;
		return r;
	}
	dispatch(srv, conn, method, url, up, &resp, &accept_gzip);
	return send_response(conn, &resp, accept_gzip);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

static int resolve_bind_addr(const char *host, int port, struct sockaddr_storage *ss,
			     bool *ipv6)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*ipv6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ipv6 = true;
		return 0;
	}
	return -EINVAL;
}

static int bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int rs_http_server_start(const struct rs_http_server_config *cfg,
			 struct rs_http_server **out)
{
	struct rs_http_server *srv;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_USE_AUTO;
	bool ipv6;
	int err;

	if (resolve_bind_addr(cfg->host ? cfg->host : "0.0.0.0", cfg->port, &ss, &ipv6))
		return -EINVAL;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*srv->routes));
	if (!srv->routes) {
		free(srv);
		return -ENOMEM;
	}
	memcpy(srv->routes, cfg->routes, cfg->n_routes * sizeof(*srv->routes));
	srv->n_routes = cfg->n_routes;
	srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	srv->daemon = MHD_start_daemon(
		flags, (uint16_t)cfg->port, NULL, NULL, access_handler, srv,
		/* The logger must be the first option, or MHD logs the options
		 * before it to stderr in its own format. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : DEFAULT_THREADS),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->conn_limit ? cfg->conn_limit : DEFAULT_CONN_LIMIT),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->conn_timeout_s ? cfg->conn_timeout_s : DEFAULT_CONN_TIMEOUT_S),
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		err = errno ? -errno : -EADDRINUSE;
		free(srv->routes);
		free(srv);
		return err;
	}
	srv->port = bound_port(srv->daemon);
	*out = srv;
	return 0;
}

int rs_http_server_port(const struct rs_http_server *srv) { return srv->port; }

void rs_http_server_stop(struct rs_http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv->routes);
	free(srv);
}

const char *rs_http_query(const struct rs_http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool rs_http_bearer_ok(const struct rs_http_request *req, const char *token)
{
	static const char prefix[] = "Bearer ";
	const char *got;
	size_t want_len, got_len;
	unsigned char diff = 0;

	if (!token || !*token || !req->authorization)
		return false;
	if (strncmp(req->authorization, prefix, sizeof(prefix) - 1) != 0)
		return false;
	got = req->authorization + sizeof(prefix) - 1;
	want_len = strlen(token);
	got_len = strlen(got);
	for (size_t i = 0; i < want_len; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return diff == 0 && got_len == want_len;
}

void rs_http_reply_json(struct rs_http_response *resp, int status, cJSON *json)
{
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;

	cJSON_Delete(json);
	if (!text) {
		resp->status = 500;
		resp->content_type = "application/json";
		resp->body = strdup("{\"error\":\"out of memory\"}");
		resp->body_len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = text;
	resp->body_len = strlen(text);
}

void rs_http_reply_text(struct rs_http_response *resp, int status,
			const char *content_type, char *body, size_t len)
{
	resp->status = status;
	resp->content_type = content_type;
	resp->body = body;
	resp->body_len = len;
}

void rs_http_reply_error(struct rs_http_response *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *obj = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (obj) {
		cJSON_AddStringToObject(obj, "error", msg);
		cJSON_AddNumberToObject(obj, "status", status);
	}
	rs_http_reply_json(resp, status, obj);
	resp->status = status;
}
