/* http_client.c -- libcurl request wrapper (see http_client.h). */
#include "common/http_client.h"
#include "common/gzip.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_MAX_RESPONSE (8u << 20)

struct sink {
	char *buf;
	size_t len, cap, max;
	bool overflow;
};

int rs_http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void rs_http_global_cleanup(void) { curl_global_cleanup(); }

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (s->len + n > s->max) {
		s->overflow = true;
		return 0; /* abort the transfer: CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nbuf;

		while (cap < s->len + n + 1)
			cap *= 2;
		nbuf = realloc(s->buf, cap);
		if (!nbuf)
			return 0;
		s->buf = nbuf;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

struct capture {
	const struct rs_http_client_request *req;
	struct rs_http_client_response *resp;
};

/* libcurl hands every header line, and the trailers after the body, here. */
static size_t capture_header(char *line, size_t size, size_t nitems, void *userdata)
{
	struct capture *cap = userdata;
	size_t n = size * nitems;

	for (int i = 0; i < RS_HTTP_CAPTURE_MAX; i++) {
		const char *name = cap->req->capture[i];
		size_t nl = name ? strlen(name) : 0;
		size_t start = nl + 1, end = n;

		if (!name || n <= nl || line[nl] != ':' || strncasecmp(line, name, nl))
			continue;
		while (start < end && (line[start] == ' ' || line[start] == '\t'))
			start++;
		while (end > start && strchr(" \t\r\n", line[end - 1]))
			end--;
		if (end - start >= RS_HTTP_CAPTURE_LEN)
			end = start + RS_HTTP_CAPTURE_LEN - 1;
		memcpy(cap->resp->captured[i], line + start, end - start);
		cap->resp->captured[i][end - start] = '\0';
	}
	return n;
}

static int curl_code_to_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_BAD_CONTENT_ENCODING:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static struct curl_slist *build_headers(const struct rs_http_client_request *req,
					bool has_body, bool gzip_body)
{
	struct curl_slist *h = NULL, *tmp;
	char line[4096];

	if (has_body) {
		snprintf(line, sizeof(line), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		if (!(tmp = curl_slist_append(h, line)))
			goto fail;
		h = tmp;
	}
	if (gzip_body) {
		if (!(tmp = curl_slist_append(h, "Content-Encoding: gzip")))
			goto fail;
		h = tmp;
	}
	if (req->bearer_token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", req->bearer_token);
		if (!(tmp = curl_slist_append(h, line)))
			goto fail;
		h = tmp;
	}
	/* No "Expect: 100-continue" round trip on POST bodies. */
	if (!(tmp = curl_slist_append(h, "Expect:")))
		goto fail;
	h = tmp;
	for (const char *const *p = req->headers; p && *p; p++) {
		if (!(tmp = curl_slist_append(h, *p)))
			goto fail;
		h = tmp;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

static void set_tls_options(CURL *c, const struct rs_http_client_request *req)
{
	if (req->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
	if (req->client_cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, req->client_cert_file);
	if (req->client_key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, req->client_key_file);
	if (req->insecure_skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

int rs_http_do(const struct rs_http_client_request *req, struct rs_http_client_response *resp)
{
	struct sink sink = { .max = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE };
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
	long connect_timeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
			       (timeout < DEFAULT_CONNECT_TIMEOUT_MS ? timeout : DEFAULT_CONNECT_TIMEOUT_MS);
	const char *method = req->method ? req->method : "GET";
	bool has_body = req->body != NULL;
	char *gz = NULL;
	size_t gz_len = 0;
	struct curl_slist *headers = NULL;
	struct capture cap = { req, resp };
	CURL *c;
	CURLcode rc;
	int err = 0;

	memset(resp, 0, sizeof(*resp));
	c = curl_easy_init();
	if (!c) {
		snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
		return -ENOMEM;
	}
	if (has_body && req->gzip_body) {
		err = rs_gzip_compress(req->body, req->body_len, &gz, &gz_len);
		if (err) {
			snprintf(resp->error, sizeof(resp->error), "gzip failed");
			goto cleanup;
		}
	}
	headers = build_headers(req, has_body, req->gzip_body && has_body);
	if (!headers) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink.max);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* accept gzip answers */
	/* Ray's dashboard before 2.5x reads req.headers["User-Agent"] in a
	 * middleware: a request without one gets 500 (measured on 2.41.0 and
	 * 2.47.1, e.g. GET /api/gcs_healthz). */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "raysense/" RAYSENSE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (has_body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, gz ? gz : (const char *)req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(gz ? gz_len : req->body_len));
	}
	set_tls_options(c, req);
	if (req->http2_prior_knowledge)
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	if (req->capture[0] || req->capture[1]) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, capture_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &cap);
	}

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
		err = -EFBIG;
		snprintf(resp->error, sizeof(resp->error),
			 "response larger than %zu bytes", sink.max);
	} else if (rc != CURLE_OK) {
		err = curl_code_to_errno(rc);
		snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(rc));
	}
cleanup:
	if (!sink.buf)
		sink.buf = calloc(1, 1);
	resp->body = sink.buf;
	resp->body_len = sink.len;
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	free(gz);
	return err;
}

void rs_http_response_free(struct rs_http_client_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}
