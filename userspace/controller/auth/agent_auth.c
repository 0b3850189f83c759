/* agent_auth.c -- --agent-auth: the shared token, nothing, or TokenReview
 * with a cache, bounded concurrency and node binding (see agent_auth.h). */
#include "common/util.h"
#include "controller/auth/agent_auth.h"

#include "common/http_server.h"
#include "common/log.h"
#include "common/prom_text.h"
#include "controller/auth/review_cache.h"
#include "controller/auth/token_review.h"
#include "controller/provider/kube_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX_BYTES 16384
#define DEFAULT_CACHE_SETS 4096
#define DEFAULT_PODS_EVERY_S 5.0
#define LOG_EVERY_S 10.0		/* one refusal line per reason per this */

/* Refusal reasons: the bounded label set of the refusal counter. */
enum reason {
	R_MISSING_TOKEN, R_WRONG_TOKEN, R_UNAUTHENTICATED, R_WRONG_AUDIENCE, R_NOT_NODE_BOUND,
	R_REVIEW_BUSY, R_REVIEW_FAILED, R_NODE_NAME, R_RAYLET_ELSEWHERE, R_COUNT,
};
static const char *const reason_names[R_COUNT] = {
	"missing_token", "wrong_token", "unauthenticated", "wrong_audience", "not_node_bound",
	"review_busy", "review_failed", "node_name", "raylet_elsewhere",
};

struct slot {
	struct kube_client kube;
	bool busy;
};

struct agent_auth {
	enum agent_auth_mode mode;
	char *token;
	char audience[128];
	/* tokenreview */
	struct slot *slots;
	unsigned n_slots;
	struct kube_client pods_kube;
	char pods_path[1024];
	double pods_every_s;
	struct node_map *map;
	pthread_t pods_thread;
	bool pods_running;
	pthread_cond_t stop_cond;
	bool stop;

	pthread_mutex_t lock;		/* below, and slots[].busy, stop */
	struct review_cache cache;
	unsigned long long refused[R_COUNT];
	unsigned long long reviews_ok, reviews_refused, reviews_failed, unverified;
	double logged_at[R_COUNT];
	unsigned long long unlogged[R_COUNT];
	char pods_error[256];
};

int agent_auth_parse_mode(const char *s, enum agent_auth_mode *out)
{
	static const struct { const char *name; enum agent_auth_mode m; } modes[] = {
		{ "none", AGENT_AUTH_NONE },
		{ "token-file", AGENT_AUTH_TOKEN_FILE },
		{ "tokenreview", AGENT_AUTH_TOKENREVIEW },
	};

	for (size_t i = 0; s && i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].m;
			return 0;
		}
	}
	return -EINVAL;
}

const char *agent_auth_mode_name(enum agent_auth_mode mode)
{
	switch (mode) {
	case AGENT_AUTH_NONE: return "none";
	case AGENT_AUTH_TOKEN_FILE: return "token-file";
	case AGENT_AUTH_TOKENREVIEW: return "tokenreview";
	case AGENT_AUTH_UNSET: break;
	}
	return "unset";
}

enum agent_auth_mode agent_auth_get_mode(const struct agent_auth *a)
{
	return a->mode;
}

struct node_map *agent_auth_node_map(struct agent_auth *a)
{
	return a->mode == AGENT_AUTH_TOKENREVIEW ? a->map : NULL;
}

/* Count a refusal and log it, at most one line per reason per LOG_EVERY_S
 * (with how many were not logged). */
static void refuse(struct agent_auth *a, enum reason r, const char *detail)
{
	double now = rs_now_mono();
	unsigned long long quiet = 0;
	bool log = false;

	pthread_mutex_lock(&a->lock);
	a->refused[r]++;
	if (!a->logged_at[r] || now - a->logged_at[r] >= LOG_EVERY_S) {
		log = true;
		quiet = a->unlogged[r];
		a->unlogged[r] = 0;
		a->logged_at[r] = now;
	} else {
		a->unlogged[r]++;
	}
	pthread_mutex_unlock(&a->lock);
	if (log && quiet)
		rs_warn("signals: refused an agent report (%s): %s (%llu more since the last "
			"such line)", reason_names[r], detail, quiet);
	else if (log)
		rs_warn("signals: refused an agent report (%s): %s", reason_names[r], detail);
}

/* ------------------------------------------------------------ pod refresher */

static void refresh_pods(struct agent_auth *a)
{
	struct kube_response r;
	struct node_map_pod *pods = NULL;
	char err[256] = "";
	size_t n = 0;
	int rc;

	rc = kube_request(&a->pods_kube, "GET", a->pods_path, NULL, NULL, &r);
	if (!rc && r.status != 200)
		rs_errf(err, sizeof(err), "HTTP %ld listing pods (%s): %.120s", r.status,
			 a->pods_path, r.body ? r.body : "");
	else if (rc)
		rs_errf(err, sizeof(err), "listing pods: %s", r.error[0] ? r.error : strerror(-rc));
	else if (node_map_parse_pods(r.body, r.body_len, &pods, &n, err, sizeof(err)))
		pods = NULL;
	kube_response_free(&r);
	if (!err[0])
		node_map_set_pods(a->map, pods, n);
	pthread_mutex_lock(&a->lock);
	if (err[0] && strcmp(err, a->pods_error))
		rs_warn("agent auth: %s (reports about raylets stay unverified)", err);
	snprintf(a->pods_error, sizeof(a->pods_error), "%s", err);
	pthread_mutex_unlock(&a->lock);
}

static void *pods_main(void *arg)
{
	struct agent_auth *a = arg;
	struct timespec until;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		pthread_mutex_unlock(&a->lock);
		refresh_pods(a);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)a->pods_every_s;
		until.tv_nsec += (long)((a->pods_every_s - (double)(time_t)a->pods_every_s) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&a->lock);
		while (!a->stop && pthread_cond_timedwait(&a->stop_cond, &a->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* ------------------------------------------------------------ create/destroy */

static int load_kube(const struct agent_auth_config *cfg, struct kube_client *k, char *err,
		     size_t size)
{
	char kerr[KUBE_ERR_LEN] = "";
	int rc = cfg->kubeconfig ? kube_client_from_kubeconfig(k, cfg->kubeconfig, NULL, kerr)
				 : kube_client_in_cluster(k, cfg->sa_dir, kerr);

	if (rc)
		rs_errf(err, size, "--agent-auth tokenreview needs Kubernetes API credentials: %s",
			kerr);
	return rc;
}

static int create_review(struct agent_auth *a, const struct agent_auth_config *cfg, char *err,
			 size_t size)
{
	char esc[512] = "";
	const char *ns;
	int rc;

	a->n_slots = cfg->max_inflight ? cfg->max_inflight : AGENT_AUTH_DEFAULT_INFLIGHT;
	a->slots = calloc(a->n_slots, sizeof(*a->slots));
	a->map = node_map_new();
	if (!a->slots || !a->map ||
	    review_cache_init(&a->cache, cfg->cache_sets ? cfg->cache_sets : DEFAULT_CACHE_SETS))
		return -ENOMEM;
	for (unsigned i = 0; i < a->n_slots; i++) {
		if ((rc = load_kube(cfg, &a->slots[i].kube, err, size)))
			return rc;
		a->slots[i].kube.timeout_ms = cfg->review_timeout_ms ? cfg->review_timeout_ms
								     : AGENT_AUTH_DEFAULT_TIMEOUT_MS;
	}
	if ((rc = load_kube(cfg, &a->pods_kube, err, size)))
		return rc;
	ns = cfg->pods_namespace ? cfg->pods_namespace : a->pods_kube.ns;
	if (cfg->pods_selector && kube_url_escape(cfg->pods_selector, esc, sizeof(esc))) {
		rs_errf(err, size, "pod label selector too long");
		return -EINVAL;
	}
	snprintf(a->pods_path, sizeof(a->pods_path), "/api/v1/namespaces/%s/pods%s%s", ns,
		 esc[0] ? "?labelSelector=" : "", esc);
	a->pods_every_s = cfg->pods_every_s > 0 ? cfg->pods_every_s : DEFAULT_PODS_EVERY_S;
	if ((rc = pthread_create(&a->pods_thread, NULL, pods_main, a))) {
		rs_errf(err, size, "cannot start the pod refresher: %s", strerror(rc));
		return -rc;
	}
	a->pods_running = true;
	return 0;
}

int agent_auth_create(const struct agent_auth_config *cfg, struct agent_auth **out, char *err,
		      size_t size)
{
	struct agent_auth *a;
	int rc = 0;

	*out = NULL;
	if (cfg->mode == AGENT_AUTH_UNSET) {
		rs_errf(err, size, "no agent authentication mode");
		return -EINVAL;
	}
	if (cfg->mode == AGENT_AUTH_TOKEN_FILE && (!cfg->token || !cfg->token[0])) {
		rs_errf(err, size, "--agent-auth token-file needs --token-file");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->stop_cond, NULL);
	a->mode = cfg->mode;
	snprintf(a->audience, sizeof(a->audience), "%s",
		 cfg->audience ? cfg->audience : AGENT_AUTH_DEFAULT_AUDIENCE);
	if (cfg->mode == AGENT_AUTH_TOKEN_FILE && !(a->token = strdup(cfg->token)))
		rc = -ENOMEM;
	if (!rc && cfg->mode == AGENT_AUTH_TOKENREVIEW)
		rc = create_review(a, cfg, err, size);
	if (rc) {
		if (rc == -ENOMEM)
			rs_errf(err, size, "out of memory");
		agent_auth_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

void agent_auth_destroy(struct agent_auth *a)
{
	if (!a)
		return;
	if (a->pods_running) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_broadcast(&a->stop_cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->pods_thread, NULL);
	}
	for (unsigned i = 0; a->slots && i < a->n_slots; i++)
		kube_client_free(&a->slots[i].kube);
	free(a->slots);
	kube_client_free(&a->pods_kube);
	node_map_free(a->map);
	review_cache_free(&a->cache);
	free(a->token);
	pthread_cond_destroy(&a->stop_cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* ------------------------------------------------------------------ review */

static struct slot *take_slot(struct agent_auth *a)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->n_slots && !s; i++)
		if (!a->slots[i].busy)
			s = &a->slots[i];
	if (s)
		s->busy = true;
	pthread_mutex_unlock(&a->lock);
	return s;
}

/* How long a good answer may be cached: AGENT_AUTH_OK_TTL_S, and never past
 * the token's own expiry. */
static double ok_ttl(const char *token)
{
	double exp, left;

	if (token_review_jwt_exp(token, &exp))
		return AGENT_AUTH_NO_EXP_TTL_S;
	left = exp - rs_now_unix();
	return left < AGENT_AUTH_OK_TTL_S ? left : AGENT_AUTH_OK_TTL_S;
}

/* One TokenReview on a free slot.  0 with *res filled, or an HTTP status
 * (503) with the reason in *r. */
static int review(struct agent_auth *a, const char *token, struct token_review_result *res,
		  enum reason *r, char *msg, size_t msg_size)
{
	struct slot *s = take_slot(a);
	struct kube_response resp = { 0 };
	char *body, err[256] = "";
	int rc;

	if (!s) {
		*r = R_REVIEW_BUSY;
		rs_errf(msg, msg_size, "token reviews busy; retry");
		return 503;
	}
	body = token_review_request(token, a->audience);
	rc = body ? kube_request(&s->kube, "POST", TOKEN_REVIEW_PATH, "application/json", body,
				 &resp) : -ENOMEM;
	free(body);
	if (!rc && resp.status != 201 && resp.status != 200)
		rs_errf(err, sizeof(err), "API server answered HTTP %ld: %.150s", resp.status,
			 resp.body ? resp.body : "");
	else if (rc)
		rs_errf(err, sizeof(err), "API server: %s",
			 rc == -ENOMEM ? "out of memory" : resp.error[0] ? resp.error : strerror(-rc));
	else
		token_review_parse(resp.body, resp.body_len, a->audience, res, err, sizeof(err));
	kube_response_free(&resp);
	pthread_mutex_lock(&a->lock);
	s->busy = false;
	if (err[0])
		a->reviews_failed++;
	else if (res->ok)
		a->reviews_ok++;
	else
		a->reviews_refused++;
	pthread_mutex_unlock(&a->lock);
	if (!err[0])
		return 0;
	*r = R_REVIEW_FAILED;
	rs_errf(msg, msg_size, "cannot review the token: %s", err);
	return 503;
}

static enum reason why_reason(enum token_review_why why)
{
	switch (why) {
	case TOKEN_REVIEW_WRONG_AUDIENCE: return R_WRONG_AUDIENCE;
	case TOKEN_REVIEW_NOT_NODE_BOUND: return R_NOT_NODE_BOUND;
	default: return R_UNAUTHENTICATED;
	}
}

static const char *why_text(enum token_review_why why)
{
	switch (why) {
	case TOKEN_REVIEW_WRONG_AUDIENCE: return "the token is not for this audience";
	case TOKEN_REVIEW_NOT_NODE_BOUND:
		return "the token is not bound to a pod on a node (use a projected "
		       "ServiceAccount token)";
	default: return "the token is not valid";
	}
}

static int check_review(struct agent_auth *a, const char *token, char *node, size_t node_size,
			char *msg, size_t msg_size)
{
	struct token_review_result res;
	const struct review_cache_entry *e;
	uint8_t key[RS_SHA256_LEN];
	enum token_review_why why;
	enum reason r;
	bool ok;
	int st;

	review_cache_key(token, key);
	pthread_mutex_lock(&a->lock);
	e = review_cache_get(&a->cache, key, rs_now_mono());
	if (e) {
		ok = e->ok;
		why = e->why;
		snprintf(node, node_size, "%s", e->node);
	}
	pthread_mutex_unlock(&a->lock);
	if (!e) {
		st = review(a, token, &res, &r, msg, msg_size);
		if (st) {
			refuse(a, r, msg);
			return st;
		}
		ok = res.ok;
		why = res.why;
		snprintf(node, node_size, "%s", res.node);
		pthread_mutex_lock(&a->lock);
		review_cache_put(&a->cache, key, rs_now_mono(), rs_now_mono() +
				 (ok ? ok_ttl(token) : AGENT_AUTH_REFUSED_TTL_S), ok, why, res.node);
		pthread_mutex_unlock(&a->lock);
		if (!ok && res.error[0])
			rs_debug("agent auth: TokenReview of a token for %s: %s",
				 res.username[0] ? res.username : "nobody", res.error);
	}
	if (ok)
		return 0;
	node[0] = '\0';
	rs_errf(msg, msg_size, "%s", why_text(why));
	refuse(a, why_reason(why), msg);
	return 401;
}

static bool bearer(const char *authorization, const char **token)
{
	static const char prefix[] = "Bearer ";

	if (!authorization || strncmp(authorization, prefix, sizeof(prefix) - 1))
		return false;
	*token = authorization + sizeof(prefix) - 1;
	return **token && strlen(*token) <= TOKEN_MAX_BYTES;
}

int agent_auth_check(struct agent_auth *a, const char *authorization, char *node,
		     size_t node_size, char *msg, size_t msg_size)
{
	struct rs_http_request req = { .authorization = authorization };
	const char *token;

	node[0] = '\0';
	if (a->mode == AGENT_AUTH_NONE)
		return 0;
	if (a->mode == AGENT_AUTH_TOKEN_FILE) {
		if (rs_http_bearer_ok(&req, a->token))
			return 0;
		rs_errf(msg, msg_size, "missing or wrong bearer token");
		refuse(a, authorization ? R_WRONG_TOKEN : R_MISSING_TOKEN, msg);
		return 401;
	}
	if (!bearer(authorization, &token)) {
		rs_errf(msg, msg_size, "missing bearer token (a projected ServiceAccount token "
			"with audience %s)", a->audience);
		refuse(a, R_MISSING_TOKEN, msg);
		return 401;
	}
	return check_review(a, token, node, node_size, msg, msg_size);
}

static bool where(void *ctx, const char *ray_node_id, char *out, size_t size)
{
	return node_map_where(ctx, ray_node_id, out, size);
}

int agent_auth_ingest(struct agent_auth *a, struct signals *s, const char *node,
		      const char *body, size_t len, double now, char *err, size_t err_size)
{
	struct signals_sender from = { .node = node, .where = where, .ctx = a->map };
	int rc;

	if (a->mode != AGENT_AUTH_TOKENREVIEW)
		return signals_ingest(s, body, len, now, err, err_size);
	if (!node || !node[0]) {	/* agent_auth_check names one when it passes */
		rs_errf(err, err_size, "no authenticated node");
		return -EPERM;
	}
	rc = signals_ingest_from(s, body, len, now, &from, err, err_size);
	if (rc == -EPERM)
		refuse(a, from.refused && !strcmp(from.refused, "node_name") ? R_NODE_NAME
									    : R_RAYLET_ELSEWHERE, err);
	if (from.unverified) {
		pthread_mutex_lock(&a->lock);
		a->unverified += from.unverified;
		pthread_mutex_unlock(&a->lock);
	}
	return rc;
}

/* ----------------------------------------------------------------- metrics */

char *agent_auth_metrics_text(struct agent_auth *a)
{
	static const enum agent_auth_mode modes[] = { AGENT_AUTH_NONE, AGENT_AUTH_TOKEN_FILE,
						      AGENT_AUTH_TOKENREVIEW };
	const char *g = "raysense_controller_agent_auth";
	const char *c = "raysense_controller_agent_reports_refused_total";
	const char *t = "raysense_controller_token_reviews_total";
	struct rs_prom_text w;
	struct review_cache cache;
	unsigned long long refused[R_COUNT], ok, no, failed, unverified;
	size_t live;

	pthread_mutex_lock(&a->lock);
	memcpy(refused, a->refused, sizeof(refused));
	ok = a->reviews_ok;
	no = a->reviews_refused;
	failed = a->reviews_failed;
	unverified = a->unverified;
	cache = a->cache;
	live = cache.e ? review_cache_live(&a->cache, rs_now_mono()) : 0;
	pthread_mutex_unlock(&a->lock);
	rs_prom_init(&w, RS_PROM_FLOAT_SHORTEST);
	rs_prom_family(&w, g, "How agent reports are authenticated (--agent-auth): 1 for the "
		       "mode in force. mode=\"none\" means anyone can push signals.", RS_PROM_GAUGE);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		rs_prom_sample(&w, g, NULL, RS_PROM_LABELS({ "mode", agent_auth_mode_name(modes[i]) }),
			       a->mode == modes[i]);
	rs_prom_family(&w, c, "Agent reports refused, per reason (401: token; 403: a report "
		       "about another node; 503: the token review could not be made).",
		       RS_PROM_COUNTER);
	for (int r = 0; r < R_COUNT; r++)
		rs_prom_sample_u64(&w, c, NULL, RS_PROM_LABELS({ "reason", reason_names[r] }),
				   refused[r]);
	if (a->mode != AGENT_AUTH_TOKENREVIEW)
		return rs_prom_finish(&w, NULL);
	rs_prom_family(&w, t, "TokenReviews sent to the API server, per result.", RS_PROM_COUNTER);
	rs_prom_sample_u64(&w, t, NULL, RS_PROM_LABELS({ "result", "ok" }), ok);
	rs_prom_sample_u64(&w, t, NULL, RS_PROM_LABELS({ "result", "refused" }), no);
	rs_prom_sample_u64(&w, t, NULL, RS_PROM_LABELS({ "result", "error" }), failed);
	rs_prom_family(&w, "raysense_controller_token_review_cache_hits_total",
		       "Agent requests answered from the token-review cache.", RS_PROM_COUNTER);
	rs_prom_sample_u64(&w, "raysense_controller_token_review_cache_hits_total", NULL, NULL, 0,
			   cache.hits);
	rs_prom_family(&w, "raysense_controller_token_review_cache_entries",
		       "Live entries of the token-review cache.", RS_PROM_GAUGE);
	rs_prom_sample_u64(&w, "raysense_controller_token_review_cache_entries", NULL, NULL, 0,
			   live);
	rs_prom_family(&w, "raysense_controller_agent_raylets_unverified_total",
		       "Raylets dropped from accepted reports because the controller could not "
		       "yet tell their Kubernetes node (Ray node or pod not listed yet).",
		       RS_PROM_COUNTER);
	rs_prom_sample_u64(&w, "raysense_controller_agent_raylets_unverified_total", NULL, NULL, 0,
			   unverified);
	return rs_prom_finish(&w, NULL);
}
