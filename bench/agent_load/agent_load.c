/* agent_load.c -- N simulated agents pushing snapshots to one controller.
 *
 * Issue 16's load bench: every simulated agent POSTs a gzip snapshot to
 * /api/v1/signals once per --period seconds, as the real agent's push thread
 * does (one new connection per push, `Content-Encoding: gzip`, optional
 * bearer token, the headers libcurl sends for the agent, no
 * `Connection: close`).  The body is a real snapshot captured from a real
 * agent (bench/agent_load/run.py captures one), made into agent i's by
 * sim_snapshot.c (node name, hostname, Ray node ids) so that the controller
 * sees N distinct nodes.  Pushes are spread evenly over the period.  Each
 * agent connects from its own loopback address (127.1.x.y) so that the
 * controller's per-address connection limit applies per agent, as it would
 * across nodes.
 *
 * An agent whose previous push has not finished when its next one is due
 * skips that one (the real agent would queue it): counted as "late".  When
 * the controller's 202 answer asks for a longer push interval
 * (`push_interval_s`, docs/agent-load.md), that agent obeys it as the real
 * agent does (agent/push.c: at least --period, at most
 * RS_PUSH_MAX_REQUESTED_INTERVAL_S).
 *
 * The generator must cost little next to the controller, or on a 2-core
 * machine it measures itself.  Driven by libcurl (curl_multi, first with
 * curl_multi_perform, then event by event with curl_multi_socket_action) it
 * spent 170-380 µs of CPU per push, more than the controller, and at 5,000
 * agents it fell seconds behind its schedule and read the controller's
 * answers late (docs/agent-load.md, third round).  So it is a minimal
 * HTTP/1.1 client on one epoll set: each agent's request (headers and gzip
 * body) is built once, and a push is socket, bind, connect, one write, read
 * the answer (status line, Content-Length) and close.  The report gives the
 * generator's own CPU and how late it issued pushes behind their schedule
 * (issue_lag), so a reader can tell.
 *
 * Usage: agent_load --url URL --agents N --seconds S --snapshot FILE
 *                   [--period S] [--token-file F] [--timeout-ms MS] [--warmup S]
 * URL is http://IPv4:PORT/PATH.  Prints one JSON object on stdout: pushes,
 * accepted (2xx), rejected by HTTP status, transport errors (including
 * timeouts), late, p50/p99/max latency in ms, the same p50/p99 of the pushes
 * started after the first --warmup seconds (steady: every agent has had
 * the controller's answer by then), the issue lag (p99/max ms),
 * the generator's CPU (seconds, % of one core) and the push interval the
 * agents were last asked for (mean, max). */
#include "agent/push.h"
#include "common/cli.h"
#include "sim_snapshot.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "agent_load"
#define SNAPSHOT_MAX_BYTES (4u << 20)
#define HTTP_CODES 600
#define ANSWER_MAX 2048       /* the controller's answers to a push are < 1 KB */
#define EVENTS_PER_WAIT 512
#define TIMEOUT_SCAN_S 0.05   /* how often in-flight pushes are checked for timeout */

enum push_state { IDLE, CONNECTING, READING };

struct sim_agent {
	char *req;              /* request: headers and gzip body */
	size_t req_len, sent;
	struct sockaddr_in src;
	int fd;
	enum push_state state;
	double started, due, period;
	double next_due;        /* heap entries for another time are stale */
	char *ans;              /* the answer so far (ANSWER_MAX bytes) */
	size_t ans_len;
};

/* Min-heap of (due time, agent): which agent pushes next. */
struct due_heap {
	struct { double due; long i; } *v;
	size_t n;
};

struct load {
	const char *url;
	struct sockaddr_in dst;
	const char *path;
	long agents;
	double seconds, period;
	long timeout_ms;
	char *token;
	cJSON *templ;
	struct sim_agent *sims;
	struct due_heap heap;
	size_t heap_cap;
	int epfd;
	double *lat_ms, *lag_ms, *steady_ms;
	size_t lat_n, lat_cap, lag_n, lag_cap, steady_n, steady_cap;
	double t0, warmup_s;	/* pushes started warmup_s after t0 are "steady" */
	long long pushes, finished, late, transport_errors, by_code[HTTP_CODES];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(double **v, size_t *n, size_t *cap, double x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4096;
		double *p = realloc(*v, c * sizeof(*p));
		if (!p)
			return;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
}

static void heap_push(struct due_heap *h, double due, long i)
{
	size_t k = h->n++;

	while (k && h->v[(k - 1) / 2].due > due) {
		h->v[k] = h->v[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	h->v[k].due = due;
	h->v[k].i = i;
}

static void heap_pop(struct due_heap *h)
{
	size_t k = 0, n = --h->n;

	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h->v[c + 1].due < h->v[c].due)
			c++;
		if (h->v[n].due <= h->v[c].due)
			break;
		h->v[k] = h->v[c];
		k = c;
	}
	h->v[k] = h->v[n];
}

/* Agent i's request, built once: the controller keys agents by node name and
 * does not order snapshots by seq, and rendering 10,000 bodies a second
 * would cost the generator more CPU than the controller. */
static int build_request(struct load *ld, long i)
{
	struct sim_agent *a = &ld->sims[i];
	char host[INET_ADDRSTRLEN], auth[16500] = "";
	char *gz, *head = NULL;
	size_t gz_len;
	int err, n;

	if ((err = sim_snapshot_gzip(ld->templ, i, 1, &gz, &gz_len)))
		return err;
	if (ld->token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", ld->token);
	inet_ntop(AF_INET, &ld->dst.sin_addr, host, sizeof(host));
	/* What libcurl sends for the agent (common/http_client.c). */
	n = asprintf(&head, "POST %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: raysense-agent-load\r\n"
		     "Accept: */*\r\nAccept-Encoding: deflate, gzip\r\nContent-Encoding: gzip\r\n"
		     "%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		     ld->path, host, (unsigned)ntohs(ld->dst.sin_port), auth, gz_len);
	if (n < 0 || !(a->req = malloc((size_t)n + gz_len)) || !(a->ans = malloc(ANSWER_MAX))) {
		free(gz);
		free(head);
		return -ENOMEM;
	}
	memcpy(a->req, head, (size_t)n);
	memcpy(a->req + n, gz, gz_len);
	a->req_len = (size_t)n + gz_len;
	free(gz);
	free(head);
	a->src.sin_family = AF_INET;
	a->src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(i / 250) << 8) |
				       (unsigned)(i % 250 + 1));
	a->period = ld->period;
	return 0;
}

static void finish(struct load *ld, long i, long code)
{
	struct sim_agent *a = &ld->sims[i];

	double ms = (now_s() - a->started) * 1000.0;

	record(&ld->lat_ms, &ld->lat_n, &ld->lat_cap, ms);
	if (a->started >= ld->t0 + ld->warmup_s)
		record(&ld->steady_ms, &ld->steady_n, &ld->steady_cap, ms);
	if (code > 0 && code < HTTP_CODES)
		ld->by_code[code]++;
	else
		ld->transport_errors++;
	close(a->fd); /* also leaves the epoll set */
	a->fd = -1;
	a->state = IDLE;
	ld->finished++;
}

static int start_push(struct load *ld, long i)
{
	struct sim_agent *a = &ld->sims[i];
	struct epoll_event e = { .events = EPOLLOUT, .data.u64 = (uint64_t)i };
	int one = 1;

	a->started = now_s();
	record(&ld->lag_ms, &ld->lag_n, &ld->lag_cap, (a->started - a->due) * 1000.0);
	ld->pushes++;
	a->sent = a->ans_len = 0;
	a->state = CONNECTING;
	a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		return -errno;
	/* The port is picked at connect: ports are per (source, destination). */
	(void)setsockopt(a->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(a->fd, (struct sockaddr *)&a->src, sizeof(a->src)) ||
	    (connect(a->fd, (struct sockaddr *)&ld->dst, sizeof(ld->dst)) && errno != EINPROGRESS)) {
		finish(ld, i, 0);
		return 0;
	}
	if (epoll_ctl(ld->epfd, EPOLL_CTL_ADD, a->fd, &e))
		return -errno;
	return 0;
}

/* As agent/push.c obeys push_interval_s: never below --period, bounded
 * above, and on a change the next push comes at a random point of the new
 * period (at least --period away), which spreads the agents over it. */
static void follow_asked_period(struct load *ld, struct sim_agent *a, const char *body,
				size_t len)
{
	cJSON *doc = len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(doc, "push_interval_s");
	double want = cJSON_IsNumber(iv) ? iv->valuedouble : 0, period;

	cJSON_Delete(doc);
	if (want > RS_PUSH_MAX_REQUESTED_INTERVAL_S)
		want = RS_PUSH_MAX_REQUESTED_INTERVAL_S;
	period = want > ld->period ? want : ld->period;
	if (period == a->period || ld->heap.n >= ld->heap_cap)
		return;
	a->period = period;
	a->next_due = now_s() + ld->period +
		      (double)rand() / ((double)RAND_MAX + 1.0) * (period - ld->period);
	heap_push(&ld->heap, a->next_due, (long)(a - ld->sims));
}

/* The answer's status, once its head and Content-Length bytes of body are
 * in: 0 = not yet, -1 = not HTTP.  Asks the agent for a longer period if
 * a 2xx answer says push_interval_s. */
static long parse_answer(struct load *ld, struct sim_agent *a, bool eof)
{
	char *end, *cl;
	long code;
	size_t head_len, body_len = 0;

	a->ans[a->ans_len < ANSWER_MAX ? a->ans_len : ANSWER_MAX - 1] = '\0';
	if (strncmp(a->ans, "HTTP/1.", 7) || a->ans_len < 12)
		return eof || a->ans_len >= 12 ? -1 : 0;
	code = strtol(a->ans + 9, NULL, 10);
	if (!(end = strstr(a->ans, "\r\n\r\n")))
		return eof || a->ans_len >= ANSWER_MAX - 1 ? -1 : 0;
	head_len = (size_t)(end - a->ans) + 4;
	if ((cl = strcasestr(a->ans, "\r\nContent-Length:")) && cl < end)
		body_len = strtoul(cl + 17, NULL, 10);
	if (a->ans_len < head_len + body_len)
		return eof ? -1 : 0;
	if (code >= 200 && code < 300)
		follow_asked_period(ld, a, a->ans + head_len, body_len);
	return code;
}

static void on_event(struct load *ld, long i, uint32_t ev)
{
	struct sim_agent *a = &ld->sims[i];

	if (a->state == CONNECTING) {
		ssize_t w = write(a->fd, a->req + a->sent, a->req_len - a->sent);
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			finish(ld, i, 0);
			return;
		}
		a->sent += (size_t)w;
		if (a->sent < a->req_len)
			return;
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
		a->state = READING;
		if (epoll_ctl(ld->epfd, EPOLL_CTL_MOD, a->fd, &e))
			finish(ld, i, 0);
		return;
	}
	if (a->state != READING)
		return;
	for (;;) {
		ssize_t r = read(a->fd, a->ans + a->ans_len, ANSWER_MAX - 1 - a->ans_len);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r > 0)
			a->ans_len += (size_t)r;
		long code = parse_answer(ld, a, r <= 0 || a->ans_len >= ANSWER_MAX - 1);
		if (code) {
			finish(ld, i, code);
			return;
		}
		if (r <= 0)
			break;
	}
	if (ev & (EPOLLERR | EPOLLHUP))
		finish(ld, i, 0);
}

static void expire(struct load *ld, double now)
{
	for (long i = 0; i < ld->agents; i++)
		if (ld->sims[i].state != IDLE &&
		    now - ld->sims[i].started > (double)ld->timeout_ms / 1000.0)
			finish(ld, i, 0);
}

static int run(struct load *ld)
{
	double t0 = ld->t0 = now_s(), end = t0 + ld->seconds, next_scan = t0;
	struct epoll_event events[EVENTS_PER_WAIT];

	for (long i = 0; i < ld->agents; i++) {
		ld->sims[i].next_due = t0 + (double)i * ld->period / (double)ld->agents;
		heap_push(&ld->heap, ld->sims[i].next_due, i);
	}
	for (;;) {
		double now = now_s();
		while (ld->heap.n && ld->heap.v[0].due <= now && ld->heap.v[0].due < end) {
			long i = ld->heap.v[0].i;
			struct sim_agent *a = &ld->sims[i];
			double due = ld->heap.v[0].due;
			heap_pop(&ld->heap);
			if (due != a->next_due)
				continue; /* replaced when the period changed */
			a->due = due;
			a->next_due = due + a->period;
			heap_push(&ld->heap, a->next_due, i);
			if (a->state != IDLE) {
				ld->late++;
				continue;
			}
			int err = start_push(ld, i);
			if (err) {
				fprintf(stderr, PROG ": cannot start a push: %s\n", strerror(-err));
				return err;
			}
		}
		if (now >= next_scan) {
			expire(ld, now);
			next_scan = now + TIMEOUT_SCAN_S;
		}
		if (now >= end && ld->finished == ld->pushes)
			return 0;
		double wake = ld->heap.n && ld->heap.v[0].due < end ? ld->heap.v[0].due : end + 1;
		if (wake > next_scan)
			wake = next_scan;
		double w = wake - now_s();
		int n = epoll_wait(ld->epfd, events, EVENTS_PER_WAIT, w <= 0 ? 0 : (int)(w * 1000) + 1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
			return -errno;
		}
		for (int k = 0; k < n; k++)
			on_event(ld, (long)events[k].data.u64, events[k].events);
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static double quantile(const double *v, size_t n, double q)
{
	return n ? v[(size_t)(q * (double)(n - 1) + 0.5)] : 0.0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0.0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(struct load *ld, double cpu_s, double wall_s)
{
	long long accepted = 0, rejected = 0;
	double period_sum = 0, period_max = 0;

	qsort(ld->lat_ms, ld->lat_n, sizeof(double), cmp_double);
	qsort(ld->lag_ms, ld->lag_n, sizeof(double), cmp_double);
	qsort(ld->steady_ms, ld->steady_n, sizeof(double), cmp_double);
	for (long i = 0; i < ld->agents; i++) {
		period_sum += ld->sims[i].period;
		if (ld->sims[i].period > period_max)
			period_max = ld->sims[i].period;
	}
	for (int c = 200; c < 300; c++)
		accepted += ld->by_code[c];
	printf("{\"agents\": %ld, \"period_s\": %g, \"seconds\": %g, \"pushes\": %lld, "
	       "\"accepted\": %lld, \"rejected_by_status\": {", ld->agents, ld->period, ld->seconds,
	       ld->pushes, accepted);
	const char *sep = "";
	for (int c = 0; c < HTTP_CODES; c++) {
		if ((c >= 200 && c < 300) || !ld->by_code[c])
			continue;
		printf("%s\"%d\": %lld", sep, c, ld->by_code[c]);
		rejected += ld->by_code[c];
		sep = ", ";
	}
	printf("}, \"rejected\": %lld, \"transport_errors\": %lld, \"late\": %lld, "
	       "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
	       "\"warmup_s\": %g, \"steady_pushes\": %zu, \"steady_p50_ms\": %.2f, "
	       "\"steady_p99_ms\": %.2f, \"issue_lag_p99_ms\": %.2f, \"issue_lag_max_ms\": %.2f, "
	       "\"load_cpu_s\": %.2f, \"load_cpu_pct_self\": %.1f, "
	       "\"asked_period_mean_s\": %.2f, \"asked_period_max_s\": %.2f}\n",
	       rejected, ld->transport_errors, ld->late, quantile(ld->lat_ms, ld->lat_n, 0.50),
	       quantile(ld->lat_ms, ld->lat_n, 0.99),
	       ld->lat_n ? ld->lat_ms[ld->lat_n - 1] : 0.0, ld->warmup_s, ld->steady_n,
	       quantile(ld->steady_ms, ld->steady_n, 0.50), quantile(ld->steady_ms, ld->steady_n, 0.99),
	       quantile(ld->lag_ms, ld->lag_n, 0.99),
	       ld->lag_n ? ld->lag_ms[ld->lag_n - 1] : 0.0, cpu_s,
	       wall_s > 0 ? cpu_s / wall_s * 100.0 : 0.0, period_sum / (double)ld->agents,
	       period_max);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --url http://IPv4:PORT/PATH --agents N --seconds S --snapshot FILE\n"
		   "       [--period S (1)] [--token-file F] [--timeout-ms MS (5000)] [--warmup S (10)]\n");
}

/* http://A.B.C.D:PORT/PATH only: the bench talks to a controller on loopback. */
static int parse_url(struct load *ld)
{
	char host[64];
	unsigned port;
	int n = 0;

	if (sscanf(ld->url, "http://%63[0-9.]:%u%n", host, &port, &n) != 2 || !n ||
	    ld->url[n] != '/' || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &ld->dst.sin_addr) != 1)
		return -EINVAL;
	ld->dst.sin_family = AF_INET;
	ld->dst.sin_port = htons((uint16_t)port);
	ld->path = ld->url + n;
	return 0;
}

static int parse_args(struct load *ld, int argc, char **argv, const char **snap, const char **tok)
{
	long v;
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(k, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!val)
			return -EINVAL;
		i++;
		if (!strcmp(k, "--url"))
			ld->url = val;
		else if (!strcmp(k, "--snapshot"))
			*snap = val;
		else if (!strcmp(k, "--token-file"))
			*tok = val;
		else if (!strcmp(k, "--agents") && !rs_parse_long(val, 1, 250 * 250, &v))
			ld->agents = v;
		else if (!strcmp(k, "--seconds") && !rs_parse_long(val, 1, 86400, &v))
			ld->seconds = (double)v;
		else if (!strcmp(k, "--period") && !rs_parse_long(val, 1, 3600, &v))
			ld->period = (double)v;
		else if (!strcmp(k, "--timeout-ms") && !rs_parse_long(val, 1, 600000, &v))
			ld->timeout_ms = v;
		else if (!strcmp(k, "--warmup") && !rs_parse_long(val, 0, 86400, &v))
			ld->warmup_s = (double)v;
		else
			return -EINVAL;
	}
	return ld->url && *snap && ld->agents && ld->seconds && !parse_url(ld) ? 0 : -EINVAL;
}

static int setup(struct load *ld, const char *snap_path, const char *token_path)
{
	char *buf = NULL;
	size_t len;
	int err = rs_read_file(snap_path, SNAPSHOT_MAX_BYTES, &buf, &len);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", snap_path, strerror(-err));
		return err;
	}
	ld->templ = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!cJSON_IsObject(ld->templ) || !cJSON_IsObject(cJSON_GetObjectItem(ld->templ, "node"))) {
		fprintf(stderr, PROG ": %s: not a snapshot (no node object)\n", snap_path);
		return -EINVAL;
	}
	if (token_path && (err = rs_read_file_trimmed(token_path, 16384, &ld->token))) {
		fprintf(stderr, PROG ": %s: %s\n", token_path, strerror(-err));
		return err;
	}
	ld->sims = calloc((size_t)ld->agents, sizeof(*ld->sims));
	/* One entry per agent, and one more each time an agent's period changes
	 * (the entry it replaces stays until due, then is skipped). */
	ld->heap_cap = (size_t)ld->agents * 4 + 1;
	ld->heap.v = calloc(ld->heap_cap, sizeof(*ld->heap.v));
	if (!ld->sims || !ld->heap.v)
		return -ENOMEM;
	if ((ld->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	for (long i = 0; i < ld->agents; i++)
		ld->sims[i].fd = -1;
	for (long i = 0; i < ld->agents; i++)
		if ((err = build_request(ld, i)))
			return err;
	return 0;
}

static void cleanup(struct load *ld)
{
	for (long i = 0; ld->sims && i < ld->agents; i++) {
		if (ld->sims[i].fd >= 0)
			close(ld->sims[i].fd);
		free(ld->sims[i].req);
		free(ld->sims[i].ans);
	}
	if (ld->epfd >= 0)
		close(ld->epfd);
	free(ld->sims);
	free(ld->heap.v);
	free(ld->lat_ms);
	free(ld->lag_ms);
	free(ld->steady_ms);
	free(ld->token);
	cJSON_Delete(ld->templ);
}

int main(int argc, char **argv)
{
	struct load ld = { .period = 1.0, .timeout_ms = 5000, .warmup_s = 10, .epfd = -1 };
	const char *snap = NULL, *tok = NULL;
	int err;

	if (parse_args(&ld, argc, argv, &snap, &tok)) {
		usage(stderr);
		return 2;
	}
	err = setup(&ld, snap, tok);
	double cpu0 = cpu_seconds(), t0 = now_s();
	if (!err)
		err = run(&ld);
	if (!err)
		report(&ld, cpu_seconds() - cpu0, now_s() - t0);
	cleanup(&ld);
	return err ? 1 : 0;
}
