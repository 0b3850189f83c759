/* test_slow_tasks.c -- a slow state API never blocks scale-up, through the
 * real dashboard source (dash_source.c, bg_fetch.c, dashboard.c) over real
 * HTTP: a fake dashboard (libmicrohttpd) answers the cheap reads at once
 * with answers recorded from Ray 2.60.0 (the report written just now) and
 * takes 5 s for every /api/v0/tasks call.  One controller tick must end
 * within the 1 s tick (800 ms read budget + the 0.3 s the tick waits for
 * the list), launch for the report's demand, and hold scale-down for the
 * missing list.
 *
 * Then, under autoscaler v2: a tick whose status text read fails has no
 * report; if the last one (read just before) showed more pending tasks
 * than the list is read for, the list is still not read (measured at
 * 100,000 pending tasks: such a read stalled the dashboard for 10 s).
 *
 * And a GCS that accepts the demand read (gcs_load.h) and never answers:
 * the read ends within the tick's budget, and the tick goes by the
 * report's demand. */
#include "check.h"
#include "common/http_server.h"
#include "common/util.h"
#include "controller/config.h"
#include "controller/controller.h"
#include "controller/provider/provider.h"
#include "controller/source/source.h"
#include "dashboard_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define TASKS_DELAY_S 5

static char *g_nodes, *g_status, *g_tasks, *g_version;
static size_t g_nodes_len, g_tasks_len, g_version_len;
static int g_task_calls;

static void reply(struct rs_http_response *resp, const char *body, size_t len)
{
	resp->status = 200;
	resp->body = malloc(len + 1);
	if (!resp->body) {
		resp->status = 500;
		return;
	}
	memcpy(resp->body, body, len);
	resp->body[len] = '\0';
	resp->body_len = len;
}

static void h_healthz(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	resp->content_type = "text/plain";
	reply(resp, "success", 7);
}

static void h_fixed(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	const char *body = *(char **)ctx;

	(void)req;
	reply(resp, body, strlen(body));
}

static void h_tasks(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	__atomic_add_fetch(&g_task_calls, 1, __ATOMIC_RELAXED);
	sleep(TASKS_DELAY_S);
	reply(resp, g_tasks, g_tasks_len);
}

/* Autoscaler v2: clusterStatus null; the text (?format=1) answers with the
 * recorded text, or fails while g_text_fails. */
static char *g_v2_null, *g_v2_text, *g_v2_pgs;
static int g_text_fails;

static void h_v2_status(const struct rs_http_request *req, struct rs_http_response *resp,
			void *ctx)
{
	const char *body = rs_http_query(req, "format") ? g_v2_text : g_v2_null;

	(void)ctx;
	if (rs_http_query(req, "format") && __atomic_load_n(&g_text_fails, __ATOMIC_RELAXED)) {
		resp->status = 500;
		return;
	}
	reply(resp, body, strlen(body));
}

/* The recorded report, written now (a fresh usage report). */
static char *fresh_status(void)
{
	size_t len;
	char *rec = load("cluster_status_demand.json", &len), *at, *out;
	const char *old = "\"time\": 1795764650.1817405";
	char now[64];

	at = strstr(rec, old);
	CHECK(at != NULL, "fixture has its report time");
	if (!at)
		exit(1);
	snprintf(now, sizeof(now), "\"time\": %.3f", rs_now_unix());
	out = malloc(len + sizeof(now));
	if (!out)
		exit(1);
	snprintf(out, len + sizeof(now), "%.*s%s%s", (int)(at - rec), rec, now, at + strlen(old));
	free(rec);
	return out;
}

/* ---------------------------------------------------------------- provider */

static struct provider_node g_pn[16];
static size_t g_pn_count;

static int fp_launch(struct provider *p, const struct worker_group *g, char *id, char *err)
{
	(void)p;
	if (g_pn_count == 16) {
		snprintf(err, PROVIDER_ERR_LEN, "full");
		return -ENOSPC;
	}
	memset(&g_pn[g_pn_count], 0, sizeof(g_pn[0]));
	snprintf(g_pn[g_pn_count].id, PROVIDER_ID_MAX, "w%zu", g_pn_count + 1);
	snprintf(g_pn[g_pn_count].type, sizeof(g_pn[0].type), "%s", g->name);
	g_pn[g_pn_count].launched_at = rs_now_unix();
	snprintf(id, PROVIDER_ID_MAX, "%s", g_pn[g_pn_count++].id);
	return 0;
}

static int fp_terminate(struct provider *p, const char *id, char *err)
{
	(void)p;
	(void)id;
	(void)err;
	return 0;
}

static int fp_refresh(struct provider *p, double now)
{
	(void)p;
	(void)now;
	return 0;
}

static size_t fp_list(struct provider *p, const struct provider_node **out)
{
	(void)p;
	*out = g_pn;
	return g_pn_count;
}

static void fp_destroy(struct provider *p)
{
	(void)p;
}

static const struct provider_ops fake_provider_ops = {
	.name = "fake",
	.launch = fp_launch,
	.terminate = fp_terminate,
	.refresh = fp_refresh,
	.list = fp_list,
	.destroy = fp_destroy,
};

/* ---------------------------------------------------------------- the test */

static bool launched_for_cpu1(const cJSON *decisions)
{
	const cJSON *d, *dem;

	cJSON_ArrayForEach(d, decisions) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "action");

		if (!cJSON_IsString(a) || strcmp(a->valuestring, "launch"))
			continue;
		cJSON_ArrayForEach(dem, cJSON_GetObjectItemCaseSensitive(d, "demand")) {
			const cJSON *cause = cJSON_GetObjectItemCaseSensitive(dem, "cause");
			const cJSON *shape = cJSON_GetObjectItemCaseSensitive(dem, "shape");

			if (cJSON_IsString(cause) && !strcmp(cause->valuestring, "demand") &&
			    cJSON_GetArraySize(shape) == 1 &&
			    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(shape, "CPU")) == 1)
				return true;
		}
	}
	return false;
}

static void test_v2_text_fails(void)
{
	struct rs_http_route routes[] = {
		{ "GET", "/api/gcs_healthz", h_healthz, NULL, NULL, false },
		{ "GET", "/api/v0/nodes", h_fixed, &g_nodes, NULL, false },
		{ "GET", "/api/cluster_status", h_v2_status, NULL, NULL, false },
		{ "GET", "/api/v0/placement_groups", h_fixed, &g_v2_pgs, NULL, false },
		{ "GET", "/api/v0/tasks", h_tasks, NULL, NULL, false },
	};
	struct rs_http_server_config sc = {
		.host = "127.0.0.1", .routes = routes, .n_routes = 5, .threads = 4,
		.conn_timeout_s = 30, .request_deadline_ms = 20000,
	};
	struct dash_client dash = { 0 };
	struct rs_http_server *srv = NULL;
	struct cluster_source src = { 0 };
	struct dash_snapshot snap;
	enum dash_source failed;
	char url[64], err[DASH_ERR_LEN];
	size_t len;
	int before;

	g_v2_null = load("v2_cluster_status_null.json", &len);
	g_v2_text = load("v2_cluster_status_text_demand.json", &len);
	g_v2_pgs = load("v2_pgs_pending.json", &len);
	CHECK(rs_http_server_start(&sc, &srv) == 0, "fake v2 dashboard");
	if (!srv)
		exit(1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", rs_http_server_port(srv));
	dash.base_url = url;
	dash.timeout_ms = 2000;
	/* The text shows 3 pending tasks; the list is read only up to 2. */
	CHECK(dash_source_create(&dash, 0, 2, &src) == 0, "dash_source_create");
	before = __atomic_load_n(&g_task_calls, __ATOMIC_RELAXED);
	CHECK(src.ops->fetch(&src, &snap, &failed, err) == 0 && snap.cs.present &&
	      snap.cs.source == DASH_CS_V2_TEXT && strstr(snap.pending_error, "not read"),
	      "text read: present %d, v2_error '%s', pending_error '%s'", snap.cs.present,
	      snap.v2_error, snap.pending_error);
	dash_snapshot_free(&snap);
	__atomic_store_n(&g_text_fails, 1, __ATOMIC_RELAXED);
	CHECK(src.ops->fetch(&src, &snap, &failed, err) == 0 && !snap.cs.present &&
	      strstr(snap.v2_error, "status text"), "text failed: present %d, v2_error '%s'",
	      snap.cs.present, snap.v2_error);
	CHECK(strstr(snap.pending_error, "the last one read"),
	      "no list for the last report's backlog: '%s'", snap.pending_error);
	dash_snapshot_free(&snap);
	usleep(200 * 1000);	/* a kicked read would have reached the server */
	CHECK(__atomic_load_n(&g_task_calls, __ATOMIC_RELAXED) == before,
	      "the task list was not read: %d calls", g_task_calls - before);
	src.ops->destroy(&src);
	rs_http_server_stop(srv);
	free(g_v2_null);
	free(g_v2_text);
	free(g_v2_pgs);
}

/* A listening socket nobody accepts on: connects succeed (the kernel's
 * backlog), requests are never answered.  The fd, and the port in *port. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_gcs_silent(const char *dashboard_url)
{
	struct dash_client dash = { 0 };
	struct cluster_source src = { 0 };
	struct dash_snapshot snap;
	enum dash_source failed;
	char gcs[64], err[DASH_ERR_LEN];
	double t0, took;
	int port, fd = silent_listener(&port);

	CHECK(fd >= 0, "silent listener");
	if (fd < 0)
		return;
	snprintf(gcs, sizeof(gcs), "127.0.0.1:%d", port);
	dash.base_url = dashboard_url;
	dash.timeout_ms = 2000;
	dash.tick_budget_ms = 500;
	dash.gcs_address = gcs;
	/* No task list (tasks_max_pending 0): its 5 s reads would hold the
	 * fake dashboard's threads and time out this test's cheap reads (a
	 * ctest run under build load failed that way). */
	CHECK(dash_source_create(&dash, 0, 0, &src) == 0, "dash_source_create");
	t0 = rs_now_unix();
	CHECK(src.ops->fetch(&src, &snap, &failed, err) == 0, "fetch: %s", err);
	took = rs_now_unix() - t0;
	/* Within the 500 ms budget (not the 2 s call timeout), with room for a
	 * loaded machine. */
	CHECK(took < 0.9, "the reads took %.2f s with a silent GCS", took);
	CHECK(snap.cs.present && !snap.cs.demand_from_gcs && snap.cs.demand_count > 0,
	      "the report's demand stays: from_gcs %d, %zu shapes", snap.cs.demand_from_gcs,
	      snap.cs.demand_count);
	CHECK(strstr(snap.gcs_error, gcs) != NULL, "gcs_error names the GCS: '%s'", snap.gcs_error);
	dash_snapshot_free(&snap);
	/* The next tick does not wait on it again (retried 5 s later). */
	t0 = rs_now_unix();
	CHECK(src.ops->fetch(&src, &snap, &failed, err) == 0, "fetch: %s", err);
	took = rs_now_unix() - t0;
	CHECK(took < 0.3 && strstr(snap.gcs_error, "s after a failure: GCS 127.0.0.1") &&
	      !snap.cs.demand_from_gcs, "second tick %.2f s, gcs_error '%s'", took, snap.gcs_error);
	dash_snapshot_free(&snap);
	src.ops->destroy(&src);
	close(fd);
}

int main(void)
{
	struct rs_http_route routes[] = {
		{ "GET", "/api/gcs_healthz", h_healthz, NULL, NULL, false },
		{ "GET", "/api/v0/nodes", h_fixed, &g_nodes, NULL, false },
		{ "GET", "/api/cluster_status", h_fixed, &g_status, NULL, false },
		{ "GET", "/api/version", h_fixed, &g_version, NULL, false },
		{ "GET", "/api/v0/tasks", h_tasks, NULL, NULL, false },
	};
	struct rs_http_server_config sc = {
		.host = "127.0.0.1", .routes = routes, .n_routes = 5, .threads = 4,
		.conn_timeout_s = 30, .request_deadline_ms = 20000,
	};
	struct controller_config cfg;
	struct controller_opts o = { 0 };
	struct dash_client dash = { 0 };
	struct rs_http_server *srv = NULL;
	struct controller *c = NULL;
	char url[64], err[256], *m;
	double t0, took;
	cJSON *dec;

	g_nodes = load("nodes_head_only.json", &g_nodes_len);
	g_tasks = load("tasks_pending.json", &g_tasks_len);
	g_version = load("version.json", &g_version_len);
	g_status = fresh_status();
	CHECK(rs_http_server_start(&sc, &srv) == 0, "fake dashboard");
	if (!srv)
		return 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", rs_http_server_port(srv));
	dash.base_url = url;
	dash.timeout_ms = 2000;
	CHECK(dash_source_create(&dash, -1, -1, &o.source) == 0, "dash_source_create");
	o.provider = (struct provider){ &fake_provider_ops, NULL };
	config_init(&cfg);
	CHECK(config_add_group_spec(&cfg, "cpu1:CPU=1,min=0,max=4,idle=10", err, sizeof(err)) == 0,
	      "%s", err);
	cfg.upscaling_speed = 1000;
	o.config = &cfg;
	CHECK(controller_create(&o, &c) == 0, "controller_create");

	t0 = rs_now_unix();
	CHECK(c && controller_tick(c) == 0, "tick");
	took = rs_now_unix() - t0;
	CHECK(took < 1.0, "the tick took %.2f s with a %d s task list", took, TASKS_DELAY_S);
	CHECK(__atomic_load_n(&g_task_calls, __ATOMIC_RELAXED) == 1,
	      "the task list was asked for (and is still being read)");
	dec = controller_decisions_json(c, 0);
	CHECK(launched_for_cpu1(dec), "launched for the report's {CPU:1} demand: %s",
	      dec ? cJSON_PrintUnformatted(dec) : "(null)");
	CHECK(g_pn_count >= 2, "nodes launched: %zu", g_pn_count);
	cJSON_Delete(dec);
	m = controller_metrics_text(c);
	CHECK(m && strstr(m, "raysense_controller_holding{reason=\"pending_list\"} 1\n"),
	      "scale-down holds for the missing list: %s", m ? m : "(null)");
	free(m);

	controller_destroy(c);	/* waits for the read in progress */
	config_free(&cfg);
	test_gcs_silent(url);
	rs_http_server_stop(srv);
	test_v2_text_fails();
	free(g_nodes);
	free(g_tasks);
	free(g_version);
	free(g_status);
	CHECK_EXIT();
}
