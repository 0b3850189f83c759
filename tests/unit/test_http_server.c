/* test_http_server.c -- the HTTP server's defences against hostile clients:
 * the deadline watch on its own (injected clock and expire hook: expiry,
 * restart after a completed request, one expiry per entry, removal), then a
 * real server on loopback: the authorize hook answers 401 on the headers
 * without the body being read, Content-Length over the limit is 413 before
 * the body, a request whose headers stall is closed at the deadline, a
 * trickled body gets 408, the per-address limit closes extra connections at
 * once, and the probe listener serves only the probe routes. */
#include "check.h"
#include "common/http_deadline.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int expired_fds[8];
static enum rs_deadline_phase expired_phases[8];
static size_t n_expired;

static void record_expire(int fd, enum rs_deadline_phase phase, void *arg)
{
	(void)arg;
	if (n_expired < 8) {
		expired_phases[n_expired] = phase;
		expired_fds[n_expired++] = fd;
	}
}

static void test_watch(void)
{
	struct rs_deadline_watch *w = NULL;
	struct rs_deadline_entry *a, *b, *c;

	CHECK(rs_deadline_watch_create(0, record_expire, NULL, &w) == 0, "create");
	if (!w)
		return;
	a = rs_deadline_add(w, 11, 5.0, 100.0);
	b = rs_deadline_add(w, 12, 5.0, 101.0);
	c = rs_deadline_add(w, 13, 2.0, 100.0);
	CHECK(a && b && c, "add");
	CHECK(rs_deadline_enter(w, a, RS_DEADLINE_BODY, 105.0), "at the deadline itself: in time");
	CHECK(rs_deadline_sweep(w, 102.5) == 1 && n_expired == 1 && expired_fds[0] == 13 &&
	      expired_phases[0] == RS_DEADLINE_HEADERS,
	      "the short-deadline entry expires first, in its headers: %zu", n_expired);
	rs_deadline_restart(w, a, 104.0); /* a request completed: a fresh 5 s */
	CHECK(rs_deadline_sweep(w, 106.5) == 1 && expired_fds[1] == 12, "b expired, a restarted");
	CHECK(rs_deadline_sweep(w, 107.0) == 0, "each entry expires once");
	CHECK(!rs_deadline_enter(w, c, RS_DEADLINE_ANSWER, 0.0), "an expired entry stays expired");
	CHECK(rs_deadline_enter(w, a, RS_DEADLINE_BODY, 108.0), "a reads its body in time");
	CHECK(!rs_deadline_enter(w, a, RS_DEADLINE_BODY, 109.5) && n_expired == 3 &&
	      expired_fds[2] == 11 && expired_phases[2] == RS_DEADLINE_BODY,
	      "a late body expires at once, in its body phase (for the 408)");
	CHECK(rs_deadline_sweep(w, 200.0) == 0 && n_expired == 3, "three expiries in all");
	rs_deadline_remove(w, b);
	rs_deadline_remove(w, NULL);
	CHECK(rs_deadline_enter(w, NULL, RS_DEADLINE_BODY, 1e9), "untracked: never expires");
	rs_deadline_restart(w, NULL, 0);
	rs_deadline_watch_destroy(w); /* frees a and c */
}

static atomic_int handler_calls;

static void h_ok(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	CHECK(req->principal && !strcmp(req->principal, ctx ? "tester" : ""),
	      "the handler sees whom the authorize hook named (nobody without one)");
	atomic_fetch_add(&handler_calls, 1);
	rs_http_reply_text(resp, 200, "text/plain", strdup("ok\n"), 3);
}

static bool auth_token(const struct rs_http_request *req, struct rs_http_response *resp,
		       void *ctx, char *principal)
{
	CHECK(req->body_len == 0 && !req->body[0], "authorize runs before the body");
	if (rs_http_bearer_ok(req, ctx)) {
		snprintf(principal, RS_HTTP_PRINCIPAL_MAX, "tester");
		return true;
	}
	rs_http_reply_error(resp, 401, "missing or wrong bearer token");
	return false;
}

static int connect_to(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send `req`, then read until the server closes or timeout_ms passes.
 * Returns the answer's status (0 when closed without one, -1 on timeout);
 * *took_s is how long that was. */
static int exchange(int port, const char *req, int timeout_ms, double *took_s)
{
	char buf[1024] = { 0 };
	size_t len = 0;
	double t0 = rs_now_mono();
	int fd = connect_to(port), status = -1;

	if (fd < 0)
		return -2;
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		status = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = timeout_ms - (int)((rs_now_mono() - t0) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0) {
			status = len > 9 ? atoi(buf + 9) : 0;
			break;
		}
		len += (size_t)n;
	}
	*took_s = rs_now_mono() - t0;
	close(fd);
	return status;
}

static void test_server_early_answers(int port)
{
	double took;
	int st;

	atomic_store(&handler_calls, 0);
	st = exchange(port, "POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", 2000, &took);
	CHECK(st == 401 && took < 1.0, "no token: 401 without the body (%d, %.2fs)", st, took);
	st = exchange(port, "POST /in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
		      "Content-Encoding: gzip\r\nContent-Length: 500\r\n\r\n", 2000, &took);
	CHECK(st == 401 && took < 1.0, "wrong token: 401 without the body (%d, %.2fs)", st, took);
	st = exchange(port, "POST /in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
		      "Content-Length: 100000\r\n\r\n", 2000, &took);
	CHECK(st == 413 && took < 1.0, "declared size over the limit: 413 at once (%d)", st);
	CHECK(atomic_load(&handler_calls) == 0, "no handler ran");
	st = exchange(port, "POST /in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
		      "Content-Length: 2\r\nConnection: close\r\n\r\n{}", 2000, &took);
	CHECK(st == 200 && atomic_load(&handler_calls) == 1, "right token: handled (%d)", st);
}

static void test_server_deadline(int port)
{
	double took;
	int st;

	st = exchange(port, "GET /ok HTTP/1.1\r\nHost: x\r\n", 3000, &took);
	CHECK(st == 0 && took > 0.7 && took < 1.5, "stalled headers closed at the deadline (%d, %.2fs)",
	      st, took);
	st = exchange(port, "POST /in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", 3000, &took);
	CHECK(st == 408 && took > 0.7 && took < 1.5, "a stalled body gets 408 (%d, %.2fs)", st, took);
}

static void test_server_trickle(int port)
{
	int fd = connect_to(port);
	char buf[256] = { 0 };
	double t0 = rs_now_mono();
	ssize_t n = 0;

	if (fd < 0)
		return;
	dprintf(fd, "POST /in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
	while (rs_now_mono() - t0 < 3.0 && n <= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (send(fd, "1\r\n \r\n", 6, MSG_NOSIGNAL) < 0)
			break;
		if (poll(&p, 1, 200) > 0)
			n = recv(fd, buf, sizeof(buf) - 1, 0);
	}
	CHECK(n > 0 && strncmp(buf, "HTTP/1.1 408", 12) == 0, "trickle cut with 408: '%.40s'", buf);
	CHECK(rs_now_mono() - t0 < 1.4, "at the deadline: %.2fs", rs_now_mono() - t0);
	close(fd);
}

/* True when the server closed fd (EOF or reset) within timeout_ms. */
static bool closed_by_server(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, timeout_ms) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void test_server_per_ip(int port)
{
	int fds[8], open = 0;

	usleep(300 * 1000); /* let the server reap the connections above */
	for (int i = 0; i < 8; i++)
		fds[i] = connect_to(port);
	for (int i = 0; i < 8; i++) {
		if (fds[i] < 0)
			continue;
		open += !closed_by_server(fds[i], 100);
		close(fds[i]);
	}
	CHECK(open == 4, "8 connections from one address, limit 4: %d kept open", open);
}

static void test_probe_listener(int probe)
{
	double took;

	CHECK(probe > 0, "probe port %d", probe);
	CHECK(exchange(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2000, &took) == 200,
	      "probe route on the probe listener");
	CHECK(exchange(probe, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2000,
		       &took) == 404, "other routes are not");
}

int main(void)
{
	static char token[] = "t0k";
	const struct rs_http_route routes[] = {
		{ "GET", "/ok", h_ok, NULL, NULL, false },
		{ "POST", "/in", h_ok, token, auth_token, false },
		{ "GET", "/healthz", h_ok, NULL, NULL, true },
	};
	struct rs_http_server_config cfg = {
		.host = "127.0.0.1", .routes = routes, .n_routes = 3, .max_body = 1024,
		.per_ip_limit = 4, .request_deadline_ms = 1000, .probe_listener = true,
		.probe_required = true,
	};
	struct rs_http_server *srv = NULL;

	rs_log_init("test", RS_LOG_ERROR);
	test_watch();
	CHECK(rs_http_server_start(&cfg, &srv) == 0, "server start");
	if (!srv)
		CHECK_EXIT();
	test_server_early_answers(rs_http_server_port(srv));
	test_server_deadline(rs_http_server_port(srv));
	test_server_trickle(rs_http_server_port(srv));
	test_server_per_ip(rs_http_server_port(srv));
	test_probe_listener(rs_http_server_probe_port(srv));
	rs_http_server_stop(srv);
	CHECK_EXIT();
}
