/* token_review.h -- the authentication.k8s.io/v1 TokenReview the controller
 * sends for an agent's bearer token, and what it makes of the answer: who
 * the token names and, for a pod-bound ServiceAccount token (Kubernetes
 * >= 1.32), the node of that pod (status.user.extra
 * ["authentication.kubernetes.io/node-name"]).  Also the token's own
 * expiry (the JWT "exp" claim), which caps how long an answer is cached.
 * Pure: building and parsing only; agent_auth.c does the I/O. */
#ifndef RAYSENSE_CONTROLLER_TOKEN_REVIEW_H
#define RAYSENSE_CONTROLLER_TOKEN_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define TOKEN_REVIEW_NODE_KEY "authentication.kubernetes.io/node-name"
#define TOKEN_REVIEW_NAME_MAX 254	/* a node name is a DNS subdomain (253) */

/* What a review said.  ok is true only when the token is authenticated,
 * for `audience`, and bound to a pod on a node; otherwise why says which
 * of those failed. */
enum token_review_why {
	TOKEN_REVIEW_OK,
	TOKEN_REVIEW_UNAUTHENTICATED,	/* status.authenticated false or missing */
	TOKEN_REVIEW_WRONG_AUDIENCE,	/* status.audiences lacks the audience */
	TOKEN_REVIEW_NOT_NODE_BOUND,	/* no single node-name in user.extra */
};

struct token_review_result {
	bool ok;
	enum token_review_why why;
	char username[256];		/* status.user.username ("" when none) */
	char node[TOKEN_REVIEW_NAME_MAX];	/* the pod's node when ok */
	char error[256];		/* status.error, if the API server gave one */
};

/* The TokenReview object to POST (malloc'd JSON), or NULL when out of memory. */
char *token_review_request(const char *token, const char *audience);
/* Parse the API server's answer to that POST (HTTP 201).  0 with *out
 * filled (out->ok says whether the token is good), or -EINVAL when the
 * answer is not a TokenReview (err says what is wrong). */
int token_review_parse(const char *body, size_t len, const char *audience,
		       struct token_review_result *out, char *err, size_t err_size);
/* The "exp" claim (UNIX seconds) of a JWT, read without checking the
 * signature (the API server did).  0, or -EINVAL when the token is not a
 * JWT with a numeric exp. */
int token_review_jwt_exp(const char *token, double *exp);
const char *token_review_why_name(enum token_review_why why);

#endif
