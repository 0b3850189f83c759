/* test_common.c -- userspace/common: flag parsing, file reading, gzip round
 * trips and bombs, strict JSON parsing, and the HTTP server and client against
 * each other on loopback (routing, 404/405/413, gzip both ways, bearer tokens,
 * response-size limits, client timeouts). */
#include "check.h"
#include "common/cli.h"
#include "common/gzip.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json_util.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_parse_numbers(void)
{
	long l;
	double d;

	CHECK(rs_parse_long("42", 0, 100, &l) == 0 && l == 42, "42");
	CHECK(rs_parse_long("42x", 0, 100, &l) == -EINVAL, "trailing garbage");
	CHECK(rs_parse_long("", 0, 100, &l) == -EINVAL, "empty");
	CHECK(rs_parse_long("101", 0, 100, &l) == -ERANGE, "over max");
	CHECK(rs_parse_long("-1", 0, 100, &l) == -ERANGE, "under min");
	CHECK(rs_parse_double("1.5", 0, 2, &d) == 0 && d == 1.5, "1.5");
	CHECK(rs_parse_double("nan", 0, 2, &d) == -EINVAL, "nan refused");
	CHECK(rs_parse_double("3", 0, 2, &d) == -ERANGE, "over max");
}

static void test_listen_addr(void)
{
	char host[256];
	int port;

	CHECK(rs_parse_listen_addr("127.0.0.1:9640", "0.0.0.0", host, &port) == 0 &&
	      strcmp(host, "127.0.0.1") == 0 && port == 9640, "host:port");
	CHECK(rs_parse_listen_addr(":80", "0.0.0.0", host, &port) == 0 &&
	      strcmp(host, "0.0.0.0") == 0 && port == 80, ":port");
	CHECK(rs_parse_listen_addr("[::1]:8080", "0.0.0.0", host, &port) == 0 &&
	      strcmp(host, "::1") == 0 && port == 8080, "[v6]:port");
	CHECK(rs_parse_listen_addr("host:99999", "0.0.0.0", host, &port) == -EINVAL, "bad port");
	CHECK(rs_parse_listen_addr("host:", "0.0.0.0", host, &port) == -EINVAL, "no port");
}

static void test_log_levels(void)
{
	enum rs_log_level l;

	CHECK(rs_log_parse_level("debug", &l) == 0 && l == RS_LOG_DEBUG, "debug");
	CHECK(rs_log_parse_level("WARN", &l) == 0 && l == RS_LOG_WARN, "WARN");
	CHECK(rs_log_parse_level("verbose", &l) == -EINVAL, "unknown level");
}

static void test_read_file(void)
{
	char path[] = "/tmp/rs-test-XXXXXX";
	int fd = mkstemp(path);
	char *s = NULL;

	CHECK(fd >= 0, "mkstemp");
	CHECK(write(fd, "tok3n \n", 7) == 7, "write");
	close(fd);
	CHECK(rs_read_file_trimmed(path, 64, &s) == 0 && strcmp(s, "tok3n") == 0, "trim");
	free(s);
	CHECK(rs_read_file_trimmed(path, 3, &s) == -EFBIG, "limit");
	unlink(path);
	CHECK(rs_read_file_trimmed(path, 64, &s) == -ENOENT, "missing file");
}

static void test_gzip(void)
{
	char big[100000];
	char *gz, *plain;
	size_t gz_len, plain_len;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 7);
	CHECK(rs_gzip_compress(big, sizeof(big), &gz, &gz_len) == 0, "compress");
	CHECK(gz_len < sizeof(big) / 10, "compresses repetitive data (%zu)", gz_len);
	CHECK(rs_gzip_decompress(gz, gz_len, sizeof(big), &plain, &plain_len) == 0 &&
	      plain_len == sizeof(big) && memcmp(plain, big, sizeof(big)) == 0, "round trip");
	free(plain);
	CHECK(rs_gzip_decompress(gz, gz_len, 1000, &plain, &plain_len) == -EFBIG,
	      "bomb limited");
	CHECK(rs_gzip_decompress(gz, gz_len / 2, sizeof(big), &plain, &plain_len) == -EINVAL,
	      "truncated");
	CHECK(rs_gzip_decompress("not gzip", 8, 100, &plain, &plain_len) == -EINVAL, "garbage");
	free(gz);
	CHECK(rs_accepts_gzip("gzip, deflate"), "gzip listed");
	CHECK(rs_accepts_gzip("br;q=1.0, gzip;q=0.5"), "gzip with q");
	CHECK(!rs_accepts_gzip("gzip;q=0"), "q=0 refuses");
	CHECK(!rs_accepts_gzip("deflate"), "no gzip");
	CHECK(!rs_accepts_gzip(NULL), "no header");
	CHECK(rs_accepts_gzip("*"), "wildcard");
}

static void test_json(void)
{
	struct rs_json_error err = { { 0 } };
	cJSON *root = NULL;
	const char *s;
	double d;
	bool b;

	CHECK(rs_json_parse("{\"a\":1}", 7, &root, &err) == 0, "valid");
	CHECK(rs_json_get_number(root, "$", "a", true, &d, &err) == 0 && d == 1, "a");
	CHECK(rs_json_get_string(root, "$", "a", true, &s, &err) == -EINVAL &&
	      strstr(err.msg, "$.a") != NULL, "type error names the path: %s", err.msg);
	CHECK(rs_json_get_bool(root, "$", "b", false, &b, &err) == -ENOENT, "optional missing");
	CHECK(rs_json_get_bool(root, "$", "b", true, &b, &err) == -EINVAL, "required missing");
	cJSON_Delete(root);
	CHECK(rs_json_parse("{\"a\":", 5, &root, &err) == -EINVAL &&
	      strstr(err.msg, "truncated") != NULL, "truncated: %s", err.msg);
	CHECK(rs_json_parse("{} x", 4, &root, &err) == -EINVAL, "trailing data");
	CHECK(rs_json_parse("", 0, &root, &err) == -EINVAL, "empty");
}

/* --- HTTP server <-> client on loopback */

static void handle_echo(const struct rs_http_request *req, struct rs_http_response *resp,
			void *ctx)
{
	(void)ctx;
	char *body = malloc(req->body_len + 1);

	memcpy(body, req->body, req->body_len + 1);
	rs_http_reply_text(resp, 200, "text/plain", body, req->body_len);
}

static void handle_big(const struct rs_http_request *req, struct rs_http_response *resp,
		       void *ctx)
{
	(void)req;
	(void)ctx;
	char *body = malloc(64 * 1024);

	memset(body, 'x', 64 * 1024);
	rs_http_reply_text(resp, 200, "text/plain", body, 64 * 1024);
}

static void handle_secret(const struct rs_http_request *req, struct rs_http_response *resp,
			  void *ctx)
{
	if (!rs_http_bearer_ok(req, ctx)) {
		rs_http_reply_error(resp, 401, "bad token");
		return;
	}
	rs_http_reply_json(resp, 200, cJSON_CreateTrue());
}

static void handle_slow(const struct rs_http_request *req, struct rs_http_response *resp,
			void *ctx)
{
	(void)req;
	(void)ctx;
	usleep(1500 * 1000);
	rs_http_reply_json(resp, 200, cJSON_CreateTrue());
}

static long do_request(const char *method, const char *url, const char *body,
		       bool gzip_body, const char *token, long timeout_ms,
		       size_t max_response, int *err, struct rs_http_client_response *resp)
{
	struct rs_http_client_request req = {
		.method = method, .url = url, .body = body,
		.body_len = body ? strlen(body) : 0, .gzip_body = gzip_body,
		.bearer_token = token, .timeout_ms = timeout_ms,
		.max_response = max_response,
	};

	*err = rs_http_do(&req, resp);
	return resp->status;
}

static void test_http(void)
{
	static char token[] = "s3cret";
	const struct rs_http_route routes[] = {
		{ "POST", "/echo", handle_echo, NULL, NULL, false },
		{ "GET", "/big", handle_big, NULL, NULL, false },
		{ "GET", "/secret", handle_secret, token, NULL, false },
		{ "GET", "/slow", handle_slow, NULL, NULL, false },
	};
	struct rs_http_server_config cfg = {
		.host = "127.0.0.1", .port = 0, .routes = routes, .n_routes = 4,
		.max_body = 1024,
	};
	struct rs_http_server *srv = NULL;
	struct rs_http_client_response resp;
	char url[128], big_body[4096];
	int err, port;

	CHECK(rs_http_global_init() == 0, "curl init");
	CHECK(rs_http_server_start(&cfg, &srv) == 0, "server start");
	if (!srv)
		return;
	port = rs_http_server_port(srv);
	CHECK(port > 0, "bound port %d", port);

#define URL(path) (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path), url)
	CHECK(do_request("POST", URL("/echo"), "hello", false, NULL, 2000, 0, &err, &resp) == 200 &&
	      err == 0 && strcmp(resp.body, "hello") == 0, "echo: %s", resp.body);
	rs_http_response_free(&resp);
	CHECK(do_request("POST", URL("/echo"), "zipped", true, NULL, 2000, 0, &err, &resp) == 200 &&
	      strcmp(resp.body, "zipped") == 0, "gzip request body decoded: %s", resp.body);
	rs_http_response_free(&resp);
	memset(big_body, 'y', sizeof(big_body) - 1);
	big_body[sizeof(big_body) - 1] = '\0';
	CHECK(do_request("POST", URL("/echo"), big_body, false, NULL, 2000, 0, &err, &resp) == 413,
	      "body over limit: %ld", resp.status);
	rs_http_response_free(&resp);
	CHECK(do_request("GET", URL("/nope"), NULL, false, NULL, 2000, 0, &err, &resp) == 404, "404");
	rs_http_response_free(&resp);
	CHECK(do_request("GET", URL("/echo"), NULL, false, NULL, 2000, 0, &err, &resp) == 405, "405");
	rs_http_response_free(&resp);
	CHECK(do_request("GET", URL("/big"), NULL, false, NULL, 2000, 0, &err, &resp) == 200 &&
	      resp.body_len == 64 * 1024, "gzip response decoded by the client (%zu)", resp.body_len);
	rs_http_response_free(&resp);
	do_request("GET", URL("/big"), NULL, false, NULL, 2000, 1000, &err, &resp);
	CHECK(err == -EFBIG, "response size limit: %d", err);
	rs_http_response_free(&resp);
	CHECK(do_request("GET", URL("/secret"), NULL, false, "wrong", 2000, 0, &err, &resp) == 401,
	      "wrong token");
	rs_http_response_free(&resp);
	CHECK(do_request("GET", URL("/secret"), NULL, false, "s3cret", 2000, 0, &err, &resp) == 200,
	      "right token");
	rs_http_response_free(&resp);
	do_request("GET", URL("/slow"), NULL, false, NULL, 300, 0, &err, &resp);
	CHECK(err == -ETIMEDOUT, "client timeout: %d", err);
	rs_http_response_free(&resp);
	rs_http_server_stop(srv);
	do_request("GET", URL("/big"), NULL, false, NULL, 1000, 0, &err, &resp);
	CHECK(err == -ECONNREFUSED, "server stopped: %d", err);
	rs_http_response_free(&resp);
#undef URL
	rs_http_global_cleanup();
}

int main(void)
{
	rs_log_init("test", RS_LOG_ERROR);
	test_parse_numbers();
	test_listen_addr();
	test_log_levels();
	test_read_file();
	test_gzip();
	test_json();
	test_http();
	CHECK_EXIT();
}
