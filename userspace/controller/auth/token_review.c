/* token_review.c -- TokenReview request and answer (see token_review.h). */
#include "common/util.h"
#include "controller/auth/token_review.h"

#include "common/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_PAYLOAD_MAX 8192

char *token_review_request(const char *token, const char *audience)
{
	cJSON *o = cJSON_CreateObject(), *spec, *aud;
	char *text = NULL;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "apiVersion", "authentication.k8s.io/v1");
	cJSON_AddStringToObject(o, "kind", "TokenReview");
	spec = cJSON_AddObjectToObject(o, "spec");
	if (spec && cJSON_AddStringToObject(spec, "token", token) &&
	    (aud = cJSON_AddArrayToObject(spec, "audiences")))
		cJSON_AddItemToArray(aud, cJSON_CreateString(audience));
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spec, "audiences")) == 1)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

const char *token_review_why_name(enum token_review_why why)
{
	switch (why) {
	case TOKEN_REVIEW_OK: return "ok";
	case TOKEN_REVIEW_UNAUTHENTICATED: return "unauthenticated";
	case TOKEN_REVIEW_WRONG_AUDIENCE: return "wrong_audience";
	case TOKEN_REVIEW_NOT_NODE_BOUND: return "not_node_bound";
	}
	return "unknown";
}

static bool has_audience(const cJSON *status, const char *audience)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(status, "audiences"))
		if (cJSON_IsString(a) && !strcmp(a->valuestring, audience))
			return true;
	return false;
}

/* user.extra[node-name]: a list of exactly one non-empty name. */
static int node_name(const cJSON *user, struct token_review_result *out, char *err,
		     size_t size)
{
	const cJSON *extra = cJSON_GetObjectItemCaseSensitive(user, "extra");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(extra, TOKEN_REVIEW_NODE_KEY);

	if (!v || cJSON_IsNull(v))
		return -ENOENT;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 1 ||
	    !cJSON_IsString(v->child) || !v->child->valuestring[0] ||
	    strlen(v->child->valuestring) >= sizeof(out->node)) {
		rs_errf(err, size, "$.status.user.extra[\"%s\"]: want one node name",
			TOKEN_REVIEW_NODE_KEY);
		return -EINVAL;
	}
	snprintf(out->node, sizeof(out->node), "%s", v->child->valuestring);
	return 0;
}

static int fail_why(struct token_review_result *out, enum token_review_why why)
{
	out->ok = false;
	out->why = why;
	out->node[0] = '\0';
	return 0;
}

static int judge(const cJSON *root, const char *audience, struct token_review_result *out,
		 char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *status, *user = NULL;
	const char *s = NULL;
	bool authed = false;
	int rc;

	if (rs_json_get_object(root, "$", "status", true, &status, &jerr) ||
	    rs_json_get_bool(status, "$.status", "authenticated", false, &authed, &jerr) < -ENOENT ||
	    rs_json_get_object(status, "$.status", "user", false, &user, &jerr) < -ENOENT ||
	    rs_json_get_string(status, "$.status", "error", false, &s, &jerr) < -ENOENT) {
		rs_errf(err, size, "%s", jerr.msg);
		return -EINVAL;
	}
	if (s)
		snprintf(out->error, sizeof(out->error), "%s", s);
	s = user ? rs_json_opt_str(user, "username") : NULL;
	snprintf(out->username, sizeof(out->username), "%s", s ? s : "");
	if (!authed)
		return fail_why(out, TOKEN_REVIEW_UNAUTHENTICATED);
	if (!has_audience(status, audience))
		return fail_why(out, TOKEN_REVIEW_WRONG_AUDIENCE);
	rc = user ? node_name(user, out, err, size) : -ENOENT;
	if (rc == -ENOENT)
		return fail_why(out, TOKEN_REVIEW_NOT_NODE_BOUND);
	if (rc)
		return rc;
	out->ok = true;
	out->why = TOKEN_REVIEW_OK;
	return 0;
}

int token_review_parse(const char *body, size_t len, const char *audience,
		       struct token_review_result *out, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const char *kind;
	cJSON *root;
	int rc;

	memset(out, 0, sizeof(*out));
	out->why = TOKEN_REVIEW_UNAUTHENTICATED;
	if (rs_json_parse(body, len, &root, &jerr)) {
		rs_errf(err, size, "TokenReview: %s", jerr.msg);
		return -EINVAL;
	}
	if (!cJSON_IsObject(root) || !(kind = rs_json_opt_str(root, "kind")) ||
	    strcmp(kind, "TokenReview")) {
		rs_errf(err, size, "TokenReview: not a TokenReview object");
		rc = -EINVAL;
	} else {
		rc = judge(root, audience, out, err, size);
	}
	cJSON_Delete(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* base64url (no padding) into standard base64 text, then decoded. */
static long b64url_decode(const char *in, size_t len, char *out, size_t out_size)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned acc = 0;
	int bits = 0;
	long n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *p = in[i] ? strchr(tbl, in[i]) : NULL;

		if (!p)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if ((size_t)n + 1 >= out_size)
				return -EINVAL;
			out[n++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	return n;
}

int token_review_jwt_exp(const char *token, double *exp)
{
	const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	struct rs_json_error jerr;
	char payload[JWT_PAYLOAD_MAX];
	cJSON *root;
	long n;
	int rc;

	if (!dot2 || strchr(dot2 + 1, '.'))
		return -EINVAL;
	n = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload));
	if (n <= 0 || rs_json_parse(payload, (size_t)n, &root, &jerr))
		return -EINVAL;
	rc = rs_json_get_number(root, "$", "exp", true, exp, &jerr) || !(*exp > 0) ? -EINVAL : 0;
	cJSON_Delete(root);
	return rc;
}
