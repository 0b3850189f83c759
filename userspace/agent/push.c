/* push.c -- the push thread: collect, encode, queue, POST with backoff
 * (see push.h; the document is pinned by docs/snapshot-schema.json). */
#include "agent/push.h"
#include "agent/export.h"
#include "agent/push_compact.h"
#include "agent/push_queue.h"
#include "common/cli.h"
#include "common/gzip.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/log.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_INTERVAL_S 5.0
#define DEFAULT_QUEUE_ITEMS 64
#define DEFAULT_QUEUE_BYTES (8u << 20)
#define DEFAULT_MAX_BACKOFF_S 30.0
#define MIN_BACKOFF_S 0.5
#define TOKEN_MAX_BYTES 16384

struct rs_push {
	struct rs_push_config cfg;
	char *url;
	char *token_file;
	char *pin_dir;
	struct rs_push_queue queue;
	struct rs_push_prev prev;
	pthread_t thread;
	pthread_mutex_t lock;       /* stop flag and counters below */
	pthread_cond_t wake;
	bool stop;
	uint64_t seq;
	uint64_t sent, failures, produced;
	/* token cache, keyed by the file's identity and mtime */
	char *token;
	struct stat token_st;
	bool token_warned;
	bool drop_warned;
	/* The push interval the controller last asked for (0: none), bounded
	 * by RS_PUSH_MAX_REQUESTED_INTERVAL_S; written by the push thread under
	 * the lock (read by rs_push_get_stats). */
	double asked_interval_s;
	/* The interval the next snapshot covers, from the previous snapshot's
	 * tick to its own (the document's interval_seconds, which the
	 * controller turns lease counts into rates with). */
	double tick_interval_s;
	/* The interval changed: the next tick is drawn again (see push_thread). */
	bool rephase;
	unsigned rand_seed;
};

/* ---- snapshot document ---- */

static cJSON *hist_json(const struct rs_hist *h)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *slots;
	int last = -1;

	if (!obj)
		return NULL;
	cJSON_AddNumberToObject(obj, "count", (double)rs_hist_total(h));
	cJSON_AddNumberToObject(obj, "sum_ns", (double)h->sum_ns);
	/* Trailing empty slots are left out: slots[i] for i >= length is 0. */
	for (int i = 0; i < RS_HIST_SLOTS; i++)
		if (h->slots[i])
			last = i;
	slots = cJSON_AddArrayToObject(obj, "slots");
	for (int i = 0; slots && i <= last; i++)
		cJSON_AddItemToArray(slots, cJSON_CreateNumber((double)h->slots[i]));
	return obj;
}

static bool same_series(const struct rs_hist_series *a, const struct rs_hist_series *b)
{
	if (strcmp(a->family, b->family) != 0 || a->n_labels != b->n_labels)
		return false;
	for (int i = 0; i < a->n_labels && i < RS_MAX_LABELS; i++)
		if (strcmp(a->labels[i].key, b->labels[i].key) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	return true;
}

/* Delta of `cur` since the previous snapshot. NULL JSON when unknown (first
 * snapshot after the agent started: the pinned maps may predate it). A
 * series that went backwards (maps recreated) restarts from zero, like a
 * Prometheus counter reset. */
static cJSON *delta_json(const struct rs_hist_series *cur, const struct rs_push_prev *prev)
{
	struct rs_hist d;

	if (!prev->valid)
		return cJSON_CreateNull();
	d = cur->hist;
	for (size_t i = 0; i < prev->n_hists; i++) {
		const struct rs_hist *p = &prev->hists[i].hist;
		bool reset = p->sum_ns > cur->hist.sum_ns;

		if (!same_series(cur, &prev->hists[i]))
			continue;
		for (int s = 0; s < RS_HIST_SLOTS && !reset; s++)
			reset = p->slots[s] > cur->hist.slots[s];
		if (reset)
			break;
		for (int s = 0; s < RS_HIST_SLOTS; s++)
			d.slots[s] -= p->slots[s];
		d.sum_ns -= p->sum_ns;
		break;
	}
	return hist_json(&d);
}

static cJSON *histograms_json(const struct rs_snapshot *snap, const struct rs_push_prev *prev)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < snap->n_hists; i++) {
		const struct rs_hist_series *s = &snap->hists[i];
		cJSON *h = cJSON_CreateObject();

		if (!h) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddStringToObject(h, "family", s->family);
		cJSON_AddItemToObject(h, "labels", rs_json_labels(s->labels, s->n_labels));
		cJSON_AddItemToObject(h, "total", hist_json(&s->hist));
		cJSON_AddItemToObject(h, "delta", delta_json(s, prev));
		cJSON_AddItemToArray(arr, h);
	}
	return arr;
}

static cJSON *values_json(const struct rs_snapshot *snap)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < snap->n_values; i++) {
		const struct rs_value_series *v = &snap->values[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddStringToObject(o, "family", v->family);
		cJSON_AddStringToObject(o, "kind", v->kind == RS_VALUE_COUNTER ? "counter" : "gauge");
		cJSON_AddItemToObject(o, "labels", rs_json_labels(v->labels, v->n_labels));
		if (v->value == v->value && v->value - v->value == 0)
			cJSON_AddNumberToObject(o, "value", v->value);
		else
			cJSON_AddNullToObject(o, "value");
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *workers_json(const struct rs_snapshot *snap)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < snap->n_workers; i++) {
		const struct rs_worker_activity *w = &snap->workers[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddNumberToObject(o, "raylet_pid", w->raylet_pid);
		cJSON_AddStringToObject(o, "ray_node_id", w->node_id);
		cJSON_AddNumberToObject(o, "busy_workers", w->busy_workers);
		cJSON_AddNumberToObject(o, "idle_workers", w->idle_workers);
		if (w->seconds_since_busy >= 0)
			cJSON_AddNumberToObject(o, "seconds_since_busy", w->seconds_since_busy);
		else
			cJSON_AddNullToObject(o, "seconds_since_busy");
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int remember_hists(const struct rs_snapshot *snap, struct rs_push_prev *prev)
{
	struct rs_hist_series *copy = NULL;

	if (snap->n_hists) {
		copy = malloc(snap->n_hists * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, snap->hists, snap->n_hists * sizeof(*copy));
	}
	free(prev->hists);
	prev->hists = copy;
	prev->n_hists = snap->n_hists;
	prev->valid = true;
	return 0;
}

void rs_push_prev_free(struct rs_push_prev *prev)
{
	free(prev->hists);
	memset(prev, 0, sizeof(*prev));
}

cJSON *rs_push_build_snapshot(const struct rs_snapshot *snap, struct rs_push_prev *prev,
			      uint64_t seq, double interval_s, uint64_t dropped_total)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *node, *timelines;

	if (!doc)
		return NULL;
	cJSON_AddNumberToObject(doc, "schema_version", RS_SNAPSHOT_SCHEMA_VERSION);
	cJSON_AddStringToObject(doc, "agent_version", RAYSENSE_VERSION);
	cJSON_AddNumberToObject(doc, "seq", (double)seq);
	cJSON_AddNumberToObject(doc, "taken_unix_ms", (double)(snap->taken_unix_ns / 1000000ull));
	cJSON_AddNumberToObject(doc, "interval_seconds", interval_s);
	cJSON_AddNumberToObject(doc, "push_dropped_total", (double)dropped_total);
	node = cJSON_AddObjectToObject(doc, "node");
	if (node) {
		cJSON_AddStringToObject(node, "node_name", snap->node_name);
		cJSON_AddStringToObject(node, "hostname", snap->hostname);
	}
	cJSON_AddItemToObject(doc, "histograms", histograms_json(snap, prev));
	cJSON_AddItemToObject(doc, "values", values_json(snap));
	cJSON_AddItemToObject(doc, "workers", workers_json(snap));
	timelines = cJSON_AddArrayToObject(doc, "timelines");
	for (size_t i = 0; timelines && i < snap->n_timelines; i++)
		cJSON_AddItemToArray(timelines, rs_json_timeline(&snap->timelines[i]));
	if (remember_hists(snap, prev)) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- the thread ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every how many seconds the agent pushes: its own interval, or the longer
 * one the controller asked for. */
static double push_interval(const struct rs_push *p)
{
	return p->asked_interval_s > p->cfg.interval_s ? p->asked_interval_s : p->cfg.interval_s;
}

/* A 2xx answer may ask for a longer push interval ({"push_interval_s": S},
 * docs/agent-load.md): the controller sheds load this way.  An answer that
 * does not ask (or not in a form read here) returns the agent to its own
 * interval, so an old controller's empty answer changes nothing. */
static void follow_asked_interval(struct rs_push *p, const char *body, size_t len)
{
	struct rs_json_error jerr;
	cJSON *doc = NULL;
	double want = 0;

	if (body && len && !rs_json_parse(body, len, &doc, &jerr) &&
	    rs_json_get_number(doc, "$", "push_interval_s", false, &want, &jerr))
		want = 0;
	cJSON_Delete(doc);
	if (want < 0)
		want = 0;
	if (want > RS_PUSH_MAX_REQUESTED_INTERVAL_S)
		want = RS_PUSH_MAX_REQUESTED_INTERVAL_S;
	if (want == p->asked_interval_s)
		return;
	double before = push_interval(p);
	pthread_mutex_lock(&p->lock);
	p->asked_interval_s = want;
	pthread_mutex_unlock(&p->lock);
	if (push_interval(p) == before)
		return;
	p->rephase = true;
	if (want > p->cfg.interval_s)
		rs_info("push: the controller asks for a push every %g s; pushing every %g s "
			"(own interval %g s)", want, push_interval(p), p->cfg.interval_s);
	else
		rs_info("push: the controller no longer asks for a longer interval; pushing "
			"every %g s", p->cfg.interval_s);
}

/* Encode one snapshot and queue it. Collection failures are logged and the
 * interval is skipped: no data is better than made-up data. */
static void produce(struct rs_push *p)
{
	struct rs_snapshot snap;
	struct rs_push_queue_stats qs;
	cJSON *doc;
	char *json, *gz;
	size_t gz_len, dropped;
	int err;

	memset(&snap, 0, sizeof(snap));
	err = p->cfg.collect(p->pin_dir, &snap);
	if (err) {
		rs_warn("push: cannot collect a snapshot from %s: %s", p->pin_dir, strerror(-err));
		if (p->cfg.free_snapshot)
			p->cfg.free_snapshot(&snap);
		return;
	}
	rs_push_queue_stats(&p->queue, &qs);
	doc = rs_push_build_snapshot(&snap, &p->prev, p->seq + 1, p->tick_interval_s, qs.dropped);
	if (p->cfg.free_snapshot)
		p->cfg.free_snapshot(&snap);
	/* Cannot fail on the document just built (version 1). */
	if (doc && p->cfg.format == RS_PUSH_COMPACT)
		rs_push_compact(doc);
	json = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (!json || rs_gzip_compress(json, strlen(json), &gz, &gz_len)) {
		rs_warn("push: out of memory encoding a snapshot");
		free(json);
		return;
	}
	free(json);
	pthread_mutex_lock(&p->lock);
	p->seq++;
	p->produced++;
	pthread_mutex_unlock(&p->lock);
	/* A collection churns through ~1 MB of short-lived buffers on this
	 * thread's malloc arena; give the free pages back so a long outage
	 * (queue full, collecting every interval) keeps RSS flat. */
	malloc_trim(0);
	dropped = rs_push_queue_put(&p->queue, gz, gz_len, p->seq);
	/* Warn once per outage; raysense_agent_push_dropped_total has the count. */
	if (dropped && !p->drop_warned)
		rs_warn("push: queue full (%zu snapshots), dropping the oldest",
			p->cfg.queue_items);
	p->drop_warned = p->drop_warned || dropped;
}

/* The bearer token, re-read when the file changes (rotation by kubelet
 * swaps a symlink, so compare inode and mtime, not just the path). */
static const char *current_token(struct rs_push *p)
{
	struct stat st;
	char *tok;
	int err;

	if (!p->token_file)
		return NULL;
	if (stat(p->token_file, &st) != 0) {
		if (!p->token_warned)
			rs_warn("push: token file %s: %s", p->token_file, strerror(errno));
		p->token_warned = true;
		return p->token;
	}
	if (p->token && st.st_ino == p->token_st.st_ino && st.st_dev == p->token_st.st_dev &&
	    st.st_mtim.tv_sec == p->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == p->token_st.st_mtim.tv_nsec && st.st_size == p->token_st.st_size)
		return p->token;
	err = rs_read_file_trimmed(p->token_file, TOKEN_MAX_BYTES, &tok);
	if (err) {
		rs_warn("push: cannot read token file %s: %s", p->token_file, strerror(-err));
		return p->token;
	}
	free(p->token);
	p->token = tok;
	p->token_st = st;
	p->token_warned = false;
	rs_info("push: loaded bearer token from %s", p->token_file);
	return p->token;
}

enum send_result { SEND_OK, SEND_RETRY, SEND_REJECTED };

static enum send_result send_one(struct rs_push *p, const struct rs_push_item *it)
{
	static const char *const headers[] = { "Content-Encoding: gzip", NULL };
	struct rs_http_client_request req = {
		.method = "POST",
		.url = p->url,
		.headers = headers,
		.bearer_token = current_token(p),
		.body = it->data,
		.body_len = it->len,
		.content_type = "application/json",
		.timeout_ms = p->cfg.timeout_ms,
		.max_response = 64 * 1024,
	};
	struct rs_http_client_response resp;
	enum send_result res;
	int err;

	memset(&resp, 0, sizeof(resp));
	err = rs_http_do(&req, &resp);
	if (err) {
		rs_debug("push: POST %s failed: %s", p->url, resp.error[0] ? resp.error : strerror(-err));
		res = SEND_RETRY;
	} else if (resp.status >= 200 && resp.status < 300) {
		follow_asked_interval(p, resp.body, resp.body_len);
		res = SEND_OK;
	} else if (resp.status >= 400 && resp.status < 500 && resp.status != 401 &&
		   resp.status != 403 && resp.status != 408 && resp.status != 429) {
		/* The controller will never accept this document: retrying it
		 * would block every newer snapshot behind it. */
		rs_warn("push: controller rejected snapshot %llu with HTTP %ld: %.200s%s",
			(unsigned long long)it->seq, resp.status, resp.body ? resp.body : "",
			p->cfg.format == RS_PUSH_COMPACT && resp.status == 400 ?
			" (a controller older than schema_version 2 needs --push-format full)" :
			"");
		res = SEND_REJECTED;
	} else {
		rs_debug("push: controller answered HTTP %ld", resp.status);
		res = SEND_RETRY;
	}
	rs_http_response_free(&resp);
	return res;
}

static double next_backoff(double cur, double max)
{
	double b = cur <= 0 ? MIN_BACKOFF_S : cur * 2;

	return b > max ? max : b;
}

/* Sleep until `deadline` (monotonic seconds) or stop; returns true on stop. */
static bool wait_until(struct rs_push *p, double deadline)
{
	struct timespec ts;
	bool stop;

	ts.tv_sec = (time_t)deadline;
	ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
	pthread_mutex_lock(&p->lock);
	while (!p->stop && now_s() < deadline)
		if (pthread_cond_timedwait(&p->wake, &p->lock, &ts) == ETIMEDOUT)
			break;
	stop = p->stop;
	pthread_mutex_unlock(&p->lock);
	return stop;
}

static void count(struct rs_push *p, uint64_t *counter)
{
	pthread_mutex_lock(&p->lock);
	(*counter)++;
	pthread_mutex_unlock(&p->lock);
}

static void *push_thread(void *arg)
{
	struct rs_push *p = arg;
	double next_tick = now_s(), last_tick = next_tick, retry_at = 0, backoff = 0;
	bool failing = false;

	for (;;) {
		struct rs_push_item it;
		double now = now_s(), deadline;

		if (now >= next_tick) {
			produce(p);
			last_tick = next_tick;
			p->tick_interval_s = push_interval(p);
			next_tick += p->tick_interval_s;
			if (next_tick < now)
				next_tick = now + p->tick_interval_s;
		}
		if (now >= retry_at && rs_push_queue_front(&p->queue, &it)) {
			enum send_result r = send_one(p, &it);

			if (r == SEND_RETRY) {
				count(p, &p->failures);
				backoff = next_backoff(backoff, p->cfg.max_backoff_s);
				retry_at = now_s() + backoff;
				if (!failing)
					rs_warn("push: controller %s unreachable, retrying with backoff", p->url);
				failing = true;
			} else {
				rs_push_queue_pop(&p->queue, r == SEND_REJECTED);
				count(p, r == SEND_OK ? &p->sent : &p->failures);
				if (failing && r == SEND_OK) {
					rs_info("push: controller %s reachable again", p->url);
					p->drop_warned = false;
				}
				failing = failing && r != SEND_OK;
				backoff = 0;
				retry_at = 0;
				if (p->rephase) {
					/* Agents that got the same answer at once would
					 * keep pushing together: the first push at the new
					 * interval comes at a random point of it (never
					 * sooner than the own interval), which spreads
					 * them over it. */
					double u = (double)rand_r(&p->rand_seed) / ((double)RAND_MAX + 1.0);

					p->rephase = false;
					next_tick = now_s() + p->cfg.interval_s +
						    u * (push_interval(p) - p->cfg.interval_s);
					p->tick_interval_s = next_tick - last_tick;
				}
				continue; /* drain the backlog */
			}
		}
		deadline = next_tick;
		if (rs_push_queue_front(&p->queue, &it) && retry_at < deadline)
			deadline = retry_at;
		if (wait_until(p, deadline))
			break;
	}
	return NULL;
}

static int copy_config(struct rs_push *p, const struct rs_push_config *cfg)
{
	p->cfg = *cfg;
	if (p->cfg.interval_s <= 0)
		p->cfg.interval_s = DEFAULT_INTERVAL_S;
	p->tick_interval_s = p->cfg.interval_s;
	p->rand_seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	if (!p->cfg.queue_items)
		p->cfg.queue_items = DEFAULT_QUEUE_ITEMS;
	if (!p->cfg.queue_bytes)
		p->cfg.queue_bytes = DEFAULT_QUEUE_BYTES;
	if (p->cfg.max_backoff_s <= 0)
		p->cfg.max_backoff_s = DEFAULT_MAX_BACKOFF_S;
	if (p->cfg.timeout_ms <= 0) {
		p->cfg.timeout_ms = (long)(p->cfg.interval_s * 1000);
		if (p->cfg.timeout_ms > 5000)
			p->cfg.timeout_ms = 5000;
		if (p->cfg.timeout_ms < 500)
			p->cfg.timeout_ms = 500;
	}
	p->url = strdup(cfg->url);
	p->pin_dir = strdup(cfg->pin_dir ? cfg->pin_dir : "/sys/fs/bpf/raysense");
	p->token_file = cfg->token_file ? strdup(cfg->token_file) : NULL;
	if (!p->url || !p->pin_dir || (cfg->token_file && !p->token_file))
		return -ENOMEM;
	return 0;
}

static void free_push(struct rs_push *p)
{
	free(p->url);
	free(p->pin_dir);
	free(p->token_file);
	free(p->token);
	rs_push_prev_free(&p->prev);
	free(p);
}

int rs_push_start(const struct rs_push_config *cfg, struct rs_push **out)
{
	struct rs_push *p;
	pthread_condattr_t ca;
	int err;

	if (!cfg->url || strncmp(cfg->url, "http", 4) != 0 || !cfg->collect)
		return -EINVAL;
	err = rs_http_global_init();
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = copy_config(p, cfg);
	if (!err)
		err = rs_push_queue_init(&p->queue, p->cfg.queue_items, p->cfg.queue_bytes);
	if (err) {
		free_push(p);
		return err;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	err = -pthread_create(&p->thread, NULL, push_thread, p);
	if (err) {
		rs_push_queue_destroy(&p->queue);
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free_push(p);
		return err;
	}
	*out = p;
	return 0;
}

void rs_push_stop(struct rs_push *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	rs_push_queue_destroy(&p->queue);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free_push(p);
}

void rs_push_get_stats(struct rs_push *p, struct rs_push_stats *out)
{
	struct rs_push_queue_stats qs;

	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	rs_push_queue_stats(&p->queue, &qs);
	pthread_mutex_lock(&p->lock);
	out->sent = p->sent;
	out->failures = p->failures;
	out->produced = p->produced;
	out->interval_s = push_interval(p);
	pthread_mutex_unlock(&p->lock);
	out->dropped = qs.dropped;
	out->queued = qs.len;
	out->queued_bytes = qs.bytes;
}
