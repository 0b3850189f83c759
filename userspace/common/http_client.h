/* http_client.h -- one blocking HTTP request with libcurl, bounded in time and
 * in response size. Used by the dashboard client, the Kubernetes provider and
 * the agent's snapshot push. Each call is independent and thread-safe once
 * rs_http_global_init() has run. */
#ifndef RAYSENSE_HTTP_CLIENT_H
#define RAYSENSE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define RS_HTTP_CAPTURE_MAX 2
#define RS_HTTP_CAPTURE_LEN 256

struct rs_http_client_request {
	const char *method;          /* "GET" (default when NULL), "POST", "PATCH", ... */
	const char *url;
	const char *const *headers;  /* NULL-terminated "Name: value" list, or NULL */
	const char *bearer_token;    /* adds "Authorization: Bearer <token>" */
	const void *body;
	size_t body_len;
	const char *content_type;    /* for the body; default application/json */
	bool gzip_body;              /* compress body, send Content-Encoding: gzip */
	long timeout_ms;             /* total; default 5000 */
	long connect_timeout_ms;     /* default min(timeout, 2000) */
	size_t max_response;         /* default 8 MiB; larger answers fail with -EFBIG */
	/* TLS (Kubernetes API). */
	const char *ca_file;
	const char *client_cert_file;
	const char *client_key_file;
	bool insecure_skip_verify;
	/* gRPC (Ray's GCS): HTTP/2 over cleartext without an upgrade, and
	 * headers or trailers whose value the caller wants (grpc-status). */
	bool http2_prior_knowledge;
	const char *capture[RS_HTTP_CAPTURE_MAX];	/* header names, NULL = unused */
};

struct rs_http_client_response {
	long status;                 /* HTTP status, 0 when no answer */
	char *body;                  /* NUL-terminated, malloc'd (may be empty) */
	size_t body_len;
	char error[256];             /* human-readable cause when the call fails */
	/* The last value of each request.capture name, in headers or trailers
	 * (whitespace trimmed, cut at RS_HTTP_CAPTURE_LEN - 1); "" = absent. */
	char captured[RS_HTTP_CAPTURE_MAX][RS_HTTP_CAPTURE_LEN];
};

int rs_http_global_init(void);
void rs_http_global_cleanup(void);

/* Perform the request. Returns 0 when an HTTP answer arrived (any status), or
 * -ETIMEDOUT, -ECONNREFUSED, -EFBIG (answer over max_response), -EPROTO
 * (TLS or protocol failure), -EHOSTUNREACH, -ENOMEM, -EIO. On every return
 * the caller must rs_http_response_free(resp). */
int rs_http_do(const struct rs_http_client_request *req, struct rs_http_client_response *resp);
void rs_http_response_free(struct rs_http_client_response *resp);

#endif
