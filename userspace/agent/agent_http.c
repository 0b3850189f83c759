/* agent_http.c -- /metrics, /metrics.json, /healthz, /readyz (see agent_http.h). */
#include "agent/agent_http.h"
#include "agent/export.h"
#include "common/http_server.h"
#include "common/prom_text.h"
#include "common/log.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGENT_HTTP_THREADS 4
#define AGENT_HTTP_MAX_BODY 4096    /* every endpoint is GET; bodies are noise */
#define RS_AGENT_MAX_FAMILIES 8
#define N_SELF_VALUES (8 + RS_AGENT_MAX_FAMILIES)

enum render_kind { RENDER_PROM, RENDER_JSON, N_RENDER };

struct rendered {
	char *body;                 /* NULL when the last collection failed */
	size_t len;
	int err;                    /* collection error, -errno */
	double at;                  /* monotonic seconds */
};

/* What main.c said about one probe family's attach. */
struct family_status {
	const char *name;           /* static string (rs_probe_family.name) */
	int err;                    /* 0 attached, else -errno of its attach */
};

struct rs_agent_http {
	struct rs_agent_http_config cfg;
	char *pin_dir;
	struct rs_http_server *srv;
	atomic_bool attached;
	pthread_mutex_t lock;       /* serializes collection; guards cache, families */
	struct rendered cache[N_RENDER];
	struct family_status families[RS_AGENT_MAX_FAMILIES];
	size_t n_families;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_value(struct rs_value_series *v, const char *family, enum rs_value_kind kind,
		      double value)
{
	memset(v, 0, sizeof(*v));
	v->family = family;
	v->kind = kind;
	v->value = value;
}

/* The agent's own metrics, appended to every rendering. */
static size_t self_values(struct rs_agent_http *h, struct rs_value_series *v, bool ready)
{
	struct rs_push_stats ps;
	size_t n = 0;

	set_value(&v[n++], RS_FAMILY_AGENT_READY, RS_VALUE_GAUGE, ready ? 1 : 0);
	set_value(&v[n], RS_FAMILY_AGENT_BUILD_INFO, RS_VALUE_GAUGE, 1);
	snprintf(v[n].labels[0].key, RS_LABEL_KEY_LEN, "version");
	snprintf(v[n].labels[0].value, RS_LABEL_VALUE_LEN, "%s", RAYSENSE_VERSION);
	v[n++].n_labels = 1;
	/* Called under h->lock (render), which guards the family list. */
	for (size_t i = 0; i < h->n_families; i++, n++) {
		const struct family_status *f = &h->families[i];

		set_value(&v[n], RS_FAMILY_AGENT_PROBE_FAMILY_ATTACHED, RS_VALUE_GAUGE, f->err ? 0 : 1);
		snprintf(v[n].labels[0].key, RS_LABEL_KEY_LEN, "family");
		snprintf(v[n].labels[0].value, RS_LABEL_VALUE_LEN, "%s", f->name);
		snprintf(v[n].labels[1].key, RS_LABEL_KEY_LEN, "reason");
		snprintf(v[n].labels[1].value, RS_LABEL_VALUE_LEN, "%s", f->err ? strerror(-f->err) : "");
		v[n].n_labels = 2;
	}
	if (!h->cfg.push)
		return n;
	rs_push_get_stats(h->cfg.push, &ps);
	set_value(&v[n++], RS_FAMILY_PUSH_DROPPED, RS_VALUE_COUNTER, (double)ps.dropped);
	set_value(&v[n++], RS_FAMILY_PUSH_SENT, RS_VALUE_COUNTER, (double)ps.sent);
	set_value(&v[n++], RS_FAMILY_PUSH_FAILURES, RS_VALUE_COUNTER, (double)ps.failures);
	set_value(&v[n++], RS_FAMILY_PUSH_QUEUE_SNAPSHOTS, RS_VALUE_GAUGE, (double)ps.queued);
	set_value(&v[n++], RS_FAMILY_PUSH_QUEUE_BYTES, RS_VALUE_GAUGE, (double)ps.queued_bytes);
	return n;
}

static int render(struct rs_agent_http *h, enum render_kind kind, struct rendered *out)
{
	struct rs_snapshot snap;
	struct rs_value_series extra[N_SELF_VALUES];
	struct rs_export_ctx ctx = { .families = h->cfg.families, .extra = extra,
				     .debug_labels = h->cfg.debug_labels };
	int err;

	memset(&snap, 0, sizeof(snap));
	err = h->cfg.collect(h->pin_dir, &snap);
	if (err) {
		if (h->cfg.free_snapshot)
			h->cfg.free_snapshot(&snap);
		return err;
	}
	ctx.n_extra = self_values(h, extra, atomic_load(&h->attached));
	if (kind == RENDER_PROM) {
		err = rs_export_prom(&snap, &ctx, &out->body, &out->len);
	} else {
		cJSON *rows = rs_export_json(&snap, &ctx);

		out->body = rows ? cJSON_PrintUnformatted(rows) : NULL;
		out->len = out->body ? strlen(out->body) : 0;
		err = out->body ? 0 : -ENOMEM;
		cJSON_Delete(rows);
	}
	if (h->cfg.free_snapshot)
		h->cfg.free_snapshot(&snap);
	return err;
}

/* A private copy of a fresh-enough rendering (collecting at most once per
 * RS_AGENT_HTTP_CACHE_MS across all request threads). */
static int cached_render(struct rs_agent_http *h, enum render_kind kind, char **body, size_t *len)
{
	struct rendered *c = &h->cache[kind];
	double now = mono_s();
	int err;

	pthread_mutex_lock(&h->lock);
	if (!c->at || now - c->at > RS_AGENT_HTTP_CACHE_MS / 1000.0) {
		struct rendered fresh = { 0 };

		fresh.err = render(h, kind, &fresh);
		fresh.at = now;
		free(c->body);
		*c = fresh;
		/* Return the collection's scratch memory (see push.c). At most
		 * once per cache period per rendering. */
		malloc_trim(0);
	}
	err = c->err;
	*body = NULL;
	if (!err) {
		*body = malloc(c->len + 1);
		if (*body) {
			memcpy(*body, c->body, c->len + 1);
			*len = c->len;
		} else {
			err = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

static void reply_collect_error(struct rs_http_response *resp, const struct rs_agent_http *h,
				int err)
{
	if (err == -ENOENT)
		rs_http_reply_error(resp, 503, "no raysense maps pinned under %s (probes not attached yet?)",
				    h->pin_dir);
	else
		rs_http_reply_error(resp, 500, "cannot read the pinned maps under %s: %s", h->pin_dir,
				    strerror(-err));
}

static void handle_metrics(const struct rs_http_request *req, struct rs_http_response *resp,
			   void *ctx)
{
	struct rs_agent_http *h = ctx;
	char *body;
	size_t len;
	int err = cached_render(h, RENDER_PROM, &body, &len);

	(void)req;
	if (err) {
		reply_collect_error(resp, h, err);
		return;
	}
	rs_http_reply_text(resp, 200, RS_PROM_CONTENT_TYPE, body, len);
}

static void handle_metrics_json(const struct rs_http_request *req, struct rs_http_response *resp,
				void *ctx)
{
	struct rs_agent_http *h = ctx;
	char *body;
	size_t len;
	int err = cached_render(h, RENDER_JSON, &body, &len);

	(void)req;
	if (err) {
		reply_collect_error(resp, h, err);
		return;
	}
	rs_http_reply_text(resp, 200, "application/json", body, len);
}

static void handle_healthz(const struct rs_http_request *req, struct rs_http_response *resp,
			   void *ctx)
{
	cJSON *obj = cJSON_CreateObject();

	(void)req;
	(void)ctx;
	cJSON_AddStringToObject(obj, "status", "alive");
	rs_http_reply_json(resp, 200, obj);
}

/* "families": [{"family", "attached", "error"?}] as main.c reported them. */
static void add_families(struct rs_agent_http *h, cJSON *obj)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "families");

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; arr && i < h->n_families; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "family", h->families[i].name);
		cJSON_AddBoolToObject(f, "attached", !h->families[i].err);
		if (h->families[i].err)
			cJSON_AddStringToObject(f, "error", strerror(-h->families[i].err));
		cJSON_AddItemToArray(arr, f);
	}
	pthread_mutex_unlock(&h->lock);
}

/* "missing_probes": the raylet family's RS_FAMILY_LEASE_PROBE_MISSING series,
 * one object of their labels each: a family attached, yet some of its probes
 * could not be on some raylet (a Ray release whose raylet lacks a symbol). */
static void add_missing_probes(const struct rs_snapshot *snap, cJSON *obj)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "missing_probes");

	for (size_t i = 0; arr && i < snap->n_values; i++) {
		const struct rs_value_series *v = &snap->values[i];
		cJSON *m;

		if (strcmp(v->family, RS_FAMILY_LEASE_PROBE_MISSING))
			continue;
		m = cJSON_CreateObject();
		for (int l = 0; l < v->n_labels; l++)
			cJSON_AddStringToObject(m, v->labels[l].key, v->labels[l].value);
		cJSON_AddItemToArray(arr, m);
	}
}

static void handle_readyz(const struct rs_http_request *req, struct rs_http_response *resp,
			  void *ctx)
{
	struct rs_agent_http *h = ctx;
	struct rs_snapshot snap;
	cJSON *obj;
	int err;

	(void)req;
	if (!atomic_load(&h->attached)) {
		obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "error", "probes are not attached");
		add_families(h, obj);
		rs_http_reply_json(resp, 503, obj);
		return;
	}
	memset(&snap, 0, sizeof(snap));
	err = h->cfg.collect(h->pin_dir, &snap);
	if (err) {
		if (h->cfg.free_snapshot)
			h->cfg.free_snapshot(&snap);
		reply_collect_error(resp, h, err);
		resp->status = 503;
		return;
	}
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "status", "ready");
	cJSON_AddStringToObject(obj, "pin_dir", h->pin_dir);
	add_families(h, obj);
	add_missing_probes(&snap, obj);
	if (h->cfg.free_snapshot)
		h->cfg.free_snapshot(&snap);
	rs_http_reply_json(resp, 200, obj);
}

int rs_agent_http_start(const struct rs_agent_http_config *cfg, struct rs_agent_http **out)
{
	struct rs_agent_http *h;
	struct rs_http_route routes[4];
	struct rs_http_server_config scfg = { 0 };
	int err;

	if (!cfg->collect)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->pin_dir = strdup(cfg->pin_dir ? cfg->pin_dir : "/sys/fs/bpf/raysense");
	if (!h->pin_dir) {
		free(h);
		return -ENOMEM;
	}
	atomic_init(&h->attached, false);
	pthread_mutex_init(&h->lock, NULL);
	routes[0] = (struct rs_http_route){ "GET", "/metrics", handle_metrics, h, NULL, false };
	routes[1] = (struct rs_http_route){ "GET", "/metrics.json", handle_metrics_json, h, NULL,
					    false };
	routes[2] = (struct rs_http_route){ "GET", "/healthz", handle_healthz, h, NULL, true };
	routes[3] = (struct rs_http_route){ "GET", "/readyz", handle_readyz, h, NULL, true };
	scfg.host = cfg->host ? cfg->host : "0.0.0.0";
	scfg.port = cfg->port;
	scfg.routes = routes;
	scfg.n_routes = 4;
	scfg.max_body = AGENT_HTTP_MAX_BODY;
	scfg.threads = AGENT_HTTP_THREADS;
	scfg.per_ip_limit = cfg->per_ip_limit;
	scfg.request_deadline_ms = cfg->request_deadline_ms;
	scfg.probe_listener = cfg->probe_port >= 0;
	scfg.probe_host = cfg->probe_host;
	scfg.probe_port = cfg->probe_port;
	scfg.probe_required = cfg->probe_required;
	err = rs_http_server_start(&scfg, &h->srv);
	if (err) {
		pthread_mutex_destroy(&h->lock);
		free(h->pin_dir);
		free(h);
		return err;
	}
	rs_info("serving /metrics, /metrics.json, /healthz, /readyz on %s:%d", scfg.host,
		rs_http_server_port(h->srv));
	if (scfg.probe_listener)
		rs_info("/healthz and /readyz also on the probe listener %s:%d",
			scfg.probe_host ? scfg.probe_host : scfg.host,
			rs_http_server_probe_port(h->srv));
	*out = h;
	return 0;
}

int rs_agent_http_port(const struct rs_agent_http *h) { return rs_http_server_port(h->srv); }

int rs_agent_http_probe_port(const struct rs_agent_http *h)
{
	return rs_http_server_probe_port(h->srv);
}

void rs_agent_http_set_ready(struct rs_agent_http *h, bool attached)
{
	if (h)
		atomic_store(&h->attached, attached);
}

void rs_agent_http_set_family(struct rs_agent_http *h, const char *family, int err)
{
	size_t i;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n_families && strcmp(h->families[i].name, family); i++)
		;
	if (i < RS_AGENT_MAX_FAMILIES) {
		h->families[i].name = family;
		h->families[i].err = err;
		if (i == h->n_families)
			h->n_families++;
	}
	pthread_mutex_unlock(&h->lock);
}

void rs_agent_http_stop(struct rs_agent_http *h)
{
	if (!h)
		return;
	rs_http_server_stop(h->srv);
	for (int i = 0; i < N_RENDER; i++)
		free(h->cache[i].body);
	pthread_mutex_destroy(&h->lock);
	free(h->pin_dir);
	free(h);
}
