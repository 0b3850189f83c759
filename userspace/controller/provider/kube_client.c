/* kube_client.c -- Kubernetes API configuration (kubeconfig JSON or
 * in-cluster service account) and requests over libcurl.  See kube_client.h
 * for what is supported and why kubeconfig must be JSON. */
#include "common/util.h"
#include "controller/provider/kube_client.h"

#include "common/cli.h"
#include "common/http_client.h"
#include "common/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define seterr(err, ...) rs_errf(err, KUBE_ERR_LEN, __VA_ARGS__)

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define TOKEN_MAX_BYTES (64u << 10)

static void client_init(struct kube_client *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = 5000;
	snprintf(c->ns, sizeof(c->ns), "default");
}

/* ------------------------------------------------------------------ base64 */

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

long kube_base64_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned int acc = 0;
	int bits = 0, pad = 0;
	long n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad)		/* data after padding */
			return -EINVAL;
		v = b64_value(ch);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6 || (pad && (bits / 2) != pad))
		return -EINVAL;
	return n;
}

int kube_url_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in; in++) {
		unsigned char ch = (unsigned char)*in;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
			     ch == '~';

		if (o + (plain ? 1 : 3) >= size)
			return -ENOSPC;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* -------------------------------------------------------------- kubeconfig */

/* Write base64 `data` to a private temp file recorded in c->tmp_files[slot]. */
static int data_to_file(struct kube_client *c, int slot, const char *field, const char *data,
			char *path_out, char *err)
{
	size_t len = strlen(data);
	unsigned char *buf = malloc(len * 3 / 4 + 3);
	const char *tmpdir = getenv("TMPDIR");
	long n;
	int fd;

	if (!buf)
		return -ENOMEM;
	n = kube_base64_decode(data, len, buf);
	if (n <= 0) {
		free(buf);
		seterr(err, "kubeconfig: %s is not valid base64", field);
		return -EINVAL;
	}
	snprintf(c->tmp_files[slot], KUBE_PATH_MAX, "%s/raysense-kube-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	fd = mkstemp(c->tmp_files[slot]);	/* mode 0600 */
	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		int e = errno ? errno : EIO;

		if (fd >= 0) {
			close(fd);
			unlink(c->tmp_files[slot]);
		}
		c->tmp_files[slot][0] = '\0';
		free(buf);
		seterr(err, "kubeconfig: cannot write %s to a temp file: %s", field, strerror(e));
		return -e;
	}
	close(fd);
	free(buf);
	snprintf(path_out, KUBE_PATH_MAX, "%s", c->tmp_files[slot]);
	return 0;
}

static void resolve_path(const char *dir, const char *p, char *out)
{
	if (p[0] == '/' || !dir)
		snprintf(out, KUBE_PATH_MAX, "%s", p);
	else
		snprintf(out, KUBE_PATH_MAX, "%s/%s", dir, p);
}

/* The entry of list `key` whose "name" is `name`; returns its `inner` object. */
static const cJSON *named_entry(const cJSON *root, const char *key, const char *inner,
				const char *name, char *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key), *e;

	if (!cJSON_IsArray(list)) {
		seterr(err, "kubeconfig: '%s' is missing or not a list", key);
		return NULL;
	}
	cJSON_ArrayForEach(e, list) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, inner);

		if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) {
			if (!cJSON_IsObject(o)) {
				seterr(err, "kubeconfig: %s '%s' has no '%s' object", key, name, inner);
				return NULL;
			}
			return o;
		}
	}
	seterr(err, "kubeconfig: no %s named '%s'", key, name);
	return NULL;
}

static const char *str_field(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* A file field or its -data twin into out (slot = temp file index). */
static int file_or_data(struct kube_client *c, const cJSON *o, const char *file_key,
			const char *data_key, int slot, const char *dir, char *out, char *err)
{
	const char *file = str_field(o, file_key), *data = str_field(o, data_key);

	if (data)
		return data_to_file(c, slot, data_key, data, out, err);
	if (file)
		resolve_path(dir, file, out);
	return 0;
}

static int apply_cluster(struct kube_client *c, const cJSON *cluster, const char *dir, char *err)
{
	const char *server = str_field(cluster, "server");
	const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
	size_t len;

	if (!server || strncmp(server, "https://", 8)) {
		seterr(err, "kubeconfig: cluster.server must be an https:// URL (got '%.100s')",
		       server ? server : "");
		return -EINVAL;
	}
	snprintf(c->server, sizeof(c->server), "%s", server);
	len = strlen(c->server);
	while (len && c->server[len - 1] == '/')
		c->server[--len] = '\0';
	c->insecure_skip_verify = cJSON_IsTrue(insecure);
	return file_or_data(c, cluster, "certificate-authority", "certificate-authority-data", 0,
			    dir, c->ca_file, err);
}

static int apply_user(struct kube_client *c, const cJSON *user, const char *dir, char *err)
{
	const char *token = str_field(user, "token"), *token_file = str_field(user, "tokenFile");
	int rc;

	if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
	    cJSON_GetObjectItemCaseSensitive(user, "auth-provider")) {
		seterr(err, "kubeconfig: exec and auth-provider credential plugins are not supported; "
			    "use a token, tokenFile or client certificate");
		return -EINVAL;
	}
	rc = file_or_data(c, user, "client-certificate", "client-certificate-data", 1, dir,
			  c->client_cert_file, err);
	if (!rc)
		rc = file_or_data(c, user, "client-key", "client-key-data", 2, dir,
				  c->client_key_file, err);
	if (rc)
		return rc;
	if (!c->client_cert_file[0] != !c->client_key_file[0]) {
		seterr(err, "kubeconfig: user has a client certificate without a key or vice versa");
		return -EINVAL;
	}
	if (token_file)
		resolve_path(dir, token_file, c->token_file);
	else if (token && !(c->token = strdup(token)))
		return -ENOMEM;
	return 0;
}

int kube_client_parse_kubeconfig(struct kube_client *c, const char *buf, size_t len,
				 const char *dir, const char *context, char *err)
{
	const cJSON *ctx, *cluster, *user;
	const char *cluster_name, *user_name, *ns;
	struct rs_json_error jerr;
	cJSON *root = NULL;
	size_t i = 0;
	int rc;

	client_init(c);
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
		i++;
	if (i == len || buf[i] != '{') {
		seterr(err, "kubeconfig is not JSON (YAML is not supported); convert it with "
			    "`kubectl config view --raw --flatten -o json > kubeconfig.json`");
		return -EINVAL;
	}
	if (rs_json_parse(buf, len, &root, &jerr)) {
		seterr(err, "kubeconfig: %s", jerr.msg);
		return -EINVAL;
	}
	rc = -EINVAL;
	if (!context)
		context = str_field(root, "current-context");
	if (!context) {
		seterr(err, "kubeconfig: no current-context and no --kube-context given");
		goto out;
	}
	ctx = named_entry(root, "contexts", "context", context, err);
	if (!ctx)
		goto out;
	cluster_name = str_field(ctx, "cluster");
	user_name = str_field(ctx, "user");
	if (!cluster_name) {
		seterr(err, "kubeconfig: context '%s' names no cluster", context);
		goto out;
	}
	cluster = named_entry(root, "clusters", "cluster", cluster_name, err);
	if (!cluster || (rc = apply_cluster(c, cluster, dir, err)))
		goto out;
	rc = -EINVAL;
	if (user_name) {
		user = named_entry(root, "users", "user", user_name, err);
		if (!user || (rc = apply_user(c, user, dir, err)))
			goto out;
	}
	ns = str_field(ctx, "namespace");
	if (ns)
		snprintf(c->ns, sizeof(c->ns), "%s", ns);
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc)
		kube_client_free(c);
	return rc;
}

int kube_client_from_kubeconfig(struct kube_client *c, const char *path, const char *context,
				char *err)
{
	char *buf = NULL, *copy, dir[KUBE_PATH_MAX];
	size_t len = 0;
	int rc;

	rc = rs_read_file(path, KUBECONFIG_MAX_BYTES, &buf, &len);
	if (rc) {
		client_init(c);
		seterr(err, "cannot read kubeconfig %s: %s", path, strerror(-rc));
		return rc;
	}
	copy = strdup(path);
	if (!copy) {
		free(buf);
		return -ENOMEM;
	}
	snprintf(dir, sizeof(dir), "%s", dirname(copy));
	free(copy);
	rc = kube_client_parse_kubeconfig(c, buf, len, dir, context, err);
	free(buf);
	return rc;
}

/* -------------------------------------------------------------- in-cluster */

int kube_client_in_cluster(struct kube_client *c, const char *sa_dir, char *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *pod_ns = getenv("POD_NAMESPACE");
	char path[KUBE_PATH_MAX], *ns = NULL;

	client_init(c);
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	if (!host || !*host || !port || !*port) {
		seterr(err, "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set "
			    "(use --kubeconfig)");
		return -ENOENT;
	}
	/* net.JoinHostPort: IPv6 literals go in brackets. */
	snprintf(c->server, sizeof(c->server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	snprintf(c->token_file, sizeof(c->token_file), "%s/token", sa_dir);
	snprintf(c->ca_file, sizeof(c->ca_file), "%s/ca.crt", sa_dir);
	if (access(c->token_file, R_OK) || access(c->ca_file, R_OK)) {
		seterr(err, "in-cluster: cannot read %s or %s: %s", c->token_file, c->ca_file,
		       strerror(errno));
		return -ENOENT;
	}
	if (pod_ns && *pod_ns) {
		snprintf(c->ns, sizeof(c->ns), "%s", pod_ns);
	} else {
		snprintf(path, sizeof(path), "%s/namespace", sa_dir);
		if (!rs_read_file_trimmed(path, sizeof(c->ns) - 1, &ns) && *ns)
			snprintf(c->ns, sizeof(c->ns), "%s", ns);
		free(ns);
	}
	return 0;
}

void kube_client_free(struct kube_client *c)
{
	free(c->token);
	c->token = NULL;
	for (int i = 0; i < 3; i++) {
		if (c->tmp_files[i][0])
			unlink(c->tmp_files[i]);
		c->tmp_files[i][0] = '\0';
	}
}

/* ----------------------------------------------------------------- requests */

/* Re-read a token file at most every KUBE_TOKEN_REREAD_S (projected tokens
 * rotate); a failed re-read keeps the previous token. */
static void refresh_token(struct kube_client *c)
{
	double now = rs_now_mono();
	char *tok = NULL;

	if (!c->token_file[0] || (c->token && now - c->token_read_at < KUBE_TOKEN_REREAD_S))
		return;
	if (rs_read_file_trimmed(c->token_file, TOKEN_MAX_BYTES, &tok))
		return;
	free(c->token);
	c->token = tok;
	c->token_read_at = now;
}

int kube_request(struct kube_client *c, const char *method, const char *path,
		 const char *content_type, const char *body, struct kube_response *resp)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	struct rs_http_client_request req = { 0 };
	struct rs_http_client_response r = { 0 };
	char url[4096];
	int rc;

	memset(resp, 0, sizeof(*resp));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->server, path) >= sizeof(url)) {
		snprintf(resp->error, sizeof(resp->error), "URL too long");
		return -ENAMETOOLONG;
	}
	refresh_token(c);
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.bearer_token = c->token;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.content_type = content_type;
	req.timeout_ms = c->timeout_ms;
	req.max_response = 32u << 20;
	req.ca_file = c->ca_file[0] ? c->ca_file : NULL;
	req.client_cert_file = c->client_cert_file[0] ? c->client_cert_file : NULL;
	req.client_key_file = c->client_key_file[0] ? c->client_key_file : NULL;
	req.insecure_skip_verify = c->insecure_skip_verify;
	rc = rs_http_do(&req, &r);
	resp->status = r.status;
	resp->body = r.body;
	resp->body_len = r.body_len;
	snprintf(resp->error, sizeof(resp->error), "%s", r.error);
	r.body = NULL;
	rs_http_response_free(&r);
	return rc;
}

void kube_response_free(struct kube_response *resp)
{
	free(resp->body);
	resp->body = NULL;
}
