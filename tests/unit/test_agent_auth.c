/* test_agent_auth.c -- issue 16's pure parts: SHA-256 (FIPS 180-4 vectors),
 * the TokenReview request and answer (authenticated, audience, the pod's
 * node; null, missing, wrong and garbage answers), the JWT exp claim, the
 * review cache (TTL, bound, eviction), the Ray node -> Kubernetes node map,
 * and the signals table bound to a sender's node; plus the mode gauge of
 * --agent-auth none and token-file. */
#include "check.h"

#include "common/sha256.h"
#include "controller/auth/agent_auth.h"
#include "controller/auth/node_map.h"
#include "controller/auth/review_cache.h"
#include "controller/auth/token_review.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < RS_SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256(void)
{
	static const struct { const char *in; const char *want; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t d[RS_SHA256_LEN];
	char h[2 * RS_SHA256_LEN + 1], *million = malloc(1000000);

	for (size_t i = 0; i < N(v); i++) {
		rs_sha256(v[i].in, strlen(v[i].in), d);
		hex(d, h);
		CHECK(!strcmp(h, v[i].want), "sha256 #%zu: %s", i, h);
	}
	if (million) {	/* a million 'a': many blocks */
		memset(million, 'a', 1000000);
		rs_sha256(million, 1000000, d);
		hex(d, h);
		CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
		      "sha256 of a million a: %s", h);
		free(million);
	}
}

#define REVIEW(status) "{\"kind\":\"TokenReview\",\"apiVersion\":\"authentication.k8s.io/v1\"," \
		       "\"status\":" status "}"
#define USER(extra) "\"user\":{\"username\":\"system:serviceaccount:rs:agent\",\"extra\":" extra "}"
#define NODE_EXTRA "{\"authentication.kubernetes.io/node-name\":[\"node-a\"]," \
		   "\"authentication.kubernetes.io/pod-name\":[\"p\"]}"

static void test_review_parse(void)
{
	static const struct {
		const char *body;
		bool ok;
		enum token_review_why why;
	} good[] = {
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"]," USER(NODE_EXTRA) "}"),
		  true, TOKEN_REVIEW_OK },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"x\",\"raysense\"]," USER(NODE_EXTRA) "}"),
		  true, TOKEN_REVIEW_OK },
		/* unauthenticated: false, missing, null */
		{ REVIEW("{\"authenticated\":false,\"error\":\"token expired\"}"), false,
		  TOKEN_REVIEW_UNAUTHENTICATED },
		{ REVIEW("{}"), false, TOKEN_REVIEW_UNAUTHENTICATED },
		{ REVIEW("{\"authenticated\":null," USER(NODE_EXTRA) "}"), false,
		  TOKEN_REVIEW_UNAUTHENTICATED },
		/* the audience: missing, other, null */
		{ REVIEW("{\"authenticated\":true," USER(NODE_EXTRA) "}"), false,
		  TOKEN_REVIEW_WRONG_AUDIENCE },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"other\"]," USER(NODE_EXTRA) "}"),
		  false, TOKEN_REVIEW_WRONG_AUDIENCE },
		{ REVIEW("{\"authenticated\":true,\"audiences\":null," USER(NODE_EXTRA) "}"), false,
		  TOKEN_REVIEW_WRONG_AUDIENCE },
		/* not bound to a node: no user, no extra, null extra, no key, null key */
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"]}"), false,
		  TOKEN_REVIEW_NOT_NODE_BOUND },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],\"user\":{}}"), false,
		  TOKEN_REVIEW_NOT_NODE_BOUND },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"]," USER("null") "}"), false,
		  TOKEN_REVIEW_NOT_NODE_BOUND },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"]," USER("{}") "}"), false,
		  TOKEN_REVIEW_NOT_NODE_BOUND },
		{ REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],"
			 USER("{\"authentication.kubernetes.io/node-name\":null}") "}"), false,
		  TOKEN_REVIEW_NOT_NODE_BOUND },
	};
	static const char *const bad[] = {
		"", "null", "[]", "{", "not json", "{\"kind\":\"TokenReview\"}",
		"{\"kind\":\"Status\",\"status\":\"Failure\"}",
		REVIEW("null"), REVIEW("\"ok\""),
		REVIEW("{\"authenticated\":\"yes\"}"),
		REVIEW("{\"authenticated\":true,\"user\":[]}"),
		/* a node name that is not one string */
		REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],"
		       USER("{\"authentication.kubernetes.io/node-name\":\"node-a\"}") "}"),
		REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],"
		       USER("{\"authentication.kubernetes.io/node-name\":[\"a\",\"b\"]}") "}"),
		REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],"
		       USER("{\"authentication.kubernetes.io/node-name\":[\"\"]}") "}"),
		REVIEW("{\"authenticated\":true,\"audiences\":[\"raysense\"],"
		       USER("{\"authentication.kubernetes.io/node-name\":[7]}") "}"),
	};
	struct token_review_result r;
	char err[256];

	for (size_t i = 0; i < N(good); i++) {
		err[0] = '\0';
		int rc = token_review_parse(good[i].body, strlen(good[i].body), "raysense", &r, err,
					    sizeof(err));

		CHECK(rc == 0 && r.ok == good[i].ok && r.why == good[i].why,
		      "good #%zu: rc %d ok %d why %s (%s)", i, rc, r.ok, token_review_why_name(r.why),
		      err);
		CHECK(!strcmp(r.node, good[i].ok ? "node-a" : ""), "good #%zu: node '%s'", i, r.node);
	}
	token_review_parse(good[0].body, strlen(good[0].body), "raysense", &r, err, sizeof(err));
	CHECK(!strcmp(r.username, "system:serviceaccount:rs:agent"), "username %s", r.username);
	token_review_parse(good[2].body, strlen(good[2].body), "raysense", &r, err, sizeof(err));
	CHECK(!strcmp(r.error, "token expired"), "status.error kept: %s", r.error);
	for (size_t i = 0; i < N(bad); i++) {
		err[0] = '\0';
		CHECK(token_review_parse(bad[i], strlen(bad[i]), "raysense", &r, err, sizeof(err)) ==
			      -EINVAL && err[0] && !r.ok && !r.node[0],
		      "bad #%zu refused with a reason ('%s')", i, err);
	}
	/* The body is not NUL-terminated where len ends. */
	CHECK(token_review_parse(good[0].body, strlen(good[0].body) - 1, "raysense", &r, err,
				 sizeof(err)) == -EINVAL, "truncated answer");
}

static void test_review_request(void)
{
	char *body = token_review_request("tok\"en", "raysense");

	CHECK(body && !strcmp(body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
			      "\"TokenReview\",\"spec\":{\"token\":\"tok\\\"en\",\"audiences\":"
			      "[\"raysense\"]}}"), "request body: %s", body ? body : "(null)");
	free(body);
}

static void test_jwt_exp(void)
{
	/* header {"alg":"RS256"}, payload {"aud":["raysense"],"exp":1796461650} */
	const char *jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsicmF5c2Vuc2UiXSwiZXhwIjoxNzk2NDYxNjUwfQ.sig";
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "eyJhbGciOiJSUzI1NiJ9.!!!.sig",
		"x.eyJhdWQiOiJ4In0.sig",	/* {"aud":"x"}: no exp */
		"x.eyJleHAiOiJzb29uIn0.s",	/* {"exp":"soon"} */
	};
	double exp = 0;

	CHECK(token_review_jwt_exp(jwt, &exp) == 0 && exp == 1796461650.0, "exp %f", exp);
	for (size_t i = 0; i < N(bad); i++)
		CHECK(token_review_jwt_exp(bad[i], &exp) == -EINVAL, "bad jwt #%zu", i);
}

static void test_review_cache(void)
{
	struct review_cache c;
	uint8_t k[8][RS_SHA256_LEN];
	const struct review_cache_entry *e;
	char tok[32];

	CHECK(review_cache_init(&c, 0) == -EINVAL, "no sets");
	CHECK(review_cache_init(&c, 1) == 0, "one set of 4");
	for (int i = 0; i < 8; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		review_cache_key(tok, k[i]);
	}
	CHECK(!review_cache_get(&c, k[0], 100), "empty: miss");
	review_cache_put(&c, k[0], 100, 160, true, TOKEN_REVIEW_OK, "node-a");
	review_cache_put(&c, k[1], 100, 105, false, TOKEN_REVIEW_WRONG_AUDIENCE, "node-a");
	e = review_cache_get(&c, k[0], 159.9);
	CHECK(e && e->ok && !strcmp(e->node, "node-a"), "hit before the TTL");
	CHECK(!review_cache_get(&c, k[0], 160), "gone at its deadline");
	e = review_cache_get(&c, k[1], 104);
	CHECK(e && !e->ok && e->why == TOKEN_REVIEW_WRONG_AUDIENCE && !e->node[0],
	      "a refusal is cached without a node");
	CHECK(!review_cache_get(&c, k[2], 100), "another token: miss");
	review_cache_put(&c, k[3], 100, 100, true, TOKEN_REVIEW_OK, "n");
	CHECK(!review_cache_get(&c, k[3], 100), "a deadline not in the future keeps nothing");
	/* Bounded: 6 more live tokens in a cache of 4 holding k0 and k1; once
	 * full, each new one evicts the entry that expires first (k1 at 105, k0
	 * at 160, then k2, k3). */
	for (int i = 2; i < 8; i++)
		review_cache_put(&c, k[i], 101, 200 + i, true, TOKEN_REVIEW_OK, "n");
	CHECK(review_cache_live(&c, 101) == 4, "at most 4 entries (%zu)",
	      review_cache_live(&c, 101));
	CHECK(!review_cache_get(&c, k[0], 101) && !review_cache_get(&c, k[1], 101) &&
	      !review_cache_get(&c, k[2], 101) && !review_cache_get(&c, k[3], 101) &&
	      review_cache_get(&c, k[7], 101) && review_cache_get(&c, k[4], 101),
	      "the soonest-expiring went first");
	CHECK(c.evictions == 4, "evictions %llu", c.evictions);
	review_cache_put(&c, k[7], 101, 300, false, TOKEN_REVIEW_UNAUTHENTICATED, NULL);
	e = review_cache_get(&c, k[7], 250);
	CHECK(e && !e->ok && review_cache_live(&c, 101) == 4, "a token's entry is replaced in place");
	CHECK(c.hits >= 5 && c.misses >= 4, "hits %llu misses %llu", c.hits, c.misses);
	review_cache_free(&c);
}

static struct dash_snapshot two_nodes(void)
{
	static struct dash_node nodes[] = {
		{ .node_id = "ray-a", .node_ip = "10.0.0.1" },
		{ .node_id = "ray-b", .node_ip = "10.0.0.2" },
		{ .node_id = "ray-c", .node_ip = "10.0.0.3" },
		{ .node_id = "ray-noip" },
	};
	return (struct dash_snapshot){ .nodes = nodes, .node_count = N(nodes) };
}

#define POD(ip, node, phase) \
	"{\"spec\":{\"nodeName\":\"" node "\"},\"status\":{\"podIP\":\"" ip "\",\"phase\":\"" phase "\"}}"

static void test_node_map(void)
{
	const char *list = "{\"items\":[" POD("10.0.0.1", "node-a", "Running") ","
			   POD("10.0.0.2", "node-b", "Running") ","
			   POD("10.0.0.2", "node-b", "Pending") ","		/* same node: fine */
			   POD("10.0.0.3", "node-a", "Running") ","
			   POD("10.0.0.3", "node-b", "Running") ","		/* ambiguous */
			   POD("10.0.0.9", "node-z", "Failed") ","		/* holds no IP */
			   "{\"spec\":{},\"status\":{\"podIP\":\"10.0.0.8\"}}]}";	/* unscheduled */
	struct dash_snapshot snap = two_nodes();
	struct node_map *m = node_map_new();
	struct node_map_pod *pods;
	char node[64], err[256];
	size_t n;

	CHECK(node_map_parse_pods("{\"items\":3}", 11, &pods, &n, err, sizeof(err)) == -EINVAL,
	      "not a PodList");
	/* Found by the node_pods fuzz target: an answer that is not JSON. */
	CHECK(node_map_parse_pods("", 0, &pods, &n, err, sizeof(err)) == -EINVAL && !pods,
	      "empty answer");
	CHECK(node_map_parse_pods("{\"items\":[", 10, &pods, &n, err, sizeof(err)) == -EINVAL,
	      "truncated answer");
	CHECK(node_map_parse_pods(list, strlen(list), &pods, &n, err, sizeof(err)) == 0 && n == 5,
	      "5 pods with an IP and a node (%zu): %s", n, err);
	CHECK(!node_map_where(m, "ray-a", node, sizeof(node)) && !node_map_has_pods(m),
	      "an empty map knows nothing");
	node_map_set_pods(m, pods, n);
	CHECK(!node_map_where(m, "ray-a", node, sizeof(node)), "no Ray nodes yet");
	CHECK(node_map_set_ray_nodes(m, &snap) == 0, "set Ray nodes");
	CHECK(node_map_where(m, "ray-a", node, sizeof(node)) && !strcmp(node, "node-a"), "a");
	CHECK(node_map_where(m, "ray-b", node, sizeof(node)) && !strcmp(node, "node-b"), "b");
	CHECK(!node_map_where(m, "ray-c", node, sizeof(node)), "an ambiguous IP maps to nothing");
	CHECK(!node_map_where(m, "ray-noip", node, sizeof(node)) &&
	      !node_map_where(m, "ray-unknown", node, sizeof(node)), "unknown Ray nodes");
	node_map_free(m);
}

#define SNAP(node, workers) "{\"schema_version\":1,\"seq\":1,\"taken_unix_ms\":1,\"node\":" \
	"{\"node_name\":\"" node "\"},\"workers\":[" workers "],\"histograms\":[],\"values\":[]}"
#define W(id, busy) "{\"ray_node_id\":\"" id "\",\"busy_workers\":" #busy "}"

static bool where(void *ctx, const char *id, char *out, size_t size)
{
	return node_map_where(ctx, id, out, size);
}

static void test_signals_bound_to_sender(void)
{
	struct dash_snapshot snap = two_nodes();
	struct node_map *m = node_map_new();
	struct signals *s = signals_new();
	struct node_map_pod *pods = calloc(2, sizeof(*pods));
	struct signals_sender a = { .node = "node-a", .where = where, .ctx = m };
	struct signals_sender b = { .node = "node-b", .where = where, .ctx = m };
	const char *own = SNAP("node-a", W("ray-a", 2) "," W("ray-new", 9));
	const char *other = SNAP("node-a", W("ray-a", 2) "," W("ray-b", 7));
	const char *as_b = SNAP("node-b", W("ray-b", 7));
	const char *b_own = SNAP("node-b", W("ray-b", 0));
	char err[256];
	double age;
	int busy;

	snprintf(pods[0].ip, sizeof(pods[0].ip), "10.0.0.1");
	snprintf(pods[0].node, sizeof(pods[0].node), "node-a");
	snprintf(pods[1].ip, sizeof(pods[1].ip), "10.0.0.2");
	snprintf(pods[1].node, sizeof(pods[1].node), "node-b");
	node_map_set_pods(m, pods, 2);
	node_map_set_ray_nodes(m, &snap);

	CHECK(signals_ingest_from(s, own, strlen(own), 100, &a, err, sizeof(err)) == 0 &&
	      a.unverified == 1, "own raylet kept, the unknown one dropped (%s)", err);
	CHECK(signals_busy_hint(s, "ray-a", 100, 30, &busy, &age) && busy == 2, "ray-a hint");
	CHECK(!signals_busy_hint(s, "ray-new", 100, 30, &busy, &age), "unverified: no hint");
	CHECK(signals_ingest_from(s, b_own, strlen(b_own), 100, &b, err, sizeof(err)) == 0, "b");
	err[0] = '\0';
	CHECK(signals_ingest_from(s, other, strlen(other), 101, &a, err, sizeof(err)) == -EPERM &&
	      !strcmp(a.refused, "raylet_elsewhere") && strstr(err, "ray-b runs on node node-b"),
	      "a raylet on another node: refused (%s)", err);
	CHECK(signals_ingest_from(s, as_b, strlen(as_b), 101, &a, err, sizeof(err)) == -EPERM &&
	      !strcmp(a.refused, "node_name"), "another node's name: refused (%s)", err);
	CHECK(signals_busy_hint(s, "ray-b", 101, 30, &busy, &age) && busy == 0,
	      "node-b's entry is what node-b said");
	CHECK(signals_count(s) == 2, "two agents");
	CHECK(signals_ingest(s, other, strlen(other), 102, err, sizeof(err)) == 0,
	      "unbound ingest (token-file, none) keeps anything, as before");
	signals_free(s);
	node_map_free(m);
}

static void test_modes(void)
{
	struct agent_auth_config cfg = { .mode = AGENT_AUTH_NONE };
	struct agent_auth *a;
	enum agent_auth_mode mode;
	char err[256], node[64], msg[256], *text;

	CHECK(agent_auth_parse_mode("tokenreview", &mode) == 0 && mode == AGENT_AUTH_TOKENREVIEW &&
	      agent_auth_parse_mode("token-file", &mode) == 0 && mode == AGENT_AUTH_TOKEN_FILE &&
	      agent_auth_parse_mode("none", &mode) == 0 && mode == AGENT_AUTH_NONE &&
	      agent_auth_parse_mode("", &mode) == -EINVAL &&
	      agent_auth_parse_mode(NULL, &mode) == -EINVAL, "mode names");
	CHECK(agent_auth_create(&cfg, &a, err, sizeof(err)) == 0, "none");
	CHECK(agent_auth_check(a, NULL, node, sizeof(node), msg, sizeof(msg)) == 0 && !node[0],
	      "none accepts a request without a token");
	text = agent_auth_metrics_text(a);
	CHECK(text && strstr(text, "raysense_controller_agent_auth{mode=\"none\"} 1\n") &&
	      strstr(text, "raysense_controller_agent_auth{mode=\"tokenreview\"} 0\n"),
	      "mode gauge: %s", text ? text : "(null)");
	free(text);
	agent_auth_destroy(a);
	cfg.mode = AGENT_AUTH_TOKEN_FILE;
	CHECK(agent_auth_create(&cfg, &a, err, sizeof(err)) == -EINVAL, "token-file needs a token");
	cfg.token = "s3cret";
	CHECK(agent_auth_create(&cfg, &a, err, sizeof(err)) == 0, "token-file");
	CHECK(agent_auth_check(a, "Bearer s3cret", node, sizeof(node), msg, sizeof(msg)) == 0,
	      "right token");
	CHECK(agent_auth_check(a, "Bearer s3cre", node, sizeof(node), msg, sizeof(msg)) == 401,
	      "wrong token");
	CHECK(agent_auth_check(a, NULL, node, sizeof(node), msg, sizeof(msg)) == 401, "no token");
	text = agent_auth_metrics_text(a);
	CHECK(text && strstr(text, "raysense_controller_agent_reports_refused_total"
			     "{reason=\"wrong_token\"} 1\n") &&
	      strstr(text, "raysense_controller_agent_reports_refused_total"
			   "{reason=\"missing_token\"} 1\n"), "refusals counted: %s",
	      text ? text : "(null)");
	free(text);
	agent_auth_destroy(a);
	cfg.mode = AGENT_AUTH_UNSET;
	CHECK(agent_auth_create(&cfg, &a, err, sizeof(err)) == -EINVAL, "unset mode refused");
}

int main(void)
{
	test_sha256();
	test_review_parse();
	test_review_request();
	test_jwt_exp();
	test_review_cache();
	test_node_map();
	test_signals_bound_to_sender();
	test_modes();
	CHECK_EXIT();
}
