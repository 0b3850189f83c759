/* http_server.c -- libmicrohttpd routing, limits and gzip (see http_server.h). */
#include "common/http_server.h"
#include "common/gzip.h"
#include "common/http_deadline.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_THREADS 4
#define DEFAULT_CONN_TIMEOUT_S 10
#define GZIP_MIN_BYTES 512 /* below this gzip costs more than it saves */
#define SWEEP_PERIOD_MS 100 /* how late past its deadline a connection may be cut */
#define LOG_BURST 5        /* libmicrohttpd messages per second, the rest counted */

struct rs_http_server;

/* One libmicrohttpd daemon: the main one, or the probe listener. */
struct listener {
	struct rs_http_server *srv;
	struct MHD_Daemon *daemon;
	bool probe_only;            /* serves only the routes marked `probe` */
	double deadline_s;
	int port;
};

struct rs_http_server {
	struct listener main, probe;
	struct rs_deadline_watch *watch;
	struct rs_http_route *routes;
	size_t n_routes;
	size_t max_body;
};

/* Per-request state, kept in MHD's *con_cls between calls. */
struct upload {
	const struct rs_http_route *route;
	char *buf;
	size_t len, cap;
	bool too_large;
	char principal[RS_HTTP_PRINCIPAL_MAX];	/* from the route's authorize hook */
};

/* An attack makes libmicrohttpd log once per refused connection: let
 * LOG_BURST messages a second through and count the others. */
static bool log_allowed(unsigned long *suppressed)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static double window;
	static unsigned in_window;
	static unsigned long dropped;
	double now = rs_now_mono();
	bool ok;

	pthread_mutex_lock(&lock);
	*suppressed = 0;
	if (now - window >= 1.0) {
		*suppressed = dropped;
		dropped = 0;
		window = now;
		in_window = 0;
	}
	ok = in_window++ < LOG_BURST;
	if (!ok)
		dropped++;
	pthread_mutex_unlock(&lock);
	return ok;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	unsigned long suppressed;
	char msg[512];
	bool ok = log_allowed(&suppressed);

	(void)cls;
	if (suppressed)
		rs_log(RS_LOG_WARN, "http server: %lu messages suppressed in the last second",
		       suppressed);
	if (!ok)
		return;
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

static const struct rs_http_route *find_route(const struct listener *l,
					      const char *method, const char *path,
					      bool *path_known)
{
	const struct rs_http_server *srv = l->srv;

	*path_known = false;
	for (size_t i = 0; i < srv->n_routes; i++) {
		if (l->probe_only && !srv->routes[i].probe)
			continue;
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

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static void fill_request(struct MHD_Connection *conn, const char *method, const char *url,
			 const struct upload *up, struct rs_http_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = url;
	req->body = up->buf ? up->buf : "";
	req->body_len = up->len;
	req->authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
	req->principal = up->principal;
	req->accept_gzip = rs_accepts_gzip(header(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	req->conn = conn;
}

static bool declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end = NULL;
	unsigned long long n;

	if (!cl)
		return false;
	errno = 0;
	n = strtoull(cl, &end, 10);
	return end != cl && (errno == ERANGE || n > max);
}

/* On the headers alone, before any body byte: route (404/405), declared size
 * (413) and the route's authorize hook. True when `resp` holds the answer. */
static bool early_answer(struct listener *l, struct MHD_Connection *conn, const char *method,
			 const char *url, struct upload *up, struct rs_http_response *resp)
{
	struct rs_http_request req;
	bool path_known;

	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	up->route = find_route(l, method, url, &path_known);
	if (!up->route) {
		if (path_known)
			rs_http_reply_error(resp, 405, "method %s not allowed on %s", method, url);
		else
			rs_http_reply_error(resp, 404, "no such path: %s", url);
		return true;
	}
	if (declared_too_large(conn, l->srv->max_body)) {
		rs_http_reply_error(resp, 413, "request body larger than %zu bytes", l->srv->max_body);
		return true;
	}
	if (!up->route->authorize)
		return false;
	fill_request(conn, method, url, up, &req);
	resp->status = 500;
	up->principal[0] = '\0';
	if (up->route->authorize(&req, resp, up->route->ctx, up->principal)) {
		up->principal[sizeof(up->principal) - 1] = '\0';
		return false;
	}
	return true;
}

static void dispatch(struct rs_http_server *srv, struct MHD_Connection *conn,
		     const char *method, const char *url, struct upload *up,
		     struct rs_http_response *resp, struct rs_http_request *req)
{
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	fill_request(conn, method, url, up, req);
	if (up->too_large) {
		rs_http_reply_error(resp, 413, "request body larger than %zu bytes", srv->max_body);
		return;
	}
	if (!decode_body(up, header(conn, MHD_HTTP_HEADER_CONTENT_ENCODING), srv->max_body, resp))
		return;
	req->body = up->buf ? up->buf : "";
	req->body_len = up->len;
	resp->status = 500;
	up->route->fn(req, resp, up->route->ctx);
}

static struct rs_deadline_entry *conn_deadline(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The deadline watch's expire hook. A request whose body is late gets a 408
 * written on the socket (libmicrohttpd cannot queue a reply mid-body); then
 * the socket is shut down and libmicrohttpd, seeing EOF, closes it. */
static void expire_connection(int fd, enum rs_deadline_phase phase, void *arg)
{
#define BODY_408 "{\"error\":\"request deadline exceeded\",\"status\":408}"
	static const char msg[] = "HTTP/1.1 408 Request Timeout\r\n"
				  "Connection: close\r\n"
				  "Content-Type: application/json\r\n"
				  "Content-Length: 50\r\n\r\n" BODY_408;
	_Static_assert(sizeof(BODY_408) - 1 == 50, "Content-Length of the 408 body");

	(void)arg;
	if (phase == RS_DEADLINE_BODY && send(fd, msg, sizeof(msg) - 1,
					      MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		rs_debug("http server: cannot send 408: %s", strerror(errno));
	(void)shutdown(fd, SHUT_RDWR); /* the peer may be gone already */
}

/* Move the request to `phase`; false (drop the request) past its deadline. */
static bool in_time(struct listener *l, struct MHD_Connection *conn,
		    enum rs_deadline_phase phase)
{
	return rs_deadline_enter(l->srv->watch, conn_deadline(conn), phase, rs_now_mono());
}

static enum MHD_Result begin_request(struct listener *l, struct MHD_Connection *conn,
				     const char *method, const char *url, void **con_cls)
{
	struct upload *up = calloc(1, sizeof(*up));
	struct rs_http_response resp = { 0 };
	bool answered;

	if (!up)
		return MHD_NO;
	*con_cls = up;
	answered = early_answer(l, conn, method, url, up, &resp);
	if (!in_time(l, conn, answered ? RS_DEADLINE_ANSWER : RS_DEADLINE_BODY)) {
		free(resp.body);
		return MHD_NO;
	}
	return answered ? send_response(conn, &resp, false) : MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	struct upload *up = *con_cls;
	struct rs_http_response resp = { 0 };
	struct rs_http_request req;

	(void)version;
	if (!up)
		return begin_request(l, conn, method, url, con_cls);
	if (!in_time(l, conn, *upload_data_size ? RS_DEADLINE_BODY : RS_DEADLINE_ANSWER))
		return MHD_NO;
	if (*upload_data_size) {
		enum MHD_Result r = upload_append(up, upload_data, *upload_data_size,
						  l->srv->max_body);
		*upload_data_size = 0;
		return r;
	}
	dispatch(l->srv, conn, method, url, up, &resp, &req);
	if (!resp.body) {
		resp.body = calloc(1, 1);
		resp.body_len = 0;
	}
	return send_response(conn, &resp, req.accept_gzip);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	struct upload *up = *con_cls;

	(void)toe;
	/* A keep-alive connection's next request gets a full deadline. */
	rs_deadline_restart(l->srv->watch, conn_deadline(conn), rs_now_mono());
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

static void connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
			     enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* Before libmicrohttpd closes the socket (see http_deadline.h). */
		rs_deadline_remove(l->srv->watch, *socket_context);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	*socket_context = ci ? rs_deadline_add(l->srv->watch, ci->connect_fd, l->deadline_s,
					       rs_now_mono())
			     : NULL;
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

struct listen_params {
	const char *host;
	int port;
	unsigned threads, conn_limit, per_ip_limit, timeout_s;
};

/* Start one daemon on p->host:p->port; 0 or -errno. */
static int start_listener(struct listener *l, const struct listen_params *p)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	bool ipv6;

	if (resolve_bind_addr(p->host, p->port, &ss, &ipv6))
		return -EINVAL;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	/* A pool of one (or none) is asked for by leaving the option out: MHD
	 * warns about 0 and 1. */
	struct MHD_OptionItem pool[] = {
		{ p->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, p->threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	errno = 0;
	l->daemon = MHD_start_daemon(
		flags, (uint16_t)p->port, NULL, NULL, access_handler, l,
		/* The logger must be the first option, or MHD logs the options
		 * before it to stderr in its own format. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_CONNECTION_LIMIT, p->conn_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, p->per_ip_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, p->timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, l,
		MHD_OPTION_NOTIFY_CONNECTION, connection_event, l,
		MHD_OPTION_END);
	if (!l->daemon)
		return errno ? -errno : -EADDRINUSE;
	l->port = bound_port(l->daemon);
	return 0;
}

static unsigned or_default(unsigned v, unsigned def) { return v ? v : def; }

/* The probe listener: one thread, its own few slots, a short deadline. */
static int start_probe_listener(struct rs_http_server *srv,
				const struct rs_http_server_config *cfg,
				const struct listen_params *main_params)
{
	struct listen_params p = {
		.host = cfg->probe_host ? cfg->probe_host : main_params->host,
		.port = cfg->probe_port,
		.threads = 1,
		.conn_limit = RS_HTTP_PROBE_CONN_LIMIT,
		.per_ip_limit = RS_HTTP_PROBE_PER_IP_LIMIT,
		.timeout_s = main_params->timeout_s,
	};
	double deadline_ms = or_default(cfg->request_deadline_ms, RS_HTTP_DEFAULT_DEADLINE_MS);
	int err;

	srv->probe.srv = srv;
	srv->probe.probe_only = true;
	srv->probe.port = -1;
	srv->probe.deadline_s = (deadline_ms < RS_HTTP_PROBE_DEADLINE_MS ? deadline_ms
					: RS_HTTP_PROBE_DEADLINE_MS) / 1000.0;
	if (!cfg->probe_listener)
		return 0;
	err = start_listener(&srv->probe, &p);
	if (err && !cfg->probe_required) {
		rs_warn("http server: no probe listener on %s:%d: %s; /healthz and /readyz are "
			"served on the main port only", p.host, p.port, strerror(-err));
		srv->probe.port = -1;
		return 0;
	}
	if (err)
		rs_error("http server: cannot listen on the probe port %s:%d: %s", p.host, p.port,
			 strerror(-err));
	return err;
}

static void free_server(struct rs_http_server *srv)
{
	/* Daemons first: closing their connections empties the watch. */
	if (srv->probe.daemon)
		MHD_stop_daemon(srv->probe.daemon);
	if (srv->main.daemon)
		MHD_stop_daemon(srv->main.daemon);
	rs_deadline_watch_destroy(srv->watch);
	free(srv->routes);
	free(srv);
}

static struct rs_http_server *alloc_server(const struct rs_http_server_config *cfg)
{
	struct rs_http_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*srv->routes));
	if (!srv->routes) {
		free(srv);
		return NULL;
	}
	memcpy(srv->routes, cfg->routes, cfg->n_routes * sizeof(*srv->routes));
	srv->n_routes = cfg->n_routes;
	srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	srv->main.srv = srv;
	srv->main.deadline_s =
		or_default(cfg->request_deadline_ms, RS_HTTP_DEFAULT_DEADLINE_MS) / 1000.0;
	return srv;
}

int rs_http_server_start(const struct rs_http_server_config *cfg,
			 struct rs_http_server **out)
{
	struct listen_params p = {
		.host = cfg->host ? cfg->host : "0.0.0.0",
		.port = cfg->port,
		.threads = or_default(cfg->threads, DEFAULT_THREADS),
		.conn_limit = or_default(cfg->conn_limit, RS_HTTP_DEFAULT_CONN_LIMIT),
		.per_ip_limit = or_default(cfg->per_ip_limit, RS_HTTP_DEFAULT_PER_IP_LIMIT),
		.timeout_s = or_default(cfg->conn_timeout_s, DEFAULT_CONN_TIMEOUT_S),
	};
	struct rs_http_server *srv;
	int err;

	srv = alloc_server(cfg);
	if (!srv)
		return -ENOMEM;
	err = rs_deadline_watch_create(SWEEP_PERIOD_MS, expire_connection, NULL, &srv->watch);
	if (!err)
		err = start_listener(&srv->main, &p);
	if (!err)
		err = start_probe_listener(srv, cfg, &p);
	if (err) {
		free_server(srv);
		return err;
	}
	*out = srv;
	return 0;
}

int rs_http_server_port(const struct rs_http_server *srv) { return srv->main.port; }

int rs_http_server_probe_port(const struct rs_http_server *srv) { return srv->probe.port; }

void rs_http_server_stop(struct rs_http_server *srv)
{
	if (srv)
		free_server(srv);
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
