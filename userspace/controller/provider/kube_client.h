/* kube_client.h -- where the Kubernetes API is and how to authenticate to it,
 * plus one request helper over common/http_client.h (libcurl).
 *
 * Two sources of configuration:
 *  - in-cluster (client-go rest.InClusterConfig): https://$KUBERNETES_SERVICE_HOST:
 *    $KUBERNETES_SERVICE_PORT, the service-account token (re-read every 60 s,
 *    because projected tokens rotate), its CA file, and the namespace from
 *    $POD_NAMESPACE, else the service-account namespace file, else "default";
 *  - a kubeconfig file in its JSON form.  There is no YAML library in the
 *    project and we do not hand-roll a YAML parser: convert a YAML kubeconfig
 *    with `kubectl config view --raw --flatten -o json > kubeconfig.json`.
 *    A YAML file gets an error that says exactly that.  Supported: the current
 *    (or named) context's cluster server, certificate-authority(-data),
 *    insecure-skip-tls-verify, and user token, tokenFile,
 *    client-certificate(-data)/client-key(-data).  exec/auth-provider plugins
 *    are refused with a clear error.  *-data fields are written to private
 *    0600 files in $TMPDIR (libcurl takes files) and removed by
 *    kube_client_free(). */
#ifndef RAYSENSE_CONTROLLER_KUBE_CLIENT_H
#define RAYSENSE_CONTROLLER_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_ERR_LEN 512
#define KUBE_PATH_MAX 1024
#define KUBE_TOKEN_REREAD_S 60.0

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_client {
	char server[512];		/* https://host:port, no trailing slash */
	char ca_file[KUBE_PATH_MAX];
	char client_cert_file[KUBE_PATH_MAX];
	char client_key_file[KUBE_PATH_MAX];
	char token_file[KUBE_PATH_MAX];	/* re-read every KUBE_TOKEN_REREAD_S */
	char *token;			/* current bearer token or NULL */
	double token_read_at;		/* monotonic seconds */
	char ns[256];			/* default namespace of the config */
	bool insecure_skip_verify;
	long timeout_ms;		/* per request; default 5000 */
	/* temp files holding *-data fields, removed on free */
	char tmp_files[3][KUBE_PATH_MAX];
};

struct kube_response {
	long status;			/* 0 = no HTTP answer (rc < 0) */
	char *body;
	size_t body_len;
	char error[256];
};

/* Load a kubeconfig in JSON form; context NULL = current-context.
 * 0, -ENOENT/-EACCES (file), -EINVAL (content; err says which field). */
int kube_client_from_kubeconfig(struct kube_client *c, const char *path, const char *context,
				char *err);
/* Parse an in-memory kubeconfig (JSON).  dir resolves relative file paths. */
int kube_client_parse_kubeconfig(struct kube_client *c, const char *buf, size_t len,
				 const char *dir, const char *context, char *err);
/* In-cluster config from the environment and sa_dir (NULL = KUBE_SA_DIR). */
int kube_client_in_cluster(struct kube_client *c, const char *sa_dir, char *err);
void kube_client_free(struct kube_client *c);

/* One request to c->server + path.  body may be NULL.  Returns 0 when an HTTP
 * answer arrived (any status; resp->status says which), else -errno from
 * rs_http_do (-ETIMEDOUT, -ECONNREFUSED, ...).  Always kube_response_free(). */
int kube_request(struct kube_client *c, const char *method, const char *path,
		 const char *content_type, const char *body, struct kube_response *resp);
void kube_response_free(struct kube_response *resp);

/* Base64 (RFC 4648, with padding; whitespace ignored) for *-data fields.
 * Returns the decoded length or -EINVAL; out must hold len*3/4+3 bytes. */
long kube_base64_decode(const char *in, size_t len, unsigned char *out);

/* Percent-encode a query value (label selectors: '/', '=', ',').  0 or -ENOSPC. */
int kube_url_escape(const char *in, char *out, size_t size);

#endif
