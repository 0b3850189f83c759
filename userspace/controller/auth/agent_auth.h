/* agent_auth.h -- who may push agent snapshots (POST /api/v1/signals), the
 * controller's --agent-auth:
 *   none         anything is accepted (logged loudly at start, and the
 *                raysense_controller_agent_auth{mode="none"} gauge is 1);
 *   token-file   one shared bearer token (--token-file), as before;
 *   tokenreview  each agent sends its own projected ServiceAccount token
 *                (audience --agent-token-audience, default "raysense"); the
 *                controller asks the API server (TokenReview), caches the
 *                answer (review_cache.h), and takes the sender's node from
 *                the pod-bound token.  The snapshot is then kept only for
 *                raylets on that node (signals_ingest_from, node_map.h).
 * The check runs on the request headers, before the body is read.  A review
 * that is not cached costs one API call of at most review_timeout_ms, and
 * at most max_inflight run at once: more are answered 503 at once, so a
 * slow API server cannot pile pushes up on the HTTP threads. */
#ifndef RAYSENSE_CONTROLLER_AGENT_AUTH_H
#define RAYSENSE_CONTROLLER_AGENT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/auth/node_map.h"
#include "controller/source/signals.h"

enum agent_auth_mode {
	AGENT_AUTH_UNSET = 0,
	AGENT_AUTH_NONE,
	AGENT_AUTH_TOKEN_FILE,
	AGENT_AUTH_TOKENREVIEW,
};

#define AGENT_AUTH_CHOICES "tokenreview, token-file or none"
#define AGENT_AUTH_DEFAULT_AUDIENCE "raysense"
#define AGENT_AUTH_DEFAULT_TIMEOUT_MS 2000
#define AGENT_AUTH_DEFAULT_INFLIGHT 2
#define AGENT_AUTH_OK_TTL_S 60.0	/* at most; and never past the token's exp */
#define AGENT_AUTH_NO_EXP_TTL_S 10.0	/* a good answer for a token without exp */
#define AGENT_AUTH_REFUSED_TTL_S 5.0	/* a refused token */

struct agent_auth_config {
	enum agent_auth_mode mode;
	const char *token;		/* token-file: the shared token */
	/* tokenreview */
	const char *kubeconfig;		/* JSON kubeconfig; NULL = in-cluster */
	const char *sa_dir;		/* in-cluster account files; NULL = KUBE_SA_DIR */
	const char *audience;		/* NULL = AGENT_AUTH_DEFAULT_AUDIENCE */
	long review_timeout_ms;		/* 0 = AGENT_AUTH_DEFAULT_TIMEOUT_MS */
	unsigned max_inflight;		/* 0 = AGENT_AUTH_DEFAULT_INFLIGHT */
	const char *pods_namespace;	/* where the Ray pods are; NULL = the config's */
	const char *pods_selector;	/* label selector of the Ray pods; NULL = all */
	double pods_every_s;		/* pod list refresh; 0 = 5 s */
	size_t cache_sets;		/* 0 = 4096 (x4 entries) */
};

struct agent_auth;

/* "none" etc. to a mode; -EINVAL for anything else. */
int agent_auth_parse_mode(const char *s, enum agent_auth_mode *out);
const char *agent_auth_mode_name(enum agent_auth_mode mode);
/* 0, or -errno with err filled (no API credentials, no token, ...).  In
 * tokenreview mode this starts the pod refresher thread. */
int agent_auth_create(const struct agent_auth_config *cfg, struct agent_auth **out, char *err,
		      size_t err_size);
void agent_auth_destroy(struct agent_auth *a);
enum agent_auth_mode agent_auth_get_mode(const struct agent_auth *a);
/* On the headers (authorization may be NULL): 0 when the sender may go on,
 * with its node in node[] (tokenreview) or "" (other modes); else the HTTP
 * status to answer (401, 503) with msg filled.  Counted and logged
 * (rate-limited) here. */
int agent_auth_check(struct agent_auth *a, const char *authorization, char *node,
		     size_t node_size, char *msg, size_t msg_size);
/* Keep a snapshot from sender node (from agent_auth_check; "" = no
 * binding): signals_ingest, or signals_ingest_from the node with the Ray
 * node map.  Same returns; -EPERM is counted and logged here. */
int agent_auth_ingest(struct agent_auth *a, struct signals *s, const char *node,
		      const char *body, size_t len, double now, char *err, size_t err_size);
/* The Ray node -> Kubernetes node map the loop feeds; NULL unless tokenreview. */
struct node_map *agent_auth_node_map(struct agent_auth *a);
/* Prometheus text (malloc'd): the mode gauge and the refusal counters. */
char *agent_auth_metrics_text(struct agent_auth *a);

#endif
